//! The trace reader and the engine behind it on arbitrary bytes: never a panic, errors are
//! `FILE:LINE` values, memory proportional to the input (run with -rss_limit_mb).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut r = lockdep_trace::Replayer::new();
    if let Err(e) = r.read("fuzz.jsonl", data) {
        assert_eq!(e.file, "fuzz.jsonl");
    }
    for rep in r.engine.reports() {
        let _ = lockdep_core::render_text(rep);
    }
});
