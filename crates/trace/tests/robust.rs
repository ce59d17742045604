//! Arbitrary op sequences, nonsense included, never panic the reader or the engine: every line
//! is either applied or refused with a `FILE:LINE` error, and the report text renders.

use lockdep_core::render_text;
use lockdep_trace::{Replayer, report_json};
use proptest::prelude::*;

/// 1500 cases, or `ROBUST_CASES` (release-mode hunts: `ROBUST_CASES=200000 cargo test --release
/// -p lockdep-trace --test robust`).
pub fn robust_cases() -> u32 {
    std::env::var("ROBUST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500)
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u8..5).prop_map(|n| format!("\"L{n}\"")),
        (0u8..3).prop_map(|n| n.to_string()),
        Just("\"T1\"".to_owned()),
    ]
}

fn thread() -> impl Strategy<Value = String> {
    prop_oneof![Just("\"T1\""), Just("\"T2\""), Just("7")].prop_map(str::to_owned)
}

fn line() -> impl Strategy<Value = String> {
    let mode = prop_oneof![
        Just("write"),
        Just("read"),
        Just("read_recursive"),
        Just("bogus")
    ];
    let ty = prop_oneof![
        Just("mutex"),
        Just("rwlock"),
        Just("spinlock"),
        Just("pseudo"),
        Just("completion"),
        Just("thread"),
        Just("counter"),
    ];
    let ctx = prop_oneof![
        Just("hardirq"),
        Just("softirq"),
        Just("atomic"),
        Just("boundary")
    ];
    prop_oneof![
        (id(), ty, 0u8..10, any::<bool>(), any::<bool>()).prop_map(|(i, t, sub, spin, fair)| format!(
            r#"{{"op":"new","id":{i},"type":"{t}","class":"c{sub}","subclass":{sub},"spin":{spin},"fair":{fair}}}"#
        )),
        (thread(), id(), mode, any::<bool>(), any::<bool>(), 0u8..9, proptest::option::of(id())).prop_map(
            |(t, l, m, tr, ch, sub, nest)| {
                let nest = nest.map(|n| format!(r#","nest_lock":{n}"#)).unwrap_or_default();
                format!(
                    r#"{{"op":"acquire","thread":{t},"lock":{l},"mode":"{m}","try":{tr},"check":{ch},"subclass":{sub}{nest}}}"#
                )
            }
        ),
        (thread(), id()).prop_map(|(t, l)| format!(r#"{{"op":"release","thread":{t},"lock":{l}}}"#)),
        (thread(), id()).prop_map(|(t, l)| format!(r#"{{"op":"might_acquire","thread":{t},"lock":{l},"mode":"write"}}"#)),
        (thread(), id()).prop_map(|(t, l)| format!(r#"{{"op":"free","thread":{t},"object":{l}}}"#)),
        thread().prop_map(|t| format!(r#"{{"op":"exit","thread":{t}}}"#)),
        (thread(), thread()).prop_map(|(t, c)| format!(r#"{{"op":"spawn","thread":{t},"child":{c}}}"#)),
        (thread(), ctx.clone()).prop_map(|(t, c)| format!(r#"{{"op":"enter","thread":{t},"context":"{c}"}}"#)),
        (thread(), ctx).prop_map(|(t, c)| format!(r#"{{"op":"leave","thread":{t},"context":"{c}"}}"#)),
        (thread(), prop_oneof![
            Just("irq_disable"),
            Just("irq_enable"),
            Just("softirq_disable"),
            Just("softirq_enable"),
            Just("might_sleep")
        ])
        .prop_map(|(t, o)| format!(r#"{{"op":"{o}","thread":{t}}}"#)),
        (thread(), id()).prop_map(|(t, e)| format!(r#"{{"op":"signal","thread":{t},"event":{e}}}"#)),
        Just("not json".to_owned()),
        Just(r#"{"op":"acquire"}"#.to_owned()),
        Just(r#"{"lockdep_trace":1}"#.to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(robust_cases()) })]

    #[test]
    fn nonsense_never_panics(lines in prop::collection::vec(line(), 0..40)) {
        let text = lines.join("\n");
        let mut r = Replayer::new();
        match r.read("fuzz.jsonl", text.as_bytes()) {
            Ok(_) => {}
            Err(e) => {
                prop_assert!(e.line >= 1 && e.line <= lines.len(), "error line {} of {}: {e}", e.line, lines.len());
                prop_assert!(!e.message.is_empty());
            }
        }
        for loc in r.located_reports() {
            prop_assert!(!render_text(loc.report).is_empty());
            prop_assert!(report_json(loc.report, Some(loc.file), Some(loc.line)).is_object());
            prop_assert!(!loc.report.classes.is_empty(), "{:?}", loc.report);
        }
    }
}

mod engine_level {
    use lockdep_core::{
        Context, Engine, Event, Mode, ObjDecl, ObjId, ObjKind, Op, ThreadId, render_text,
    };
    use proptest::prelude::*;

    use super::robust_cases;

    fn op() -> impl Strategy<Value = Op> {
        let t = (0u32..3).prop_map(ThreadId);
        let o = (0u32..6).prop_map(ObjId);
        let mode = prop_oneof![
            Just(Mode::Write),
            Just(Mode::Read),
            Just(Mode::ReadRecursive)
        ];
        let kind = prop_oneof![
            Just(ObjKind::Mutex),
            Just(ObjKind::RwLock),
            Just(ObjKind::SpinLock),
            Just(ObjKind::Pseudo),
            Just(ObjKind::Completion),
        ];
        let ctx = prop_oneof![
            Just(Context::Hardirq),
            Just(Context::Softirq),
            Just(Context::Atomic),
            Just(Context::Boundary)
        ];
        prop_oneof![
            (
                o.clone(),
                kind,
                0u8..9,
                proptest::option::of(any::<bool>()),
                any::<bool>()
            )
                .prop_map(|(obj, kind, sub, spin, fair)| {
                    let mut decl = ObjDecl::new(kind, lockdep_core::NameId(u32::from(sub % 4)));
                    decl.subclass = sub;
                    decl.spin = spin;
                    decl.fair = fair;
                    Op::New { obj, decl }
                }),
            (
                t.clone(),
                o.clone(),
                mode.clone(),
                any::<bool>(),
                proptest::option::of(0u8..9),
                proptest::option::of(o.clone()),
                any::<bool>()
            )
                .prop_map(|(thread, lock, mode, try_, subclass, nest_lock, check)| {
                    Op::Acquire {
                        thread,
                        lock,
                        mode,
                        try_,
                        subclass,
                        nest_lock,
                        check,
                    }
                }),
            (t.clone(), o.clone()).prop_map(|(thread, lock)| Op::Release { thread, lock }),
            (t.clone(), o.clone(), mode).prop_map(|(thread, lock, mode)| Op::MightAcquire {
                thread,
                lock,
                mode
            }),
            (t.clone(), o.clone()).prop_map(|(thread, obj)| Op::Free { thread, obj }),
            t.clone().prop_map(|thread| Op::Exit { thread }),
            (t.clone(), t.clone()).prop_map(|(thread, child)| Op::Spawn { thread, child }),
            (t.clone(), ctx.clone()).prop_map(|(thread, ctx)| Op::Enter { thread, ctx }),
            (t.clone(), ctx).prop_map(|(thread, ctx)| Op::Leave { thread, ctx }),
            t.clone().prop_map(|thread| Op::IrqDisable { thread }),
            t.clone().prop_map(|thread| Op::IrqEnable { thread }),
            t.clone().prop_map(|thread| Op::SoftirqDisable { thread }),
            t.clone().prop_map(|thread| Op::SoftirqEnable { thread }),
            t.clone().prop_map(|thread| Op::MightSleep { thread }),
            (t, o).prop_map(|(thread, event)| Op::Signal {
                thread,
                event,
                all: false
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(robust_cases()) })]

        /// Every op is applied or refused; nothing panics, every report renders and names at
        /// least one class.
        #[test]
        fn arbitrary_engine_ops_never_panic(ops in prop::collection::vec(op(), 0..80)) {
            let mut e = Engine::new();
            for name in ["c0", "c1", "c2", "c3"] {
                e.intern(name);
            }
            let mut refused = 0;
            for op in ops {
                if e.apply(&Event::from(op)).is_err() {
                    refused += 1;
                }
            }
            prop_assert!(refused <= e.stats().events);
            for r in e.reports() {
                prop_assert!(!r.classes.is_empty());
                prop_assert!(render_text(r).contains(r.kind.as_str()));
            }
        }
    }
}
