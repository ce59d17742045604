//! Linux lockdep reports ("splats") read into data: `lockdep splat`.
//!
//! The input is whatever holds the report: a console log (`[   17.897351]` timestamps,
//! `[  T123]` caller ids, `kernel:` prefixes), a mail (`> ` quoting), a web page, or all of it
//! flattened onto one line (lines are then found again at the timestamps). The report is
//! found by its headline, in the current `WARNING: ...` form or the old bracketed
//! `[ INFO: ... ]` one; the fields are read by the phrases lockdep prints around them.

use serde_json::{Value, json};

/// A lock as a report prints it: `ADDR (class){usage}, at: site`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockRef {
    /// The class name exactly as printed (`&mm->mmap_lock#2`, `name/1`), without its usage.
    pub class: String,
    /// The usage decoration (`{++++}-{3:3}`), if printed.
    pub usage: Option<String>,
    /// Where it was taken (`func+0x1/0x2`), if printed.
    pub at: Option<String>,
}

/// An entry of "the existing dependency chain": `-> #N (class){usage}:` and its stack.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainEntry {
    /// N.
    pub index: u32,
    /// The class, as printed.
    pub class: String,
    /// Its usage decoration.
    pub usage: Option<String>,
    /// The stack that recorded the dependency, innermost first.
    pub stack: Vec<String>,
}

/// One parsed report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Splat {
    /// The trace format's kind name (`circular`, `recursive`, ...), or a new name for what
    /// it has none for (`suspicious_rcu_usage`, `irq_lock_order`).
    pub kind: String,
    /// The headline as printed, without `WARNING:` or brackets.
    pub title: String,
    /// The kernel line (`6.6.0-rc7 #4300 Not tainted`).
    pub kernel: Option<String>,
    /// The task (`comm/pid`).
    pub task: Option<String>,
    /// The lock being acquired (or released, freed, taken in the bad state).
    pub acquiring: Option<LockRef>,
    /// The held lock it conflicts with.
    pub holding: Option<LockRef>,
    /// The existing dependency chain, as printed (#N first).
    pub chain: Vec<ChainEntry>,
    /// "Chain exists of": the classes, in order.
    pub chain_exists_of: Vec<String>,
    /// Whose held locks are listed.
    pub held_by: Option<String>,
    /// The held locks.
    pub held: Vec<LockRef>,
    /// The report's stack backtrace, reliable frames only (`? ` ones are guesses).
    pub stack: Vec<String>,
    /// The classes involved, each once, in order of appearance.
    pub classes: Vec<String>,
    /// A syzbot-style title: "possible deadlock in <function>".
    pub syz_title: String,
}

/// Headlines, the kind each means, and its syzbot-style wording.
const HEADLINES: &[(&str, &str, &str)] = &[
    (
        "possible circular locking dependency detected",
        "circular",
        "possible deadlock",
    ),
    (
        "possible recursive locking detected",
        "recursive",
        "possible deadlock",
    ),
    (
        "inconsistent lock state",
        "inconsistent_state",
        "inconsistent lock state",
    ),
    (
        "possible irq lock inversion dependency detected",
        "irq_inversion",
        "possible deadlock",
    ),
    (
        "HARDIRQ-safe -> HARDIRQ-unsafe lock order detected",
        "irq_lock_order",
        "possible deadlock",
    ),
    (
        "SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected",
        "irq_lock_order",
        "possible deadlock",
    ),
    (
        "HARDIRQ-READ-safe -> HARDIRQ-READ-unsafe lock order detected",
        "irq_lock_order",
        "possible deadlock",
    ),
    (
        "SOFTIRQ-READ-safe -> SOFTIRQ-READ-unsafe lock order detected",
        "irq_lock_order",
        "possible deadlock",
    ),
    (
        "bad unlock balance detected",
        "bad_unlock",
        "bad unlock balance",
    ),
    ("held lock freed", "held_freed", "held lock freed"),
    (
        "lock held when returning to user space",
        "held_at_exit",
        "lock held when returning to user space",
    ),
    (
        "lock held at task exit time",
        "held_at_exit",
        "lock held at task exit time",
    ),
    (
        "Invalid wait context",
        "invalid_context",
        "invalid wait context",
    ),
    (
        "Nested lock was not taken",
        "nest_lock_not_held",
        "nested lock was not taken",
    ),
    (
        "suspicious RCU usage",
        "suspicious_rcu_usage",
        "suspicious RCU usage",
    ),
    (
        "possible deadlock detected",
        "circular",
        "possible deadlock",
    ),
];

/// Parses the first lockdep report in `text`. `Err` says why the text is not one.
pub fn parse(text: &str) -> Result<Splat, String> {
    let lines = normalize(text);
    let (start, kind, title, what) = lines
        .iter()
        .enumerate()
        .find_map(|(i, l)| {
            HEADLINES
                .iter()
                .find(|(h, _, _)| l.contains(h))
                .map(|&(h, k, w)| (i, k, h, w))
        })
        .ok_or_else(|| {
            "no lockdep report found: none of lockdep's headlines (\"possible circular locking \
             dependency detected\", \"possible recursive locking detected\", \"inconsistent \
             lock state\", ...) is in the text"
                .to_owned()
        })?;
    let mut s = Splat {
        kind: kind.to_owned(),
        title: title.to_owned(),
        ..Splat::default()
    };
    let body = &lines[start + 1..];
    s.kernel = body
        .iter()
        .take(4)
        .find(|l| l.to_ascii_lowercase().contains("tainted"))
        .map(|l| l.trim().to_owned());
    let mut i = 0;
    while i < body.len() {
        let l = body[i].trim();
        if l.starts_with("-> #") {
            let (entry, used) = chain_entry(&body[i..]);
            s.chain.extend(entry);
            i += used.max(1);
            continue;
        }
        if l.ends_with("is trying to acquire lock:")
            || l.ends_with("is trying to acquire:")
            || l.ends_with("is trying to lock:")
            || l.contains(" takes:")
            || l.ends_with("just changed the state of lock:")
            || l.ends_with("is trying to release lock")
            || l.contains("is freeing memory")
            || l.contains("is leaving the kernel with locks still held")
            || l.contains("is exiting with locks still held")
        {
            if s.task.is_none() {
                s.task = task_of(l);
            }
            if s.acquiring.is_none() {
                s.acquiring = body[i + 1..].iter().take(3).find_map(|x| lock_ref(x));
            }
        } else if l.contains("is trying to release lock (") {
            // bad unlock: "task/1 is trying to release lock (class) at:", the site on the
            // next line.
            s.task = s.task.or_else(|| task_of(l));
            if s.acquiring.is_none() {
                let mut lock = lock_ref(l);
                if let Some(lk) = lock.as_mut()
                    && lk.at.is_none()
                {
                    lk.at = body.get(i + 1).and_then(|n| frame(n)).map(|(f, _)| f);
                }
                s.acquiring = lock;
            }
        } else if l.starts_with("but task is already holding lock")
            || l.starts_with("but this lock was taken by another")
            || l.starts_with("but this lock took another")
            || l.starts_with("and this task is already holding")
        {
            if s.holding.is_none() {
                s.holding = body[i + 1..].iter().take(3).find_map(|x| lock_ref(x));
            }
        } else if l.starts_with("Chain exists of") {
            if let Some(next) = body.get(i + 1) {
                s.chain_exists_of = next
                    .split("-->")
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty())
                    .collect();
            }
        } else if let Some(who) = held_by(l) {
            s.held_by = Some(who);
            let mut j = i + 1;
            while let Some(x) = body.get(j) {
                let t = x.trim_start();
                if !t.starts_with('#') {
                    break;
                }
                if let Some(h) = lock_ref(t) {
                    s.held.push(h);
                }
                j += 1;
            }
            i = j;
            continue;
        } else if l.starts_with("stack backtrace") {
            s.stack = frames(&body[i + 1..], true);
            break;
        }
        i += 1;
    }
    if s.task.is_none() {
        s.task = s.held_by.clone();
    }
    for c in s
        .acquiring
        .iter()
        .chain(s.holding.iter())
        .map(|l| l.class.clone())
        .chain(s.chain.iter().map(|e| e.class.clone()))
        .chain(s.chain_exists_of.iter().cloned())
    {
        if !s.classes.contains(&c) {
            s.classes.push(c);
        }
    }
    let place = s
        .acquiring
        .as_ref()
        .and_then(|l| l.at.as_deref())
        .map(function)
        .filter(|f| !f.is_empty())
        .or_else(|| {
            s.stack
                .iter()
                .map(|f| function(f))
                .find(|f| !is_internal(f))
        })
        .unwrap_or_else(|| s.task.clone().unwrap_or_default());
    s.syz_title = format!("{what} in {place}");
    Ok(s)
}

/// The text as lines, prefixes removed. A text with console timestamps is cut at each
/// timestamp (it may have been flattened onto one line).
fn normalize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in text.lines() {
        // Mail quoting comes before a line's timestamp.
        let mut rest = unquote(raw);
        let mut first = true;
        loop {
            match find_timestamp(rest) {
                Some((at, len)) => {
                    let before = &rest[..at];
                    if !first || !before.trim().is_empty() {
                        out.push(before.to_owned());
                    }
                    rest = &rest[at + len..];
                    first = false;
                }
                None => {
                    out.push(rest.to_owned());
                    break;
                }
            }
        }
    }
    out.into_iter().map(|l| strip_prefixes(&l)).collect()
}

/// `raw` without mail quoting (`> `, `>> `, `> > `).
fn unquote(raw: &str) -> &str {
    let mut s = raw;
    loop {
        let t = s.trim_start();
        match t.strip_prefix('>') {
            Some(r) if r.is_empty() || r.starts_with(' ') || r.starts_with('>') => s = r,
            _ => return s,
        }
    }
}

/// `[   17.897351]`: position and length of the first console timestamp in `s`.
fn find_timestamp(s: &str) -> Option<(usize, usize)> {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(off) = s[i..].find('[') {
        let at = i + off;
        let mut j = at + 1;
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        let d0 = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j > d0 && j < b.len() && b[j] == b'.' {
            j += 1;
            let f0 = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j > f0 && j < b.len() && b[j] == b']' {
                // The line's text starts one space after the bracket.
                let end = if b.get(j + 1) == Some(&b' ') {
                    j + 2
                } else {
                    j + 1
                };
                return Some((at, end - at));
            }
        }
        i = at + 1;
    }
    None
}

/// Removes a mail's quoting, `kernel:` and a caller id (`[  T123]`, `[ C1]`).
fn strip_prefixes(l: &str) -> String {
    let mut s = l.trim_end_matches('\r');
    loop {
        let t = s.trim_start();
        if let Some(r) = t
            .strip_prefix('>')
            .filter(|_| t.starts_with("> ") || t == ">")
        {
            s = r;
            continue;
        }
        if let Some(r) = t.strip_prefix("kernel:") {
            s = r;
            continue;
        }
        if t.starts_with('[')
            && let Some(close) = t.find(']')
        {
            let id = t[1..close].trim();
            if id.len() >= 2
                && (id.starts_with('T') || id.starts_with('C'))
                && id[1..].chars().all(|c| c.is_ascii_digit())
            {
                s = &t[close + 1..];
                continue;
            }
        }
        break;
    }
    // Keep the leading spaces that matter to nothing here; the rest of the parser trims.
    s.to_owned()
}

/// `comm/pid` from a line that starts with it.
fn task_of(l: &str) -> Option<String> {
    let t = l.split_whitespace().next()?;
    t.contains('/').then(|| t.to_owned())
}

/// "N locks held by comm/pid:" or "no locks held by comm/pid.".
fn held_by(l: &str) -> Option<String> {
    let at = l.find(" held by ")?;
    let head = &l[..at];
    if !(head.ends_with("lock") || head.ends_with("locks")) {
        return None;
    }
    let who = l[at + " held by ".len()..]
        .trim()
        .trim_end_matches([':', '.']);
    Some(who.to_owned())
}

/// A lock in `... (class){usage}, at: site` form (the class may contain parentheses:
/// `(wq_completion)events`).
fn lock_ref(l: &str) -> Option<LockRef> {
    let close = l.find("){").or_else(|| {
        // No usage printed: `(class) at:` (bad unlock) or `(class), at:`.
        let c = l.rfind(')')?;
        Some(c)
    })?;
    let open = {
        // The '(' that opens the class: the first one before `close` whose parentheses
        // balance up to it.
        let bytes = l.as_bytes();
        let mut depth = 0i32;
        let mut k = close;
        loop {
            match bytes[k] {
                b')' => depth += 1,
                b'(' => {
                    depth -= 1;
                    if depth == 0 {
                        break k;
                    }
                }
                _ => {}
            }
            if k == 0 {
                return None;
            }
            k -= 1;
        }
    };
    let class = l[open + 1..close].to_owned();
    if class.is_empty() {
        return None;
    }
    let after = &l[close + 1..];
    // `{++++}-{3:3}` (or the old `{+.+.+.}`), up to the comma or the space before `at:`;
    // a chain entry's ends with ':'.
    let usage = after.starts_with('{').then(|| {
        after
            .split(|c: char| c == ',' || c.is_whitespace())
            .next()
            .unwrap_or("")
            .trim_end_matches(':')
            .to_owned()
    });
    let at = after.find("at:").map(|p| {
        let site = after[p + 3..].trim();
        let site = strip_addr(site);
        site.split_whitespace().next().unwrap_or("").to_owned()
    });
    Some(LockRef {
        class,
        usage,
        at: at.filter(|a| !a.is_empty()),
    })
}

/// `s` without the address old kernels print before a site or frame:
/// `[<ffffffff8020af79>] dump_trace+0xb9/0x430`.
fn strip_addr(s: &str) -> &str {
    match s.strip_prefix("[<") {
        Some(r) => r.split_once(">]").map_or("", |(_, rest)| rest).trim(),
        None => s,
    }
}

/// `-> #N (class){usage}:` and the frames under it; returns the entry and the lines used.
fn chain_entry(lines: &[String]) -> (Option<ChainEntry>, usize) {
    let head = lines[0].trim();
    let index = head
        .trim_start_matches("-> #")
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok());
    let lock = lock_ref(head);
    let mut used = 1;
    let mut stack = Vec::new();
    for l in &lines[1..] {
        match frame(l) {
            Some((f, guess)) => {
                if !guess {
                    stack.push(f);
                }
            }
            None if l.trim().is_empty() && stack.is_empty() => {}
            None if l.trim_end().ends_with("[inline]") => {}
            None => break,
        }
        used += 1;
    }
    let entry = index.zip(lock).map(|(index, lock)| ChainEntry {
        index,
        class: lock.class,
        usage: lock.usage,
        stack,
    });
    (entry, used)
}

/// A stack frame line: `func+0x1/0x2` (maybe after `? `, maybe with a ` [module]`); the
/// bool says whether it was a guess (`? `).
fn frame(l: &str) -> Option<(String, bool)> {
    let t = strip_addr(l.trim());
    let (t, guess) = match t.strip_prefix("? ") {
        Some(r) => (r, true),
        None => (t, false),
    };
    let tok = t.split_whitespace().next()?;
    let (name, off) = tok.split_once('+')?;
    let ok = !name.is_empty()
        && off.starts_with("0x")
        && off.contains('/')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    ok.then(|| (tok.to_owned(), guess))
}

/// The frames of a stack backtrace: reliable ones only, from the first frame to the end of
/// the trace (`</TASK>`, registers, or the first line that is not a frame).
fn frames(lines: &[String], skip_header: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut started = false;
    for l in lines {
        let t = l.trim();
        if !started
            && skip_header
            && (t.is_empty()
                || t.starts_with("CPU:")
                || t.starts_with("Hardware name")
                || t.starts_with("Call trace")
                || t.starts_with("Call Trace")
                || t.starts_with("<TASK>")
                || t.starts_with("Workqueue:"))
        {
            continue;
        }
        match frame(t) {
            Some((f, guess)) => {
                started = true;
                if !guess {
                    out.push(f);
                }
            }
            // syzbot's symbolized inline frames (`__dump_stack lib/dump_stack.c:88 [inline]`)
            // carry no offset: skipped, the trace goes on.
            None if t.starts_with("<IRQ>")
                || t.starts_with("</IRQ>")
                || t.ends_with("[inline]") => {}
            None => break,
        }
    }
    out
}

/// `func` of `func+0x1/0x2`.
fn function(site: &str) -> String {
    site.split('+').next().unwrap_or(site).trim().to_owned()
}

/// The frames lockdep's own reporting adds on top of every stack.
fn is_internal(f: &str) -> bool {
    f.is_empty()
        || f.starts_with("dump_")
        || f.starts_with("show_stack")
        || f.starts_with("print_")
        || f.starts_with("check_")
        || f.starts_with("validate_chain")
        || f.contains("lock_acquire")
        || f.contains("lock_release")
        || f.starts_with("mark_lock")
        || f.starts_with("lockdep_")
}

fn lock_json(l: &LockRef) -> Value {
    json!({"class": l.class, "usage": l.usage, "at": l.at})
}

/// The JSON form (`lockdep splat --format json`).
pub fn to_json(s: &Splat) -> Value {
    json!({
        "kind": s.kind,
        "title": s.title,
        "kernel": s.kernel,
        "task": s.task,
        "acquiring": s.acquiring.as_ref().map(lock_json),
        "holding": s.holding.as_ref().map(lock_json),
        "chain": s.chain.iter().map(|e| json!({
            "index": e.index, "class": e.class, "usage": e.usage, "stack": e.stack,
        })).collect::<Vec<_>>(),
        "chain_exists_of": s.chain_exists_of,
        "held_by": s.held_by,
        "held": s.held.iter().map(lock_json).collect::<Vec<_>>(),
        "stack": s.stack,
        "classes": s.classes,
        "syz_title": s.syz_title,
    })
}

/// A text summary (`lockdep splat`).
pub fn to_text(s: &Splat) -> String {
    let mut out = format!("{}\nkind: {}  title: {}\n", s.syz_title, s.kind, s.title);
    if let Some(t) = &s.task {
        out.push_str(&format!("task: {t}\n"));
    }
    if let Some(k) = &s.kernel {
        out.push_str(&format!("kernel: {k}\n"));
    }
    let lock = |l: &LockRef| {
        format!(
            "{}{}{}",
            l.class,
            l.usage.as_deref().unwrap_or(""),
            l.at.as_deref()
                .map(|a| format!(" at {a}"))
                .unwrap_or_default()
        )
    };
    if let Some(a) = &s.acquiring {
        out.push_str(&format!("acquiring: {}\n", lock(a)));
    }
    if let Some(h) = &s.holding {
        out.push_str(&format!("holding: {}\n", lock(h)));
    }
    if !s.chain_exists_of.is_empty() {
        out.push_str(&format!("chain: {}\n", s.chain_exists_of.join(" --> ")));
    }
    for e in &s.chain {
        out.push_str(&format!(
            "  #{} {}{} ({} frames)\n",
            e.index,
            e.class,
            e.usage.as_deref().unwrap_or(""),
            e.stack.len()
        ));
    }
    if let Some(b) = &s.held_by {
        out.push_str(&format!("{} held by {b}\n", s.held.len()));
        for h in &s.held {
            out.push_str(&format!("  {}\n", lock(h)));
        }
    }
    if !s.stack.is_empty() {
        out.push_str(&format!("stack: {}\n", s.stack.join(" <- ")));
    }
    out
}
