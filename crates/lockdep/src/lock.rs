//! `Mutex` and `RwLock` in parking_lot's style, generic over `lock_api` raw locks.

use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::Location;

use lock_api::{RawMutex, RawRwLock};
use lockdep_core::{Mode, ObjKind};

use crate::class::LockClass;
use crate::hooks::{self, Meta, Obj, Site};

/// A mutual-exclusion lock that tells the validator about every acquisition before it blocks.
///
/// `R` is any `lock_api` raw mutex (parking_lot's by default). The check happens *before*
/// blocking, so with [`Policy::Panic`](crate::Policy) a would-be deadlock panics instead of
/// hanging.
pub struct Mutex<T: ?Sized, R: RawMutex> {
    site: Site,
    meta: Meta,
    inner: lock_api::Mutex<R, T>,
}

impl<T, R: RawMutex> Mutex<T, R> {
    /// A new mutex whose class is its creation site.
    #[track_caller]
    pub const fn new(val: T) -> Self {
        Mutex {
            site: Site::caller(),
            meta: Meta::new(),
            inner: lock_api::Mutex::new(val),
        }
    }

    /// A new mutex of a named class (see [`class!`](crate::class!)).
    pub const fn with_class(val: T, class: &'static LockClass) -> Self {
        Mutex {
            site: Site::named(class),
            meta: Meta::new(),
            inner: lock_api::Mutex::new(val),
        }
    }

    /// Consumes the mutex and returns the data.
    pub fn into_inner(self) -> T {
        let Mutex { inner, .. } = self; // the lock's id is freed as the rest drops
        inner.into_inner()
    }
}

impl<T: ?Sized, R: RawMutex> Mutex<T, R> {
    fn acquire(&self, subclass: Option<u8>, try_: bool, site: &'static Location<'static>) -> Obj {
        let obj = self.meta.get(self.site, ObjKind::Mutex);
        hooks::acquire(obj, self.site, Mode::Write, try_, subclass, None, site);
        obj
    }

    /// Locks, validating the acquisition first.
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T, R> {
        let site = Location::caller();
        let obj = self.acquire(None, false, site);
        MutexGuard {
            obj,
            inner: self.lock_inner(obj, site),
            _not_send: PhantomData,
        }
    }

    fn lock_inner(
        &self,
        obj: Obj,
        site: &'static Location<'static>,
    ) -> lock_api::MutexGuard<'_, R, T> {
        hooks::blocking(
            || self.inner.try_lock(),
            || self.inner.lock(),
            self.site,
            "write",
            obj,
            site,
        )
    }

    /// Locks as subclass `subclass` of its class (lockdep's `mutex_lock_nested`), for nesting
    /// two instances of one class in a known order.
    #[track_caller]
    pub fn lock_nested(&self, subclass: u8) -> MutexGuard<'_, T, R> {
        let site = Location::caller();
        let obj = self.acquire(Some(subclass.min(7)), false, site);
        MutexGuard {
            obj,
            inner: self.lock_inner(obj, site),
            _not_send: PhantomData,
        }
    }

    /// Locks another instance of this class under `nest`, a held lock that serialises all
    /// takers of the class (lockdep's `nest_lock`).
    #[track_caller]
    pub fn lock_nest<U: ?Sized, S: RawMutex>(
        &self,
        nest: &MutexGuard<'_, U, S>,
    ) -> MutexGuard<'_, T, R> {
        let obj = self.meta.get(self.site, ObjKind::Mutex);
        hooks::acquire(
            obj,
            self.site,
            Mode::Write,
            false,
            None,
            Some(nest.obj),
            Location::caller(),
        );
        MutexGuard {
            obj,
            inner: self.lock_inner(obj, Location::caller()),
            _not_send: PhantomData,
        }
    }

    /// Tries to lock without blocking; a success is recorded as a trylock.
    #[track_caller]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T, R>> {
        let site = Location::caller();
        let inner = self.inner.try_lock()?;
        let obj = self.acquire(None, true, site);
        Some(MutexGuard {
            obj,
            inner,
            _not_send: PhantomData,
        })
    }

    /// Mutable access without locking (the borrow proves exclusivity).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }
}

impl<T: Default, R: RawMutex> Default for Mutex<T, R> {
    #[track_caller]
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized + std::fmt::Debug, R: RawMutex> std::fmt::Debug for Mutex<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mutex").field("data", &&self.inner).finish()
    }
}

/// Guard of a [`Mutex`]; releases it (and tells the validator) on drop. Not `Send`: a lock
/// is released by the thread that took it (see ARCHITECTURE.md, open question 14).
#[must_use = "if unused the Mutex will immediately unlock"]
#[clippy::has_significant_drop]
pub struct MutexGuard<'a, T: ?Sized, R: RawMutex> {
    obj: Obj,
    inner: lock_api::MutexGuard<'a, R, T>,
    _not_send: PhantomData<*const ()>,
}

impl<T: ?Sized, R: RawMutex> Deref for MutexGuard<'_, T, R> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized, R: RawMutex> DerefMut for MutexGuard<'_, T, R> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: ?Sized, R: RawMutex> Drop for MutexGuard<'_, T, R> {
    fn drop(&mut self) {
        // The validator first, then the real unlock (the `inner` field drops after this).
        hooks::release(self.obj);
    }
}

impl<T: ?Sized + std::fmt::Debug, R: RawMutex> std::fmt::Debug for MutexGuard<'_, T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

/// A reader-writer lock that tells the validator about every acquisition before it blocks.
///
/// `read` is a non-recursive read (it queues behind a waiting writer, as parking_lot's and
/// std's do); `read_recursive` declares a recursive read: use it only with a raw lock whose
/// readers never wait for writers (e.g. `parking_lot::RawRwLockRecursive`).
pub struct RwLock<T: ?Sized, R: RawRwLock> {
    site: Site,
    meta: Meta,
    inner: lock_api::RwLock<R, T>,
}

impl<T, R: RawRwLock> RwLock<T, R> {
    /// A new lock whose class is its creation site.
    #[track_caller]
    pub const fn new(val: T) -> Self {
        RwLock {
            site: Site::caller(),
            meta: Meta::new(),
            inner: lock_api::RwLock::new(val),
        }
    }

    /// A new lock of a named class.
    pub const fn with_class(val: T, class: &'static LockClass) -> Self {
        RwLock {
            site: Site::named(class),
            meta: Meta::new(),
            inner: lock_api::RwLock::new(val),
        }
    }

    /// Consumes the lock and returns the data.
    pub fn into_inner(self) -> T {
        let RwLock { inner, .. } = self; // the lock's id is freed as the rest drops
        inner.into_inner()
    }
}

impl<T: ?Sized, R: RawRwLock> RwLock<T, R> {
    fn acquire(&self, mode: Mode, try_: bool, site: &'static Location<'static>) -> Obj {
        let obj = self.meta.get(self.site, ObjKind::RwLock);
        hooks::acquire(obj, self.site, mode, try_, None, None, site);
        obj
    }

    /// Shared lock (non-recursive: it queues behind waiting writers).
    #[track_caller]
    pub fn read(&self) -> RwLockReadGuard<'_, T, R> {
        self.read_as(Mode::Read, Location::caller())
    }

    /// Shared lock declared recursive (never queues behind writers while readers hold it).
    #[track_caller]
    pub fn read_recursive(&self) -> RwLockReadGuard<'_, T, R> {
        self.read_as(Mode::ReadRecursive, Location::caller())
    }

    /// A blocking shared acquire in `mode`, validated first.
    fn read_as(&self, mode: Mode, site: &'static Location<'static>) -> RwLockReadGuard<'_, T, R> {
        let obj = self.acquire(mode, false, site);
        RwLockReadGuard {
            obj,
            inner: hooks::blocking(
                || self.inner.try_read(),
                || self.inner.read(),
                self.site,
                "read",
                obj,
                site,
            ),
            _not_send: PhantomData,
        }
    }

    /// Exclusive lock.
    #[track_caller]
    pub fn write(&self) -> RwLockWriteGuard<'_, T, R> {
        let site = Location::caller();
        let obj = self.acquire(Mode::Write, false, site);
        RwLockWriteGuard {
            obj,
            inner: hooks::blocking(
                || self.inner.try_write(),
                || self.inner.write(),
                self.site,
                "write",
                obj,
                site,
            ),
            _not_send: PhantomData,
        }
    }

    /// Tries a shared lock without blocking.
    #[track_caller]
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T, R>> {
        let site = Location::caller();
        let inner = self.inner.try_read()?;
        let obj = self.acquire(Mode::Read, true, site);
        Some(RwLockReadGuard {
            obj,
            inner,
            _not_send: PhantomData,
        })
    }

    /// Tries an exclusive lock without blocking.
    #[track_caller]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T, R>> {
        let site = Location::caller();
        let inner = self.inner.try_write()?;
        let obj = self.acquire(Mode::Write, true, site);
        Some(RwLockWriteGuard {
            obj,
            inner,
            _not_send: PhantomData,
        })
    }

    /// Mutable access without locking.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }
}

impl<T: Default, R: RawRwLock> Default for RwLock<T, R> {
    #[track_caller]
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized + std::fmt::Debug, R: RawRwLock> std::fmt::Debug for RwLock<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RwLock")
            .field("data", &&self.inner)
            .finish()
    }
}

/// Shared guard of a [`RwLock`].
#[must_use = "if unused the RwLock will immediately unlock"]
#[clippy::has_significant_drop]
pub struct RwLockReadGuard<'a, T: ?Sized, R: RawRwLock> {
    obj: Obj,
    inner: lock_api::RwLockReadGuard<'a, R, T>,
    _not_send: PhantomData<*const ()>,
}

/// Exclusive guard of a [`RwLock`].
#[must_use = "if unused the RwLock will immediately unlock"]
#[clippy::has_significant_drop]
pub struct RwLockWriteGuard<'a, T: ?Sized, R: RawRwLock> {
    obj: Obj,
    inner: lock_api::RwLockWriteGuard<'a, R, T>,
    _not_send: PhantomData<*const ()>,
}

impl<T: ?Sized + std::fmt::Debug, R: RawRwLock> std::fmt::Debug for RwLockReadGuard<'_, T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + std::fmt::Debug, R: RawRwLock> std::fmt::Debug for RwLockWriteGuard<'_, T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized, R: RawRwLock> Deref for RwLockReadGuard<'_, T, R> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized, R: RawRwLock> Deref for RwLockWriteGuard<'_, T, R> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized, R: RawRwLock> DerefMut for RwLockWriteGuard<'_, T, R> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: ?Sized, R: RawRwLock> Drop for RwLockReadGuard<'_, T, R> {
    fn drop(&mut self) {
        hooks::release(self.obj);
    }
}

impl<T: ?Sized, R: RawRwLock> Drop for RwLockWriteGuard<'_, T, R> {
    fn drop(&mut self) {
        hooks::release(self.obj);
    }
}
