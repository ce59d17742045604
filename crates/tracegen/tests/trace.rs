//! Properties of the generated traces, checked on the JSON output (what the validator reads)
//! and on the pre-parsed operations.

use std::collections::HashMap;

use lockdep_tracegen::{Config, GenOp, declarations, generate, generate_ops, write_op_line};
use serde_json::Value;

fn cfg(events: u64, seed: u64) -> Config {
    Config {
        events,
        seed,
        ..Config::default()
    }
}

fn render(cfg: &Config) -> Vec<u8> {
    let mut out = Vec::new();
    generate(cfg, &mut out).expect("generate");
    out
}

/// One operation as read back from the JSON text.
#[derive(Debug)]
struct Op {
    acquire: bool,
    thread: String,
    lock: String,
    read: bool,
    try_: bool,
}

/// Parses a whole trace with serde_json, checking its shape; returns the objects (id -> class)
/// and the operations.
fn parse(text: &[u8]) -> (HashMap<String, String>, Vec<Op>) {
    let text = std::str::from_utf8(text).expect("utf-8");
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().expect("header")).expect("header json");
    assert_eq!(header["lockdep_trace"], 1);
    assert_eq!(header["name"], "bench");

    let mut objects = HashMap::new();
    let mut ops = Vec::new();
    for (n, line) in lines.enumerate() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("line {}: not JSON ({e}): {line}", n + 2));
        let obj = v.as_object().expect("a JSON object per line");
        match obj["op"].as_str().expect("op is a string") {
            "new" => {
                assert!(ops.is_empty(), "declarations come before operations");
                assert_eq!(obj["type"], "rwlock");
                let id = obj["id"].as_str().unwrap().to_string();
                let class = obj["class"].as_str().unwrap().to_string();
                assert!(objects.insert(id, class).is_none(), "object declared twice");
            }
            "acquire" => {
                let mode = obj["mode"].as_str().expect("mode");
                assert!(mode == "read" || mode == "write", "mode {mode}");
                let try_ = match obj.get("try") {
                    None => false,
                    Some(t) => t.as_bool().expect("try is a bool"),
                };
                let lock = obj["lock"].as_str().unwrap().to_string();
                assert!(objects.contains_key(&lock), "acquire of undeclared {lock}");
                ops.push(Op {
                    acquire: true,
                    thread: obj["thread"].as_str().unwrap().to_string(),
                    lock,
                    read: mode == "read",
                    try_,
                });
            }
            "release" => ops.push(Op {
                acquire: false,
                thread: obj["thread"].as_str().unwrap().to_string(),
                lock: obj["lock"].as_str().unwrap().to_string(),
                read: false,
                try_: false,
            }),
            other => panic!("unexpected op {other}"),
        }
    }
    (objects, ops)
}

fn class_index(class: &str) -> u32 {
    class.strip_prefix('c').unwrap().parse().unwrap()
}

/// Replays the operations: releases release held locks, depth stays within `max_depth`, every
/// acquire is above everything its thread holds in class order, a lock is never held by a
/// writer together with anybody else, and the trace ends with nothing held.
fn check_semantics(cfg: &Config, objects: &HashMap<String, String>, ops: &[Op]) {
    // thread -> held (lock, class index), in acquisition order
    let mut held: HashMap<&str, Vec<(&str, u32)>> = HashMap::new();
    // lock -> (writers, readers)
    let mut state: HashMap<&str, (u32, u32)> = HashMap::new();
    let mut modes: HashMap<(&str, &str), bool> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        let h = held.entry(op.thread.as_str()).or_default();
        let st = state.entry(op.lock.as_str()).or_default();
        if op.acquire {
            let class = class_index(&objects[&op.lock]);
            if let Some(&(_, top)) = h.iter().max_by_key(|&&(_, c)| c) {
                assert!(
                    class > top,
                    "op {i}: {} takes c{class} while holding c{top}",
                    op.thread
                );
            }
            if op.read {
                assert_eq!(st.0, 0, "op {i}: read of write-held {}", op.lock);
                st.1 += 1;
            } else {
                assert_eq!(*st, (0, 0), "op {i}: write of held {}", op.lock);
                st.0 += 1;
            }
            modes.insert((op.thread.as_str(), op.lock.as_str()), op.read);
            h.push((op.lock.as_str(), class));
            assert!(
                h.len() <= cfg.max_depth as usize,
                "op {i}: depth {} > {}",
                h.len(),
                cfg.max_depth
            );
        } else {
            let pos = h
                .iter()
                .rposition(|&(l, _)| l == op.lock)
                .unwrap_or_else(|| panic!("op {i}: {} releases unheld {}", op.thread, op.lock));
            h.remove(pos);
            if modes[&(op.thread.as_str(), op.lock.as_str())] {
                st.1 -= 1;
            } else {
                st.0 -= 1;
            }
        }
    }
    for (t, h) in &held {
        assert!(h.is_empty(), "{t} still holds {h:?} at the end");
    }
}

#[test]
fn same_seed_same_output() {
    let c = cfg(200_000, 7);
    let a = render(&c);
    let b = render(&c);
    assert_eq!(a, b);
    let other = render(&cfg(200_000, 8));
    assert_ne!(a, other, "another seed gives another trace");
}

#[test]
fn ops_and_json_are_one_trace() {
    let c = cfg(50_000, 3);
    let text = render(&c);
    let ops = generate_ops(&c);
    assert_eq!(ops.len(), 50_000);
    let decls = declarations(&c);
    let mut expected = Vec::new();
    for op in &ops {
        write_op_line(&mut expected, op);
    }
    let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(lines.len(), 1 + decls.len() + ops.len());
    for (line, &(lock, class)) in lines[1..].iter().zip(&decls) {
        let want = format!(
            "{{\"op\":\"new\",\"id\":\"L{lock}\",\"type\":\"rwlock\",\"class\":\"c{class}\"}}\n"
        );
        assert_eq!(*line, want.as_bytes());
    }
    assert_eq!(lines[1 + decls.len()..].concat(), expected);
    // `class` in GenOp agrees with the declarations.
    let class_of: HashMap<u32, u32> = decls.iter().copied().collect();
    for op in &ops {
        if let GenOp::Acquire { lock, class, .. } = *op {
            assert_eq!(class_of[&lock], class);
        }
    }
}

#[test]
fn output_parses_and_is_a_clean_execution() {
    for c in [
        cfg(200_000, 1),
        Config {
            fresh: true,
            ..cfg(200_000, 2)
        },
        // Few classes, many threads: lots of contention and failed trylocks.
        Config {
            threads: 16,
            classes: 12,
            max_depth: 6,
            try_pct: 30,
            ..cfg(100_000, 3)
        },
        Config {
            max_depth: 1,
            unordered_release_pct: 100,
            ..cfg(20_000, 4)
        },
    ] {
        let text = render(&c);
        let (objects, ops) = parse(&text);
        assert_eq!(ops.len() as u64, c.events);
        check_semantics(&c, &objects, &ops);
    }
}

#[test]
fn ratios_within_two_points() {
    let within = |what: &str, got: f64, want: f64| {
        assert!(
            (got - want).abs() <= 2.0,
            "{what}: {got:.2}% but asked for {want}%"
        );
    };
    for c in [
        cfg(200_000, 1),
        cfg(200_000, 2),
        cfg(200_000, 3),
        Config {
            fresh: true,
            ..cfg(200_000, 4)
        },
        Config {
            read_pct: 60,
            try_pct: 15,
            ..cfg(200_000, 5)
        },
    ] {
        let text = render(&c);
        let (objects, ops) = parse(&text);
        let acquires: Vec<&Op> = ops.iter().filter(|o| o.acquire).collect();
        let n = acquires.len() as f64;
        let reads = acquires.iter().filter(|o| o.read).count() as f64;
        let tries = acquires.iter().filter(|o| o.try_).count() as f64;
        within("reads", 100.0 * reads / n, c.read_pct as f64);
        within("trylocks", 100.0 * tries / n, c.try_pct as f64);

        // 10% of the classes have a second instance.
        assert_eq!(
            objects.len() as u32 - c.classes,
            c.classes * c.second_instance_pct / 100
        );
        let mut per_class: HashMap<&str, u32> = HashMap::new();
        for class in objects.values() {
            *per_class.entry(class).or_default() += 1;
        }
        assert_eq!(per_class.len() as u32, c.classes);
        assert!(per_class.values().all(|&n| n <= 2));

        // The library's own counts agree with the text.
        let mut stats_out = Vec::new();
        let stats = generate(&c, &mut stats_out).unwrap();
        assert_eq!(stats.events, ops.len() as u64);
        assert_eq!(stats.acquires as f64, n);
        assert_eq!(stats.reads as f64, reads);
        assert_eq!(stats.trylocks as f64, tries);
        assert_eq!(stats.objects as usize, objects.len());
        assert!(stats.max_depth <= c.max_depth);

        let chains = (stats.new_chains + stats.reused_chains) as f64;
        let reuse = 100.0 * stats.reused_chains as f64 / chains;
        if c.fresh {
            assert_eq!(stats.reused_chains, 0);
        } else {
            within("reused chains", reuse, c.reuse_pct as f64);
        }
    }
}

#[test]
fn depth_is_reached_but_never_exceeded() {
    for max_depth in [1, 2, 4, 7] {
        let c = Config {
            max_depth,
            ..cfg(50_000, 11)
        };
        let mut depth: HashMap<u32, u32> = HashMap::new();
        let mut deepest = 0;
        for op in generate_ops(&c) {
            match op {
                GenOp::Acquire { thread, .. } => {
                    let d = depth.entry(thread).or_default();
                    *d += 1;
                    deepest = deepest.max(*d);
                }
                GenOp::Release { thread, .. } => *depth.get_mut(&thread).unwrap() -= 1,
            }
        }
        assert_eq!(deepest, max_depth);
        assert!(depth.values().all(|&d| d == 0));
    }
}

#[test]
fn event_count_is_exact() {
    for events in [0, 1, 2, 3, 10, 999, 1000, 12_345] {
        let c = cfg(events, 5);
        let ops = generate_ops(&c);
        assert_eq!(ops.len() as u64, events & !1, "events = {events}");
        let text = render(&c);
        let (objects, parsed) = parse(&text);
        assert_eq!(parsed.len(), ops.len());
        check_semantics(&c, &objects, &parsed);
    }
}

#[test]
fn fresh_mode_mostly_new_chains() {
    // A chain here is the class sequence a thread took between two moments of holding nothing.
    // Single-lock chains necessarily repeat (there are only `classes` of them), so count
    // chains of two or more locks.
    let chains = |c: &Config| {
        let mut cur: HashMap<u32, (Vec<u32>, u32)> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        let (mut total, mut distinct) = (0u32, 0u32);
        for op in generate_ops(c) {
            match op {
                GenOp::Acquire { thread, class, .. } => {
                    let e = cur.entry(thread).or_default();
                    e.0.push(class);
                    e.1 += 1;
                }
                GenOp::Release { thread, .. } => {
                    let e = cur.get_mut(&thread).unwrap();
                    e.1 -= 1;
                    if e.1 == 0 {
                        let chain = std::mem::take(&mut e.0);
                        if chain.len() > 1 {
                            total += 1;
                            distinct += u32::from(seen.insert(chain));
                        }
                    }
                }
            }
        }
        distinct as f64 / total as f64
    };
    let fresh = chains(&Config {
        fresh: true,
        ..cfg(200_000, 9)
    });
    assert!(
        fresh > 0.95,
        "fresh: only {:.1}% of chains are new",
        100.0 * fresh
    );
    let warm = chains(&cfg(200_000, 9));
    assert!(warm < 0.2, "warm: {:.1}% of chains are new", 100.0 * warm);
}

#[test]
fn invalid_configs_are_rejected() {
    for bad in [
        Config {
            threads: 0,
            ..Config::default()
        },
        Config {
            max_depth: 0,
            ..Config::default()
        },
        Config {
            classes: 3,
            max_depth: 4,
            ..Config::default()
        },
        Config {
            read_pct: 101,
            ..Config::default()
        },
    ] {
        assert!(bad.validate().is_err());
        let err = generate(&bad, &mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
}

#[test]
fn binary_matches_library() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lockdep-tracegen"))
        .args([
            "--events",
            "4000",
            "--seed",
            "42",
            "--threads=3",
            "--out",
            "-",
        ])
        .output()
        .expect("run lockdep-tracegen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c = Config {
        threads: 3,
        ..cfg(4000, 42)
    };
    assert_eq!(out.stdout, render(&c));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("events:"), "{stderr}");

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_lockdep-tracegen"))
        .args(["--bogus", "1"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
