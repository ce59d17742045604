//! Work queues, deferred lists, contexts and scoped threads, end to end: real threads,
//! reports asserted by value. Reports raised on worker threads are collected by a handler
//! (`all_reports`) and picked out by class name (each test uses classes of its own).

use std::sync::Arc;
use std::time::Duration;

use lockdep::deferred::{self, Produces, Rescuer};
use lockdep::raw::{LockMode, RawSpinLock};
use lockdep::workqueue::WorkQueue;
use lockdep::{Completion, Kind, Mutex, Report, WaitGroup, capture, class, context};

mod support;
use support::{all_reports, errors};

/// The error reports seen so far (any thread) whose classes include `class`.
fn errors_with(class: &str) -> Vec<(Kind, Vec<String>)> {
    let seen: Vec<Report> = all_reports()
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.classes.iter().any(|c| c == class))
        .cloned()
        .collect();
    errors(&seen)
}

#[test]
fn flushing_work_while_holding_a_lock_it_takes_is_reported() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    all_reports();
    let l = Arc::new(Mutex::with_class((), class!("wq.flush.L")));
    let wq = WorkQueue::new("wq.flush", 1);
    let l2 = l.clone();
    let w = wq.queue(move || drop(l2.lock()));
    // Let it run first, so this run cannot deadlock; the flush is still a wait for an item
    // that takes the lock.
    while !w.is_done() {
        std::thread::sleep(Duration::from_millis(1));
    }
    {
        let _g = l.lock();
        w.flush();
    }
    drop(wq);
    let errs = errors_with("wq.flush.L");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, Kind::Circular);
}

#[test]
fn an_item_flushing_another_behind_it_on_an_ordered_queue_is_reported() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    all_reports();
    let wq = Arc::new(WorkQueue::ordered("wq.ordered"));
    let wq2 = wq.clone();
    let outer = wq.queue_named(class!("wq.ordered.w1"), move || {
        let inner = wq2.queue_named(class!("wq.ordered.w2"), || {});
        // On an ordered queue `inner` starts only after this item ends: flushing it here
        // would never return. The panic policy reports it before the flush blocks.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            lockdep::with_policy(lockdep::Policy::Panic, || inner.flush())
        }));
        assert!(r.is_err(), "reported before blocking");
    });
    outer.flush();
    wq.flush_all();
    assert_eq!(
        errors_with("wq.ordered.w1"),
        vec![(
            Kind::Circular,
            vec!["wq.ordered.w1".to_owned(), "wq.ordered.w2".to_owned()]
        )]
    );
}

#[test]
fn flush_all_waits_for_everything_queued() {
    let wq = WorkQueue::new("wq.all", 2);
    let wg = Arc::new(WaitGroup::new());
    for _ in 0..8 {
        wg.add();
        let wg = wg.clone();
        drop(wq.queue(move || {
            std::thread::sleep(Duration::from_millis(2));
            wg.done();
        }));
    }
    wq.flush_all();
    // Everything ran: the count is zero without waiting.
    let ((), reports) = capture(|| wg.wait());
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn waiting_for_what_only_my_own_deferred_item_produces_is_a_self_wait() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    all_reports();
    let c = Arc::new(Completion::with_class(class!("defer.self.C")));
    let c2 = c.clone();
    std::thread::spawn(move || {
        deferred::defer_producing(&[Produces::Signal(&c)], move || c2.complete());
        // The real wait would never return: the panic policy reports it before it blocks.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            lockdep::with_policy(lockdep::Policy::Panic, || c.wait())
        }));
        assert!(r.is_err(), "reported before blocking");
        deferred::flush_point(); // the item runs
        c.wait();
    })
    .join()
    .unwrap();
    assert_eq!(
        errors_with("defer.self.C"),
        vec![(Kind::SelfWait, vec!["defer.self.C".to_owned()])]
    );
}

#[test]
fn a_base_flush_point_with_a_lock_held_is_reported_and_items_run_there() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    let l = Mutex::with_class(0, class!("defer.base.L"));
    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let r2 = ran.clone();
    let ((), reports) = capture(|| {
        deferred::defer(move || r2.store(true, std::sync::atomic::Ordering::SeqCst));
        assert_eq!(deferred::pending(), 1);
        let _g = l.lock();
        deferred::flush_point();
    });
    assert!(ran.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(deferred::pending(), 0);
    assert_eq!(errors(&reports).len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind, Kind::HeldAtExit);
}

#[test]
fn handing_deferred_items_to_a_rescuer_before_blocking_is_silent() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    all_reports();
    let s = Arc::new(Mutex::with_class((), class!("defer.rescue.S")));
    let c = Arc::new(Completion::with_class(class!("defer.rescue.C")));
    // A holder of S waits for C (C completed by another thread meanwhile).
    {
        let (s2, c2) = (s.clone(), c.clone());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            c2.complete();
        });
        let _g = s2.lock();
        c.wait();
        t.join().unwrap();
    }
    let rescuer = Rescuer::new("rescuer");
    let c3 = Arc::new(Completion::with_class(class!("defer.rescue.C")));
    let c4 = c3.clone();
    deferred::defer_producing(&[Produces::Signal(&c3)], move || c4.complete());
    rescuer.transfer();
    assert_eq!(deferred::pending(), 0);
    drop(s.lock());
    c3.wait(); // the rescuer ran it
    drop(rescuer);
    assert!(errors_with("defer.rescue.S").is_empty());
}

#[test]
fn sleeping_in_atomic_or_irq_context_is_reported() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    let l = Mutex::with_class(0, class!("ctx.sleep.L"));
    let ((), reports) = capture(|| context::atomic(context::might_sleep));
    assert_eq!(errors(&reports).len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind, Kind::InvalidContext);
    let ((), reports) = capture(|| context::softirq(|| drop(l.lock())));
    assert_eq!(errors(&reports).len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind, Kind::InvalidContext);
    // Outside those contexts: fine (another lock: `l` was taken in a softirq above, and
    // taking it with softirqs enabled would be inconsistent).
    let k = Mutex::with_class(0, class!("ctx.sleep.K"));
    let ((), reports) = capture(|| {
        context::might_sleep();
        context::boundary(|| drop(k.lock()));
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn a_lock_taken_in_irq_context_and_with_irqs_enabled_is_inconsistent() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    // A spin lock (the raw annotation API) taken in an interrupt handler and elsewhere.
    let l = RawSpinLock::with_class(class!("ctx.irq.L"));
    let ((), reports) = capture(|| {
        context::hardirq(|| {
            l.acquire(LockMode::Exclusive);
            l.release();
        });
        l.acquire(LockMode::Exclusive); // irqs enabled here
        l.release();
    });
    assert_eq!(errors(&reports).len(), 1, "{reports:?}");
    assert_eq!(reports[0].kind, Kind::InconsistentState);
    // With irqs disabled around it: consistent.
    let m = RawSpinLock::with_class(class!("ctx.irq.M"));
    let ((), reports) = capture(|| {
        context::hardirq(|| {
            m.acquire(LockMode::Exclusive);
            m.release();
        });
        context::irq_disable();
        m.acquire(LockMode::Exclusive);
        m.release();
        context::irq_enable();
        // And blocking while holding it: a spin lock makes the thread atomic.
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn scoped_threads_joined_at_scope_end_are_validated_joins() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    all_reports();
    let l = Mutex::with_class(0, class!("scope.L"));
    // Explicit joins, no lock held: silent.
    lockdep::thread::scope(|s| {
        let h = s.spawn(|| *l.lock() += 1);
        h.join().unwrap();
    });
    assert!(errors_with("scope.L").is_empty());
    // The scope's implicit join happens while the closure's caller holds... nothing; but a
    // thread joined explicitly under the lock it takes is reported.
    let m = Mutex::with_class(0, class!("scope.M"));
    lockdep::thread::scope(|s| {
        let h = s.spawn(|| *m.lock() += 1);
        while !h.is_finished() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let _g = m.lock();
        h.join().unwrap();
    });
    assert_eq!(errors_with("scope.M").len(), 1);
    // Not joined explicitly: the scope's own join is validated too. Here the scope ends
    // while this thread holds one lock of a class the scoped thread takes (another instance,
    // so this run cannot deadlock; another run, with one shared lock, would).
    let make = || Mutex::with_class(0, class!("scope.N"));
    let (n1, n2) = (make(), make());
    {
        let _g = n1.lock();
        lockdep::thread::scope(|s| {
            let h = s.spawn(|| *n2.lock() += 1);
            while !h.is_finished() {
                std::thread::sleep(Duration::from_millis(1));
            }
        });
    }
    assert_eq!(
        errors_with("scope.N").len(),
        1,
        "the implicit join is validated"
    );
}
