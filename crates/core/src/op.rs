//! The engine's input vocabulary: one [`Event`] per synchronization step.
//!
//! Identifiers are dense `u32` indexes chosen by the caller (the trace reader interns the
//! trace's strings and numbers; the runtime hands out its own). The engine never sees a string
//! id, which keeps the hot path to array indexing.

/// A thread, as numbered by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadId(pub u32);

/// An object (lock, completion, work item, ...), as numbered by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjId(pub u32);

/// An interned string (class name, thread name), see [`crate::Engine::intern`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NameId(pub u32);

/// An interned source site such as `src/db.rs:41:17`; `SiteId::NONE` when unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SiteId(pub u32);

impl SiteId {
    /// No site known.
    pub const NONE: SiteId = SiteId(0);
}

/// An interned call stack (innermost first); `StackId::NONE` when unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StackId(pub u32);

impl StackId {
    /// No stack known.
    pub const NONE: StackId = StackId(0);
}

/// How a lock is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// Exclusive.
    Write,
    /// Shared, queues behind a waiting writer (rwsem `down_read`).
    Read,
    /// Shared, never queues behind writers while another reader holds it.
    ReadRecursive,
}

impl Mode {
    /// True for both read modes.
    pub fn is_shared(self) -> bool {
        self != Mode::Write
    }
    /// The trace format's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Write => "write",
            Mode::Read => "read",
            Mode::ReadRecursive => "read_recursive",
        }
    }
}

/// The type of a declared object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjKind {
    /// Sleeping exclusive lock.
    Mutex,
    /// Reader/writer lock (sleeping unless `spin`).
    RwLock,
    /// Spinning exclusive lock.
    SpinLock,
    /// Annotation-only lock map (lockdep's `lock_map_acquire`).
    Pseudo,
    /// Completion.
    Completion,
    /// Wait queue.
    WaitQueue,
    /// Condition variable.
    Condvar,
    /// In-flight counter.
    Counter,
    /// Channel.
    Channel,
    /// Work queue.
    WorkQueue,
    /// Work item.
    Work,
    /// Deferred item (task_work-like).
    Deferred,
}

impl ObjKind {
    /// True for the kinds that `acquire`/`release` accept.
    pub fn is_lock(self) -> bool {
        matches!(
            self,
            ObjKind::Mutex | ObjKind::RwLock | ObjKind::SpinLock | ObjKind::Pseudo
        )
    }
    /// The trace format's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjKind::Mutex => "mutex",
            ObjKind::RwLock => "rwlock",
            ObjKind::SpinLock => "spinlock",
            ObjKind::Pseudo => "pseudo",
            ObjKind::Completion => "completion",
            ObjKind::WaitQueue => "waitqueue",
            ObjKind::Condvar => "condvar",
            ObjKind::Counter => "counter",
            ObjKind::Channel => "channel",
            ObjKind::WorkQueue => "workqueue",
            ObjKind::Work => "work",
            ObjKind::Deferred => "deferred",
        }
    }
}

/// Declaration of an object (`new`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjDecl {
    /// What the object is.
    pub kind: ObjKind,
    /// Class name.
    pub class: NameId,
    /// Default subclass (0..=7).
    pub subclass: u8,
    /// Holding it makes the thread atomic; `None` = the kind's default (true for spinlocks).
    pub spin: Option<bool>,
    /// rwlock: readers queue behind waiting writers (default true).
    pub fair: bool,
    /// Channel size (0 = rendezvous) or workqueue `max_active`; `None` = unbounded.
    pub capacity: Option<u32>,
    /// Workqueue: forward progress is guaranteed.
    pub rescuer: bool,
}

impl ObjDecl {
    /// A declaration with the format's defaults.
    pub fn new(kind: ObjKind, class: NameId) -> Self {
        ObjDecl {
            kind,
            class,
            subclass: 0,
            spin: None,
            fair: true,
            capacity: None,
            rescuer: false,
        }
    }
}

/// Execution contexts of `enter`/`leave`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Context {
    /// Hard interrupt: runs on top of the thread, both irq kinds disabled.
    Hardirq,
    /// Soft interrupt: runs on top of the thread, softirqs disabled.
    Softirq,
    /// Must not block.
    Atomic,
    /// A service-loop iteration or handler (event windows restart here).
    Boundary,
}

impl Context {
    /// The trace format's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Hardirq => "hardirq",
            Context::Softirq => "softirq",
            Context::Atomic => "atomic",
            Context::Boundary => "boundary",
        }
    }
}

/// Kind of a deferred-list flush point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushKind {
    /// Return to the top of the loop / user space: no lock may be held.
    Base,
    /// The list runs because the thread is about to block.
    Blocking,
    /// The list is handed to another thread.
    Transfer(ThreadId),
}

/// An event a deferred item will produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Produce {
    /// Signals a completion / waitqueue.
    Signal(ObjId),
    /// Decrements a counter.
    Dec(ObjId),
}

/// One synchronization step. Field meanings are those of the trace format
/// (`shared/spec/trace-format.md`), field for field.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Op {
    /// Declares (or re-declares after `free`) an object.
    New { obj: ObjId, decl: ObjDecl },
    /// Gives a thread a class (default: its own id) and a display name.
    ThreadClass { thread: ThreadId, class: NameId },
    /// The object is destroyed or re-initialised.
    Free { thread: ThreadId, obj: ObjId },
    /// `thread` starts `child`.
    Spawn { thread: ThreadId, child: ThreadId },
    /// The thread ends.
    Exit { thread: ThreadId },
    /// `thread` waits for `child` to end.
    Join { thread: ThreadId, child: ThreadId },
    /// Takes a lock.
    Acquire {
        thread: ThreadId,
        lock: ObjId,
        mode: Mode,
        /// A successful try-acquire.
        try_: bool,
        /// Nesting annotation; `None` = the object's declared subclass.
        subclass: Option<u8>,
        /// Outer lock serialising all takers of this class.
        nest_lock: Option<ObjId>,
        /// `false`: bookkeeping only, no dependency or recursion checks.
        check: bool,
    },
    /// Releases the thread's most recent hold of `lock`.
    Release { thread: ThreadId, lock: ObjId },
    /// Records the dependencies of acquiring and releasing `lock` without doing it.
    MightAcquire {
        thread: ThreadId,
        lock: ObjId,
        mode: Mode,
    },
    /// Enters an execution context.
    Enter { thread: ThreadId, ctx: Context },
    /// Leaves an execution context.
    Leave { thread: ThreadId, ctx: Context },
    /// Hard interrupts off.
    IrqDisable { thread: ThreadId },
    /// Hard interrupts on.
    IrqEnable { thread: ThreadId },
    /// Soft interrupts off (nests).
    SoftirqDisable { thread: ThreadId },
    /// Soft interrupts on (nests).
    SoftirqEnable { thread: ThreadId },
    /// The thread is in code that may block.
    MightSleep { thread: ThreadId },
    /// Completion / waitqueue wait.
    Wait {
        thread: ThreadId,
        event: ObjId,
        parked: bool,
        timeout: bool,
    },
    /// Completion / waitqueue signal.
    Signal {
        thread: ThreadId,
        event: ObjId,
        all: bool,
    },
    /// Condvar wait releasing `mutex`.
    CondWait {
        thread: ThreadId,
        condvar: ObjId,
        mutex: ObjId,
        parked: bool,
        timeout: bool,
    },
    /// Condvar notify.
    Notify {
        thread: ThreadId,
        condvar: ObjId,
        all: bool,
    },
    /// Counter increment.
    Inc { thread: ThreadId, counter: ObjId },
    /// Counter decrement (signals `zero`).
    Dec { thread: ThreadId, counter: ObjId },
    /// Wait for a counter to reach zero.
    WaitZero {
        thread: ThreadId,
        counter: ObjId,
        parked: bool,
        timeout: bool,
    },
    /// Channel send (`parked`: the channel was full).
    Send {
        thread: ThreadId,
        channel: ObjId,
        parked: bool,
        timeout: bool,
    },
    /// Channel receive.
    Recv {
        thread: ThreadId,
        channel: ObjId,
        parked: bool,
        timeout: bool,
    },
    /// Channel close.
    Close { thread: ThreadId, channel: ObjId },
    /// Hands a work item to a queue.
    Queue {
        thread: ThreadId,
        work: ObjId,
        queue: ObjId,
    },
    /// Starts running a work or deferred item.
    RunBegin { thread: ThreadId, work: ObjId },
    /// Ends running a work or deferred item.
    RunEnd { thread: ThreadId, work: ObjId },
    /// Waits until a work item has run.
    Flush { thread: ThreadId, work: ObjId },
    /// Waits until everything queued on a queue has run.
    FlushQueue { thread: ThreadId, queue: ObjId },
    /// Puts an item on the thread's own deferred list.
    Defer {
        thread: ThreadId,
        item: ObjId,
        produces: Box<[Produce]>,
    },
    /// Runs (or hands off) the thread's deferred list.
    FlushPoint { thread: ThreadId, kind: FlushKind },
    /// The thread is on the path to signalling `event`.
    ObligationBegin { thread: ThreadId, event: ObjId },
    /// End of an `ObligationBegin`.
    ObligationEnd { thread: ThreadId, event: ObjId },
}

impl Op {
    /// The thread that performs the op (`None` for declarations).
    pub fn thread(&self) -> Option<ThreadId> {
        match *self {
            Op::New { .. } => None,
            Op::ThreadClass { thread, .. }
            | Op::Free { thread, .. }
            | Op::Spawn { thread, .. }
            | Op::Exit { thread }
            | Op::Join { thread, .. }
            | Op::Acquire { thread, .. }
            | Op::Release { thread, .. }
            | Op::MightAcquire { thread, .. }
            | Op::Enter { thread, .. }
            | Op::Leave { thread, .. }
            | Op::IrqDisable { thread }
            | Op::IrqEnable { thread }
            | Op::SoftirqDisable { thread }
            | Op::SoftirqEnable { thread }
            | Op::MightSleep { thread }
            | Op::Wait { thread, .. }
            | Op::Signal { thread, .. }
            | Op::CondWait { thread, .. }
            | Op::Notify { thread, .. }
            | Op::Inc { thread, .. }
            | Op::Dec { thread, .. }
            | Op::WaitZero { thread, .. }
            | Op::Send { thread, .. }
            | Op::Recv { thread, .. }
            | Op::Close { thread, .. }
            | Op::Queue { thread, .. }
            | Op::RunBegin { thread, .. }
            | Op::RunEnd { thread, .. }
            | Op::Flush { thread, .. }
            | Op::FlushQueue { thread, .. }
            | Op::Defer { thread, .. }
            | Op::FlushPoint { thread, .. }
            | Op::ObligationBegin { thread, .. }
            | Op::ObligationEnd { thread, .. } => Some(thread),
        }
    }

    /// The trace format's name of the op.
    pub fn name(&self) -> &'static str {
        match self {
            Op::New { .. } | Op::ThreadClass { .. } => "new",
            Op::Free { .. } => "free",
            Op::Spawn { .. } => "spawn",
            Op::Exit { .. } => "exit",
            Op::Join { .. } => "join",
            Op::Acquire { .. } => "acquire",
            Op::Release { .. } => "release",
            Op::MightAcquire { .. } => "might_acquire",
            Op::Enter { .. } => "enter",
            Op::Leave { .. } => "leave",
            Op::IrqDisable { .. } => "irq_disable",
            Op::IrqEnable { .. } => "irq_enable",
            Op::SoftirqDisable { .. } => "softirq_disable",
            Op::SoftirqEnable { .. } => "softirq_enable",
            Op::MightSleep { .. } => "might_sleep",
            Op::Wait { .. } => "wait",
            Op::Signal { .. } => "signal",
            Op::CondWait { .. } => "cond_wait",
            Op::Notify { .. } => "notify",
            Op::Inc { .. } => "inc",
            Op::Dec { .. } => "dec",
            Op::WaitZero { .. } => "wait_zero",
            Op::Send { .. } => "send",
            Op::Recv { .. } => "recv",
            Op::Close { .. } => "close",
            Op::Queue { .. } => "queue",
            Op::RunBegin { .. } => "run_begin",
            Op::RunEnd { .. } => "run_end",
            Op::Flush { .. } => "flush",
            Op::FlushQueue { .. } => "flush_queue",
            Op::Defer { .. } => "defer",
            Op::FlushPoint { .. } => "flush_point",
            Op::ObligationBegin { .. } => "obligation_begin",
            Op::ObligationEnd { .. } => "obligation_end",
        }
    }
}

/// An op with where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub op: Op,
    /// Source site, if known.
    pub site: SiteId,
    /// Call stack, if known.
    pub stack: StackId,
}

impl Event {
    /// An event without site or stack.
    pub fn new(op: Op) -> Self {
        Event {
            op,
            site: SiteId::NONE,
            stack: StackId::NONE,
        }
    }
}

impl From<Op> for Event {
    fn from(op: Op) -> Self {
        Event::new(op)
    }
}
