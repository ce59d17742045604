//! Completion and WaitGroup through the validator.

use std::sync::Arc;
use std::sync::mpsc::channel;
use std::time::Duration;

use lockdep::{Completion, Kind, Mutex, Severity, WaitGroup, capture};

mod support;
use support::all_reports;

#[test]
fn completer_that_took_the_lock_first_is_a_cycle_with_the_waiter_holding_it() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    all_reports();
    let l = Arc::new(Mutex::with_class((), lockdep::class!("ev.cfg")));
    let c = Arc::new(Completion::new());
    let (released_tx, released_rx) = channel();
    let (go_tx, go_rx) = channel::<()>();
    let (l2, c2) = (l.clone(), c.clone());
    // A plain std thread: nothing orders its use of the lock before ours.
    let completer = std::thread::spawn(move || {
        drop(l2.lock());
        released_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        c2.complete();
    });
    let ((), reports) = capture(|| {
        released_rx.recv().unwrap();
        let _g = l.lock();
        // Parks (nobody completed yet) and times out: this run cannot hang. Had the completer
        // needed the lock again before completing, an untimed wait here would never return.
        assert!(!c.wait_timeout(Duration::from_millis(20)));
    });
    go_tx.send(()).unwrap();
    completer.join().unwrap();
    // Nothing was raised by the waiter itself...
    assert!(reports.is_empty(), "{reports:?}");
    // ...the cycle closes when the completer signals (rule (a)), in its thread: a warning,
    // because the wait was timed.
    let seen = all_reports().lock().unwrap();
    let cycle = seen
        .iter()
        .find(|r| r.kind == Kind::Circular && r.classes.iter().any(|c| c == "ev.cfg"))
        .unwrap_or_else(|| panic!("no cycle through ev.cfg in {seen:?}"));
    assert_eq!(cycle.severity, Severity::Warning);
    assert_eq!(cycle.classes.len(), 2, "{:?}", cycle.classes);
    assert!(
        cycle.classes.iter().any(|c| c.contains("events.rs")),
        "the completion's class is its creation site: {:?}",
        cycle.classes
    );
}

#[test]
fn a_wait_that_finds_the_completion_done_is_not_a_wait() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    let l = Arc::new(Mutex::with_class((), lockdep::class!("ev.trap.cfg")));
    let c = Arc::new(Completion::new());
    let (l2, c2) = (l.clone(), c.clone());
    std::thread::spawn(move || {
        drop(l2.lock());
        c2.complete();
    })
    .join()
    .unwrap();
    let ((), reports) = capture(|| {
        let _g = l.lock();
        c.wait(); // already completed: did not park
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn waitgroup_fan_out_is_silent() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    let wg = Arc::new(WaitGroup::new());
    let total = Arc::new(Mutex::with_class(0u32, lockdep::class!("ev.wg.total")));
    let ((), reports) = capture(|| {
        let mut handles = Vec::new();
        for i in 0..4 {
            wg.add();
            let (wg, total) = (wg.clone(), total.clone());
            handles.push(lockdep::thread::spawn(move || {
                *total.lock() += i;
                wg.done();
            }));
        }
        wg.wait();
        for h in handles {
            h.join().unwrap();
        }
    });
    assert_eq!(*total.lock(), 6);
    assert!(
        reports.iter().all(|r| r.kind != Kind::Circular),
        "{reports:?}"
    );
}

#[test]
fn bounded_channel_producer_consumer_is_silent() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    all_reports();
    let stats = Arc::new(Mutex::with_class(0u64, lockdep::class!("ev.chan.stats")));
    let (tx, rx) = lockdep::sync::mpsc::sync_channel::<u64>(2);
    let s2 = stats.clone();
    let consumer = lockdep::thread::spawn(move || {
        for v in rx {
            *s2.lock() += v;
        }
    });
    for i in 0..100 {
        *stats.lock() += 0; // the producer uses the same lock, never across a send
        tx.send(i).unwrap();
    }
    drop(tx);
    consumer.join().unwrap();
    assert_eq!(*stats.lock(), 4950);
    let seen = all_reports().lock().unwrap();
    assert!(
        !seen
            .iter()
            .any(|r| r.classes.iter().any(|c| c == "ev.chan.stats")),
        "{seen:?}"
    );
}

#[test]
fn receiving_while_holding_a_lock_the_sender_took_first_is_a_cycle() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    all_reports();
    let l = Arc::new(Mutex::with_class((), lockdep::class!("ev.chan.cfg")));
    let (tx, rx) = lockdep::sync::mpsc::channel::<u32>();
    let (released_tx, released_rx) = channel();
    let (go_tx, go_rx) = channel::<()>();
    let l2 = l.clone();
    let sender = std::thread::spawn(move || {
        drop(l2.lock());
        released_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        tx.send(7).unwrap();
    });
    released_rx.recv().unwrap();
    {
        let _g = l.lock();
        // Nothing sent yet: this parks, and times out (the run cannot hang).
        assert!(rx.recv_timeout(Duration::from_millis(20)).is_err());
    }
    go_tx.send(()).unwrap();
    sender.join().unwrap();
    assert_eq!(rx.recv().unwrap(), 7);
    let seen = all_reports().lock().unwrap();
    let cycle = seen
        .iter()
        .find(|r| r.kind == Kind::Circular && r.classes.iter().any(|c| c == "ev.chan.cfg"))
        .unwrap_or_else(|| panic!("no cycle through ev.chan.cfg in {seen:?}"));
    assert_eq!(cycle.severity, Severity::Warning, "a timed wait: warning");
}
