//! The actual-hang watchdog, off by default: for the deadlock that did happen (or a thread
//! stuck for another reason), a report listing every thread, the locks it holds and what it
//! waits for.
//!
//! Turn it on with `LOCKDEP_WATCHDOG=<seconds>` or [`start`]. While it is on, every blocking
//! point of the runtime's primitives (a lock that is taken, a condvar, completion or counter
//! wait, a join, a work flush) that actually blocks registers the thread as parked; a thread
//! parked longer than the limit gets one report (kind `hang`), printed to stderr and given to
//! the handler, never turned into a panic (it comes from the watchdog's own thread).

use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lockdep_core::{Kind, ObjId, Report, Severity, ThreadId};
use parking_lot::Mutex as PlMutex;

use crate::state;

static ON: AtomicBool = AtomicBool::new(false);
static NEXT: AtomicU64 = AtomicU64::new(1);
static PARKED: PlMutex<Vec<Parked>> = PlMutex::new(Vec::new());

/// A thread blocked at one of the runtime's blocking points.
#[derive(Clone, Debug)]
struct Parked {
    id: u64,
    thread: ThreadId,
    what: String,
    obj: Option<ObjId>,
    site: &'static Location<'static>,
    since: Instant,
}

/// Whether the watchdog is on (the blocking points then register themselves).
#[inline]
pub(crate) fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Starts the watchdog: a thread parked longer than `limit` is reported. Later calls do
/// nothing. (With validation compiled away there is nothing to watch.)
pub fn start(limit: Duration) {
    if !crate::ENABLED || ON.swap(true, Ordering::Relaxed) {
        return;
    }
    let tick = (limit / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    // A plain std thread: the watchdog takes no part in what it watches.
    let _ = std::thread::Builder::new()
        .name("lockdep-watchdog".into())
        .spawn(move || {
            let mut reported: Vec<u64> = Vec::new();
            loop {
                std::thread::sleep(tick);
                let parked = PARKED.lock().clone();
                reported.retain(|id| parked.iter().any(|p| p.id == *id));
                let hung: Vec<&Parked> = parked
                    .iter()
                    .filter(|p| p.since.elapsed() >= limit && !reported.contains(&p.id))
                    .collect();
                if hung.is_empty() {
                    continue;
                }
                reported.extend(hung.iter().map(|p| p.id));
                state::deliver_external(report(&parked, &hung, limit));
            }
        });
}

/// `LOCKDEP_WATCHDOG=<seconds>`: starts the watchdog when the validator starts.
pub(crate) fn start_from_env() {
    if let Some(secs) = std::env::var("LOCKDEP_WATCHDOG")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0 && s.is_finite())
    {
        start(Duration::from_secs_f64(secs));
    }
}

/// The calling thread is parked until the guard drops.
pub(crate) struct ParkGuard(u64);

impl Drop for ParkGuard {
    fn drop(&mut self) {
        PARKED.lock().retain(|p| p.id != self.0);
    }
}

/// Registers the calling thread as parked on `what` (`obj`: a lock, to name its holders).
#[cold]
pub(crate) fn park(
    what: String,
    obj: Option<ObjId>,
    site: &'static Location<'static>,
) -> ParkGuard {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let thread = state::current_thread();
    PARKED.lock().push(Parked {
        id,
        thread,
        what,
        obj,
        site,
        since: Instant::now(),
    });
    ParkGuard(id)
}

fn report(parked: &[Parked], hung: &[&Parked], limit: Duration) -> Report {
    let mut threads = state::threads_held();
    // The validator counts a lock as held from the moment it is validated, before the thread
    // blocks on it: a thread parked on a lock does not hold it yet.
    for th in &mut threads {
        if let Some(o) = parked
            .iter()
            .find(|p| p.thread == th.thread)
            .and_then(|p| p.obj)
            && let Some(i) = th.held.iter().rposition(|(obj, _)| *obj == o)
        {
            th.held.remove(i);
        }
    }
    let name = |t: ThreadId| {
        threads
            .iter()
            .find(|th| th.thread == t)
            .map_or_else(|| format!("thread {}", t.0), |th| th.name.clone())
    };
    let first = hung[0];
    let mut notes = vec![format!(
        "{} thread(s) parked for more than {limit:.1?}; every thread the validator knows:",
        hung.len()
    )];
    for lockdep_core::ThreadHeld {
        thread: t,
        name: n,
        held,
    } in &threads
    {
        let waits = parked.iter().find(|p| p.thread == *t);
        if held.is_empty() && waits.is_none() {
            continue;
        }
        let held_text: Vec<String> = held
            .iter()
            .map(|(_, h)| {
                let at = h
                    .site
                    .as_deref()
                    .map(|s| format!(" at {s}"))
                    .unwrap_or_default();
                format!("{} ({}){at}", h.class, h.mode)
            })
            .collect();
        let mut line = format!(
            "{n}: holds {}",
            if held_text.is_empty() {
                "nothing".to_owned()
            } else {
                held_text.join(", ")
            }
        );
        if let Some(p) = waits {
            let holders: Vec<String> = threads
                .iter()
                .filter(|th| {
                    p.obj
                        .is_some_and(|o| th.held.iter().any(|(obj, _)| *obj == o))
                })
                .map(|th| th.name.clone())
                .collect();
            line.push_str(&format!(
                "; waits for {}{} at {}:{}:{} since {:.1?}",
                p.what,
                if holders.is_empty() {
                    String::new()
                } else {
                    format!(" (held by {})", holders.join(", "))
                },
                p.site.file(),
                p.site.line(),
                p.site.column(),
                p.since.elapsed()
            ));
        }
        notes.push(line);
    }
    let held = threads
        .iter()
        .find(|th| th.thread == first.thread)
        .map(|th| th.held.iter().map(|(_, r)| r.clone()).collect())
        .unwrap_or_default();
    Report {
        kind: Kind::Hang,
        severity: Severity::Error,
        classes: Vec::new(),
        signature: format!("hang-{}", first.id),
        title: format!(
            "{} parked for {:.1?} waiting for {}",
            name(first.thread),
            first.since.elapsed(),
            first.what
        ),
        thread: name(first.thread),
        site: Some(format!(
            "{}:{}:{}",
            first.site.file(),
            first.site.line(),
            first.site.column()
        )),
        stack: Vec::new(),
        seq: 0,
        edges: Vec::new(),
        held,
        notes,
    }
}
