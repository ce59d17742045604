//! Classes that come and go (issue #6): a dropped `ClassKey` is forgotten, and memory
//! follows the live classes. The suite runs 20,000 rounds; the recorded figure is 1M:
//!
//! ```sh
//! LOCKDEP_CLASS_ROUNDS=1000000 cargo test --release -p lockdep --features always --test classes -- --nocapture
//! ```
//! (`LOCKDEP_CLASS_LEAK=1` runs the same with classes leaked instead, for comparison.)
//! (Its own test binary: it installs a process-wide handler.)

use std::sync::{Arc, Mutex as StdMutex};

use lockdep::{ClassKey, Mutex, Report, class};

mod support;
use support::rss_kib;

fn forgotten_classes_leave_no_dependency(seen: &StdMutex<Vec<Report>>) {
    let b = Mutex::with_class((), class!("cls.b"));
    let key = ClassKey::new("cls.conn");
    let name = key.class().name();
    {
        let a = Mutex::with_class((), key.class());
        let _a = a.lock();
        let _b = b.lock(); // conn -> b
    }
    drop(key);
    // The next key of that name reuses the slot, and starts afresh: b -> conn is no cycle.
    let key = ClassKey::new("cls.conn");
    assert_eq!(key.class().name(), name, "the slot is reused");
    {
        let a = Mutex::with_class((), key.class());
        let _b = b.lock();
        let _a = a.lock();
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
    // A key that is still alive keeps its class: a second key is another class, and the
    // inversion against the live one is reported.
    let other = ClassKey::new("cls.conn");
    assert_ne!(other.class().name(), name);
    {
        let a = Mutex::with_class((), key.class());
        let _a = a.lock();
        let _b = b.lock(); // conn -> b, after b -> conn above
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].classes.iter().any(|c| c == name), "{:?}", seen[0]);
}

fn memory_follows_the_live_classes() {
    let rounds: usize = std::env::var("LOCKDEP_CLASS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let (outer, inner) = (
        Mutex::with_class((), class!("cls.outer")),
        Mutex::with_class((), class!("cls.inner")),
    );
    // For comparison (`LOCKDEP_CLASS_LEAK=1`): the same classes leaked, never forgotten.
    let leak = std::env::var_os("LOCKDEP_CLASS_LEAK").is_some();
    let round = |keys: &mut Vec<ClassKey>, i: usize| {
        // Up to 8 classes alive at once, each used between two long-lived ones.
        if keys.len() == 8 {
            keys.remove(i % 8);
        }
        let key = ClassKey::new("cls.table");
        let class = if leak {
            lockdep::LockClass::leak(format!("cls.leaked.{i}"))
        } else {
            key.class()
        };
        {
            let m = Mutex::with_class(0u32, class);
            let _o = outer.lock();
            let mut g = m.lock();
            *g += 1;
            let _i = inner.lock();
        }
        keys.push(key);
    };
    let mut keys = Vec::new();
    let warm = rounds / 10;
    for i in 0..warm {
        round(&mut keys, i);
    }
    let rss0 = rss_kib();
    for i in warm..rounds {
        round(&mut keys, i);
    }
    let rss1 = rss_kib();
    eprintln!(
        "classes: {rounds} classes made and dropped (at most 8 alive); RSS {rss0} KiB after {warm}, {rss1} KiB after {rounds}"
    );
    // Each class leaked for good would cost its graph node, edges, chains and name; with
    // forgetting, what grows is bounded by the 8 live ones (allow the allocator some slack).
    if leak {
        eprintln!(
            "classes: leaked, {:.0} bytes per class",
            (rss1.saturating_sub(rss0) * 1024) as f64 / (rounds - warm) as f64
        );
        return;
    }
    assert!(
        rss1 <= rss0 + 1024,
        "RSS grew from {rss0} to {rss1} KiB over {} rounds",
        rounds - warm
    );
}

#[test]
fn classes_come_and_go() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    let seen: Arc<StdMutex<Vec<Report>>> = Arc::default();
    let s2 = seen.clone();
    lockdep::set_handler(move |r| s2.lock().unwrap().push(r.clone()));
    forgotten_classes_leave_no_dependency(&seen);
    memory_follows_the_live_classes();
}
