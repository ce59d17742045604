//! The first acquisition of a new dependency: lockdep (with and without its backtraces)
//! against tracing-mutex (whose backtraces follow `RUST_BACKTRACE`).
//!
//! Each iteration takes `a` then `b`, two locks of classes never nested before, so the
//! acquisition of `b` records a new dependency `a -> b` (lockdep: a new edge between two
//! classes made at run time; tracing-mutex: between two fresh mutexes). Both locks were
//! taken once alone beforehand, untimed, so their first-use costs are not counted.
//! Environment variables are read once per process: `scripts/newdep-bench.sh` runs this
//! under each setting. BENCHMARKS.md has the figures.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

type Tm<T> = tracing_mutex::stdsync::tracing::Mutex<T>;

fn newdep(c: &mut Criterion) {
    if !lockdep::ENABLED {
        panic!("validation is compiled away: build with --features always");
    }
    let mut g = c.benchmark_group("newdep");
    let mut made = 0u64;
    g.bench_function("lockdep", |b| {
        b.iter_custom(|iters| {
            let pairs: Vec<_> = (0..iters)
                .map(|_| {
                    made += 1;
                    let class = |side| lockdep::LockClass::leak(format!("newdep.{made}.{side}"));
                    let pair = (
                        lockdep::Mutex::with_class(0u64, class("a")),
                        lockdep::Mutex::with_class(0u64, class("b")),
                    );
                    drop(pair.0.lock());
                    drop(pair.1.lock());
                    pair
                })
                .collect();
            let start = Instant::now();
            for (a, b) in &pairs {
                let ga = a.lock();
                let gb = b.lock();
                black_box((&ga, &gb));
            }
            start.elapsed()
        })
    });
    g.bench_function("tracing_mutex", |b| {
        b.iter_custom(|iters| {
            let pairs: Vec<_> = (0..iters)
                .map(|_| {
                    let pair = (Tm::new(0u64), Tm::new(0u64));
                    drop(pair.0.lock().unwrap());
                    drop(pair.1.lock().unwrap());
                    pair
                })
                .collect();
            let start = Instant::now();
            for (a, b) in &pairs {
                let ga = a.lock().unwrap();
                let gb = b.lock().unwrap();
                black_box((&ga, &gb));
            }
            start.elapsed()
        })
    });
    g.finish();
}

fn config() -> Criterion {
    // Every iteration grows the dependency graph for good: keep the runs short.
    Criterion::default()
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(1))
        .sample_size(10)
}

criterion_group! { name = benches; config = config(); targets = newdep }
criterion_main!(benches);
