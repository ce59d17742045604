//! Data-driven test: every scenario file through the engine (via the trace reader), compared
//! with its header's `expect` / `allow`.

use std::path::{Path, PathBuf};

use lockdep_trace::{check_expectations, check_file};

#[path = "../../../tests/support/skip_list.rs"]
mod skip_list;
use skip_list::skip_list;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    v.sort();
    v
}

fn run_dir(dir: &Path, skip: &[&str]) -> (usize, usize) {
    let mut failures = Vec::new();
    let (mut ran, mut skipped) = (0, 0);
    for path in files(dir) {
        let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let outcome = check_file(&path);
        if skip.contains(&stem.as_str()) {
            skipped += 1;
            // A skipped scenario must still be valid input.
            if let Err(e) = &outcome {
                panic!("{stem}: {e}");
            }
            continue;
        }
        ran += 1;
        match outcome {
            Err(e) => failures.push(format!("{stem}: input error: {e}")),
            Ok((r, checked)) => {
                let header = checked
                    .header
                    .unwrap_or_else(|| panic!("{stem}: no header"));
                if let Err(msg) = check_expectations(&header, r.engine.reports()) {
                    failures.push(format!("{stem}: {msg}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} scenarios failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    (ran, skipped)
}

#[test]
fn scenario_corpus() {
    let skip = skip_list();
    let skip: Vec<&str> = skip.iter().map(String::as_str).collect();
    let (ran, skipped) = run_dir(&root().join("scenarios"), &skip);
    assert_eq!(
        skipped,
        skip.len(),
        "every skip-list entry names a scenario file"
    );
    assert!(ran >= 17, "ran {ran}");
}

#[test]
fn own_scenarios() {
    let (ran, _) = run_dir(&root().join("tests/scenarios"), &[]);
    assert!(ran > 0);
}

#[test]
fn selftest_matrix() {
    let dir = root().join("tests/selftest");
    if !dir.exists() {
        panic!("tests/selftest is missing: run `cargo run -p lockdep-selftest`");
    }
    let (ran, _) = run_dir(&dir, &[]);
    assert!(ran >= 300, "ran {ran}");
}

/// The repo's copy of the corpus must equal `../shared/scenarios` when that exists (a fresh
/// clone has no `../shared`; CI has it beside the checkout).
#[test]
fn corpus_copy_matches_shared() {
    let shared = root().join("../shared/scenarios");
    if !shared.exists() {
        eprintln!("no {}: nothing to compare", shared.display());
        return;
    }
    let ours = files(&root().join("scenarios"));
    let theirs = files(&shared);
    let names = |v: &[PathBuf]| {
        v.iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&ours),
        names(&theirs),
        "scenario file lists differ from ../shared/scenarios"
    );
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(
            std::fs::read(a).unwrap(),
            std::fs::read(b).unwrap(),
            "{} differs from ../shared",
            a.display()
        );
    }
}
