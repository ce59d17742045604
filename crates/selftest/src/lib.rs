//! Linux's lockdep selftest matrix (`lib/locking-selftest.c`) as a table.
//!
//! Every [`Case`] is one scenario: the lock objects it declares, its operations in global
//! program order (each tagged with its thread), and the verdict Linux lockdep gives for it,
//! written as the reports our validator must print (`expect`) plus the report kinds it may
//! print on top because it keeps going after the first report (`allow`).
//!
//! The kernel runs every test case in one task, one code segment after the other, and resets
//! lockdep between cases. Here every segment runs on its own thread (`T1`, `T2`, ...; the
//! number is the segment's number in the kernel macro, whatever order the permutation runs it
//! in), and every segment releases what it took, so the threads never overlap in what they
//! hold: exactly what the kernel's single task does. Interrupt segments are `enter`/`leave` of
//! a `hardirq` or `softirq` context on their thread.
//!
//! [`render`] turns a case into the JSON Lines text of `shared/spec/trace-format.md`; the
//! `selftest-gen` binary writes them all to `tests/selftest/`.

use std::collections::BTreeSet;

/// The lock types of the selftests, as the trace format declares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockType {
    /// `spinlock_t` / `raw_spinlock_t`: `"type":"spinlock"`.
    Spin,
    /// `rwlock_t`: `"type":"rwlock","spin":true`.
    RwSpin,
    /// `struct mutex` (and `rt_mutex`): `"type":"mutex"`.
    Mutex,
    /// `struct rw_semaphore`: `"type":"rwlock"` (sleeping).
    Rwsem,
}

impl LockType {
    fn type_name(self) -> &'static str {
        match self {
            LockType::Spin => "spinlock",
            LockType::RwSpin | LockType::Rwsem => "rwlock",
            LockType::Mutex => "mutex",
        }
    }
}

/// Acquire mode (lockdep's `read` argument: 0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Exclusive (`read` = 0).
    Write,
    /// Non-recursive shared (`read` = 1): `down_read`, a queued `read_lock` in process context.
    Read,
    /// Recursive shared (`read` = 2): `read_lock` under the selftests' forced recursion, or in
    /// interrupt context.
    ReadRecursive,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Write => "write",
            Mode::Read => "read",
            Mode::ReadRecursive => "read_recursive",
        }
    }

    /// Short tag used in case names: `w`, `r` (non-recursive read), `rr` (recursive read).
    pub fn tag(self) -> &'static str {
        match self {
            Mode::Write => "w",
            Mode::Read => "r",
            Mode::ReadRecursive => "rr",
        }
    }

    /// A hold in this mode is shared (the holder side of lockdep's edge types: `S?`).
    pub fn is_shared(self) -> bool {
        !matches!(self, Mode::Write)
    }
}

/// Execution contexts of the trace format that the selftests use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Hardirq,
    Softirq,
    Atomic,
}

impl Context {
    fn as_str(self) -> &'static str {
        match self {
            Context::Hardirq => "hardirq",
            Context::Softirq => "softirq",
            Context::Atomic => "atomic",
        }
    }
}

/// Report kinds of the trace format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Circular,
    Recursive,
    BadUnlock,
    HeldFreed,
    HeldAtExit,
    InvalidContext,
    InconsistentState,
    IrqInversion,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Circular => "circular",
            Kind::Recursive => "recursive",
            Kind::BadUnlock => "bad_unlock",
            Kind::HeldFreed => "held_freed",
            Kind::HeldAtExit => "held_at_exit",
            Kind::InvalidContext => "invalid_context",
            Kind::InconsistentState => "inconsistent_state",
            Kind::IrqInversion => "irq_inversion",
        }
    }
}

/// One declared lock object (`new` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub id: String,
    pub class: String,
    pub ty: LockType,
}

/// One trace operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Acquire {
        thread: String,
        lock: String,
        mode: Mode,
        try_: bool,
        nest_lock: Option<String>,
    },
    Release {
        thread: String,
        lock: String,
    },
    Free {
        thread: String,
        object: String,
    },
    Enter {
        thread: String,
        context: Context,
    },
    Leave {
        thread: String,
        context: Context,
    },
    IrqDisable {
        thread: String,
    },
    IrqEnable {
        thread: String,
    },
    SoftirqDisable {
        thread: String,
    },
    SoftirqEnable {
        thread: String,
    },
    MightSleep {
        thread: String,
        site: Option<String>,
    },
}

impl Op {
    /// The thread the operation runs on.
    pub fn thread(&self) -> &str {
        match self {
            Op::Acquire { thread, .. }
            | Op::Release { thread, .. }
            | Op::Free { thread, .. }
            | Op::Enter { thread, .. }
            | Op::Leave { thread, .. }
            | Op::IrqDisable { thread }
            | Op::IrqEnable { thread }
            | Op::SoftirqDisable { thread }
            | Op::SoftirqEnable { thread }
            | Op::MightSleep { thread, .. } => thread,
        }
    }
}

/// One expected report: its kind and its classes (a set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    pub kind: Kind,
    pub classes: Vec<String>,
}

/// One scenario of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// Family the case belongs to (used for the per-family counts).
    pub family: &'static str,
    /// File stem: `st-<family>-<variant>`, lowercase.
    pub name: String,
    pub about: String,
    pub locks: Vec<Lock>,
    /// Operations in global program order.
    pub ops: Vec<Op>,
    /// Lockdep's verdict: the reports that must appear (empty: none may appear).
    pub expect: Vec<Expect>,
    /// Further report kinds our validator may print (it keeps going after the first report;
    /// Linux stops there).
    pub allow: Vec<Kind>,
}

impl Case {
    fn new(family: &'static str, name: String, about: String) -> Self {
        Case {
            family,
            name,
            about,
            locks: Vec::new(),
            ops: Vec::new(),
            expect: Vec::new(),
            allow: Vec::new(),
        }
    }

    fn lock(mut self, id: &str, class: &str, ty: LockType) -> Self {
        self.locks.push(Lock {
            id: id.to_owned(),
            class: class.to_owned(),
            ty,
        });
        self
    }

    /// Declares one lock per name, with the name as its id and class.
    fn locks(mut self, names: &[&str], ty: LockType) -> Self {
        for n in names {
            self = self.lock(n, n, ty);
        }
        self
    }

    fn seg(mut self, seg: Seg) -> Self {
        self.ops.extend(seg.ops);
        self
    }

    /// Runs the segments in the order `perm` gives (digits, 1-based).
    fn permuted(mut self, segs: &[Seg], perm: &str) -> Self {
        for d in perm.bytes() {
            let i = usize::from(d - b'1');
            self.ops.extend(segs[i].ops.iter().cloned());
        }
        self
    }

    fn expect(mut self, kind: Kind, classes: &[&str]) -> Self {
        let set: BTreeSet<&str> = classes.iter().copied().collect();
        self.expect.push(Expect {
            kind,
            classes: set.into_iter().map(str::to_owned).collect(),
        });
        self
    }

    fn verdict(mut self, v: &Verdict) -> Self {
        for (kind, classes) in &v.expect {
            self = self.expect(*kind, classes);
        }
        self.allow.extend(v.allow.iter().copied());
        self
    }
}

/// A verdict before it is attached to a case.
#[derive(Debug, Clone, Default)]
struct Verdict {
    expect: Vec<(Kind, Vec<&'static str>)>,
    allow: Vec<Kind>,
}

impl Verdict {
    fn ok() -> Self {
        Verdict::default()
    }

    fn one(kind: Kind, classes: &[&'static str]) -> Self {
        Verdict {
            expect: vec![(kind, classes.to_vec())],
            allow: Vec::new(),
        }
    }

    fn allowing(mut self, kind: Kind) -> Self {
        self.allow.push(kind);
        self
    }
}

/// A code segment: the operations of one thread, in order.
#[derive(Debug, Clone)]
struct Seg {
    thread: String,
    ops: Vec<Op>,
}

impl Seg {
    fn on(thread: &str) -> Self {
        Seg {
            thread: thread.to_owned(),
            ops: Vec::new(),
        }
    }

    /// Segment number `n` (1-based) of a kernel test macro runs on thread `Tn`.
    fn nr(n: usize) -> Self {
        Seg::on(&format!("T{n}"))
    }

    fn t(&self) -> String {
        self.thread.clone()
    }

    fn acquire(mut self, lock: &str, mode: Mode, try_: bool, nest_lock: Option<&str>) -> Self {
        let thread = self.t();
        self.ops.push(Op::Acquire {
            thread,
            lock: lock.to_owned(),
            mode,
            try_,
            nest_lock: nest_lock.map(str::to_owned),
        });
        self
    }

    fn lock(self, lock: &str, mode: Mode) -> Self {
        self.acquire(lock, mode, false, None)
    }

    fn w(self, lock: &str) -> Self {
        self.lock(lock, Mode::Write)
    }

    fn try_lock(self, lock: &str, mode: Mode) -> Self {
        self.acquire(lock, mode, true, None)
    }

    fn nest(self, lock: &str, mode: Mode, nest_lock: &str) -> Self {
        self.acquire(lock, mode, false, Some(nest_lock))
    }

    fn unlock(mut self, lock: &str) -> Self {
        let thread = self.t();
        self.ops.push(Op::Release {
            thread,
            lock: lock.to_owned(),
        });
        self
    }

    /// Takes `locks` in order, each in its mode, then releases them in reverse order.
    fn nested(mut self, locks: &[(&str, Mode)]) -> Self {
        for (l, m) in locks {
            self = self.lock(l, *m);
        }
        for (l, _) in locks.iter().rev() {
            self = self.unlock(l);
        }
        self
    }

    fn free(mut self, object: &str) -> Self {
        let thread = self.t();
        self.ops.push(Op::Free {
            thread,
            object: object.to_owned(),
        });
        self
    }

    fn enter(mut self, context: Context) -> Self {
        let thread = self.t();
        self.ops.push(Op::Enter { thread, context });
        self
    }

    fn leave(mut self, context: Context) -> Self {
        let thread = self.t();
        self.ops.push(Op::Leave { thread, context });
        self
    }

    fn irq_off(mut self) -> Self {
        let thread = self.t();
        self.ops.push(Op::IrqDisable { thread });
        self
    }

    fn irq_on(mut self) -> Self {
        let thread = self.t();
        self.ops.push(Op::IrqEnable { thread });
        self
    }

    fn bh_off(mut self) -> Self {
        let thread = self.t();
        self.ops.push(Op::SoftirqDisable { thread });
        self
    }

    fn bh_on(mut self) -> Self {
        let thread = self.t();
        self.ops.push(Op::SoftirqEnable { thread });
        self
    }

    fn might_sleep(mut self, site: Option<&str>) -> Self {
        let thread = self.t();
        self.ops.push(Op::MightSleep {
            thread,
            site: site.map(str::to_owned),
        });
        self
    }

    /// The kernel's `IRQ_ENTER()` of the `-hardirq.h` / `-softirq.h` headers.
    fn irq_enter(self, irq: Irq) -> Self {
        self.enter(irq.context())
    }

    /// The kernel's `IRQ_EXIT()`.
    fn irq_exit(self, irq: Irq) -> Self {
        self.leave(irq.context())
    }

    /// The kernel's `IRQ_DISABLE()`: `local_irq_disable()` or `local_bh_disable()`.
    fn irq_disable(self, irq: Irq) -> Self {
        match irq {
            Irq::Hard => self.irq_off(),
            Irq::Soft => self.bh_off(),
        }
    }

    /// The kernel's `IRQ_ENABLE()`: `local_irq_enable()` or `local_bh_enable()`.
    fn irq_enable(self, irq: Irq) -> Self {
        match irq {
            Irq::Hard => self.irq_on(),
            Irq::Soft => self.bh_on(),
        }
    }
}

/// Hard or soft interrupt variant of an irq test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Irq {
    Hard,
    Soft,
}

impl Irq {
    fn name(self) -> &'static str {
        match self {
            Irq::Hard => "hard",
            Irq::Soft => "soft",
        }
    }

    fn context(self) -> Context {
        match self {
            Irq::Hard => Context::Hardirq,
            Irq::Soft => Context::Softirq,
        }
    }
}

/// The lock flavours of the selftests' `locking-selftest-<flavour>.h` headers: what `LOCK(x)`
/// means in a test body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flavour {
    name: &'static str,
    ty: LockType,
    mode: Mode,
    what: &'static str,
}

const SPIN: Flavour = Flavour {
    name: "spin",
    ty: LockType::Spin,
    mode: Mode::Write,
    what: "spin_lock",
};
const WLOCK: Flavour = Flavour {
    name: "wlock",
    ty: LockType::RwSpin,
    mode: Mode::Write,
    what: "write_lock of an rwlock_t",
};
/// `read_lock` of an `rwlock_t`: recursive, because the selftests set
/// `force_read_lock_recursive` (and in interrupt context it always is).
const RLOCK: Flavour = Flavour {
    name: "rlock",
    ty: LockType::RwSpin,
    mode: Mode::ReadRecursive,
    what: "recursive read_lock of an rwlock_t",
};
const MUTEX: Flavour = Flavour {
    name: "mutex",
    ty: LockType::Mutex,
    mode: Mode::Write,
    what: "mutex_lock",
};
const WSEM: Flavour = Flavour {
    name: "wsem",
    ty: LockType::Rwsem,
    mode: Mode::Write,
    what: "down_write of an rw_semaphore",
};
const RSEM: Flavour = Flavour {
    name: "rsem",
    ty: LockType::Rwsem,
    mode: Mode::Read,
    what: "down_read (non-recursive) of an rw_semaphore",
};

/// The six flavours of `DO_TESTCASE_6*` (rt_mutex is left out: in the trace format it is the
/// same as a mutex).
const SIX: [Flavour; 6] = [SPIN, WLOCK, RLOCK, MUTEX, WSEM, RSEM];

/// The three flavours of the irq tests (`DO_TESTCASE_3*`).
const THREE: [Flavour; 3] = [SPIN, RLOCK, WLOCK];

/// The two rwlock flavours of the irq read-recursion tests (`DO_TESTCASE_2RW`).
const TWO_RW: [Flavour; 2] = [RLOCK, WLOCK];

const PERMS_2: [&str; 2] = ["12", "21"];
const PERMS_3: [&str; 6] = ["123", "132", "213", "231", "312", "321"];

/// The strong-cycle rule for a cycle of edges: `entries[i]` is the mode lock `i` is acquired
/// in (entering it), `exits[i]` the mode it is held in when the next lock is taken (leaving
/// it). The cycle is a deadlock iff no lock is entered by a recursive reader and left through
/// a shared hold.
pub fn strong_cycle(entries: &[Mode], exits: &[Mode]) -> bool {
    entries
        .iter()
        .zip(exits)
        .all(|(e, x)| !(*e == Mode::ReadRecursive && x.is_shared()))
}

/// Every case of the table, family by family, in the selftest's order.
pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    aa(&mut out);
    orders(&mut out);
    double_unlock(&mut out);
    init_held(&mut out);
    recursion(&mut out);
    mixed_abba(&mut out);
    rlock3(&mut out);
    rw3(&mut out);
    irqsafe1(&mut out);
    irqsafe2a(&mut out);
    irqsafe2b(&mut out);
    irqsafe3(&mut out);
    irqsafe4(&mut out);
    irq_inversion(&mut out);
    irq_read_recursion(&mut out);
    irq_read_recursion2(&mut out);
    irq_read_recursion3(&mut out);
    queued(&mut out);
    hardirq_unsafe_softirq_safe(&mut out);
    wait_ctx(&mut out);
    nest_lock(&mut out);
    out
}

/// The families in table order, each with its number of cases.
pub fn family_counts(cases: &[Case]) -> Vec<(&'static str, usize)> {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for c in cases {
        match counts.iter_mut().find(|(f, _)| *f == c.family) {
            Some((_, n)) => *n += 1,
            None => counts.push((c.family, 1)),
        }
    }
    counts
}

// ---------------------------------------------------------------------------------------------
// Lock-order families (DO_TESTCASE_6R): every flavour but rlock deadlocks.

fn aa(out: &mut Vec<Case>) {
    for f in SIX {
        let v = if f.mode == Mode::ReadRecursive {
            Verdict::ok()
        } else {
            Verdict::one(Kind::Recursive, &["X"])
        };
        out.push(
            Case::new(
                "aa",
                format!("st-aa-{}", f.name),
                format!(
                    "locking-selftest AA_{}: two instances of class X nested, {}",
                    f.name, f.what
                ),
            )
            .lock("X1", "X", f.ty)
            .lock("X2", "X", f.ty)
            .seg(Seg::nr(1).lock("X1", f.mode).lock("X2", f.mode))
            .verdict(&v),
        );
    }
}

/// `LOCK_UNLOCK_2(x, y)` pairs of the circular families, and the classes of the cycle.
struct OrderFamily {
    family: &'static str,
    kernel: &'static str,
    pairs: &'static [(&'static str, &'static str)],
    cycle: &'static [&'static str],
}

const ORDER_FAMILIES: [OrderFamily; 6] = [
    OrderFamily {
        family: "abba",
        kernel: "ABBA",
        pairs: &[("A", "B"), ("B", "A")],
        cycle: &["A", "B"],
    },
    OrderFamily {
        family: "abbcca",
        kernel: "ABBCCA",
        pairs: &[("A", "B"), ("B", "C"), ("C", "A")],
        cycle: &["A", "B", "C"],
    },
    OrderFamily {
        family: "abcabc",
        kernel: "ABCABC",
        pairs: &[("A", "B"), ("C", "A"), ("B", "C")],
        cycle: &["A", "B", "C"],
    },
    OrderFamily {
        family: "abbccdda",
        kernel: "ABBCCDDA",
        pairs: &[("A", "B"), ("B", "C"), ("C", "D"), ("D", "A")],
        cycle: &["A", "B", "C", "D"],
    },
    OrderFamily {
        family: "abcdbdda",
        kernel: "ABCDBDDA",
        pairs: &[("A", "B"), ("C", "D"), ("B", "D"), ("D", "A")],
        cycle: &["A", "B", "D"],
    },
    OrderFamily {
        family: "abcdbcda",
        kernel: "ABCDBCDA",
        pairs: &[("A", "B"), ("C", "D"), ("B", "C"), ("D", "A")],
        cycle: &["A", "B", "C", "D"],
    },
];

fn orders(out: &mut Vec<Case>) {
    for fam in &ORDER_FAMILIES {
        let mut names: Vec<&str> = fam.pairs.iter().flat_map(|(a, b)| [*a, *b]).collect();
        names.sort_unstable();
        names.dedup();
        let order: Vec<String> = fam.pairs.iter().map(|(a, b)| format!("{a}{b}")).collect();
        for f in SIX {
            let v = if f.mode == Mode::ReadRecursive {
                Verdict::ok()
            } else {
                Verdict::one(Kind::Circular, fam.cycle)
            };
            let mut c = Case::new(
                fam.family,
                format!("st-{}-{}", fam.family, f.name),
                format!(
                    "locking-selftest {}_{}: threads take {} in turn, {}",
                    fam.kernel,
                    f.name,
                    order.join(", "),
                    f.what
                ),
            )
            .locks(&names, f.ty);
            for (i, (a, b)) in fam.pairs.iter().enumerate() {
                c = c.seg(Seg::nr(i + 1).nested(&[(a, f.mode), (b, f.mode)]));
            }
            out.push(c.verdict(&v));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// double unlock, initialise held (DO_TESTCASE_6: every flavour fails).

fn double_unlock(out: &mut Vec<Case>) {
    for f in SIX {
        out.push(
            Case::new(
                "double-unlock",
                format!("st-double-unlock-{}", f.name),
                format!(
                    "locking-selftest double_unlock_{}: A released twice, {}",
                    f.name, f.what
                ),
            )
            .locks(&["A"], f.ty)
            .seg(Seg::nr(1).lock("A", f.mode).unlock("A").unlock("A"))
            .verdict(&Verdict::one(Kind::BadUnlock, &["A"])),
        );
    }
}

fn init_held(out: &mut Vec<Case>) {
    for f in SIX {
        out.push(
            Case::new(
                "init-held",
                format!("st-init-held-{}", f.name),
                format!(
                    "locking-selftest init_held_{}: A re-initialised while held, {}",
                    f.name, f.what
                ),
            )
            .locks(&["A"], f.ty)
            .seg(Seg::nr(1).lock("A", f.mode).free("A"))
            .verdict(&Verdict::one(Kind::HeldFreed, &["A"])),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Same-class read recursion ("recursive read-lock", "mixed read-write-lock", ...).

fn recursion(out: &mut Vec<Case>) {
    use Mode::{Read as R1, ReadRecursive as R2, Write as W};
    let rec = Verdict::one(Kind::Recursive, &["X"]);
    // (variant, about, type, first (id, mode), second (id, mode, try), verdict)
    type First = (&'static str, Mode);
    type Second = (&'static str, Mode, bool);
    let table: [(&str, &str, LockType, First, Second, Verdict); 11] = [
        (
            "rlock-aa1",
            "locking-selftest rlock_AA1: recursive read_lock of one rwlock_t twice",
            LockType::RwSpin,
            ("X1", R2),
            ("X1", R2, false),
            Verdict::ok(),
        ),
        (
            "rlock-aa1b",
            "locking-selftest rlock_AA1B: recursive read_lock of two instances of class X",
            LockType::RwSpin,
            ("X1", R2),
            ("X2", R2, false),
            Verdict::ok(),
        ),
        (
            "rsem-aa1",
            "locking-selftest rsem_AA1: down_read of one rw_semaphore twice",
            LockType::Rwsem,
            ("X1", R1),
            ("X1", R1, false),
            rec.clone(),
        ),
        (
            "rsem-aa1b",
            "locking-selftest rsem_AA1B: down_read of two instances of class X",
            LockType::Rwsem,
            ("X1", R1),
            ("X2", R1, false),
            rec.clone(),
        ),
        (
            "rlock-aa2",
            "locking-selftest rlock_AA2: read_lock then write_lock of class X",
            LockType::RwSpin,
            ("X1", R2),
            ("X2", W, false),
            rec.clone(),
        ),
        (
            "rsem-aa2",
            "locking-selftest rsem_AA2: down_read then down_write of class X",
            LockType::Rwsem,
            ("X1", R1),
            ("X2", W, false),
            rec.clone(),
        ),
        (
            "rlock-aa3",
            "locking-selftest rlock_AA3: write_lock then read_lock of class X",
            LockType::RwSpin,
            ("X1", W),
            ("X2", R2, false),
            rec.clone(),
        ),
        (
            "rsem-aa3",
            "locking-selftest rsem_AA3: down_write then down_read of class X",
            LockType::Rwsem,
            ("X1", W),
            ("X2", R1, false),
            rec.clone(),
        ),
        (
            "rr-after-r",
            "lockdep recursion rule: a recursive reader after a non-recursive reader of class X",
            LockType::RwSpin,
            ("X1", R1),
            ("X2", R2, false),
            Verdict::ok(),
        ),
        (
            "r-after-rr",
            "lockdep recursion rule: a non-recursive reader after a recursive reader of class X",
            LockType::RwSpin,
            ("X1", R2),
            ("X2", R1, false),
            rec.clone(),
        ),
        (
            "trylock-mutex",
            "lockdep recursion rule: a trylock of a second instance of class X never recurses",
            LockType::Mutex,
            ("X1", W),
            ("X2", W, true),
            Verdict::ok(),
        ),
    ];
    for (variant, about, ty, (id1, m1), (id2, m2, try2), v) in table {
        let mut c = Case::new(
            "recursion",
            format!("st-recursion-{variant}"),
            about.to_owned(),
        )
        .lock(id1, "X", ty);
        if id2 != id1 {
            c = c.lock(id2, "X", ty);
        }
        let s = Seg::nr(1).lock(id1, m1);
        let s = if try2 {
            s.try_lock(id2, m2)
        } else {
            s.lock(id2, m2)
        };
        // After a `recursive` report the case ends, as the kernel's does: lockdep stops
        // validating that acquire, so nothing after it would be lockdep's verdict.
        let s = if v.expect.is_empty() {
            s.unlock(id2).unlock(id1)
        } else {
            s
        };
        out.push(c.seg(s).verdict(&v));
    }
}

// ---------------------------------------------------------------------------------------------
// Mixed read/write ABBA (rlock_ABBA1..3, rwsem_ABBA1..3, rlock_chaincache_ABBA1).

fn mixed_abba(out: &mut Vec<Case>) {
    use Mode::{Read as R1, ReadRecursive as R2, Write as W};
    let cyc = Verdict::one(Kind::Circular, &["X", "Y"]);
    // (variant, about, type of X, type of Y, segments as (first, second) lock modes)
    type Segs = &'static [((&'static str, Mode), (&'static str, Mode))];
    let table: [(&str, &str, LockType, LockType, Segs, Verdict); 7] = [
        (
            "rlock-abba1",
            "locking-selftest rlock_ABBA1: read_lock(X) then spin_lock(Y); spin_lock(Y) then \
             write_lock(X)",
            LockType::RwSpin,
            LockType::Spin,
            &[(("X", R2), ("Y", W)), (("Y", W), ("X", W))],
            cyc.clone(),
        ),
        (
            "rwsem-abba1",
            "locking-selftest rwsem_ABBA1: down_read(X) then mutex_lock(Y); mutex_lock(Y) then \
             down_write(X)",
            LockType::Rwsem,
            LockType::Mutex,
            &[(("X", R1), ("Y", W)), (("Y", W), ("X", W))],
            cyc.clone(),
        ),
        (
            "rlock-abba2",
            "locking-selftest rlock_ABBA2: read_lock(X) then spin_lock(Y); spin_lock(Y) then \
             recursive read_lock(X): X is entered by a recursive reader and left by a reader",
            LockType::RwSpin,
            LockType::Spin,
            &[(("X", R2), ("Y", W)), (("Y", W), ("X", R2))],
            Verdict::ok(),
        ),
        (
            "rwsem-abba2",
            "locking-selftest rwsem_ABBA2: down_read(X) then mutex_lock(Y); mutex_lock(Y) then \
             down_read(X), which queues behind a waiting writer",
            LockType::Rwsem,
            LockType::Mutex,
            &[(("X", R1), ("Y", W)), (("Y", W), ("X", R1))],
            cyc.clone(),
        ),
        (
            "rlock-abba3",
            "locking-selftest rlock_ABBA3: write_lock(X) then spin_lock(Y); spin_lock(Y) then \
             write_lock(X)",
            LockType::RwSpin,
            LockType::Spin,
            &[(("X", W), ("Y", W)), (("Y", W), ("X", W))],
            cyc.clone(),
        ),
        (
            "rwsem-abba3",
            "locking-selftest rwsem_ABBA3: down_write(X) then mutex_lock(Y); mutex_lock(Y) then \
             down_write(X)",
            LockType::Rwsem,
            LockType::Mutex,
            &[(("X", W), ("Y", W)), (("Y", W), ("X", W))],
            cyc.clone(),
        ),
        (
            "rlock-chaincache-abba1",
            "locking-selftest rlock_chaincache_ABBA1: after the harmless Y -> read X chain, \
             Y -> write X must still be validated (read-ness is part of the chain)",
            LockType::RwSpin,
            LockType::Spin,
            &[
                (("X", R2), ("Y", W)),
                (("Y", W), ("X", R2)),
                (("Y", W), ("X", W)),
            ],
            cyc,
        ),
    ];
    for (variant, about, tx, ty, segs, v) in table {
        let mut c = Case::new(
            "mixed-abba",
            format!("st-mixed-abba-{variant}"),
            about.to_owned(),
        )
        .lock("X", "X", tx)
        .lock("Y", "Y", ty);
        for (i, (a, b)) in segs.iter().enumerate() {
            c = c.seg(Seg::nr(i + 1).nested(&[*a, *b]));
        }
        out.push(c.verdict(&v));
    }
}

// ---------------------------------------------------------------------------------------------
// Three-lock cycles with readers (the 2020 recursive-read selftests, and the full mode matrix).

const XYZ: [&str; 3] = ["X", "Y", "Z"];

/// Segment `i` (0-based) holds `XYZ[i]` in `modes[2i]` and takes `XYZ[i+1]` in `modes[2i+1]`.
fn cycle3_segs(modes: &[Mode; 6]) -> Vec<Seg> {
    (0..3)
        .map(|i| {
            Seg::nr(i + 1).nested(&[(XYZ[i], modes[2 * i]), (XYZ[(i + 1) % 3], modes[2 * i + 1])])
        })
        .collect()
}

/// `w1rr2-w2rr3-w3rr1` style label of a 3-cycle's modes.
fn cycle3_label(modes: &[Mode; 6]) -> String {
    (0..3)
        .map(|i| {
            format!(
                "{}{}{}{}",
                modes[2 * i].tag(),
                i + 1,
                modes[2 * i + 1].tag(),
                (i + 1) % 3 + 1
            )
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Deadlock verdict of a 3-cycle by the strong-cycle rule.
fn cycle3_deadlocks(modes: &[Mode; 6]) -> bool {
    // Lock i is left in segment i (modes[2i]) and entered in segment i-1 (modes[2(i-1)+1]).
    let exits = [modes[0], modes[2], modes[4]];
    let entries = [modes[5], modes[1], modes[3]];
    strong_cycle(&entries, &exits)
}

fn cycle3_verdict(modes: &[Mode; 6]) -> Verdict {
    if cycle3_deadlocks(modes) {
        Verdict::one(Kind::Circular, &XYZ)
    } else {
        Verdict::ok()
    }
}

/// The four `W1R2_W2R3_W3R1`-style tests of the selftest (R = recursive read), each in the six
/// segment orders.
fn rlock3(out: &mut Vec<Case>) {
    use Mode::{ReadRecursive as R, Write as W};
    let table: [(&str, [Mode; 6], bool); 4] = [
        ("W1R2_W2R3_W3R1", [W, R, W, R, W, R], true),
        ("W1W2_R2R3_W3R1", [W, W, R, R, W, R], true),
        ("W1W2_R2R3_R3W1", [W, W, R, R, R, W], false),
        ("W1R2_R2R3_W3W1", [W, R, R, R, W, W], false),
    ];
    for (kernel, modes, kernel_fails) in table {
        // The kernel's expectation and the strong-cycle rule agree (checked in the tests too).
        debug_assert_eq!(cycle3_deadlocks(&modes), kernel_fails);
        let segs = cycle3_segs(&modes);
        for perm in PERMS_3 {
            out.push(
                Case::new(
                    "rlock3",
                    format!("st-rlock3-{}-{perm}", cycle3_label(&modes)),
                    format!(
                        "locking-selftest {kernel}_{perm}: three rwlock_t classes in a cycle, \
                         W = write_lock, R = recursive read_lock, segments run in order {perm}"
                    ),
                )
                .locks(&XYZ, LockType::RwSpin)
                .permuted(&segs, perm)
                .verdict(&cycle3_verdict(&modes)),
            );
        }
    }
}

/// Every mode combination of a 3-lock cycle X -> Y -> Z -> X of rwlock_t classes: each of the
/// six acquisitions is `w` (write), `r` (non-recursive read) or `rr` (recursive read).
fn rw3(out: &mut Vec<Case>) {
    const MODES: [Mode; 3] = [Mode::Write, Mode::Read, Mode::ReadRecursive];
    for n in 0..729usize {
        let mut modes = [Mode::Write; 6];
        let mut k = n;
        for m in modes.iter_mut().rev() {
            *m = MODES[k % 3];
            k /= 3;
        }
        let label = cycle3_label(&modes);
        out.push(
            Case::new(
                "rw3",
                format!("st-rw3-{label}"),
                format!("cycle X -> Y -> Z -> X, modes {label} (w write, r read, rr recursive)"),
            )
            .locks(&XYZ, LockType::RwSpin)
            .permuted(&cycle3_segs(&modes), "123")
            .verdict(&cycle3_verdict(&modes)),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// IRQ families.

/// Emits one case per (irq variant, flavour, permutation).
struct IrqFamily<'a> {
    family: &'static str,
    kernel: &'static str,
    about: &'static str,
    /// `None`: the test has no hard/soft variants (irqsafe2A).
    irqs: &'a [Option<Irq>],
    flavours: &'a [Flavour],
    perms: &'a [&'static str],
    locks: &'a dyn Fn(Flavour) -> Vec<(&'static str, LockType)>,
    segs: &'a dyn Fn(Option<Irq>, Flavour) -> Vec<Seg>,
    verdict: &'a dyn Fn(Flavour) -> Verdict,
}

impl IrqFamily<'_> {
    fn emit(&self, out: &mut Vec<Case>) {
        for irq in self.irqs {
            for f in self.flavours {
                let segs = (self.segs)(*irq, *f);
                for perm in self.perms {
                    let (name, kernel) = match irq {
                        Some(i) => (
                            format!("st-{}-{}-{}-{perm}", self.family, i.name(), f.name),
                            format!("{}_{}_{}_{perm}", self.kernel, i.name(), f.name),
                        ),
                        None => (
                            format!("st-{}-{}-{perm}", self.family, f.name),
                            format!("{}_{}_{perm}", self.kernel, f.name),
                        ),
                    };
                    let mut c = Case::new(
                        self.family,
                        name,
                        format!(
                            "locking-selftest {kernel}: {}; LOCK = {}",
                            self.about, f.what
                        ),
                    );
                    for (id, ty) in (self.locks)(*f) {
                        c = c.lock(id, id, ty);
                    }
                    out.push(c.permuted(&segs, perm).verdict(&(self.verdict)(*f)));
                }
            }
        }
    }
}

const HARD_SOFT: [Option<Irq>; 2] = [Some(Irq::Hard), Some(Irq::Soft)];

fn irq_of(irq: Option<Irq>) -> Irq {
    irq.unwrap_or(Irq::Hard)
}

/// rlock flavours pass (read/read usage is consistent); the others fail with `v`.
fn unless_rlock(f: Flavour, v: Verdict) -> Verdict {
    if f.mode == Mode::ReadRecursive {
        Verdict::ok()
    } else {
        v
    }
}

fn irqsafe1(out: &mut Vec<Case>) {
    IrqFamily {
        family: "irqsafe1",
        kernel: "irqsafe1",
        about: "segment 1 takes A in the interrupt, segment 2 takes A with it enabled",
        irqs: &HARD_SOFT,
        flavours: &THREE,
        perms: &PERMS_2,
        locks: &|f| vec![("A", f.ty)],
        segs: &|irq, f| {
            let i = irq_of(irq);
            vec![
                Seg::nr(1)
                    .irq_enter(i)
                    .lock("A", f.mode)
                    .unlock("A")
                    .irq_exit(i),
                Seg::nr(2).lock("A", f.mode).unlock("A"),
            ]
        },
        verdict: &|f| unless_rlock(f, Verdict::one(Kind::InconsistentState, &["A"])),
    }
    .emit(out);
}

fn irqsafe2a(out: &mut Vec<Case>) {
    IrqFamily {
        family: "irqsafe2a",
        kernel: "irqsafe2A",
        about: "segment 1 takes A in a softirq, segment 2 takes A with hardirqs off and \
                enables hardirqs (so softirqs too) while holding it",
        irqs: &[None],
        flavours: &THREE,
        perms: &PERMS_2,
        locks: &|f| vec![("A", f.ty)],
        segs: &|_, f| {
            vec![
                Seg::nr(1)
                    .enter(Context::Softirq)
                    .lock("A", f.mode)
                    .unlock("A")
                    .leave(Context::Softirq),
                Seg::nr(2).irq_off().lock("A", f.mode).irq_on().unlock("A"),
            ]
        },
        verdict: &|f| unless_rlock(f, Verdict::one(Kind::InconsistentState, &["A"])),
    }
    .emit(out);
}

fn irqsafe2b(out: &mut Vec<Case>) {
    IrqFamily {
        family: "irqsafe2b",
        kernel: "irqsafe2B",
        about: "segment 1 takes A in the interrupt, segment 2 takes A with the interrupt \
                disabled and enables it while holding A",
        irqs: &HARD_SOFT,
        flavours: &THREE,
        perms: &PERMS_2,
        locks: &|f| vec![("A", f.ty)],
        segs: &|irq, f| {
            let i = irq_of(irq);
            vec![
                Seg::nr(1)
                    .irq_enter(i)
                    .lock("A", f.mode)
                    .unlock("A")
                    .irq_exit(i),
                Seg::nr(2)
                    .irq_disable(i)
                    .lock("A", f.mode)
                    .irq_enable(i)
                    .unlock("A"),
            ]
        },
        verdict: &|f| unless_rlock(f, Verdict::one(Kind::InconsistentState, &["A"])),
    }
    .emit(out);
}

fn irqsafe3(out: &mut Vec<Case>) {
    IrqFamily {
        family: "irqsafe3",
        kernel: "irqsafe3",
        about: "segment 1 takes A then B with the interrupt enabled, segment 2 takes B, \
                segment 3 takes A in the interrupt; A itself is irq-safe and irq-unsafe",
        irqs: &HARD_SOFT,
        flavours: &THREE,
        perms: &PERMS_3,
        locks: &|f| vec![("A", f.ty), ("B", f.ty)],
        segs: &|irq, f| {
            let i = irq_of(irq);
            vec![
                Seg::nr(1).nested(&[("A", f.mode), ("B", f.mode)]),
                Seg::nr(2).lock("B", f.mode).unlock("B"),
                Seg::nr(3)
                    .irq_enter(i)
                    .lock("A", f.mode)
                    .unlock("A")
                    .irq_exit(i),
            ]
        },
        // Lockdep's first splat is always the single-lock conflict on A (the usage bit is
        // checked against A itself before any dependency search); our validator may also
        // report the A -> B safe -> unsafe path.
        verdict: &|f| {
            unless_rlock(
                f,
                Verdict::one(Kind::InconsistentState, &["A"]).allowing(Kind::IrqInversion),
            )
        },
    }
    .emit(out);
}

fn irqsafe4(out: &mut Vec<Case>) {
    IrqFamily {
        family: "irqsafe4",
        kernel: "irqsafe4",
        about: "segment 1 takes A then B with the interrupt disabled, segment 2 takes B with \
                it enabled, segment 3 takes A in the interrupt: A irq-safe -> B irq-unsafe",
        irqs: &HARD_SOFT,
        flavours: &THREE,
        perms: &PERMS_3,
        locks: &|f| vec![("A", f.ty), ("B", f.ty)],
        segs: &|irq, f| {
            let i = irq_of(irq);
            vec![
                Seg::nr(1)
                    .irq_disable(i)
                    .nested(&[("A", f.mode), ("B", f.mode)])
                    .irq_enable(i),
                Seg::nr(2).lock("B", f.mode).unlock("B"),
                Seg::nr(3)
                    .irq_enter(i)
                    .lock("A", f.mode)
                    .unlock("A")
                    .irq_exit(i),
            ]
        },
        verdict: &|f| unless_rlock(f, Verdict::one(Kind::IrqInversion, &["A", "B"])),
    }
    .emit(out);
}

fn irq_inversion(out: &mut Vec<Case>) {
    IrqFamily {
        family: "irq-inversion",
        kernel: "irq_inversion",
        about: "segment 1 write-locks rwlock A then takes B with the interrupt disabled, \
                segment 2 takes B with it enabled, segment 3 read-locks A in the interrupt",
        irqs: &HARD_SOFT,
        flavours: &THREE,
        perms: &PERMS_3,
        locks: &|f| vec![("A", LockType::RwSpin), ("B", f.ty)],
        segs: &|irq, f| {
            let i = irq_of(irq);
            vec![
                Seg::nr(1)
                    .irq_disable(i)
                    .nested(&[("A", Mode::Write), ("B", f.mode)])
                    .irq_enable(i),
                Seg::nr(2).lock("B", f.mode).unlock("B"),
                Seg::nr(3)
                    .irq_enter(i)
                    .lock("A", Mode::ReadRecursive)
                    .unlock("A")
                    .irq_exit(i),
            ]
        },
        // With B read-locked recursively, the path enters B as a recursive reader: only a
        // write-mode irq-unsafe use of B would count, and there is none.
        verdict: &|f| unless_rlock(f, Verdict::one(Kind::IrqInversion, &["A", "B"])),
    }
    .emit(out);
}

fn irq_read_recursion(out: &mut Vec<Case>) {
    IrqFamily {
        family: "irq-read-recursion",
        kernel: "irq_read_recursion",
        about: "segment 1 write-locks rwlock A with the interrupt disabled, segment 2 \
                read-locks A with it enabled, segment 3 takes A (LOCK) then spinlock B in \
                the interrupt",
        irqs: &HARD_SOFT,
        flavours: &TWO_RW,
        perms: &PERMS_3,
        locks: &|_| vec![("A", LockType::RwSpin), ("B", LockType::Spin)],
        segs: &|irq, f| {
            let i = irq_of(irq);
            vec![
                Seg::nr(1).irq_disable(i).w("A").unlock("A").irq_enable(i),
                Seg::nr(2).lock("A", Mode::ReadRecursive).unlock("A"),
                Seg::nr(3)
                    .irq_enter(i)
                    .nested(&[("A", f.mode), ("B", Mode::Write)])
                    .irq_exit(i),
            ]
        },
        verdict: &|f| unless_rlock(f, Verdict::one(Kind::InconsistentState, &["A"])),
    }
    .emit(out);
}

fn irq_read_recursion2(out: &mut Vec<Case>) {
    IrqFamily {
        family: "irq-read-recursion2",
        kernel: "irq_read_recursion2",
        about: "segment 1 takes spinlock B then rwlock A (LOCK) with the interrupt disabled, \
                segment 2 read-locks A with it enabled, segment 3 takes B in the interrupt",
        irqs: &HARD_SOFT,
        flavours: &TWO_RW,
        perms: &PERMS_3,
        locks: &|_| vec![("A", LockType::RwSpin), ("B", LockType::Spin)],
        segs: &|irq, f| {
            let i = irq_of(irq);
            vec![
                Seg::nr(1)
                    .irq_disable(i)
                    .nested(&[("B", Mode::Write), ("A", f.mode)])
                    .irq_enable(i),
                Seg::nr(2).lock("A", Mode::ReadRecursive).unlock("A"),
                Seg::nr(3).irq_enter(i).w("B").unlock("B").irq_exit(i),
            ]
        },
        verdict: &|f| unless_rlock(f, Verdict::one(Kind::IrqInversion, &["A", "B"])),
    }
    .emit(out);
}

fn irq_read_recursion3(out: &mut Vec<Case>) {
    IrqFamily {
        family: "irq-read-recursion3",
        kernel: "irq_read_recursion3",
        about: "segment 1 write-locks rwlock B then takes rwlock A (LOCK) with the interrupt \
                disabled, segment 2 read-locks A with it enabled, segment 3 read-locks B in \
                the interrupt",
        irqs: &HARD_SOFT,
        flavours: &TWO_RW,
        perms: &PERMS_3,
        locks: &|_| vec![("A", LockType::RwSpin), ("B", LockType::RwSpin)],
        segs: &|irq, f| {
            let i = irq_of(irq);
            vec![
                Seg::nr(1)
                    .irq_disable(i)
                    .nested(&[("B", Mode::Write), ("A", f.mode)])
                    .irq_enable(i),
                Seg::nr(2).lock("A", Mode::ReadRecursive).unlock("A"),
                Seg::nr(3)
                    .irq_enter(i)
                    .lock("B", Mode::ReadRecursive)
                    .unlock("B")
                    .irq_exit(i),
            ]
        },
        verdict: &|f| unless_rlock(f, Verdict::one(Kind::IrqInversion, &["A", "B"])),
    }
    .emit(out);
}

// ---------------------------------------------------------------------------------------------
// Queued read-lock tests (force_read_lock_recursive off: read_lock is a non-recursive reader in
// process context and a recursive one in interrupt context).

fn queued(out: &mut Vec<Case>) {
    use Mode::{Read as R1, ReadRecursive as R2, Write as W};
    let hard = Context::Hardirq;
    let table: [(&str, &str, Vec<Seg>, Verdict); 3] = [
        (
            "hardirq-re-er",
            "locking-selftest queued_read_lock_hardirq_RE_Er: read_lock(A) then B in hardirq; \
             B then a queued read_lock(A) with hardirqs off",
            vec![
                Seg::nr(1)
                    .enter(hard)
                    .nested(&[("A", R2), ("B", W)])
                    .leave(hard),
                Seg::nr(2).irq_off().nested(&[("B", W), ("A", R1)]).irq_on(),
            ],
            Verdict::one(Kind::Circular, &["A", "B"]),
        ),
        (
            "hardirq-er-re",
            "locking-selftest queued_read_lock_hardirq_ER_rE: B then read_lock(A) in hardirq; \
             a queued read_lock(A) then B with hardirqs off",
            vec![
                Seg::nr(1)
                    .enter(hard)
                    .nested(&[("B", W), ("A", R2)])
                    .leave(hard),
                Seg::nr(2).irq_off().nested(&[("A", R1), ("B", W)]).irq_on(),
            ],
            Verdict::ok(),
        ),
        (
            "hardirq-inversion",
            "locking-selftest queued_read_lock_hardirq_inversion: B in hardirq; B then a queued \
             read_lock(A) with hardirqs off; a queued read_lock(A) with hardirqs on",
            vec![
                Seg::nr(1).enter(hard).w("B").unlock("B").leave(hard),
                Seg::nr(2).irq_off().nested(&[("B", W), ("A", R1)]).irq_on(),
                Seg::nr(3).lock("A", R1).unlock("A"),
            ],
            Verdict::one(Kind::IrqInversion, &["A", "B"]),
        ),
    ];
    for (variant, about, segs, v) in table {
        let mut c = Case::new("queued", format!("st-queued-{variant}"), about.to_owned())
            .lock("A", "A", LockType::RwSpin)
            .lock("B", "B", LockType::Spin);
        for s in segs {
            c = c.seg(s);
        }
        out.push(c.verdict(&v));
    }
}

// ---------------------------------------------------------------------------------------------
// hardirq_deadlock_softirq_not_deadlock.

fn hardirq_unsafe_softirq_safe(out: &mut Vec<Case>) {
    let w = Mode::Write;
    out.push(
        Case::new(
            "hardirq-unsafe-softirq-safe",
            "st-hardirq-unsafe-softirq-safe".to_owned(),
            "locking-selftest hardirq_deadlock_softirq_not_deadlock: M -> C -> D is \
             softirq-unsafe -> softirq-safe (fine), A -> B -> C -> D is hardirq-safe -> \
             hardirq-unsafe (reported when C -> D appears)"
                .to_owned(),
        )
        .locks(&["M"], LockType::Mutex)
        .locks(&["A", "B", "C", "D"], LockType::Spin)
        .seg(
            Seg::nr(1)
                .w("M")
                .irq_off()
                .w("C")
                .unlock("C")
                .irq_on()
                .unlock("M"),
        )
        .seg(
            Seg::nr(2)
                .enter(Context::Hardirq)
                .w("A")
                .unlock("A")
                .leave(Context::Hardirq),
        )
        .seg(Seg::nr(3).irq_off().nested(&[("A", w), ("B", w)]).irq_on())
        .seg(Seg::nr(4).irq_off().nested(&[("B", w), ("C", w)]).irq_on())
        .seg(
            Seg::nr(5)
                .enter(Context::Softirq)
                .w("D")
                .unlock("D")
                .leave(Context::Softirq),
        )
        .seg(Seg::nr(6).bh_off().w("D").unlock("D").bh_on())
        .seg(Seg::nr(7).irq_off().nested(&[("C", w), ("D", w)]).irq_on())
        .verdict(&Verdict::one(Kind::IrqInversion, &["A", "D"])),
    );
}

// ---------------------------------------------------------------------------------------------
// Wait contexts the format can express (lockdep's "Invalid wait context" and might_sleep).

fn wait_ctx(out: &mut Vec<Case>) {
    let w = Mode::Write;
    let bad_m = Verdict::one(Kind::InvalidContext, &["M"]);
    let in_ctx = |ctx: Context, lock: &str, mode: Mode| {
        Seg::nr(1)
            .enter(ctx)
            .lock(lock, mode)
            .unlock(lock)
            .leave(ctx)
    };
    let under = |outer: &str, om: Mode, inner: &str, im: Mode| {
        Seg::nr(1).nested(&[(outer, om), (inner, im)])
    };
    // (variant, about, locks, segment, verdict)
    type Locks = Vec<(&'static str, LockType)>;
    let mut table: Vec<(&str, &str, Locks, Seg, Verdict)> = vec![
        (
            "mutex-in-hardirq",
            "a mutex taken in hardirq context",
            vec![("M", LockType::Mutex)],
            in_ctx(Context::Hardirq, "M", w),
            bad_m.clone(),
        ),
        (
            "mutex-in-softirq",
            "a mutex taken in softirq context",
            vec![("M", LockType::Mutex)],
            in_ctx(Context::Softirq, "M", w),
            bad_m.clone(),
        ),
        (
            "mutex-in-atomic",
            "a mutex taken in an atomic section",
            vec![("M", LockType::Mutex)],
            in_ctx(Context::Atomic, "M", w),
            bad_m.clone(),
        ),
        (
            "rwsem-read-in-hardirq",
            "down_read of an rw_semaphore in hardirq context",
            vec![("M", LockType::Rwsem)],
            in_ctx(Context::Hardirq, "M", Mode::Read),
            bad_m.clone(),
        ),
        (
            "spin-in-hardirq",
            "a spinlock taken in (threaded) hardirq context",
            vec![("S", LockType::Spin)],
            in_ctx(Context::Hardirq, "S", w),
            Verdict::ok(),
        ),
        (
            "spin-in-softirq",
            "a spinlock taken in softirq context",
            vec![("S", LockType::Spin)],
            in_ctx(Context::Softirq, "S", w),
            Verdict::ok(),
        ),
        (
            "spin-in-atomic",
            "a spinlock taken in an atomic section",
            vec![("S", LockType::Spin)],
            in_ctx(Context::Atomic, "S", w),
            Verdict::ok(),
        ),
        (
            "rlock-in-hardirq",
            "read_lock of an rwlock_t in hardirq context",
            vec![("S", LockType::RwSpin)],
            in_ctx(Context::Hardirq, "S", Mode::ReadRecursive),
            Verdict::ok(),
        ),
        (
            "mutex-in-spin",
            "a mutex taken while a spinlock is held",
            vec![("S", LockType::Spin), ("M", LockType::Mutex)],
            under("S", w, "M", w),
            bad_m.clone(),
        ),
        (
            "mutex-in-rlock",
            "a mutex taken while an rwlock_t is read-held",
            vec![("S", LockType::RwSpin), ("M", LockType::Mutex)],
            under("S", Mode::ReadRecursive, "M", w),
            bad_m.clone(),
        ),
        (
            "rsem-in-spin",
            "down_read of an rw_semaphore while a spinlock is held",
            vec![("S", LockType::Spin), ("M", LockType::Rwsem)],
            under("S", w, "M", Mode::Read),
            bad_m.clone(),
        ),
        (
            "spin-in-spin",
            "a spinlock taken while another spinlock is held",
            vec![("S", LockType::Spin), ("T", LockType::Spin)],
            under("S", w, "T", w),
            Verdict::ok(),
        ),
        (
            "spin-in-mutex",
            "a spinlock taken while a mutex is held",
            vec![("M", LockType::Mutex), ("S", LockType::Spin)],
            under("M", w, "S", w),
            Verdict::ok(),
        ),
        (
            "mutex-in-mutex",
            "a mutex taken while another mutex is held",
            vec![("M", LockType::Mutex), ("N", LockType::Mutex)],
            under("M", w, "N", w),
            Verdict::ok(),
        ),
        (
            "wsem-in-mutex",
            "down_write of an rw_semaphore while a mutex is held",
            vec![("M", LockType::Mutex), ("N", LockType::Rwsem)],
            under("M", w, "N", w),
            Verdict::ok(),
        ),
        (
            "trylock-mutex-in-spin",
            "a successful mutex_trylock while a spinlock is held never sleeps",
            vec![("S", LockType::Spin), ("M", LockType::Mutex)],
            Seg::nr(1).w("S").try_lock("M", w).unlock("M").unlock("S"),
            Verdict::ok(),
        ),
        (
            "trylock-mutex-in-atomic",
            "a successful mutex_trylock in an atomic section never sleeps",
            vec![("M", LockType::Mutex)],
            Seg::nr(1)
                .enter(Context::Atomic)
                .try_lock("M", w)
                .unlock("M")
                .leave(Context::Atomic),
            Verdict::ok(),
        ),
    ];
    let sleep_in =
        |ctx: Context, site: Option<&str>| Seg::nr(1).enter(ctx).might_sleep(site).leave(ctx);
    table.extend([
        (
            "might-sleep-in-atomic",
            "might_sleep (no site) in an atomic section: the report's class is \"might_sleep\"",
            vec![],
            sleep_in(Context::Atomic, None),
            Verdict::one(Kind::InvalidContext, &["might_sleep"]),
        ),
        (
            "might-sleep-in-hardirq",
            "might_sleep in hardirq context: the report's class is the site",
            vec![],
            sleep_in(Context::Hardirq, Some("src/irq.rs:10:5")),
            Verdict::one(Kind::InvalidContext, &["src/irq.rs:10:5"]),
        ),
        (
            "might-sleep-in-softirq",
            "might_sleep (no site) in softirq context",
            vec![],
            sleep_in(Context::Softirq, None),
            Verdict::one(Kind::InvalidContext, &["might_sleep"]),
        ),
        (
            "might-sleep-in-spin",
            "might_sleep while a spinlock is held: the report's class is the site",
            vec![("S", LockType::Spin)],
            Seg::nr(1)
                .w("S")
                .might_sleep(Some("src/db.rs:41:17"))
                .unlock("S"),
            Verdict::one(Kind::InvalidContext, &["src/db.rs:41:17"]),
        ),
        (
            "might-sleep-in-mutex",
            "might_sleep while a mutex is held is fine",
            vec![("M", LockType::Mutex)],
            Seg::nr(1).w("M").might_sleep(None).unlock("M"),
            Verdict::ok(),
        ),
        (
            "might-sleep-ok",
            "might_sleep in plain process context is fine",
            vec![],
            Seg::nr(1).might_sleep(Some("src/main.rs:3:9")),
            Verdict::ok(),
        ),
    ]);
    for (variant, about, locks, seg, v) in table {
        let mut c = Case::new(
            "wait-ctx",
            format!("st-wait-ctx-{variant}"),
            format!("wait context: {about}"),
        );
        for (id, ty) in locks {
            c = c.lock(id, id, ty);
        }
        out.push(c.seg(seg).verdict(&v));
    }
}

// ---------------------------------------------------------------------------------------------
// nest_lock.

fn nest_lock(out: &mut Vec<Case>) {
    let w = Mode::Write;
    let x = |c: Case, ids: &[&str], ty: LockType| ids.iter().fold(c, |c, id| c.lock(id, "X", ty));
    let ok = Case::new(
        "nest-lock",
        "st-nest-lock-ok".to_owned(),
        "N, then three instances of class X each taken with nest_lock N".to_owned(),
    )
    .locks(&["N"], LockType::Mutex);
    out.push(
        x(ok, &["X1", "X2", "X3"], LockType::Mutex).seg(
            Seg::nr(1)
                .w("N")
                .nest("X1", w, "N")
                .nest("X2", w, "N")
                .nest("X3", w, "N")
                .unlock("X3")
                .unlock("X2")
                .unlock("X1")
                .unlock("N"),
        ),
    );
    let before = Case::new(
        "nest-lock",
        "st-nest-lock-taken-before-nest".to_owned(),
        "X1 taken before N: X2 under nest_lock N still recurses on X1".to_owned(),
    )
    .locks(&["N"], LockType::Mutex);
    out.push(
        x(before, &["X1", "X2"], LockType::Mutex)
            .seg(Seg::nr(1).w("X1").w("N").nest("X2", w, "N"))
            .expect(Kind::Recursive, &["X"]),
    );
    let missing = Case::new(
        "nest-lock",
        "st-nest-lock-missing".to_owned(),
        "N, then two instances of class X without nest_lock".to_owned(),
    )
    .locks(&["N"], LockType::Mutex);
    out.push(
        x(missing, &["X1", "X2"], LockType::Mutex)
            .seg(Seg::nr(1).w("N").w("X1").w("X2"))
            .expect(Kind::Recursive, &["X"]),
    );
    let interleaved = Case::new(
        "nest-lock",
        "st-nest-lock-spin-interleaved".to_owned(),
        "locking-selftest ww_test_spin_nest_lock: spinlock N, X1 under nest_lock N, spinlock A, \
         X2 under nest_lock N"
            .to_owned(),
    )
    .locks(&["N", "A"], LockType::Spin);
    out.push(
        x(interleaved, &["X1", "X2"], LockType::Spin).seg(
            Seg::nr(1)
                .w("N")
                .nest("X1", w, "N")
                .w("A")
                .nest("X2", w, "N")
                .unlock("A")
                .unlock("X2")
                .unlock("X1")
                .unlock("N"),
        ),
    );
}

// ---------------------------------------------------------------------------------------------
// Rendering.

fn q(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// The JSON Lines text of a case: header, `new` lines, then the operations.
pub fn render(case: &Case) -> String {
    let mut s = String::new();
    s.push_str("{\"lockdep_trace\":1,\"name\":");
    s.push_str(&q(&case.name));
    s.push_str(",\"about\":");
    s.push_str(&q(&case.about));
    s.push_str(",\"expect\":[");
    for (i, e) in case.expect.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"kind\":");
        s.push_str(&q(e.kind.as_str()));
        s.push_str(",\"classes\":[");
        let classes: Vec<String> = e.classes.iter().map(|c| q(c)).collect();
        s.push_str(&classes.join(","));
        s.push_str("]}");
    }
    s.push(']');
    if !case.allow.is_empty() {
        let kinds: Vec<String> = case.allow.iter().map(|k| q(k.as_str())).collect();
        s.push_str(",\"allow\":[");
        s.push_str(&kinds.join(","));
        s.push(']');
    }
    s.push_str("}\n");
    for l in &case.locks {
        s.push_str("{\"op\":\"new\",\"id\":");
        s.push_str(&q(&l.id));
        s.push_str(",\"type\":");
        s.push_str(&q(l.ty.type_name()));
        s.push_str(",\"class\":");
        s.push_str(&q(&l.class));
        if l.ty == LockType::RwSpin {
            s.push_str(",\"spin\":true");
        }
        s.push_str("}\n");
    }
    for op in &case.ops {
        render_op(&mut s, op);
    }
    s
}

fn render_op(s: &mut String, op: &Op) {
    let (name, thread) = match op {
        Op::Acquire { .. } => ("acquire", op.thread()),
        Op::Release { .. } => ("release", op.thread()),
        Op::Free { .. } => ("free", op.thread()),
        Op::Enter { .. } => ("enter", op.thread()),
        Op::Leave { .. } => ("leave", op.thread()),
        Op::IrqDisable { .. } => ("irq_disable", op.thread()),
        Op::IrqEnable { .. } => ("irq_enable", op.thread()),
        Op::SoftirqDisable { .. } => ("softirq_disable", op.thread()),
        Op::SoftirqEnable { .. } => ("softirq_enable", op.thread()),
        Op::MightSleep { .. } => ("might_sleep", op.thread()),
    };
    s.push_str("{\"op\":");
    s.push_str(&q(name));
    s.push_str(",\"thread\":");
    s.push_str(&q(thread));
    match op {
        Op::Acquire {
            lock,
            mode,
            try_,
            nest_lock,
            ..
        } => {
            s.push_str(",\"lock\":");
            s.push_str(&q(lock));
            s.push_str(",\"mode\":");
            s.push_str(&q(mode.as_str()));
            if *try_ {
                s.push_str(",\"try\":true");
            }
            if let Some(n) = nest_lock {
                s.push_str(",\"nest_lock\":");
                s.push_str(&q(n));
            }
        }
        Op::Release { lock, .. } => {
            s.push_str(",\"lock\":");
            s.push_str(&q(lock));
        }
        Op::Free { object, .. } => {
            s.push_str(",\"object\":");
            s.push_str(&q(object));
        }
        Op::Enter { context, .. } | Op::Leave { context, .. } => {
            s.push_str(",\"context\":");
            s.push_str(&q(context.as_str()));
        }
        Op::MightSleep { site, .. } => {
            if let Some(site) = site {
                s.push_str(",\"site\":");
                s.push_str(&q(site));
            }
        }
        Op::IrqDisable { .. }
        | Op::IrqEnable { .. }
        | Op::SoftirqDisable { .. }
        | Op::SoftirqEnable { .. } => {}
    }
    s.push_str("}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_rlock3_expectations_match_the_strong_cycle_rule() {
        use Mode::{ReadRecursive as R, Write as W};
        assert!(cycle3_deadlocks(&[W, R, W, R, W, R]));
        assert!(cycle3_deadlocks(&[W, W, R, R, W, R]));
        assert!(!cycle3_deadlocks(&[W, W, R, R, R, W]));
        assert!(!cycle3_deadlocks(&[W, R, R, R, W, W]));
    }

    #[test]
    fn rw3_matrix_counts() {
        let all = cases();
        let rw3: Vec<&Case> = all.iter().filter(|c| c.family == "rw3").collect();
        assert_eq!(rw3.len(), 729);
        let deadlocks = rw3.iter().filter(|c| !c.expect.is_empty()).count();
        // Per lock, 9 (entry, exit) mode pairs of which 2 (rr entry, r or rr exit) break the
        // cycle: 7^3 of 9^3 combinations deadlock.
        assert_eq!(deadlocks, 343);
    }

    #[test]
    fn header_layout() {
        let c = cases()
            .into_iter()
            .find(|c| c.name == "st-abba-mutex")
            .unwrap();
        let text = render(&c);
        let first = text.lines().next().unwrap();
        assert!(first.starts_with("{\"lockdep_trace\":1,\"name\":\"st-abba-mutex\",\"about\":"));
        assert!(
            first.ends_with(",\"expect\":[{\"kind\":\"circular\",\"classes\":[\"A\",\"B\"]}]}")
        );
    }
}
