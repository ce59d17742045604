//! Where reports go besides stderr, and the end-of-process summary.
//!
//! With `LOCKDEP_REPORT_DIR=dir`, every report the policy delivers (not those only captured
//! by a test's `capture`) is also written to `dir`: its text as
//! `lockdep-<pid>-<n>-<signature>.txt` and one JSON object per line in
//! `lockdep-<pid>.jsonl` (the schema of `lockdep check --format json`). When the process
//! exits, if any report was delivered, one summary line goes to stderr: the counts by kind
//! and where the full reports are.

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use lockdep_core::Report;
use parking_lot::Mutex as PlMutex;

/// Counts by kind of the reports delivered, in order of first appearance.
static COUNTS: PlMutex<Vec<(&'static str, usize)>> = PlMutex::new(Vec::new());

/// The report directory, if `LOCKDEP_REPORT_DIR` names one (created if missing).
fn dir() -> Option<&'static PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = PathBuf::from(std::env::var_os("LOCKDEP_REPORT_DIR")?);
        match std::fs::create_dir_all(&d) {
            Ok(()) => Some(d),
            Err(e) => {
                eprintln!(
                    "lockdep: cannot use LOCKDEP_REPORT_DIR={}: {e}",
                    d.display()
                );
                None
            }
        }
    })
    .as_ref()
}

/// A report was delivered (printed, panicked with, or given to the handler): counted, and
/// written to the report directory if there is one.
pub(crate) fn delivered(r: &Report) {
    let n = {
        let mut counts = COUNTS.lock();
        if counts.is_empty() {
            register_exit_summary();
        }
        let kind = r.kind.as_str();
        match counts.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((kind, 1)),
        }
        counts.iter().map(|(_, n)| n).sum::<usize>()
    };
    let Some(d) = dir() else {
        return;
    };
    let pid = std::process::id();
    let text = d.join(format!("lockdep-{pid}-{n}-{}.txt", r.signature));
    let written = std::fs::write(&text, lockdep_core::render_text(r)).and_then(|()| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join(format!("lockdep-{pid}.jsonl")))?;
        writeln!(f, "{}", lockdep_trace::report_json(r, None, None))
    });
    if let Err(e) = written {
        eprintln!("lockdep: cannot write the report to {}: {e}", d.display());
    }
}

/// The summary line (`None` when nothing was reported).
fn summary_line() -> Option<String> {
    // At exit another thread may be stopped holding the lock: never wait for it.
    let counts = COUNTS.try_lock()?.clone();
    let total: usize = counts.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let kinds: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let whereto = match dir() {
        Some(d) => format!("full reports in {}", d.display()),
        None => "full reports above on stderr".to_owned(),
    };
    Some(format!(
        "lockdep: {total} report{} in this process ({}); {whereto}",
        if total == 1 { "" } else { "s" },
        kinds.join(", ")
    ))
}

#[cfg(unix)]
fn register_exit_summary() {
    extern "C" fn at_exit() {
        if let Some(line) = summary_line() {
            // Not `eprintln!`: it panics if stderr is gone, and this must not unwind.
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
    // SAFETY: `atexit` only records the function pointer; `at_exit` is a plain `extern "C"`
    // function that does not unwind (it prints, with no lock it could wait for).
    unsafe {
        libc::atexit(at_exit);
    }
}

#[cfg(not(unix))]
fn register_exit_summary() {}
