//! The event fast path's per-node word (see `fast.rs`): *known* and *open* bits, the id + 1
//! of the thread whose signal was last, and, while the engine has not been told of that
//! signal, its position (the signaller's latest op the engine saw, + 1). Slow ops on the
//! object close the word, hand over a pending signal and settle it again, all under the
//! validator's lock; fast signals compare-exchange it, so a signal is either handed over
//! exactly once or replaced by a later fast signal (the engine keeps only the last signal of a
//! node anyway), never lost in a slow op's window.

use super::sync::{AtomicU64, Ordering};

/// The engine knows the node.
pub(crate) const KNOWN: u64 = 1 << 63;
/// No waiter the engine may count as waiting.
pub(crate) const OPEN: u64 = 1 << 62;
const TID_SHIFT: u32 = 44;
/// Largest thread id + 1 a word can hold.
pub(crate) const TID_MAX: u64 = (1 << 18) - 1;
/// Largest op position + 1 a word can hold.
pub(crate) const SEQ_MAX: u64 = (1 << TID_SHIFT) - 1;

/// The word a skipped signal by thread `tid` (id + 1) right after its op `seq` leaves.
pub(crate) fn skipped(tid: u64, seq: u64) -> u64 {
    KNOWN | OPEN | tid << TID_SHIFT | (seq + 1)
}

/// The id + 1 of the node's last signaller (0: none).
pub(crate) fn last(c: u64) -> u64 {
    c >> TID_SHIFT & TID_MAX
}

/// The signal the engine has not been told of: (signaller's id + 1, its op position).
pub(crate) fn pending(c: u64) -> Option<(u64, u64)> {
    let p = c & SEQ_MAX;
    (p != 0).then(|| (last(c), p - 1))
}

/// A fast signal leaving `new` (a [`skipped`] word). True: done, the word holds it. False:
/// the op must go the slow way. `validated` (the thread's own check that the engine would add
/// nothing) is asked only when the word must change: a repeat since the thread's latest slow
/// op finds its own word and writes nothing.
#[inline(always)]
pub(crate) fn signal(cell: &AtomicU64, new: u64, validated: impl FnOnce() -> bool) -> bool {
    let c = cell.load(Ordering::Acquire);
    if c == new {
        return true;
    }
    if c & OPEN == 0 || !validated() {
        return false;
    }
    cell.compare_exchange(c, new, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
}

/// Whether the node's last signal is thread `tid`'s (id + 1) own.
#[inline(always)]
pub(crate) fn observes(cell: &AtomicU64, tid: u64) -> bool {
    let c = cell.load(Ordering::Acquire);
    tid != 0 && c & KNOWN != 0 && last(c) == tid
}

/// Whether the engine knows the node.
#[inline(always)]
pub(crate) fn known(cell: &AtomicU64) -> bool {
    cell.load(Ordering::Acquire) & KNOWN != 0
}

/// First thing in a slow op on the object: closes the word to fast signals and returns it
/// (its pending signal, if any, is the caller's to hand over, now).
pub(crate) fn close(cell: &AtomicU64) -> u64 {
    cell.swap(0, Ordering::AcqRel)
}

/// Last thing in a slow op: what the engine now knows. `signaller`: the op's thread (id + 1)
/// if it signalled this node, else the last signaller stays `prev`'s.
pub(crate) fn settle(cell: &AtomicU64, prev: u64, signaller: Option<u64>, known: bool, open: bool) {
    let last = match signaller {
        Some(t) if t <= TID_MAX => t,
        Some(_) => 0,
        None => last(prev),
    };
    let mut c = last << TID_SHIFT;
    if known {
        c |= KNOWN;
        if open {
            c |= OPEN;
        }
    }
    cell.store(c, Ordering::Release);
}
