//! `std::thread::spawn` / `Builder` / `JoinHandle` that tell the validator about spawns and
//! joins: a join is a wait for the thread's exit, so joining while holding a lock the thread
//! takes is reported, and spawn and join order the threads' steps (happens-before).
//!
//! A spawned thread's class is its spawn site: threads spawned at one place are one class.

use std::io;
use std::panic::Location;

use lockdep_core::{Op, ThreadId};
use parking_lot::Mutex as PlMutex;

use crate::state;

/// `std::thread::JoinHandle`, validated.
#[derive(Debug)]
pub struct JoinHandle<T> {
    inner: std::thread::JoinHandle<T>,
    child: ThreadId,
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish (std's signature). Validated first, as a wait for the
    /// thread's exit, whether or not it blocks.
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        let site = Location::caller();
        announce_join(self.child, site);
        let _p = park_join(self.inner.thread(), site);
        self.inner.join()
    }

    /// The underlying thread.
    pub fn thread(&self) -> &std::thread::Thread {
        self.inner.thread()
    }

    /// The thread's id in the validator (`u32::MAX` when it was spawned unvalidated).
    pub(crate) fn validator_id(&self) -> ThreadId {
        self.child
    }

    /// Whether the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

/// `std::thread::Builder`, validated.
#[derive(Debug)]
pub struct Builder {
    inner: std::thread::Builder,
    name: Option<String>,
    /// The thread's class when not its spawn site (work queue workers: the queue's).
    class: Option<String>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// A builder with no name or stack size.
    pub fn new() -> Builder {
        Builder {
            inner: std::thread::Builder::new(),
            name: None,
            class: None,
        }
    }

    /// Names the thread (reports use the name).
    pub fn name(self, name: String) -> Builder {
        Builder {
            inner: self.inner.name(name.clone()),
            name: Some(name),
            class: self.class,
        }
    }

    /// Sets the stack size.
    pub fn stack_size(self, size: usize) -> Builder {
        Builder {
            inner: self.inner.stack_size(size),
            name: self.name,
            class: self.class,
        }
    }

    /// Gives the thread a class other than its spawn site.
    pub(crate) fn class(self, class: String) -> Builder {
        Builder {
            class: Some(class),
            ..self
        }
    }

    /// Spawns the thread (std's signature).
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let site = Location::caller();
        let Some((child, name, class)) = announce(site, self.name, self.class) else {
            let inner = self.inner.spawn(f)?;
            return Ok(JoinHandle {
                inner,
                child: ThreadId(u32::MAX),
            });
        };
        let inner = self.inner.spawn(move || {
            state::adopt_thread(child, &name, &class);
            f()
        })?;
        Ok(JoinHandle { inner, child })
    }
}

/// Tells the validator the calling thread spawns a thread (unless validation is off): the
/// child's reserved id, name and class (the spawn site unless given).
fn announce(
    site: &'static Location<'static>,
    name: Option<String>,
    class: Option<String>,
) -> Option<(ThreadId, String, String)> {
    if !crate::ENABLED || state::policy() == state::Policy::Off {
        return None;
    }
    let parent = state::current_thread();
    let child = state::reserve_thread();
    state::apply(
        Op::Spawn {
            thread: parent,
            child,
        },
        Some(site),
    );
    let class =
        class.unwrap_or_else(|| format!("{}:{}:{}", site.file(), site.line(), site.column()));
    let name = name.unwrap_or_else(|| format!("thread-{}", child.0));
    Some((child, name, class))
}

/// The validated join of `child` (a wait for its exit), unless it was spawned unvalidated.
fn announce_join(child: ThreadId, site: &'static Location<'static>) {
    if crate::ENABLED && child.0 != u32::MAX && state::policy() != state::Policy::Off {
        let t = state::current_thread();
        state::apply(Op::Join { thread: t, child }, Some(site));
    }
}

/// Spawns a thread (std's signature); its class is the spawn site.
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new().spawn(f).expect("failed to spawn thread")
}

/// Threads of live scopes not joined yet, by scope (the address of std's `Scope`): the scope
/// joins them when its closure returns, and that is validated too.
static UNJOINED: PlMutex<Vec<(usize, ThreadId)>> = PlMutex::new(Vec::new());

/// `std::thread::scope`, validated: spawns and joins are the validator's, and when `f`
/// returns, the implicit join of every thread not joined yet is validated (before it blocks)
/// like an explicit one.
#[track_caller]
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let site = Location::caller();
    std::thread::scope(|s| {
        let ours = Scope::from_std(s);
        /// Forgets the scope's threads whatever happens (the scope address may be reused).
        struct Forget(usize);
        impl Drop for Forget {
            fn drop(&mut self) {
                UNJOINED.lock().retain(|&(sc, _)| sc != self.0);
            }
        }
        let forget = Forget(ours.key());
        let r = f(ours);
        let rest: Vec<ThreadId> = UNJOINED
            .lock()
            .iter()
            .filter(|&&(sc, _)| sc == forget.0)
            .map(|&(_, t)| t)
            .collect();
        for child in rest {
            announce_join(child, site);
        }
        r
    })
}

/// `std::thread::Scope`, validated (see [`scope`]).
#[repr(transparent)]
pub struct Scope<'scope, 'env: 'scope> {
    inner: std::thread::Scope<'scope, 'env>,
}

impl std::fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope").finish_non_exhaustive()
    }
}

impl<'scope, 'env> Scope<'scope, 'env> {
    fn from_std<'a>(s: &'a std::thread::Scope<'scope, 'env>) -> &'a Scope<'scope, 'env> {
        // SAFETY: `Scope` is a `repr(transparent)` wrapper of std's, so the two references
        // have the same layout and validity; the lifetime is kept.
        unsafe { &*std::ptr::from_ref(s).cast::<Scope<'scope, 'env>>() }
    }

    fn key(&self) -> usize {
        std::ptr::from_ref(self).addr()
    }

    /// Spawns a scoped thread (std's signature); its class is the spawn site.
    #[track_caller]
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let site = Location::caller();
        let Some((child, name, class)) = announce(site, None, None) else {
            return ScopedJoinHandle {
                inner: self.inner.spawn(f),
                child: ThreadId(u32::MAX),
                scope: self.key(),
            };
        };
        UNJOINED.lock().push((self.key(), child));
        let inner = std::thread::Builder::new()
            .name(name.clone())
            .spawn_scoped(&self.inner, move || {
                state::adopt_thread(child, &name, &class);
                f()
            })
            .expect("failed to spawn thread");
        ScopedJoinHandle {
            inner,
            child,
            scope: self.key(),
        }
    }
}

/// `std::thread::ScopedJoinHandle`, validated.
#[derive(Debug)]
pub struct ScopedJoinHandle<'scope, T> {
    inner: std::thread::ScopedJoinHandle<'scope, T>,
    child: ThreadId,
    scope: usize,
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the thread to finish (std's signature), validated first as a wait for its
    /// exit.
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        UNJOINED
            .lock()
            .retain(|&(sc, t)| (sc, t) != (self.scope, self.child));
        let site = Location::caller();
        announce_join(self.child, site);
        let _p = park_join(self.inner.thread(), site);
        self.inner.join()
    }

    /// The underlying thread.
    pub fn thread(&self) -> &std::thread::Thread {
        self.inner.thread()
    }

    /// Whether the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

/// While the watchdog is on, a join is a parked wait for the thread's exit.
fn park_join(
    t: &std::thread::Thread,
    site: &'static Location<'static>,
) -> Option<crate::watchdog::ParkGuard> {
    crate::watchdog::on().then(|| {
        let name = t.name().unwrap_or("an unnamed thread");
        crate::watchdog::park(format!("thread {name} to exit"), None, site)
    })
}

pub use std::thread::{Thread, ThreadId as StdThreadId, current, park, sleep, yield_now};
