//! The validator: per-thread held stacks, chain cache, dependency recording, context rules.

use rustc_hash::{FxHashMap, FxHashSet};
use smallvec::{SmallVec, smallvec};

use crate::graph::{self, Graph};
use crate::op::{
    Context, Event, Mode, NameId, ObjDecl, ObjId, ObjKind, Op, SiteId, StackId, ThreadId,
};
use crate::report::{EdgeReport, HeldReport, Kind, NodeKind, Report, Severity, signature};
use crate::usage::{self, Usage};

mod events;

/// Most cycles reported for one new dependency (each distinct class set once).
const MAX_CYCLES_PER_EDGE: usize = 32;
/// Most DFS steps spent enumerating cycles for one new dependency.
const MAX_CYCLE_STEPS: usize = 200_000;

/// An input the engine cannot apply (an input error, not a finding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineError {
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EngineError {}

fn err<T>(message: impl Into<String>) -> Result<T, EngineError> {
    Err(EngineError {
        message: message.into(),
    })
}

#[derive(Debug, Default)]
struct Interner {
    strings: Vec<String>,
    index: FxHashMap<String, u32>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.strings.len() as u32;
        self.strings.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }
}

#[derive(Debug)]
struct ClassData {
    display: String,
    node: u32,
    usage: Usage,
    /// Where each usage bit was first set: (thread, site).
    usage_site: [(u32, SiteId); usage::BITS],
}

#[derive(Debug)]
struct NodeData {
    kind: NodeKind,
    /// Lock class (for `free(L)` nodes), `u32::MAX` for event nodes.
    class: u32,
    /// The class name shown in reports (bare, as the trace declares it).
    label: String,
}

/// Why an edge exists (reports say it; happens-before pruning needs it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EdgeRule {
    /// A held lock, by §1's walk, before a blocking acquire or a wait.
    Held,
    /// An owed event (thread exit, running work, deferred item, declared obligation).
    Owed,
    /// Signal rule (a): the signaller held or had acquired the lock.
    SignalLock,
    /// Signal rule (b): the signaller had waited while a waiter of the event waited.
    SignalWait,
    /// A queue structure (flush_queue, capacity-1 queues).
    Queue,
}

#[derive(Debug)]
struct ObjData {
    decl: ObjDecl,
    spin: bool,
    serial: u64,
    /// Class per subclass, resolved lazily (`u32::MAX` = not yet).
    classes: [u32; 8],
}

/// What the acquire fast path needs of an object, 16 bytes (four to a cache line), kept
/// beside `ObjData` and updated with it.
#[derive(Clone, Copy, Debug, Default)]
struct ObjHot {
    serial: u64,
    /// Class of the declared subclass (`u32::MAX` until resolved).
    class: u32,
    flags: u8,
    subclass: u8,
    /// Copy of the usage bits of that class, so the fast path does not touch the class.
    /// Usage bits only grow, so a stale copy only sends an acquire down the general path,
    /// which refreshes it.
    usage: Usage,
}

const HOT_FAST: u8 = 1;
const HOT_SPIN: u8 = 2;
const HOT_PSEUDO: u8 = 4;

/// A gate candidate recorded with an edge: a lock object held for write, and its class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Gate {
    serial: u64,
    class: u32,
}

#[derive(Debug)]
struct EdgeInfo {
    thread: u32,
    from_mode: Mode,
    to_mode: Mode,
    from_site: SiteId,
    to_site: SiteId,
    stack: StackId,
    seq: u64,
    /// Objects held for write at *every* recording so far.
    gates: SmallVec<[Gate; 1]>,
    /// Every recording was a timed wait (cycles through it are warnings).
    timed: bool,
    rule: EdgeRule,
    /// Recording steps (distinct thread and clock epoch; the first few kept): for a held-lock
    /// edge the holder's acquisition, for an owed edge the obligation's start, for a signal
    /// edge the signaller's acquisition or wait. Happens-before pruning needs every pair
    /// ordered, so one unordered recording keeps a cycle reportable.
    steps: SmallVec<[Step; 1]>,
}

/// Most recording steps kept per edge for happens-before pruning; beyond it, a new recording
/// clears the list to one step that pruning can never order (conservative: report).
const MAX_STEPS: usize = 8;

/// An owed `exit(T) -> to` edge waiting for the first join of T's class: target, type bits,
/// metadata and gate set.
type PendingEdge = (u32, u8, EdgeMeta, Vec<Gate>);

/// What a new edge records besides its endpoints.
#[derive(Clone, Copy, Debug)]
struct EdgeMeta {
    from_mode: Mode,
    to_mode: Mode,
    from_site: SiteId,
    to_site: SiteId,
    stack: StackId,
    timed: bool,
    rule: EdgeRule,
    step: Step,
}

#[derive(Clone, Copy, Debug)]
struct Held {
    obj: ObjId,
    class: u32,
    mode: Mode,
    try_: bool,
    check: bool,
    nest: Option<ObjId>,
    irq_level: u32,
    key: u64,
    site: SiteId,
    serial: u64,
    spin: bool,
    pseudo: bool,
    /// When the lock was taken: sequence number and the thread's clock epoch then.
    seq: u64,
    epoch: u32,
}

/// A step of a thread, for happens-before: its sequence number and the vector-clock
/// snapshot (`epoch`) the thread had then.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct Step {
    thread: u32,
    seq: u64,
    epoch: u32,
}

/// One event a thread owes (besides its locks and its exit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Owed {
    node: u32,
    src: OwedSrc,
    /// Where the obligation started (the step by which the thread entered a cycle through it).
    start: Step,
    /// The site of the op that started it (reports say where the thread began to owe).
    site: SiteId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OwedSrc {
    /// Running this work or deferred item.
    Running(ObjId),
    /// An item on the deferred list (its `ran` and every event it produces).
    Deferred(ObjId),
    /// Between `obligation_begin` and `obligation_end` of this event object, from this seq.
    Obligation(ObjId, u64),
}

#[derive(Clone, Copy, Debug)]
struct Frame {
    ctx: Context,
    saved_hard_on: bool,
}

#[derive(Debug)]
struct ThreadData {
    name: String,
    class_key: u64,
    held: Vec<Held>,
    frames: Vec<Frame>,
    hard_on: bool,
    soft_disable: u32,
    /// Usage bits an acquire sets in the current context, by `try * 2 + read`, and whether
    /// the context alone forbids blocking: both recomputed by `refresh` whenever the context
    /// or the irq state changes, so the acquire fast path reads them instead of deriving them.
    want: [Usage; 4],
    ctx_no_block: bool,
    hardirq_depth: u32,
    softirq_depth: u32,
    atomic_depth: u32,
    spin_held: u32,
    /// Sum of the hashes of the objects held for write (gate identity of the situation; a sum,
    /// not a XOR, so an object held twice does not cancel out).
    obj_hash: u64,
    /// Class name of the thread (`exit(T)`'s class): its own name unless declared.
    tclass: Option<NameId>,
    /// Its `exit(T)` node once known (`u32::MAX` before).
    exit: u32,
    /// Events the thread owes besides its held locks and its own exit.
    owed: Vec<Owed>,
    /// Hash of `owed` (a sum, order-free): part of the chain key.
    owe_hash: u64,
    /// `mix(class_key, owe_hash)`: where every chain key of this thread starts.
    key_base: u64,
    /// Sequence number of the thread's latest boundary (signal windows start there).
    win_start: u64,
    /// Lock classes blocking-acquired since the boundary (bitset by class, and the list with
    /// first sequence number and whether it was a recursive read), for signal rule (a).
    acq_bits: Vec<u64>,
    acq_list: Vec<(u32, u64, bool, u32)>,
    /// Committed waits since the boundary: node, latest sequence number, epoch, and whether
    /// it was timed (rule (b)).
    waits: Vec<(u32, u64, u32, bool)>,
    /// Sequence number of the thread's latest op: a parked waiter is still waiting exactly
    /// while this is its wait's sequence number (its next op means the wait returned).
    last_seq: u64,
    /// Sequence number of its latest parked wait.
    park_seq: Option<u64>,
    /// Vector-clock snapshots by epoch: each incoming synchronization (spawn, join, a woken
    /// wait, a run_begin, ...) adds one; the last is the current one. Between them only the
    /// thread's own component moves, and that is the step's sequence number. Bounded: the
    /// recent ones are kept exactly, older ones only at power-of-two epochs (see `vc_merge`).
    /// Each is (epoch, sequence number of the op that made it, clock).
    snaps: Vec<(u32, u64, Box<[u64]>)>,
    epoch: u32,
    /// Clocks received but not yet merged (they take effect at the thread's next op).
    incoming: Vec<Box<[u64]>>,
    /// The thread's first step (its `exit` obligation starts there).
    start: Step,
    /// Items on the thread's deferred list, with the event nodes each will produce.
    deferred: Vec<(ObjId, Vec<u32>)>,
    /// Work or deferred items the thread is running (innermost last).
    running: Vec<ObjId>,
    /// Recently validated chains of this thread, direct-mapped (allocated on first use).
    /// Entries are only ever conservative: a hit means this thread validated exactly this
    /// situation before. It keeps the hot path in the thread's own cache lines, as the
    /// runtime's thread-local cache will.
    chain_cache: Box<[CacheEntry]>,
    /// Owed `exit -> Y` edges of `exit_done_node` known to be pending, gate-free and to carry
    /// the edge type asked (bit `2 * Y + rr`): re-recording one would change nothing, so a
    /// chain miss skips the lookups (they cost cache misses on every new chain).
    exit_done: Vec<u64>,
    exit_done_node: u32,
}

/// One slot of a thread's chain cache (16 bytes).
#[derive(Clone, Copy, Debug, Default)]
struct CacheEntry {
    key: u64,
    /// `GATE_FREE` when every edge of the chain is gate-free, else the `obj_hash` it was
    /// validated with.
    tag: u64,
}

/// Tag of a gate-free chain (an `obj_hash` equal to it is a 2^-64 event).
const GATE_FREE: u64 = 0x6761_7465_2d66_7265;

impl CacheEntry {
    fn new(key: u64, obj_hash: u64, gate_free: bool) -> Self {
        CacheEntry {
            key,
            tag: if gate_free { GATE_FREE } else { obj_hash },
        }
    }
    fn hit(&self, key: u64, obj_hash: u64) -> bool {
        self.key == key && key != 0 && (self.tag == GATE_FREE || self.tag == obj_hash)
    }
}

const THREAD_CACHE_SLOTS: usize = 4096;

/// First slot of the key's 2-way set.
fn cache_set(key: u64) -> usize {
    (((key ^ (key >> 29)) as usize) & (THREAD_CACHE_SLOTS / 2 - 1)) * 2
}

impl ThreadData {
    /// Looks the chain up in the thread's 2-way cache (most recently used way first).
    #[inline(always)]
    fn cache_hit(&mut self, key: u64, obj_hash: u64) -> bool {
        let set = cache_set(key);
        let Some(ways) = self.chain_cache.get_mut(set..set + 2) else {
            return false;
        };
        if ways[0].hit(key, obj_hash) {
            return true;
        }
        if ways[1].hit(key, obj_hash) {
            ways.swap(0, 1);
            return true;
        }
        false
    }

    /// Puts the chain in the thread's cache as the most recently used way of its set.
    fn cache_insert(&mut self, key: u64, obj_hash: u64, gate_free: bool) {
        if self.chain_cache.is_empty() {
            self.chain_cache = vec![CacheEntry::default(); THREAD_CACHE_SLOTS].into_boxed_slice();
        }
        let set = cache_set(key);
        self.chain_cache[set + 1] = self.chain_cache[set];
        self.chain_cache[set] = CacheEntry::new(key, obj_hash, gate_free);
    }

    fn irq_level(&self) -> u32 {
        self.hardirq_depth + self.softirq_depth
    }
    fn hard_enabled(&self) -> bool {
        self.hard_on && self.hardirq_depth == 0
    }
    fn soft_enabled(&self) -> bool {
        self.hard_enabled() && self.soft_disable == 0 && self.softirq_depth == 0
    }
    fn refresh(&mut self) {
        self.ctx_no_block =
            self.hardirq_depth > 0 || self.softirq_depth > 0 || self.atomic_depth > 0;
        for i in 0..4 {
            let (try_, read) = (i >= 2, i % 2 == 1);
            let mut w = Usage::default();
            if !try_ && self.hardirq_depth > 0 {
                w.set(usage::bit(usage::HARD, usage::USED_IN, read));
            }
            if !try_ && self.softirq_depth > 0 {
                w.set(usage::bit(usage::SOFT, usage::USED_IN, read));
            }
            if self.hard_enabled() {
                w.set(usage::bit(usage::HARD, usage::ENABLED, read));
            }
            if self.soft_enabled() {
                w.set(usage::bit(usage::SOFT, usage::ENABLED, read));
            }
            self.want[i] = w;
        }
    }
    fn must_not_block(&self) -> bool {
        self.hardirq_depth > 0
            || self.softirq_depth > 0
            || self.atomic_depth > 0
            || self.spin_held > 0
    }
    fn context_name(&self) -> &'static str {
        if self.hardirq_depth > 0 {
            "hardirq"
        } else if self.softirq_depth > 0 {
            "softirq"
        } else if self.atomic_depth > 0 {
            "atomic"
        } else {
            "spin lock held"
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct ChainInfo {
    /// Every edge this chain records has an empty gate set: object identity no longer matters.
    gate_free: bool,
    /// `obj_hash` of the thread when the chain was last validated.
    obj_hash: u64,
}

/// Counters for benchmarks and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events applied.
    pub events: u64,
    /// Chain-cache hits (an already-validated situation).
    pub chain_hits: u64,
    /// Chain-cache misses (full validation).
    pub chain_misses: u64,
    /// Known chains found in the global map because the thread's own cache missed.
    pub thread_cache_misses: u64,
    /// Classes.
    pub classes: usize,
    /// Dependency edges.
    pub edges: usize,
    /// Cached chains.
    pub chains: usize,
}

/// A thread and the locks it holds ([`Engine::threads_held`]).
#[derive(Clone, Debug)]
pub struct ThreadHeld {
    /// The thread.
    pub thread: ThreadId,
    /// Its name.
    pub name: String,
    /// Its held locks, outermost first, with their objects.
    pub held: Vec<(ObjId, HeldReport)>,
}

/// See [`Engine::top_chain`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KnownChain {
    /// Not a chain a caller may skip.
    No,
    /// Known, whatever objects are held.
    GateFree,
    /// Known with the objects held for write now (its edges have gate sets).
    Gated,
}

/// The lock and event dependency validator. A value, not a global: every run, trace or test
/// builds its own.
#[derive(Debug, Default)]
pub struct Engine {
    names: Interner,
    sites: Interner,
    stacks: Vec<Vec<SiteId>>,
    stack_index: FxHashMap<Vec<SiteId>, u32>,
    classes: Vec<ClassData>,
    class_index: FxHashMap<(u32, u8), u32>,
    nodes: Vec<NodeData>,
    graph: Graph,
    edge_info: Vec<EdgeInfo>,
    objs: Vec<Option<ObjData>>,
    hot: Vec<ObjHot>,
    threads: Vec<Option<ThreadData>>,
    chains: FxHashMap<u64, ChainInfo>,
    /// See [`Engine::foreign_rekeys`].
    foreign_rekeys: u64,
    /// Classes forgotten so far (part of every fast token: see [`Engine::forget_class`]).
    class_gen: u64,
    reported: FxHashSet<(String, Severity)>,
    reports: Vec<Report>,
    seq: u64,
    serial: u64,
    /// Classes used in hardirq / softirq (any read-ness): irq checks run only when non-zero.
    irq_safe: [u32; 2],
    /// Classes used with hardirqs / softirqs enabled: a new irq-safe class searches only
    /// when non-zero.
    irq_unsafe: [u32; 2],
    stats: Stats,
    /// Event-class nodes by (kind, class name).
    event_nodes: FxHashMap<(u8, u32), u32>,
    /// Owed `exit(T) -> Y` edges not in the graph yet: until some thread joins a thread of
    /// class T nothing points into `exit(T)`, so its out-edges cannot be on a cycle. Kept per
    /// exit node with their metadata and gate sets (intersected at every recording), and
    /// inserted at the first join that waits for `exit(T)`.
    lazy_exit: FxHashMap<u32, Vec<PendingEdge>>,
    lazy_index: FxHashMap<(u32, u32), usize>,
    joined: FxHashSet<u32>,
    /// Parked waiters per event object: (thread, seq of the wait).
    waiters: FxHashMap<(u32, u32), Vec<(ThreadId, u64)>>,
    /// Vector clock of the latest signal of each event object (a wait that finds the event
    /// done is ordered after it), of each work item when queued or handed over (ordered
    /// before its run), when its run ended (ordered before a flush), and of each exited
    /// thread (ordered before a join).
    last_signal: FxHashMap<(u32, u32), Box<[u64]>>,
    work_vc: FxHashMap<u32, Box<[u64]>>,
    ran_vc: FxHashMap<u32, Box<[u64]>>,
    exit_vc: FxHashMap<u32, Box<[u64]>>,
    /// Queue of each queued work item, and the `ran` nodes running on each queue.
    work_queue: FxHashMap<u32, u32>,
    running_on: FxHashMap<u32, Vec<u32>>,
    /// Reused by `walk_edges` (no allocation per chain miss).
    scratch_holders: Vec<Held>,
    scratch_gates: Vec<Gate>,
}

/// The hash step chain keys are folded with (public for callers that keep chain keys of their
/// own, as the runtime's fast path does).
pub fn mix(h: u64, v: u64) -> u64 {
    // A 64-bit multiply-xorshift fold; collisions are as unlikely as lockdep's jhash chain keys.
    let x = (h ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x ^ (x >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ (x >> 32)
}

/// Bit `i` of a growable bitset.
fn bit_get(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
}

/// Sets bit `i`; returns whether it was clear.
fn bit_set(bits: &mut Vec<u64>, i: usize) -> bool {
    if bits.len() <= i / 64 {
        bits.resize(i / 64 + 1, 0);
    }
    let was_clear = bits[i / 64] & (1 << (i % 64)) == 0;
    bits[i / 64] |= 1 << (i % 64);
    was_clear
}

/// The gates of an edge `fc -> tc`: an object of the edge's own classes can never gate a cycle
/// through it (the gate's class must not be in the cycle), so leaving them out lets most edges
/// be gate-free and their chains need not track which objects are held.
fn gates_outside(gates: &[Gate], fc: u32, tc: u32) -> impl Iterator<Item = Gate> + '_ {
    gates
        .iter()
        .filter(move |g| g.class != fc && g.class != tc)
        .copied()
}

fn serial_hash(serial: u64) -> u64 {
    mix(0x51_7CC1_B727_220A, serial)
}

impl Engine {
    /// A fresh engine.
    pub fn new() -> Self {
        let mut e = Engine::default();
        e.sites.intern("");
        e.stacks.push(Vec::new());
        e
    }

    /// Interns a name (class or thread name).
    pub fn intern(&mut self, s: &str) -> NameId {
        NameId(self.names.intern(s))
    }

    /// The string of an interned name.
    pub fn name(&self, id: NameId) -> &str {
        &self.names.strings[id.0 as usize]
    }

    /// Interns a source site.
    pub fn intern_site(&mut self, s: &str) -> SiteId {
        SiteId(self.sites.intern(s))
    }

    /// Interns a stack of sites (innermost first).
    pub fn intern_stack(&mut self, frames: &[SiteId]) -> StackId {
        if frames.is_empty() {
            return StackId::NONE;
        }
        if let Some(&i) = self.stack_index.get(frames) {
            return StackId(i);
        }
        let i = self.stacks.len() as u32;
        self.stacks.push(frames.to_vec());
        self.stack_index.insert(frames.to_vec(), i);
        StackId(i)
    }

    /// The string of an interned site (`None` for `SiteId::NONE`).
    pub fn site(&self, id: SiteId) -> Option<&str> {
        (id != SiteId::NONE).then(|| self.sites.strings[id.0 as usize].as_str())
    }

    /// The sites of an interned stack, innermost first (empty for `StackId::NONE`).
    pub fn stack(&self, id: StackId) -> Vec<String> {
        self.stack_strings(id)
    }

    /// Names a thread in reports (default `thread <n>`).
    pub fn set_thread_name(&mut self, t: ThreadId, name: &str) {
        let th = self.thread_mut(t);
        th.name = name.to_owned();
        th.exit = u32::MAX;
    }

    /// Reports raised so far, in the order found.
    pub fn reports(&self) -> &[Report] {
        &self.reports
    }

    /// Takes the reports raised so far.
    pub fn take_reports(&mut self) -> Vec<Report> {
        std::mem::take(&mut self.reports)
    }

    /// Events applied so far: the next event's sequence number (an [`EdgeReport`]'s `seq`).
    pub fn events(&self) -> u64 {
        self.seq
    }

    /// Every dependency edge, as first recorded (for pictures of the graph).
    pub fn edges(&self) -> Vec<EdgeReport> {
        (0..self.graph.edge_slots() as u32)
            .filter(|&e| self.graph.edge(e).types != 0)
            .map(|e| self.edge_report(e))
            .collect()
    }

    /// Dependency edges in the graph.
    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// Whether the graph's structure is sound: edge lists, index and the order (test and fuzz
    /// aid; it walks the whole graph).
    pub fn graph_is_consistent(&mut self) -> bool {
        self.graph.lists_are_consistent()
            && self.graph.order_is_consistent()
            && self.edge_info.len() >= self.graph.edge_slots()
    }

    /// Dependency edges recorded so far, forgotten ones included: it grows exactly when an
    /// event records a new dependency.
    pub fn edges_recorded(&self) -> u64 {
        self.graph.edges_created()
    }

    /// Forgets the lock class `name`, every subclass of it: its dependencies (edges in and
    /// out, pending owed ones), its irq usage, its place in threads' signal windows, and every
    /// cached chain (a chain cannot be found by class, so all are dropped and re-validated on
    /// their next use). A later class of the same name starts afresh. This is lockdep's
    /// `lockdep_unregister_key` for classes made at run time, so that memory follows the live
    /// classes; the caller must have freed every object of the class (not re-declared since).
    ///
    /// Returns the sequence numbers of the removed edges' first recordings (what a caller
    /// keeps per edge, a backtrace say, can go). `Ok(None)`, changing nothing, when a state of
    /// the class lies on a cycle of non-strong or gated edges (a merged component of the
    /// order, which is never split): the name must then not be reused. An error when a thread
    /// holds a lock of the class.
    pub fn forget_class(&mut self, name: NameId) -> Result<Option<Vec<u64>>, EngineError> {
        let ids: Vec<u32> = (0..8u8)
            .filter_map(|s| self.class_index.get(&(name.0, s)).copied())
            .collect();
        if self
            .threads
            .iter()
            .flatten()
            .any(|th| th.held.iter().any(|h| ids.contains(&h.class)))
        {
            return err(format!(
                "class {} is still held: it cannot be forgotten",
                self.names.strings[name.0 as usize]
            ));
        }
        // Event nodes of the name too (a completion or counter of the class).
        let events: Vec<u32> = self
            .event_nodes
            .iter()
            .filter(|&(&(_, nm), _)| nm == name.0)
            .map(|(_, &n)| n)
            .collect();
        let nodes: Vec<u32> = ids
            .iter()
            .map(|&c| self.classes[c as usize].node)
            .chain(events.iter().copied())
            .collect();
        if !nodes.iter().all(|&n| self.graph.can_isolate(n)) {
            return Ok(None);
        }
        let mut seqs = Vec::new();
        for &n in &nodes {
            for e in self.graph.isolate(n).expect("checked above") {
                let info = &mut self.edge_info[e as usize];
                seqs.push(info.seq);
                info.gates = SmallVec::new();
                info.steps = SmallVec::new();
            }
            for list in self.lazy_exit.values_mut() {
                list.retain(|p| p.0 != n);
            }
            self.lazy_exit.remove(&n);
            self.joined.remove(&n);
        }
        for &c in &ids {
            let n = self.classes[c as usize].node;
            let class = &mut self.classes[c as usize];
            for state in 0..2 {
                if class.usage.any_used_in(state) {
                    self.irq_safe[state] -= 1;
                }
                if class.usage.any_enabled(state) {
                    self.irq_unsafe[state] -= 1;
                }
            }
            class.usage = Usage::default();
            class.usage_site = [(0, SiteId::NONE); usage::BITS];
            debug_assert!(self.graph.out_edges(n).is_empty());
            for th in self.threads.iter_mut().flatten() {
                if bit_get(&th.acq_bits, c as usize) {
                    th.acq_bits[(c / 64) as usize] &= !(1u64 << (c % 64));
                    th.acq_list.retain(|a| a.0 != c);
                }
            }
        }
        // Positions in the pending owed lists moved: index them again.
        self.lazy_index.clear();
        for (&x, list) in &self.lazy_exit {
            for (i, p) in list.iter().enumerate() {
                self.lazy_index.insert((x, p.0), i);
            }
        }
        self.chains.clear();
        for th in self.threads.iter_mut().flatten() {
            th.chain_cache
                .iter_mut()
                .for_each(|e| *e = CacheEntry::default());
            th.exit_done.clear();
        }
        // Every caller's own chain cache is stale too: its token changes, and the foreign
        // rekey count tells it to look.
        self.class_gen += 1;
        self.foreign_rekeys += 1;
        Ok(Some(seqs))
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            events: self.seq,
            classes: self.classes.len(),
            edges: self.graph.edge_count(),
            chains: self.chains.len(),
            ..self.stats
        }
    }

    /// What a caller's own per-thread cache of validated chains must be keyed by (the runtime's
    /// lock-free fast path): `None` while `t` is in a context where acquisitions need more
    /// than a chain lookup (irq, atomic, spin lock held); otherwise a token that changes
    /// whenever the engine's chain keys for `t` or its signal window change. A chain validated
    /// under one token is still validated while the token is unchanged.
    pub fn fast_token(&self, t: ThreadId) -> Option<u64> {
        let th = self.threads.get(t.0 as usize)?.as_ref()?;
        if th.ctx_no_block || th.spin_held > 0 || th.irq_level() != 0 {
            return None;
        }
        let flags = u64::from(th.hard_on) | (u64::from(th.soft_disable > 0) << 1);
        Some(mix(
            mix(mix(th.key_base, th.win_start), flags),
            self.class_gen,
        ))
    }

    /// Whether `t`'s latest acquire (the top of its held stack) is one the engine's own fast
    /// path now accepts with no change to the graph: blocking, checked, no nest_lock, a
    /// sleeping lock, a known chain, its usage and its signal-window entry recorded. A caller
    /// may then skip telling the engine about the same acquire in the same situation (same
    /// token, same chain and, for a [`KnownChain::Gated`] one, the same objects held for
    /// write) until it must report the hold.
    pub fn top_chain(&self, t: ThreadId) -> KnownChain {
        let Some(Some(th)) = self.threads.get(t.0 as usize) else {
            return KnownChain::No;
        };
        let Some(h) = th.held.last() else {
            return KnownChain::No;
        };
        if h.try_ || !h.check || h.nest.is_some() || h.spin || h.pseudo || h.irq_level != 0 {
            return KnownChain::No;
        }
        let in_window = bit_get(&th.acq_bits, h.class as usize);
        let want = th.want[usize::from(h.mode.is_shared())];
        if !in_window || !self.classes[h.class as usize].usage.contains(want) {
            return KnownChain::No;
        }
        // The chain was validated with the holds below the top (as the fast path looks it up).
        let below = if is_gate_hold(h.mode, h.check, h.pseudo) {
            th.obj_hash.wrapping_sub(h.serial)
        } else {
            th.obj_hash
        };
        match self.chains.get(&h.key) {
            Some(c) if c.gate_free => KnownChain::GateFree,
            Some(c) if c.obj_hash == below => KnownChain::Gated,
            _ => KnownChain::No,
        }
    }

    /// The threads the engine knows, with their names and held locks (outermost first), for
    /// a caller's own reports (the runtime's watchdog); exited threads hold nothing.
    pub fn threads_held(&self) -> Vec<ThreadHeld> {
        self.threads
            .iter()
            .enumerate()
            .filter_map(|(i, th)| {
                let th = th.as_ref()?;
                let held = th
                    .held
                    .iter()
                    .map(|h| {
                        (
                            h.obj,
                            HeldReport {
                                class: self.classes[h.class as usize].display.clone(),
                                mode: h.mode.as_str(),
                                try_: h.try_,
                                site: self.site_opt(h.site),
                            },
                        )
                    })
                    .collect();
                Some(ThreadHeld {
                    thread: ThreadId(i as u32),
                    name: th.name.clone(),
                    held,
                })
            })
            .collect()
    }

    /// The locks `t` holds, outermost first.
    pub fn held_objects(&self, t: ThreadId) -> impl Iterator<Item = ObjId> + '_ {
        self.threads
            .get(t.0 as usize)
            .and_then(Option::as_ref)
            .into_iter()
            .flat_map(|th| th.held.iter().map(|h| h.obj))
    }

    /// How many times an op of one thread changed another thread's chain keys (a deferred
    /// list handed over): a caller's per-thread chain caches are stale after that.
    pub fn foreign_rekeys(&self) -> u64 {
        self.foreign_rekeys
    }

    /// Approximate heap bytes of the dependency graph and its edge records.
    pub fn graph_heap_bytes(&self) -> usize {
        self.graph.heap_bytes()
            + self.edge_info.capacity() * std::mem::size_of::<EdgeInfo>()
            + self
                .edge_info
                .iter()
                .map(|e| {
                    if e.gates.spilled() {
                        e.gates.capacity() * 16
                    } else {
                        0
                    }
                })
                .sum::<usize>()
    }

    /// Applies one event. Findings go to [`Engine::reports`]; an `Err` means the input makes
    /// no sense (the event is not applied).
    ///
    /// Inlined into the caller's loop: the fast paths then keep their state in registers
    /// across events instead of saving and restoring them on every call.
    #[inline(always)]
    pub fn apply(&mut self, ev: &Event) -> Result<(), EngineError> {
        // The two ops that make up nearly every trace go through a small fast path; the
        // rest (and every case the fast paths decline) through `apply_inner`, kept out of
        // line so that its large frame is not paid by every event.
        let fast = match ev.op {
            Op::Acquire {
                thread,
                lock,
                mode,
                try_,
                subclass,
                nest_lock: None,
                check,
            } => self.fast_acquire(thread, lock, mode, try_, subclass, check, ev.site),
            Op::Release { thread, lock } => self.fast_release(thread, lock),
            _ => false,
        };
        let res = if fast { Ok(()) } else { self.apply_inner(ev) };
        self.seq += 1;
        res
    }

    /// Releases the top of the held stack when it is `lock` (the common, in-order case).
    #[inline]
    fn fast_release(&mut self, t: ThreadId, lock: ObjId) -> bool {
        let Some(Some(th)) = self.threads.get_mut(t.0 as usize) else {
            return false;
        };
        let level = th.irq_level();
        match th.held.last() {
            Some(h) if h.obj == lock && h.irq_level == level && th.incoming.is_empty() => {}
            _ => return false,
        }
        let h = th.held.pop().expect("checked");
        th.last_seq = self.seq;
        if h.spin {
            th.spin_held -= 1;
        }
        if is_gate_hold(h.mode, h.check, h.pseudo) {
            th.obj_hash = th.obj_hash.wrapping_sub(h.serial);
        }
        true
    }

    #[inline(never)]
    fn apply_inner(&mut self, ev: &Event) -> Result<(), EngineError> {
        let (site, stack) = (ev.site, ev.stack);
        if let Some(t) = ev.op.thread() {
            // A thread's new op ends its pending wait (it returned).
            let seq = self.seq;
            let th = self.thread_mut(t);
            th.last_seq = seq;
            if !th.incoming.is_empty() {
                let msgs = std::mem::take(&mut th.incoming);
                for m in msgs {
                    self.vc_merge(t, &m);
                }
            }
        }
        match ev.op {
            Op::New { obj, decl } => self.op_new(obj, decl),
            Op::ThreadClass { thread, class } => {
                let key = mix(0x7468_7265_6164, u64::from(class.0));
                let th = self.thread_mut(thread);
                th.class_key = key;
                th.tclass = Some(class);
                th.exit = u32::MAX;
                self.rekey(thread);
                Ok(())
            }
            Op::Free { thread, obj } => self.op_free(thread, obj, site, stack),
            Op::Spawn { thread, child } => {
                self.thread_mut(thread);
                self.thread_mut(child);
                self.spawned(thread, child);
                Ok(())
            }
            Op::Exit { thread } => {
                self.thread_mut(thread);
                self.check_held_at_exit(thread, site, stack, "exit");
                let th = self.thread_mut(thread);
                th.held.clear();
                th.spin_held = 0;
                th.obj_hash = 0;
                // Its chain cache (64 KiB) is of no use to an exited thread; a reused id
                // allocates a fresh one on its first chain.
                th.chain_cache = Box::default();
                th.exit_done = Vec::new();
                self.exit_events(thread);
                Ok(())
            }
            Op::Acquire {
                thread,
                lock,
                mode,
                try_,
                subclass,
                nest_lock,
                check,
            } => self.op_acquire(
                thread, lock, mode, try_, subclass, nest_lock, check, site, stack,
            ),
            Op::Release { thread, lock } => self.op_release(thread, lock, site, stack),
            Op::MightAcquire { thread, lock, mode } => {
                self.op_acquire(thread, lock, mode, false, None, None, true, site, stack)?;
                self.release_top(thread, lock);
                Ok(())
            }
            Op::Enter { thread, ctx } => {
                let th = self.thread_mut(thread);
                th.frames.push(Frame {
                    ctx,
                    saved_hard_on: th.hard_on,
                });
                match ctx {
                    Context::Hardirq => th.hardirq_depth += 1,
                    Context::Softirq => th.softirq_depth += 1,
                    Context::Atomic => th.atomic_depth += 1,
                    Context::Boundary => {}
                }
                th.refresh();
                if ctx == Context::Boundary {
                    // Waits and acquisitions before a boundary never count for signals after
                    // it (§3); the window restarts here.
                    self.boundary(thread);
                }
                Ok(())
            }
            Op::Leave { thread, ctx } => {
                let th = self.thread_mut(thread);
                let Some(top) = th.frames.last().copied() else {
                    return err(format!("leave {} without a matching enter", ctx.as_str()));
                };
                if top.ctx != ctx {
                    return err(format!(
                        "leave {} but the innermost context entered is {}",
                        ctx.as_str(),
                        top.ctx.as_str()
                    ));
                }
                let before = (th.hard_enabled(), th.soft_enabled());
                th.frames.pop();
                match ctx {
                    Context::Hardirq => {
                        th.hardirq_depth -= 1;
                        th.hard_on = top.saved_hard_on;
                    }
                    Context::Softirq => th.softirq_depth -= 1,
                    Context::Atomic => th.atomic_depth -= 1,
                    Context::Boundary => {}
                }
                th.refresh();
                if ctx == Context::Boundary {
                    // Leaving a boundary closes the window (decision 2).
                    self.boundary(thread);
                }
                self.irq_transition(thread, before, site, stack);
                Ok(())
            }
            Op::IrqDisable { thread } => {
                let th = self.thread_mut(thread);
                th.hard_on = false;
                th.refresh();
                Ok(())
            }
            Op::IrqEnable { thread } => {
                let th = self.thread_mut(thread);
                let before = (th.hard_enabled(), th.soft_enabled());
                th.hard_on = true;
                th.refresh();
                self.irq_transition(thread, before, site, stack);
                Ok(())
            }
            Op::SoftirqDisable { thread } => {
                let th = self.thread_mut(thread);
                th.soft_disable += 1;
                th.refresh();
                Ok(())
            }
            Op::SoftirqEnable { thread } => {
                let th = self.thread_mut(thread);
                let before = (th.hard_enabled(), th.soft_enabled());
                th.soft_disable = th.soft_disable.saturating_sub(1);
                th.refresh();
                self.irq_transition(thread, before, site, stack);
                Ok(())
            }
            Op::MightSleep { thread } => {
                let th = self.thread_mut(thread);
                if th.must_not_block() {
                    let ctx = th.context_name();
                    let class = if site == SiteId::NONE {
                        "might_sleep".to_owned()
                    } else {
                        self.sites.strings[site.0 as usize].clone()
                    };
                    let title =
                        format!("sleeping function called from invalid context ({ctx}) at {class}");
                    let notes = vec![format!("might_sleep() in {ctx} context")];
                    self.emit(
                        Kind::InvalidContext,
                        Severity::Error,
                        vec![class],
                        title,
                        thread,
                        site,
                        stack,
                        Vec::new(),
                        notes,
                    );
                }
                Ok(())
            }
            Op::Join { .. }
            | Op::Wait { .. }
            | Op::Signal { .. }
            | Op::CondWait { .. }
            | Op::Notify { .. }
            | Op::Inc { .. }
            | Op::Dec { .. }
            | Op::WaitZero { .. }
            | Op::Send { .. }
            | Op::Recv { .. }
            | Op::Close { .. }
            | Op::Queue { .. }
            | Op::RunBegin { .. }
            | Op::RunEnd { .. }
            | Op::Flush { .. }
            | Op::FlushQueue { .. }
            | Op::Defer { .. }
            | Op::FlushPoint { .. }
            | Op::ObligationBegin { .. }
            | Op::ObligationEnd { .. } => self.apply_event(&ev.op, site, stack),
        }
    }

    // ----- objects, classes, threads -------------------------------------------------------

    fn op_new(&mut self, obj: ObjId, decl: ObjDecl) -> Result<(), EngineError> {
        if decl.subclass > 7 {
            return err(format!("subclass {} out of range 0..=7", decl.subclass));
        }
        let i = obj.0 as usize;
        if self.objs.len() <= i {
            self.objs.resize_with(i + 1, || None);
        }
        self.serial += 1;
        let spin = decl.spin.unwrap_or(decl.kind == ObjKind::SpinLock);
        self.objs[i] = Some(ObjData {
            decl,
            spin,
            serial: serial_hash(self.serial),
            classes: [u32::MAX; 8],
        });
        if self.hot.len() <= i {
            self.hot.resize(i + 1, ObjHot::default());
        }
        // Unfair rwlocks turn reads into recursive reads: the general path handles that.
        let fast = decl.kind.is_lock() && (decl.kind != ObjKind::RwLock || decl.fair);
        self.hot[i] = ObjHot {
            serial: serial_hash(self.serial),
            class: u32::MAX,
            flags: (u8::from(fast) * HOT_FAST)
                | (u8::from(spin) * HOT_SPIN)
                | (u8::from(decl.kind == ObjKind::Pseudo) * HOT_PSEUDO),
            subclass: decl.subclass,
            usage: Usage::default(),
        };
        Ok(())
    }

    fn obj(&self, obj: ObjId) -> Result<&ObjData, EngineError> {
        match self.objs.get(obj.0 as usize) {
            Some(Some(o)) => Ok(o),
            _ => err(format!("object #{} used before it was declared", obj.0)),
        }
    }

    fn class_of(&mut self, obj: ObjId, sub: u8) -> u32 {
        let o = self.objs[obj.0 as usize]
            .as_ref()
            .expect("checked by caller");
        let cached = o.classes[sub as usize];
        if cached != u32::MAX {
            return cached;
        }
        let name = o.decl.class.0;
        let c = self.class_for(name, sub);
        let o = self.objs[obj.0 as usize].as_mut().expect("checked");
        o.classes[sub as usize] = c;
        if sub == o.decl.subclass {
            self.hot[obj.0 as usize].class = c;
        }
        c
    }

    fn class_for(&mut self, name: u32, sub: u8) -> u32 {
        if let Some(&c) = self.class_index.get(&(name, sub)) {
            return c;
        }
        let base = &self.names.strings[name as usize];
        let display = if sub == 0 {
            base.clone()
        } else {
            format!("{base}/{sub}")
        };
        let c = self.classes.len() as u32;
        let node = self.graph.add_node();
        self.nodes.push(NodeData {
            kind: NodeKind::Lock,
            class: c,
            label: display.clone(),
        });
        self.classes.push(ClassData {
            display,
            node,
            usage: Usage::default(),
            usage_site: [(u32::MAX, SiteId::NONE); usage::BITS],
        });
        self.class_index.insert((name, sub), c);
        c
    }

    fn thread_mut(&mut self, t: ThreadId) -> &mut ThreadData {
        let i = t.0 as usize;
        if self.threads.len() <= i {
            self.threads.resize_with(i + 1, || None);
        }
        let seq = self.seq;
        self.threads[i].get_or_insert_with(|| {
            let mut th = ThreadData {
                name: format!("thread {}", t.0),
                class_key: mix(0x7468_7265_6164, 0x1_0000_0000 | u64::from(t.0)),
                held: Vec::new(),
                frames: Vec::new(),
                hard_on: true,
                soft_disable: 0,
                want: [Usage::default(); 4],
                ctx_no_block: false,
                hardirq_depth: 0,
                softirq_depth: 0,
                atomic_depth: 0,
                spin_held: 0,
                obj_hash: 0,
                chain_cache: Box::default(),
                exit_done: Vec::new(),
                exit_done_node: u32::MAX,
                tclass: None,
                exit: u32::MAX,
                owed: Vec::new(),
                owe_hash: 0,
                key_base: 0,
                win_start: 0,
                acq_bits: Vec::new(),
                acq_list: Vec::new(),
                waits: Vec::new(),
                last_seq: 0,
                park_seq: None,
                deferred: Vec::new(),
                running: Vec::new(),
                snaps: vec![(0, 0, Box::default())],
                epoch: 0,
                incoming: Vec::new(),
                start: Step {
                    thread: t.0,
                    seq,
                    epoch: 0,
                },
            };
            th.refresh();
            th.key_base = mix(th.class_key, 0);
            th
        })
    }

    fn thread(&self, t: ThreadId) -> &ThreadData {
        self.threads[t.0 as usize].as_ref().expect("thread exists")
    }

    // ----- acquire / release ---------------------------------------------------------------

    /// The common case in one pass with one borrow of each table: a known lock class, no
    /// nest_lock, no context or usage change, and a chain this thread already validated.
    /// Returns false (having changed nothing) when any of that does not hold.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn fast_acquire(
        &mut self,
        t: ThreadId,
        lock: ObjId,
        mode: Mode,
        try_: bool,
        subclass: Option<u8>,
        check: bool,
        site: SiteId,
    ) -> bool {
        let Some(&o) = self.hot.get(lock.0 as usize) else {
            return false;
        };
        let Some(Some(th)) = self.threads.get_mut(t.0 as usize) else {
            return false;
        };
        if !th.incoming.is_empty() {
            return false; // a clock to merge first: the general path does it
        }
        // Declared subclass only, a resolved class, a lock that is not an unfair rwlock.
        if o.flags & HOT_FAST == 0
            || o.class == u32::MAX
            || subclass.is_some_and(|s| s != o.subclass)
        {
            return false;
        }
        let class = o.class;
        let (spin, pseudo) = (o.flags & HOT_SPIN != 0, o.flags & HOT_PSEUDO != 0);
        if !try_ && !spin && !pseudo && (th.ctx_no_block || th.spin_held > 0) {
            return false;
        }
        // Usage bits this acquire would set must all be set already.
        let want = th.want[usize::from(try_) * 2 + usize::from(mode.is_shared())];
        if !o.usage.contains(want) {
            return false;
        }
        if !try_ && check {
            // Rule (a) window (see op_acquire); a class not seen since the boundary takes the
            // general path, which records it.
            if !bit_get(&th.acq_bits, class as usize) {
                return false;
            }
        }
        let irq_level = th.irq_level();
        let prev_key = match th.held.last() {
            Some(h) if h.irq_level == irq_level => h.key,
            _ => mix(th.key_base, u64::from(irq_level)),
        };
        let key = entry_key(prev_key, class, mode, try_, check, None);
        if !try_ && check && th.held.last().is_none_or(|h| h.nest.is_none()) {
            let obj_hash = th.obj_hash;
            if !th.cache_hit(key, obj_hash) {
                // Validated before by another thread of this class (or evicted here)?
                self.stats.thread_cache_misses += 1;
                match self.chains.get(&key) {
                    Some(info) if info.gate_free || info.obj_hash == obj_hash => {
                        th.cache_insert(key, obj_hash, info.gate_free);
                    }
                    _ => return false,
                }
            }
            self.stats.chain_hits += 1;
        } else if !try_ && check {
            return false;
        }
        th.last_seq = self.seq;
        let serial = o.serial;
        th.held.push(Held {
            obj: lock,
            class,
            mode,
            try_,
            check,
            nest: None,
            irq_level,
            key,
            site,
            serial,
            spin,
            pseudo,
            seq: self.seq,
            epoch: th.epoch,
        });
        if spin {
            th.spin_held += 1;
        }
        if is_gate_hold(mode, check, pseudo) {
            th.obj_hash = th.obj_hash.wrapping_add(serial);
        }
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn op_acquire(
        &mut self,
        t: ThreadId,
        lock: ObjId,
        mode: Mode,
        try_: bool,
        subclass: Option<u8>,
        nest_lock: Option<ObjId>,
        check: bool,
        site: SiteId,
        stack: StackId,
    ) -> Result<(), EngineError> {
        let o = self.obj(lock)?;
        if !o.decl.kind.is_lock() {
            return err(format!(
                "acquire of a {}, which is not a lock",
                o.decl.kind.as_str()
            ));
        }
        let sub = subclass.unwrap_or(o.decl.subclass);
        if sub > 7 {
            return err(format!("subclass {sub} out of range 0..=7"));
        }
        let (kind, spin, serial, fair) = (o.decl.kind, o.spin, o.serial, o.decl.fair);
        if let Some(n) = nest_lock {
            let no = self.obj(n)?;
            if !no.decl.kind.is_lock() {
                return err(format!(
                    "nest_lock is a {}, not a lock",
                    no.decl.kind.as_str()
                ));
            }
        }
        // An unfair rwlock never queues readers behind writers.
        let mode = if kind == ObjKind::RwLock && !fair && mode == Mode::Read {
            Mode::ReadRecursive
        } else {
            mode
        };
        let class = self.class_of(lock, sub);
        self.thread_mut(t);

        // Wait context: a sleeping lock where the thread must not block.
        let th = self.thread(t);
        if !try_ && !spin && kind != ObjKind::Pseudo && th.must_not_block() {
            let ctx = th.context_name();
            let name = self.classes[class as usize].display.clone();
            let title =
                format!("invalid wait context: sleeping lock {name} acquired in {ctx} context");
            let notes = vec![format!("the thread is in {ctx} context and must not block")];
            self.emit(
                Kind::InvalidContext,
                Severity::Error,
                vec![name],
                title,
                t,
                site,
                stack,
                Vec::new(),
                notes,
            );
        }

        // Irq usage (check:false holds still count, as the spec says).
        self.mark_acquire_usage(t, class, mode, try_, site, stack);
        let usage = self.classes[class as usize].usage;
        if let Some(Some(o)) = self.objs.get(lock.0 as usize)
            && sub == o.decl.subclass
        {
            self.hot[lock.0 as usize].usage = usage;
        }

        // nest_lock must be held.
        let mut nest = nest_lock;
        if let Some(n) = nest_lock
            && !self.thread(t).held.iter().any(|h| h.obj == n)
        {
            let nclass = self.class_of(
                n,
                self.objs[n.0 as usize]
                    .as_ref()
                    .map_or(0, |o| o.decl.subclass),
            );
            let names = vec![
                self.classes[class as usize].display.clone(),
                self.classes[nclass as usize].display.clone(),
            ];
            let title = format!(
                "nested lock was not taken: {} acquired with nest_lock {} not held",
                names[0], names[1]
            );
            self.emit(
                Kind::NestLockNotHeld,
                Severity::Error,
                names,
                title,
                t,
                site,
                stack,
                Vec::new(),
                Vec::new(),
            );
            nest = None;
        }

        let pseudo = kind == ObjKind::Pseudo;
        let nest_class = nest.map(|n| {
            let s = self.objs[n.0 as usize]
                .as_ref()
                .map_or(0, |o| o.decl.subclass);
            self.class_of(n, s)
        });
        let th = self.threads[t.0 as usize].as_mut().expect("exists");
        let irq_level = th.irq_level();
        let prev_key = match th.held.last() {
            Some(h) if h.irq_level == irq_level => h.key,
            _ => mix(th.key_base, u64::from(irq_level)),
        };
        let key = entry_key(prev_key, class, mode, try_, check, nest_class);
        th.held.push(Held {
            obj: lock,
            class,
            mode,
            try_,
            check,
            nest,
            irq_level,
            key,
            site,
            serial,
            spin,
            pseudo,
            seq: self.seq,
            epoch: th.epoch,
        });
        if !try_ && check {
            self.validate_chain(t, site, stack);
            // Rule (a) window: lock classes blocking-acquired since the boundary.
            let seq = self.seq;
            let th = self.threads[t.0 as usize].as_mut().expect("exists");
            if bit_set(&mut th.acq_bits, class as usize) {
                let epoch = th.epoch;
                th.acq_list
                    .push((class, seq, mode == Mode::ReadRecursive, epoch));
            }
        }
        let th = self.threads[t.0 as usize].as_mut().expect("exists");
        if spin {
            th.spin_held += 1;
        }
        if is_gate_hold(mode, check, pseudo) {
            th.obj_hash = th.obj_hash.wrapping_add(serial);
        }
        Ok(())
    }

    /// A blocking, checked acquire (the re-acquire after `cond_wait`).
    pub(crate) fn apply_lock_acquire(
        &mut self,
        t: ThreadId,
        lock: ObjId,
        mode: Mode,
        site: SiteId,
        stack: StackId,
    ) -> Result<(), EngineError> {
        self.op_acquire(t, lock, mode, false, None, None, true, site, stack)
    }

    /// A release (the release before `cond_wait`).
    pub(crate) fn apply_lock_release(
        &mut self,
        t: ThreadId,
        lock: ObjId,
        site: SiteId,
        stack: StackId,
    ) -> Result<(), EngineError> {
        self.op_release(t, lock, site, stack)
    }

    fn op_release(
        &mut self,
        t: ThreadId,
        lock: ObjId,
        site: SiteId,
        stack: StackId,
    ) -> Result<(), EngineError> {
        let o = self.obj(lock)?;
        if !o.decl.kind.is_lock() {
            return err(format!(
                "release of a {}, which is not a lock",
                o.decl.kind.as_str()
            ));
        }
        let sub = o.decl.subclass;
        self.thread_mut(t);
        if !self.release_top(t, lock) {
            let class = self.class_of(lock, sub);
            let name = self.classes[class as usize].display.clone();
            let title = format!("bad unlock balance: {name} released but not held");
            let notes = vec!["but there are no more locks to release".to_owned()];
            self.emit(
                Kind::BadUnlock,
                Severity::Error,
                vec![name],
                title,
                t,
                site,
                stack,
                Vec::new(),
                notes,
            );
        }
        Ok(())
    }

    /// Removes the thread's most recent hold of `lock` in its current irq context; false if
    /// there is none.
    fn release_top(&mut self, t: ThreadId, lock: ObjId) -> bool {
        let th = self.threads[t.0 as usize].as_mut().expect("exists");
        let level = th.irq_level();
        let mut found = None;
        for (i, h) in th.held.iter().enumerate().rev() {
            if h.irq_level != level {
                break;
            }
            if h.obj == lock {
                found = Some(i);
                break;
            }
        }
        let Some(i) = found else { return false };
        let h = th.held.remove(i);
        if h.spin {
            th.spin_held -= 1;
        }
        if is_gate_hold(h.mode, h.check, h.pseudo) {
            th.obj_hash = th.obj_hash.wrapping_sub(h.serial);
        }
        // Recompute the chain keys above the removed entry (no re-validation: see
        // ARCHITECTURE.md, "out-of-order release").
        self.rekey_from(t, i);
        true
    }

    /// Recomputes the thread's key base (thread class + owed events) and every held entry's
    /// chain key.
    pub(crate) fn rekey(&mut self, t: ThreadId) {
        let th = self.threads[t.0 as usize].as_mut().expect("exists");
        th.key_base = mix(th.class_key, th.owe_hash);
        self.rekey_from(t, 0);
    }

    /// Recomputes the chain keys of the held entries from index `i` up.
    fn rekey_from(&mut self, t: ThreadId, i: usize) {
        let th = self.threads[t.0 as usize].as_mut().expect("exists");
        for j in i..th.held.len() {
            let nest_class = th.held[j].nest.map(|n| {
                self.objs[n.0 as usize]
                    .as_ref()
                    .map_or(u32::MAX, |o| o.classes[o.decl.subclass as usize])
            });
            let prev = if j > 0 && th.held[j - 1].irq_level == th.held[j].irq_level {
                th.held[j - 1].key
            } else {
                mix(th.key_base, u64::from(th.held[j].irq_level))
            };
            let h = &mut th.held[j];
            h.key = entry_key(prev, h.class, h.mode, h.try_, h.check, nest_class);
        }
    }

    /// Validates the top of the held stack unless its chain was validated before.
    fn validate_chain(&mut self, t: ThreadId, site: SiteId, stack: StackId) {
        let th = self.threads[t.0 as usize].as_mut().expect("exists");
        let key = th.held.last().expect("just pushed").key;
        let obj_hash = th.obj_hash;
        // An acquire naming a nest_lock is validated every time: whether it is "nested"
        // depends on which held instance the nest lock is, which the chain key cannot say.
        if th.held.last().is_some_and(|h| h.nest.is_some()) {
            self.stats.chain_misses += 1;
            self.validate_nested(t, site, stack);
            return;
        }
        if th.cache_hit(key, obj_hash) {
            self.stats.chain_hits += 1;
            return;
        }
        let info = self.validate_chain_slow(t, key, obj_hash, site, stack);
        let th = self.threads[t.0 as usize].as_mut().expect("exists");
        th.cache_insert(key, obj_hash, info.gate_free);
    }

    /// Same-class recursion check of the top of the held stack against every held lock (all
    /// irq contexts, as lockdep). Returns true when the acquire goes on to record
    /// dependencies; false when it raised `recursive` or is covered by its nest_lock.
    fn recursion_check(&mut self, t: ThreadId, site: SiteId, stack: StackId) -> bool {
        let th = self.threads[t.0 as usize].as_ref().expect("exists");
        let top = *th.held.last().expect("just pushed");
        let mut nest_seen = false;
        let mut prev = None;
        for h in &th.held[..th.held.len() - 1] {
            if Some(h.obj) == top.nest {
                nest_seen = true;
            }
            if !h.check || h.class != top.class {
                continue;
            }
            if top.mode == Mode::ReadRecursive && h.mode.is_shared() {
                continue;
            }
            if nest_seen {
                return false;
            }
            prev = Some(*h);
            break;
        }
        let Some(prev) = prev else { return true };
        let name = self.classes[top.class as usize].display.clone();
        let title = format!("possible recursive locking: {name} acquired while already held");
        let notes = vec![format!(
            "already holding {} ({}){}",
            name,
            prev.mode.as_str(),
            self.site_suffix(prev.site)
        )];
        self.emit(
            Kind::Recursive,
            Severity::Error,
            vec![name],
            title,
            t,
            site,
            stack,
            Vec::new(),
            notes,
        );
        false
    }

    /// Full validation of an acquire that names a nest_lock, bypassing the chain cache.
    fn validate_nested(&mut self, t: ThreadId, site: SiteId, stack: StackId) {
        if self.recursion_check(t, site, stack) {
            self.walk_edges(t, site, stack);
        }
    }

    /// The global chain map behind the thread's cache; returns the chain's entry (inserted or
    /// updated) so the caller can fill the thread cache without another lookup.
    fn validate_chain_slow(
        &mut self,
        t: ThreadId,
        key: u64,
        obj_hash: u64,
        site: SiteId,
        stack: StackId,
    ) -> ChainInfo {
        let gate_free = match self.chains.get(&key) {
            Some(info) if info.gate_free || info.obj_hash == obj_hash => {
                self.stats.chain_hits += 1;
                return *info;
            }
            Some(_) => {
                // Same classes, different gate objects: re-record the edges (only the gate
                // sets can change).
                self.stats.chain_misses += 1;
                self.walk_edges(t, site, stack)
            }
            None => {
                self.stats.chain_misses += 1;
                if self.recursion_check(t, site, stack) {
                    self.walk_edges(t, site, stack)
                } else {
                    true
                }
            }
        };
        let info = ChainInfo {
            gate_free,
            obj_hash,
        };
        self.chains.insert(key, info);
        info
    }

    /// Records `P -> N` for the holds lockdep uses: from the top down, every trylocked hold
    /// passed plus the first non-try hold, skipping `check:false`, stopping at an irq-context
    /// boundary. Returns true when every recorded edge has an empty gate set.
    fn walk_edges(&mut self, t: ThreadId, site: SiteId, stack: StackId) -> bool {
        let th = self.threads[t.0 as usize].as_ref().expect("exists");
        let n = th.held.len();
        let top = th.held[n - 1];
        let mut holders = std::mem::take(&mut self.scratch_holders);
        holders.clear();
        for h in th.held[..n - 1].iter().rev() {
            if h.irq_level != top.irq_level {
                break;
            }
            if !h.check {
                continue;
            }
            if h.class != top.class {
                holders.push(*h);
            }
            if !h.try_ {
                break;
            }
        }
        let mut gates = std::mem::take(&mut self.scratch_gates);
        gates.clear();
        gates.extend(
            th.held[..n - 1]
                .iter()
                .filter(|h| is_gate_hold(h.mode, h.check, h.pseudo))
                .map(|h| Gate {
                    serial: h.serial,
                    class: h.class,
                }),
        );
        let mut gate_free = true;
        for h in &holders {
            gate_free &= self.add_dependency(t, h, &top, &gates, site, stack);
        }
        // The thread's other obligations (its exit, running work, deferred items, declared
        // obligations) wait for this lock too (§3, owed events).
        let to = self.classes[top.class as usize].node;
        gate_free &= self.owed_edges(t, to, top.mode, &gates, site, stack);
        self.scratch_holders = holders;
        self.scratch_gates = gates;
        gate_free
    }

    /// Adds one lock dependency `P -> N`; returns true when its gate set is empty.
    fn add_dependency(
        &mut self,
        t: ThreadId,
        p: &Held,
        n: &Held,
        gates: &[Gate],
        site: SiteId,
        stack: StackId,
    ) -> bool {
        let bits = graph::edge_type(p.mode.is_shared(), n.mode == Mode::ReadRecursive);
        let from = self.classes[p.class as usize].node;
        let to = self.classes[n.class as usize].node;
        let meta = EdgeMeta {
            from_mode: p.mode,
            to_mode: n.mode,
            from_site: p.site,
            to_site: if n.site == SiteId::NONE { site } else { n.site },
            stack,
            timed: false,
            rule: EdgeRule::Held,
            step: Step {
                thread: t.0,
                seq: p.seq,
                epoch: p.epoch,
            },
        };
        self.add_edge(t, from, to, bits, meta, gates, site, stack)
    }

    /// Adds (or re-records) the edge `from -> to` between graph nodes, keeps its gate set,
    /// reports the cycles it closes and the irq paths it opens. Returns true when its gate set
    /// is empty.
    #[allow(clippy::too_many_arguments)]
    fn add_edge(
        &mut self,
        t: ThreadId,
        from: u32,
        to: u32,
        bits: u8,
        meta: EdgeMeta,
        gates: &[Gate],
        site: SiteId,
        stack: StackId,
    ) -> bool {
        let r = self.graph.add(from, to, bits);
        let mut changed = false;
        if r.created {
            let (fc, tc) = (
                self.nodes[from as usize].class,
                self.nodes[to as usize].class,
            );
            let info = EdgeInfo {
                thread: t.0,
                from_mode: meta.from_mode,
                to_mode: meta.to_mode,
                from_site: meta.from_site,
                to_site: meta.to_site,
                stack: meta.stack,
                seq: self.seq,
                gates: gates_outside(gates, fc, tc).collect(),
                timed: meta.timed,
                rule: meta.rule,
                steps: smallvec![meta.step],
            };
            // A forgotten class's edge ids are reused (`forget_class`).
            match self.edge_info.get_mut(r.edge as usize) {
                Some(slot) => *slot = info,
                None => self.edge_info.push(info),
            }
        } else {
            let info = &mut self.edge_info[r.edge as usize];
            let before = info.gates.len();
            info.gates.retain(|g| gates.contains(g));
            changed = info.gates.len() != before;
            if info.timed && !meta.timed {
                // An untimed recording makes the edge hard.
                info.timed = false;
                changed = true;
            }
            // A recording from another thread or clock epoch may not be ordered like the
            // earlier ones: keep it, and look at the cycles again.
            if !info
                .steps
                .iter()
                .any(|s| s.thread == meta.step.thread && s.epoch == meta.step.epoch)
            {
                if info.steps.len() < MAX_STEPS {
                    info.steps.push(meta.step);
                } else {
                    // Too many to keep: a step no other can happen before (never pruned).
                    info.steps = smallvec![Step {
                        thread: meta.step.thread,
                        seq: u64::MAX,
                        epoch: 0,
                    }];
                }
                changed = true;
            }
        }
        let gate_free = self.edge_info[r.edge as usize].gates.is_empty();
        let on_cycle = r.cyclic || (changed && self.graph.same_component(from, to));
        if on_cycle {
            self.report_cycles(r.edge, t, site, stack);
        }
        if r.new_bits != 0 && (0..2).any(|s| self.irq_safe[s] > 0 && self.irq_unsafe[s] > 0) {
            self.check_irq_edge(r.edge, t, site, stack);
        }
        gate_free
    }

    fn report_cycles(&mut self, e: u32, t: ThreadId, site: SiteId, stack: StackId) {
        let g = &self.graph;
        let edge = g.edge(e);
        let comps: Vec<u32> = [
            2 * edge.from,
            2 * edge.from + 1,
            2 * edge.to,
            2 * edge.to + 1,
        ]
        .iter()
        .map(|&x| g.find_ro(x))
        .collect();
        let allowed =
            |n: u32| comps.contains(&g.find_ro(2 * n)) || comps.contains(&g.find_ro(2 * n + 1));
        let cycles = g.cycles_through(e, &allowed, MAX_CYCLES_PER_EDGE, MAX_CYCLE_STEPS);
        for cycle in cycles {
            if self.ordered_by_happens_before(&cycle) {
                continue;
            }
            let nodes: Vec<u32> = cycle.iter().map(|&e| self.graph.edge(e).from).collect();
            let node_classes: Vec<u32> = nodes
                .iter()
                .map(|&n| self.nodes[n as usize].class)
                .collect();
            let classes: Vec<String> = nodes
                .iter()
                .map(|&n| self.nodes[n as usize].label.clone())
                .collect();
            // Gate rule: one lock object held for write at every recording of every edge.
            let mut common: Vec<Gate> = self.edge_info[cycle[0] as usize].gates.to_vec();
            for &ce in &cycle[1..] {
                let g = &self.edge_info[ce as usize].gates;
                common.retain(|x| g.contains(x));
            }
            common.retain(|g| !node_classes.contains(&g.class));
            let timed = cycle.iter().any(|&ce| self.edge_info[ce as usize].timed);
            let (severity, mut notes) = match (common.first(), timed) {
                (Some(g), _) => (
                    Severity::Warning,
                    vec![format!(
                        "every dependency of this cycle was recorded while holding the same {} lock for write: it serialises them (gate lock)",
                        self.classes[g.class as usize].display
                    )],
                ),
                (None, true) => (
                    Severity::Warning,
                    vec!["a wait in this cycle has a timeout: it cannot hang forever, but it can stall until the timeout".to_owned()],
                ),
                (None, false) => (Severity::Error, Vec::new()),
            };
            let edges: Vec<EdgeReport> = cycle.iter().map(|&ce| self.edge_report(ce)).collect();
            let events = nodes
                .iter()
                .any(|&n| self.nodes[n as usize].kind != NodeKind::Lock);
            let mut chain: Vec<String> = nodes.iter().map(|&n| self.node_name(n)).collect();
            chain.push(chain[0].clone());
            let title = if events {
                format!("possible deadlock: {}", chain.join(" -> "))
            } else {
                format!(
                    "possible circular locking dependency: {}",
                    chain.join(" -> ")
                )
            };
            notes.push(format!("{} classes in the cycle", classes.len()));
            let sig: Vec<String> = nodes.iter().map(|&n| self.node_qualified(n)).collect();
            self.emit_sig(
                Kind::Circular,
                severity,
                classes,
                Some(sig),
                title,
                t,
                site,
                stack,
                edges,
                notes,
            );
        }
    }

    /// Happens-before pruning (§3): a cycle with a signal-rule edge `E -> Y` is not a
    /// deadlock when the signaller's step behind that edge happens-before the step by which
    /// the waiting side entered the cycle (the step behind the edge `X -> E` into it): the two
    /// can never overlap. Cycles of lock and owed edges only are never pruned.
    fn ordered_by_happens_before(&self, cycle: &[u32]) -> bool {
        let k = cycle.len();
        (0..k).any(|i| {
            let sig = &self.edge_info[cycle[i] as usize];
            if !matches!(sig.rule, EdgeRule::SignalLock | EdgeRule::SignalWait) {
                return false;
            }
            let entry = &self.edge_info[cycle[(i + k - 1) % k] as usize];
            // Every recorded pair must be ordered: one unordered pair can overlap.
            sig.steps
                .iter()
                .all(|&s| entry.steps.iter().all(|&e| self.happens_before(s, e)))
        })
    }

    fn edge_report(&self, e: u32) -> EdgeReport {
        let edge = self.graph.edge(e);
        let info = &self.edge_info[e as usize];
        let (fl, tl) = (
            self.nodes[edge.from as usize].label.clone(),
            self.nodes[edge.to as usize].label.clone(),
        );
        EdgeReport {
            from: fl,
            to: tl,
            from_kind: self.nodes[edge.from as usize].kind,
            to_kind: self.nodes[edge.to as usize].kind,
            from_mode: info.from_mode.as_str(),
            to_mode: info.to_mode.as_str(),
            thread: self.thread_name(info.thread),
            from_site: self.site_opt(info.from_site),
            to_site: self.site_opt(info.to_site),
            stack: self.stack_strings(info.stack),
            seq: info.seq,
            since: (info.rule == EdgeRule::Owed)
                .then(|| info.steps.first().map(|s| s.seq))
                .flatten()
                .filter(|&s| s != u64::MAX),
            why: match info.rule {
                EdgeRule::Held => "held",
                EdgeRule::Owed => "owed",
                EdgeRule::SignalLock => "signal-lock",
                EdgeRule::SignalWait => "signal-wait",
                EdgeRule::Queue => "queue",
            },
        }
    }

    // ----- irq usage -------------------------------------------------------------------------

    fn mark_acquire_usage(
        &mut self,
        t: ThreadId,
        class: u32,
        mode: Mode,
        try_: bool,
        site: SiteId,
        stack: StackId,
    ) {
        let want = self.thread(t).want[usize::from(try_) * 2 + usize::from(mode.is_shared())];
        let have = self.classes[class as usize].usage;
        if have.contains(want) {
            return;
        }
        for b in 0..usage::BITS {
            if want.has(b) && !have.has(b) {
                self.set_usage(t, class, b, site, stack);
            }
        }
    }

    /// After an enable or a context exit: marks held locks for every irq kind that went from
    /// off to on.
    fn irq_transition(&mut self, t: ThreadId, before: (bool, bool), site: SiteId, stack: StackId) {
        let th = self.thread(t);
        let after = (th.hard_enabled(), th.soft_enabled());
        let mut states = Vec::new();
        if !before.0 && after.0 {
            states.push(usage::HARD);
        }
        if !before.1 && after.1 {
            states.push(usage::SOFT);
        }
        if states.is_empty() {
            return;
        }
        let held: Vec<(u32, bool)> = th
            .held
            .iter()
            .map(|h| (h.class, h.mode.is_shared()))
            .collect();
        for (class, read) in held {
            for &s in &states {
                let b = usage::bit(s, usage::ENABLED, read);
                if !self.classes[class as usize].usage.has(b) {
                    self.set_usage(t, class, b, site, stack);
                }
            }
        }
    }

    fn set_usage(&mut self, t: ThreadId, class: u32, b: usize, site: SiteId, stack: StackId) {
        let c = &mut self.classes[class as usize];
        let old = c.usage;
        c.usage.set(b);
        c.usage_site[b] = (t.0, site);
        let state = usage::state_of(b);
        if usage::dir_of(b) == usage::USED_IN && !old.any_used_in(state) {
            self.irq_safe[state] += 1;
        }
        if usage::dir_of(b) == usage::ENABLED && !old.any_enabled(state) {
            self.irq_unsafe[state] += 1;
        }
        if let Some(conflict) = usage::conflicts(old, b) {
            let name = self.classes[class as usize].display.clone();
            let (ct, csite) = self.classes[class as usize].usage_site[conflict];
            let title = format!(
                "inconsistent lock state: {name} {{{}}} -> {{{}}} usage",
                usage::NAMES[conflict],
                usage::NAMES[b]
            );
            let notes = vec![
                format!(
                    "inconsistent {{{}}} -> {{{}}} usage",
                    usage::NAMES[conflict],
                    usage::NAMES[b]
                ),
                format!(
                    "{{{}}} state was registered by {}{}",
                    usage::NAMES[conflict],
                    self.thread_name(ct),
                    self.site_suffix(csite)
                ),
                format!(
                    "usage of {name}: {}",
                    self.classes[class as usize].usage.describe()
                ),
            ];
            self.emit(
                Kind::InconsistentState,
                Severity::Error,
                vec![name],
                title,
                t,
                site,
                stack,
                Vec::new(),
                notes,
            );
            return;
        }
        self.check_irq_usage_change(class, b, t, site, stack);
    }

    fn is_safe_state(&self, x: u32, state: usize) -> bool {
        let Some(c) = self
            .classes
            .get(self.nodes[(x / 2) as usize].class as usize)
        else {
            return false; // event nodes carry no irq usage
        };
        let u = c.usage;
        u.has(usage::bit(state, usage::USED_IN, false))
            || (x % 2 == 1 && u.has(usage::bit(state, usage::USED_IN, true)))
    }

    fn is_unsafe_state(&self, x: u32, state: usize) -> bool {
        let Some(c) = self
            .classes
            .get(self.nodes[(x / 2) as usize].class as usize)
        else {
            return false;
        };
        let u = c.usage;
        u.has(usage::bit(state, usage::ENABLED, false))
            || (x.is_multiple_of(2) && u.has(usage::bit(state, usage::ENABLED, true)))
    }

    fn check_irq_usage_change(
        &mut self,
        class: u32,
        b: usize,
        t: ThreadId,
        site: SiteId,
        stack: StackId,
    ) {
        let state = usage::state_of(b);
        // Nothing to find until the other side exists somewhere.
        let counterpart = if usage::dir_of(b) == usage::USED_IN {
            self.irq_unsafe
        } else {
            self.irq_safe
        };
        if counterpart[state] == 0 {
            return;
        }
        let node = self.classes[class as usize].node;
        let u = self.classes[class as usize].usage;
        let found = if usage::dir_of(b) == usage::USED_IN {
            let start = if u.has(usage::bit(state, usage::USED_IN, false)) {
                2 * node
            } else {
                2 * node + 1
            };
            self.graph
                .search(&[start], true, &mut |x| {
                    x / 2 != node && self.is_unsafe_state(x, state)
                })
                .map(|(x, walk)| (node, x / 2, walk))
        } else {
            let ends: Vec<u32> = if u.has(usage::bit(state, usage::ENABLED, false)) {
                vec![2 * node, 2 * node + 1]
            } else {
                vec![2 * node]
            };
            self.graph
                .search(&ends, false, &mut |x| {
                    x / 2 != node && self.is_safe_state(x, state)
                })
                .map(|(x, walk)| (x / 2, node, walk))
        };
        if let Some((safe, unsafe_, walk)) = found {
            self.report_inversion(
                state,
                safe,
                unsafe_,
                walk,
                t,
                site,
                stack,
                "on a usage change",
            );
        }
    }

    fn check_irq_edge(&mut self, e: u32, t: ThreadId, site: SiteId, stack: StackId) {
        let edge = self.graph.edge(e).clone();
        for state in [usage::HARD, usage::SOFT] {
            if self.irq_safe[state] == 0 || self.irq_unsafe[state] == 0 {
                continue;
            }
            for rp in [0u32, 1] {
                let types = if rp == 1 {
                    edge.types & (graph::ER | graph::EN)
                } else {
                    edge.types
                };
                if types == 0 {
                    continue;
                }
                let Some((sx, mut back)) =
                    self.graph.search(&[2 * edge.from + rp], false, &mut |x| {
                        self.is_safe_state(x, state)
                    })
                else {
                    continue;
                };
                let safe = sx / 2;
                let mut starts = Vec::new();
                if types & (graph::SR | graph::ER) != 0 {
                    starts.push(2 * edge.to + 1);
                }
                if types & (graph::SN | graph::EN) != 0 {
                    starts.push(2 * edge.to);
                }
                if let Some((ux, fwd)) = self.graph.search(&starts, true, &mut |x| {
                    x / 2 != safe && self.is_unsafe_state(x, state)
                }) {
                    back.push(e);
                    back.extend(fwd);
                    self.report_inversion(
                        state,
                        safe,
                        ux / 2,
                        back,
                        t,
                        site,
                        stack,
                        "on a new dependency",
                    );
                    return;
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn report_inversion(
        &mut self,
        state: usize,
        safe_node: u32,
        unsafe_node: u32,
        walk: Vec<u32>,
        t: ThreadId,
        site: SiteId,
        stack: StackId,
        how: &str,
    ) {
        let sc = self.nodes[safe_node as usize].class;
        let uc = self.nodes[unsafe_node as usize].class;
        let irq = usage::STATE_NAMES[state];
        let s = self.classes[sc as usize].display.clone();
        let u = self.classes[uc as usize].display.clone();
        let title = format!("possible irq lock inversion: {irq}-safe {s} -> {irq}-unsafe {u}");
        let notes = vec![
            format!("found {how}"),
            format!(
                "{s} is {irq}-safe: {}",
                self.classes[sc as usize].usage.describe()
            ),
            format!(
                "{u} is {irq}-unsafe: {}",
                self.classes[uc as usize].usage.describe()
            ),
            format!("an interrupt taking {s} can arrive while {u} is held with {irq}s enabled"),
        ];
        let edges = walk.iter().map(|&e| self.edge_report(e)).collect();
        self.emit(
            Kind::IrqInversion,
            Severity::Error,
            vec![s, u],
            title,
            t,
            site,
            stack,
            edges,
            notes,
        );
    }

    // ----- other checks ------------------------------------------------------------------------

    fn op_free(
        &mut self,
        t: ThreadId,
        obj: ObjId,
        site: SiteId,
        stack: StackId,
    ) -> Result<(), EngineError> {
        self.obj(obj)?;
        self.thread_mut(t);
        let holders: Vec<(usize, u32)> = self
            .threads
            .iter()
            .enumerate()
            .filter_map(|(i, th)| {
                th.as_ref()
                    .and_then(|th| th.held.iter().find(|h| h.obj == obj).map(|h| (i, h.class)))
            })
            .collect();
        for (holder, class) in holders {
            let name = self.classes[class as usize].display.clone();
            let title = format!("held lock freed: {name}");
            let notes = vec![format!(
                "{name} is held by {} while it is freed",
                self.thread_name(holder as u32)
            )];
            self.emit(
                Kind::HeldFreed,
                Severity::Error,
                vec![name],
                title,
                t,
                site,
                stack,
                Vec::new(),
                notes,
            );
        }
        self.serial += 1;
        let serial = serial_hash(self.serial);
        if let Some(Some(o)) = self.objs.get_mut(obj.0 as usize) {
            o.serial = serial;
            self.hot[obj.0 as usize].serial = serial;
        }
        Ok(())
    }

    /// `held_at_exit` for locks still held at an exit or a base flush point, and for events
    /// the thread still owes there (decision 13): open obligations always, deferred items
    /// only at exit (at a base flush point they are about to run).
    fn check_held_at_exit(&mut self, t: ThreadId, site: SiteId, stack: StackId, what: &str) {
        let at_exit = what == "exit";
        let th = self.thread(t);
        let owed: Vec<u32> = th
            .owed
            .iter()
            .filter(|o| match o.src {
                OwedSrc::Obligation(..) => true,
                OwedSrc::Deferred(_) => at_exit,
                OwedSrc::Running(_) => false,
            })
            .map(|o| o.node)
            .collect();
        if th.held.is_empty() && owed.is_empty() {
            return;
        }
        let mut classes: Vec<String> = Vec::new();
        let mut sig: Vec<String> = Vec::new();
        for h in &th.held {
            let n = &self.classes[h.class as usize].display;
            if !classes.contains(n) {
                classes.push(n.clone());
                sig.push(n.clone());
            }
        }
        let mut still_owed = Vec::new();
        for n in owed {
            let q = self.node_qualified(n);
            if !sig.contains(&q) {
                classes.push(self.nodes[n as usize].label.clone());
                still_owed.push(self.node_name(n));
                sig.push(q);
            }
        }
        let th = self.thread(t);
        let mut held_names: Vec<&str> = classes[..classes.len() - still_owed.len()]
            .iter()
            .map(String::as_str)
            .collect();
        held_names.extend(still_owed.iter().map(String::as_str));
        let title = format!(
            "{what} with locks held or events owed: {} still holds {}",
            th.name,
            held_names.join(", ")
        );
        let mut notes = vec![format!("{} locks held at {what}", th.held.len())];
        if !still_owed.is_empty() {
            notes.push(format!(
                "still owed (they can never be produced now): {}",
                still_owed.join(", ")
            ));
        }
        self.emit_sig(
            Kind::HeldAtExit,
            Severity::Error,
            classes,
            Some(sig),
            title,
            t,
            site,
            stack,
            Vec::new(),
            notes,
        );
    }

    // ----- reports -----------------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        kind: Kind,
        severity: Severity,
        classes: Vec<String>,
        title: String,
        t: ThreadId,
        site: SiteId,
        stack: StackId,
        edges: Vec<EdgeReport>,
        notes: Vec<String>,
    ) {
        self.emit_sig(
            kind, severity, classes, None, title, t, site, stack, edges, notes,
        );
    }

    /// Like `emit`, with the names the signature hashes when they differ from `classes`
    /// (event nodes are kind-qualified there, so `avail(C)` and `space(C)` never merge).
    #[allow(clippy::too_many_arguments)]
    fn emit_sig(
        &mut self,
        kind: Kind,
        severity: Severity,
        classes: Vec<String>,
        sig_names: Option<Vec<String>>,
        title: String,
        t: ThreadId,
        site: SiteId,
        stack: StackId,
        edges: Vec<EdgeReport>,
        notes: Vec<String>,
    ) {
        let sig = signature(kind, sig_names.as_deref().unwrap_or(&classes));
        if self.reported.contains(&(sig.clone(), Severity::Error))
            || !self.reported.insert((sig.clone(), severity))
        {
            return;
        }
        let th = self.thread(t);
        let held = th
            .held
            .iter()
            .map(|h| HeldReport {
                class: self.classes[h.class as usize].display.clone(),
                mode: h.mode.as_str(),
                try_: h.try_,
                site: self.site_opt(h.site),
            })
            .collect();
        self.reports.push(Report {
            kind,
            severity,
            classes,
            signature: sig,
            title,
            thread: th.name.clone(),
            site: self.site_opt(site),
            stack: self.stack_strings(stack),
            seq: self.seq,
            edges,
            held,
            notes,
        });
    }

    /// `L` for a lock class, `kind(E)` for an event node (titles and text).
    fn node_name(&self, n: u32) -> String {
        let node = &self.nodes[n as usize];
        node.kind.node_name(&node.label)
    }

    /// `L` for a lock class, `kind:E` for an event node (signatures).
    fn node_qualified(&self, n: u32) -> String {
        let node = &self.nodes[n as usize];
        match node.kind {
            NodeKind::Lock => node.label.clone(),
            k => format!("{}:{}", k.as_str(), node.label),
        }
    }

    fn thread_name(&self, t: u32) -> String {
        match self.threads.get(t as usize) {
            Some(Some(th)) => th.name.clone(),
            _ => format!("thread {t}"),
        }
    }

    fn site_opt(&self, s: SiteId) -> Option<String> {
        (s != SiteId::NONE).then(|| self.sites.strings[s.0 as usize].clone())
    }

    fn site_suffix(&self, s: SiteId) -> String {
        self.site_opt(s)
            .map(|s| format!(" at {s}"))
            .unwrap_or_default()
    }

    fn stack_strings(&self, s: StackId) -> Vec<String> {
        self.stacks[s.0 as usize]
            .iter()
            .map(|f| self.sites.strings[f.0 as usize].clone())
            .collect()
    }
}

fn is_gate_hold(mode: Mode, check: bool, pseudo: bool) -> bool {
    mode == Mode::Write && check && !pseudo
}

fn entry_key(
    prev: u64,
    class: u32,
    mode: Mode,
    try_: bool,
    check: bool,
    nest_class: Option<u32>,
) -> u64 {
    let word = u64::from(class)
        | (mode as u64) << 32
        | u64::from(try_) << 34
        | u64::from(check) << 35
        | u64::from(nest_class.is_some()) << 36;
    let k = mix(prev, word);
    match nest_class {
        Some(n) => mix(k, u64::from(n)),
        None => k,
    }
}
