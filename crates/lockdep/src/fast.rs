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
//! context: [`Engine::fast_token`]), another thread changing this one's keys
//! ([`Engine::foreign_rekeys`]), recording (every op must reach the trace), and a wait the
//! engine still thinks parked (the op after any non-lock op goes the slow way).
//!
//! A key here is a hash of the thread's token and, per held lock, its class key (creation
//! site or named class), mode, subclass, trylock flag and whether it was taken in a plain
//! context: that determines the engine's chain key for the same situation, so a hit here
//! means the engine's own cache would hit too.

use std::cell::RefCell;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use lockdep_core::{Engine, KnownChain, Mode, ObjId, ThreadId, mix};

/// Set while a trace is being recorded: every op must then reach the engine in order.
pub(crate) static RECORDING: AtomicBool = AtomicBool::new(false);
/// The engine's [`Engine::foreign_rekeys`], published after every slow op.
pub(crate) static FOREIGN: AtomicU64 = AtomicU64::new(0);
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
    /// Acquired on the fast path and not yet handed to the engine.
    pending: bool,
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

#[derive(Debug, Default)]
struct Local {
    held: Vec<Hold>,
    pending: usize,
    /// The engine's token after this thread's latest slow op; `None`: fast path off.
    token: Option<u64>,
    /// `FOREIGN` as of that op.
    foreign: u64,
    /// The next op must be a slow one (the latest slow op may have left a wait pending).
    must_sync: bool,
    /// Validated chain keys, 2-way set associative (allocated on first insert).
    cache: Vec<u64>,
    /// Sum of `obj_mix` over the holds for write (the objects a gated chain depends on).
    objs: u64,
    /// Source of idents that match nothing (holds the fast path cannot describe).
    unique: u64,
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
    let _ = LOCAL.try_with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            l.exit_id = Some(id);
        }
    });
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
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

fn obj_mix(obj: ObjId) -> u64 {
    u64::from(obj.0).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1
}

fn set(key: u64) -> usize {
    ((key ^ (key >> 31)) as usize & (SLOTS / 2 - 1)) * 2
}

impl Local {
    #[inline(always)]
    fn cached(&self, key: u64) -> bool {
        let s = set(key);
        self.cache
            .get(s..s + 2)
            .is_some_and(|w| (w[0] == key || w[1] == key) && key != 0)
    }

    fn insert(&mut self, key: u64) {
        if self.cache.is_empty() {
            self.cache = vec![0; SLOTS];
        }
        let s = set(key);
        if self.cache[s] != key {
            self.cache[s + 1] = self.cache[s];
            self.cache[s] = key;
        }
    }

    /// The cache key of a gated chain: the chain key, the objects held for write (the
    /// engine's gates) and the object generation.
    /// `objs`: the write holds' sum below the acquire (normally `self.objs`).
    #[inline]
    fn gated_key(key: u64, objs: u64) -> u64 {
        mix(mix(key, objs), FREES.load(Ordering::Relaxed))
    }

    #[inline(always)]
    fn push(&mut self, h: Hold) {
        if h.mode == Mode::Write {
            self.objs = self.objs.wrapping_add(obj_mix(h.obj));
        }
        self.held.push(h);
    }

    #[inline(always)]
    fn pop(&mut self) -> Option<Hold> {
        let h = self.held.pop()?;
        if h.mode == Mode::Write {
            self.objs = self.objs.wrapping_sub(obj_mix(h.obj));
        }
        Some(h)
    }

    fn rekey(&mut self) {
        let mut prev = self.token.unwrap_or(0);
        for h in &mut self.held {
            h.key = mix(prev, h.ident);
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
    if RECORDING.load(Ordering::Relaxed) {
        return false;
    }
    let foreign = FOREIGN.load(Ordering::Relaxed);
    LOCAL
        .try_with(|l| {
            let Ok(mut l) = l.try_borrow_mut() else {
                return false;
            };
            let Some(base) = l.token else {
                return false;
            };
            if l.must_sync || l.foreign != foreign {
                return false;
            }
            let ident = ident(class_key, mode, subclass, false, true);
            let key = mix(l.held.last().map_or(base, |h| h.key), ident);
            if !l.cached(key) && !l.cached(Local::gated_key(key, l.objs)) {
                return false;
            }
            l.push(Hold {
                obj,
                ident,
                key,
                pending: true,
                mode,
                subclass,
                site,
            });
            l.pending += 1;
            true
        })
        .unwrap_or(false)
}

/// Releases the innermost hold when it is `obj` and the engine never saw it.
#[inline]
pub(crate) fn try_release(obj: ObjId) -> bool {
    LOCAL
        .try_with(|l| {
            let Ok(mut l) = l.try_borrow_mut() else {
                return false;
            };
            match l.held.last() {
                Some(h) if h.obj == obj && h.pending => {
                    l.pop();
                    l.pending -= 1;
                    true
                }
                _ => false,
            }
        })
        .unwrap_or(false)
}

/// The pending acquires, outermost first, now marked as handed over (the caller applies
/// them before its own op).
pub(crate) fn take_pending() -> Vec<Pending> {
    LOCAL
        .try_with(|l| {
            let Ok(mut l) = l.try_borrow_mut() else {
                return Vec::new();
            };
            take_from(&mut l)
        })
        .unwrap_or_default()
}

fn take_from(l: &mut Local) -> Vec<Pending> {
    if l.pending == 0 {
        return Vec::new();
    }
    l.pending = 0;
    l.held
        .iter_mut()
        .filter(|h| h.pending)
        .map(|h| {
            h.pending = false;
            Pending {
                obj: h.obj,
                mode: h.mode,
                subclass: h.subclass,
                site: h.site,
            }
        })
        .collect()
}

/// After a slow op of thread `t` (the caller holds the engine): brings the mirror in line with
/// the engine's held stack, refreshes the token, and caches the chain of `hold` when the
/// engine says it is a known one.
pub(crate) fn resync(t: ThreadId, engine: &Engine, hold: Option<NewHold>, must_sync: bool) {
    let _ = LOCAL.try_with(|l| {
        let Ok(mut l) = l.try_borrow_mut() else {
            return;
        };
        let l = &mut *l;
        let plain = l.token.is_some();
        if let Some(h) = hold {
            let ident = if h.nested {
                l.unique += 1;
                mix(l.unique, 0x6e65_7374)
            } else {
                ident(h.class_key, h.mode, h.subclass, h.try_, plain)
            };
            l.push(Hold {
                obj: h.obj,
                ident,
                key: 0,
                pending: false,
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
                            pending: false,
                            mode: Mode::Write,
                            subclass: None,
                            site: Location::caller(),
                        }
                    }
                };
                l.held.push(h);
            }
            l.pending = 0;
            l.objs = l
                .held
                .iter()
                .filter(|h| h.mode == Mode::Write)
                .fold(0, |acc, h| acc.wrapping_add(obj_mix(h.obj)));
        }
        let token = engine.fast_token(t);
        if token != l.token {
            l.cache.iter_mut().for_each(|k| *k = 0);
            l.token = token;
        }
        l.rekey();
        l.foreign = engine.foreign_rekeys();
        l.must_sync = must_sync;
        if let (Some(h), Some(_)) = (hold, l.token)
            && let Some(top) = l.held.last()
            && top.obj == h.obj
        {
            // The gate set is that of the holds below the new one.
            let below = if top.mode == Mode::Write {
                l.objs.wrapping_sub(obj_mix(top.obj))
            } else {
                l.objs
            };
            let key = top.key;
            match engine.top_chain(t) {
                KnownChain::GateFree => l.insert(key),
                KnownChain::Gated => l.insert(Local::gated_key(key, below)),
                KnownChain::No => {}
            }
        }
    });
    FOREIGN.store(engine.foreign_rekeys(), Ordering::Relaxed);
}

/// Slow ops so far: ops that took the validator's global lock. A lock taken on a chain the
/// thread has validated before does not (the known-chain path touches only thread-local
/// memory); tests and benchmarks use this to show it.
pub fn slow_ops() -> u64 {
    SLOW_OPS.load(Ordering::Relaxed)
}
