//! Snapshot tests of the text report for every kind the engine raises (and a warning), from
//! scenarios of the corpus. A change in the text shows as a snapshot diff to review
//! (`cargo insta review`, or `INSTA_UPDATE=always` to accept).

use std::path::Path;

use lockdep_core::{Kind, Severity, render_text};
use lockdep_trace::check_file;

/// (snapshot name, scenario file, kind of the report to show).
const CASES: &[(&str, &str, Kind)] = &[
    (
        "circular_locks",
        "scenarios/lock-abbcca-mutex.jsonl",
        Kind::Circular,
    ),
    (
        "circular_events",
        "scenarios/event-completion-after-lock.jsonl",
        Kind::Circular,
    ),
    (
        "circular_deferred",
        "scenarios/seed-d-dm-snapshot.jsonl",
        Kind::Circular,
    ),
    (
        "recursive",
        "scenarios/lock-aa-mutex.jsonl",
        Kind::Recursive,
    ),
    (
        "self_wait",
        "scenarios/seed-a-dio-caller-comp.jsonl",
        Kind::SelfWait,
    ),
    (
        "bad_unlock",
        "scenarios/lock-double-unlock.jsonl",
        Kind::BadUnlock,
    ),
    (
        "held_freed",
        "scenarios/lock-init-held.jsonl",
        Kind::HeldFreed,
    ),
    (
        "held_at_exit",
        "scenarios/lock-held-at-exit.jsonl",
        Kind::HeldAtExit,
    ),
    (
        "invalid_context",
        "scenarios/ctx-mutex-in-atomic.jsonl",
        Kind::InvalidContext,
    ),
    (
        "inconsistent_state",
        "scenarios/ctx-irq-inconsistent.jsonl",
        Kind::InconsistentState,
    ),
    (
        "irq_inversion",
        "tests/scenarios/own-irq-inversion-multi-hop.jsonl",
        Kind::IrqInversion,
    ),
    (
        "nest_lock_not_held",
        "tests/scenarios/own-nest-lock-not-held.jsonl",
        Kind::NestLockNotHeld,
    ),
];

fn first_report(file: &str, kind: Kind, severity: Severity) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(file);
    let (r, _) = check_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let report = r
        .engine
        .reports()
        .iter()
        .find(|x| x.kind == kind && x.severity == severity)
        .unwrap_or_else(|| panic!("{file}: no {kind} report"));
    render_text(report)
}

#[test]
fn text_report_of_every_kind() {
    for &(name, file, kind) in CASES {
        insta::assert_snapshot!(name, first_report(file, kind, Severity::Error));
    }
}

#[test]
fn text_report_of_a_warning() {
    // A cycle through a timed wait: reported as a warning.
    let file = "tests/scenarios/own-ev-timed-wait-warning.jsonl";
    insta::assert_snapshot!(
        "warning_timed_wait",
        first_report(file, Kind::Circular, Severity::Warning)
    );
}
