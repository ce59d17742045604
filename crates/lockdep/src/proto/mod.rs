//! The runtime's lock-free protocols, each written once against an atomics facade
//! ([`sync`]) so that the same source is compiled here with std's atomics and model-checked
//! with loom's by `crates/models` (which includes these files by path). Each function is the
//! whole protocol its caller relies on; callers add only what is thread-local.

/// The atomics the protocols use (std's here, loom's in the models).
pub(crate) mod sync {
    pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
}

pub(crate) mod cell;
pub(crate) mod deliver;
pub(crate) mod gate;
pub(crate) mod registry;
