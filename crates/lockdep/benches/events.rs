//! Event primitives on their non-parking paths, validated against the uninstrumented
//! equivalent (issue #4's targets), and parked round trips between two threads for
//! information. Run with `cargo bench -p lockdep --features always --bench events`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use parking_lot::{Condvar as PlCondvar, Mutex as PlMutex};

/// The uninstrumented equivalent of `lockdep::Completion`: the same algorithm, no validator.
struct PlainCompletion {
    done: PlMutex<u32>,
    cv: PlCondvar,
}

impl PlainCompletion {
    fn new() -> Self {
        PlainCompletion {
            done: PlMutex::new(0),
            cv: PlCondvar::new(),
        }
    }
    fn complete(&self) {
        let mut d = self.done.lock();
        *d = d.saturating_add(1);
        self.cv.notify_one();
    }
    fn wait(&self) {
        let mut d = self.done.lock();
        while *d == 0 {
            self.cv.wait(&mut d);
        }
        *d -= 1;
    }
}

/// The uninstrumented equivalent of `lockdep::WaitGroup`.
struct PlainWaitGroup {
    count: PlMutex<usize>,
    cv: PlCondvar,
}

impl PlainWaitGroup {
    fn new() -> Self {
        PlainWaitGroup {
            count: PlMutex::new(0),
            cv: PlCondvar::new(),
        }
    }
    fn add(&self) {
        *self.count.lock() += 1;
    }
    fn done(&self) {
        let mut c = self.count.lock();
        *c -= 1;
        if *c == 0 {
            self.cv.notify_all();
        }
    }
}

fn non_parking(c: &mut Criterion) {
    if !lockdep::ENABLED {
        panic!("validation is compiled away: build with --features always");
    }
    let mut g = c.benchmark_group("complete_then_wait");
    let plain = PlainCompletion::new();
    g.bench_function("plain", |b| {
        b.iter(|| {
            plain.complete();
            plain.wait();
        })
    });
    let ld = lockdep::Completion::new();
    g.bench_function("lockdep", |b| {
        b.iter(|| {
            ld.complete();
            ld.wait();
        })
    });
    g.finish();

    let mut g = c.benchmark_group("notify_no_waiter");
    let std_cv = std::sync::Condvar::new();
    g.bench_function("std", |b| b.iter(|| black_box(&std_cv).notify_one()));
    let ld_cv = lockdep::sync::Condvar::new();
    g.bench_function("lockdep", |b| b.iter(|| black_box(&ld_cv).notify_one()));
    g.finish();

    let mut g = c.benchmark_group("send_recv_ready");
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    g.bench_function("std", |b| {
        b.iter(|| {
            tx.send(1).unwrap();
            black_box(rx.recv().unwrap());
        })
    });
    let (tx, rx) = lockdep::sync::mpsc::channel::<u64>();
    g.bench_function("lockdep", |b| {
        b.iter(|| {
            tx.send(1).unwrap();
            black_box(rx.recv().unwrap());
        })
    });
    g.finish();

    let mut g = c.benchmark_group("counter_inc_dec");
    let plain = PlainWaitGroup::new();
    g.bench_function("plain", |b| {
        b.iter(|| {
            plain.add();
            plain.done();
        })
    });
    let ld = lockdep::WaitGroup::new();
    g.bench_function("lockdep", |b| {
        b.iter(|| {
            ld.add();
            ld.done();
        })
    });
    g.finish();
}

/// For information: a ping-pong between two threads over two completions, each side
/// parking until the other completes.
fn parked(c: &mut Criterion) {
    let mut g = c.benchmark_group("parked_round_trip");
    {
        let (ping, pong) = (
            Arc::new(PlainCompletion::new()),
            Arc::new(PlainCompletion::new()),
        );
        let (p2, q2) = (ping.clone(), pong.clone());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let t = std::thread::spawn(move || {
            loop {
                p2.wait();
                if s2.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                q2.complete();
            }
        });
        g.bench_function("plain", |b| {
            b.iter(|| {
                ping.complete();
                pong.wait();
            })
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        ping.complete();
        t.join().unwrap();
    }
    {
        let (ping, pong) = (
            Arc::new(lockdep::Completion::new()),
            Arc::new(lockdep::Completion::new()),
        );
        let (p2, q2) = (ping.clone(), pong.clone());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        let t = lockdep::thread::spawn(move || {
            loop {
                p2.wait();
                if s2.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                q2.complete();
            }
        });
        g.bench_function("lockdep", |b| {
            b.iter(|| {
                ping.complete();
                pong.wait();
            })
        });
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        ping.complete();
        t.join().unwrap();
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1))
        .sample_size(30)
}

criterion_group! { name = benches; config = config(); targets = non_parking, parked }
criterion_main!(benches);
