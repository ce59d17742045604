//! The lockdep engine: lock classes, per-thread held stacks, a typed dependency graph, the
//! cycle, recursion, context and irq-usage checks, and reports as data.
//!
//! The engine is pure: no I/O, no global state, no `unsafe`. Feed it [`Event`]s with
//! [`Engine::apply`]; read findings from [`Engine::reports`]. The trace crate parses files into
//! events and the runtime crate produces them live; both go through the same `apply`.
//!
//! ```
//! use lockdep_core::{Engine, Event, Kind, Mode, ObjDecl, ObjId, ObjKind, Op, ThreadId};
//! let mut e = Engine::new();
//! let (a, b) = (e.intern("A"), e.intern("B"));
//! e.apply(&Op::New { obj: ObjId(0), decl: ObjDecl::new(ObjKind::Mutex, a) }.into()).unwrap();
//! e.apply(&Op::New { obj: ObjId(1), decl: ObjDecl::new(ObjKind::Mutex, b) }.into()).unwrap();
//! let lock = |t, l| Event::from(Op::Acquire {
//!     thread: ThreadId(t), lock: ObjId(l), mode: Mode::Write, try_: false,
//!     subclass: None, nest_lock: None, check: true });
//! let unlock = |t, l| Event::from(Op::Release { thread: ThreadId(t), lock: ObjId(l) });
//! for ev in [lock(1, 0), lock(1, 1), unlock(1, 1), unlock(1, 0),
//!            lock(2, 1), lock(2, 0), unlock(2, 0), unlock(2, 1)] {
//!     e.apply(&ev).unwrap();
//! }
//! assert_eq!(e.reports()[0].kind, Kind::Circular);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod engine;
pub mod graph;
mod op;
mod render;
mod report;
pub mod usage;

pub use engine::{Engine, EngineError, KnownChain, Stats, ThreadHeld, mix};
pub use op::{
    Context, Event, FlushKind, Mode, NameId, ObjDecl, ObjId, ObjKind, Op, Produce, SiteId, StackId,
    ThreadId,
};
pub use render::render_text;
pub use report::{EdgeReport, HeldReport, Kind, NodeKind, Report, Severity, signature};
