//! Differential test of the fast paths: random programs over locks, completions, counters,
//! condvars and channels, on 4 threads in a fixed interleaving, give the same reports with
//! the fast paths on as with every op going to the engine (recording turns them off).
//!
//! Each program runs twice under fresh classes (a prefix in every class and thread name; the
//! condvars and channels, classed by creation site, are made at a site per run), first all
//! with the fast paths, then, with recording on, all again; the reports are compared as
//! multisets of (kind, severity, classes with the prefix taken out). Its own test binary:
//! recording is process-wide and cannot be turned off.

mod support;

use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use lockdep::{Completion, LockClass, Mutex, MutexGuard, Report, WaitGroup};
use support::all_reports;

const THREADS: usize = 4;
const LOCKS: usize = 4;
const EVENTS: usize = 2;
const STEPS: usize = 200;
const PROGRAMS: u64 = 300;

/// One op of a program, run by one thread.
#[derive(Clone, Copy, Debug)]
enum Step {
    Lock(usize),
    /// Releases the `n % held`-th held lock (not always the innermost).
    Unlock(usize),
    Complete(usize),
    /// Waits for a completion: it finds it done (the driver only asks when it is), or it
    /// parks briefly and times out.
    Wait(usize),
    Add(usize),
    Done(usize),
    WaitZero(usize),
    Notify(usize),
    Send(usize),
    Recv(usize),
}

/// splitmix64: enough for picking steps, and no dependency.
struct Rng(u64);

impl Rng {
    fn random_range(&mut self, r: std::ops::Range<usize>) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        r.start + (z % (r.end - r.start) as u64) as usize
    }
}

/// The objects of one run (leaked: guards and threads borrow them for `'static`).
struct World {
    locks: Vec<Mutex<()>>,
    comps: Vec<Completion>,
    wgs: Vec<WaitGroup>,
    cvs: Vec<lockdep::sync::Condvar>,
    chans: Vec<Chan>,
}

fn classes(prefix: &str, what: &str, n: usize) -> Vec<&'static LockClass> {
    (0..n)
        .map(|i| LockClass::leak(format!("{prefix}.{what}{i}")))
        .collect()
}

/// The condvars of a run, classed by the site that calls this (one per run).
#[track_caller]
fn cvs() -> Vec<lockdep::sync::Condvar> {
    let mut v = Vec::new();
    for _ in 0..EVENTS {
        v.push(lockdep::sync::Condvar::new());
    }
    v
}

type Chan = (
    lockdep::sync::mpsc::Sender<u32>,
    std::sync::Mutex<lockdep::sync::mpsc::Receiver<u32>>,
);

/// The channels of a run, classed by the site that calls this (one per run).
#[track_caller]
fn chans() -> Vec<Chan> {
    let mut v = Vec::new();
    for _ in 0..EVENTS {
        let (tx, rx) = lockdep::sync::mpsc::channel();
        v.push((tx, std::sync::Mutex::new(rx)));
    }
    v
}

fn world(prefix: &str, slow: bool) -> &'static World {
    // Two call sites on purpose: each run's condvars and channels are classes of their own.
    #[allow(clippy::if_same_then_else)]
    let (cvs, chans) = if slow {
        (cvs(), chans())
    } else {
        (cvs(), chans())
    };
    Box::leak(Box::new(World {
        locks: classes(prefix, "lock", LOCKS)
            .into_iter()
            .map(|c| Mutex::with_class((), c))
            .collect(),
        // One class for both completions: a signal validated on one may then be skipped on
        // the other, whose last signal another thread made (the hand-over's case).
        comps: classes(prefix, "comp", 1)
            .into_iter()
            .cycle()
            .take(EVENTS)
            .map(Completion::with_class)
            .collect(),
        wgs: classes(prefix, "wg", EVENTS)
            .into_iter()
            .map(WaitGroup::with_class)
            .collect(),
        cvs,
        chans,
    }))
}

/// A random program: steps per thread, in the global order the driver runs them. The
/// driver's model keeps every wait from blocking for long: a completion or channel is waited
/// on untimed only when it has something, a counter only at zero, and `done` only above it.
fn program(seed: u64) -> Vec<(usize, Step)> {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x6664);
    let mut held = [0usize; THREADS];
    let (mut comp, mut wg, mut chan) = ([0u32; EVENTS], [0u32; EVENTS], [0u32; EVENTS]);
    let mut out = Vec::new();
    // Each thread works on a few events of its own choosing, so that repeats (the fast
    // paths' case) are common.
    for _ in 0..STEPS {
        let t = rng.random_range(0..THREADS);
        let e = rng.random_range(0..EVENTS);
        let step = match rng.random_range(0..12) {
            0 | 1 => Step::Lock(rng.random_range(0..LOCKS)),
            2 | 3 if held[t] > 0 => Step::Unlock(rng.random_range(0..8)),
            4 => Step::Complete(e),
            5 => Step::Wait(e),
            6 => Step::Add(e),
            7 if wg[e] > 0 => Step::Done(e),
            7 => Step::WaitZero(e),
            8 => Step::Notify(e),
            9 | 10 => Step::Send(e),
            11 => Step::Recv(e),
            _ => Step::Complete(e),
        };
        match step {
            Step::Lock(_) => held[t] += 1,
            Step::Unlock(_) => held[t] -= 1,
            Step::Complete(e) => comp[e] += 1,
            Step::Wait(e) => comp[e] = comp[e].saturating_sub(1),
            Step::Add(e) => wg[e] += 1,
            Step::Done(e) => wg[e] -= 1,
            Step::Send(e) => chan[e] += 1,
            Step::Recv(e) => chan[e] = chan[e].saturating_sub(1),
            Step::WaitZero(_) | Step::Notify(_) => {}
        }
        out.push((t, step));
    }
    // Everything released at the end (a held lock at exit would be reported alike, but
    // reports about exits are not what this test is after).
    for (t, &n) in held.iter().enumerate() {
        for _ in 0..n {
            out.push((t, Step::Unlock(0)));
        }
    }
    out
}

/// Runs one step on the calling thread; `held` are its guards.
fn run_step(w: &'static World, held: &mut Vec<MutexGuard<'static, ()>>, step: Step) {
    const SHORT: Duration = Duration::from_millis(1);
    match step {
        Step::Lock(i) => {
            // A lock another thread holds would block for real (the driver waits for this
            // step): only locks nobody holds are taken, so try first.
            if let Some(g) = w.locks[i].try_lock() {
                drop(g);
                held.push(w.locks[i].lock());
            }
        }
        Step::Unlock(n) => {
            if !held.is_empty() {
                let i = n % held.len();
                drop(held.remove(i));
            }
        }
        Step::Complete(e) => w.comps[e].complete(),
        Step::Wait(e) => {
            w.comps[e].wait_timeout(SHORT);
        }
        Step::Add(e) => w.wgs[e].add(),
        Step::Done(e) => w.wgs[e].done(),
        Step::WaitZero(e) => w.wgs[e].wait(),
        Step::Notify(e) => w.cvs[e].notify_one(),
        Step::Send(e) => w.chans[e].0.send(1).unwrap(),
        Step::Recv(e) => {
            let rx = w.chans[e].1.lock().unwrap();
            let _ = rx.recv_timeout(SHORT);
        }
    }
}

/// Runs `prog` on named threads, one step at a time in the program's order.
fn run(prefix: &str, w: &'static World, prog: &[(usize, Step)]) {
    let (done_tx, done_rx) = channel::<()>();
    let workers: Vec<(Sender<Option<Step>>, std::thread::JoinHandle<()>)> = (0..THREADS)
        .map(|t| {
            let (tx, rx): (Sender<Option<Step>>, Receiver<Option<Step>>) = channel();
            let done = done_tx.clone();
            let h = std::thread::Builder::new()
                .name(format!("{prefix}.t{t}"))
                .spawn(move || {
                    let mut held = Vec::new();
                    while let Ok(Some(step)) = rx.recv() {
                        run_step(w, &mut held, step);
                        done.send(()).unwrap();
                    }
                    drop(held);
                })
                .unwrap();
            (tx, h)
        })
        .collect();
    for &(t, step) in prog {
        workers[t].0.send(Some(step)).unwrap();
        done_rx.recv().unwrap();
    }
    // The threads exit one by one, in order.
    for (tx, h) in workers {
        tx.send(None).unwrap();
        h.join().unwrap();
    }
}

/// Reports as comparable keys: kind, severity and sorted classes, with the run's letter taken
/// out of each prefix and creation sites (which differ between the runs by construction)
/// reduced to the file.
fn keys(reports: &[Report], run: char) -> Vec<String> {
    let canon = |c: &str| {
        let mut c = c.to_owned();
        for i in 0..PROGRAMS {
            c = c.replace(&format!("fd{i}{run}."), &format!("fd{i}."));
        }
        match c.find("fast_diff.rs:") {
            Some(i) => format!("{}fast_diff.rs:SITE", &c[..i]),
            None => c,
        }
    };
    let mut v: Vec<String> = reports
        .iter()
        .map(|r| {
            let mut c: Vec<String> = r.classes.iter().map(|c| canon(c)).collect();
            c.sort();
            format!("{:?} {:?} {}", r.kind, r.severity, c.join(" "))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn fast_paths_change_no_report() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    all_reports();
    let progs: Vec<_> = (0..PROGRAMS).map(program).collect();
    let start = lockdep::slow_ops();
    for (i, p) in progs.iter().enumerate() {
        let prefix = format!("fd{i}f");
        run(&prefix, world(&prefix, false), p);
    }
    let fast_slow_ops = lockdep::slow_ops() - start;
    let fast_reports = all_reports().lock().unwrap().len();
    lockdep::record_to("/dev/null").unwrap();
    for (i, p) in progs.iter().enumerate() {
        let prefix = format!("fd{i}s");
        run(&prefix, world(&prefix, true), p);
    }
    let slow_ops = lockdep::slow_ops() - start - fast_slow_ops;
    let seen = all_reports().lock().unwrap().clone();
    let fast = keys(&seen[..fast_reports], 'f');
    let slow = keys(&seen[fast_reports..], 's');
    // Multiset difference both ways (the lists are sorted).
    let only = |a: &[String], b: &[String]| {
        let mut rest = b.to_vec();
        a.iter()
            .filter(|k| match rest.iter().position(|r| r == *k) {
                Some(i) => {
                    rest.remove(i);
                    false
                }
                None => true,
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    let (fast_only, slow_only) = (only(&fast, &slow), only(&slow, &fast));
    assert!(
        fast_only.is_empty() && slow_only.is_empty(),
        "reports with the fast paths only: {fast_only:?}; without them only: {slow_only:?}"
    );
    // The programs must exercise both sides: reports to compare, and ops the fast paths took.
    assert!(!fast.is_empty(), "no program raised a report");
    assert!(
        fast_slow_ops < slow_ops,
        "the fast paths took no op: {fast_slow_ops} slow ops with them, {slow_ops} without"
    );
    eprintln!(
        "{PROGRAMS} programs, {} reports each way; slow ops: {fast_slow_ops} with the fast paths, {slow_ops} without",
        fast.len()
    );
}
