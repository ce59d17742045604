//! Round trip: record a run, replay the trace with `lockdep check`'s reader, same signatures.
//! (Its own test binary: recording is process-wide.)

use std::sync::Arc;

use lockdep::{Mutex, sync};

mod support;
use support::{replayed_signatures, signatures};

#[test]
fn recorded_run_replays_to_the_same_signatures() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    let path = std::env::temp_dir().join(format!("lockdep-record-{}.jsonl", std::process::id()));
    lockdep::record_to(&path).expect("record");

    let a = Arc::new(Mutex::with_class(0, lockdep::class!("rec.accounts")));
    let b = Arc::new(Mutex::with_class(0, lockdep::class!("rec.audit")));
    let outer = Arc::new(sync::Mutex::new(()));
    let pair = Arc::new((sync::Mutex::new(false), sync::Condvar::new()));
    let (a2, b2) = (a.clone(), b.clone());
    std::thread::spawn(move || {
        let _ga = a2.lock();
        let _gb = b2.lock();
    })
    .join()
    .unwrap();
    let ((), live) = lockdep::capture(|| {
        {
            let _gb = b.lock();
            let _ga = a.lock();
        }
        // And an event cycle: waiting on a condvar (timed) while holding `outer`, after a
        // notifier that took `outer` first.
        {
            let (o, p) = (outer.clone(), pair.clone());
            let _go = o.lock().unwrap();
            let (lock, cv) = &*p;
            *lock.lock().unwrap() = true;
            cv.notify_all();
        }
        let _go = outer.lock().unwrap();
        let (lock, cv) = &*pair;
        let g = lock.lock().unwrap();
        let _ = cv
            .wait_timeout(g, std::time::Duration::from_millis(1))
            .unwrap();
    });
    assert!(live.len() >= 2, "live reports: {live:?}");

    let text = std::fs::read_to_string(&path).expect("trace written");
    let replayed = replayed_signatures("recorded.jsonl", &text);
    let live_sigs = signatures(&live);
    // Every live report is reproduced by the replay (the replay may also see what other
    // threads raised outside the capture).
    for s in &live_sigs {
        assert!(
            replayed.contains(s),
            "live {s} not replayed; replayed {replayed:?}\n{text}"
        );
    }
    let _ = std::fs::remove_file(&path);
}
