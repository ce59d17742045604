//! What the lock types tell the validator, compiled in or away.
//!
//! With `cfg(lockdep_enabled)` (see build.rs) these forward to the global validator; without
//! it, `Site`, `Meta` and `Obj` are zero-sized and every function is an empty inline one, so
//! the lock types have exactly the size and the cost of the locks they wrap.

#[cfg(lockdep_enabled)]
mod imp {
    use std::panic::Location;

    use lockdep_core::{Mode, ObjId, ObjKind, Op};

    pub(crate) use crate::class::Meta;
    use crate::class::{LockClass, register};
    use crate::state;

    /// An object id in the validator.
    pub(crate) type Obj = ObjId;

    /// A lock's class key: its creation site, or a named class's definition site.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Site(pub(crate) &'static Location<'static>);

    impl Site {
        #[track_caller]
        pub(crate) const fn caller() -> Site {
            Site(Location::caller())
        }
        pub(crate) fn named(class: &'static LockClass) -> Site {
            register(class);
            Site(class.site())
        }
    }

    impl Meta {
        /// The object id, declaring the object on first use.
        #[inline]
        pub(crate) fn get(&self, site: Site, kind: ObjKind) -> Obj {
            self.obj(site.0, kind)
        }
    }

    /// `class`: the lock's class key (what the fast path's chain keys are made of).
    #[inline]
    pub(crate) fn acquire(
        obj: Obj,
        class: Site,
        mode: Mode,
        try_: bool,
        subclass: Option<u8>,
        nest: Option<Obj>,
        site: &'static Location<'static>,
    ) {
        let class_key = std::ptr::from_ref(class.0) as usize;
        state::acquire(obj, class_key, mode, try_, subclass, nest, site);
    }

    #[inline]
    pub(crate) fn release(obj: Obj) {
        state::release(obj);
    }

    fn op(f: impl FnOnce(lockdep_core::ThreadId) -> Op, site: &'static Location<'static>) {
        if state::policy() == state::Policy::Off {
            return;
        }
        let t = state::current_thread();
        state::apply(f(t), Some(site));
    }

    pub(crate) fn might_acquire(obj: Obj, mode: Mode, site: &'static Location<'static>) {
        op(
            |thread| Op::MightAcquire {
                thread,
                lock: obj,
                mode,
            },
            site,
        );
    }

    pub(crate) fn cond_wait(
        condvar: Obj,
        mutex: Obj,
        timeout: bool,
        site: &'static Location<'static>,
    ) {
        op(
            |thread| Op::CondWait {
                thread,
                condvar,
                mutex,
                parked: true,
                timeout,
            },
            site,
        );
    }

    pub(crate) fn notify(condvar: Obj, all: bool, site: &'static Location<'static>) {
        op(
            |thread| Op::Notify {
                thread,
                condvar,
                all,
            },
            site,
        );
    }

    pub(crate) fn wait(event: Obj, parked: bool, timeout: bool, site: &'static Location<'static>) {
        op(
            |thread| Op::Wait {
                thread,
                event,
                parked,
                timeout,
            },
            site,
        );
    }

    pub(crate) fn signal(event: Obj, all: bool, site: &'static Location<'static>) {
        op(|thread| Op::Signal { thread, event, all }, site);
    }

    /// The thread is on the path to signalling `event` (it owes it) until `obligation_end`.
    pub(crate) fn obligation_begin(event: Obj, site: &'static Location<'static>) {
        op(|thread| Op::ObligationBegin { thread, event }, site);
    }

    pub(crate) fn obligation_end(event: Obj, site: &'static Location<'static>) {
        op(|thread| Op::ObligationEnd { thread, event }, site);
    }

    pub(crate) fn inc(counter: Obj, site: &'static Location<'static>) {
        op(|thread| Op::Inc { thread, counter }, site);
    }

    pub(crate) fn dec(counter: Obj, site: &'static Location<'static>) {
        op(|thread| Op::Dec { thread, counter }, site);
    }

    pub(crate) fn wait_zero(
        counter: Obj,
        parked: bool,
        timeout: bool,
        site: &'static Location<'static>,
    ) {
        op(
            |thread| Op::WaitZero {
                thread,
                counter,
                parked,
                timeout,
            },
            site,
        );
    }

    pub(crate) fn send(
        channel: Obj,
        parked: bool,
        timeout: bool,
        site: &'static Location<'static>,
    ) {
        op(
            |thread| Op::Send {
                thread,
                channel,
                parked,
                timeout,
            },
            site,
        );
    }

    pub(crate) fn recv(
        channel: Obj,
        parked: bool,
        timeout: bool,
        site: &'static Location<'static>,
    ) {
        op(
            |thread| Op::Recv {
                thread,
                channel,
                parked,
                timeout,
            },
            site,
        );
    }
}

#[cfg(not(lockdep_enabled))]
mod imp {
    use std::panic::Location;

    use lockdep_core::{Mode, ObjKind};

    use crate::class::LockClass;

    /// Nothing: validation is compiled away.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Obj;

    /// Nothing: validation is compiled away.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Site;

    impl Site {
        #[inline(always)]
        pub(crate) const fn caller() -> Site {
            Site
        }
        #[inline(always)]
        pub(crate) fn named(_: &'static LockClass) -> Site {
            Site
        }
    }

    /// Nothing: validation is compiled away.
    #[derive(Debug)]
    pub(crate) struct Meta;

    impl Meta {
        #[inline(always)]
        pub(crate) const fn new() -> Meta {
            Meta
        }
        #[inline(always)]
        pub(crate) fn get(&self, _: Site, _: ObjKind) -> Obj {
            Obj
        }
    }

    #[inline(always)]
    pub(crate) fn acquire(
        _: Obj,
        _: Site,
        _: Mode,
        _: bool,
        _: Option<u8>,
        _: Option<Obj>,
        _: &'static Location<'static>,
    ) {
    }

    #[inline(always)]
    pub(crate) fn release(_: Obj) {}

    #[inline(always)]
    pub(crate) fn might_acquire(_: Obj, _: Mode, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn cond_wait(_: Obj, _: Obj, _: bool, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn notify(_: Obj, _: bool, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn wait(_: Obj, _: bool, _: bool, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn signal(_: Obj, _: bool, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn inc(_: Obj, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn dec(_: Obj, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn wait_zero(_: Obj, _: bool, _: bool, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn send(_: Obj, _: bool, _: bool, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn recv(_: Obj, _: bool, _: bool, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn obligation_begin(_: Obj, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn obligation_end(_: Obj, _: &'static Location<'static>) {}
}

pub(crate) use imp::*;
