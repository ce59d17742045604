//! The event fast path: non-parking completions, counters, condvar notifies and channel
//! hand-offs take no global lock once validated, and what they skip changes no report. (Its
//! own test binary: the slow-op counter is process-wide, so the checks run in order from one
//! test.)

mod support;

use std::sync::Arc;
use std::time::Duration;

use lockdep::{Completion, Kind, Mutex, Severity, WaitGroup};
use support::all_reports;

/// Runs `f` twice to validate it, then 10,000 times counting slow ops.
fn slow_ops_when_warm(mut f: impl FnMut()) -> u64 {
    f();
    f();
    let before = lockdep::slow_ops();
    for _ in 0..10_000 {
        f();
    }
    lockdep::slow_ops() - before
}

fn non_parking_event_ops_take_no_global_lock() {
    let c = Completion::new();
    let n = slow_ops_when_warm(|| {
        c.complete();
        c.wait();
    });
    assert_eq!(n, 0, "complete then wait");

    let cv = lockdep::sync::Condvar::new();
    assert_eq!(slow_ops_when_warm(|| cv.notify_one()), 0, "notify_one");
    assert_eq!(slow_ops_when_warm(|| cv.notify_all()), 0, "notify_all");

    let (tx, rx) = lockdep::sync::mpsc::channel::<u32>();
    let n = slow_ops_when_warm(|| {
        tx.send(1).unwrap();
        rx.recv().unwrap();
    });
    assert_eq!(n, 0, "send then recv");
    let (tx, rx) = lockdep::sync::mpsc::sync_channel::<u32>(4);
    let n = slow_ops_when_warm(|| {
        tx.send(1).unwrap();
        rx.recv().unwrap();
    });
    assert_eq!(n, 0, "bounded send then recv");

    let wg = WaitGroup::new();
    let n = slow_ops_when_warm(|| {
        wg.add();
        wg.done();
        wg.wait();
    });
    assert_eq!(n, 0, "counter inc, dec, wait for zero");
}

/// A signal after the thread took a lock it had not taken before in its window is not
/// skipped: its new `done -> free(L)` edge closes a cycle with a waiter that holds `L`.
fn a_signal_with_a_new_lock_in_its_window_is_not_skipped() {
    let l = Arc::new(Mutex::with_class((), lockdep::class!("fe.window.lock")));
    let c = Arc::new(Completion::new());
    for _ in 0..3 {
        c.complete();
        c.wait();
    }
    drop(l.lock());
    let before = lockdep::slow_ops();
    c.complete(); // L is new in the window: the engine must see this one
    assert!(
        lockdep::slow_ops() > before,
        "the signal took the fast path"
    );
    c.wait();
    // A plain std thread (nothing orders it after us) holds L while it waits for C, timed so
    // that the run cannot hang: the cycle is a warning.
    let (l2, c2) = (l.clone(), c.clone());
    std::thread::spawn(move || {
        let _g = l2.lock();
        assert!(!c2.wait_timeout(Duration::from_millis(10)));
    })
    .join()
    .unwrap();
    let seen = all_reports().lock().unwrap();
    assert!(
        seen.iter().any(|r| r.kind == Kind::Circular
            && r.severity == Severity::Warning
            && r.classes.iter().any(|c| c == "fe.window.lock")),
        "no cycle through fe.window.lock in {seen:?}"
    );
}

static SAME_CLASS: lockdep::LockClass = lockdep::LockClass::new("fe.hb.completion");

/// A skipped signal still orders the wait that observes it: the waiter's later lock is not
/// in a cycle with the signaller's earlier one (happens-before pruning), exactly as when the
/// engine sees every signal.
fn a_skipped_signal_orders_the_wait_that_observes_it() {
    let l = Arc::new(Mutex::with_class((), lockdep::class!("fe.hb.lock")));
    let c1 = Completion::with_class(&SAME_CLASS);
    let c2 = Arc::new(Completion::with_class(&SAME_CLASS));
    let c4 = Arc::new(Completion::with_class(&SAME_CLASS));
    // We take L, then signal the class: `done -> free(L)`, validated (slow).
    drop(l.lock());
    c1.complete();
    c1.wait();
    // Another thread makes c2 known to the engine with a signal of its own.
    let c = c2.clone();
    std::thread::spawn(move || c.complete()).join().unwrap();
    // Our signal of c2 repeats the validated one: skipped, left in c2's cell.
    let before = lockdep::slow_ops();
    c2.complete();
    assert_eq!(
        lockdep::slow_ops(),
        before,
        "the repeated signal was not skipped"
    );
    // A plain std thread (nothing else orders it after us) observes c2 (it does not park:
    // c2 is completed), so our taking L happened before its taking L; its timed wait for the
    // class while holding L closes `free(L) -> done`, and the cycle is pruned.
    let (l2, c2b, c4b) = (l.clone(), c2.clone(), c4.clone());
    std::thread::spawn(move || {
        c2b.wait();
        let _g = l2.lock();
        assert!(!c4b.wait_timeout(Duration::from_millis(10)));
    })
    .join()
    .unwrap();
    let seen = all_reports().lock().unwrap();
    assert!(
        !seen
            .iter()
            .any(|r| r.classes.iter().any(|c| c == "fe.hb.lock")),
        "the observed signal did not order the waiter: {seen:?}"
    );
}

#[test]
fn event_fast_path() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    all_reports();
    non_parking_event_ops_take_no_global_lock();
    a_signal_with_a_new_lock_in_its_window_is_not_skipped();
    a_skipped_signal_orders_the_wait_that_observes_it();
}
