//! The one declared skip list, shared by the engine and the binary corpus tests.

use std::path::Path;

/// Shared-corpus scenarios not expected to pass yet (`tests/scenarios-skip.txt`). It only
/// shrinks.
pub fn skip_list() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios-skip.txt");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}
