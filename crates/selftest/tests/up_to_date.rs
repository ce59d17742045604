//! The committed scenario files in `tests/selftest/` are exactly what the table renders: same
//! names, same bytes, no extra `*.jsonl` file; and the README's per-family counts are current.
//! Regenerate with `cargo run -p lockdep-selftest --bin selftest-gen`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;

use lockdep_selftest::{Case, Op, cases, family_counts, render};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/selftest")
}

#[test]
fn at_least_300_cases_with_unique_lowercase_names() {
    let all = cases();
    assert!(all.len() >= 300, "only {} cases", all.len());
    let mut seen = BTreeSet::new();
    for c in &all {
        assert!(seen.insert(c.name.as_str()), "duplicate name {}", c.name);
        assert!(c.name.starts_with("st-"), "{}", c.name);
        assert!(
            c.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "name not lowercase: {}",
            c.name
        );
    }
}

#[test]
fn files_match_the_table() {
    let dir = dir();
    let rendered: BTreeMap<String, String> = cases()
        .iter()
        .map(|c| (format!("{}.jsonl", c.name), render(c)))
        .collect();
    let mut on_disk = BTreeSet::new();
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            on_disk.insert(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    let extra: Vec<&String> = on_disk
        .iter()
        .filter(|f| !rendered.contains_key(*f))
        .collect();
    assert!(extra.is_empty(), "stale files (regenerate): {extra:?}");
    for (file, text) in &rendered {
        let path = dir.join(file);
        let disk = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{} (regenerate): {e}", path.display()));
        assert!(disk == *text, "{file} differs from the table (regenerate)");
    }
}

#[test]
fn readme_counts_are_current() {
    let path = dir().join("README.md");
    let readme = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let all = cases();
    for (family, n) in family_counts(&all) {
        let row = format!("| `{family}` | {n} |");
        assert!(readme.contains(&row), "README.md lacks the row {row}");
    }
    let total = format!("| **total** | **{}** |", all.len());
    assert!(readme.contains(&total), "README.md lacks the row {total}");
}

/// Every line is JSON, every lock used is declared, classes in `expect` are declared classes
/// (or might_sleep sites), and releases match holds except where a bad unlock is the point.
#[test]
fn cases_are_well_formed() {
    for c in cases() {
        let text = render(&c);
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: bad JSON {line}: {e}", c.name));
            assert!(v.is_object(), "{}: {line}", c.name);
        }
        check_holds(&c);
    }
}

fn check_holds(c: &Case) {
    let ids: BTreeSet<&str> = c.locks.iter().map(|l| l.id.as_str()).collect();
    let mut classes: BTreeSet<String> = c.locks.iter().map(|l| l.class.clone()).collect();
    let mut held: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut bad_unlocks = 0;
    for op in &c.ops {
        match op {
            Op::Acquire {
                thread,
                lock,
                nest_lock,
                ..
            } => {
                assert!(ids.contains(lock.as_str()), "{}: undeclared {lock}", c.name);
                if let Some(n) = nest_lock {
                    assert!(ids.contains(n.as_str()), "{}: undeclared {n}", c.name);
                }
                held.entry(thread).or_default().push(lock);
            }
            Op::Release { thread, lock } => {
                let stack = held.entry(thread).or_default();
                match stack.iter().rposition(|l| l == lock) {
                    Some(i) => {
                        stack.remove(i);
                    }
                    None => bad_unlocks += 1,
                }
            }
            Op::Free { object, .. } => {
                assert!(
                    ids.contains(object.as_str()),
                    "{}: undeclared {object}",
                    c.name
                );
            }
            Op::MightSleep { site, .. } => {
                classes.insert(site.clone().unwrap_or_else(|| "might_sleep".to_owned()));
            }
            _ => {}
        }
    }
    let expects_bad_unlock = c.expect.iter().any(|e| e.kind.as_str() == "bad_unlock");
    assert_eq!(
        bad_unlocks > 0,
        expects_bad_unlock,
        "{}: unmatched releases",
        c.name
    );
    for e in &c.expect {
        for cl in &e.classes {
            assert!(classes.contains(cl), "{}: unknown class {cl}", c.name);
        }
    }
}
