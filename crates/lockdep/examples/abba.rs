//! Two threads take two locks in opposite orders. They run one after the other, so this run
//! never deadlocks, but lockdep reports the deadlock another interleaving would hit.
//!
//! `cargo run -p lockdep --example abba`

use std::sync::Arc;
use std::thread;

use lockdep::Mutex;

struct Bank {
    accounts: Mutex<Vec<u64>>,
    audit_log: Mutex<Vec<String>>,
}

fn main() {
    let bank = Arc::new(Bank {
        accounts: Mutex::new(vec![100, 50]),
        audit_log: Mutex::new(Vec::new()),
    });

    // The transfer path: accounts, then the audit log.
    let b = bank.clone();
    thread::Builder::new()
        .name("transfer".into())
        .spawn(move || {
            let mut acc = b.accounts.lock();
            acc[0] -= 10;
            acc[1] += 10;
            b.audit_log.lock().push("transfer 10".into());
        })
        .unwrap()
        .join()
        .unwrap();

    // The audit path: the log, then the accounts. Had it run while "transfer" held the
    // accounts, each thread would wait for the other forever.
    thread::Builder::new()
        .name("audit".into())
        .spawn(move || {
            let log = bank.audit_log.lock();
            let total: u64 = bank.accounts.lock().iter().sum();
            println!("audited {} entries, total {total}", log.len());
        })
        .unwrap()
        .join()
        .unwrap();
    println!("the run completed; lockdep's report is above (stderr)");
}
