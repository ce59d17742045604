//! The annotation API for your own primitives: the same calls the built-in locks make.
//!
//! Embed a [`RawLock`] in your lock, call [`RawLock::acquire`] *before* blocking,
//! [`RawLock::acquired_try`] after a successful try, and [`RawLock::release`] when it is
//! released (on the same thread).
//!
//! ```
//! use lockdep::raw::{LockMode, RawLock};
//! use std::sync::atomic::{AtomicBool, Ordering};
//!
//! struct SpinLock { flag: AtomicBool, dep: RawLock }
//! impl SpinLock {
//!     #[track_caller]
//!     const fn new() -> Self { SpinLock { flag: AtomicBool::new(false), dep: RawLock::new() } }
//!     #[track_caller]
//!     fn lock(&self) {
//!         self.dep.acquire(LockMode::Exclusive); // validated before spinning
//!         while self.flag.swap(true, Ordering::Acquire) { std::hint::spin_loop(); }
//!     }
//!     fn unlock(&self) {
//!         self.dep.release();
//!         self.flag.store(false, Ordering::Release);
//!     }
//! }
//! let l = SpinLock::new();
//! l.lock();
//! l.unlock();
//! ```

use std::panic::Location;

use lockdep_core::{Mode, ObjKind};

use crate::class::LockClass;
use crate::hooks::{self, Meta, Site};

/// How a lock is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// Exclusive (a mutex, a write lock).
    Exclusive,
    /// Shared, queueing behind waiting writers (std's and parking_lot's `read`).
    Shared,
    /// Shared, never queueing behind writers while readers hold it (recursive read).
    SharedRecursive,
}

impl LockMode {
    fn mode(self) -> Mode {
        match self {
            LockMode::Exclusive => Mode::Write,
            LockMode::Shared => Mode::Read,
            LockMode::SharedRecursive => Mode::ReadRecursive,
        }
    }
}

/// A lock's identity for the validator: its class (creation site or named class) and its
/// object id, assigned on first use. 12 bytes; nothing when validation is compiled away.
#[derive(Debug)]
pub struct RawLock {
    site: Site,
    meta: Meta,
}

impl RawLock {
    /// A lock whose class is the creation site.
    #[track_caller]
    pub const fn new() -> Self {
        RawLock {
            site: Site::caller(),
            meta: Meta::new(),
        }
    }

    /// A lock of a named class.
    pub const fn with_class(class: &'static LockClass) -> Self {
        RawLock {
            site: Site::named(class),
            meta: Meta::new(),
        }
    }

    /// Call before blocking on the lock: validates the acquisition (and, with the panic
    /// policy, panics instead of letting a would-be deadlock hang).
    #[track_caller]
    pub fn acquire(&self, mode: LockMode) {
        self.acquire_as(ObjKind::Mutex, mode, false, Location::caller());
    }

    /// Call after a successful try-acquire (no dependency into the lock is recorded).
    #[track_caller]
    pub fn acquired_try(&self, mode: LockMode) {
        self.acquire_as(ObjKind::Mutex, mode, true, Location::caller());
    }

    /// Call when the lock is released, on the thread that acquired it.
    pub fn release(&self) {
        self.release_as(ObjKind::Mutex);
    }

    /// Records the dependencies of acquiring the lock here without doing it (lockdep's
    /// `might_lock`), for paths that take it only sometimes.
    #[track_caller]
    pub fn might_acquire(&self, mode: LockMode) {
        self.might_acquire_as(ObjKind::Mutex, mode, Location::caller());
    }

    fn acquire_as(
        &self,
        kind: ObjKind,
        mode: LockMode,
        try_: bool,
        site: &'static Location<'static>,
    ) {
        let obj = self.meta.get(self.site, kind);
        hooks::acquire(obj, self.site, mode.mode(), try_, None, None, site);
    }

    fn release_as(&self, kind: ObjKind) {
        hooks::release(self.meta.get(self.site, kind));
    }

    fn might_acquire_as(&self, kind: ObjKind, mode: LockMode, site: &'static Location<'static>) {
        let obj = self.meta.get(self.site, kind);
        hooks::might_acquire(obj, mode.mode(), site);
    }
}

/// [`RawLock`] for a spinning lock: holding it makes the thread atomic (blocking under it is
/// `invalid_context`), and it may be taken in interrupt-like contexts (see
/// [`context`](crate::context)), where lockdep's irq-safety rules apply to it.
#[derive(Debug, Default)]
pub struct RawSpinLock {
    inner: RawLock,
}

impl RawSpinLock {
    /// A spin lock whose class is the creation site.
    #[track_caller]
    pub const fn new() -> Self {
        RawSpinLock {
            inner: RawLock::new(),
        }
    }

    /// A spin lock of a named class.
    pub const fn with_class(class: &'static LockClass) -> Self {
        RawSpinLock {
            inner: RawLock::with_class(class),
        }
    }

    /// Call before spinning: validates the acquisition.
    #[track_caller]
    pub fn acquire(&self, mode: LockMode) {
        self.inner
            .acquire_as(ObjKind::SpinLock, mode, false, Location::caller());
    }

    /// Call after a successful try-acquire.
    #[track_caller]
    pub fn acquired_try(&self, mode: LockMode) {
        self.inner
            .acquire_as(ObjKind::SpinLock, mode, true, Location::caller());
    }

    /// Call when the lock is released, on the thread that acquired it.
    pub fn release(&self) {
        self.inner.release_as(ObjKind::SpinLock);
    }

    /// Records the dependencies of acquiring the lock here without doing it.
    #[track_caller]
    pub fn might_acquire(&self, mode: LockMode) {
        self.inner
            .might_acquire_as(ObjKind::SpinLock, mode, Location::caller());
    }
}

impl Default for RawLock {
    #[track_caller]
    fn default() -> Self {
        RawLock::new()
    }
}
