//! Drop-in replacements for `std::sync` with std's exact signatures (poisoning included):
//! replace `use std::sync::X` with `use lockdep::sync::X`.
//!
//! `Mutex`, `RwLock` and `Condvar` are validated. `Condvar` releases its mutex while it waits
//! and re-acquires it after, in the validator's view as in reality: a wait under a *second*
//! lock that the notifier needs is the nested-monitor deadlock, and is reported.
//! `mpsc` channels are validated too (see [`mpsc`]), and so are `Once`, `OnceLock` and
//! `LazyLock`: the thread running an initializer owes the cell, and finding another thread's
//! initializer running is a wait for it. Compiled away, those three are std's own types.

use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::time::Duration;

pub use std::sync::{
    Arc, Barrier, BarrierWaitResult, LockResult, OnceState, PoisonError, TryLockError,
    TryLockResult, WaitTimeoutResult, Weak, atomic,
};

/// Validated once-cells when lockdep is on; std's own (nothing added) when it is off.
#[cfg(lockdep_enabled)]
pub use crate::once::{LazyLock, Once, OnceLock};
#[cfg(not(lockdep_enabled))]
pub use std::sync::{LazyLock, Once, OnceLock};

pub use crate::mpsc;

use lockdep_core::{Mode, ObjKind};

use crate::hooks::{self, Ev, Meta, Obj, SigCell, Site};

/// Maps a std lock result onto ours, wrapping the guard either way.
fn map_result<G, H>(r: LockResult<G>, wrap: impl FnOnce(G) -> H) -> LockResult<H> {
    match r {
        Ok(g) => Ok(wrap(g)),
        Err(p) => Err(PoisonError::new(wrap(p.into_inner()))),
    }
}

/// A try-lock's result as a lock's, or `None` when it would block (for the watchdog's
/// try-then-block).
fn attempt<G>(r: TryLockResult<G>) -> Option<LockResult<G>> {
    match r {
        Ok(g) => Some(Ok(g)),
        Err(TryLockError::Poisoned(p)) => Some(Err(p)),
        Err(TryLockError::WouldBlock) => None,
    }
}

fn map_try<G, H>(r: TryLockResult<G>, wrap: impl FnOnce(G) -> H) -> TryLockResult<H> {
    match r {
        Ok(g) => Ok(wrap(g)),
        Err(TryLockError::Poisoned(p)) => Err(TryLockError::Poisoned(PoisonError::new(wrap(
            p.into_inner(),
        )))),
        Err(TryLockError::WouldBlock) => Err(TryLockError::WouldBlock),
    }
}

/// `std::sync::Mutex`, validated.
pub struct Mutex<T: ?Sized> {
    site: Site,
    meta: Meta,
    inner: std::sync::Mutex<T>,
}

impl<T> Mutex<T> {
    /// A new mutex whose class is its creation site.
    #[track_caller]
    pub const fn new(t: T) -> Mutex<T> {
        Mutex {
            site: Site::caller(),
            meta: Meta::new(),
            inner: std::sync::Mutex::new(t),
        }
    }

    /// Consumes the mutex and returns the data.
    pub fn into_inner(self) -> LockResult<T> {
        let Mutex { inner, .. } = self; // the lock's id is freed as the rest drops
        inner.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    fn obj(&self) -> Obj {
        self.meta.get(self.site, ObjKind::Mutex)
    }

    /// Locks, validating the acquisition first (std's signature).
    #[track_caller]
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        let site = Location::caller();
        let obj = self.obj();
        hooks::acquire(obj, self.site, Mode::Write, false, None, None, site);
        let r = hooks::blocking(
            || attempt(self.inner.try_lock()),
            || self.inner.lock(),
            self.site,
            "write",
            obj,
            site,
        );
        map_result(r, |g| MutexGuard::new(obj, g))
    }

    /// Tries to lock without blocking (std's signature); a success is a trylock.
    #[track_caller]
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        let site = Location::caller();
        let r = self.inner.try_lock();
        let obj = self.obj();
        map_try(r, |g| {
            hooks::acquire(obj, self.site, Mode::Write, true, None, None, site);
            MutexGuard::new(obj, g)
        })
    }

    /// Whether a thread panicked while holding the lock.
    pub fn is_poisoned(&self) -> bool {
        self.inner.is_poisoned()
    }

    /// Clears the poisoned state.
    pub fn clear_poison(&self) {
        self.inner.clear_poison();
    }

    /// Mutable access without locking.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        self.inner.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    #[track_caller]
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    #[track_caller]
    fn from(t: T) -> Self {
        Mutex::new(t)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// Guard of [`Mutex`]: releases it on drop, telling the validator first.
#[must_use = "if unused the Mutex will immediately unlock"]
#[clippy::has_significant_drop]
pub struct MutexGuard<'a, T: ?Sized + 'a> {
    obj: Obj,
    inner: ManuallyDrop<std::sync::MutexGuard<'a, T>>,
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    fn new(obj: Obj, g: std::sync::MutexGuard<'a, T>) -> Self {
        MutexGuard {
            obj,
            inner: ManuallyDrop::new(g),
        }
    }

    /// Takes the std guard out without releasing (for `Condvar`).
    fn into_std(self) -> (Obj, std::sync::MutexGuard<'a, T>) {
        let mut me = ManuallyDrop::new(self);
        // SAFETY: `me` is never dropped, so `inner` is moved out exactly once and our `Drop`
        // (which would release and drop it again) does not run.
        let g = unsafe { ManuallyDrop::take(&mut me.inner) };
        (me.obj, g)
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        hooks::release(self.obj);
        // SAFETY: `inner` is dropped exactly once, here, and not used after.
        unsafe { ManuallyDrop::drop(&mut self.inner) };
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// `std::sync::RwLock`, validated. `read` is a non-recursive read (std's readers may queue
/// behind a waiting writer).
pub struct RwLock<T: ?Sized> {
    site: Site,
    meta: Meta,
    inner: std::sync::RwLock<T>,
}

impl<T> RwLock<T> {
    /// A new lock whose class is its creation site.
    #[track_caller]
    pub const fn new(t: T) -> RwLock<T> {
        RwLock {
            site: Site::caller(),
            meta: Meta::new(),
            inner: std::sync::RwLock::new(t),
        }
    }

    /// Consumes the lock and returns the data.
    pub fn into_inner(self) -> LockResult<T> {
        let RwLock { inner, .. } = self; // the lock's id is freed as the rest drops
        inner.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    fn obj(&self) -> Obj {
        self.meta.get(self.site, ObjKind::RwLock)
    }

    /// Shared lock (std's signature).
    #[track_caller]
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        let site = Location::caller();
        let obj = self.obj();
        hooks::acquire(obj, self.site, Mode::Read, false, None, None, site);
        let r = hooks::blocking(
            || attempt(self.inner.try_read()),
            || self.inner.read(),
            self.site,
            "read",
            obj,
            site,
        );
        map_result(r, |g| RwLockReadGuard { obj, inner: g })
    }

    /// Exclusive lock (std's signature).
    #[track_caller]
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        let site = Location::caller();
        let obj = self.obj();
        hooks::acquire(obj, self.site, Mode::Write, false, None, None, site);
        let r = hooks::blocking(
            || attempt(self.inner.try_write()),
            || self.inner.write(),
            self.site,
            "write",
            obj,
            site,
        );
        map_result(r, |g| RwLockWriteGuard { obj, inner: g })
    }

    /// Tries a shared lock without blocking.
    #[track_caller]
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        let site = Location::caller();
        let r = self.inner.try_read();
        let obj = self.obj();
        map_try(r, |g| {
            hooks::acquire(obj, self.site, Mode::Read, true, None, None, site);
            RwLockReadGuard { obj, inner: g }
        })
    }

    /// Tries an exclusive lock without blocking.
    #[track_caller]
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        let site = Location::caller();
        let r = self.inner.try_write();
        let obj = self.obj();
        map_try(r, |g| {
            hooks::acquire(obj, self.site, Mode::Write, true, None, None, site);
            RwLockWriteGuard { obj, inner: g }
        })
    }

    /// Whether a thread panicked while holding the lock for write.
    pub fn is_poisoned(&self) -> bool {
        self.inner.is_poisoned()
    }

    /// Clears the poisoned state.
    pub fn clear_poison(&self) {
        self.inner.clear_poison();
    }

    /// Mutable access without locking.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        self.inner.get_mut()
    }
}

impl<T: Default> Default for RwLock<T> {
    #[track_caller]
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    #[track_caller]
    fn from(t: T) -> Self {
        RwLock::new(t)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

/// Shared guard of [`RwLock`].
#[must_use = "if unused the RwLock will immediately unlock"]
#[clippy::has_significant_drop]
pub struct RwLockReadGuard<'a, T: ?Sized + 'a> {
    obj: Obj,
    inner: std::sync::RwLockReadGuard<'a, T>,
}

/// Exclusive guard of [`RwLock`].
#[must_use = "if unused the RwLock will immediately unlock"]
#[clippy::has_significant_drop]
pub struct RwLockWriteGuard<'a, T: ?Sized + 'a> {
    obj: Obj,
    inner: std::sync::RwLockWriteGuard<'a, T>,
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        hooks::release(self.obj);
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        hooks::release(self.obj);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// `std::sync::Condvar`, validated: a wait releases its mutex, waits for a notification and
/// re-acquires the mutex, in the validator's view as in reality.
pub struct Condvar {
    site: Site,
    meta: Meta,
    /// The fast path's word for `notified` (see `fast`).
    cell: SigCell,
    inner: std::sync::Condvar,
}

impl Condvar {
    /// A new condvar whose class is its creation site.
    #[track_caller]
    pub const fn new() -> Condvar {
        Condvar {
            site: Site::caller(),
            meta: Meta::new(),
            cell: SigCell::new(),
            inner: std::sync::Condvar::new(),
        }
    }

    fn ev(&self) -> Ev<'_> {
        Ev {
            obj: self.meta.get(self.site, ObjKind::Condvar),
            class: self.site,
            cells: std::slice::from_ref(&self.cell),
        }
    }

    fn annotate_wait(&self, mutex: Obj, timeout: bool, site: &'static Location<'static>) {
        hooks::cond_wait(self.ev(), mutex, timeout, site);
    }

    /// Blocks until notified (std's signature).
    #[track_caller]
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        let (obj, g) = guard.into_std();
        let site = Location::caller();
        self.annotate_wait(obj, false, site);
        let _p = hooks::park(|| "a condvar notification".to_owned(), None, site);
        map_result(self.inner.wait(g), |g| MutexGuard::new(obj, g))
    }

    /// Blocks while `condition` holds (std's signature).
    #[track_caller]
    pub fn wait_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        let site = Location::caller();
        while condition(&mut *guard) {
            let (obj, g) = guard.into_std();
            self.annotate_wait(obj, false, site);
            guard = map_result(self.inner.wait(g), |g| MutexGuard::new(obj, g))?;
        }
        Ok(guard)
    }

    /// Blocks until notified or `dur` elapses (std's signature); cycles through a timed wait
    /// are reported as warnings.
    #[track_caller]
    pub fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let (obj, g) = guard.into_std();
        self.annotate_wait(obj, true, Location::caller());
        match self.inner.wait_timeout(g, dur) {
            Ok((g, t)) => Ok((MutexGuard::new(obj, g), t)),
            Err(p) => {
                let (g, t) = p.into_inner();
                Err(PoisonError::new((MutexGuard::new(obj, g), t)))
            }
        }
    }

    /// Blocks while `condition` holds, at most `dur` (std's signature).
    #[track_caller]
    pub fn wait_timeout_while<'a, T, F>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: Duration,
        condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let (obj, g) = guard.into_std();
        self.annotate_wait(obj, true, Location::caller());
        match self.inner.wait_timeout_while(g, dur, condition) {
            Ok((g, t)) => Ok((MutexGuard::new(obj, g), t)),
            Err(p) => {
                let (g, t) = p.into_inner();
                Err(PoisonError::new((MutexGuard::new(obj, g), t)))
            }
        }
    }

    fn annotate_notify(&self, all: bool, site: &'static Location<'static>) {
        hooks::notify(self.ev(), all, site);
    }

    /// Wakes one waiter.
    #[track_caller]
    pub fn notify_one(&self) {
        self.annotate_notify(false, Location::caller());
        self.inner.notify_one();
    }

    /// Wakes every waiter.
    #[track_caller]
    pub fn notify_all(&self) {
        self.annotate_notify(true, Location::caller());
        self.inner.notify_all();
    }
}

impl Default for Condvar {
    #[track_caller]
    fn default() -> Self {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
