//! The known-chain fast path: it takes no global lock, and deferring what it skips changes no
//! report. (Its own test binary: the slow-op counter is process-wide, so nothing else may run
//! beside the counting test; it runs the other checks itself, in order.)

mod support;

use std::sync::{Arc, Barrier};

use lockdep::{Kind, Mutex, RwLock};
use support::errors;

/// Locks a 3-deep chain `a -> b -> c` and a read lock under it, then releases in order.
fn nested(a: &Mutex<u32>, b: &Mutex<u32>, c: &Mutex<u32>, r: &RwLock<u32>) {
    let ga = a.lock();
    let gb = b.lock();
    let gc = c.lock();
    let gr = r.read();
    drop((gr, gc, gb, ga));
}

fn known_chains_take_no_global_lock() {
    let a = Arc::new(Mutex::with_class(0, lockdep::class!("fast.a")));
    let b = Arc::new(Mutex::with_class(0, lockdep::class!("fast.b")));
    let c = Arc::new(Mutex::with_class(0, lockdep::class!("fast.c")));
    let r = Arc::new(RwLock::with_class(0, lockdep::class!("fast.r")));
    // One thread: the first pass validates (slow ops), the next ones must not take the lock.
    nested(&a, &b, &c, &r);
    nested(&a, &b, &c, &r);
    let before = lockdep::slow_ops();
    for _ in 0..10_000 {
        nested(&a, &b, &c, &r);
        drop(a.lock());
    }
    assert_eq!(lockdep::slow_ops() - before, 0, "slow ops on known chains");

    // Two threads at once, both on warm chains: still none.
    // (Barriers: the workers' exits, which are slow ops, come after the count.)
    let [start, done, exit] = [(); 3].map(|()| Arc::new(Barrier::new(3)));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (a, b, c, r) = (a.clone(), b.clone(), c.clone(), r.clone());
            let (start, done, exit) = (start.clone(), done.clone(), exit.clone());
            std::thread::spawn(move || {
                nested(&a, &b, &c, &r);
                nested(&a, &b, &c, &r);
                start.wait();
                for _ in 0..10_000 {
                    nested(&a, &b, &c, &r);
                }
                done.wait();
                exit.wait();
            })
        })
        .collect();
    start.wait();
    let before = lockdep::slow_ops();
    done.wait();
    let slow = lockdep::slow_ops() - before;
    exit.wait();
    assert_eq!(slow, 0, "slow ops on known chains");
    for w in workers {
        w.join().unwrap();
    }
}

/// A lock taken on the fast path is still held when a new chain is validated above it: the
/// engine gets it first, so the dependency it closes is recorded.
fn pending_holds_reach_the_engine() {
    let a = Mutex::with_class(0, lockdep::class!("pend.a"));
    let b = Mutex::with_class(0, lockdep::class!("pend.b"));
    let c = Mutex::with_class(0, lockdep::class!("pend.c"));
    let ((), reports) = lockdep::capture(|| {
        // a alone, twice: the second is a known chain (fast, pending).
        drop(a.lock());
        {
            let _ga = a.lock();
            let _gb = b.lock(); // new chain: slow, with a handed over first
        }
        {
            let _gb = b.lock();
            let _ga = a.lock(); // inversion of the edge recorded under the pending a
        }
        // A known chain under a fast hold, then a new one above both.
        {
            let _ga = a.lock();
            let _gc = c.lock();
        }
        {
            let _gc = c.lock();
            let _ga = a.lock();
        }
    });
    assert_eq!(
        errors(&reports),
        vec![
            (Kind::Circular, vec!["pend.a".into(), "pend.b".into()]),
            (Kind::Circular, vec!["pend.a".into(), "pend.c".into()]),
        ]
    );
}

/// Taking a lock again while its fast-path hold is pending is still recursive locking.
fn recursion_on_a_pending_hold() {
    let class = lockdep::class!("rec.a");
    let (a, a2) = (Mutex::with_class(0, class), Mutex::with_class(0, class));
    let ((), reports) = lockdep::capture(|| {
        drop(a.lock());
        let _g = a.lock(); // fast
        assert!(a.try_lock().is_none()); // a failed trylock records nothing
        drop(a2.lock_nested(1)); // the same class as subclass 1: allowed, and no report
    });
    assert!(errors(&reports).is_empty(), "{:?}", errors(&reports));
    let b = Mutex::with_class(0, lockdep::class!("rec.b"));
    let ((), reports) = lockdep::capture(|| {
        drop(b.lock());
        let _g = b.lock(); // fast, pending
        // A second blocking acquire would hang: check the validator sees it first, through
        // the raw annotation API (which validates without locking).
        let raw = lockdep::raw::RawLock::with_class(lockdep::class!("rec.b"));
        raw.might_acquire(lockdep::raw::LockMode::Exclusive);
    });
    assert_eq!(
        errors(&reports),
        vec![(Kind::Recursive, vec!["rec.b".into()])]
    );
}

/// Out-of-order releases of fast-path holds, and holds that outlive a wait.
fn out_of_order_release_and_waits() {
    let a = Mutex::with_class(0, lockdep::class!("ooo.a"));
    let b = Mutex::with_class(0, lockdep::class!("ooo.b"));
    let ((), reports) = lockdep::capture(|| {
        for _ in 0..3 {
            let ga = a.lock();
            let gb = b.lock();
            drop(ga); // not the innermost: the engine must see both first
            drop(gb);
        }
        let done = lockdep::Completion::new();
        for _ in 0..3 {
            let _ga = a.lock();
            done.complete();
            done.wait(); // signalled already: returns at once
        }
    });
    assert!(errors(&reports).is_empty(), "{:?}", errors(&reports));
}

#[test]
fn fast_path() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    known_chains_take_no_global_lock();
    pending_holds_reach_the_engine();
    recursion_on_a_pending_hold();
    out_of_order_release_and_waits();
}
