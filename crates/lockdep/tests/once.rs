//! `lockdep::sync::{Once, OnceLock, LazyLock}`: std's behaviour, plus initializer waits
//! validated as events.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::time::Duration;

use lockdep::sync::{Arc, LazyLock, Once, OnceLock};
use lockdep::{Kind, LockClass, Report};

mod support;
use support::all_reports;

fn cycles_through(class: &str) -> Vec<Report> {
    all_reports()
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.kind == Kind::Circular && r.classes.iter().any(|c| c == class))
        .cloned()
        .collect()
}

/// Thread B initializes the cell and takes `L` in its initializer; thread A holds `L` while it
/// waits for B's initializer. This run completes (B took `L` before A did), yet had B needed
/// `L` after A took it, neither would have moved: reported.
fn lock_then_wait_for_initializer(class: &'static LockClass, a_releases_first: bool) {
    let l = Arc::new(lockdep::Mutex::with_class((), class));
    let cell: Arc<OnceLock<u32>> = Arc::new(OnceLock::new());
    let (took_tx, took_rx) = channel();
    let (l2, cell2) = (l.clone(), cell.clone());
    let b = std::thread::spawn(move || {
        *cell2.get_or_init(|| {
            drop(l2.lock());
            took_tx.send(()).unwrap();
            // Long enough for A to find the initializer running and park on it.
            std::thread::sleep(Duration::from_millis(200));
            7
        })
    });
    took_rx.recv().unwrap();
    let g = l.lock();
    if a_releases_first {
        drop(g);
        assert_eq!(*cell.get_or_init(|| 8), 7);
    } else {
        assert_eq!(*cell.get_or_init(|| 8), 7);
        drop(g);
    }
    assert_eq!(b.join().unwrap(), 7);
}

#[test]
fn holding_a_lock_the_initializer_takes_while_waiting_for_it_is_a_cycle() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    all_reports();
    lock_then_wait_for_initializer(lockdep::class!("once.bug"), false);
    let cycles = cycles_through("once.bug");
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert_eq!(cycles[0].classes.len(), 2, "{:?}", cycles[0].classes);
    assert!(
        cycles[0].classes.iter().any(|c| c.contains("once.rs")),
        "the cell's class is its creation site: {:?}",
        cycles[0].classes
    );
}

#[test]
fn waiting_for_the_initializer_after_releasing_the_lock_is_silent() {
    if !lockdep::ENABLED {
        return;
    }
    all_reports();
    lock_then_wait_for_initializer(lockdep::class!("once.fixed"), true);
    let all = all_reports().lock().unwrap();
    assert!(
        !all.iter()
            .any(|r| r.classes.iter().any(|c| c == "once.fixed")),
        "{all:?}"
    );
}

#[test]
fn an_initializer_that_re_enters_its_cell_panics_and_is_reported() {
    if !lockdep::ENABLED {
        return;
    }
    let cell: OnceLock<u32> = OnceLock::new();
    let (res, reports) = lockdep::capture(|| {
        catch_unwind(AssertUnwindSafe(|| {
            *cell.get_or_init(|| *cell.get_or_init(|| 1) + 1)
        }))
    });
    let msg = res.unwrap_err();
    let msg = msg.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(msg.contains("re-entered"), "{msg}");
    assert!(
        reports.iter().any(|r| r.kind == Kind::SelfWait),
        "{reports:?}"
    );
    // The failed initialization left the cell empty and usable.
    assert_eq!(cell.get(), None);
    assert_eq!(*cell.get_or_init(|| 5), 5);
}

#[test]
fn one_initializer_runs_and_everyone_sees_its_value() {
    static CELL: OnceLock<usize> = OnceLock::new();
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                *CELL.get_or_init(|| {
                    RUNS.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    i
                })
            })
        })
        .collect();
    let seen: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    assert!(seen.iter().all(|&v| v == seen[0]), "{seen:?}");
    assert_eq!(CELL.wait(), &seen[0]);
    let cell = OnceLock::new();
    assert_eq!(cell.set(1), Ok(()));
    assert_eq!(cell.set(2), Err(2));
    assert_eq!(cell.into_inner(), Some(1));
}

#[test]
fn once_poisons_like_std_and_lazy_lock_computes_once() {
    let once = Once::new();
    let r = catch_unwind(AssertUnwindSafe(|| once.call_once(|| panic!("boom"))));
    assert!(r.is_err());
    assert!(!once.is_completed());
    // Poisoned: call_once panics, call_once_force runs and sees the poison.
    assert!(catch_unwind(AssertUnwindSafe(|| once.call_once(|| ()))).is_err());
    let mut saw_poison = false;
    once.call_once_force(|s| saw_poison = s.is_poisoned());
    assert!(saw_poison && once.is_completed());
    once.wait();

    static CALLS: AtomicUsize = AtomicUsize::new(0);
    static LAZY: LazyLock<Vec<u32>> = LazyLock::new(|| {
        CALLS.fetch_add(1, Ordering::SeqCst);
        vec![1, 2, 3]
    });
    assert_eq!(LAZY.len(), 3);
    assert_eq!(*LazyLock::force(&LAZY), vec![1, 2, 3]);
    assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    let poisoned: LazyLock<u32> = LazyLock::new(|| panic!("init failed"));
    assert!(catch_unwind(AssertUnwindSafe(|| *poisoned)).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| *poisoned)).is_err());
}
