//! What the lock types tell the validator, compiled in or away.
//!
//! With `cfg(lockdep_enabled)` (see build.rs) these forward to the global validator; without
//! it, `Site`, `Meta` and `Obj` are zero-sized and every function is an empty inline one, so
//! the lock types have exactly the size and the cost of the locks they wrap.

#[cfg(lockdep_enabled)]
mod imp {
    use std::panic::Location;

    use lockdep_core::{FlushKind, Mode, NodeKind, ObjId, ObjKind, Op, Produce};

    use crate::class::LockClass;
    pub(crate) use crate::class::Meta;
    pub(crate) use crate::fast::SigCell;
    use crate::fast::{self, CellUse};
    use crate::state;

    /// An object id in the validator.
    pub(crate) type Obj = ObjId;

    /// A lock's class key: its creation site (`&'static Location`) or a named class (`&'static
    /// LockClass`, static or leaked), in one word so that a lock stays within 16 bytes of the
    /// lock it wraps. The address is the key; bit 0 tells which it is (both types are at
    /// least 2-aligned, checked below).
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Site(*const u8);

    // SAFETY: a `Site` points to immutable `'static` data (a `Location` or a `LockClass`),
    // which any thread may read.
    unsafe impl Send for Site {}
    // SAFETY: as above.
    unsafe impl Sync for Site {}

    const _: () = assert!(
        align_of::<Location<'static>>() >= 2 && align_of::<LockClass>() >= 2,
        "Site's tag bit needs both pointees 2-aligned"
    );

    /// What a [`Site`] names.
    pub(crate) enum ClassRef {
        Location(&'static Location<'static>),
        Named(&'static LockClass),
    }

    impl Site {
        #[track_caller]
        pub(crate) const fn caller() -> Site {
            Site(std::ptr::from_ref(Location::caller()).cast())
        }
        pub(crate) const fn named(class: &'static LockClass) -> Site {
            Site(std::ptr::from_ref(class).cast::<u8>().wrapping_add(1))
        }

        /// The class key (the fast path's chain keys are made of it).
        #[inline(always)]
        pub(crate) fn key(self) -> usize {
            self.0.addr()
        }

        pub(crate) fn get(self) -> ClassRef {
            if self.0.addr() & 1 == 0 {
                // SAFETY: an untagged `Site` is made only by `caller`, from a
                // `&'static Location`.
                ClassRef::Location(unsafe { &*self.0.cast::<Location<'static>>() })
            } else {
                // SAFETY: a tagged `Site` is made only by `named`, from a `&'static LockClass`
                // plus one byte (it is at least 2-aligned, so bit 0 was clear).
                ClassRef::Named(unsafe { &*self.0.wrapping_sub(1).cast::<LockClass>() })
            }
        }
    }

    impl Meta {
        /// The object id, declaring the object on first use.
        #[inline]
        pub(crate) fn get(&self, site: Site, kind: ObjKind) -> Obj {
            self.obj(site, kind)
        }

        /// [`get`](Meta::get) for a bounded object (`max_active` of a work queue).
        pub(crate) fn get_bounded(&self, site: Site, kind: ObjKind, capacity: u32) -> Obj {
            self.obj_bounded(site, kind, capacity)
        }
    }

    /// What a deferred item will produce when it runs.
    #[derive(Clone, Copy, Debug)]
    pub(crate) enum Produced {
        Signal(Obj),
        Dec(Obj),
    }

    /// Whether blocking points must register (the watchdog is on).
    #[inline(always)]
    pub(crate) fn watching() -> bool {
        crate::watchdog::on()
    }

    /// Registers the thread as parked on `what` until the guard drops (watchdog on only).
    pub(crate) fn park(
        what: impl FnOnce() -> String,
        obj: Option<Obj>,
        site: &'static Location<'static>,
    ) -> Option<crate::watchdog::ParkGuard> {
        crate::watchdog::on().then(|| crate::watchdog::park(what(), obj, site))
    }

    /// Takes a lock with `block` unless `attempt` gets it at once; while the watchdog is on, a
    /// thread that has to block is registered as parked on it (`class`, `mode`).
    #[inline(always)]
    pub(crate) fn blocking<G>(
        attempt: impl FnOnce() -> Option<G>,
        block: impl FnOnce() -> G,
        class: Site,
        mode: &'static str,
        obj: Obj,
        site: &'static Location<'static>,
    ) -> G {
        if !watching() {
            return block();
        }
        if let Some(g) = attempt() {
            return g;
        }
        let _p = park(
            || format!("lock {} ({mode})", class_name(class)),
            Some(obj),
            site,
        );
        block()
    }

    /// The class name of a site (for the watchdog's text).
    pub(crate) fn class_name(site: Site) -> String {
        crate::class::class_name(site)
    }

    pub(crate) fn defer(item: Obj, produces: &[Produced], site: &'static Location<'static>) {
        let produces: Box<[Produce]> = produces
            .iter()
            .map(|p| match *p {
                Produced::Signal(e) => Produce::Signal(e),
                Produced::Dec(c) => Produce::Dec(c),
            })
            .collect();
        op(
            |thread| Op::Defer {
                thread,
                item,
                produces,
            },
            site,
        );
    }

    pub(crate) fn flush_point(kind: FlushKind, site: &'static Location<'static>) {
        op(|thread| Op::FlushPoint { thread, kind }, site);
    }

    pub(crate) fn queue(work: Obj, queue: Obj, site: &'static Location<'static>) {
        op(
            |thread| Op::Queue {
                thread,
                work,
                queue,
            },
            site,
        );
    }

    pub(crate) fn run_begin(work: Obj, site: &'static Location<'static>) {
        op(|thread| Op::RunBegin { thread, work }, site);
    }

    pub(crate) fn run_end(work: Obj, site: &'static Location<'static>) {
        op(|thread| Op::RunEnd { thread, work }, site);
    }

    pub(crate) fn flush(work: Obj, site: &'static Location<'static>) {
        op(|thread| Op::Flush { thread, work }, site);
    }

    pub(crate) fn flush_queue(queue: Obj, site: &'static Location<'static>) {
        op(|thread| Op::FlushQueue { thread, queue }, site);
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
        state::acquire(obj, class.key(), mode, try_, subclass, nest, site);
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

    /// An event object as its fast path sees it: its id, its class and the cell of each node
    /// it signals (one, or a channel's `avail` then `space`).
    #[derive(Clone, Copy)]
    pub(crate) struct Ev<'a> {
        pub(crate) obj: Obj,
        pub(crate) class: Site,
        pub(crate) cells: &'a [SigCell],
    }

    impl Ev<'_> {
        fn cell(&self, i: usize, kind: NodeKind, signals: bool) -> CellUse<'_> {
            CellUse {
                cell: &self.cells[i],
                obj: self.obj,
                kind,
                signals,
                class_key: self.class.key(),
            }
        }
    }

    /// A slow op on an event object: its cells are brought up to date with the engine.
    fn ev_op(
        f: impl FnOnce(lockdep_core::ThreadId) -> Op,
        cells: &[CellUse<'_>],
        site: &'static Location<'static>,
    ) {
        if state::policy() == state::Policy::Off {
            return;
        }
        let t = state::current_thread();
        state::apply_on_cells(f(t), Some(site), cells);
    }

    /// A signal of node `kind` (cell 0): skipped when the fast path may, else `f`'s op goes to
    /// the engine.
    fn signal_op(
        e: Ev<'_>,
        kind: NodeKind,
        f: impl FnOnce(lockdep_core::ThreadId) -> Op,
        site: &'static Location<'static>,
    ) {
        if !fast::try_signal(&e.cells[0], e.class.key(), kind) {
            ev_op(f, &[e.cell(0, kind, true)], site);
        }
    }

    /// A wait for node `kind` (cell 0): one that did not park on the thread's own signal is
    /// skipped, else `f`'s op goes to the engine.
    fn wait_op(
        e: Ev<'_>,
        kind: NodeKind,
        parked: bool,
        f: impl FnOnce(lockdep_core::ThreadId) -> Op,
        site: &'static Location<'static>,
    ) {
        if parked || !fast::try_observe(&e.cells[0]) {
            ev_op(f, &[e.cell(0, kind, false)], site);
        }
    }

    /// A completion's wait.
    pub(crate) fn ev_wait(
        e: Ev<'_>,
        parked: bool,
        timeout: bool,
        site: &'static Location<'static>,
    ) {
        let event = e.obj;
        let op = move |thread| Op::Wait {
            thread,
            event,
            parked,
            timeout,
        };
        wait_op(e, NodeKind::Done, parked, op, site);
    }

    pub(crate) fn ev_signal(e: Ev<'_>, all: bool, site: &'static Location<'static>) {
        let event = e.obj;
        signal_op(
            e,
            NodeKind::Done,
            move |thread| Op::Signal { thread, event, all },
            site,
        );
    }

    pub(crate) fn cond_wait(
        e: Ev<'_>,
        mutex: Obj,
        timeout: bool,
        site: &'static Location<'static>,
    ) {
        let condvar = e.obj;
        ev_op(
            |thread| Op::CondWait {
                thread,
                condvar,
                mutex,
                parked: true,
                timeout,
            },
            &[e.cell(0, NodeKind::Notified, false)],
            site,
        );
    }

    pub(crate) fn notify(e: Ev<'_>, all: bool, site: &'static Location<'static>) {
        let condvar = e.obj;
        let op = move |thread| Op::Notify {
            thread,
            condvar,
            all,
        };
        signal_op(e, NodeKind::Notified, op, site);
    }

    /// A counter's `inc` changes nothing once the engine knows the counter.
    pub(crate) fn inc(e: Ev<'_>, site: &'static Location<'static>) {
        if fast::try_known(&e.cells[0]) {
            return;
        }
        let counter = e.obj;
        ev_op(
            |thread| Op::Inc { thread, counter },
            &[e.cell(0, NodeKind::Zero, false)],
            site,
        );
    }

    pub(crate) fn dec(e: Ev<'_>, site: &'static Location<'static>) {
        let counter = e.obj;
        signal_op(
            e,
            NodeKind::Zero,
            move |thread| Op::Dec { thread, counter },
            site,
        );
    }

    pub(crate) fn wait_zero(
        e: Ev<'_>,
        parked: bool,
        timeout: bool,
        site: &'static Location<'static>,
    ) {
        let counter = e.obj;
        let op = move |thread| Op::WaitZero {
            thread,
            counter,
            parked,
            timeout,
        };
        wait_op(e, NodeKind::Zero, parked, op, site);
    }

    /// A channel send signals `avail` (cell 0); a parked one first waits for `space`.
    pub(crate) fn send(e: Ev<'_>, parked: bool, timeout: bool, site: &'static Location<'static>) {
        if !parked && fast::try_signal(&e.cells[0], e.class.key(), NodeKind::Avail) {
            return;
        }
        let channel = e.obj;
        ev_op(
            |thread| Op::Send {
                thread,
                channel,
                parked,
                timeout,
            },
            &[
                e.cell(0, NodeKind::Avail, true),
                e.cell(1, NodeKind::Space, false),
            ],
            site,
        );
    }

    /// A channel receive observes (or waits for) `avail` and signals `space` (cell 1).
    pub(crate) fn recv(e: Ev<'_>, parked: bool, timeout: bool, site: &'static Location<'static>) {
        if !parked
            && fast::try_observe_signal(&e.cells[0], &e.cells[1], e.class.key(), NodeKind::Space)
        {
            return;
        }
        let channel = e.obj;
        ev_op(
            |thread| Op::Recv {
                thread,
                channel,
                parked,
                timeout,
            },
            &[
                e.cell(0, NodeKind::Avail, false),
                e.cell(1, NodeKind::Space, true),
            ],
            site,
        );
    }
}

#[cfg(not(lockdep_enabled))]
mod imp {
    use std::panic::Location;

    use lockdep_core::{FlushKind, Mode, ObjKind};

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
        pub(crate) const fn named(_: &'static LockClass) -> Site {
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
        #[inline(always)]
        pub(crate) fn get_bounded(&self, _: Site, _: ObjKind, _: u32) -> Obj {
            Obj
        }
    }

    /// Nothing: validation is compiled away.
    #[derive(Clone, Copy, Debug)]
    pub(crate) enum Produced {
        Signal(Obj),
        Dec(Obj),
    }

    #[inline(always)]
    pub(crate) fn watching() -> bool {
        false
    }

    #[inline(always)]
    pub(crate) fn park(
        _: impl FnOnce() -> String,
        _: Option<Obj>,
        _: &'static Location<'static>,
    ) -> Option<()> {
        None
    }

    #[inline(always)]
    pub(crate) fn class_name(_: Site) -> String {
        String::new()
    }

    #[inline(always)]
    pub(crate) fn blocking<G>(
        _: impl FnOnce() -> Option<G>,
        block: impl FnOnce() -> G,
        _: Site,
        _: &'static str,
        _: Obj,
        _: &'static Location<'static>,
    ) -> G {
        block()
    }

    #[inline(always)]
    pub(crate) fn defer(_: Obj, _: &[Produced], _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn flush_point(_: FlushKind, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn queue(_: Obj, _: Obj, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn run_begin(_: Obj, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn run_end(_: Obj, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn flush(_: Obj, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn flush_queue(_: Obj, _: &'static Location<'static>) {}

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

    /// Nothing: validation is compiled away.
    #[derive(Debug, Default)]
    pub(crate) struct SigCell;

    impl SigCell {
        #[inline(always)]
        pub(crate) const fn new() -> SigCell {
            SigCell
        }
    }

    /// Nothing: validation is compiled away.
    #[derive(Clone, Copy)]
    pub(crate) struct Ev<'a> {
        pub(crate) obj: Obj,
        pub(crate) class: Site,
        pub(crate) cells: &'a [SigCell],
    }

    #[inline(always)]
    pub(crate) fn cond_wait(_: Ev<'_>, _: Obj, _: bool, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn notify(_: Ev<'_>, _: bool, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn wait(_: Obj, _: bool, _: bool, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn signal(_: Obj, _: bool, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn ev_wait(_: Ev<'_>, _: bool, _: bool, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn ev_signal(_: Ev<'_>, _: bool, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn inc(_: Ev<'_>, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn dec(_: Ev<'_>, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn wait_zero(_: Ev<'_>, _: bool, _: bool, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn send(_: Ev<'_>, _: bool, _: bool, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn recv(_: Ev<'_>, _: bool, _: bool, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn obligation_begin(_: Obj, _: &'static Location<'static>) {}

    #[inline(always)]
    pub(crate) fn obligation_end(_: Obj, _: &'static Location<'static>) {}
}

pub(crate) use imp::*;
