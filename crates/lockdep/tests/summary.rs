//! `LOCKDEP_REPORT_DIR` and the end-of-process summary, in a child process (this test binary
//! again): the summary is printed when the process exits.

use std::process::Command;

use lockdep::{Mutex, class};

const CHILD: &str = "LOCKDEP_TEST_SUMMARY_CHILD";

#[test]
fn reports_go_to_the_report_dir_and_the_process_ends_with_a_summary() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    if std::env::var_os(CHILD).is_some() {
        let (a, b) = (
            Mutex::with_class((), class!("sum.A")),
            Mutex::with_class((), class!("sum.B")),
        );
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        let _b = b.lock();
        let _a = a.lock();
        return;
    }
    let dir = std::env::temp_dir().join(format!("lockdep-report-dir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "reports_go_to_the_report_dir_and_the_process_ends_with_a_summary",
        ])
        .env(CHILD, "1")
        .env("LOCKDEP_REPORT_DIR", &dir)
        .env("LOCKDEP_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!(
            "lockdep: 1 report in this process (circular 1); full reports in {}",
            dir.display()
        ),
        "{stderr}"
    );
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let txt = files
        .iter()
        .find(|f| f.ends_with(".txt"))
        .expect("text report");
    assert!(txt.contains("circular-"), "{files:?}");
    let text = std::fs::read_to_string(dir.join(txt)).unwrap();
    assert!(
        text.contains("possible circular locking dependency"),
        "{text}"
    );
    let jsonl = files
        .iter()
        .find(|f| f.ends_with(".jsonl"))
        .expect("json reports");
    let json = std::fs::read_to_string(dir.join(jsonl)).unwrap();
    assert_eq!(json.lines().count(), 1);
    assert!(json.contains("\"kind\":\"circular\""), "{json}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_clean_process_prints_no_summary() {
    if !lockdep::ENABLED || std::env::var_os(CHILD).is_some() {
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_clean_process_prints_no_summary"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("lockdep:"));
}
