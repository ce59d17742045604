//! Execution contexts, for code whose rules are not those of a plain thread: sections that
//! must not block (`atomic`: a spin lock held, an async poll, a real-time callback),
//! interrupt-like handlers (`hardirq`, `softirq`: a signal handler, an embedded interrupt
//! routine, a callback run on top of whatever the thread was doing), the interrupt-enable state
//! lockdep's irq-safety rules read, and loop `boundary`s (one iteration of a service loop: the
//! signaller's window restarts there).
//!
//! Blocking inside `hardirq`, `softirq` or `atomic` (a sleeping lock, a wait, a join, a
//! [`might_sleep`]) is reported as `invalid_context`; a lock taken both inside an interrupt
//! context and elsewhere with that interrupt enabled is `inconsistent_state`.
//!
//! ```
//! use lockdep::{Mutex, context};
//! let data = Mutex::new(0);
//! // An "interrupt handler" taking a sleeping lock: reported, as lockdep would.
//! let ((), reports) = lockdep::capture(|| context::hardirq(|| *data.lock() += 1));
//! if lockdep::ENABLED {
//!     assert_eq!(reports[0].kind, lockdep::Kind::InvalidContext);
//! }
//! ```

use std::marker::PhantomData;
use std::panic::Location;

use lockdep_core::{Context, Op, ThreadId};

use crate::state;

/// Applies a thread op unless validation is compiled away or off.
fn thread_op(f: impl FnOnce(ThreadId) -> Op, site: &'static Location<'static>) {
    if crate::ENABLED && state::policy() != state::Policy::Off {
        let t = state::current_thread();
        state::apply(f(t), Some(site));
    }
}

/// A context entered on this thread; leaving it when dropped (also on unwinding). Not `Send`:
/// contexts belong to the thread that entered them.
#[must_use = "the context is left when the guard is dropped"]
#[derive(Debug)]
pub struct ContextGuard {
    ctx: Context,
    site: &'static Location<'static>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let ctx = self.ctx;
        thread_op(|thread| Op::Leave { thread, ctx }, self.site);
    }
}

#[track_caller]
fn enter(ctx: Context) -> ContextGuard {
    let site = Location::caller();
    thread_op(|thread| Op::Enter { thread, ctx }, site);
    ContextGuard {
        ctx,
        site,
        _not_send: PhantomData,
    }
}

/// Enters an atomic section (the thread must not block in it) until the guard drops.
#[track_caller]
pub fn enter_atomic() -> ContextGuard {
    enter(Context::Atomic)
}

/// Enters a hard-interrupt-like context (runs on top of the thread; both irq kinds count as
/// disabled in it) until the guard drops.
#[track_caller]
pub fn enter_hardirq() -> ContextGuard {
    enter(Context::Hardirq)
}

/// Enters a soft-interrupt-like context until the guard drops.
#[track_caller]
pub fn enter_softirq() -> ContextGuard {
    enter(Context::Softirq)
}

/// Starts one iteration of a service loop (or one handler run) until the guard drops.
#[track_caller]
pub fn enter_boundary() -> ContextGuard {
    enter(Context::Boundary)
}

/// Runs `f` in an atomic section: blocking in it is reported.
#[track_caller]
pub fn atomic<R>(f: impl FnOnce() -> R) -> R {
    let _g = enter_atomic();
    f()
}

/// Runs `f` as a hard-interrupt handler.
#[track_caller]
pub fn hardirq<R>(f: impl FnOnce() -> R) -> R {
    let _g = enter_hardirq();
    f()
}

/// Runs `f` as a soft-interrupt handler.
#[track_caller]
pub fn softirq<R>(f: impl FnOnce() -> R) -> R {
    let _g = enter_softirq();
    f()
}

/// Runs `f` as one iteration of a service loop: the validator's windows for events restart
/// at each iteration, as a loop's state does.
#[track_caller]
pub fn boundary<R>(f: impl FnOnce() -> R) -> R {
    let _g = enter_boundary();
    f()
}

/// Declares that the code here may block: reported if the thread is in an atomic or
/// interrupt context, even if this run did not block.
#[track_caller]
pub fn might_sleep() {
    thread_op(|thread| Op::MightSleep { thread }, Location::caller());
}

/// Hard interrupts off on this thread (`local_irq_disable`).
#[track_caller]
pub fn irq_disable() {
    thread_op(|thread| Op::IrqDisable { thread }, Location::caller());
}

/// Hard interrupts on again (`local_irq_enable`).
#[track_caller]
pub fn irq_enable() {
    thread_op(|thread| Op::IrqEnable { thread }, Location::caller());
}

/// Soft interrupts off (nests, `local_bh_disable`).
#[track_caller]
pub fn softirq_disable() {
    thread_op(|thread| Op::SoftirqDisable { thread }, Location::caller());
}

/// Soft interrupts on (`local_bh_enable`).
#[track_caller]
pub fn softirq_enable() {
    thread_op(|thread| Op::SoftirqEnable { thread }, Location::caller());
}
