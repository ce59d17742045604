//! A thread that ends holding a lock is `held_at_exit`. (Its own test binary: it installs a
//! process-wide handler.)

use std::sync::{Arc, Mutex as StdMutex};

use lockdep::{Kind, Mutex};

/// (kind, classes, reporting thread) of every report seen by the handler.
type Seen = Arc<StdMutex<Vec<(Kind, Vec<String>, String)>>>;

#[test]
fn thread_ending_with_a_lock_held_is_reported() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    let seen: Seen = Arc::default();
    let s2 = seen.clone();
    lockdep::set_handler(move |r| {
        s2.lock()
            .unwrap()
            .push((r.kind, r.classes.clone(), r.thread.clone()));
    });
    let m: &'static Mutex<u32> = Box::leak(Box::new(Mutex::with_class(
        0,
        lockdep::class!("exit.leaked"),
    )));
    std::thread::Builder::new()
        .name("leaker".into())
        .spawn(move || {
            // The guard is forgotten: the lock stays held when the thread ends.
            std::mem::forget(m.lock());
        })
        .unwrap()
        .join()
        .unwrap();
    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().any(|(k, c, t)| *k == Kind::HeldAtExit
            && c == &vec!["exit.leaked".to_owned()]
            && t == "leaker"),
        "{seen:?}"
    );
}
