//! Work queues: closures run by a queue's worker threads, the kernel's workqueues.
//!
//! [`WorkQueue::queue`] hands a closure to the queue and returns its [`Work`]; a worker runs
//! it. [`Work::flush`] waits until that item ran, [`WorkQueue::flush_all`] until everything
//! queued so far ran. To the validator a flush is a wait for the item: flushing while holding
//! a lock the item takes is a cycle, and so is an item that flushes another behind it on an
//! ordered queue (`max_active` 1), since the second cannot start before the first ends.
//!
//! ```
//! use lockdep::workqueue::WorkQueue;
//! let wq = WorkQueue::new("io", 2);
//! let w = wq.queue(|| println!("ran on a worker"));
//! w.flush();
//! ```

use std::collections::VecDeque;
use std::panic::Location;
use std::sync::Arc;

use lockdep_core::ObjKind;
use parking_lot::{Condvar as PlCondvar, Mutex as PlMutex};

use crate::hooks::{self, Meta, Site};

/// A queued item's state, shared by its [`Work`] handle and the worker that runs it. The
/// validator object (class: where it was queued) is freed when both are done with it.
struct WorkInner {
    site: Site,
    meta: Meta,
    done: PlMutex<bool>,
    cv: PlCondvar,
}

impl WorkInner {
    fn obj(&self) -> hooks::Obj {
        self.meta.get(self.site, ObjKind::Work)
    }
}

struct Job {
    work: Arc<WorkInner>,
    run: Box<dyn FnOnce() + Send>,
}

#[derive(Default)]
struct QState {
    jobs: VecDeque<Job>,
    /// Queued or running.
    in_flight: usize,
    shutdown: bool,
}

struct Shared {
    state: PlMutex<QState>,
    /// Workers wait here for jobs.
    work_cv: PlCondvar,
    /// `flush_all` waits here for `in_flight` to reach zero.
    idle_cv: PlCondvar,
}

/// A pool of worker threads running queued closures in order of queueing, at most
/// `max_active` at a time (one per worker).
pub struct WorkQueue {
    site: Site,
    meta: Meta,
    max_active: u32,
    shared: Arc<Shared>,
    workers: Vec<crate::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for WorkQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkQueue")
            .field("max_active", &self.max_active)
            .field("workers", &self.workers.len())
            .finish()
    }
}

impl WorkQueue {
    /// A queue with `workers` worker threads (at least one) named `name/0`, `name/1`, ...;
    /// its class is the call site.
    #[track_caller]
    pub fn new(name: &str, workers: usize) -> WorkQueue {
        let workers = workers.max(1);
        let shared = Arc::new(Shared {
            state: PlMutex::new(QState::default()),
            work_cv: PlCondvar::new(),
            idle_cv: PlCondvar::new(),
        });
        let site = Site::caller();
        let handles = (0..workers)
            .map(|i| {
                let shared = shared.clone();
                crate::thread::Builder::new()
                    .name(format!("{name}/{i}"))
                    .class(format!("workqueue {name}"))
                    .spawn(move || worker(&shared))
                    .expect("failed to spawn a work queue worker")
            })
            .collect();
        let wq = WorkQueue {
            site,
            meta: Meta::new(),
            max_active: u32::try_from(workers).unwrap_or(u32::MAX),
            shared,
            workers: handles,
        };
        wq.obj();
        wq
    }

    /// An ordered queue: one worker, items run one at a time in queueing order.
    #[track_caller]
    pub fn ordered(name: &str) -> WorkQueue {
        WorkQueue::new(name, 1)
    }

    fn obj(&self) -> hooks::Obj {
        self.meta
            .get_bounded(self.site, ObjKind::WorkQueue, self.max_active)
    }

    /// Queues `f`; a worker runs it. The item's class is the call site.
    #[track_caller]
    pub fn queue(&self, f: impl FnOnce() + Send + 'static) -> Work {
        self.queue_as(Site::caller(), f)
    }

    /// Queues `f` as an item of a named class (the kernel's work items are classed by their
    /// `INIT_WORK`).
    #[track_caller]
    pub fn queue_named(
        &self,
        class: &'static crate::LockClass,
        f: impl FnOnce() + Send + 'static,
    ) -> Work {
        self.queue_as(Site::named(class), f)
    }

    #[track_caller]
    fn queue_as(&self, site: Site, f: impl FnOnce() + Send + 'static) -> Work {
        let work = Arc::new(WorkInner {
            site,
            meta: Meta::new(),
            done: PlMutex::new(false),
            cv: PlCondvar::new(),
        });
        hooks::queue(work.obj(), self.obj(), Location::caller());
        let mut st = self.shared.state.lock();
        st.in_flight += 1;
        st.jobs.push_back(Job {
            work: work.clone(),
            run: Box::new(f),
        });
        drop(st);
        self.shared.work_cv.notify_one();
        Work { inner: work }
    }

    /// Waits until every item queued so far has run. Validated first, as a wait for all of
    /// them. (It also waits for items queued meanwhile by other threads.)
    #[track_caller]
    pub fn flush_all(&self) {
        let site = Location::caller();
        hooks::flush_queue(self.obj(), site);
        let _p = hooks::park(
            || format!("work queue {} to drain", hooks::class_name(self.site)),
            None,
            site,
        );
        let mut st = self.shared.state.lock();
        while st.in_flight != 0 {
            self.shared.idle_cv.wait(&mut st);
        }
    }
}

impl Drop for WorkQueue {
    /// Runs what is queued, then joins the workers (validated joins).
    fn drop(&mut self) {
        self.shared.state.lock().shutdown = true;
        self.shared.work_cv.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn worker(shared: &Shared) {
    let site = Location::caller();
    loop {
        let job = {
            let mut st = shared.state.lock();
            loop {
                if let Some(j) = st.jobs.pop_front() {
                    break j;
                }
                if st.shutdown {
                    return;
                }
                shared.work_cv.wait(&mut st);
            }
        };
        let obj = job.work.obj();
        hooks::run_begin(obj, site);
        (job.run)();
        hooks::run_end(obj, site);
        *job.work.done.lock() = true;
        job.work.cv.notify_all();
        let mut st = shared.state.lock();
        st.in_flight -= 1;
        if st.in_flight == 0 {
            shared.idle_cv.notify_all();
        }
    }
}

/// A queued item: [`flush`](Work::flush) waits until it ran.
#[derive(Clone)]
pub struct Work {
    inner: Arc<WorkInner>,
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Work")
            .field("done", &*self.inner.done.lock())
            .finish()
    }
}

impl Work {
    /// Waits until the item has run. Validated first, as a wait for the item (whether or not
    /// it already ran: the next run may be slower).
    #[track_caller]
    pub fn flush(&self) {
        let site = Location::caller();
        hooks::flush(self.inner.obj(), site);
        let _p = hooks::park(
            || format!("work item {}", hooks::class_name(self.inner.site)),
            None,
            site,
        );
        let mut done = self.inner.done.lock();
        while !*done {
            self.inner.cv.wait(&mut done);
        }
    }

    /// Whether the item has run.
    pub fn is_done(&self) -> bool {
        *self.inner.done.lock()
    }
}
