//! The one process-global validator: an engine behind an uninstrumented lock, object and
//! thread ids, and where reports go.

use std::cell::{Cell, RefCell};
use std::panic::Location;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use lockdep_core::{
    Engine, Event, Mode, NameId, ObjDecl, ObjId, ObjKind, Op, Report, SiteId, ThreadId,
};
use parking_lot::Mutex as PlMutex;

use crate::fast;
use crate::proto::deliver;
use crate::stack::{self, Stack};

/// Backtraces kept for new dependencies (a few hundred bytes each); later ones go without,
/// as lockdep's own stack-trace pool runs out.
const MAX_STACKS: usize = 1 << 16;

/// A report's backtraces still to symbolize: for an edge (its index) or the report itself.
type ReportStacks = Vec<(Option<usize>, Stack)>;

/// What happens when the validator finds a problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Print the report to stderr once and continue (lockdep's behaviour). The default.
    Warn,
    /// Panic in the thread that raised the report (not while it is already panicking).
    Panic,
    /// Validate nothing.
    Off,
}

const POLICY_UNSET: u8 = 0;
const POLICY_WARN: u8 = 1;
const POLICY_PANIC: u8 = 2;
const POLICY_OFF: u8 = 3;

static POLICY: AtomicU8 = AtomicU8::new(POLICY_UNSET);

#[cold]
fn policy_from_env() -> u8 {
    match std::env::var("LOCKDEP").as_deref() {
        Ok("panic") => POLICY_PANIC,
        Ok("off") | Ok("0") => POLICY_OFF,
        _ => POLICY_WARN,
    }
}

thread_local! {
    static THREAD_POLICY: Cell<u8> = const { Cell::new(POLICY_UNSET) };
}

/// Runs `f` with `p` as the policy of the calling thread only (other threads and parallel
/// tests keep theirs).
pub fn with_policy<R>(p: Policy, f: impl FnOnce() -> R) -> R {
    let code = match p {
        Policy::Warn => POLICY_WARN,
        Policy::Panic => POLICY_PANIC,
        Policy::Off => POLICY_OFF,
    };
    let old = THREAD_POLICY.with(|c| c.replace(code));
    fast::force_sync();
    struct Restore(u8);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREAD_POLICY.with(|c| c.set(self.0));
            fast::force_sync();
        }
    }
    let _restore = Restore(old);
    f()
}

/// The policy in force for the calling thread: a [`with_policy`] scope, else [`set_policy`],
/// else the `LOCKDEP` environment variable (`warn`, `panic`, `off`), else `warn`.
#[inline]
pub fn policy() -> Policy {
    let mut p = THREAD_POLICY.try_with(Cell::get).unwrap_or(POLICY_UNSET);
    if p == POLICY_UNSET {
        p = POLICY.load(Ordering::Relaxed);
    }
    if p == POLICY_UNSET {
        p = policy_from_env();
        POLICY.store(p, Ordering::Relaxed);
        fast::set_gate_bit(fast::GATE_OFF, p == POLICY_OFF);
    }
    match p {
        POLICY_PANIC => Policy::Panic,
        POLICY_OFF => Policy::Off,
        _ => Policy::Warn,
    }
}

/// Sets the policy for the whole process.
pub fn set_policy(p: Policy) {
    fast::set_gate_bit(fast::GATE_OFF, p == Policy::Off);
    POLICY.store(
        match p {
            Policy::Warn => POLICY_WARN,
            Policy::Panic => POLICY_PANIC,
            Policy::Off => POLICY_OFF,
        },
        Ordering::Relaxed,
    );
}

type Handler = std::sync::Arc<dyn Fn(&Report) + Send + Sync>;

type Recorder = lockdep_trace::TraceWriter<std::io::LineWriter<std::fs::File>>;

struct State {
    engine: Engine,
    free_objs: Vec<u32>,
    next_obj: u32,
    handler: Option<Handler>,
    /// Where the run is recorded, if it is (`LOCKDEP_TRACE`, or [`record_to`]).
    recorder: Option<Recorder>,
    /// Live objects and known threads, to declare them when recording starts mid-run.
    live: Vec<Option<ObjDecl>>,
    thread_classes: Vec<NameId>,
    /// Call sites already interned, by the address of their `Location` (formatting and
    /// hashing the site's text on every op was most of a hot lock's cost).
    sites: rustc_hash::FxHashMap<usize, SiteId>,
    /// Backtraces of the ops that recorded new dependencies, by sequence number (an edge
    /// report's `seq`), unsymbolized; at most [`MAX_STACKS`].
    stacks: rustc_hash::FxHashMap<u64, Stack>,
}

fn open_recorder(path: &std::path::Path) -> std::io::Result<Recorder> {
    let f = std::fs::File::create(path)?;
    lockdep_trace::TraceWriter::new(
        std::io::LineWriter::new(f),
        "recorded by the lockdep runtime",
    )
}

impl State {
    /// Applies an event to the engine and, when recording, writes it to the trace.
    fn apply(&mut self, ev: &Event) {
        // Input the runtime builds is always valid; an error would be a validator bug, and
        // the validator must not take the program down for it.
        let _ = self.engine.apply(ev);
        if let Some(w) = self.recorder.as_mut() {
            let e = &self.engine;
            let ok = w.write(
                ev,
                &|n| e.name(n).to_owned(),
                &|s| e.site(s).map(str::to_owned),
                &|s| e.stack(s),
            );
            if let Err(err) = ok {
                eprintln!("lockdep: trace recording stopped: {err}");
                self.recorder = None;
            }
        }
    }
}

/// Starts recording the run to `path` as a trace v1 file (`lockdep check` replays it to the
/// same report signatures). Objects and threads already known are declared first.
///
/// Locks held when recording starts are not in the trace, nor the latest signal of an event
/// whose signals the fast path skipped: start it before the program takes locks or signals
/// events (or set `LOCKDEP_TRACE`, which starts with the validator).
pub fn record_to(path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
    let mut w = open_recorder(path.as_ref())?;
    with_state(|st| {
        let e = &st.engine;
        let mut declare = |op: Op| {
            w.write(
                &Event::from(op),
                &|n| e.name(n).to_owned(),
                &|s| e.site(s).map(str::to_owned),
                &|s| e.stack(s),
            )
        };
        for (t, &class) in st.thread_classes.iter().enumerate() {
            declare(Op::ThreadClass {
                thread: ThreadId(t as u32),
                class,
            })?;
        }
        for (i, decl) in st.live.iter().enumerate() {
            if let Some(decl) = decl {
                declare(Op::New {
                    obj: ObjId(i as u32),
                    decl: *decl,
                })?;
            }
        }
        st.recorder = Some(w);
        Ok(())
    })
}

static STATE: PlMutex<Option<State>> = PlMutex::new(None);
static NEXT_THREAD: AtomicU32 = AtomicU32::new(0);

/// The thread `t` ends (its thread-locals are torn down): its pending holds go to the engine,
/// then its exit (locks still held then are `held_at_exit`).
pub(crate) fn exit_notice(t: ThreadId, pending: Vec<fast::Pending>) {
    if policy() == Policy::Off {
        return;
    }
    apply_with(Op::Exit { thread: t }, None, None, pending, &[]);
}

thread_local! {
    static THREAD: Cell<u32> = const { Cell::new(u32::MAX) };
    /// Reports captured by `capture` scopes open on this thread (innermost last).
    static CAPTURE: RefCell<Vec<Vec<Report>>> = const { RefCell::new(Vec::new()) };
}

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    fast::SLOW_OPS.fetch_add(1, Ordering::Relaxed);
    let mut g = STATE.lock();
    let st = g.get_or_insert_with(|| {
        // The validator starts: so does the watchdog, if `LOCKDEP_WATCHDOG` asks for it.
        crate::watchdog::start_from_env();
        State {
            engine: Engine::new(),
            free_objs: Vec::new(),
            next_obj: 0,
            handler: None,
            live: Vec::new(),
            thread_classes: Vec::new(),
            sites: rustc_hash::FxHashMap::default(),
            stacks: rustc_hash::FxHashMap::default(),
            recorder: std::env::var_os("LOCKDEP_TRACE").and_then(|p| {
                match open_recorder(p.as_ref()) {
                    Ok(w) => Some(w),
                    Err(e) => {
                        eprintln!(
                            "lockdep: cannot record to LOCKDEP_TRACE={}: {e}",
                            p.to_string_lossy()
                        );
                        None
                    }
                }
            }),
        }
    });
    let r = f(st);
    // Recording starts with the validator (LOCKDEP_TRACE), in `record_to`, and stops on a
    // write error: the fast path must see it at once.
    fast::set_gate_bit(fast::GATE_RECORDING, st.recorder.is_some());
    r
}

/// Delivers a report the runtime made itself (the watchdog's), from a thread that takes no
/// part in the run: to the handler, and to stderr unless the policy is `Off`. Never a panic.
pub(crate) fn deliver_external(r: Report) {
    let handler = with_state(|st| st.handler.clone());
    if let Some(h) = handler.as_deref() {
        h(&r);
    }
    if POLICY.load(Ordering::Relaxed) != POLICY_OFF {
        crate::summary::delivered(&r);
        eprintln!("{}", lockdep_core::render_text(&r));
    }
}

/// Every thread the validator knows, with its name and held locks.
pub(crate) fn threads_held() -> Vec<lockdep_core::ThreadHeld> {
    with_state(|st| st.engine.threads_held())
}

/// Installs a handler called with every report (after the policy's own action).
pub fn set_handler(h: impl Fn(&Report) + Send + Sync + 'static) {
    let h: Handler = std::sync::Arc::new(h);
    with_state(|st| st.handler = Some(h));
}

/// The calling thread's id in the validator (assigned on first use, named after the thread).
pub(crate) fn current_thread() -> ThreadId {
    let id = THREAD.try_with(|c| {
        let v = c.get();
        if v != u32::MAX {
            return ThreadId(v);
        }
        let id = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
        c.set(id);
        // Not for a thread that is already tearing its thread-locals down.
        fast::set_exit(id);
        let name = match std::thread::current().name() {
            Some(n) => n.to_owned(),
            None => format!("thread-{id}"),
        };
        with_state(|st| {
            st.engine.set_thread_name(ThreadId(id), &name);
            // The thread's class is its name (replays then name the same `exit` classes).
            let class = st.engine.intern(&name);
            if st.thread_classes.len() <= id as usize {
                st.thread_classes.resize(id as usize + 1, class);
            }
            st.thread_classes[id as usize] = class;
            st.apply(&Event::from(Op::ThreadClass {
                thread: ThreadId(id),
                class,
            }));
        });
        ThreadId(id)
    });
    // A thread whose locals are already gone (a lock dropped in another thread-local's
    // destructor) gets a fresh id: its ops are still validated.
    id.unwrap_or_else(|_| ThreadId(NEXT_THREAD.fetch_add(1, Ordering::Relaxed)))
}

/// A fresh thread id, for a thread about to be spawned.
pub(crate) fn reserve_thread() -> ThreadId {
    ThreadId(NEXT_THREAD.fetch_add(1, Ordering::Relaxed))
}

/// Called first thing on a thread spawned by `lockdep::thread`: takes the id its parent
/// reserved and gives the thread its class (the spawn site) and name.
pub(crate) fn adopt_thread(id: ThreadId, name: &str, class: &str) {
    let _ = THREAD.try_with(|c| c.set(id.0));
    fast::set_exit(id.0);
    with_state(|st| {
        st.engine.set_thread_name(id, name);
        let class = st.engine.intern(class);
        if st.thread_classes.len() <= id.0 as usize {
            st.thread_classes.resize(id.0 as usize + 1, class);
        }
        st.thread_classes[id.0 as usize] = class;
        st.apply(&Event::from(Op::ThreadClass { thread: id, class }));
    });
}

/// Declares a new object and returns its id (ids of dropped objects are reused, so creating
/// and dropping locks keeps memory flat). `capacity`: a channel's size or a work queue's
/// `max_active` (`None`: unbounded).
pub(crate) fn new_object(kind: ObjKind, class: &str, subclass: u8, capacity: Option<u32>) -> ObjId {
    with_state(|st| {
        let id = st.free_objs.pop().unwrap_or_else(|| {
            st.next_obj += 1;
            st.next_obj - 1
        });
        let name: NameId = st.engine.intern(class);
        let mut decl = ObjDecl::new(kind, name);
        decl.subclass = subclass;
        decl.capacity = capacity;
        if st.live.len() <= id as usize {
            st.live.resize(id as usize + 1, None);
        }
        st.live[id as usize] = Some(decl);
        st.apply(&Event::from(Op::New {
            obj: ObjId(id),
            decl,
        }));
        ObjId(id)
    })
}

/// The object is gone: the engine reports it if it is still held, and the id is reused.
pub(crate) fn drop_object(obj: ObjId) {
    if policy() == Policy::Off {
        return;
    }
    let t = current_thread();
    fast::FREES.fetch_add(1, Ordering::Relaxed);
    apply(Op::Free { thread: t, obj }, None);
    with_state(|st| {
        st.free_objs.push(obj.0);
        if let Some(slot) = st.live.get_mut(obj.0 as usize) {
            *slot = None;
        }
    });
}

/// Forgets the lock class `name` (a dropped [`ClassKey`](crate::ClassKey)'s): see
/// `Engine::forget_class`. True when it was forgotten and the name may name a new class;
/// false (the class stays) while an object of it is live, while a trace is recorded (a trace
/// has no op for it, and its replay must give the same reports), or when the engine keeps it.
pub(crate) fn forget_class(name: &str) -> bool {
    if policy() == Policy::Off {
        return false;
    }
    with_state(|st| {
        if st.recorder.is_some() {
            return false;
        }
        let id = st.engine.intern(name);
        if st.live.iter().flatten().any(|d| d.class == id) {
            return false;
        }
        let forgotten = match st.engine.forget_class(id) {
            Ok(Some(seqs)) => {
                // The removed edges' backtraces go with them.
                for s in seqs {
                    st.stacks.remove(&s);
                }
                true
            }
            _ => false,
        };
        // Every thread's cached chains are stale: the gate word tells them.
        fast::publish(&st.engine);
        forgotten
    })
}

impl State {
    /// The engine's id of a call site (cached by the `Location`'s address: formatting and
    /// hashing the site's text on every op was most of a hot lock's cost).
    fn site_id(&mut self, l: &'static Location<'static>) -> SiteId {
        let key = std::ptr::from_ref(l) as usize;
        if let Some(&id) = self.sites.get(&key) {
            return id;
        }
        let text = format!("{}:{}:{}", l.file(), l.line(), l.column());
        let id = self.engine.intern_site(&text);
        self.sites.insert(key, id);
        id
    }
}

/// Applies one op for the calling thread and dispatches the reports it raised.
pub(crate) fn apply(op: Op, site: Option<&'static Location<'static>>) {
    apply_with(op, site, None, fast::take_pending(), &[]);
}

/// [`apply`] for an op on an event object with fast-path cells (see `fast`'s event section).
pub(crate) fn apply_on_cells(
    op: Op,
    site: Option<&'static Location<'static>>,
    cells: &[fast::CellUse<'_>],
) {
    apply_with(op, site, None, fast::take_pending(), cells);
}

/// [`apply`], after handing the engine the thread's `pending` fast-path acquires; `hold`
/// describes an acquire op for the fast path's mirror, `cells` the event cells of the
/// object the op is on.
fn apply_with(
    op: Op,
    site: Option<&'static Location<'static>>,
    hold: Option<fast::NewHold>,
    pending: Vec<fast::Pending>,
    cells: &[fast::CellUse<'_>],
) {
    let (reports, handler) = with_state(|st| {
        let before = st.engine.reports().len();
        let thread = op.thread();
        // A signal skipped by the fast path reaches the engine before anything else on the
        // object (a wait may be about to observe it).
        let prev_cells = fast::close_cells(cells, &mut st.engine);
        if let Some(thread) = thread {
            for p in pending {
                let site = st.site_id(p.site);
                st.apply(&Event {
                    op: Op::Acquire {
                        thread,
                        lock: p.obj,
                        mode: p.mode,
                        try_: false,
                        subclass: p.subclass,
                        nest_lock: None,
                        check: true,
                    },
                    site,
                    stack: lockdep_core::StackId::NONE,
                });
            }
        }
        let site = site.map_or(SiteId::NONE, |l| st.site_id(l));
        let rollback = match op {
            Op::Acquire { thread, lock, .. } => Some(Op::Release { thread, lock }),
            _ => None,
        };
        let (seq, edges) = (st.engine.events(), st.engine.edges_recorded());
        st.apply(&Event {
            op,
            site,
            stack: lockdep_core::StackId::NONE,
        });
        let backtraces = stack::enabled();
        if backtraces && st.engine.edges_recorded() > edges && st.stacks.len() < MAX_STACKS {
            // A new dependency: where it was recorded (symbolized only if ever printed).
            st.stacks.insert(seq, Stack::capture());
        }
        let new: Vec<(Report, ReportStacks)> = deliver::raised(st.engine.reports(), before)
            .into_iter()
            .map(|r| {
                let mut stacks = Vec::new();
                if backtraces {
                    for (i, e) in r.edges.iter().enumerate() {
                        if let Some(s) = st.stacks.get(&e.seq).filter(|_| e.stack.is_empty()) {
                            stacks.push((Some(i), s.clone()));
                        }
                    }
                    if r.stack.is_empty() {
                        let s = st.stacks.get(&seq).cloned();
                        stacks.push((None, s.unwrap_or_else(Stack::capture)));
                    }
                }
                (r.clone(), stacks)
            })
            .collect();
        // Under the panic policy this acquire will not happen (the thread panics before it
        // blocks): take the hold back, or the thread's exit would report it as held.
        let captured = CAPTURE
            .try_with(|c| !c.borrow().is_empty())
            .unwrap_or(false);
        if let Some(undo) = rollback
            && !new.is_empty()
            && !captured
            && policy() == Policy::Panic
            && !std::thread::panicking()
        {
            st.apply(&Event::from(undo));
        }
        if let Some(thread) = thread {
            fast::settle_cells(cells, prev_cells, thread, &st.engine);
            fast::resync(thread, &st.engine, hold, cells);
        }
        (new, st.handler.clone())
    });
    // Outside the validator's lock: a handler may use lockdep primitives itself, and
    // symbolizing a backtrace can take a while.
    // Every report is delivered before the panic policy panics (an op can raise several).
    let panic_msg = deliver::deliver_all(reports, |(r, stacks)| {
        dispatch(r, stacks, handler.as_deref())
    });
    if let Some(m) = panic_msg {
        panic!("{m}");
    }
}

/// Delivers a report to the capture scope, the handler and the policy. Its backtraces are
/// symbolized only if it goes to the handler or is printed (not for a capture scope alone).
/// Returns the panic message when the policy is to panic (the caller panics once all of the
/// op's reports are delivered).
fn dispatch(
    mut r: Report,
    stacks: ReportStacks,
    handler: Option<&(dyn Fn(&Report) + Send + Sync)>,
) -> Option<String> {
    let scoped = CAPTURE
        .try_with(|c| !c.borrow().is_empty())
        .unwrap_or(false);
    if handler.is_some() || (!scoped && policy() != Policy::Off) {
        for (edge, s) in stacks {
            let frames = s.symbolize();
            match edge {
                Some(i) => r.edges[i].stack = frames,
                None => r.stack = frames,
            }
        }
    }
    let r = &r;
    // `try_with`: reports raised while the thread's locals are torn down (at its exit) go
    // to the handler and the policy.
    let captured = CAPTURE
        .try_with(|c| {
            let mut c = c.borrow_mut();
            match c.last_mut() {
                Some(scope) => {
                    scope.push(r.clone());
                    true
                }
                None => false,
            }
        })
        .unwrap_or(false);
    if let Some(h) = handler {
        h(r);
    }
    if captured {
        return None;
    }
    if policy() != Policy::Off {
        crate::summary::delivered(r);
    }
    match policy() {
        Policy::Off => None,
        Policy::Warn => {
            eprintln!("{}", lockdep_core::render_text(r));
            None
        }
        Policy::Panic if !std::thread::panicking() => Some(format!(
            "lockdep: {}\n{}",
            r.title,
            lockdep_core::render_text(r)
        )),
        Policy::Panic => {
            eprintln!("{}", lockdep_core::render_text(r));
            None
        }
    }
}

/// Runs `f` and returns the reports raised by this thread while it ran (they are not printed
/// or turned into panics). Other threads' reports, and tests running in parallel, do not
/// show up here.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<Report>) {
    CAPTURE.with(|c| c.borrow_mut().push(Vec::new()));
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            // The scope is popped by `capture` on the normal path; on unwinding, here.
            if std::thread::panicking() {
                CAPTURE.with(|c| {
                    c.borrow_mut().pop();
                });
            }
        }
    }
    let guard = Pop;
    let r = f();
    std::mem::forget(guard);
    let reports = CAPTURE.with(|c| c.borrow_mut().pop().unwrap_or_default());
    (r, reports)
}

/// The calling thread acquires `obj` (before blocking on it).
///
/// Inlined into the lock types so that the known-chain path costs no call; the rest is
/// [`acquire_slow`]. The fast path hits only when the policy is not `Off` (a policy change
/// turns it off until the next slow op).
#[inline(always)]
pub(crate) fn acquire(
    obj: ObjId,
    class_key: usize,
    mode: Mode,
    try_: bool,
    subclass: Option<u8>,
    nest_lock: Option<ObjId>,
    site: &'static std::panic::Location<'static>,
) {
    if !try_ && nest_lock.is_none() && fast::try_acquire(obj, class_key, mode, subclass, site) {
        return;
    }
    acquire_slow(obj, class_key, mode, try_, subclass, nest_lock, site);
}

#[inline(never)]
fn acquire_slow(
    obj: ObjId,
    class_key: usize,
    mode: Mode,
    try_: bool,
    subclass: Option<u8>,
    nest_lock: Option<ObjId>,
    site: &'static std::panic::Location<'static>,
) {
    if policy() == Policy::Off {
        return;
    }
    let t = current_thread();
    let hold = fast::NewHold {
        obj,
        class_key,
        mode,
        try_,
        subclass,
        nested: nest_lock.is_some(),
        site,
    };
    apply_with(
        Op::Acquire {
            thread: t,
            lock: obj,
            mode,
            try_,
            subclass,
            nest_lock,
            check: true,
        },
        Some(site),
        Some(hold),
        fast::take_pending(),
        &[],
    );
}

/// The calling thread releases `obj`. A hold the engine never saw is released on the thread
/// alone, whatever the policy is now.
#[inline(always)]
pub(crate) fn release(obj: ObjId) {
    if !fast::try_release(obj) {
        release_slow(obj);
    }
}

#[inline(never)]
fn release_slow(obj: ObjId) {
    if policy() == Policy::Off {
        return;
    }
    let t = current_thread();
    apply(
        Op::Release {
            thread: t,
            lock: obj,
        },
        None,
    );
}
