//! The runtime's locks, end to end: real threads, reports asserted by value.

use lockdep::{Kind, Mutex, Policy, RwLock, capture, with_policy};

mod support;
use support::errors;

#[test]
fn abba_across_threads_is_reported_without_hanging() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    let a = std::sync::Arc::new(Mutex::with_class(0, lockdep::class!("it.abba.A")));
    let b = std::sync::Arc::new(Mutex::with_class(0, lockdep::class!("it.abba.B")));
    let (a2, b2) = (a.clone(), b.clone());
    // One thread takes A then B, and finishes; the run never deadlocks.
    std::thread::spawn(move || {
        let _ga = a2.lock();
        let _gb = b2.lock();
    })
    .join()
    .unwrap();
    // This thread takes B then A: had the two overlapped, each would wait for the other.
    let ((), reports) = capture(|| {
        let _gb = b.lock();
        let _ga = a.lock();
    });
    assert_eq!(
        errors(&reports),
        vec![(
            Kind::Circular,
            vec!["it.abba.A".to_owned(), "it.abba.B".to_owned()]
        )]
    );
    let r = &reports[0];
    assert_eq!(r.edges.len(), 2);
    assert!(
        r.site.as_deref().is_some_and(|s| s.contains("locks.rs")),
        "site: {:?}",
        r.site
    );
    assert_eq!(r.held.len(), 2, "both locks held by the reporting thread");
}

#[test]
fn same_order_everywhere_is_silent() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    let a = Mutex::new(());
    let b = Mutex::new(());
    let ((), reports) = capture(|| {
        for _ in 0..3 {
            let _ga = a.lock();
            let _gb = b.lock();
        }
    });
    assert!(reports.is_empty(), "{reports:?}");
}

/// A lock of a named class can be a `static` (`with_class` is a `const fn`).
static STATIC_NAMED: Mutex<u32> = Mutex::with_class(0, lockdep::class!("it.static.named"));

#[test]
fn classes_made_at_run_time_are_distinct_and_named() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    // One creation site, but each lock gets its own class made at run time: nesting two is
    // an ordinary dependency (not recursion), and the inverse order is a cycle.
    let make = |i: u32| Mutex::with_class(i, lockdep::LockClass::leak(format!("it.dyn.{i}")));
    let (x, y) = (make(0), make(1));
    let ((), reports) = capture(|| {
        let _gx = x.lock();
        let _gy = y.lock();
    });
    assert!(reports.is_empty(), "{reports:?}");
    let ((), reports) = capture(|| {
        let _gy = y.lock();
        let _gx = x.lock();
        // A static of a named class is an ordinary lock too.
        *STATIC_NAMED.lock() += 1;
    });
    assert_eq!(
        errors(&reports),
        vec![(
            Kind::Circular,
            vec!["it.dyn.0".to_owned(), "it.dyn.1".to_owned()]
        )]
    );
}

fn two_of_one_class() -> (Mutex<u32>, Mutex<u32>) {
    // One creation site: one class, whatever the instance.
    let make = || Mutex::new(0);
    (make(), make())
}

#[test]
fn two_instances_of_one_class_nested_is_recursive() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    let (x, y) = two_of_one_class();
    let ((), reports) = capture(|| {
        let _gx = x.lock();
        let _gy = y.lock();
    });
    assert_eq!(errors(&reports).len(), 1);
    assert_eq!(reports[0].kind, Kind::Recursive);
    assert!(
        reports[0].classes[0].contains("locks.rs"),
        "class is the creation site: {:?}",
        reports[0].classes
    );
}

#[test]
fn lock_nested_annotation_is_silent() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    let (x, y) = two_of_one_class();
    let ((), reports) = capture(|| {
        let _gx = x.lock();
        let _gy = y.lock_nested(1);
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn nest_lock_covers_many_instances() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    let outer = Mutex::with_class((), lockdep::class!("it.nest.outer"));
    let items: Vec<Mutex<u32>> = (0..4)
        .map(|_| Mutex::with_class(0, lockdep::class!("it.nest.item")))
        .collect();
    let ((), reports) = capture(|| {
        let g = outer.lock();
        let guards: Vec<_> = items.iter().map(|m| m.lock_nest(&g)).collect();
        drop(guards);
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn trylock_adds_no_dependency() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    let a = Mutex::with_class((), lockdep::class!("it.try.A"));
    let b = Mutex::with_class((), lockdep::class!("it.try.B"));
    let ((), reports) = capture(|| {
        {
            let _ga = a.lock();
            let _gb = b.try_lock().expect("free");
        }
        let _gb = b.lock();
        let _ga = a.lock();
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn rwlock_recursive_readers_are_fine_but_a_reader_inverting_with_a_writer_is_not() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    let x = RwLock::with_class((), lockdep::class!("it.rw.X"));
    let y = RwLock::with_class((), lockdep::class!("it.rw.Y"));
    let ((), reports) = capture(|| {
        {
            let _rx = x.read_recursive();
            let _ry = y.read_recursive();
        }
        {
            let _ry = y.read_recursive();
            let _rx = x.read_recursive();
        }
    });
    assert!(
        reports.is_empty(),
        "recursive readers never block each other: {reports:?}"
    );
    let ((), reports) = capture(|| {
        let _wy = y.write();
        let _wx = x.write();
    });
    assert_eq!(
        errors(&reports),
        vec![(
            Kind::Circular,
            vec!["it.rw.X".to_owned(), "it.rw.Y".to_owned()]
        )]
    );
}

#[test]
#[should_panic(expected = "possible recursive locking")]
fn panic_policy_panics_before_blocking_on_read_then_write() {
    if !lockdep::ENABLED {
        // Compiled away, the write below would really block forever: nothing to check.
        panic!("possible recursive locking: not checked, validation is compiled away");
    }
    let l = RwLock::new(0);
    with_policy(Policy::Panic, || {
        let _r = l.read();
        // A write while this thread reads would wait for itself forever: the validator
        // panics before the real lock blocks.
        let _w = l.write();
    });
}

#[test]
fn mutex_size_is_within_16_bytes_of_parking_lot() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    assert!(
        std::mem::size_of::<lockdep::Mutex<()>>()
            <= std::mem::size_of::<parking_lot::Mutex<()>>() + 16,
        "{} vs {}",
        std::mem::size_of::<lockdep::Mutex<()>>(),
        std::mem::size_of::<parking_lot::Mutex<()>>()
    );
    assert!(
        std::mem::size_of::<lockdep::RwLock<()>>()
            <= std::mem::size_of::<parking_lot::RwLock<()>>() + 16
    );
}

#[test]
fn join_while_holding_a_lock_the_thread_takes_is_reported() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    let state = std::sync::Arc::new(Mutex::with_class(0, lockdep::class!("it.join.state")));
    let s2 = state.clone();
    let ((), reports) = capture(|| {
        let worker = lockdep::thread::spawn(move || {
            *s2.lock() += 1;
        });
        // Wait until the worker is done with the lock, so this run cannot hang...
        while std::sync::Arc::strong_count(&state) > 1 {
            std::thread::yield_now();
        }
        // ...but had the worker been slower, it would wait for this lock while we wait for it.
        let _g = state.lock();
        worker.join().unwrap();
    });
    let e = errors(&reports);
    assert_eq!(e.len(), 1, "{reports:?}");
    assert_eq!(e[0].0, Kind::Circular);
    assert!(e[0].1.contains(&"it.join.state".to_owned()), "{e:?}");
    assert!(
        e[0].1.iter().any(|c| c.contains("locks.rs")),
        "the thread's class is its spawn site: {e:?}"
    );
}

#[test]
fn join_without_a_lock_is_silent() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    let state = std::sync::Arc::new(Mutex::with_class(0, lockdep::class!("it.join.ok")));
    let s2 = state.clone();
    let ((), reports) = capture(|| {
        let worker = lockdep::thread::Builder::new()
            .name("worker".into())
            .spawn(move || *s2.lock() += 1)
            .unwrap();
        worker.join().unwrap();
        *state.lock() += 1;
    });
    assert!(reports.is_empty(), "{reports:?}");
}
