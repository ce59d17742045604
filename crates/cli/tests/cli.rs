//! The `lockdep` binary on the scenario corpus (`--format json`, exit codes) and on bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

use lockdep_trace::{Expect, Header, Replayer};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn lockdep(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lockdep"))
        .args(args)
        .output()
        .expect("run lockdep");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8(out.stderr).expect("utf-8 stderr"),
    )
}

#[path = "../../../tests/support/skip_list.rs"]
mod skip_list;
use skip_list::skip_list;

fn matches(e: &Expect, kind: &str, classes: &[String]) -> bool {
    if !e.kinds.iter().any(|k| k == kind) {
        return false;
    }
    e.classes.as_ref().is_none_or(|want| {
        let mut a: Vec<&String> = want.iter().collect();
        let mut b: Vec<&String> = classes.iter().collect();
        a.sort();
        a.dedup();
        b.sort();
        b.dedup();
        a == b
    })
}

fn header_of(path: &Path) -> Header {
    let first = std::fs::read_to_string(path).unwrap();
    let line = first.lines().next().unwrap();
    let mut r = Replayer::new();
    r.read("header", line.as_bytes())
        .unwrap()
        .header
        .expect("header")
}

fn check_dir(dir: &Path, skip: &[&str]) -> usize {
    let mut n = 0;
    let mut failures = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    paths.sort();
    for path in paths {
        let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let (code, stdout, stderr) =
            lockdep(&["check", "--format", "json", path.to_str().unwrap()]);
        if skip.contains(&stem.as_str()) {
            continue;
        }
        n += 1;
        let header = header_of(&path);
        let expect = header.expect.clone().unwrap_or_default();
        let mut errors = Vec::new();
        for line in stdout.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
            for field in ["kind", "severity", "classes", "signature", "title"] {
                assert!(
                    v.get(field).is_some(),
                    "{stem}: report without {field}: {line}"
                );
            }
            if v["severity"] == "error" {
                let classes: Vec<String> = v["classes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_str().unwrap().to_owned())
                    .collect();
                errors.push((v["kind"].as_str().unwrap().to_owned(), classes));
            }
        }
        let want_code = if errors.is_empty() { 0 } else { 1 };
        if code != want_code {
            failures.push(format!(
                "{stem}: exit {code}, expected {want_code}; stderr {stderr}"
            ));
        }
        for e in &expect {
            if !errors.iter().any(|(k, c)| matches(e, k, c)) {
                failures.push(format!("{stem}: missing {:?}", e));
            }
        }
        for (k, c) in &errors {
            if !expect.iter().any(|e| matches(e, k, c)) && !header.allow.contains(k) {
                failures.push(format!("{stem}: unexpected {k} {c:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    n
}

#[test]
fn corpus_through_the_binary() {
    let skip = skip_list();
    let skip: Vec<&str> = skip.iter().map(String::as_str).collect();
    let n = check_dir(&root().join("scenarios"), &skip);
    let total = std::fs::read_dir(root().join("scenarios")).unwrap().count();
    assert_eq!(n, total - skip.len());
}

#[test]
fn own_scenarios_through_the_binary() {
    assert!(check_dir(&root().join("tests/scenarios"), &[]) > 20);
}

fn write_tmp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lockdep-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn input_errors_are_file_line_and_exit_2() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "notjson",
            "{\"op\":\"acquire\",\"thread\":\"T\",\"lock\":\"A\"}\nnot json\n",
            ":2: not valid JSON",
        ),
        (
            "unknown-op",
            "{\"op\":\"lock\",\"thread\":\"T\"}\n",
            ":1: unknown op \"lock\"",
        ),
        (
            "missing-field",
            "{\"op\":\"acquire\",\"thread\":\"T\"}\n",
            ":1: op \"acquire\" needs field \"lock\"",
        ),
        (
            "bad-type",
            "{\"op\":\"acquire\",\"thread\":\"T\",\"lock\":\"A\",\"try\":\"yes\"}\n",
            ":1: invalid type",
        ),
        (
            "bad-mode",
            "{\"op\":\"acquire\",\"thread\":\"T\",\"lock\":\"A\",\"mode\":\"shared\"}\n",
            ":1: unknown mode \"shared\"",
        ),
        (
            "bad-version",
            "{\"lockdep_trace\":2}\n",
            ":1: unsupported trace version 2",
        ),
        (
            "negative-id",
            "{\"op\":\"exit\",\"thread\":-1}\n",
            ":1: identifier -1 is negative",
        ),
        (
            "unknown-field",
            "{\"op\":\"exit\",\"thread\":\"T\",\"thraed\":1}\n",
            ":1: unknown field `thraed`",
        ),
        (
            "no-op",
            "\n# comment\n{\"thread\":\"T\"}\n",
            ":3: line has no \"op\"",
        ),
        (
            "not-a-lock",
            "{\"op\":\"new\",\"id\":\"C\",\"type\":\"completion\"}\n{\"op\":\"acquire\",\"thread\":\"T\",\"lock\":\"C\"}\n",
            ":2: acquire of a completion, which is not a lock",
        ),
        (
            "leave",
            "{\"op\":\"leave\",\"thread\":\"T\",\"context\":\"hardirq\"}\n",
            ":1: leave hardirq without a matching enter",
        ),
        (
            "subclass",
            "{\"op\":\"acquire\",\"thread\":\"T\",\"lock\":\"A\",\"subclass\":9}\n",
            ":1: subclass 9 out of range",
        ),
        (
            "event-on-lock",
            "{\"op\":\"acquire\",\"thread\":\"T\",\"lock\":\"A\"}\n{\"op\":\"wait\",\"thread\":\"T\",\"event\":\"A\"}\n",
            ":2: the object is a mutex, a lock: it has no done event",
        ),
    ];
    for (name, text, want) in cases {
        let p = write_tmp(&format!("{name}.jsonl"), text);
        let (code, _out, err) = lockdep(&["check", p.to_str().unwrap()]);
        if want.is_empty() {
            assert!(code == 0 || code == 2, "{name}: exit {code}");
            continue;
        }
        assert_eq!(code, 2, "{name}: {err}");
        assert!(
            err.contains(&format!("{}{want}", p.display())),
            "{name}: stderr was {err:?}"
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn invalid_utf8_is_an_input_error() {
    let dir = std::env::temp_dir().join(format!("lockdep-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("utf8.jsonl");
    std::fs::write(
        &p,
        b"{\"op\":\"exit\",\"thread\":\"T\"}\n{\"op\":\"exit\",\"thread\":\"\xff\xfe\"}\n",
    )
    .unwrap();
    let (code, _, err) = lockdep(&["check", p.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("utf8.jsonl:2: "), "{err}");
}

#[test]
fn reports_before_an_input_error_are_kept_and_2_wins() {
    let p = write_tmp(
        "partial.jsonl",
        "{\"op\":\"acquire\",\"thread\":\"T\",\"lock\":\"A\"}\n{\"op\":\"acquire\",\"thread\":\"T\",\"lock\":\"A\"}\n{\"op\":\"bogus\",\"thread\":\"T\"}\n",
    );
    let (code, out, err) = lockdep(&["check", "--format", "json", p.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(out.contains("\"recursive\""), "{out}");
    assert!(err.contains(":3: unknown op"), "{err}");
}

#[test]
fn missing_file_and_usage_errors_exit_2() {
    let (code, _, err) = lockdep(&["check", "/nonexistent/trace.jsonl"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("/nonexistent/trace.jsonl: cannot open"),
        "{err}"
    );
    let (code, _, _) = lockdep(&["check"]);
    assert_eq!(code, 2);
    let (code, _, _) = lockdep(&["frobnicate"]);
    assert_eq!(code, 2);
}

#[test]
fn text_report_has_lockdep_sections() {
    let path = root().join("scenarios/seed-b-netfs.jsonl");
    let (code, out, _) = lockdep(&["check", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    for needle in [
        "possible circular locking dependency detected",
        "the existing dependency chain (in reverse order) is:",
        "Possible unsafe locking scenario:",
        "Chain exists of:",
        "*** DEADLOCK ***",
        "2 locks held by F:",
        "CPU0 (F)",
        "-> #2",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
}

#[test]
fn merge_validates_files_in_one_engine() {
    let a = write_tmp(
        "a.jsonl",
        "{\"op\":\"acquire\",\"thread\":\"T1\",\"lock\":\"A\"}\n{\"op\":\"acquire\",\"thread\":\"T1\",\"lock\":\"B\"}\n{\"op\":\"release\",\"thread\":\"T1\",\"lock\":\"B\"}\n{\"op\":\"release\",\"thread\":\"T1\",\"lock\":\"A\"}\n",
    );
    let b = write_tmp(
        "b.jsonl",
        "{\"op\":\"acquire\",\"thread\":\"T1\",\"lock\":\"B\"}\n{\"op\":\"acquire\",\"thread\":\"T1\",\"lock\":\"A\"}\n{\"op\":\"release\",\"thread\":\"T1\",\"lock\":\"A\"}\n{\"op\":\"release\",\"thread\":\"T1\",\"lock\":\"B\"}\n",
    );
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let (code, out, _) = lockdep(&["check", "--format", "json", a, b]);
    assert_eq!(
        (code, out.as_str()),
        (0, ""),
        "separately, each file is clean"
    );
    let (code, out, _) = lockdep(&["check", "--format", "json", "--merge", a, b]);
    assert_eq!(code, 1);
    assert!(out.contains("\"circular\""), "{out}");
}

/// `lockdep graph`: every edge of every reported cycle is drawn and highlighted (red for an
/// error), `--cycles-only` keeps just those, and a missing file is exit 2.
#[test]
fn graph_highlights_every_reported_cycle_edge() {
    for name in [
        "seed-a-dio-caller-comp",
        "seed-b-netfs",
        "seed-d-dm-snapshot",
        "lock-abbcca-mutex",
    ] {
        let path = root().join("scenarios").join(format!("{name}.jsonl"));
        let path = path.to_str().unwrap();
        let (code, dot, err) = lockdep(&["graph", path]);
        assert_eq!(code, 0, "{err}");
        assert!(dot.starts_with("digraph lockdep {") && dot.trim_end().ends_with('}'));
        let mut cycle_edges = 0;
        for (from, to) in report_edges(path) {
            let drawn = format!("\"{from}\" -> \"{to}\" [");
            let line = dot
                .lines()
                .find(|l| l.trim_start().starts_with(&drawn))
                .unwrap_or_else(|| panic!("{name}: edge {drawn} not drawn:\n{dot}"));
            assert!(
                line.contains("color=red"),
                "{name}: not highlighted: {line}"
            );
            cycle_edges += 1;
        }
        assert!(cycle_edges >= 2, "{name}: the scenario reports a cycle");
        let (_, only, _) = lockdep(&["graph", "--cycles-only", path]);
        let drawn_edges = only.lines().filter(|l| l.contains(" -> ")).count();
        assert!(drawn_edges > 0);
        assert!(
            only.lines()
                .filter(|l| l.contains(" -> "))
                .all(|l| l.contains("color=red") || l.contains("color=orange")),
            "{name}: --cycles-only drew an edge of no cycle:\n{only}"
        );
    }
    let (code, _, err) = lockdep(&["graph", "no/such/file.jsonl"]);
    assert_eq!(code, 2);
    assert!(err.contains("no/such/file.jsonl"), "{err}");
}

/// Colour only when asked (or on a terminal): piped output, as in these tests, is plain.
#[test]
fn text_reports_are_plain_when_piped_and_coloured_on_request() {
    let path = root().join("scenarios/seed-b-netfs.jsonl");
    let path = path.to_str().unwrap();
    let (code, plain, _) = lockdep(&["check", path]);
    assert_eq!(code, 1);
    assert!(!plain.contains('\x1b'), "piped output has escapes");
    let (code, coloured, _) = lockdep(&["check", "--color", "always", path]);
    assert_eq!(code, 1);
    assert!(coloured.contains("\x1b[1;31mERROR: possible circular locking dependency"));
    // Same text once the escapes are gone.
    let stripped = coloured
        .replace("\x1b[1;31m", "")
        .replace("\x1b[1;33m", "")
        .replace("\x1b[36m", "")
        .replace("\x1b[2m", "")
        .replace("\x1b[0m", "");
    assert_eq!(stripped, plain);
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An attribute's value in an SVG element's text.
fn attr(tag: &str, name: &str) -> f64 {
    let key = format!(" {name}=\"");
    let start = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + key.len();
    let end = start + tag[start..].find('"').unwrap();
    tag[start..end].parse().unwrap()
}

/// The (from, to) node names of every edge of every report of a scenario, as drawn.
fn report_edges(path: &str) -> Vec<(String, String)> {
    let (_, json, _) = lockdep(&["check", "--format", "json", path]);
    let mut out = Vec::new();
    for line in json.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        for e in r["edges"].as_array().unwrap() {
            let node = |label: &str, kind: &str| {
                if kind == "lock" {
                    label.to_owned()
                } else {
                    format!("{kind}({label})")
                }
            };
            out.push((
                node(
                    e["from"].as_str().unwrap(),
                    e["from_node"].as_str().unwrap(),
                ),
                node(e["to"].as_str().unwrap(), e["to_node"].as_str().unwrap()),
            ));
        }
    }
    out
}

/// `lockdep graph --format svg` on the seed scenarios (and a 3-lock cycle): every cycle edge
/// is drawn and highlighted, and no two nodes overlap.
#[test]
fn svg_draws_every_cycle_edge_highlighted_and_no_nodes_overlap() {
    let all: Vec<String> = [
        "seed-a-dio-caller-comp",
        "seed-b-netfs",
        "seed-c-end-io-in-irq",
        "seed-d-dm-snapshot",
        "lock-abbcca-mutex",
    ]
    .iter()
    .map(|n| {
        root()
            .join("scenarios")
            .join(format!("{n}.jsonl"))
            .to_str()
            .unwrap()
            .to_owned()
    })
    .collect();
    // Each alone, then all merged in one picture.
    let mut cases: Vec<Vec<String>> = all.iter().map(|p| vec![p.clone()]).collect();
    cases.push(all.clone());
    for files in cases {
        let mut args = vec!["graph", "--format", "svg"];
        args.extend(files.iter().map(String::as_str));
        let (code, svg, err) = lockdep(&args);
        assert_eq!(code, 0, "{err}");
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        for f in &files {
            for (from, to) in report_edges(f) {
                let tag = format!("data-from=\"{}\" data-to=\"{}\"", xml(&from), xml(&to));
                let line = svg
                    .lines()
                    .find(|l| l.contains(&tag))
                    .unwrap_or_else(|| panic!("{files:?}: edge {from} -> {to} not drawn"));
                assert!(line.contains("class=\"edge hot"), "not highlighted: {line}");
            }
        }
        let rects: Vec<(f64, f64, f64, f64)> = svg
            .lines()
            .filter(|l| l.starts_with("<g class=\"node\""))
            .map(|l| {
                let rect = &l[l.find("<rect").unwrap()..];
                (
                    attr(rect, "x"),
                    attr(rect, "y"),
                    attr(rect, "width"),
                    attr(rect, "height"),
                )
            })
            .collect();
        // (seed c's report, an invalid context, has no edges: an empty picture.)
        assert_eq!(rects.is_empty(), !svg.contains("class=\"edge"), "{files:?}");
        for (i, a) in rects.iter().enumerate() {
            for b in &rects[i + 1..] {
                let apart =
                    a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1;
                assert!(apart, "{files:?}: nodes overlap: {a:?} {b:?}");
            }
        }
    }
    // The HTML page: one section per report with its picture, nothing loaded from outside.
    let mut args = vec!["graph", "--format", "html"];
    args.extend(all.iter().map(String::as_str));
    let (code, html, _) = lockdep(&args);
    assert_eq!(code, 0);
    let (_, json, _) = lockdep(&{
        let mut a = vec!["check", "--merge", "--format", "json"];
        a.extend(all.iter().map(String::as_str));
        a
    });
    let reports = json.lines().count();
    assert_eq!(html.matches("<section id=\"r").count(), reports);
    assert!(html.matches("<svg ").count() >= 2);
    for outside in ["<script", "<link", "src=", "@import"] {
        assert!(
            !html.contains(outside),
            "the page loads something: {outside}"
        );
    }
}

/// `lockdep splat`: text, JSON and the chain as a picture (a cycle over the chain's classes,
/// all highlighted); a file without a report is exit 2.
#[test]
fn splat_outputs_and_errors() {
    let dir = root().join("crates/trace/tests/splats");
    let f001 = dir.join("001_d885107fa6480f8d.txt");
    let f206 = dir.join("206_circular-syzbot-blkdev-get-by-dev.txt");
    let (code, text, _) = lockdep(&["splat", f001.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(
        text.contains("possible deadlock in filemap_fault"),
        "{text}"
    );
    let (code, json, _) = lockdep(&["splat", "--format", "json", f001.to_str().unwrap()]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["kind"], "circular");
    for (f, classes) in [(&f001, 3), (&f206, 8)] {
        let (code, dot, _) = lockdep(&["splat", "--format", "dot", f.to_str().unwrap()]);
        assert_eq!(code, 0);
        let edges: Vec<&str> = dot.lines().filter(|l| l.contains(" -> ")).collect();
        assert_eq!(edges.len(), classes, "{dot}");
        assert!(edges.iter().all(|l| l.contains("color=red")));
        // Every class has one edge out and one in: a single cycle.
        for l in dot.lines().filter(|l| l.contains("[shape=box]")) {
            let name = l.trim().split(" [").next().unwrap();
            assert_eq!(dot.matches(&format!("{name} -> ")).count(), 1, "{name} out");
            assert_eq!(dot.matches(&format!("-> {name} ")).count(), 1, "{name} in");
        }
        let (code, svg, _) = lockdep(&["splat", "--format", "svg", f.to_str().unwrap()]);
        assert_eq!(code, 0);
        assert_eq!(svg.matches("class=\"edge hot error\"").count(), classes);
    }
    let readme = root().join("README.md");
    let (code, _, err) = lockdep(&["splat", readme.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("no lockdep report found"), "{err}");
}
