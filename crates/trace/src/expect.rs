//! Comparing a run's reports with a scenario header's `expect` / `allow`.

use lockdep_core::{Report, Severity};

use crate::read::{Expect, Header};

fn matches(e: &Expect, r: &Report) -> bool {
    if !e.kinds.iter().any(|k| k == r.kind.as_str()) {
        return false;
    }
    match &e.classes {
        None => true,
        Some(cs) => {
            let mut want: Vec<&str> = cs.iter().map(String::as_str).collect();
            let mut got: Vec<&str> = r.classes.iter().map(String::as_str).collect();
            want.sort_unstable();
            want.dedup();
            got.sort_unstable();
            got.dedup();
            want == got
        }
    }
}

/// Checks the error reports against the header, as trace-format.md says: every `expect`
/// entry is matched by an error report, and every error report matches an `expect` entry or
/// has a kind in `allow`. Warnings are compared only when the header has `warnings` (this
/// project's extension): then they must match it exactly. Returns what differs.
pub fn check_expectations(header: &Header, reports: &[Report]) -> Result<(), String> {
    let Some(expect) = &header.expect else {
        return Err("the header has no \"expect\"".into());
    };
    let errors: Vec<&Report> = reports
        .iter()
        .filter(|r| r.severity == Severity::Error)
        .collect();
    let mut problems = Vec::new();
    for e in expect {
        if !errors.iter().any(|r| matches(e, r)) {
            problems.push(format!(
                "missing: {} {:?}",
                e.kinds.join("|"),
                e.classes.as_deref().unwrap_or(&[])
            ));
        }
    }
    for r in &errors {
        if !expect.iter().any(|e| matches(e, r))
            && !header.allow.iter().any(|k| k == r.kind.as_str())
        {
            problems.push(format!(
                "unexpected: {} {:?} ({})",
                r.kind, r.classes, r.title
            ));
        }
    }
    if let Some(want) = &header.warnings {
        let warnings: Vec<&Report> = reports
            .iter()
            .filter(|r| r.severity == Severity::Warning)
            .collect();
        for e in want {
            if !warnings.iter().any(|r| matches(e, r)) {
                problems.push(format!(
                    "missing warning: {} {:?}",
                    e.kinds.join("|"),
                    e.classes.as_deref().unwrap_or(&[])
                ));
            }
        }
        for r in &warnings {
            if !want.iter().any(|e| matches(e, r)) {
                problems.push(format!(
                    "unexpected warning: {} {:?} ({})",
                    r.kind, r.classes, r.title
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
