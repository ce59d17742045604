//! The watchdog on a real hang: a child process (this test binary again) deadlocks for real
//! with `LOCKDEP_WATCHDOG` set; the parent reads the child's stderr until the hang report
//! arrives, then kills it, so the suite never hangs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use lockdep::{Mutex, class};

const CHILD: &str = "LOCKDEP_TEST_WATCHDOG_CHILD";

/// Two threads take two locks in opposite orders, in lock step: a real deadlock.
fn deadlock() {
    let a = Arc::new(Mutex::with_class((), class!("wd.A")));
    let b = Arc::new(Mutex::with_class((), class!("wd.B")));
    let both = Arc::new(Barrier::new(2));
    let spawn = |name: &str, first: Arc<Mutex<()>>, second: Arc<Mutex<()>>| {
        let both = both.clone();
        lockdep::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let _g1 = first.lock();
                both.wait();
                let _g2 = second.lock();
            })
            .unwrap()
    };
    let left = spawn("left", a.clone(), b.clone());
    let right = spawn("right", b, a);
    left.join().unwrap();
    right.join().unwrap();
}

#[test]
fn a_real_hang_is_reported_with_every_thread_its_locks_and_its_wait() {
    if !lockdep::ENABLED {
        return; // validation is compiled away in this build
    }
    if std::env::var_os(CHILD).is_some() {
        deadlock();
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_real_hang_is_reported_with_every_thread_its_locks_and_its_wait",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("LOCKDEP_WATCHDOG", "0.3")
        .env("LOCKDEP_BACKTRACE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Read until the hang report is complete (its held-locks section ends it) or 60 s pass.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut text = String::new();
    let mut in_hang = false;
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        in_hang |= line.contains("hung threads detected");
        text.push_str(&line);
        text.push('\n');
        if in_hang && (line.starts_with("no locks held") || line.contains("locks held by")) {
            // The held section is the last part; give it a moment to be complete.
            std::thread::sleep(Duration::from_millis(100));
            while let Ok(l) = rx.try_recv() {
                text.push_str(&l);
                text.push('\n');
            }
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let hang = text
        .split("hung threads detected")
        .nth(1)
        .unwrap_or_else(|| panic!("no hang report in the child's stderr:\n{text}"));
    // The potential deadlock was reported too, before the threads blocked.
    assert!(
        text.contains("possible circular locking dependency"),
        "{text}"
    );
    // Every thread, what it holds, what it waits for and who holds that.
    for want in [
        "left: holds wd.A (write)",
        "waits for lock wd.B (write) (held by right)",
        "right: holds wd.B (write)",
        "waits for lock wd.A (write) (held by left)",
        "waits for thread left to exit",
    ] {
        assert!(hang.contains(want), "missing {want:?} in:\n{hang}");
    }
}
