//! `Engine::forget_class`: a forgotten class leaves no dependency behind, a later class of the
//! same name starts afresh, and memory follows the live classes.

use lockdep_core::{Engine, Event, Kind, Mode, NameId, ObjDecl, ObjId, ObjKind, Op, ThreadId};

const T: ThreadId = ThreadId(0);

fn new(e: &mut Engine, obj: u32, class: NameId, kind: ObjKind) {
    e.apply(&Event::from(Op::New {
        obj: ObjId(obj),
        decl: ObjDecl::new(kind, class),
    }))
    .unwrap();
}

/// A blocking acquire by thread `t`.
fn acquire(e: &mut Engine, t: ThreadId, obj: u32, mode: Mode) {
    e.apply(&Event::from(Op::Acquire {
        thread: t,
        lock: ObjId(obj),
        mode,
        try_: false,
        subclass: None,
        nest_lock: None,
        check: true,
    }))
    .unwrap();
}

fn release(e: &mut Engine, t: ThreadId, obj: u32) {
    e.apply(&Event::from(Op::Release {
        thread: t,
        lock: ObjId(obj),
    }))
    .unwrap();
}

fn lock(e: &mut Engine, obj: u32, mode: Mode) {
    acquire(e, T, obj, mode);
}

fn unlock(e: &mut Engine, obj: u32) {
    release(e, T, obj);
}

fn free(e: &mut Engine, obj: u32) {
    e.apply(&Event::from(Op::Free {
        thread: T,
        obj: ObjId(obj),
    }))
    .unwrap();
}

/// `a` then `b`, nested.
fn nest(e: &mut Engine, a: u32, b: u32) {
    lock(e, a, Mode::Write);
    lock(e, b, Mode::Write);
    unlock(e, b);
    unlock(e, a);
}

#[test]
fn a_forgotten_class_leaves_no_dependency() {
    let mut e = Engine::new();
    let (dyn_, b) = (e.intern("dyn"), e.intern("b"));
    new(&mut e, 0, dyn_, ObjKind::Mutex);
    new(&mut e, 1, b, ObjKind::Mutex);
    nest(&mut e, 0, 1); // dyn -> b
    free(&mut e, 0);
    assert_eq!(e.edge_count(), 1);
    assert!(matches!(e.forget_class(dyn_), Ok(Some(_))));
    assert_eq!(e.edge_count(), 0);
    assert!(e.edges().is_empty());
    // A new class of the same name, the other way round: nothing to report.
    let forgot_at = e.events();
    new(&mut e, 0, dyn_, ObjKind::Mutex);
    nest(&mut e, 1, 0); // b -> dyn
    assert!(e.reports().is_empty(), "{:?}", e.reports());
    // The new edge reuses the removed one's id, with its own record.
    let edges = e.edges();
    assert_eq!(edges.len(), 1);
    assert_eq!((edges[0].from.as_str(), edges[0].to.as_str()), ("b", "dyn"));
    assert!(
        edges[0].seq > forgot_at,
        "the old edge's record: {:?}",
        edges[0]
    );
    assert_eq!(e.edges_recorded(), 2);
    // Without forgetting, the same is a cycle.
    let (keep, c) = (e.intern("keep"), e.intern("c"));
    new(&mut e, 2, keep, ObjKind::Mutex);
    new(&mut e, 3, c, ObjKind::Mutex);
    nest(&mut e, 2, 3);
    free(&mut e, 2);
    new(&mut e, 2, keep, ObjKind::Mutex);
    nest(&mut e, 3, 2);
    assert_eq!(e.reports().len(), 1);
    assert_eq!(e.reports()[0].kind, Kind::Circular);
}

#[test]
fn chains_through_a_forgotten_class_are_validated_again() {
    let mut e = Engine::new();
    let (dyn_, a, b) = (e.intern("dyn"), e.intern("a"), e.intern("b"));
    new(&mut e, 0, a, ObjKind::Mutex);
    new(&mut e, 1, dyn_, ObjKind::Mutex);
    new(&mut e, 2, b, ObjKind::Mutex);
    // a -> dyn -> b, a chain the engine caches.
    lock(&mut e, 0, Mode::Write);
    nest(&mut e, 1, 2);
    unlock(&mut e, 0);
    free(&mut e, 1);
    assert!(matches!(e.forget_class(dyn_), Ok(Some(_))));
    // The new `dyn` is taken the other way: b -> dyn, then a -> dyn -> b again must record
    // dyn -> b anew (the old chain must not hide it) and report the cycle.
    new(&mut e, 1, dyn_, ObjKind::Mutex);
    nest(&mut e, 2, 1);
    lock(&mut e, 0, Mode::Write);
    nest(&mut e, 1, 2);
    unlock(&mut e, 0);
    assert_eq!(e.reports().len(), 1, "{:?}", e.reports());
    assert_eq!(e.reports()[0].kind, Kind::Circular);
}

#[test]
fn memory_follows_the_live_classes() {
    let mut e = Engine::new();
    let (b, c) = (e.intern("b"), e.intern("c"));
    new(&mut e, 1, b, ObjKind::Mutex);
    new(&mut e, 2, c, ObjKind::Mutex);
    // 16 names in turn, each made, used under and over the fixed locks, and forgotten.
    let names: Vec<NameId> = (0..16).map(|i| e.intern(&format!("dyn#{i}"))).collect();
    let mut peak = (0, 0);
    for round in 0..2000 {
        let n = names[round % names.len()];
        new(&mut e, 0, n, ObjKind::Mutex);
        nest(&mut e, 0, 1);
        nest(&mut e, 2, 0);
        lock(&mut e, 2, Mode::Write);
        nest(&mut e, 0, 1);
        unlock(&mut e, 2);
        free(&mut e, 0);
        assert!(matches!(e.forget_class(n), Ok(Some(_))));
        let s = e.stats();
        peak = (
            peak.0.max(s.classes),
            peak.1.max(e.edges().len() + s.chains),
        );
    }
    assert!(e.reports().is_empty(), "{:?}", e.reports());
    let s = e.stats();
    assert_eq!(s.classes, 2 + names.len(), "classes: one per name");
    assert_eq!(e.edge_count(), 0, "every edge went with its class");
    assert!(peak.1 <= 8, "edges and chains stay bounded: {peak:?}");
}

#[test]
fn a_held_class_is_not_forgotten_and_a_merged_one_is_kept() {
    let mut e = Engine::new();
    let (dyn_, r) = (e.intern("dyn"), e.intern("r"));
    new(&mut e, 0, dyn_, ObjKind::RwLock);
    new(&mut e, 1, r, ObjKind::RwLock);
    lock(&mut e, 0, Mode::Write);
    assert!(e.forget_class(dyn_).is_err(), "held");
    unlock(&mut e, 0);
    // Both orders under one outer lock: a gated cycle (a warning), one component of the
    // order.
    let g = e.intern("g");
    new(&mut e, 2, g, ObjKind::Mutex);
    for (x, y) in [(0, 1), (1, 0)] {
        lock(&mut e, 2, Mode::Write);
        nest(&mut e, x, y);
        unlock(&mut e, 2);
    }
    assert_eq!(e.reports().len(), 1, "{:?}", e.reports());
    assert_eq!(e.reports()[0].severity, lockdep_core::Severity::Warning);
    let edges = e.edge_count();
    assert_eq!(e.forget_class(dyn_), Ok(None), "on a merged cycle: kept");
    assert_eq!(e.edge_count(), edges, "nothing removed");
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Step {
        Lock(u32, u32, u8),
        Unlock(u32, u32),
        Forget(u32),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0..2u32, 0..5u32, 0..3u8).prop_map(|(t, o, m)| Step::Lock(t, o, m)),
            3 => (0..2u32, 0..5u32).prop_map(|(t, o)| Step::Unlock(t, o)),
            1 => (0..5u32).prop_map(Step::Forget),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Random lock programs on two threads over five classes (every mode), forgetting a
        /// class now and then: the graph stays sound, and no report after a class was
        /// forgotten rests on an edge of that class recorded before it.
        #[test]
        fn forgetting_leaves_no_stale_dependency(steps in proptest::collection::vec(step(), 1..120)) {
            let mut e = Engine::new();
            let names: Vec<NameId> = (0..5).map(|i| e.intern(&format!("c{i}"))).collect();
            for (i, &n) in names.iter().enumerate() {
                new(&mut e, i as u32, n, ObjKind::RwLock);
            }
            let mut held: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
            let mut forgot_at = [0u64; 5];
            for s in steps {
                let before = e.reports().len();
                match s {
                    Step::Lock(t, o, m) => {
                        let mode = [Mode::Write, Mode::Read, Mode::ReadRecursive][m as usize];
                        acquire(&mut e, ThreadId(t), o, mode);
                        held[t as usize].push(o);
                    }
                    Step::Unlock(t, o) => {
                        if let Some(i) = held[t as usize].iter().rposition(|&h| h == o) {
                            held[t as usize].remove(i);
                            release(&mut e, ThreadId(t), o);
                        }
                    }
                    Step::Forget(o) => {
                        if held.iter().all(|h| !h.contains(&o)) {
                            free(&mut e, o);
                            if let Ok(Some(_)) = e.forget_class(names[o as usize]) {
                                forgot_at[o as usize] = e.events();
                            }
                            new(&mut e, o, names[o as usize], ObjKind::RwLock);
                        }
                    }
                }
                prop_assert!(e.graph_is_consistent());
                for r in &e.reports()[before..] {
                    for edge in &r.edges {
                        for (i, n) in names.iter().enumerate() {
                            let name = e.name(*n).to_owned();
                            if edge.from == name || edge.to == name {
                                prop_assert!(
                                    edge.seq >= forgot_at[i],
                                    "report {} rests on {} -> {} recorded at {} before {} was forgotten at {}",
                                    r.title, edge.from, edge.to, edge.seq, name, forgot_at[i]
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
