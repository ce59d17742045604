//! Runs the seed examples (`examples/seeds.rs`) under validation and checks them against the
//! scenarios that model the same bugs, live and through a recorded trace.

use std::sync::{Arc, Mutex};

use lockdep::Report;

#[path = "../../examples/seeds.rs"]
mod seeds;

/// The scenario files of each seed's buggy and fixed variants, in `seeds::SEEDS` order.
const SCENARIOS: [(&str, &str); 4] = [
    ("seed-a-dio-caller-comp", "seed-a-fixed"),
    ("seed-b-netfs", "seed-b-fixed"),
    ("seed-c-end-io-in-irq", "seed-c-fixed"),
    ("seed-d-dm-snapshot", "seed-d-fixed"),
];

fn scenario(name: &str) -> lockdep_trace::Header {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../scenarios")
        .join(format!("{name}.jsonl"));
    let (_, checked) = lockdep_trace::check_file(&path).expect("the scenario reads");
    checked.header.expect("the scenario has a header")
}

/// Runs every seed (buggy or fixed) with recording on; checks each one's live reports
/// against its scenario's expectations, then replays the recorded trace and checks it gives
/// the same report signatures. (Recording is process-wide: one test per binary.)
pub fn run_all(fixed: bool) {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    let path = std::env::temp_dir().join(format!(
        "lockdep-seeds-{}-{}.jsonl",
        if fixed { "fixed" } else { "buggy" },
        std::process::id()
    ));
    lockdep::record_to(&path).expect("record");
    let seen: Arc<Mutex<Vec<Report>>> = Arc::default();
    let s2 = seen.clone();
    lockdep::set_handler(move |r| s2.lock().unwrap().push(r.clone()));
    let mut live = Vec::new();
    for ((name, seed), (buggy, good)) in seeds::SEEDS.into_iter().zip(SCENARIOS) {
        let before = seen.lock().unwrap().len();
        seed(fixed);
        let reports: Vec<Report> = seen.lock().unwrap()[before..].to_vec();
        let header = scenario(if fixed { good } else { buggy });
        if let Err(e) = lockdep_trace::check_expectations(&header, &reports) {
            panic!(
                "seed {name} ({}): {e}\nreports: {:#?}",
                if fixed { "fixed" } else { "buggy" },
                reports.iter().map(|r| &r.title).collect::<Vec<_>>()
            );
        }
        if fixed {
            assert!(reports.is_empty(), "seed {name} fixed: {reports:#?}");
        } else {
            assert!(!reports.is_empty(), "seed {name}: not reported");
        }
        live.extend(reports);
    }
    // The trace of the run gives the same reports through `lockdep check`'s reader.
    let text = std::fs::read_to_string(&path).expect("trace written");
    assert_eq!(
        crate::support::replayed_signatures("seeds.jsonl", &text),
        crate::support::signatures(&live),
        "replayed vs live signatures\n{text}"
    );
    let _ = std::fs::remove_file(&path);
}
