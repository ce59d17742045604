//! The four seed examples, buggy: each is reported as its scenario expects, and the recorded
//! run replays to the same reports. (Own binary: recording is process-wide.)

mod seeds_common;
mod support;

#[test]
fn buggy_seeds_are_reported_live_and_in_their_trace() {
    seeds_common::run_all(false);
}
