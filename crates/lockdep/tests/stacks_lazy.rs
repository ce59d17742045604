//! A backtrace is captured when a dependency is first recorded but symbolized only when a
//! report showing it is delivered: a capture scope alone gets none, a later report through
//! a handler shows the stack of the earlier recording. (Own binary: no handler until the
//! test installs one.)

use lockdep::{Kind, Mutex, capture};

static C: Mutex<()> = Mutex::with_class((), lockdep::class!("lazy.C"));
static D: Mutex<()> = Mutex::with_class((), lockdep::class!("lazy.D"));
static E: Mutex<()> = Mutex::with_class((), lockdep::class!("lazy.E"));

#[inline(never)]
fn record_c_then_d() {
    let _c = C.lock();
    let _d = D.lock();
}

#[test]
fn stacks_are_captured_at_recording_and_symbolized_when_shown() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    let ((), reports) = capture(|| {
        record_c_then_d();
        let _d = D.lock();
        let _c = C.lock();
    });
    let r = reports.iter().find(|r| r.kind == Kind::Circular).unwrap();
    assert!(r.stack.is_empty() && r.edges.iter().all(|e| e.stack.is_empty()));

    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s2 = seen.clone();
    lockdep::set_handler(move |r| s2.lock().unwrap().push(r.clone()));
    {
        let _d = D.lock();
        let _e = E.lock();
    }
    {
        let _e = E.lock();
        let _c = C.lock();
    }
    let seen = seen.lock().unwrap();
    let r = seen
        .iter()
        .find(|r| r.kind == Kind::Circular && r.classes.len() == 3)
        .expect("C -> D -> E -> C is reported");
    let cd = r.edges.iter().find(|e| e.from == "lazy.C").unwrap();
    assert!(
        cd.stack.iter().any(|f| f.contains("record_c_then_d")),
        "{:#?}",
        cd.stack
    );
}
