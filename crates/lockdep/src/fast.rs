//! The known-chain fast path: no global lock, no write to memory another thread uses.
//!
//! Each thread keeps a mirror of the locks it holds, each with a chain key in this module's
//! own key space, and a small cache of the keys whose acquisition the engine has validated
//! (gate-free chains only). An acquire whose chain is in the cache is not sent to the engine
//! at once: it is pushed on the mirror as *pending*. If it is released first (the common
//! case) the pair never reaches the engine, which is exactly what the engine would have done
//! with it: a known chain adds nothing to the graph. Otherwise the thread's next slow op
//! (any op that takes the global lock) first hands the engine its pending acquires, in
//! order, so the engine's view of the held stack is exact whenever it validates anything.
//!
//! Why delaying them is exact: the engine orders a thread's steps against other threads only
//! through that thread's own synchronizing ops (spawn, join, signal, wait, ...), which are
//! slow ops, so a pending acquire handed over at the next slow op keeps its place in the
//! happens-before order. What else could make a cached chain stale is re-checked before every
//! fast acquire: the engine's token for the thread (its chain-key base, signal window and
//! context: [`Engine::fast_token`]), and one process-wide word, [`GATE`], that changes when
//! another thread changes this one's keys ([`Engine::foreign_rekeys`]), when recording starts
//! (every op must reach the trace) or when the process-wide policy turns `Off`; and a wait the
//! engine still thinks parked or a thread policy changed (the next op goes the slow way).
//!
//! A key here is a hash of the thread's token and, per held lock, its class key (creation
//! site or named class), mode, subclass, trylock flag and whether it was taken in a plain
//! context: that determines the engine's chain key for the same situation, so a hit here
//! means the engine's own cache would hit too.

use std::cell::{Cell, UnsafeCell};
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};

use lockdep_core::{Engine, KnownChain, Mode, NodeKind, ObjId, ThreadId, mix};

use crate::proto::{cell, gate};

/// What every fast acquire compares with its thread's copy, so that one load covers all the
/// process-wide reasons to go the slow way: bit 0 is set while a trace is being recorded
/// (every op must then reach the engine in order), bit 1 while the process-wide policy is
/// `Off`, and the other bits are the engine's [`Engine::foreign_rekeys`], published after
/// every slow op.
static GATE: AtomicU64 = AtomicU64::new(0);
/// [`GATE`]'s recording bit.
pub(crate) const GATE_RECORDING: u64 = 1;
/// [`GATE`]'s policy-off bit.
pub(crate) const GATE_OFF: u64 = 2;
/// A thread's copy of [`GATE`] that matches nothing: its fast path is off.
const GATE_NONE: u64 = u64::MAX;
/// Bumped whenever a lock object is dropped: its id may then name another object, so chains
/// cached for the objects held (gated ones) are stale.
pub(crate) static FREES: AtomicU64 = AtomicU64::new(0);
/// Slow ops (global-lock acquisitions), for tests and benchmarks: the known-chain path must
/// leave it unchanged.
pub(crate) static SLOW_OPS: AtomicU64 = AtomicU64::new(0);

const SLOTS: usize = 2048;

/// A lock the thread holds, as the fast path sees it.
#[derive(Clone, Copy, Debug)]
struct Hold {
    obj: ObjId,
    /// What determines the engine's chain-key step for this hold (see the module docs).
    ident: u64,
    /// Chain key of the held stack up to and including this hold.
    key: u64,
    /// Sum of [`objs_with`] over the write holds up to and including this one (the objects a
    /// gated chain above depends on). Kept per hold so that a release writes nothing but
    /// the stack's length.
    objs: u64,
    mode: Mode,
    subclass: Option<u8>,
    site: &'static Location<'static>,
}

/// An acquire the engine has not seen yet (handed over at the next slow op).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    pub(crate) obj: ObjId,
    pub(crate) mode: Mode,
    pub(crate) subclass: Option<u8>,
    pub(crate) site: &'static Location<'static>,
}

/// A slow acquire, for the mirror.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NewHold {
    pub(crate) obj: ObjId,
    pub(crate) class_key: usize,
    pub(crate) mode: Mode,
    pub(crate) try_: bool,
    pub(crate) subclass: Option<u8>,
    pub(crate) nested: bool,
    pub(crate) site: &'static Location<'static>,
}

#[derive(Debug)]
struct Local {
    held: Vec<Hold>,
    /// How many of the holds (from the outermost) the engine has seen; the rest were
    /// acquired on the fast path and are *pending*. Pending holds are always on top (a slow
    /// op hands them all over first), so a fast op never writes this.
    synced: usize,
    /// The engine's token after this thread's latest slow op; `None`: fast path off.
    token: Option<u64>,
    /// [`GATE`] as of that op, or [`GATE_NONE`] when the fast path is off until the next slow
    /// op (no token, a wait the engine may still count as parked, a policy change, ...).
    gate: u64,
    /// Validated chain keys with their tags (0 for a gate-free chain, else [`tag`] of the
    /// objects held below it), 2-way set associative (allocated on first insert).
    cache: Vec<(u64, u64)>,
    /// Source of idents that match nothing (holds the fast path cannot describe).
    unique: u64,
    /// The engine's [`Engine::signal_token`] after the latest slow op (0: none): the key
    /// space of the signals this thread may skip (see [`try_signal`]).
    sig_token: u64,
    /// The sequence number of the thread's latest op the engine saw, for a skipped signal's
    /// clock ([`Engine::note_signal`]).
    seq: u64,
    /// The thread's validator id + 1 as the event cells store it (0: none, or too large).
    tid: u64,
    /// The thread's validator id once it has one: its exit is reported when this is dropped.
    exit_id: Option<u32>,
}

impl Drop for Local {
    fn drop(&mut self) {
        // Here rather than in a thread-local of its own: the pending holds must reach the
        // engine before the exit, and another thread-local may already be gone.
        if let Some(id) = self.exit_id {
            let pending = take_from(self);
            crate::state::exit_notice(ThreadId(id), pending);
        }
    }
}

/// The thread's exit is to be reported (as `id`) when its thread-locals are torn down.
pub(crate) fn set_exit(id: u32) {
    slow_op(|l| l.exit_id = Some(id));
}

impl Local {
    const fn new() -> Self {
        Local {
            held: Vec::new(),
            synced: 0,
            token: None,
            gate: GATE_NONE,
            cache: Vec::new(),
            unique: 0,
            sig_token: 0,
            seq: 0,
            tid: 0,
            exit_id: None,
        }
    }
}

/// The thread's [`Local`]. Not in a `RefCell`: its borrow flag would cost two stores per
/// fast op, and stores ahead of the lock's own atomic instruction delay it.
struct Slot {
    /// A slow op has the `Local` borrowed: a re-entrant call (say, from an allocator that
    /// takes a lockdep lock) leaves it alone, as a failed `try_borrow_mut` would.
    busy: Cell<bool>,
    local: UnsafeCell<Local>,
}

thread_local! {
    static LOCAL: Slot = const {
        Slot {
            busy: Cell::new(false),
            local: UnsafeCell::new(Local::new()),
        }
    };
}

/// Runs a fast op on the thread's [`Local`]. `f` must call nothing that could re-enter this
/// module: no allocation, no user code. `None` when the `Local` is busy or gone.
#[inline(always)]
fn fast_op<R>(f: impl FnOnce(&mut Local) -> R) -> Option<R> {
    LOCAL
        .try_with(|s| {
            if s.busy.get() {
                return None;
            }
            // SAFETY: the thread-local is reached from this thread only; no slow op has it
            // borrowed (`busy` is clear) and `f` cannot re-enter this module, so this is the
            // only reference to the `Local` while it lives.
            Some(f(unsafe { &mut *s.local.get() }))
        })
        .ok()
        .flatten()
}

/// Runs a slow op on the thread's [`Local`] (it may allocate, and so re-enter: the nested
/// call finds the `Local` busy). `None` when busy or gone.
fn slow_op<R>(f: impl FnOnce(&mut Local) -> R) -> Option<R> {
    struct Clear<'a>(&'a Cell<bool>);
    impl Drop for Clear<'_> {
        fn drop(&mut self) {
            self.0.set(false);
        }
    }
    LOCAL
        .try_with(|s| {
            if s.busy.replace(true) {
                return None;
            }
            let _clear = Clear(&s.busy);
            // SAFETY: the thread-local is reached from this thread only, and `busy` was clear:
            // no other reference to the `Local` is live, and none is made until `_clear`
            // clears it again (fast and slow ops both check it first).
            Some(f(unsafe { &mut *s.local.get() }))
        })
        .ok()
        .flatten()
}

/// Sets or clears a [`GATE`] bit (recording, policy off).
pub(crate) fn set_gate_bit(bit: u64, on: bool) {
    gate::set_flag(&GATE, bit, on);
}

/// The calling thread's next op goes the slow way (its policy changed).
pub(crate) fn force_sync() {
    slow_op(|l| l.gate = GATE_NONE);
}

#[inline(always)]
fn ident(class_key: usize, mode: Mode, subclass: Option<u8>, try_: bool, plain: bool) -> u64 {
    let mode = match mode {
        Mode::Write => 1u64,
        Mode::Read => 2,
        Mode::ReadRecursive => 3,
    };
    let sub = subclass.map_or(0, |s| u64::from(s) + 1);
    // No mixing here (the chain key mixes): the class key is an address, so the flags go in
    // the top bits, which no address uses.
    class_key as u64 ^ (mode | sub << 2 | u64::from(try_) << 6 | u64::from(plain) << 7) << 56
}

/// `objs` with a hold of `obj` in `mode` added (write holds are the engine's gates).
#[inline(always)]
fn objs_with(objs: u64, obj: ObjId, mode: Mode) -> u64 {
    if mode == Mode::Write {
        objs.wrapping_add(u64::from(obj.0).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    } else {
        objs
    }
}

fn set(key: u64) -> usize {
    ((key ^ (key >> 31)) as usize & (SLOTS / 2 - 1)) * 2
}

/// The tag of a gated chain's cache entry: the objects held for write below it (the engine's
/// gates, summed in `objs`) and the object generation. Never 0 (a gate-free chain's tag).
#[inline]
fn tag(objs: u64) -> u64 {
    (objs
        ^ FREES
            .load(Ordering::Relaxed)
            .wrapping_mul(0xD6E8_FEB8_6659_FD93))
        | 1
}

impl Local {
    /// Whether the chain `key` is validated with the write holds summed in `objs` below it:
    /// one probe; the tag is computed only for a gated entry whose key matches.
    #[inline(always)]
    fn cached(&self, key: u64, objs: u64) -> bool {
        let s = set(key);
        key != 0
            && self.cache.get(s..s + 2).is_some_and(|w| {
                w.iter()
                    .any(|&(k, t)| k == key && (t == 0 || t == tag(objs)))
            })
    }

    fn insert(&mut self, key: u64, tag: u64) {
        if self.cache.is_empty() {
            self.cache = vec![(0, 0); SLOTS];
        }
        let s = set(key);
        if self.cache[s] != (key, tag) {
            self.cache[s + 1] = self.cache[s];
            self.cache[s] = (key, tag);
        }
    }

    /// Recomputes every hold's chain key and object sum (after a token change or a
    /// reconciliation with the engine's stack).
    fn rekey(&mut self) {
        let (mut prev, mut objs) = (self.token.unwrap_or(0), 0);
        for h in &mut self.held {
            h.key = mix(prev, h.ident);
            objs = objs_with(objs, h.obj, h.mode);
            h.objs = objs;
            prev = h.key;
        }
    }
}

/// A blocking acquire of a chain this thread validated before: recorded here only. False
/// when the engine must see it now.
#[inline]
pub(crate) fn try_acquire(
    obj: ObjId,
    class_key: usize,
    mode: Mode,
    subclass: Option<u8>,
    site: &'static Location<'static>,
) -> bool {
    let gate = GATE.load(Ordering::Relaxed);
    fast_op(|l| {
        // GATE_NONE when there is no token. A full `held` goes the slow way: a fast op
        // must not allocate.
        if l.gate != gate || l.held.len() == l.held.capacity() {
            return false;
        }
        let (prev, below) = l
            .held
            .last()
            .map_or((l.token.unwrap_or(0), 0), |h| (h.key, h.objs));
        let ident = ident(class_key, mode, subclass, false, true);
        let key = mix(prev, ident);
        if !l.cached(key, below) {
            return false;
        }
        l.held.push(Hold {
            obj,
            ident,
            key,
            objs: objs_with(below, obj, mode),
            mode,
            subclass,
            site,
        });
        true
    })
    .unwrap_or(false)
}

/// Releases the innermost hold when it is `obj` and the engine never saw it.
#[inline]
pub(crate) fn try_release(obj: ObjId) -> bool {
    fast_op(|l| match l.held.last() {
        Some(h) if h.obj == obj && l.held.len() > l.synced => {
            l.held.pop();
            true
        }
        _ => false,
    })
    .unwrap_or(false)
}

/// The pending acquires, outermost first, now marked as handed over (the caller applies
/// them before its own op).
pub(crate) fn take_pending() -> Vec<Pending> {
    slow_op(take_from).unwrap_or_default()
}

fn take_from(l: &mut Local) -> Vec<Pending> {
    let from = l.synced.min(l.held.len());
    l.synced = l.held.len();
    l.held[from..]
        .iter()
        .map(|h| Pending {
            obj: h.obj,
            mode: h.mode,
            subclass: h.subclass,
            site: h.site,
        })
        .collect()
}

/// After a slow op of thread `t` (the caller holds the engine): brings the mirror in line with
/// the engine's held stack, refreshes the token, and caches the chain of `hold` when the
/// engine says it is a known one.
pub(crate) fn resync(t: ThreadId, engine: &Engine, hold: Option<NewHold>, cells: &[CellUse<'_>]) {
    slow_op(|l| {
        let plain = l.token.is_some();
        if let Some(h) = hold {
            let ident = if h.nested {
                l.unique += 1;
                mix(l.unique, 0x6e65_7374)
            } else {
                ident(h.class_key, h.mode, h.subclass, h.try_, plain)
            };
            l.held.push(Hold {
                obj: h.obj,
                ident,
                key: 0,
                objs: 0,
                mode: h.mode,
                subclass: h.subclass,
                site: h.site,
            });
        }
        // The engine's stack is the truth (a condvar wait re-acquires on top, a panic-policy
        // rollback drops the hold, an exit clears the stack, ...).
        if !l.held.iter().map(|h| h.obj).eq(engine.held_objects(t)) {
            let mut old = std::mem::take(&mut l.held);
            for obj in engine.held_objects(t) {
                let h = match old.iter().position(|h| h.obj == obj) {
                    Some(i) => old.remove(i),
                    None => {
                        l.unique += 1;
                        Hold {
                            obj,
                            ident: mix(l.unique, 0x756e_6b6e),
                            key: 0,
                            objs: 0,
                            mode: Mode::Write,
                            subclass: None,
                            site: Location::caller(),
                        }
                    }
                };
                l.held.push(h);
            }
        }
        l.synced = l.held.len();
        // Room for the fast path's pushes (it does not allocate).
        l.held.reserve(8);
        let token = engine.fast_token(t);
        if token != l.token {
            l.cache.iter_mut().for_each(|e| *e = (0, 0));
            l.token = token;
        }
        l.rekey();
        l.seq = engine.thread_seq(t);
        l.tid = if u64::from(t.0) < cell::TID_MAX {
            u64::from(t.0) + 1
        } else {
            0
        };
        l.sig_token = engine.signal_token(t).unwrap_or(0);
        if l.sig_token != 0 {
            // A signal the engine has just validated under this token: its repeats may be
            // skipped while the token holds.
            for u in cells.iter().filter(|u| u.signals) {
                l.insert(sig_key(l.sig_token, u.class_key, u.kind), 0);
            }
        }
        // After a parked wait the engine counts the thread as waiting until its next op: let
        // that op reach it.
        let must_sync = engine.parked(t);
        let gate = publish(engine);
        l.gate = if must_sync || l.token.is_none() || gate & (GATE_RECORDING | GATE_OFF) != 0 {
            GATE_NONE
        } else {
            gate
        };
        if let (Some(h), Some(_)) = (hold, l.token)
            && let Some(top) = l.held.last()
            && top.obj == h.obj
        {
            // The gate set is that of the holds below the new one.
            let below = l.held.len().checked_sub(2).map_or(0, |i| l.held[i].objs);
            let key = top.key;
            match engine.top_chain(t) {
                KnownChain::GateFree => l.insert(key, 0),
                KnownChain::Gated => l.insert(key, tag(below)),
                KnownChain::No => {}
            }
        }
    });
}

/// Publishes the engine's foreign-rekey count in [`GATE`] (the caller holds the engine, so
/// counts are published in order); returns the new word.
pub(crate) fn publish(engine: &Engine) -> u64 {
    gate::publish(&GATE, engine.foreign_rekeys())
}

/// Slow ops so far: ops that took the validator's global lock. A lock taken on a chain the
/// thread has validated before does not (the known-chain path touches only thread-local
/// memory); tests and benchmarks use this to show it.
pub fn slow_ops() -> u64 {
    SLOW_OPS.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------
// Events: the non-parking paths of completions, counters, condvars and channels.
//
// Each signalled node of an event object (a completion's `done`, a channel's `avail` and
// `space`, ...) has a [`SigCell`]: one word, written by slow ops on the object (under the
// validator's lock) and read (and, for a signal, compare-exchanged) by fast ones. What it
// allows, each exact (the engine would change nothing else):
// - a signal by thread T is skipped when T holds no lock, the engine validated the same
//   signal under T's current [`Engine::signal_token`] (so rule (a) has no new edge), and the
//   node has no waiter (rule (b) and the wake-ups have nothing to do). The one thing the
//   engine would change, the node's last signal (the clock a later wait merges), is left in
//   the cell as "T right after its op `seq`"; the next slow op on the object hands it over
//   ([`Engine::note_signal`]) before anything else, which gives the engine the same clock
//   (T has had no op in between that the engine saw).
// - a wait that did not park is skipped when the node's last signal is the waiting thread's
//   own: merging one's own clock changes nothing.
// - a counter's `inc` is skipped once the engine knows the counter: it creates no obligation.
// None of them is taken while the thread's next op must reach the engine (the same [`GATE`]
// and per-thread checks as a fast acquire: recording, policy off, a wait still counted as
// parked).

/// The fast path's word for one signalled node of an event object (see above): known and
/// open bits, the id + 1 of the thread whose signal was last, and that signal's op sequence
/// number + 1 if the engine has not been told of it yet.
#[derive(Debug, Default)]
pub(crate) struct SigCell(AtomicU64);

impl SigCell {
    pub(crate) const fn new() -> SigCell {
        SigCell(AtomicU64::new(0))
    }
}

/// What a slow op on an event object does with one of its cells.
#[derive(Clone, Copy)]
pub(crate) struct CellUse<'a> {
    pub(crate) cell: &'a SigCell,
    pub(crate) obj: ObjId,
    pub(crate) kind: NodeKind,
    /// The op signals this node (it becomes the node's last signaller).
    pub(crate) signals: bool,
    /// The object's class key (signals are cached per class and node).
    pub(crate) class_key: usize,
}

fn sig_key(token: u64, class_key: usize, kind: NodeKind) -> u64 {
    mix(mix(token, class_key as u64), 0x6576_0000 | kind as u64)
}

/// A signal the engine need not see now (see the section's docs). False: make it slow.
#[inline]
pub(crate) fn try_signal(cell: &SigCell, class_key: usize, kind: NodeKind) -> bool {
    let gate = GATE.load(Ordering::Relaxed);
    fast_op(|l| l.gate == gate && l.signal(cell, class_key, kind)).unwrap_or(false)
}

/// A channel receive that did not park: it observes `avail` (the thread's own last send)
/// and signals `space`, both skipped or neither.
#[inline]
pub(crate) fn try_observe_signal(
    observed: &SigCell,
    signalled: &SigCell,
    class_key: usize,
    kind: NodeKind,
) -> bool {
    let gate = GATE.load(Ordering::Relaxed);
    fast_op(|l| l.gate == gate && l.observes(observed) && l.signal(signalled, class_key, kind))
        .unwrap_or(false)
}

impl Local {
    /// [`try_signal`] past the gate check.
    #[inline(always)]
    fn signal(&mut self, cell: &SigCell, class_key: usize, kind: NodeKind) -> bool {
        if !self.held.is_empty()
            || self.sig_token == 0
            || self.tid == 0
            || self.seq >= cell::SEQ_MAX
        {
            return false;
        }
        let (token, this) = (self.sig_token, &*self);
        cell::signal(&cell.0, cell::skipped(self.tid, self.seq), || {
            this.cached(sig_key(token, class_key, kind), 0)
        })
    }

    /// Whether the node's last signal is this thread's own.
    #[inline(always)]
    fn observes(&self, cell: &SigCell) -> bool {
        cell::observes(&cell.0, self.tid)
    }
}

/// A wait that did not park, skipped when the node's last signal is this thread's.
#[inline]
pub(crate) fn try_observe(cell: &SigCell) -> bool {
    let gate = GATE.load(Ordering::Relaxed);
    fast_op(|l| l.gate == gate && l.observes(cell)).unwrap_or(false)
}

/// An op that changes nothing once the engine knows the node (a counter's `inc`).
#[inline]
pub(crate) fn try_known(cell: &SigCell) -> bool {
    let gate = GATE.load(Ordering::Relaxed);
    fast_op(|l| l.gate == gate && cell::known(&cell.0)).unwrap_or(false)
}

/// First thing in a slow op on an event object (the caller holds the engine): closes each
/// cell to fast signals and hands the engine a signal it was not told of. Returns the cells'
/// previous words, for [`settle_cells`].
pub(crate) fn close_cells(uses: &[CellUse<'_>], engine: &mut Engine) -> [u64; 2] {
    let mut prev = [0; 2];
    for (u, p) in uses.iter().zip(prev.iter_mut()) {
        let c = cell::close(&u.cell.0);
        if let Some((tid, at)) = cell::pending(c) {
            engine.note_signal(u.obj, u.kind, ThreadId((tid - 1) as u32), at);
        }
        *p = c;
    }
    prev
}

/// Last thing in a slow op of thread `t` on an event object: each cell says again what the
/// engine now knows of its node.
pub(crate) fn settle_cells(uses: &[CellUse<'_>], prev: [u64; 2], t: ThreadId, engine: &Engine) {
    let tid = u64::from(t.0) + 1;
    for (u, p) in uses.iter().zip(prev) {
        cell::settle(
            &u.cell.0,
            p,
            u.signals.then_some(tid),
            engine.event_known(u.obj, u.kind),
            engine.event_open(u.obj, u.kind),
        );
    }
}
