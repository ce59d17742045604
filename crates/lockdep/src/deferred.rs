//! Per-thread deferred work: the kernel's `task_work` and `current->bio_list`, an event loop's
//! "run this when you get back to the top".
//!
//! [`defer`] puts a closure on the calling thread's own list. It runs only when that thread
//! reaches a flush point ([`flush_point`] at the top of its loop, holding no lock;
//! [`flush_blocking`] just before it blocks) or after the list is handed to a [`Rescuer`].
//! Until then the thread *owes* whatever the items produce: waiting for it (a completion an
//! item completes, a counter an item decrements) is a wait for the thread itself
//! (`self_wait`), and blocking on a lock whose holder waits for it is a cycle.
//!
//! ```
//! use lockdep::{WaitGroup, deferred::{self, Produces}};
//! use std::sync::Arc;
//! let in_flight = Arc::new(WaitGroup::new());
//! in_flight.add();
//! let wg = in_flight.clone();
//! deferred::defer_producing(&[Produces::Dec(&in_flight)], move || wg.done());
//! deferred::flush_point(); // runs the item: the count is back to zero
//! in_flight.wait();
//! ```

use std::cell::RefCell;
use std::panic::Location;

use lockdep_core::{FlushKind, ObjKind, ThreadId};

use crate::event::{Completion, WaitGroup};
use crate::hooks::{self, Meta, Produced, Site};

/// What a deferred item will produce when it runs (the validator's `produces`).
#[derive(Clone, Copy, Debug)]
pub enum Produces<'a> {
    /// It completes this completion.
    Signal(&'a Completion),
    /// It decrements this counter.
    Dec(&'a WaitGroup),
}

/// A deferred item: a validator object of its own (class: where it was deferred), freed when
/// the item is dropped after running.
struct Item {
    site: Site,
    meta: Meta,
    run: Box<dyn FnOnce() + Send>,
}

thread_local! {
    static LIST: RefCell<Vec<Item>> = const { RefCell::new(Vec::new()) };
}

/// Puts `f` on the calling thread's deferred list (it produces nothing the validator tracks).
#[track_caller]
pub fn defer(f: impl FnOnce() + Send + 'static) {
    defer_producing(&[], f);
}

/// Puts `f` on the calling thread's deferred list; until it runs, the thread owes what
/// `produces` names.
#[track_caller]
pub fn defer_producing(produces: &[Produces<'_>], f: impl FnOnce() + Send + 'static) {
    let item = Item {
        site: Site::caller(),
        meta: Meta::new(),
        run: Box::new(f),
    };
    let produced: Vec<Produced> = produces
        .iter()
        .map(|p| match *p {
            Produces::Signal(c) => Produced::Signal(c.obj()),
            Produces::Dec(w) => Produced::Dec(w.obj()),
        })
        .collect();
    hooks::defer(
        item.meta.get(item.site, ObjKind::Deferred),
        &produced,
        Location::caller(),
    );
    LIST.with(|l| l.borrow_mut().push(item));
}

/// A base flush point (the top of the thread's loop, its return to "user space"): the thread
/// must hold no lock here (a held one is reported), and its deferred list runs now.
#[track_caller]
pub fn flush_point() {
    flush(FlushKind::Base, Location::caller());
}

/// The thread is about to block: its deferred list runs first (the kernel flushes
/// `current->bio_list` before a task sleeps).
#[track_caller]
pub fn flush_blocking() {
    flush(FlushKind::Blocking, Location::caller());
}

/// How many items are on the calling thread's list.
pub fn pending() -> usize {
    LIST.with(|l| l.borrow().len())
}

fn take() -> Vec<Item> {
    LIST.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

fn flush(kind: FlushKind, site: &'static Location<'static>) {
    hooks::flush_point(kind, site);
    // Items may defer more: run until the list stays empty, as task_work_run does.
    loop {
        let items = take();
        if items.is_empty() {
            return;
        }
        run_items(items, site);
    }
}

fn run_items(items: Vec<Item>, site: &'static Location<'static>) {
    for Item {
        site: class,
        meta,
        run,
    } in items
    {
        let obj = meta.get(class, ObjKind::Deferred);
        hooks::run_begin(obj, site);
        run();
        hooks::run_end(obj, site);
    }
}

/// A thread that runs deferred lists handed to it (the block layer's rescuer): a thread about
/// to block on something its own deferred items may be needed for hands them over first, with
/// [`Rescuer::transfer`]. Dropping it joins the thread after the lists sent so far ran.
pub struct Rescuer {
    tx: Option<std::sync::mpsc::Sender<(Vec<Item>, &'static Location<'static>)>>,
    thread: ThreadId,
    handle: Option<crate::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Rescuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rescuer")
            .field("thread", &self.thread)
            .finish()
    }
}

impl Rescuer {
    /// Starts the rescuer thread, named `name`; its class is the call site.
    #[track_caller]
    pub fn new(name: &str) -> Rescuer {
        // An uninstrumented channel: the validator sees the hand-over as the transfer op.
        let (tx, rx) = std::sync::mpsc::channel::<(Vec<Item>, &'static Location<'static>)>();
        let handle = crate::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                for (items, site) in rx {
                    run_items(items, site);
                }
            })
            .expect("failed to spawn the rescuer thread");
        Rescuer {
            tx: Some(tx),
            thread: handle.validator_id(),
            handle: Some(handle),
        }
    }

    /// Hands the calling thread's deferred list to the rescuer, which runs it: the calling
    /// thread no longer owes what the items produce.
    #[track_caller]
    pub fn transfer(&self) {
        let site = Location::caller();
        if self.thread.0 != u32::MAX {
            hooks::flush_point(FlushKind::Transfer(self.thread), site);
        }
        let items = take();
        if let Some(tx) = &self.tx
            && !items.is_empty()
        {
            // The thread only ends when `self` drops: the send cannot fail.
            let _ = tx.send((items, site));
        }
    }
}

impl Drop for Rescuer {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
