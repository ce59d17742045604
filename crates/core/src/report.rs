//! Reports as data. Rendering to text lives in [`crate::render`]; JSON lives in the trace crate.

use std::fmt;

/// What kind of problem a report describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Kind {
    /// A strong cycle in the dependency graph.
    Circular,
    /// Acquiring a class the thread already holds.
    Recursive,
    /// A wait for an event only the waiting thread can produce.
    SelfWait,
    /// Releasing what the thread does not hold.
    BadUnlock,
    /// Freeing an object that is held.
    HeldFreed,
    /// Ending a thread (or reaching a `base` flush point) with locks held.
    HeldAtExit,
    /// Blocking in a context that must not block.
    InvalidContext,
    /// One class used in an interrupt and with that interrupt enabled.
    InconsistentState,
    /// An irq-safe class depends on an irq-unsafe one.
    IrqInversion,
    /// An acquire named a `nest_lock` that the thread does not hold.
    NestLockNotHeld,
    /// An actual hang seen by the runtime's watchdog (never raised by the engine).
    Hang,
}

impl Kind {
    /// The trace format's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Circular => "circular",
            Kind::Recursive => "recursive",
            Kind::SelfWait => "self_wait",
            Kind::BadUnlock => "bad_unlock",
            Kind::HeldFreed => "held_freed",
            Kind::HeldAtExit => "held_at_exit",
            Kind::InvalidContext => "invalid_context",
            Kind::InconsistentState => "inconsistent_state",
            Kind::IrqInversion => "irq_inversion",
            Kind::NestLockNotHeld => "nest_lock_not_held",
            Kind::Hang => "hang",
        }
    }

    /// Every kind, for documentation and tests.
    pub const ALL: [Kind; 11] = [
        Kind::Circular,
        Kind::Recursive,
        Kind::SelfWait,
        Kind::BadUnlock,
        Kind::HeldFreed,
        Kind::HeldAtExit,
        Kind::InvalidContext,
        Kind::InconsistentState,
        Kind::IrqInversion,
        Kind::NestLockNotHeld,
        Kind::Hang,
    ];

    /// Parses the trace format's name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Cannot deadlock as observed (gate lock, timed wait), but fragile.
    Warning,
    /// A potential deadlock or misuse.
    Error,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// What a graph node stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// `free(L)`: the release of a lock class.
    Lock,
    /// `exit(T)`: a thread class ending.
    ThreadExit,
    /// `done(E)`: a completion or waitqueue event.
    Done,
    /// `notified(V)`: a condvar notification.
    Notified,
    /// `zero(N)`: a counter reaching zero.
    Zero,
    /// `avail(C)`: a message available on a channel.
    Avail,
    /// `space(C)`: room on a channel.
    Space,
    /// `ran(W)`: a work or deferred item has run.
    Ran,
    /// `drained(X)`: everything queued on a work queue has run.
    Drained,
}

impl NodeKind {
    /// A node of this kind on class or object `label`, as reports name it: `L` for a lock
    /// class, `kind(E)` for an event node.
    pub fn node_name(self, label: &str) -> String {
        match self {
            NodeKind::Lock => label.to_owned(),
            k => format!("{}({label})", k.as_str()),
        }
    }

    /// The spec's name of the node kind (`free`, `exit`, `done`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Lock => "free",
            NodeKind::ThreadExit => "exit",
            NodeKind::Done => "done",
            NodeKind::Notified => "notified",
            NodeKind::Zero => "zero",
            NodeKind::Avail => "avail",
            NodeKind::Space => "space",
            NodeKind::Ran => "ran",
            NodeKind::Drained => "drained",
        }
    }
}

/// One edge of a reported cycle or path, as first recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeReport {
    /// Class that was held (or event owed).
    pub from: String,
    /// Class that was acquired (or waited for).
    pub to: String,
    /// What the `from` node is.
    pub from_kind: NodeKind,
    /// What the `to` node is.
    pub to_kind: NodeKind,
    /// Mode `from` was held in.
    pub from_mode: &'static str,
    /// Mode `to` was acquired in.
    pub to_mode: &'static str,
    /// Thread that first recorded the edge.
    pub thread: String,
    /// Where `from` was acquired, if known.
    pub from_site: Option<String>,
    /// Where `to` was acquired, if known.
    pub to_site: Option<String>,
    /// Stack of the `to` acquisition, innermost first (empty if unknown).
    pub stack: Vec<String>,
    /// Index (0-based) of the op that first recorded the edge.
    pub seq: u64,
    /// For an `owed` edge: the op (index) since which the thread owed `from` (its start for
    /// its own exit, else the defer, run_begin, obligation_begin or hand-over); `from_site`
    /// is that op's site when the trace gives one.
    pub since: Option<u64>,
    /// Why the edge exists: `held` (a held lock, §1's walk), `owed` (an owed event: thread
    /// exit, running work, deferred item, obligation), `signal-lock` / `signal-wait` (the
    /// signaller's rule (a) / (b)), `queue` (work-queue structure).
    pub why: &'static str,
}

/// A lock held by the reporting thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldReport {
    /// Class (with `/N`).
    pub class: String,
    /// Mode held.
    pub mode: &'static str,
    /// A trylock hold.
    pub try_: bool,
    /// Where it was acquired.
    pub site: Option<String>,
}

/// A problem found by the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// What kind of problem.
    pub kind: Kind,
    /// Error or warning.
    pub severity: Severity,
    /// The classes involved, each once, in cycle or report order.
    pub classes: Vec<String>,
    /// Stable id: kind + set of classes.
    pub signature: String,
    /// One-line human title.
    pub title: String,
    /// The reporting thread.
    pub thread: String,
    /// Where the reporting step happened.
    pub site: Option<String>,
    /// Stack of the reporting step.
    pub stack: Vec<String>,
    /// Index (0-based) of the op that raised the report.
    pub seq: u64,
    /// Cycle or path edges (for `circular`, `irq_inversion`).
    pub edges: Vec<EdgeReport>,
    /// Locks held by the reporting thread at the time.
    pub held: Vec<HeldReport>,
    /// Kind-specific lines (usage states, the gate lock, ...).
    pub notes: Vec<String>,
}

impl Report {
    /// A syzbot-style one-line title: what, and where ("possible deadlock in <function or
    /// site>"). The place is the innermost frame of the report's stack when it has one (the
    /// function, without its generic arguments and closure suffixes), else the reporting
    /// site, else the thread.
    pub fn one_line(&self) -> String {
        let what = match self.kind {
            Kind::Circular | Kind::Recursive => "possible deadlock",
            Kind::SelfWait => "possible self-wait deadlock",
            Kind::BadUnlock => "bad unlock balance",
            Kind::HeldFreed => "held lock freed",
            Kind::HeldAtExit => "lock held at exit",
            Kind::InvalidContext => "invalid wait context",
            Kind::InconsistentState => "inconsistent lock state",
            Kind::IrqInversion => "possible irq lock inversion dependency",
            Kind::NestLockNotHeld => "nest lock not held",
            Kind::Hang => "hung task",
        };
        let place = self
            .stack
            .first()
            .map(|f| function_of(f))
            .filter(|f| !f.is_empty())
            .or_else(|| self.site.clone())
            .unwrap_or_else(|| self.thread.clone());
        format!("{what} in {place}")
    }
}

/// The function of a stack frame `path::to::function::{{closure}} at file:line`: its last
/// path segment that is not a closure, without generic arguments (`take_lock`).
fn function_of(frame: &str) -> String {
    let name = frame.split(" at ").next().unwrap_or(frame);
    // Drop generic arguments (`<...>`, nested) so that `::` splits the path itself.
    let mut plain = String::new();
    let mut depth = 0usize;
    for ch in name.chars() {
        match ch {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            _ if depth == 0 => plain.push(ch),
            _ => {}
        }
    }
    plain
        .rsplit("::")
        .find(|seg| !seg.is_empty() && !seg.starts_with("{{"))
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// Computes the stable signature of a problem: kind plus the *set* of classes.
///
/// FNV-1a over the sorted class names, so it is the same on every platform and run.
pub fn signature(kind: Kind, classes: &[String]) -> String {
    let mut sorted: Vec<&str> = classes.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(kind.as_str().as_bytes());
    for c in sorted {
        eat(&[0]);
        eat(c.as_bytes());
    }
    format!("{}-{:016x}", kind.as_str(), h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(kind: Kind, stack: &[&str], site: Option<&str>) -> Report {
        Report {
            kind,
            severity: Severity::Error,
            classes: vec!["A".into()],
            signature: signature(kind, &["A".into()]),
            title: String::new(),
            thread: "T".into(),
            site: site.map(str::to_owned),
            stack: stack.iter().map(|s| (*s).to_owned()).collect(),
            seq: 0,
            edges: Vec::new(),
            held: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn one_line_titles_name_the_innermost_function_else_the_site_else_the_thread() {
        let r = report(
            Kind::Circular,
            &[
                "my_crate::bank::transfer::{{closure}} at src/bank.rs:12",
                "main at x:1",
            ],
            Some("src/bank.rs:12:5"),
        );
        assert_eq!(r.one_line(), "possible deadlock in transfer");
        let r = report(
            Kind::InconsistentState,
            &["<my_crate::Pool<T> as core::ops::Drop>::drop at src/pool.rs:3"],
            None,
        );
        assert_eq!(r.one_line(), "inconsistent lock state in drop");
        let r = report(Kind::SelfWait, &[], Some("fs/direct-io.c:310"));
        assert_eq!(
            r.one_line(),
            "possible self-wait deadlock in fs/direct-io.c:310"
        );
        let r = report(Kind::HeldAtExit, &[], None);
        assert_eq!(r.one_line(), "lock held at exit in T");
    }
}
