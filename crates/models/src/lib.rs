//! loom models of the runtime's lock-free protocols. The protocol source is the runtime's
//! own (`crates/lockdep/src/proto/*.rs`, included by path and compiled here against loom's
//! atomics); each model states its invariant and is also run on a copy with one seeded bug,
//! which it must catch. The models are this crate's unit tests (the protocol items are
//! `pub(crate)` in the runtime): `cargo test -p lockdep-models` runs them.

// Outside the tests nothing here is used.
#![cfg_attr(not(test), allow(dead_code))]

/// The atomics facade the protocol files import as `super::sync`.
pub mod sync {
    pub use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
}

// The runtime's protocols, verbatim (each imports `super::sync`, here the loom facade).
#[path = "../../lockdep/src/proto/cell.rs"]
pub mod cell;
#[path = "../../lockdep/src/proto/deliver.rs"]
pub mod deliver;
#[path = "../../lockdep/src/proto/gate.rs"]
pub mod gate;
#[path = "../../lockdep/src/proto/registry.rs"]
pub mod registry;

#[cfg(test)]
mod models;

/// Runs `model` under loom and returns whether it failed (panicked), with loom's output
/// silenced: for the seeded-bug runs, which must fail.
#[cfg(test)]
fn fails(model: impl Fn() + Sync + Send + 'static) -> bool {
    // The panic hook is process-wide: one seeded-bug run at a time.
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let failed =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loom::model(model))).is_err();
    std::panic::set_hook(hook);
    failed
}
