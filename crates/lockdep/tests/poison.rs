//! A thread that panics while holding locks leaves the validator consistent: its guards are
//! released as it unwinds (no `held_at_exit`, no bad unlock), the mutex is poisoned as std's
//! is, and validation goes on (a later inversion is still reported).

use std::sync::Arc;

use lockdep::sync::Mutex;
use lockdep::{Kind, capture};

mod support;
use support::{all_reports, errors};

#[test]
fn panicking_while_holding_locks_leaves_the_validator_consistent() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    all_reports();
    let a = Arc::new(Mutex::new(0));
    let b = Arc::new(Mutex::new(0));
    let (a2, b2) = (a.clone(), b.clone());
    let r = lockdep::thread::spawn(move || {
        let _ga = a2.lock().unwrap();
        let _gb = b2.lock().unwrap();
        panic!("the worker fails while holding both");
    })
    .join();
    assert!(r.is_err());
    // Poisoned, as with std's mutex; the data is still reachable.
    assert!(a.is_poisoned() && b.is_poisoned());
    assert_eq!(*a.lock().unwrap_or_else(|p| p.into_inner()), 0);
    // Nothing was reported for the unwinding thread: its guards were released.
    let seen = all_reports().lock().unwrap().clone();
    assert!(errors(&seen).is_empty(), "{seen:#?}");
    // Validation goes on: the worker's a -> b against b -> a here is an inversion.
    let ((), reports) = capture(|| {
        let _gb = b.lock().unwrap_or_else(|p| p.into_inner());
        let _ga = a.lock().unwrap_or_else(|p| p.into_inner());
    });
    assert_eq!(errors(&reports).len(), 1, "{reports:#?}");
    assert_eq!(reports[0].kind, Kind::Circular);
}
