//! A read guard still alive while the same thread asks for the write lock: the writer waits
//! for the reader, which is itself. Reported before it blocks.
//!
//! `cargo run -p lockdep --example rwlock_read_then_write`

use lockdep::{Policy, RwLock};

struct Cache {
    map: RwLock<Vec<(u32, String)>>,
}

impl Cache {
    fn get_or_insert(&self, k: u32) -> String {
        let map = self.map.read();
        if let Some((_, v)) = map.iter().find(|(key, _)| *key == k) {
            return v.clone();
        }
        // Bug: `map` (a read guard) is still alive.
        let mut w = self.map.write();
        w.push((k, format!("value {k}")));
        w.last().unwrap().1.clone()
    }
}

fn main() {
    let cache = Cache {
        map: RwLock::new(Vec::new()),
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lockdep::with_policy(Policy::Panic, || cache.get_or_insert(7))
    }));
    match result {
        Err(_) => {
            println!("lockdep caught the read-then-write before it could hang (report above)")
        }
        Ok(v) => println!("no report ({v}): is validation off (LOCKDEP=off)?"),
    }
}
