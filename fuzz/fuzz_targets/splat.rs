//! The Linux-report parser on arbitrary text: never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(s) = lockdep_trace::splat::parse(&text) {
        let _ = lockdep_trace::splat::to_json(&s);
        let _ = lockdep_trace::splat::to_text(&s);
    }
});
