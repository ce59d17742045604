//! An object's id, made on first use by whichever thread gets there first.

use super::sync::{AtomicU32, Ordering};

/// The id in `slot` (`0`: none yet, else id + 1). On first use `declare` makes one; if another
/// thread stored its own first, ours is given back with `undo` and theirs returned, so every
/// thread sees one id and the registry keeps exactly one object.
#[inline]
pub(crate) fn get_or_declare(
    slot: &AtomicU32,
    declare: impl FnOnce() -> u32,
    undo: impl FnOnce(u32),
) -> u32 {
    let v = slot.load(Ordering::Acquire);
    if v != 0 {
        return v - 1;
    }
    let id = declare();
    match slot.compare_exchange(0, id + 1, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => id,
        Err(other) => {
            undo(id);
            other - 1
        }
    }
}
