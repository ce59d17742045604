//! `Once`, `OnceLock` and `LazyLock` with std's signatures, validated as events: the thread
//! running an initializer owes the cell until it is done, and a thread that finds another's
//! initializer running waits for it. So "thread A holds `L` and waits for the cell while the
//! initializer takes `L`" is reported, and so is an initializer that re-enters its own cell.
//!
//! The value and the poisoning rules are std's own (each type wraps its std counterpart); the
//! wrapper only decides who initializes, so the validator knows who waits for whom.

use std::fmt;
use std::ops::Deref;
use std::panic::Location;
use std::sync::OnceState;
use std::thread::{self, ThreadId};

use lockdep_core::ObjKind;
use parking_lot::{Condvar as PlCondvar, Mutex as PlMutex};

use crate::hooks::{self, Meta, Site};

/// Who initializes a cell: at most one thread at a time, the others wait on `cv`.
struct InitGate {
    site: Site,
    meta: Meta,
    running: PlMutex<Option<ThreadId>>,
    cv: PlCondvar,
}

/// The initializer's turn; dropping it (also by unwinding) lets waiters re-check the cell.
struct Turn<'a> {
    gate: &'a InitGate,
    site: &'static Location<'static>,
    done: bool,
}

impl InitGate {
    const fn new(site: Site) -> InitGate {
        InitGate {
            site,
            meta: Meta::new(),
            running: PlMutex::new(None),
            cv: PlCondvar::new(),
        }
    }

    fn obj(&self) -> hooks::Obj {
        self.meta.get(self.site, ObjKind::Completion)
    }

    /// `None` when `is_done` (checked under the gate); otherwise the caller's turn to
    /// initialize, after waiting for any other thread's initializer.
    fn turn(
        &self,
        is_done: impl Fn() -> bool,
        site: &'static Location<'static>,
    ) -> Option<Turn<'_>> {
        let me = thread::current().id();
        let mut running = self.running.lock();
        let mut waited = false;
        loop {
            if is_done() {
                return None;
            }
            match *running {
                None => break,
                Some(owner) => {
                    if !waited {
                        hooks::wait(self.obj(), true, false, site);
                        waited = true;
                    }
                    if owner == me {
                        drop(running);
                        panic!("lockdep: a once-cell's initializer re-entered its own cell");
                    }
                    self.cv.wait(&mut running);
                }
            }
        }
        *running = Some(me);
        drop(running);
        hooks::obligation_begin(self.obj(), site);
        Some(Turn {
            gate: self,
            site,
            done: false,
        })
    }

    /// Blocks until `is_done` (a wait when it is not done yet).
    fn wait(&self, is_done: impl Fn() -> bool, site: &'static Location<'static>) {
        let mut running = self.running.lock();
        if is_done() {
            return;
        }
        hooks::wait(self.obj(), true, false, site);
        while !is_done() {
            self.cv.wait(&mut running);
        }
    }
}

impl Turn<'_> {
    /// The cell is initialized: waiters are woken by this thread.
    fn finish(mut self) {
        self.done = true;
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let gate = self.gate;
        if self.done {
            hooks::signal(gate.obj(), true, self.site);
        }
        hooks::obligation_end(gate.obj(), self.site);
        *gate.running.lock() = None;
        gate.cv.notify_all();
    }
}

impl fmt::Debug for InitGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InitGate")
    }
}

/// std's `Once`, validated: see the module docs.
pub struct Once {
    inner: std::sync::Once,
    gate: InitGate,
}

impl Once {
    /// A new `Once` whose class is its creation site.
    #[track_caller]
    #[allow(clippy::new_without_default)] // std's `Once` has no `Default` either
    pub const fn new() -> Once {
        Once {
            inner: std::sync::Once::new(),
            gate: InitGate::new(Site::caller()),
        }
    }

    /// Runs `f` once; other callers wait until it has run. Panics if `f` panicked before
    /// (the `Once` is poisoned), as std's does.
    #[track_caller]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        self.run(|once| once.call_once(f));
    }

    /// Like `call_once`, but also runs on a poisoned `Once`.
    #[track_caller]
    pub fn call_once_force<F: FnOnce(&OnceState)>(&self, f: F) {
        self.run(|once| once.call_once_force(f));
    }

    /// Calls `call` on the inner `Once` if this thread gets the turn to initialize.
    #[track_caller]
    fn run(&self, call: impl FnOnce(&std::sync::Once)) {
        if self.inner.is_completed() {
            return;
        }
        if let Some(turn) = self
            .gate
            .turn(|| self.inner.is_completed(), Location::caller())
        {
            call(&self.inner);
            turn.finish();
        }
    }

    /// True once a `call_once` has completed.
    pub fn is_completed(&self) -> bool {
        self.inner.is_completed()
    }

    /// Blocks until a `call_once` has completed.
    #[track_caller]
    pub fn wait(&self) {
        self.gate
            .wait(|| self.inner.is_completed(), Location::caller());
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once").finish_non_exhaustive()
    }
}

/// std's `OnceLock`, validated: see the module docs.
pub struct OnceLock<T> {
    inner: std::sync::OnceLock<T>,
    gate: InitGate,
}

impl<T> OnceLock<T> {
    /// An empty cell whose class is its creation site.
    #[track_caller]
    pub const fn new() -> OnceLock<T> {
        OnceLock {
            inner: std::sync::OnceLock::new(),
            gate: InitGate::new(Site::caller()),
        }
    }

    /// The value, if initialized.
    pub fn get(&self) -> Option<&T> {
        self.inner.get()
    }

    /// The value, if initialized.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.inner.get_mut()
    }

    /// Blocks until the cell is initialized.
    #[track_caller]
    pub fn wait(&self) -> &T {
        self.gate
            .wait(|| self.inner.get().is_some(), Location::caller());
        self.inner.get().expect("initialized: waited for it")
    }

    /// Initializes the cell with `value`; `Err(value)` if it was already initialized.
    #[track_caller]
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("an initializer runs once"));
        match value {
            None => Ok(()),
            Some(v) => Err(v),
        }
    }

    /// The value, initialized with `f` by the first caller; the others wait for it.
    #[track_caller]
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        if let Some(v) = self.inner.get() {
            return v;
        }
        if let Some(turn) = self
            .gate
            .turn(|| self.inner.get().is_some(), Location::caller())
        {
            let v = self.inner.get_or_init(f);
            turn.finish();
            return v;
        }
        self.inner.get().expect("initialized: done")
    }

    /// The value, if initialized.
    pub fn into_inner(self) -> Option<T> {
        self.inner.into_inner()
    }

    /// Takes the value out, leaving the cell empty.
    pub fn take(&mut self) -> Option<T> {
        self.inner.take()
    }
}

impl<T> Default for OnceLock<T> {
    #[track_caller]
    fn default() -> OnceLock<T> {
        OnceLock::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("OnceLock");
        match self.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}

impl<T: Clone> Clone for OnceLock<T> {
    #[track_caller]
    fn clone(&self) -> OnceLock<T> {
        let cell = OnceLock::new();
        if let Some(v) = self.get() {
            let _ = cell.inner.set(v.clone());
        }
        cell
    }
}

impl<T> From<T> for OnceLock<T> {
    #[track_caller]
    fn from(value: T) -> OnceLock<T> {
        let cell = OnceLock::new();
        let _ = cell.inner.set(value);
        cell
    }
}

impl<T: PartialEq> PartialEq for OnceLock<T> {
    fn eq(&self, other: &OnceLock<T>) -> bool {
        self.get() == other.get()
    }
}

impl<T: Eq> Eq for OnceLock<T> {}

/// std's `LazyLock`, validated like [`OnceLock`].
pub struct LazyLock<T, F = fn() -> T> {
    cell: OnceLock<T>,
    init: PlMutex<Option<F>>,
}

impl<T, F: FnOnce() -> T> LazyLock<T, F> {
    /// A lazy value computed by `f` on first use; its class is the creation site.
    #[track_caller]
    pub const fn new(f: F) -> LazyLock<T, F> {
        LazyLock {
            cell: OnceLock::new(),
            init: PlMutex::new(Some(f)),
        }
    }

    /// Computes the value if needed and returns it. Panics if the initializer panicked
    /// before (poisoned), as std's does.
    #[track_caller]
    pub fn force(this: &LazyLock<T, F>) -> &T {
        this.cell.get_or_init(|| {
            // Taken out first: the initializer must not run under `init`'s lock.
            let f = this.init.lock().take();
            match f {
                Some(f) => f(),
                None => panic!("LazyLock instance has previously been poisoned"),
            }
        })
    }
}

impl<T, F: FnOnce() -> T> Deref for LazyLock<T, F> {
    type Target = T;

    #[track_caller]
    fn deref(&self) -> &T {
        LazyLock::force(self)
    }
}

impl<T: Default> Default for LazyLock<T> {
    #[track_caller]
    fn default() -> LazyLock<T> {
        LazyLock::new(T::default)
    }
}

impl<T: fmt::Debug, F> fmt::Debug for LazyLock<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("LazyLock");
        match self.cell.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}
