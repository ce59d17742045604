//! `lockdep graph`: the class dependency graph of one or more traces (merged, classes match
//! by name), with every reported cycle highlighted.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

use lockdep_core::{EdgeReport, NodeKind, Severity};
use lockdep_trace::Replayer;

/// Output format of the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz DOT.
    Dot,
}

/// Writes the graph; returns the exit status (0, or 2 on input errors: what was read before
/// the error is still drawn).
pub fn run(out: &mut impl Write, format: GraphFormat, cycles_only: bool, files: &[PathBuf]) -> u8 {
    let mut r = Replayer::new();
    let mut status = 0;
    for path in files {
        let name = path.display().to_string();
        let res = match std::fs::File::open(path) {
            Ok(f) => r.read(&name, f),
            Err(e) => Err(lockdep_trace::TraceError {
                file: name.clone(),
                line: 0,
                message: format!("cannot open: {e}"),
            }),
        };
        if let Err(e) = res {
            eprintln!("{e}");
            status = 2;
        }
    }
    let text = match format {
        GraphFormat::Dot => dot(&r, cycles_only),
    };
    let _ = out.write_all(text.as_bytes());
    status
}

/// A node's name as drawn: `L` for a lock class, `kind(E)` for an event node.
fn node(label: &str, kind: NodeKind) -> String {
    match kind {
        NodeKind::Lock => label.to_owned(),
        k => format!("{}({label})", k.as_str()),
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The DOT text: locks as boxes, event nodes as ellipses; each edge labelled with the modes
/// (and why it exists, when not a held lock); edges of reported cycles red (errors) or orange
/// (warnings) and thick, with the reports' signatures listed in the graph's label.
pub fn dot(r: &Replayer, cycles_only: bool) -> String {
    let reports = r.engine.reports();
    // (from, to) of every edge in a reported cycle or path, with the worst severity.
    let mut hot: Vec<((String, String), Severity)> = Vec::new();
    for rep in reports {
        for e in &rep.edges {
            let key = (node(&e.from, e.from_kind), node(&e.to, e.to_kind));
            match hot.iter_mut().find(|(k, _)| *k == key) {
                Some((_, sev)) if rep.severity == Severity::Error => *sev = Severity::Error,
                Some(_) => {}
                None => hot.push((key, rep.severity)),
            }
        }
    }
    let edges: Vec<EdgeReport> = r
        .engine
        .edges()
        .into_iter()
        .filter(|e| {
            !cycles_only
                || hot
                    .iter()
                    .any(|(k, _)| *k == (node(&e.from, e.from_kind), node(&e.to, e.to_kind)))
        })
        .collect();
    let mut nodes: BTreeSet<(String, bool)> = BTreeSet::new();
    for e in &edges {
        nodes.insert((node(&e.from, e.from_kind), e.from_kind == NodeKind::Lock));
        nodes.insert((node(&e.to, e.to_kind), e.to_kind == NodeKind::Lock));
    }
    let mut out =
        String::from("digraph lockdep {\n  rankdir=LR;\n  node [fontname=\"monospace\"];\n");
    let cycles: Vec<String> = reports
        .iter()
        .filter(|rep| !rep.edges.is_empty())
        .map(|rep| {
            format!(
                "{} {}: {}",
                rep.severity.as_str(),
                rep.signature,
                rep.one_line()
            )
        })
        .collect();
    if !cycles.is_empty() {
        // Left-justified lines (`\l` ends each).
        let lines: Vec<String> = cycles
            .iter()
            .map(|c| {
                let q = quote(c);
                format!("{}\\l", &q[1..q.len() - 1])
            })
            .collect();
        let _ = writeln!(out, "  labelloc=t; label=\"{}\";", lines.concat());
    }
    for (n, lock) in &nodes {
        let _ = writeln!(
            out,
            "  {} [shape={}];",
            quote(n),
            if *lock { "box" } else { "ellipse" }
        );
    }
    for e in &edges {
        let (from, to) = (node(&e.from, e.from_kind), node(&e.to, e.to_kind));
        // Lock to lock: the modes (held -> acquired). Through an event node: why the edge
        // exists (owed, signal-lock, signal-wait, queue).
        let label = if e.from_kind == NodeKind::Lock && e.to_kind == NodeKind::Lock {
            let mut l = format!("{}->{}", e.from_mode, e.to_mode);
            if e.why != "held" {
                let _ = write!(l, " ({})", e.why);
            }
            l
        } else {
            e.why.to_owned()
        };
        let style = match hot.iter().find(|(k, _)| *k == (from.clone(), to.clone())) {
            Some((_, Severity::Error)) => ", color=red, penwidth=2.5",
            Some(_) => ", color=orange, penwidth=2.5",
            None => "",
        };
        let _ = writeln!(
            out,
            "  {} -> {} [label={}{style}];",
            quote(&from),
            quote(&to),
            quote(&label)
        );
    }
    out.push_str("}\n");
    out
}
