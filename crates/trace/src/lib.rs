//! Trace format v1 (JSON Lines): reading traces into the engine, writing events back out, and
//! the JSON form of reports. Only this crate and the CLI serialize.
//!
//! ```
//! let text = r#"{"op":"acquire","thread":"T1","lock":"A"}
//! {"op":"acquire","thread":"T1","lock":"A"}"#;
//! let mut r = lockdep_trace::Replayer::new();
//! r.read("example.jsonl", text.as_bytes()).unwrap();
//! assert_eq!(r.engine.reports()[0].kind.as_str(), "recursive");
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod expect;
mod json;
mod read;
pub mod splat;
mod write;

pub use expect::check_expectations;
pub use json::{REPORT_SCHEMA_VERSION, report_json};
pub use read::{Checked, Expect, Header, Located, Replayer, TraceError};
pub use write::TraceWriter;

/// Reads one trace file into a fresh engine.
pub fn check_file(path: &std::path::Path) -> Result<(Replayer, Checked), TraceError> {
    let name = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|e| TraceError {
        file: name.clone(),
        line: 0,
        message: format!("cannot open: {e}"),
    })?;
    let mut r = Replayer::new();
    let checked = r.read(&name, f)?;
    Ok((r, checked))
}
