//! Waits that are not lock acquisitions: a `Completion` and an in-flight counter
//! (`WaitGroup`). The validator sees them as events: a thread that waits while holding a lock
//! the completer takes first, or while owing something the completer waits for, is reported.

use std::panic::Location;
use std::time::Duration;

use lockdep_core::ObjKind;
use parking_lot::{Condvar as PlCondvar, Mutex as PlMutex};

use crate::hooks::{self, Ev, Meta, SigCell, Site};

/// A one-shot (or reusable with [`Completion::reinit`]) completion, like the kernel's
/// `struct completion`: `wait` blocks until `complete` (one waiter) or `complete_all`.
#[derive(Debug)]
pub struct Completion {
    site: Site,
    meta: Meta,
    /// The fast path's word for `done` (see `fast`).
    cell: SigCell,
    /// Completions not yet consumed (`u32::MAX` after `complete_all`).
    done: PlMutex<u32>,
    cv: PlCondvar,
}

impl Completion {
    /// A new completion whose class is its creation site.
    #[track_caller]
    pub const fn new() -> Completion {
        Completion {
            site: Site::caller(),
            meta: Meta::new(),
            cell: SigCell::new(),
            done: PlMutex::new(0),
            cv: PlCondvar::new(),
        }
    }

    /// A new completion of a named class (see [`class!`](crate::class!)).
    pub const fn with_class(class: &'static crate::LockClass) -> Completion {
        Completion {
            site: Site::named(class),
            meta: Meta::new(),
            cell: SigCell::new(),
            done: PlMutex::new(0),
            cv: PlCondvar::new(),
        }
    }

    pub(crate) fn obj(&self) -> hooks::Obj {
        self.meta.get(self.site, ObjKind::Completion)
    }

    fn ev(&self) -> Ev<'_> {
        Ev {
            obj: self.obj(),
            class: self.site,
            cells: std::slice::from_ref(&self.cell),
        }
    }

    /// Waits until completed. Validated before it blocks; a wait that finds it already
    /// completed does not count as a wait.
    #[track_caller]
    pub fn wait(&self) {
        let site = Location::caller();
        let mut done = self.done.lock();
        hooks::ev_wait(self.ev(), *done == 0, false, site);
        let _p = (*done == 0)
            .then(|| {
                hooks::park(
                    || format!("completion {}", hooks::class_name(self.site)),
                    None,
                    site,
                )
            })
            .flatten();
        while *done == 0 {
            self.cv.wait(&mut done);
        }
        if *done != u32::MAX {
            *done -= 1;
        }
    }

    /// Waits at most `timeout`; returns whether it was completed. Cycles through a timed wait
    /// are reported as warnings.
    #[track_caller]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let site = Location::caller();
        let mut done = self.done.lock();
        hooks::ev_wait(self.ev(), *done == 0, true, site);
        if *done == 0 {
            let _ = self.cv.wait_while_for(&mut done, |d| *d == 0, timeout);
        }
        if *done == 0 {
            return false;
        }
        if *done != u32::MAX {
            *done -= 1;
        }
        true
    }

    /// Wakes one waiter (or lets the next `wait` through).
    #[track_caller]
    pub fn complete(&self) {
        hooks::ev_signal(self.ev(), false, Location::caller());
        let mut done = self.done.lock();
        // `u32::MAX` means completed for all: it stays so.
        *done = done.saturating_add(1);
        self.cv.notify_one();
    }

    /// Wakes every waiter, now and later.
    #[track_caller]
    pub fn complete_all(&self) {
        hooks::ev_signal(self.ev(), true, Location::caller());
        *self.done.lock() = u32::MAX;
        self.cv.notify_all();
    }

    /// Makes the completion usable again.
    pub fn reinit(&self) {
        *self.done.lock() = 0;
    }
}

impl Default for Completion {
    #[track_caller]
    fn default() -> Self {
        Completion::new()
    }
}

/// An in-flight counter (Go's `WaitGroup`, the kernel's `inode_dio_begin/end/wait`): `add`
/// before starting work, `done` when it finishes (possibly on another thread), `wait` blocks
/// until the count is zero. Each `done` signals "zero" to the validator.
#[derive(Debug)]
pub struct WaitGroup {
    site: Site,
    meta: Meta,
    /// The fast path's word for `zero` (see `fast`).
    cell: SigCell,
    count: PlMutex<usize>,
    cv: PlCondvar,
}

impl WaitGroup {
    /// A new counter at zero; its class is the creation site.
    #[track_caller]
    pub const fn new() -> WaitGroup {
        WaitGroup {
            site: Site::caller(),
            meta: Meta::new(),
            cell: SigCell::new(),
            count: PlMutex::new(0),
            cv: PlCondvar::new(),
        }
    }

    /// A new counter of a named class (see [`class!`](crate::class!)).
    pub const fn with_class(class: &'static crate::LockClass) -> WaitGroup {
        WaitGroup {
            site: Site::named(class),
            meta: Meta::new(),
            cell: SigCell::new(),
            count: PlMutex::new(0),
            cv: PlCondvar::new(),
        }
    }

    pub(crate) fn obj(&self) -> hooks::Obj {
        self.meta.get(self.site, ObjKind::Counter)
    }

    fn ev(&self) -> Ev<'_> {
        Ev {
            obj: self.obj(),
            class: self.site,
            cells: std::slice::from_ref(&self.cell),
        }
    }

    /// One more piece of work in flight.
    #[track_caller]
    pub fn add(&self) {
        hooks::inc(self.ev(), Location::caller());
        *self.count.lock() += 1;
    }

    /// One piece of work finished.
    ///
    /// # Panics
    /// When the count is already zero.
    #[track_caller]
    pub fn done(&self) {
        hooks::dec(self.ev(), Location::caller());
        let mut c = self.count.lock();
        *c = c
            .checked_sub(1)
            .expect("WaitGroup::done without a matching add");
        if *c == 0 {
            self.cv.notify_all();
        }
    }

    /// Waits until nothing is in flight. Validated before it blocks; a wait that finds the
    /// count at zero does not count as a wait.
    #[track_caller]
    pub fn wait(&self) {
        let site = Location::caller();
        let mut c = self.count.lock();
        hooks::wait_zero(self.ev(), *c != 0, false, site);
        let _p = (*c != 0)
            .then(|| {
                hooks::park(
                    || format!("counter {} to reach zero", hooks::class_name(self.site)),
                    None,
                    site,
                )
            })
            .flatten();
        while *c != 0 {
            self.cv.wait(&mut c);
        }
    }
}

impl Default for WaitGroup {
    #[track_caller]
    fn default() -> Self {
        WaitGroup::new()
    }
}
