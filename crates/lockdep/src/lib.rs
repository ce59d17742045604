//! # lockdep
//!
//! Drop-in `Mutex` and `RwLock` (parking_lot's API; [`generic`] for any `lock_api` raw lock)
//! that report *potential* deadlocks from runs that did not
//! hang, with Linux lockdep's rules: lock-order inversions of any length (including reader /
//! writer subtleties), recursive locking, and more (see the workspace README).
//!
//! ```
//! use lockdep::Mutex;
//! let (a, b) = (Mutex::new(0), Mutex::new(0));
//! let (_, reports) = lockdep::capture(|| {
//!     { let _ga = a.lock(); let _gb = b.lock(); }
//!     { let _gb = b.lock(); let _ga = a.lock(); } // the other order: a potential deadlock
//! });
//! if lockdep::ENABLED { // (a release build compiles validation away)
//!     assert_eq!(reports[0].kind, lockdep::Kind::Circular);
//! }
//! ```
//!
//! ## Policy
//! A report is printed to stderr once and the program goes on ([`Policy::Warn`], lockdep's
//! way). `LOCKDEP=panic` (or [`set_policy`]) panics instead, before the thread would block;
//! `LOCKDEP=off` validates nothing. [`set_handler`] adds a callback; [`capture`] collects the
//! reports a closure raised (for tests).
//!
//! ## Compiled away
//! Validation is compiled in when debug assertions are on (debug builds, tests) or with the
//! feature `always`; `RUSTFLAGS="--cfg lockdep_off"` compiles it away everywhere. Compiled
//! away, the types keep their API and have exactly the size and alignment of the locks they
//! wrap (statically asserted), and every annotation is an empty inline function.
//!
//! ## Recording
//! `LOCKDEP_TRACE=path` (or [`record_to`]) writes what the primitives saw as a trace (JSON
//! Lines, format v1); `lockdep check path` replays it to the same report signatures.
//!
//! ## Classes
//! Every lock created at one source location is one class (`#[track_caller]`), so a bug seen
//! on two instances is held against all of them. [`Mutex::with_class`] and [`class!`] name a
//! class explicitly, and [`LockClass::leak`] makes one at run time; [`Mutex::lock_nested`] and [`Mutex::lock_nest`] annotate legitimate
//! nesting of one class.
//!
//! ## Beyond locks
//! Waits for events are validated too: [`thread`] spawns and joins (and `scope`),
//! [`Completion`], [`WaitGroup`], [`sync::Condvar`], [`mpsc`] channels, [`workqueue`] flushes,
//! per-thread [`deferred`] work, and [`context`]s that must not block. [`watchdog`] reports an
//! actual hang with every thread's locks and waits.
#![warn(missing_docs)]
// With validation compiled away, the validator's own modules are still built (the public
// functions such as `capture` keep working, reporting nothing) but the lock types do not use
// them.
#![cfg_attr(not(lockdep_enabled), allow(dead_code, unused_imports))]

mod class;
pub mod context;
pub mod deferred;
mod event;
mod fast;
mod hooks;
mod lock;
pub mod mpsc;
#[cfg(lockdep_enabled)]
mod once;
mod proto;
pub mod raw;
mod stack;
mod state;
mod summary;
pub mod sync;
pub mod thread;
pub mod watchdog;
pub mod workqueue;

pub use class::{ClassKey, LockClass};
pub use event::{Completion, WaitGroup};

/// Whether validation is compiled into this build (see "Compiled away").
pub const ENABLED: bool = cfg!(lockdep_enabled);

/// The lock types generic over any `lock_api` raw lock (`R`): wrap your own `RawMutex` or
/// `RawRwLock` (a spin lock, a futex) and it is validated like the defaults.
pub mod generic {
    pub use crate::lock::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
}

/// A validated mutex over parking_lot's raw mutex.
pub type Mutex<T> = generic::Mutex<T, parking_lot::RawMutex>;
/// Guard of [`Mutex`].
pub type MutexGuard<'a, T> = generic::MutexGuard<'a, T, parking_lot::RawMutex>;
/// A validated reader-writer lock over parking_lot's raw rwlock.
pub type RwLock<T> = generic::RwLock<T, parking_lot::RawRwLock>;
/// Shared guard of [`RwLock`].
pub type RwLockReadGuard<'a, T> = generic::RwLockReadGuard<'a, T, parking_lot::RawRwLock>;
/// Exclusive guard of [`RwLock`].
pub type RwLockWriteGuard<'a, T> = generic::RwLockWriteGuard<'a, T, parking_lot::RawRwLock>;
pub use fast::slow_ops;
pub use lockdep_core::{EdgeReport, HeldReport, Kind, Report, Severity, render_text};
pub use state::{Policy, capture, policy, record_to, set_handler, set_policy, with_policy};

// Compiled away, the types are exactly the locks they wrap (size and alignment).
#[cfg(not(lockdep_enabled))]
const _: () = {
    use std::mem::{align_of, size_of};
    assert!(size_of::<Mutex<()>>() == size_of::<parking_lot::Mutex<()>>());
    assert!(align_of::<Mutex<()>>() == align_of::<parking_lot::Mutex<()>>());
    assert!(size_of::<Mutex<u64>>() == size_of::<parking_lot::Mutex<u64>>());
    assert!(align_of::<Mutex<u64>>() == align_of::<parking_lot::Mutex<u64>>());
    assert!(size_of::<RwLock<[u8; 3]>>() == size_of::<parking_lot::RwLock<[u8; 3]>>());
    assert!(align_of::<RwLock<[u8; 3]>>() == align_of::<parking_lot::RwLock<[u8; 3]>>());
    assert!(
        size_of::<MutexGuard<'static, u64>>() == size_of::<parking_lot::MutexGuard<'static, u64>>()
    );
    assert!(size_of::<sync::Mutex<u64>>() == size_of::<std::sync::Mutex<u64>>());
    assert!(align_of::<sync::Mutex<u64>>() == align_of::<std::sync::Mutex<u64>>());
    assert!(size_of::<sync::RwLock<u64>>() == size_of::<std::sync::RwLock<u64>>());
    assert!(size_of::<sync::Condvar>() == size_of::<std::sync::Condvar>());
    assert!(size_of::<raw::RawLock>() == 0);
};
