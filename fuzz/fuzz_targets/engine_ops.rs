//! The engine on arbitrary op sequences, nonsense included (releases of unknown locks, exits
//! twice, contexts left unbalanced, waits on locks, acquires of completions): never a
//! panic; input errors are `Err`, problems are reports.
//!
//! The input is read 4 bytes per op: the op, a thread (8), an object (12), an argument. The
//! objects are declared first, one of each kind (and spares), some spinning.
#![no_main]

use lockdep_core::{
    Context, Engine, Event, FlushKind, Mode, ObjDecl, ObjId, ObjKind, Op, Produce, ThreadId,
};

const KINDS: [ObjKind; 12] = [
    ObjKind::Mutex,
    ObjKind::RwLock,
    ObjKind::SpinLock,
    ObjKind::Pseudo,
    ObjKind::Completion,
    ObjKind::WaitQueue,
    ObjKind::Condvar,
    ObjKind::Counter,
    ObjKind::Channel,
    ObjKind::WorkQueue,
    ObjKind::Work,
    ObjKind::Mutex,
];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut e = Engine::new();
    for (i, &kind) in KINDS.iter().enumerate() {
        let class = e.intern(&format!("c{}", i % 7)); // some share a class
        let mut decl = ObjDecl::new(kind, class);
        decl.capacity = (i % 3 == 0).then_some((i % 4) as u32);
        let _ = e.apply(&Event::new(Op::New {
            obj: ObjId(i as u32),
            decl,
        }));
    }
    for c in data.chunks_exact(4) {
        let thread = ThreadId(u32::from(c[1] % 8));
        let obj = ObjId(u32::from(c[2] % 12));
        let other = ObjId(u32::from(c[3] % 12));
        let t2 = ThreadId(u32::from(c[3] % 8));
        let mode = [Mode::Write, Mode::Read, Mode::ReadRecursive][usize::from(c[3] % 3)];
        let flag = c[3] & 0x80 != 0;
        let ctx = [
            Context::Hardirq,
            Context::Softirq,
            Context::Atomic,
            Context::Boundary,
        ][usize::from(c[3] % 4)];
        let op = match c[0] % 34 {
            0..=5 => Op::Acquire {
                thread,
                lock: obj,
                mode,
                try_: c[0] % 7 == 0,
                subclass: (c[0] % 5 == 0).then_some(c[3] % 9),
                nest_lock: (c[0] % 11 == 0).then_some(other),
                check: c[0] % 13 != 0,
            },
            6..=9 => Op::Release { thread, lock: obj },
            10 => Op::MightAcquire {
                thread,
                lock: obj,
                mode,
            },
            11 => Op::Enter { thread, ctx },
            12 => Op::Leave { thread, ctx },
            13 => Op::IrqDisable { thread },
            14 => Op::IrqEnable { thread },
            15 => Op::SoftirqDisable { thread },
            16 => Op::SoftirqEnable { thread },
            17 => Op::MightSleep { thread },
            18 => Op::Wait {
                thread,
                event: obj,
                parked: flag,
                timeout: c[3] & 1 != 0,
            },
            19 => Op::Signal {
                thread,
                event: obj,
                all: flag,
            },
            20 => Op::CondWait {
                thread,
                condvar: obj,
                mutex: other,
                parked: flag,
                timeout: false,
            },
            21 => Op::Notify {
                thread,
                condvar: obj,
                all: flag,
            },
            22 => Op::Inc {
                thread,
                counter: obj,
            },
            23 => Op::Dec {
                thread,
                counter: obj,
            },
            24 => Op::WaitZero {
                thread,
                counter: obj,
                parked: flag,
                timeout: false,
            },
            25 => Op::Send {
                thread,
                channel: obj,
                parked: flag,
                timeout: false,
            },
            26 => Op::Recv {
                thread,
                channel: obj,
                parked: flag,
                timeout: false,
            },
            27 => Op::Queue {
                thread,
                work: obj,
                queue: other,
            },
            28 => Op::RunBegin { thread, work: obj },
            29 => Op::RunEnd { thread, work: obj },
            30 => Op::Flush { thread, work: obj },
            31 => Op::Defer {
                thread,
                item: obj,
                produces: vec![Produce::Signal(other), Produce::Dec(obj)].into_boxed_slice(),
            },
            32 => Op::FlushPoint {
                thread,
                kind: [
                    FlushKind::Base,
                    FlushKind::Blocking,
                    FlushKind::Transfer(t2),
                ][usize::from(c[3] % 3)],
            },
            _ => match c[3] % 6 {
                0 => Op::Spawn { thread, child: t2 },
                1 => Op::Join { thread, child: t2 },
                2 => Op::Exit { thread },
                3 => Op::Free { thread, obj },
                4 => Op::ObligationBegin { thread, event: obj },
                _ => Op::ObligationEnd { thread, event: obj },
            },
        };
        let _ = e.apply(&Event::new(op));
        // Now and then a class is forgotten (whatever is live), and the graph must stay sound.
        if c[0] % 34 == 33 && c[3] % 6 == 3 && c[3] & 0x80 != 0 {
            let class = e.intern(&format!("c{}", c[2] % 7));
            let _ = e.forget_class(class);
            assert!(e.graph_is_consistent(), "graph unsound after forgetting a class");
        }
    }
    for r in e.reports() {
        let _ = lockdep_core::render_text(r);
    }
});
