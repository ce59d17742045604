//! The classic Rust double lock: a `match` keeps the guard temporary of its scrutinee alive
//! for the whole `match`, so locking again in an arm waits for itself.
//!
//! With `Policy::Panic`, lockdep reports it *before* the second lock blocks, so this example
//! finishes instead of hanging. `cargo run -p lockdep --example double_lock_match`

use lockdep::{Mutex, Policy};

fn step(counter: &Mutex<u32>) {
    // (An `if` would not have the bug: since edition 2024 the temporaries of an `if`
    // condition are dropped before the block. A `match` scrutinee's live through every arm.)
    match *counter.lock() {
        0 => println!("starting"),
        // The guard from `counter.lock()` above is still alive here.
        n if n % 2 == 0 => *counter.lock() += 1,
        n => println!("odd: {n}"),
    }
}

fn main() {
    let counter = Mutex::new(2);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lockdep::with_policy(Policy::Panic, || step(&counter));
    }));
    match result {
        Err(_) => println!("lockdep caught the double lock before it could hang (report above)"),
        Ok(()) => println!("no report: is validation off (LOCKDEP=off)?"),
    }
}
