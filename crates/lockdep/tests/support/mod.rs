//! Helpers shared by the runtime's integration tests (each test binary uses some of them).

use lockdep::{Kind, Report, Severity};

/// The error reports, as (kind, sorted class names).
#[allow(dead_code)]
pub fn errors(reports: &[Report]) -> Vec<(Kind, Vec<String>)> {
    reports
        .iter()
        .filter(|r| r.severity == Severity::Error)
        .map(|r| {
            let mut c = r.classes.clone();
            c.sort();
            (r.kind, c)
        })
        .collect()
}

/// Every report raised in this test binary, whichever thread raised it (the first call
/// installs the handler).
#[allow(dead_code)]
pub fn all_reports() -> &'static std::sync::Mutex<Vec<Report>> {
    static SEEN: std::sync::OnceLock<std::sync::Mutex<Vec<Report>>> = std::sync::OnceLock::new();
    SEEN.get_or_init(|| {
        lockdep::set_handler(|r| all_reports().lock().unwrap().push(r.clone()));
        std::sync::Mutex::new(Vec::new())
    })
}

/// The sorted signatures of `reports`.
#[allow(dead_code)]
pub fn signatures(reports: &[Report]) -> Vec<String> {
    let mut v: Vec<String> = reports.iter().map(|r| r.signature.clone()).collect();
    v.sort();
    v
}

/// The sorted signatures of what `lockdep check`'s reader finds in a recorded trace (the
/// trace must be valid input).
#[allow(dead_code)]
pub fn replayed_signatures(name: &str, text: &str) -> Vec<String> {
    let mut r = lockdep_trace::Replayer::new();
    r.read(name, text.as_bytes())
        .expect("the recorded trace is valid input");
    signatures(r.engine.reports())
}

/// The process's resident set size in KiB (0 where /proc is not there).
#[allow(dead_code)]
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
