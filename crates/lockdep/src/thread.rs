//! `std::thread::spawn` / `Builder` / `JoinHandle` that tell the validator about spawns and
//! joins: a join is a wait for the thread's exit, so joining while holding a lock the thread
//! takes is reported, and spawn and join order the threads' steps (happens-before).
//!
//! A spawned thread's class is its spawn site: threads spawned at one place are one class.

use std::io;
use std::panic::Location;

use lockdep_core::{Op, ThreadId};

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
        if crate::ENABLED && state::policy() != state::Policy::Off {
            let t = state::current_thread();
            state::apply(
                Op::Join {
                    thread: t,
                    child: self.child,
                },
                Some(Location::caller()),
            );
        }
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

/// `std::thread::Builder`, validated.
#[derive(Debug)]
pub struct Builder {
    inner: std::thread::Builder,
    name: Option<String>,
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
        }
    }

    /// Names the thread (reports use the name).
    pub fn name(self, name: String) -> Builder {
        Builder {
            inner: self.inner.name(name.clone()),
            name: Some(name),
        }
    }

    /// Sets the stack size.
    pub fn stack_size(self, size: usize) -> Builder {
        Builder {
            inner: self.inner.stack_size(size),
            name: self.name,
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
        if !crate::ENABLED || state::policy() == state::Policy::Off {
            let inner = self.inner.spawn(f)?;
            return Ok(JoinHandle {
                inner,
                child: ThreadId(u32::MAX),
            });
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
        let class = format!("{}:{}:{}", site.file(), site.line(), site.column());
        let name = self.name.unwrap_or_else(|| format!("thread-{}", child.0));
        let inner = self.inner.spawn(move || {
            state::adopt_thread(child, &name, &class);
            f()
        })?;
        Ok(JoinHandle { inner, child })
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

pub use std::thread::{Thread, ThreadId as StdThreadId, current, park, sleep, yield_now};
