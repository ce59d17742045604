//! The four kernel bugs this validator was built for (`shared/seeds/`, modelled in
//! `scenarios/seed-*.jsonl`), as Rust programs with real threads. Each run completes, and
//! each buggy variant is still reported; each fixed variant is silent.
//!
//! ```sh
//! cargo run -q -p lockdep --example seeds            # all four, buggy: four reports
//! cargo run -q -p lockdep --example seeds -- fixed   # all four, fixed: nothing
//! cargo run -q -p lockdep --example seeds -- b       # one of them (a, b, c or d)
//! ```
//!
//! - **a**: a task waits in `inode_dio_wait` for direct I/O whose completion was deferred to
//!   its own `task_work`, which runs only when the task returns to user space: a wait for
//!   itself. (Fixed: the completion runs in a workqueue.) This one would hang for real, so it
//!   runs under the panic policy: the report comes before the wait blocks, the example catches
//!   the panic, and the task then reaches its flush point.
//! - **b**: netfs/cachefiles (Linux commit 598ad0bd0932): `readpage` writes to the cache
//!   (`sb_writers`) under `invalidate_lock`, `removexattr` faults (`mmap_lock`) under
//!   `sb_writers`, a page fault takes `invalidate_lock` under `mmap_lock`: a three-lock cycle.
//!   The three paths run one after the other, so nothing hangs. (Fixed: the cache write is
//!   offloaded to a worker.)
//! - **c**: an I/O completion converts unwritten extents (taking `i_data_sem`, a sleeping
//!   lock) in interrupt context. (Fixed: it queues the conversion on a workqueue.)
//! - **d**: dm-snapshot: a bio parked on `current->bio_list` (it completes a tracked chunk
//!   only when its submitter reaches a flush point) while the submitter blocks on `s->lock`,
//!   whose holder waits for that chunk. (Fixed: the submitter hands its list to a rescuer
//!   before it takes the lock.)
#![allow(dead_code)] // also compiled as a module of the seed tests

use std::sync::Arc;
use std::thread::sleep;
use std::time::Duration;

use lockdep::deferred::{self, Produces, Rescuer};
use lockdep::workqueue::WorkQueue;
use lockdep::{Completion, Policy, RwLock, WaitGroup, class, context, thread};

/// Seed a: `inode_dio_wait` in the task that must run the DIO completion itself.
pub fn seed_a(fixed: bool) {
    struct Inode {
        i_rwsem: RwLock<()>,
        i_dio_count: WaitGroup,
    }
    let inode = Arc::new(Inode {
        i_rwsem: RwLock::with_class((), class!("inode->i_rwsem")),
        i_dio_count: WaitGroup::with_class(class!("inode->i_dio_count")),
    });
    let dio_wq = fixed.then(|| WorkQueue::new("dio_wq", 1));
    thread::Builder::new()
        .name("truncate".into())
        .spawn(move || {
            // Direct I/O submitted: inode_dio_begin.
            inode.i_dio_count.add();
            let ino = inode.clone();
            let end_io = move || ino.i_dio_count.done(); // inode_dio_end
            match &dio_wq {
                // The completion runs on a worker: it does not need this task.
                Some(wq) => drop(wq.queue(end_io)),
                // The completion is deferred to this task's task_work.
                None => deferred::defer_producing(&[Produces::Dec(&inode.i_dio_count)], end_io),
            }
            // Truncate: i_rwsem, then wait for direct I/O in flight.
            let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                lockdep::with_policy(Policy::Panic, || {
                    let _g = inode.i_rwsem.write();
                    inode.i_dio_count.wait(); // inode_dio_wait
                })
            }));
            if waited.is_err() {
                eprintln!("(seed a: the wait would never return; it was reported instead)");
            }
            // Back to user space: task_work runs, the I/O is complete.
            deferred::flush_point();
            inode.i_dio_count.wait();
        })
        .unwrap()
        .join()
        .unwrap();
}

/// Seed b: `mmap_lock -> invalidate_lock -> sb_writers -> mmap_lock` (netfs/cachefiles).
pub fn seed_b(fixed: bool) {
    struct Mapping {
        invalidate_lock: RwLock<()>,
        sb_writers: RwLock<()>,
        mmap_lock: RwLock<()>,
    }
    let m = Arc::new(Mapping {
        invalidate_lock: RwLock::with_class((), class!("mapping.invalidate_lock")),
        sb_writers: RwLock::with_class((), class!("sb_writers")),
        mmap_lock: RwLock::with_class((), class!("&mm->mmap_lock")),
    });
    let cache_wq = Arc::new(WorkQueue::new("cache_wq", 1));
    let run = |name: &str, f: Box<dyn FnOnce() + Send>| {
        thread::Builder::new()
            .name(name.into())
            .spawn(f)
            .unwrap()
            .join()
            .unwrap();
    };
    // readpage: under invalidate_lock, the page is written to the cache (sb_writers).
    let (m1, wq) = (m.clone(), cache_wq.clone());
    run(
        "readpage",
        Box::new(move || {
            let _inval = m1.invalidate_lock.read();
            let m2 = m1.clone();
            let write_to_cache = move || drop(m2.sb_writers.read());
            if fixed {
                drop(wq.queue(write_to_cache)); // offloaded, not waited for here
            } else {
                write_to_cache();
            }
        }),
    );
    cache_wq.flush_all();
    // removexattr: under sb_writers, copying the name from user memory may fault.
    let m1 = m.clone();
    run(
        "removexattr",
        Box::new(move || {
            let _sbw = m1.sb_writers.read();
            drop(m1.mmap_lock.read()); // the page fault
        }),
    );
    // A page fault on a file mapping: mmap_lock, then invalidate_lock (filemap_fault).
    let m1 = m.clone();
    run(
        "fault",
        Box::new(move || {
            let _mm = m1.mmap_lock.read();
            drop(m1.invalidate_lock.read());
        }),
    );
}

/// Seed c: I/O completion taking a sleeping lock in interrupt context.
pub fn seed_c(fixed: bool) {
    let i_data_sem = Arc::new(RwLock::with_class((), class!("ei->i_data_sem")));
    let unwritten_wq = WorkQueue::new("unwritten_wq", 1);
    let convert = {
        let s = i_data_sem.clone();
        move || drop(s.write()) // convert unwritten extents
    };
    let end_io = context::hardirq(|| {
        if fixed {
            Some(unwritten_wq.queue(convert))
        } else {
            convert();
            None
        }
    });
    if let Some(w) = end_io {
        w.flush();
    }
}

/// Seed d: a bio on `current->bio_list` while its submitter blocks on `s->lock`.
pub fn seed_d(fixed: bool) {
    let s_lock = Arc::new(RwLock::with_class((), class!("s->lock")));
    // Tracked chunks: one class, one completion per chunk.
    let chunk = || Arc::new(Completion::with_class(class!("tracked_chunk")));
    // A snapshot thread holds s->lock while it waits for a tracked chunk's I/O, which the
    // device completes.
    let (first, s1) = (chunk(), s_lock.clone());
    let device = {
        let c = first.clone();
        thread::Builder::new()
            .name("device".into())
            .spawn(move || {
                sleep(Duration::from_millis(50)); // the waiter parks first
                c.complete();
            })
            .unwrap()
    };
    thread::Builder::new()
        .name("snapshot".into())
        .spawn(move || {
            let _s = s1.write();
            first.wait();
        })
        .unwrap()
        .join()
        .unwrap();
    device.join().unwrap();
    // The submitter: a bio that completes a tracked chunk is parked on its bio_list, then it
    // takes s->lock. Had the snapshot thread held it then, neither would have moved.
    let second = chunk();
    let rescuer = fixed.then(|| Rescuer::new("bioset_rescuer"));
    let s2 = s_lock.clone();
    thread::Builder::new()
        .name("submitter".into())
        .spawn(move || {
            let c = second.clone();
            deferred::defer_producing(&[Produces::Signal(&second)], move || c.complete());
            if let Some(r) = &rescuer {
                r.transfer(); // punt the bio_list to the rescuer before blocking
            }
            drop(s2.write());
            deferred::flush_point(); // back at the top: the bio is submitted
            second.wait();
        })
        .unwrap()
        .join()
        .unwrap();
}

/// A seed program: `fixed` runs its fixed variant.
pub type Seed = fn(bool);

/// The seeds by letter.
pub const SEEDS: [(&str, Seed); 4] = [("a", seed_a), ("b", seed_b), ("c", seed_c), ("d", seed_d)];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fixed = args.iter().any(|a| a == "fixed");
    let pick = |s: &str| !args.iter().any(|a| a.len() == 1) || args.iter().any(|a| a == s);
    if !lockdep::ENABLED {
        eprintln!("validation is compiled away in this build (use a debug build)");
    }
    // The panic hook prints just the message: seed a's expected panic is the report.
    std::panic::set_hook(Box::new(|info| {
        if let Some(s) = info.payload().downcast_ref::<String>() {
            eprintln!("{s}");
        }
    }));
    for (name, seed) in SEEDS {
        if pick(name) {
            println!("seed {name}{}", if fixed { " (fixed)" } else { "" });
            seed(fixed);
        }
    }
    println!("all runs completed");
}
