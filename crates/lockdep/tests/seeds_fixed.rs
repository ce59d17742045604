//! The four seed examples, fixed: silent, live and in their recorded trace.

mod seeds_common;
mod support;

#[test]
fn fixed_seeds_are_silent_live_and_in_their_trace() {
    seeds_common::run_all(true);
}
