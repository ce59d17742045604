//! Lockdep-style text rendering of a [`Report`].

use std::fmt::Write as _;

use crate::report::{EdgeReport, Kind, NodeKind, Report, Severity};

fn banner(kind: Kind, report: &Report) -> String {
    match kind {
        Kind::Circular
            if report
                .edges
                .iter()
                .any(|e| e.from_kind != NodeKind::Lock || e.to_kind != NodeKind::Lock) =>
        {
            "possible deadlock detected (lock and event dependencies)".into()
        }
        Kind::Circular => "possible circular locking dependency detected".into(),
        Kind::Recursive => "possible recursive locking detected".into(),
        Kind::SelfWait => "possible self-wait detected".into(),
        Kind::BadUnlock => "bad unlock balance detected!".into(),
        Kind::HeldFreed => "held lock freed!".into(),
        Kind::HeldAtExit => format!("{} still has locks held!", report.thread),
        Kind::InvalidContext => "Invalid wait context".into(),
        Kind::InconsistentState => "inconsistent lock state".into(),
        Kind::IrqInversion => "possible irq lock inversion dependency detected".into(),
        Kind::NestLockNotHeld => "Nested lock was not taken".into(),
        Kind::Hang => "hung threads detected (watchdog)".into(),
    }
}

fn at(site: &Option<String>) -> String {
    match site {
        Some(s) => format!(" at: {s}"),
        None => String::new(),
    }
}

fn lock_verb(mode: &str) -> &'static str {
    if mode == "write" { "lock" } else { "rlock" }
}

/// Renders a report as lockdep-style text (title banner, chain, scenario, held locks).
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    let head = format!(
        "{}: {}",
        match r.severity {
            Severity::Error => "ERROR",
            Severity::Warning => "WARNING",
        },
        banner(r.kind, r)
    );
    let bar = "=".repeat(head.len().max(20));
    let _ = writeln!(out, "{bar}\n{head}\n{}", "-".repeat(head.len().max(20)));
    let _ = writeln!(out, "{}", r.title);
    let _ = writeln!(
        out,
        "kind: {}  severity: {}  signature: {}",
        r.kind,
        r.severity.as_str(),
        r.signature
    );
    let _ = writeln!(
        out,
        "reported by {}{} (event #{})",
        r.thread,
        at(&r.site),
        r.seq
    );
    out.push('\n');
    match r.kind {
        Kind::Circular => circular(&mut out, r),
        Kind::Recursive => {
            let c = &r.classes[0];
            let _ = writeln!(
                out,
                "{} is trying to acquire lock:\n  ({c}){}\n",
                r.thread,
                at(&r.site)
            );
            notes(&mut out, r);
            let _ = writeln!(
                out,
                " Possible unsafe locking scenario:\n\n       {}\n       ----\n  lock({c});\n  lock({c});\n\n *** DEADLOCK ***\n\n May be due to missing lock nesting notation\n",
                r.thread
            );
        }
        Kind::InconsistentState => {
            let c = &r.classes[0];
            notes(&mut out, r);
            let _ = writeln!(
                out,
                " Possible unsafe locking scenario:\n\n       CPU0\n       ----\n  lock({c});\n  <Interrupt>\n    lock({c});\n\n *** DEADLOCK ***\n"
            );
        }
        Kind::IrqInversion => {
            let (safe, unsafe_) = (&r.classes[0], &r.classes[1]);
            notes(&mut out, r);
            if !r.edges.is_empty() {
                let _ = writeln!(
                    out,
                    "the dependencies from the irq-safe lock to the irq-unsafe lock:"
                );
                for (i, e) in r.edges.iter().enumerate() {
                    edge_lines(&mut out, i, e);
                }
                out.push('\n');
            }
            // As lockdep: with a middle lock, CPU1 takes the safe lock and then the next lock
            // of the chain; the chain itself is printed above the scenario.
            let middle = match r.edges.len() {
                0 | 1 => unsafe_,
                _ => {
                    let mut chain: Vec<&str> = vec![safe];
                    chain.extend(r.edges.iter().map(|e| e.to.as_str()));
                    let _ = writeln!(out, "Chain exists of:\n  {}\n", chain.join(" --> "));
                    &r.edges[0].to
                }
            };
            let _ = writeln!(
                out,
                " Possible interrupt unsafe locking scenario:\n\n       CPU0                    CPU1\n       ----                    ----\n  lock({unsafe_});\n                               local_irq_disable();\n                               lock({safe});\n                               lock({middle});\n  <Interrupt>\n    lock({safe});\n\n *** DEADLOCK ***\n"
            );
        }
        _ => notes(&mut out, r),
    }
    held(&mut out, r);
    if !r.stack.is_empty() {
        let _ = writeln!(out, "stack backtrace:");
        for f in &r.stack {
            let _ = writeln!(out, "  {f}");
        }
    }
    out
}

fn notes(out: &mut String, r: &Report) {
    for n in &r.notes {
        let _ = writeln!(out, "{n}");
    }
    if !r.notes.is_empty() {
        out.push('\n');
    }
}

fn node(kind: NodeKind, name: &str) -> String {
    kind.node_name(name)
}

fn edge_lines(out: &mut String, i: usize, e: &EdgeReport) {
    let (from, to) = (node(e.from_kind, &e.from), node(e.to_kind, &e.to));
    let how = match e.why {
        "held" if e.to_kind == NodeKind::Lock => {
            format!(
                "{} {} taken while holding {} {}",
                e.to_mode, e.to, e.from_mode, e.from
            )
        }
        "held" => format!("waited for {to} while holding {} {}", e.from_mode, e.from),
        "owed" => {
            let what = match e.from_kind {
                NodeKind::ThreadExit => "its own exit",
                NodeKind::Ran => "an item only it runs",
                NodeKind::Drained => "a queue it drains",
                _ => "an event it has to produce",
            };
            let since = match (&e.from_site, e.since) {
                (Some(s), Some(n)) => format!(", owed since {s} (event #{n})"),
                (Some(s), None) => format!(", owed since {s}"),
                (None, Some(n)) => format!(", owed since event #{n}"),
                (None, None) => String::new(),
            };
            format!("waited for {to} while owing {from} ({what}{since})")
        }
        "signal-lock" => {
            format!("{from} is signalled by a thread that took {to} first (its window)")
        }
        "signal-wait" => format!(
            "{from} is signalled by a thread that waited for {to} first, while a waiter was parked"
        ),
        _ => format!("{from} cannot happen before {to} (queue order)"),
    };
    // Where the trace gives no site, the op that recorded it.
    let place = match &e.to_site {
        Some(_) => at(&e.to_site),
        None => format!(" (event #{})", e.seq),
    };
    let _ = writeln!(
        out,
        "-> #{i} {from} -> {to}:\n       {how}, by {}{place}",
        e.thread
    );
    // (An owed edge's `from_site` is where the thread began to owe: said above.)
    if let Some(s) = &e.from_site
        && e.why != "owed"
    {
        let _ = writeln!(out, "       ({} acquired at: {s})", e.from);
    }
    for f in &e.stack {
        let _ = writeln!(out, "         {f}");
    }
}

fn held(out: &mut String, r: &Report) {
    match r.held.len() {
        0 => {
            let _ = writeln!(out, "no locks held by {}.", r.thread);
        }
        n => {
            let _ = writeln!(
                out,
                "{n} lock{} held by {}:",
                if n == 1 { "" } else { "s" },
                r.thread
            );
            for (i, h) in r.held.iter().enumerate() {
                let _ = writeln!(
                    out,
                    " #{i}: ({}){{{}{}}}{}",
                    h.class,
                    h.mode,
                    if h.try_ { ",try" } else { "" },
                    at(&h.site)
                );
            }
        }
    }
    out.push('\n');
}

fn circular(out: &mut String, r: &Report) {
    let Some(new) = r.edges.first() else {
        notes(out, r);
        return;
    };
    if new.from_kind == NodeKind::Lock && new.to_kind == NodeKind::Lock {
        let _ = writeln!(
            out,
            "{} is trying to acquire lock:\n  ({}){}\n",
            r.thread,
            new.to,
            at(&new.to_site)
        );
        let _ = writeln!(
            out,
            "but task is already holding lock:\n  ({}){}\n",
            new.from,
            at(&new.from_site)
        );
        let _ = writeln!(out, "which lock already depends on the new lock.\n\n");
    } else {
        let _ = writeln!(
            out,
            "{} just recorded the dependency\n  {} -> {}{}\n\nwhich closes the cycle below.\n\n",
            r.thread,
            node(new.from_kind, &new.from),
            node(new.to_kind, &new.to),
            at(&new.to_site)
        );
    }
    let _ = writeln!(
        out,
        "the existing dependency chain (in reverse order) is:\n"
    );
    for i in (1..r.edges.len()).rev() {
        edge_lines(out, i, &r.edges[i]);
        out.push('\n');
    }
    edge_lines(out, 0, new);
    out.push('\n');
    let _ = writeln!(out, "other info that might help us debug this:\n");
    notes(out, r);
    if r.classes.len() >= 3 {
        let mut chain: Vec<&str> = vec![&new.to];
        for e in r.edges.iter().skip(1) {
            chain.push(&e.to);
        }
        let _ = writeln!(out, "Chain exists of:\n  {}\n", chain.join(" --> "));
    }
    scenario(out, &r.edges, r.severity == Severity::Warning);
}

/// One column per edge of the cycle: each thread holds its edge's source and then wants its
/// target, which the next column holds.
fn scenario(out: &mut String, edges: &[EdgeReport], gated: bool) {
    const W: usize = 24;
    let _ = writeln!(out, " Possible unsafe locking scenario:\n");
    let mut header = String::from("       ");
    let mut rule = String::from("       ");
    for (i, e) in edges.iter().enumerate() {
        let label = format!("CPU{i} ({})", e.thread);
        let _ = write!(header, "{label:<W$}");
        let _ = write!(rule, "{:<W$}", "----");
    }
    let _ = writeln!(out, "{}\n{}", header.trim_end(), rule.trim_end());
    let step = |out: &mut String, col: usize, text: String| {
        let _ = writeln!(out, "  {}{}", " ".repeat(col * W), text);
    };
    // Column order: the holder of edge i is the class edge i-1 wants; let the new edge's
    // thread go first and last, as lockdep prints.
    let hold = |e: &EdgeReport| match e.from_kind {
        NodeKind::Lock => format!("{}({});", lock_verb(e.from_mode), e.from),
        k => format!("/* owes {} */", node(k, &e.from)),
    };
    let want = |e: &EdgeReport| match e.to_kind {
        NodeKind::Lock => format!("{}({});", lock_verb(e.to_mode), e.to),
        k => format!("wait({});", node(k, &e.to)),
    };
    for (i, e) in edges.iter().enumerate() {
        step(out, i, hold(e));
    }
    for (i, e) in edges.iter().enumerate().skip(1) {
        step(out, i, want(e));
    }
    step(out, 0, want(&edges[0]));
    if gated {
        let _ = writeln!(
            out,
            "\n *** no deadlock while every path holds the gate lock; one path without it makes this a DEADLOCK ***\n"
        );
    } else {
        let _ = writeln!(out, "\n *** DEADLOCK ***\n");
    }
}
