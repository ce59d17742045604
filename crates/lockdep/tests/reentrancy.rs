//! Re-entrancy and edge cases (issue #6): a report handler that uses lockdep primitives
//! itself, reports raised while a thread unwinds, locks taken in thread-local destructors and
//! at process exit. The exit case runs in a child process (this test binary again).
//! (Its own test binary: it installs a process-wide handler.)

use std::cell::Cell;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use lockdep::{Completion, Kind, Mutex, Policy, Report, class};

const CHILD: &str = "LOCKDEP_TEST_REENTRANCY_CHILD";

/// Every report the handler saw (the handler is installed once for the binary).
static SEEN: StdMutex<Vec<Report>> = StdMutex::new(Vec::new());
/// Handler calls, nested ones included.
static CALLS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// How deep in the handler this thread is (the handler's own ops may raise reports,
    /// which call it again).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// The validated lock and completion the handler uses.
static HANDLER_LOCK: Mutex<u32> = Mutex::with_class(0, class!("re.handler"));
static HANDLER_INNER: Mutex<()> = Mutex::with_class((), class!("re.handler.inner"));
static HANDLED: std::sync::OnceLock<Completion> = std::sync::OnceLock::new();

fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        lockdep::set_handler(|r| {
            CALLS.fetch_add(1, Ordering::SeqCst);
            SEEN.lock().unwrap().push(r.clone());
            let depth = DEPTH.with(|d| {
                d.set(d.get() + 1);
                d.get()
            });
            if depth == 1 && r.classes.iter().any(|c| c.starts_with("re.h.")) {
                // Validated ops inside the handler: a lock, then an inversion of the order
                // the test set up (handler.inner before handler), which raises a report from
                // inside this very call; then a completion.
                let _inner = HANDLER_INNER.lock();
                let mut g = HANDLER_LOCK.lock();
                *g += 1;
                drop(g);
                drop(_inner);
                HANDLED.get_or_init(Completion::new).complete();
            }
            DEPTH.with(|d| d.set(d.get() - 1));
        });
    });
}

fn seen_with(class: &str) -> Vec<Report> {
    SEEN.lock()
        .unwrap()
        .iter()
        .filter(|r| r.classes.iter().any(|c| c == class))
        .cloned()
        .collect()
}

fn a_handler_may_use_lockdep_primitives() {
    // The order the handler will invert: handler before handler.inner.
    {
        let _h = HANDLER_LOCK.lock();
        let _i = HANDLER_INNER.lock();
    }
    let (a, b) = (
        Mutex::with_class((), class!("re.h.a")),
        Mutex::with_class((), class!("re.h.b")),
    );
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let before = CALLS.load(Ordering::SeqCst);
    {
        let _b = b.lock();
        let _a = a.lock(); // the report; the handler runs after the validator's lock is free
    }
    // The handler ran for the inversion, then again (nested) for the one its own locks made.
    assert_eq!(seen_with("re.h.a").len(), 1, "the handled report, once");
    assert_eq!(
        seen_with("re.handler.inner").len(),
        1,
        "the report raised inside the handler, once"
    );
    assert_eq!(CALLS.load(Ordering::SeqCst) - before, 2);
    // Its completion was completed: this does not block.
    HANDLED.get().expect("the handler ran").wait();
    assert_eq!(*HANDLER_LOCK.lock(), 1);
}

fn a_report_raised_while_unwinding_is_delivered() {
    let (a, b) = (
        Arc::new(Mutex::with_class((), class!("re.unwind.a"))),
        Arc::new(Mutex::with_class((), class!("re.unwind.b"))),
    );
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    /// Takes `a` when dropped: during the unwinding below, with `b` held.
    struct TakesA(Arc<Mutex<()>>);
    impl Drop for TakesA {
        fn drop(&mut self) {
            drop(self.0.lock());
        }
    }
    let (a2, b2) = (a.clone(), b.clone());
    let r = std::thread::spawn(move || {
        // The panic policy, which must not panic again while the thread unwinds (that would
        // abort the process): the report is delivered instead.
        lockdep::with_policy(Policy::Panic, || {
            let _b = b2.lock();
            let _late = TakesA(a2);
            panic!("the thread's own panic");
        })
    })
    .join();
    let msg = r.expect_err("the thread panicked");
    assert_eq!(
        msg.downcast_ref::<&str>().copied(),
        Some("the thread's own panic"),
        "the thread's panic is its own, not the validator's"
    );
    let got = seen_with("re.unwind.a");
    assert_eq!(got.len(), 1, "the inversion made while unwinding, once");
    assert_eq!(got[0].kind, Kind::Circular);
    // The validator is still usable, and the unwinding thread left nothing held.
    drop(a.lock());
    drop(b.lock());
}

fn locks_in_thread_local_destructors_are_validated() {
    let (a, b): (&'static Mutex<()>, &'static Mutex<()>) = (
        Box::leak(Box::new(Mutex::with_class((), class!("re.tls.a")))),
        Box::leak(Box::new(Mutex::with_class((), class!("re.tls.b")))),
    );
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    struct Inverts(&'static Mutex<()>, &'static Mutex<()>);
    impl Drop for Inverts {
        fn drop(&mut self) {
            let _b = self.1.lock();
            let _a = self.0.lock();
        }
    }
    thread_local! {
        static LATE: Cell<Option<Inverts>> = const { Cell::new(None) };
    }
    std::thread::spawn(move || LATE.with(|l| l.set(Some(Inverts(a, b)))))
        .join()
        .unwrap();
    let got = seen_with("re.tls.a");
    assert_eq!(
        got.len(),
        1,
        "the inversion in a thread-local destructor, once"
    );
    assert_eq!(got[0].kind, Kind::Circular);
}

#[test]
fn reentrancy() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    if std::env::var_os(CHILD).is_some() {
        return; // the child runs `locks_at_process_exit` only
    }
    install();
    a_handler_may_use_lockdep_primitives();
    a_report_raised_while_unwinding_is_delivered();
    locks_in_thread_local_destructors_are_validated();
}

static EXIT_A: Mutex<()> = Mutex::with_class((), class!("re.exit.a"));
static EXIT_B: Mutex<()> = Mutex::with_class((), class!("re.exit.b"));

extern "C" fn at_exit() {
    // An inversion of main's order, from an exit handler: reported, and the process still
    // exits normally.
    let _b = EXIT_B.lock();
    let _a = EXIT_A.lock();
}

#[test]
fn locks_at_process_exit() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    if std::env::var_os(CHILD).is_some() {
        {
            let _a = EXIT_A.lock();
            let _b = EXIT_B.lock();
        }
        // SAFETY: registers a plain `extern "C"` function with no arguments, as atexit wants.
        assert_eq!(unsafe { libc::atexit(at_exit) }, 0);
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "locks_at_process_exit"])
        .env(CHILD, "1")
        .env("LOCKDEP_BACKTRACE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the child failed: {stderr}");
    assert!(
        stderr.contains("re.exit.b") && stderr.contains("possible circular locking dependency"),
        "no report from the exit handler: {stderr}"
    );
}
