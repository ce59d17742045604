//! `lockdep-bench`: measures what issue #2 asks, printing one line per figure.
//!
//! ```text
//! cargo run --release -p lockdep-bench -- engine [RUNS] [warm|fresh]  # 10M pre-parsed events
//! cargo run --release -p lockdep-bench -- check FILE      # trace reader + engine on a JSONL file
//! cargo run --release -p lockdep-bench -- graph           # new edge into a 10k-class / 100k-edge graph
//! ```
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use lockdep_core::{Engine, Event, Mode, ObjDecl, ObjId, ObjKind, Op, ThreadId};
use lockdep_tracegen::{Config, GenOp};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Number of `new` events at the start of `events(cfg)`.
fn cfg_objects(cfg: &Config) -> usize {
    lockdep_tracegen::declarations(cfg).len()
}

/// Turns generated ops into engine events (declarations first).
fn events(cfg: &Config) -> (Vec<Event>, Engine) {
    let mut engine = Engine::new();
    let mut evs = Vec::new();
    for (lock, class) in lockdep_tracegen::declarations(cfg) {
        let name = engine.intern(&lockdep_tracegen::class_name(class));
        evs.push(Event::from(Op::New {
            obj: ObjId(lock),
            decl: ObjDecl::new(ObjKind::RwLock, name),
        }));
    }
    for op in lockdep_tracegen::generate_ops(cfg) {
        evs.push(Event::from(match op {
            GenOp::Acquire {
                thread,
                lock,
                read,
                try_,
                ..
            } => Op::Acquire {
                thread: ThreadId(thread),
                lock: ObjId(lock),
                mode: if read { Mode::Read } else { Mode::Write },
                try_,
                subclass: None,
                nest_lock: None,
                check: true,
            },
            GenOp::Release { thread, lock } => Op::Release {
                thread: ThreadId(thread),
                lock: ObjId(lock),
            },
        }));
    }
    (evs, engine)
}

/// The timed loop, kept out of line so that a profiler can count it alone
/// (`valgrind --tool=callgrind --toggle-collect=lockdep_bench::run_events`).
#[inline(never)]
fn run_events(e: &mut Engine, evs: &[Event]) {
    for ev in evs {
        e.apply(ev).expect("valid");
    }
}

fn bench_engine(runs: usize, which: &str) {
    for fresh in [false, true] {
        if (which == "warm" && fresh) || (which == "fresh" && !fresh) {
            continue;
        }
        // LOCKDEP_BENCH_EVENTS shortens the run (e.g. for callgrind instruction counts).
        let n_events = std::env::var("LOCKDEP_BENCH_EVENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(Config::default().events);
        let cfg = Config {
            fresh,
            events: n_events,
            ..Config::default()
        };
        let (evs, template) = events(&cfg);
        let mut rates = Vec::new();
        let mut second = Vec::new();
        let mut last = None;
        for _ in 0..runs {
            // Class names are interned in the template; clone-free: build a new engine the
            // same way (interning is cheap and outside the timed region).
            let mut e = Engine::new();
            for c in 0..cfg.classes {
                e.intern(&lockdep_tracegen::class_name(c));
            }
            let _ = &template;
            let t = Instant::now();
            run_events(&mut e, &evs);
            let dt = t.elapsed();
            rates.push(evs.len() as f64 / dt.as_secs_f64());
            assert!(
                e.reports().is_empty(),
                "the generated trace is deadlock-free: {:?}",
                e.reports()[0].title
            );
            last = Some(e.stats());
            // Second pass over the same events into the same engine, without the `new` lines
            // (re-declaring would give the objects new identities): every chain is known, so
            // this is the known-chain path alone.
            if std::env::var_os("LOCKDEP_BENCH_ONE_PASS").is_some() {
                continue;
            }
            let ops = &evs[cfg_objects(&cfg)..];
            let t = Instant::now();
            run_events(&mut e, ops);
            second.push(ops.len() as f64 / t.elapsed().as_secs_f64());
        }
        let s = last.expect("runs > 0");
        println!(
            "engine {}: {} events, median {:.1} M events/s over {runs} runs (min {:.1}, max {:.1}); chain hits {} misses {} ({:.1}% new), thread-cache misses {}, {} classes, {} edges, {} chains",
            if fresh { "fresh chains" } else { "warm chains" },
            evs.len(),
            median(rates.clone()) / 1e6,
            rates.iter().cloned().fold(f64::MAX, f64::min) / 1e6,
            rates.iter().cloned().fold(0.0, f64::max) / 1e6,
            s.chain_hits,
            s.chain_misses,
            100.0 * s.chain_misses as f64 / (s.chain_hits + s.chain_misses).max(1) as f64,
            s.thread_cache_misses,
            s.classes,
            s.edges,
            s.chains,
        );
        println!(
            "engine {} second pass (every chain known): median {:.1} M events/s",
            if fresh { "fresh chains" } else { "warm chains" },
            if second.is_empty() {
                0.0
            } else {
                median(second) / 1e6
            }
        );
    }
}

fn bench_check(path: &str, runs: usize) {
    let mut rates = Vec::new();
    let mut events = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let (r, checked) =
            lockdep_trace::check_file(std::path::Path::new(path)).expect("valid trace");
        let dt = t.elapsed();
        events = checked.events;
        assert!(r.engine.reports().is_empty());
        rates.push(events as f64 / dt.as_secs_f64());
    }
    println!(
        "check {path}: {events} events, median {:.2} M events/s over {runs} runs (min {:.2}, max {:.2})",
        median(rates.clone()) / 1e6,
        rates.iter().cloned().fold(f64::MAX, f64::min) / 1e6,
        rates.iter().cloned().fold(0.0, f64::max) / 1e6,
    );
}

/// A deterministic xorshift generator (no dependency needed for this).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct GraphBench {
    e: Engine,
    /// Object id of the lock of hidden rank `r`.
    lock_of_rank: Vec<u32>,
    next_obj: u32,
}

impl GraphBench {
    fn acquire(&mut self, t: u32, lock: u32, mode: Mode) {
        self.e
            .apply(&Event::from(Op::Acquire {
                thread: ThreadId(t),
                lock: ObjId(lock),
                mode,
                try_: false,
                subclass: None,
                nest_lock: None,
                check: true,
            }))
            .expect("valid");
    }
    fn release(&mut self, t: u32, lock: u32) {
        self.e
            .apply(&Event::from(Op::Release {
                thread: ThreadId(t),
                lock: ObjId(lock),
            }))
            .expect("valid");
    }
    fn new_lock(&mut self, class: &str, kind: ObjKind) -> u32 {
        let name = self.e.intern(class);
        let id = self.next_obj;
        self.next_obj += 1;
        self.e
            .apply(&Event::from(Op::New {
                obj: ObjId(id),
                decl: ObjDecl::new(kind, name),
            }))
            .expect("valid");
        id
    }
}

fn bench_graph(classes: u32, edges: u32, samples: usize) {
    let rss0 = rss_kib();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut g = GraphBench {
        e: Engine::new(),
        lock_of_rank: Vec::new(),
        next_obj: 0,
    };
    // Classes are created in an order unrelated to their hidden rank, so the maintained
    // topological order has to be repaired by the edges, not given for free.
    let mut ranks: Vec<u32> = (0..classes).collect();
    for i in (1..ranks.len()).rev() {
        ranks.swap(i, rng.below(i as u64 + 1) as usize);
    }
    g.lock_of_rank = vec![0; classes as usize];
    for &r in &ranks {
        let id = g.new_lock(&format!("c{r}"), ObjKind::RwLock);
        g.lock_of_rank[r as usize] = id;
    }
    let gate = g.new_lock("gate", ObjKind::Mutex);
    // Forward edges in the hidden order, local (a lock hierarchy has layers), write->write.
    let t = Instant::now();
    let mut made = 0u32;
    while g.e.stats().edges < edges as usize - 1000 {
        let a = rng.below(u64::from(classes) - 1) as u32;
        let b = a + 1 + rng.below(u64::from((classes - a - 1).min(400))) as u32;
        let (la, lb) = (g.lock_of_rank[a as usize], g.lock_of_rank[b as usize]);
        g.acquire(0, la, Mode::Write);
        g.acquire(0, lb, Mode::Write);
        g.release(0, lb);
        g.release(0, la);
        made += 1;
    }
    // 100 non-strong cycles (recursive readers both ways) and 100 gated cycles (warnings),
    // on classes of their own that the hierarchy only leads into: a write path from one
    // side of a recursive-read pair to the other would make the pair a real deadlock.
    for i in 0..100u32 {
        let a = g.new_lock(&format!("rr{i}a"), ObjKind::RwLock);
        let b = g.new_lock(&format!("rr{i}b"), ObjKind::RwLock);
        for (x, y) in [(a, b), (b, a)] {
            g.acquire(1, x, Mode::ReadRecursive);
            g.acquire(1, y, Mode::ReadRecursive);
            g.release(1, y);
            g.release(1, x);
        }
        let c = g.new_lock(&format!("gated{i}c"), ObjKind::Mutex);
        let d = g.new_lock(&format!("gated{i}d"), ObjKind::Mutex);
        for (x, y) in [(c, d), (d, c)] {
            g.acquire(2, gate, Mode::Write);
            g.acquire(2, x, Mode::Write);
            g.acquire(2, y, Mode::Write);
            g.release(2, y);
            g.release(2, x);
            g.release(2, gate);
        }
        for z in [a, b, c, d] {
            let r = g.lock_of_rank[rng.below(u64::from(classes)) as usize];
            g.acquire(1, r, Mode::Write);
            g.acquire(1, z, Mode::Write);
            g.release(1, z);
            g.release(1, r);
        }
    }
    let build = t.elapsed();
    let errors =
        g.e.reports()
            .iter()
            .filter(|r| r.severity == lockdep_core::Severity::Error)
            .count();
    let warnings = g.e.reports().len() - errors;
    let s = g.e.stats();
    println!(
        "graph: {} classes, {} edges built from {made} lock pairs in {:.2?}; {warnings} warning cycles, {errors} error cycles",
        s.classes, s.edges, build
    );
    assert_eq!(
        errors, 0,
        "the built graph must hold only non-strong and warning cycles"
    );
    assert_eq!(warnings, 100, "every gated pair is a warning cycle");
    println!(
        "graph memory: {:.1} MiB heap in the graph and edge records ({} bytes/edge); process RSS grew {:.1} MiB while building",
        g.e.graph_heap_bytes() as f64 / (1 << 20) as f64,
        g.e.graph_heap_bytes() / s.edges.max(1),
        (rss_kib() - rss0) as f64 / 1024.0
    );
    // Measure: one new forward edge per sample (thread 3 holds A, acquires B: a chain never
    // seen, an edge never seen). Only the acquire of B is timed.
    let mut times = Vec::with_capacity(samples);
    let mut new_edges = 0;
    while times.len() < samples {
        let a = rng.below(u64::from(classes) - 1) as u32;
        let b = a + 1 + rng.below(u64::from(classes - a - 1)) as u32;
        let (la, lb) = (g.lock_of_rank[a as usize], g.lock_of_rank[b as usize]);
        let before = g.e.stats().edges;
        g.acquire(3, la, Mode::Write);
        let t = Instant::now();
        g.acquire(3, lb, Mode::Write);
        let dt = t.elapsed();
        g.release(3, lb);
        g.release(3, la);
        if g.e.stats().edges > before {
            new_edges += 1;
            times.push(dt);
        }
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "new edge (forward, random pair, {new_edges} samples): median {:.2} us, p90 {:.2} us, p99 {:.2} us, max {:.2} us",
        us(pct(0.5)),
        us(pct(0.9)),
        us(pct(0.99)),
        us(*times.last().expect("samples"))
    );
    // For information: edges that close an error cycle (the report path).
    let mut closing = Vec::new();
    for i in 0..50u32 {
        let a = (i * 131) % (classes - 500);
        let b = a + 1 + (i % 300);
        let (la, lb) = (g.lock_of_rank[a as usize], g.lock_of_rank[b as usize]);
        // Make sure a path a -> b exists, then add b -> a.
        g.acquire(4, la, Mode::Write);
        g.acquire(4, lb, Mode::Write);
        g.release(4, lb);
        g.release(4, la);
        g.acquire(5, lb, Mode::Write);
        let t = Instant::now();
        g.acquire(5, la, Mode::Write);
        closing.push(t.elapsed());
        g.release(5, la);
        g.release(5, lb);
    }
    closing.sort();
    println!(
        "cycle-closing edge with report (for information, {} samples): median {:.1} us",
        closing.len(),
        us(closing[closing.len() / 2])
    );
}

/// Memory per validated chain (issue #6): one thread takes every triple (a, b, c) of three
/// layers of `layer` classes each: `layer^3` distinct 3-deep chains (plus `layer^2` 2-deep
/// and `layer` 1-deep ones) over `2 * layer^2` edges (each hold depends on the one below it).
/// Reports the process's RSS growth per chain (the edges' share included).
fn bench_chains(layer: u32) {
    let mut e = Engine::new();
    let t = ThreadId(0);
    for c in 0..3 * layer {
        let name = e.intern(&format!("class{c}"));
        e.apply(&Event::from(Op::New {
            obj: ObjId(c),
            decl: ObjDecl::new(ObjKind::Mutex, name),
        }))
        .expect("valid");
    }
    let op = |e: &mut Engine, l: u32, acquire: bool| {
        let op = if acquire {
            Op::Acquire {
                thread: t,
                lock: ObjId(l),
                mode: Mode::Write,
                try_: false,
                subclass: None,
                nest_lock: None,
                check: true,
            }
        } else {
            Op::Release {
                thread: t,
                lock: ObjId(l),
            }
        };
        e.apply(&Event::from(op)).expect("valid");
    };
    let rss0 = rss_kib();
    let t0 = Instant::now();
    for a in 0..layer {
        op(&mut e, a, true);
        for b in layer..2 * layer {
            op(&mut e, b, true);
            for c in 2 * layer..3 * layer {
                op(&mut e, c, true);
                op(&mut e, c, false);
            }
            op(&mut e, b, false);
        }
        op(&mut e, a, false);
    }
    let secs = t0.elapsed().as_secs_f64();
    let grew = rss_kib() - rss0;
    assert!(e.reports().is_empty(), "layered order: no report");
    let s = e.stats();
    println!(
        "chains: {} chains over {} edges in {secs:.1} s; RSS +{grew} KiB: {:.0} bytes per chain",
        s.chains,
        s.edges,
        (grew * 1024) as f64 / s.chains.max(1) as f64,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("engine") => bench_engine(
            args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3),
            args.get(2).map(String::as_str).unwrap_or("both"),
        ),
        Some("check") => bench_check(
            args.get(1)
                .map(String::as_str)
                .unwrap_or("/tmp/bench.jsonl"),
            3,
        ),
        Some("graph") => bench_graph(10_000, 100_000, 10_000),
        Some("chains") => bench_chains(args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100)),
        _ => {
            eprintln!(
                "usage: lockdep-bench engine [RUNS] [warm|fresh] | check FILE | graph | chains [LAYER]"
            );
            std::process::exit(2);
        }
    }
}
