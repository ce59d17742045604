//! Reports leave the validator only after its lock is released: an op collects what it
//! raised while it holds the lock, then each report goes to the capture scope, the handler
//! and the policy, which may use lockdep primitives themselves (and so take the lock again).

/// What an op raised: the entries of the report log past its length before the op, read
/// under the same hold of the validator's lock as the op itself (so two threads' ops never
/// take each other's reports, and none is taken twice).
pub(crate) fn raised<R: Clone>(log: &[R], before: usize) -> Vec<R> {
    log.get(before..).map_or_else(Vec::new, <[R]>::to_vec)
}

/// Delivers each report (after the lock is released); returns the panic messages joined, if
/// the policy is to panic: every report of the op is delivered before the one panic.
pub(crate) fn deliver_all<R>(
    reports: Vec<R>,
    mut deliver: impl FnMut(R) -> Option<String>,
) -> Option<String> {
    let mut panic_msg: Option<String> = None;
    for r in reports {
        if let Some(m) = deliver(r) {
            match &mut panic_msg {
                Some(all) => all.push_str(&m),
                None => panic_msg = Some(m),
            }
        }
    }
    panic_msg
}
