//! Soak (issue #6): two threads run validated lock operations, most on known chains, and every
//! so often a fresh pair of classes taken in opposite orders by the two threads; each pair is
//! exactly one report, so the handler must see every pair's report once: none lost, none
//! duplicated. The suite runs 2 x 200,000 operations; the recorded figure is 2 x 10M:
//!
//! ```sh
//! LOCKDEP_SOAK_OPS=10000000 cargo test --release -p lockdep --features always --test soak -- --nocapture
//! ```
//! (Its own test binary: it installs a process-wide handler.)

use std::collections::HashMap;
use std::sync::{Arc, Barrier, Mutex as StdMutex};
use std::time::Instant;

use lockdep::{Kind, LockClass, Mutex, class};

mod support;
use support::rss_kib;

#[test]
fn two_threads_lose_and_duplicate_no_report() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    let ops: u64 = std::env::var("LOCKDEP_SOAK_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let seen: Arc<StdMutex<HashMap<String, (Kind, usize)>>> = Arc::default();
    let s2 = seen.clone();
    lockdep::set_handler(move |r| {
        let mut m = s2.lock().unwrap();
        m.entry(r.signature.clone()).or_insert((r.kind, 0)).1 += 1;
    });
    // The known chains both threads run: a -> b -> c.
    let chain = Arc::new([
        Mutex::with_class((), class!("soak.a")),
        Mutex::with_class((), class!("soak.b")),
        Mutex::with_class((), class!("soak.c")),
    ]);
    // One fresh pair per round, every `period` iterations (an iteration is 6 ops).
    let period: u64 = 5_000;
    let rounds = (ops / 6 / period) as usize;
    let pairs: Arc<Vec<[Mutex<()>; 2]>> = Arc::new(
        (0..rounds)
            .map(|k| {
                [
                    Mutex::with_class((), LockClass::leak(format!("soak.{k}.x"))),
                    Mutex::with_class((), LockClass::leak(format!("soak.{k}.y"))),
                ]
            })
            .collect(),
    );
    let barrier = Arc::new(Barrier::new(2));
    let rss0 = rss_kib();
    let slow0 = lockdep::slow_ops();
    let t0 = Instant::now();
    let workers: Vec<_> = (0..2usize)
        .map(|t| {
            let (chain, pairs, barrier) = (chain.clone(), pairs.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut done = 0u64;
                let mut round = 0;
                let mut i = 0u64;
                while done < ops {
                    let a = chain[0].lock();
                    let b = chain[1].lock();
                    let c = chain[2].lock();
                    drop((c, b, a));
                    done += 6;
                    i += 1;
                    if i.is_multiple_of(period) && round < rounds {
                        // Thread 0 takes x then y; thread 1, after it (a std barrier: no
                        // order the validator sees), y then x: one circular report.
                        let [x, y] = &pairs[round];
                        if t == 0 {
                            let gx = x.lock();
                            let gy = y.lock();
                            drop((gy, gx));
                        }
                        barrier.wait();
                        if t == 1 {
                            let gy = y.lock();
                            let gx = x.lock();
                            drop((gx, gy));
                        }
                        barrier.wait();
                        done += 4;
                        round += 1;
                    }
                }
                done
            })
        })
        .collect();
    let done: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let secs = t0.elapsed().as_secs_f64();
    let seen = seen.lock().unwrap();
    let soak: Vec<_> = seen
        .iter()
        .filter(|(_, (k, _))| *k == Kind::Circular)
        .collect();
    assert_eq!(
        soak.len(),
        rounds,
        "one report per pair: {} of {rounds}",
        soak.len()
    );
    assert!(
        soak.iter().all(|(_, (_, n))| *n == 1),
        "a report delivered twice: {soak:?}"
    );
    assert_eq!(seen.len(), rounds, "nothing else reported: {seen:?}");
    eprintln!(
        "soak: {done} validated ops on 2 threads in {secs:.2} s ({:.1} M ops/s), {rounds} reports, each once; {} slow ops; RSS {rss0} -> {} KiB",
        done as f64 / secs / 1e6,
        lockdep::slow_ops() - slow0,
        rss_kib()
    );
}
