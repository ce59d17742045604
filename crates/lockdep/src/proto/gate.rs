//! The process-wide gate word of the fast paths: low bits (recording, policy off) set and
//! cleared by whoever changes them, the rest a count the validator publishes after its slow
//! ops. Neither may lose the other's update, or a fast path would stay on while recording.

use super::sync::{AtomicU64, Ordering};

/// The low bits (flags); the count is stored above them.
pub(crate) const FLAGS: u64 = 0b11;

/// Sets or clears a flag bit.
pub(crate) fn set_flag(gate: &AtomicU64, bit: u64, on: bool) {
    if on {
        gate.fetch_or(bit, Ordering::Relaxed);
    } else {
        gate.fetch_and(!bit, Ordering::Relaxed);
    }
}

/// Publishes count `n`, keeping the flags as they are; returns the word now in the gate.
pub(crate) fn publish(gate: &AtomicU64, n: u64) -> u64 {
    let mut g = gate.load(Ordering::Relaxed);
    while g >> 2 != n {
        match gate.compare_exchange_weak(
            g,
            g & FLAGS | n << 2,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return g & FLAGS | n << 2,
            Err(now) => g = now,
        }
    }
    g
}
