//! The models. Each runs the runtime's protocol under loom, exploring every interleaving of
//! the threads shown, and asserts a named invariant; each is then run on a copy of the
//! protocol with one seeded bug and must fail.

use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

use crate::{cell, deliver, fails, gate, registry};

// ---------------------------------------------------------------------------------------
// Invariant "unique ids under concurrent registration": two threads using one object for the
// first time at once both get the same id, two objects get two ids, and the registry keeps
// exactly one declaration per object (the loser's is given back).

#[derive(Default)]
struct Registry {
    next: u32,
    live: Vec<u32>,
}

type GetOrDeclare = fn(&AtomicU32, &Mutex<Registry>) -> u32;

fn real_get(slot: &AtomicU32, reg: &Mutex<Registry>) -> u32 {
    registry::get_or_declare(
        slot,
        || {
            let mut r = reg.lock().unwrap();
            let id = r.next;
            r.next += 1;
            r.live.push(id);
            id
        },
        |id| reg.lock().unwrap().live.retain(|&l| l != id),
    )
}

/// Seeded bug: a plain store instead of the compare-exchange.
fn racy_get(slot: &AtomicU32, reg: &Mutex<Registry>) -> u32 {
    let v = slot.load(Ordering::Acquire);
    if v != 0 {
        return v - 1;
    }
    let id = {
        let mut r = reg.lock().unwrap();
        let id = r.next;
        r.next += 1;
        r.live.push(id);
        id
    };
    slot.store(id + 1, Ordering::Release);
    id
}

fn registry_model(get: GetOrDeclare) -> impl Fn() + Sync + Send + 'static {
    move || {
        let reg = Arc::new(Mutex::new(Registry::default()));
        let (a, b) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let t = {
            let (reg, a, b) = (reg.clone(), a.clone(), b.clone());
            thread::spawn(move || (get(&a, &reg), get(&b, &reg)))
        };
        let mine = get(&a, &reg);
        let (theirs, other) = t.join().unwrap();
        assert_eq!(mine, theirs, "one object got two ids");
        assert_ne!(mine, other, "two objects share an id");
        let live = reg.lock().unwrap().live.len();
        assert_eq!(live, 2, "declarations kept for two objects: {live}");
    }
}

#[test]
fn unique_ids_under_concurrent_registration() {
    loom::model(registry_model(real_get));
}

#[test]
fn unique_ids_model_catches_a_store_for_the_cas() {
    assert!(fails(registry_model(racy_get)));
}

// ---------------------------------------------------------------------------------------
// Invariant "no lost or duplicated signal hand-over" (the event fast path's cell): a fast
// signal that succeeded is handed to the engine exactly once, unless a later fast signal
// replaced it before any hand-over (the engine keeps only a node's last signal); a fast signal
// that failed (and so went the slow way) is never handed over; a slow op's window (between
// closing the word and settling it, under the validator's lock) never swallows a signal.

type Signal = fn(&AtomicU64, u64) -> bool;

fn real_signal(c: &AtomicU64, new: u64) -> bool {
    cell::signal(c, new, || true)
}

/// Seeded bug: a plain store instead of the compare-exchange.
fn blind_signal(c: &AtomicU64, new: u64) -> bool {
    let w = c.load(Ordering::Acquire);
    if w == new {
        return true;
    }
    if w & cell::OPEN == 0 {
        return false;
    }
    c.store(new, Ordering::Release);
    true
}

/// A slow op under the validator's lock (`lock`) by thread 2: closes the word, hands over a
/// pending signal (recorded in `handed`), signals itself and settles the word.
fn slow_op(c: &AtomicU64, lock: &Mutex<Vec<(u64, u64)>>) {
    let mut handed = lock.lock().unwrap();
    let prev = cell::close(c);
    if let Some(p) = cell::pending(prev) {
        handed.push(p);
    }
    cell::settle(c, prev, Some(2), true, true);
}

fn cell_model(signal: Signal) -> impl Fn() + Sync + Send + 'static {
    move || {
        let c = Arc::new(AtomicU64::new(0));
        let lock = Arc::new(Mutex::new(Vec::new()));
        // The node is known and open after a first slow op.
        slow_op(&c, &lock);
        let fast = |tid: u64, seq: u64| {
            let (c, lock) = (c.clone(), lock.clone());
            thread::spawn(move || {
                let _ = &lock;
                signal(&c, cell::skipped(tid, seq))
            })
        };
        let f1 = fast(1, 10);
        let f3 = fast(3, 30);
        // Thread 2's slow op, at the same time.
        slow_op(&c, &lock);
        let (ok1, ok3) = (f1.join().unwrap(), f3.join().unwrap());
        // The next slow op on the object hands over what is left.
        slow_op(&c, &lock);
        // The last op was thread 2's slow signal: the word says so, with nothing pending.
        assert!(cell::known(&c) && cell::observes(&c, 2) && !cell::observes(&c, 1));
        assert_eq!(cell::pending(c.load(Ordering::SeqCst)), None);
        let handed = lock.lock().unwrap().clone();
        let count = |s: (u64, u64)| handed.iter().filter(|&&h| h == s).count();
        let (n1, n3) = (count((1, 10)), count((3, 30)));
        assert!(n1 <= 1 && n3 <= 1, "a signal handed over twice: {handed:?}");
        assert!(ok1 || n1 == 0, "a failed fast signal was handed over");
        assert!(ok3 || n3 == 0, "a failed fast signal was handed over");
        // A signal not handed over must have been replaced by the other fast signal, which
        // then was.
        assert!(
            !ok1 || n1 == 1 || (ok3 && n3 == 1),
            "signal 1 lost: {handed:?}"
        );
        assert!(
            !ok3 || n3 == 1 || (ok1 && n1 == 1),
            "signal 3 lost: {handed:?}"
        );
    }
}

#[test]
fn no_lost_or_duplicated_signal_hand_over() {
    loom::model(cell_model(real_signal));
}

#[test]
fn signal_hand_over_model_catches_a_store_for_the_cas() {
    assert!(fails(cell_model(blind_signal)));
}

// ---------------------------------------------------------------------------------------
// Invariant "consistent chain cache" (the fast paths' gate word): publishing the validator's
// count never loses a flag set at the same time (a lost recording bit would leave every
// thread's cached chains in use while a trace is written, and the trace would miss ops), nor
// the count (a lost count would keep chains cached that another thread's op made stale).

type Publish = fn(&AtomicU64, u64);

fn real_publish(g: &AtomicU64, n: u64) {
    gate::publish(g, n);
}

/// Seeded bug: load, then a plain store.
fn racy_publish(g: &AtomicU64, n: u64) {
    let w = g.load(Ordering::Relaxed);
    g.store(w & gate::FLAGS | n << 2, Ordering::Relaxed);
}

fn gate_model(publish: Publish) -> impl Fn() + Sync + Send + 'static {
    move || {
        let g = Arc::new(AtomicU64::new(0));
        let rec = {
            let g = g.clone();
            thread::spawn(move || gate::set_flag(&g, 1, true))
        };
        publish(&g, 5);
        rec.join().unwrap();
        let w = g.load(Ordering::Relaxed);
        assert_eq!(w & 1, 1, "the recording flag was lost");
        assert_eq!(w >> 2, 5, "the count was lost");
    }
}

#[test]
fn consistent_chain_cache_gate_keeps_flags_and_count() {
    loom::model(gate_model(real_publish));
}

#[test]
fn chain_cache_gate_model_catches_a_store_for_the_cas() {
    assert!(fails(gate_model(racy_publish)));
}

// ---------------------------------------------------------------------------------------
// Invariants "no lost or duplicated report" and "no self-deadlock of the validator": two
// threads' ops raise one report each under the validator's lock; every report reaches the
// handler exactly once, and the handler, which takes the validator's lock itself (it uses
// lockdep primitives), never deadlocks.

/// The validator's lock, which knows its holder: taking it again on the thread that holds it
/// is the self-deadlock, recorded here (and asserted at the end) instead of hanging the model.
struct Validator {
    log: Mutex<Vec<u32>>,
    holder: AtomicU32,
    reentered: AtomicU32,
}

struct Held<'a> {
    v: &'a Validator,
    log: loom::sync::MutexGuard<'a, Vec<u32>>,
}

impl Validator {
    fn lock(&self, me: u32) -> Option<Held<'_>> {
        if self.holder.load(Ordering::SeqCst) == me {
            self.reentered.fetch_add(1, Ordering::SeqCst);
            return None;
        }
        let log = self.log.lock().unwrap();
        self.holder.store(me, Ordering::SeqCst);
        Some(Held { v: self, log })
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.v.holder.store(0, Ordering::SeqCst);
    }
}

type Op = fn(&Validator, u32, &Mutex<Vec<u32>>);

/// Delivers `raised` (the runtime's `deliver_all`) to a handler that uses something
/// validated: it takes the validator's lock itself.
fn deliver(v: &Validator, me: u32, delivered: &Mutex<Vec<u32>>, raised: Vec<u32>) {
    deliver::deliver_all(raised, |r| {
        if let Some(_v) = v.lock(me) {
            delivered.lock().unwrap().push(r);
        }
        None
    });
}

fn real_op(v: &Validator, me: u32, delivered: &Mutex<Vec<u32>>) {
    let raised = {
        let mut h = v.lock(me).expect("not held here");
        let before = h.log.len();
        h.log.push(me);
        deliver::raised(&h.log, before)
    };
    deliver(v, me, delivered, raised);
}

/// Seeded bug: the log's length read under an earlier hold of the lock than the op's.
fn split_op(v: &Validator, me: u32, delivered: &Mutex<Vec<u32>>) {
    let before = v.lock(me).expect("not held here").log.len();
    let raised = {
        let mut h = v.lock(me).expect("not held here");
        h.log.push(me);
        deliver::raised(&h.log, before)
    };
    deliver(v, me, delivered, raised);
}

/// Seeded bug: reports delivered while the validator's lock is held.
fn inside_op(v: &Validator, me: u32, delivered: &Mutex<Vec<u32>>) {
    let mut h = v.lock(me).expect("not held here");
    let before = h.log.len();
    h.log.push(me);
    let raised = deliver::raised(&h.log, before);
    deliver(v, me, delivered, raised);
}

fn deliver_model(op: Op) -> impl Fn() + Sync + Send + 'static {
    move || {
        let v = Arc::new(Validator {
            log: Mutex::new(Vec::new()),
            holder: AtomicU32::new(0),
            reentered: AtomicU32::new(0),
        });
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let t = {
            let (v, d) = (v.clone(), delivered.clone());
            thread::spawn(move || op(&v, 2, &d))
        };
        op(&v, 1, &delivered);
        t.join().unwrap();
        let mut got = delivered.lock().unwrap().clone();
        got.sort_unstable();
        assert_eq!(
            v.reentered.load(Ordering::SeqCst),
            0,
            "self-deadlock: a handler took the validator's lock on the thread holding it"
        );
        assert_eq!(got, [1, 2], "reports lost or duplicated");
    }
}

#[test]
fn no_lost_or_duplicated_report_and_no_self_deadlock() {
    loom::model(deliver_model(real_op));
}

#[test]
fn report_model_catches_a_split_critical_section() {
    assert!(fails(deliver_model(split_op)));
}

#[test]
fn report_model_catches_delivery_under_the_lock() {
    assert!(fails(deliver_model(inside_op)));
}
