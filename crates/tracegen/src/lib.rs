//! Deterministic, deadlock-free lock traces for benchmarks.
//!
//! The generator simulates a multi-threaded program that takes its locks in one global order
//! (class `c0` < `c1` < ...), so the trace it produces must validate clean. It exists to measure
//! the validator, not to test it: the interesting knobs are how often the engine sees a lock
//! chain it already knows (`fresh == false`, the "warm" case) or a new one (`fresh == true`).
//!
//! # Model
//! * `classes` lock classes `c0..c{classes-1}`, all of type `rwlock`. Class `cK` has object `LK`;
//!   `second_instance_pct`% of the classes (rounded, picked at random) also get a second object
//!   `L{classes+j}`, so the engine meets several instances of one class. A chain that uses such
//!   a class picks one of its two objects at random.
//! * `threads` threads `t0..t{threads-1}`. Each one repeatedly runs a *chain*: 1..=`max_depth`
//!   distinct classes in increasing class index, each with a fixed object, mode (`read` with
//!   probability about `read_pct`%, `write` otherwise) and try flag (about `try_pct`%; both are
//!   nudged toward the target when the emitted mix drifts). It acquires the chain in order, then
//!   releases everything it got: last-in-first-out, except for `unordered_release_pct`% of the
//!   chains, which release in random order.
//! * Locality: each thread remembers its last `working_set` chains; a new chain is a copy of one
//!   of them with probability `reuse_pct`% (unless `fresh`, which never reuses), otherwise a new
//!   random chain (uniform depth, uniform classes).
//! * Threads interleave at operation granularity: at each step a thread is picked at random and
//!   performs its next acquire or release. Lock semantics are simulated, so the trace is a
//!   possible execution: a writer waits while anybody holds the lock, a reader while a writer
//!   does (the waiting thread emits nothing and another thread runs instead). A try-acquire that
//!   would have to wait fails and, as the format says, is not recorded: the thread skips that
//!   link of its chain. Because every thread follows the global order, someone can always run.
//!
//! # Output and counting
//! Only `acquire` and `release` lines count as events. The trace holds exactly `events` of them
//! when `events` is even, `events - 1` when it is odd (a trace that ends with nothing held has as
//! many releases as acquires). The closing releases are counted *within* the limit: once the
//! remaining budget equals the number of locks still held, threads stop acquiring and only
//! release, so the last line leaves every thread holding nothing. The `new` declarations (and the
//! header) come first and are not events. The header carries `"expect":[]` (the trace must
//! validate clean) and the generator's parameters under `"generator"`.
//!
//! The same seed and configuration always give the same trace, byte for byte. The random source
//! is ChaCha8, whose stream is stable across releases of `rand_chacha`; the sampling helpers of
//! `rand` (`random_range`, `random_bool`, `index::sample`) are stable within a `rand` release,
//! which `Cargo.lock` pins.
//!
//! [`Generator`] is the single source of truth: an iterator of [`GenOp`]s. [`generate`] streams it
//! as JSON Lines, [`generate_ops`] collects it for benchmarks that feed the engine directly.

use std::fmt;
use std::io::{self, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Generator parameters. [`Default`] gives the benchmark defaults of the command line tool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Number of threads (`t0..`). At least 1.
    pub threads: u32,
    /// Number of lock classes (`c0..`). At least `max_depth`.
    pub classes: u32,
    /// Number of `acquire` + `release` lines (rounded down to even).
    pub events: u64,
    /// Random seed.
    pub seed: u64,
    /// Percentage of chain links taken in `read` mode (the rest are `write`).
    pub read_pct: u32,
    /// Percentage of chain links that are try-acquires.
    pub try_pct: u32,
    /// Maximum number of locks a chain takes (and so a thread holds). At least 1.
    pub max_depth: u32,
    /// Never reuse a chain: nearly every chain the engine sees is new.
    pub fresh: bool,
    /// Percentage of chains that repeat one of the thread's recent chains (ignored if `fresh`).
    pub reuse_pct: u32,
    /// How many recent chains a thread remembers. At least 1.
    pub working_set: u32,
    /// Percentage of classes that get a second lock object (exact, rounded to nearest).
    pub second_instance_pct: u32,
    /// Percentage of chains released in random order instead of last-in-first-out.
    pub unordered_release_pct: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            threads: 8,
            classes: 2000,
            events: 10_000_000,
            seed: 1,
            read_pct: 30,
            try_pct: 5,
            max_depth: 4,
            fresh: false,
            reuse_pct: 95,
            working_set: 64,
            second_instance_pct: 10,
            unordered_release_pct: 10,
        }
    }
}

impl Config {
    /// Checks that the parameters make sense; the message names the offending parameter.
    pub fn validate(&self) -> Result<(), String> {
        if self.threads == 0 {
            return Err("threads must be at least 1".into());
        }
        if self.max_depth == 0 {
            return Err("max-depth must be at least 1".into());
        }
        if self.classes < self.max_depth {
            return Err(format!(
                "classes ({}) must be at least max-depth ({}): a chain takes distinct classes",
                self.classes, self.max_depth
            ));
        }
        if self.working_set == 0 {
            return Err("working-set must be at least 1".into());
        }
        // Lock ids must fit in u32: classes + second instances <= 2 * classes.
        if self.classes > u32::MAX / 2 {
            return Err("classes is too large".into());
        }
        for (name, v) in [
            ("read-pct", self.read_pct),
            ("try-pct", self.try_pct),
            ("reuse-pct", self.reuse_pct),
            ("second-instance-pct", self.second_instance_pct),
            ("unordered-release-pct", self.unordered_release_pct),
        ] {
            if v > 100 {
                return Err(format!("{name} must be between 0 and 100, got {v}"));
            }
        }
        Ok(())
    }
}

/// One synchronization event, pre-parsed. Thread `n` is `t{n}`, lock `n` is `L{n}`, class `n`
/// is `c{n}` in the JSON form (see [`thread_name`], [`lock_name`], [`class_name`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GenOp {
    /// `{"op":"acquire","thread":..,"lock":..,"mode":"read"|"write"[,"try":true]}`.
    /// `class` is the class the lock was declared with (redundant, for convenience).
    Acquire {
        thread: u32,
        lock: u32,
        class: u32,
        read: bool,
        try_: bool,
    },
    /// `{"op":"release","thread":..,"lock":..}`.
    Release { thread: u32, lock: u32 },
}

/// Counts describing a generated trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// `acquire` + `release` lines.
    pub events: u64,
    pub acquires: u64,
    pub releases: u64,
    /// Acquires in `read` mode.
    pub reads: u64,
    /// Successful (recorded) try-acquires.
    pub trylocks: u64,
    /// Try-acquires that would have had to wait: not recorded, the link was skipped.
    pub failed_trylocks: u64,
    /// Blocking acquires that had to wait for another thread first.
    pub contended: u64,
    /// Chains drawn at random (not taken from the working set).
    pub new_chains: u64,
    /// Chains repeated from a thread's working set.
    pub reused_chains: u64,
    /// Releases of a lock that was not the most recently acquired one still held.
    pub out_of_order_releases: u64,
    /// Most locks one thread held at once.
    pub max_depth: u32,
    /// Lock objects declared.
    pub objects: u32,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |n: u64| {
            if self.acquires == 0 {
                0.0
            } else {
                100.0 * n as f64 / self.acquires as f64
            }
        };
        writeln!(f, "events:                {}", self.events)?;
        writeln!(f, "acquires:              {}", self.acquires)?;
        writeln!(f, "releases:              {}", self.releases)?;
        writeln!(
            f,
            "reads:                 {} ({:.2}% of acquires)",
            self.reads,
            pct(self.reads)
        )?;
        writeln!(
            f,
            "trylocks:              {} ({:.2}% of acquires)",
            self.trylocks,
            pct(self.trylocks)
        )?;
        writeln!(
            f,
            "failed trylocks:       {} (not recorded)",
            self.failed_trylocks
        )?;
        writeln!(f, "contended acquires:    {}", self.contended)?;
        writeln!(f, "new chains:            {}", self.new_chains)?;
        writeln!(f, "reused chains:         {}", self.reused_chains)?;
        writeln!(f, "out-of-order releases: {}", self.out_of_order_releases)?;
        writeln!(f, "max depth seen:        {}", self.max_depth)?;
        write!(f, "objects declared:      {}", self.objects)
    }
}

/// JSON name of thread `n`: `t{n}`.
pub fn thread_name(n: u32) -> String {
    format!("t{n}")
}

/// JSON id of lock object `n`: `L{n}`.
pub fn lock_name(n: u32) -> String {
    format!("L{n}")
}

/// JSON name of class `n`: `c{n}`.
pub fn class_name(n: u32) -> String {
    format!("c{n}")
}

/// One link of a chain: which object, in which mode.
#[derive(Clone, Copy, Debug)]
struct Link {
    lock: u32,
    class: u32,
    read: bool,
    try_: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Holds nothing, has no chain.
    Idle,
    /// Acquiring `chain[next..]`.
    Acquire,
    /// Releasing everything in `held`.
    Release,
}

#[derive(Debug)]
struct ThreadState {
    /// Recent chains, used as a ring buffer once full.
    ring: Vec<Vec<Link>>,
    ring_pos: usize,
    /// The chain being run.
    chain: Vec<Link>,
    next: usize,
    /// Locks held, in acquisition order.
    held: Vec<Link>,
    /// This chain is released in random order.
    unordered: bool,
    /// The acquire of `chain[next]` already found the lock taken (counted once in `contended`).
    waiting: bool,
    phase: Phase,
}

/// Per-object lock state, for mutual exclusion.
#[derive(Clone, Copy, Debug, Default)]
struct LockState {
    writer: bool,
    readers: u32,
}

/// How hard [`steer`] pulls the mix back to the requested percentage.
const STEER_GAIN: f64 = 5.0;

/// The probability to give a new chain link a property (read mode, try) that `target`% of the
/// acquires should have, when `got` of the `total` acquires so far had it. Reused chains repeat
/// their links' modes, so the emitted mix follows a small sample of links weighted by how often
/// each chain happens to be reused; pulling new links toward the target keeps the emitted
/// percentage within a fraction of a point of the request. 0% and 100% stay exact.
fn steer(target: u32, got: u64, total: u64) -> f64 {
    let p = f64::from(target) / 100.0;
    if total == 0 {
        return p;
    }
    let seen = got as f64 / total as f64;
    (p + STEER_GAIN * (p - seen)).clamp(0.0, 1.0)
}

/// The generator proper: an iterator over the trace's acquire/release operations.
///
/// The object declarations are fixed at construction ([`Generator::declarations`]);
/// [`Generator::stats`] describes what has been produced so far.
#[derive(Debug)]
pub struct Generator {
    cfg: Config,
    rng: ChaCha8Rng,
    /// For class `c`: its second object, or `u32::MAX`.
    second: Vec<u32>,
    decls: Vec<(u32, u32)>,
    locks: Vec<LockState>,
    threads: Vec<ThreadState>,
    /// Total events to produce (even).
    target: u64,
    /// Locks held over all threads.
    held_total: u64,
    draining: bool,
    stats: Stats,
    scratch: Vec<u32>,
}

impl Generator {
    /// Builds a generator; panics if `cfg` does not pass [`Config::validate`].
    pub fn new(cfg: &Config) -> Generator {
        if let Err(e) = cfg.validate() {
            panic!("invalid tracegen config: {e}");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let mut decls: Vec<(u32, u32)> = (0..cfg.classes).map(|c| (c, c)).collect();
        // Exactly round(classes * pct / 100) classes, chosen at random, get a second object,
        // numbered after the first objects in class order.
        let n_second = (u64::from(cfg.classes) * u64::from(cfg.second_instance_pct) + 50) / 100;
        let mut picked =
            rand::seq::index::sample(&mut rng, cfg.classes as usize, n_second as usize).into_vec();
        picked.sort_unstable();
        let mut second = vec![u32::MAX; cfg.classes as usize];
        for (j, &c) in picked.iter().enumerate() {
            let id = cfg.classes + j as u32;
            second[c] = id;
            decls.push((id, c as u32));
        }
        let threads = (0..cfg.threads)
            .map(|_| ThreadState {
                ring: Vec::new(),
                ring_pos: 0,
                chain: Vec::with_capacity(cfg.max_depth as usize),
                next: 0,
                held: Vec::with_capacity(cfg.max_depth as usize),
                unordered: false,
                waiting: false,
                phase: Phase::Idle,
            })
            .collect();
        let stats = Stats {
            objects: decls.len() as u32,
            ..Stats::default()
        };
        Generator {
            locks: vec![LockState::default(); decls.len()],
            cfg: cfg.clone(),
            rng,
            second,
            decls,
            threads,
            target: cfg.events & !1,
            held_total: 0,
            draining: false,
            stats,
            scratch: Vec::with_capacity(cfg.max_depth as usize),
        }
    }

    /// The lock objects, as `(lock id, class id)`, in declaration order (ids ascending).
    pub fn declarations(&self) -> &[(u32, u32)] {
        &self.decls
    }

    /// Counts of what has been produced so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Draws a new random chain into `out`.
    fn new_chain(&mut self, out: &mut Vec<Link>) {
        let classes = self.cfg.classes;
        let depth = self.rng.random_range(1..=self.cfg.max_depth) as usize;
        let picked = &mut self.scratch;
        picked.clear();
        while picked.len() < depth {
            let c = self.rng.random_range(0..classes);
            if !picked.contains(&c) {
                picked.push(c);
            }
        }
        picked.sort_unstable();
        out.clear();
        let s = &self.stats;
        let p_read = steer(self.cfg.read_pct, s.reads, s.acquires);
        let p_try = steer(self.cfg.try_pct, s.trylocks, s.acquires);
        for &class in picked.iter() {
            let alt = self.second[class as usize];
            let lock = if alt != u32::MAX && self.rng.random_bool(0.5) {
                alt
            } else {
                class
            };
            let read = self.rng.random_bool(p_read);
            let try_ = self.rng.random_bool(p_try);
            out.push(Link {
                lock,
                class,
                read,
                try_,
            });
        }
    }

    /// Gives idle thread `t` its next chain.
    fn start_chain(&mut self, t: usize) {
        let reuse = !self.cfg.fresh
            && !self.threads[t].ring.is_empty()
            && self.rng.random_range(0..100) < self.cfg.reuse_pct;
        let mut chain = std::mem::take(&mut self.threads[t].chain);
        if reuse {
            let th = &self.threads[t];
            let i = self.rng.random_range(0..th.ring.len());
            chain.clear();
            chain.extend_from_slice(&th.ring[i]);
            self.stats.reused_chains += 1;
        } else {
            self.new_chain(&mut chain);
            self.stats.new_chains += 1;
            if !self.cfg.fresh {
                let th = &mut self.threads[t];
                if th.ring.len() < self.cfg.working_set as usize {
                    th.ring.push(chain.clone());
                } else {
                    th.ring[th.ring_pos].clone_from(&chain);
                    th.ring_pos = (th.ring_pos + 1) % th.ring.len();
                }
            }
        }
        let unordered =
            chain.len() > 1 && self.rng.random_range(0..100) < self.cfg.unordered_release_pct;
        let th = &mut self.threads[t];
        th.chain = chain;
        th.next = 0;
        th.unordered = unordered;
        th.waiting = false;
        th.phase = Phase::Acquire;
    }

    /// Ends thread `t`'s acquire phase.
    fn finish_acquire(&mut self, t: usize) {
        let th = &mut self.threads[t];
        th.waiting = false;
        th.phase = if th.held.is_empty() {
            Phase::Idle
        } else {
            Phase::Release
        };
    }

    /// Lets thread `t` perform its next operation, if it can.
    fn step(&mut self, t: usize) -> Option<GenOp> {
        loop {
            match self.threads[t].phase {
                Phase::Idle => {
                    if self.draining {
                        return None;
                    }
                    self.start_chain(t);
                }
                Phase::Acquire => {
                    let th = &self.threads[t];
                    if th.next == th.chain.len() {
                        self.finish_acquire(t);
                        continue;
                    }
                    let link = th.chain[th.next];
                    let st = self.locks[link.lock as usize];
                    let free = !st.writer && (link.read || st.readers == 0);
                    if !free {
                        if link.try_ {
                            // The try fails: not recorded, go on with the rest of the chain.
                            self.stats.failed_trylocks += 1;
                            self.threads[t].next += 1;
                            continue;
                        }
                        if !self.threads[t].waiting {
                            self.threads[t].waiting = true;
                            self.stats.contended += 1;
                        }
                        return None;
                    }
                    let st = &mut self.locks[link.lock as usize];
                    if link.read {
                        st.readers += 1;
                    } else {
                        st.writer = true;
                    }
                    let th = &mut self.threads[t];
                    th.waiting = false;
                    th.next += 1;
                    th.held.push(link);
                    let depth = th.held.len() as u32;
                    self.held_total += 1;
                    let s = &mut self.stats;
                    s.events += 1;
                    s.acquires += 1;
                    s.reads += u64::from(link.read);
                    s.trylocks += u64::from(link.try_);
                    s.max_depth = s.max_depth.max(depth);
                    return Some(GenOp::Acquire {
                        thread: t as u32,
                        lock: link.lock,
                        class: link.class,
                        read: link.read,
                        try_: link.try_,
                    });
                }
                Phase::Release => {
                    let n = self.threads[t].held.len();
                    if n == 0 {
                        self.threads[t].phase = Phase::Idle;
                        if self.draining {
                            return None;
                        }
                        continue;
                    }
                    let i = if self.threads[t].unordered {
                        self.rng.random_range(0..n)
                    } else {
                        n - 1
                    };
                    let link = self.threads[t].held.remove(i);
                    let st = &mut self.locks[link.lock as usize];
                    if link.read {
                        st.readers -= 1;
                    } else {
                        st.writer = false;
                    }
                    self.held_total -= 1;
                    let s = &mut self.stats;
                    s.events += 1;
                    s.releases += 1;
                    s.out_of_order_releases += u64::from(i != n - 1);
                    return Some(GenOp::Release {
                        thread: t as u32,
                        lock: link.lock,
                    });
                }
            }
        }
    }

    /// Stops all acquiring: what is held is released within the remaining budget.
    fn start_draining(&mut self) {
        self.draining = true;
        for th in &mut self.threads {
            if th.phase == Phase::Acquire {
                th.waiting = false;
                th.phase = if th.held.is_empty() {
                    Phase::Idle
                } else {
                    Phase::Release
                };
            }
        }
    }
}

impl Iterator for Generator {
    type Item = GenOp;

    fn next(&mut self) -> Option<GenOp> {
        let remaining = self.target - self.stats.events;
        if remaining == 0 {
            return None;
        }
        // An acquire must leave room to release everything afterwards.
        if !self.draining && remaining < self.held_total + 2 {
            self.start_draining();
        }
        let n = self.threads.len();
        let first = self.rng.random_range(0..n);
        // Some thread can always move: a waiting thread waits for a class above all it holds,
        // so following "waits for a lock held by" strictly climbs the class order and ends at a
        // thread that can run. While draining, every thread that holds a lock can release.
        // Idle threads with only failing try-chains may need more than one round.
        for k in 0.. {
            let t = (first + k) % n;
            if let Some(op) = self.step(t) {
                return Some(op);
            }
            assert!(
                k < 1_000_000 * n,
                "tracegen: no thread can make progress (bug)"
            );
        }
        unreachable!()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = (self.target - self.stats.events) as usize;
        (remaining, Some(remaining))
    }
}

impl ExactSizeIterator for Generator {}

/// The lock objects of the trace `cfg` describes, as `(lock id, class id)`: lock `n` is
/// `L{n}`, class `n` is `c{n}`. Panics on an invalid config.
pub fn declarations(cfg: &Config) -> Vec<(u32, u32)> {
    Generator::new(cfg).declarations().to_vec()
}

/// All acquire/release operations of the trace `cfg` describes, in order (the same trace that
/// [`generate`] writes). Use [`declarations`] for the objects. Panics on an invalid config.
pub fn generate_ops(cfg: &Config) -> Vec<GenOp> {
    Generator::new(cfg).collect()
}

/// Appends the decimal form of `n`.
fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

fn push_u32(buf: &mut Vec<u8>, n: u32) {
    push_u64(buf, u64::from(n));
}

/// Appends the JSON line (with its newline) of `op`.
pub fn write_op_line(buf: &mut Vec<u8>, op: &GenOp) {
    match *op {
        GenOp::Acquire {
            thread,
            lock,
            read,
            try_,
            ..
        } => {
            buf.extend_from_slice(br#"{"op":"acquire","thread":"t"#);
            push_u32(buf, thread);
            buf.extend_from_slice(br#"","lock":"L"#);
            push_u32(buf, lock);
            buf.extend_from_slice(if read {
                br#"","mode":"read""#
            } else {
                br#"","mode":"write""#
            });
            if try_ {
                buf.extend_from_slice(br#","try":true"#);
            }
            buf.extend_from_slice(b"}\n");
        }
        GenOp::Release { thread, lock } => {
            buf.extend_from_slice(br#"{"op":"release","thread":"t"#);
            push_u32(buf, thread);
            buf.extend_from_slice(br#"","lock":"L"#);
            push_u32(buf, lock);
            buf.extend_from_slice(b"\"}\n");
        }
    }
}

/// Writes the trace `cfg` describes as JSON Lines (format v1): a header, one `new` line per lock
/// object, then the operations. `out` is written in large chunks; no extra buffering is needed.
pub fn generate(cfg: &Config, out: &mut impl Write) -> io::Result<Stats> {
    cfg.validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut g = Generator::new(cfg);
    const CHUNK: usize = 1 << 20;
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 256);

    let c = &g.cfg;
    let header = format!(
        concat!(
            r#"{{"lockdep_trace":1,"name":"bench","#,
            r#""about":"lockdep-tracegen: {} threads take {} rwlock classes in one global order (no deadlock)","#,
            r#""expect":[],"generator":{{"threads":{},"classes":{},"events":{},"seed":{},"read_pct":{},"try_pct":{},"max_depth":{},"fresh":{},"reuse_pct":{},"working_set":{},"second_instance_pct":{},"unordered_release_pct":{}}}}}"#,
            "\n"
        ),
        c.threads,
        c.classes,
        c.threads,
        c.classes,
        c.events,
        c.seed,
        c.read_pct,
        c.try_pct,
        c.max_depth,
        c.fresh,
        c.reuse_pct,
        c.working_set,
        c.second_instance_pct,
        c.unordered_release_pct
    );
    buf.extend_from_slice(header.as_bytes());

    for &(lock, class) in g.declarations() {
        buf.extend_from_slice(br#"{"op":"new","id":"L"#);
        push_u32(&mut buf, lock);
        buf.extend_from_slice(br#"","type":"rwlock","class":"c"#);
        push_u32(&mut buf, class);
        buf.extend_from_slice(b"\"}\n");
        if buf.len() >= CHUNK {
            out.write_all(&buf)?;
            buf.clear();
        }
    }

    for op in g.by_ref() {
        write_op_line(&mut buf, &op);
        if buf.len() >= CHUNK {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()?;
    Ok(g.stats().clone())
}
