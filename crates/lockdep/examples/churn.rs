//! Memory under lock churn: creates, locks once and drops N locks (default 10M), printing the
//! process RSS every 10% — it must stay flat (object ids are reused, classes are per site).
//!
//! `cargo run --release --features always -p lockdep --example churn [N]`

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let outer = lockdep::Mutex::new(0u64);
    let start = std::time::Instant::now();
    println!("validation compiled in: {}", lockdep::ENABLED);
    println!("{:>12} {:>10}", "locks", "RSS KiB");
    for i in 0..n {
        {
            // Created and dropped every iteration. A dependency outer -> (this site's
            // class): the same edge every time.
            let m = lockdep::Mutex::new(i);
            let _o = outer.lock();
            let g = m.lock();
            std::hint::black_box(*g);
        }
        if i % (n / 10).max(1) == 0 {
            println!("{i:>12} {:>10}", rss_kib());
        }
    }
    println!(
        "{n:>12} {:>10}   ({:.1?}, {:.0} ns per create+lock+drop)",
        rss_kib(),
        start.elapsed(),
        start.elapsed().as_nanos() as f64 / n as f64
    );
}
