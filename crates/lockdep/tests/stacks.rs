//! Backtraces: captured when a dependency is first recorded, symbolized when a report is
//! delivered to a handler or printed, not for a capture scope alone.

use lockdep::{Kind, Mutex};

mod support;
use support::all_reports;

static A: Mutex<()> = Mutex::with_class((), lockdep::class!("bt.A"));
static B: Mutex<()> = Mutex::with_class((), lockdep::class!("bt.B"));

#[inline(never)]
fn take_a_then_b() {
    let _a = A.lock();
    let _b = B.lock();
}

#[inline(never)]
fn take_b_then_a() {
    let _b = B.lock();
    let _a = A.lock();
}

#[test]
fn reports_delivered_to_a_handler_carry_both_sides_backtraces() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    all_reports();
    take_a_then_b();
    take_b_then_a();
    let seen = all_reports().lock().unwrap();
    let r = seen
        .iter()
        .find(|r| r.kind == Kind::Circular && r.classes.iter().any(|c| c == "bt.A"))
        .expect("the inversion is reported");
    // Each edge shows where it was first recorded: one side in each function.
    let edge_stacks: Vec<String> = r.edges.iter().map(|e| e.stack.join("\n")).collect();
    assert!(
        edge_stacks.iter().any(|s| s.contains("take_a_then_b")),
        "{edge_stacks:#?}"
    );
    assert!(
        edge_stacks.iter().any(|s| s.contains("take_b_then_a")),
        "{edge_stacks:#?}"
    );
    // The validator's own frames are not shown; the frames have source locations.
    for s in &edge_stacks {
        let top = s.lines().next().unwrap_or_default();
        assert!(!top.starts_with("lockdep::"), "{s}");
        assert!(top.contains("stacks.rs:"), "{s}");
    }
    // The reporting op's own stack, from the caller of the lock down.
    assert!(
        r.stack.first().is_some_and(|f| f.contains("take_b_then_a")),
        "{:#?}",
        r.stack
    );
}
