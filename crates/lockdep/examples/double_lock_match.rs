//! The classic Rust double lock: a `match` keeps the guard temporary of its scrutinee alive
//! for the whole `match`, so locking again in an arm waits for itself.
//!
//! With `Policy::Panic`, lockdep reports it *before* the second lock blocks, so this example
//! finishes instead of hanging. `cargo run -p lockdep --example double_lock_match`

use lockdep::{Mutex, Policy};

fn bump_if_even(counter: &Mutex<u32>) {
    match *counter.lock() % 2 {
        // The guard from `counter.lock()` above is still alive here.
        0 => *counter.lock() += 1,
        _ => {}
    }
}

fn main() {
    let counter = Mutex::new(0);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lockdep::with_policy(Policy::Panic, || bump_if_even(&counter));
    }));
    match result {
        Err(_) => println!("lockdep caught the double lock before it could hang (report above)"),
        Ok(()) => println!("no report: is validation off (LOCKDEP=off)?"),
    }
}
