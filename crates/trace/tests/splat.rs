//! `lockdep splat`'s parser against JSON written by hand from each report, before the parser
//! ran on it (`tests/splats/`, sources in its README).

use std::path::Path;

use lockdep_trace::splat;

fn dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/splats")
}

#[test]
fn every_report_parses_to_its_golden_json() {
    let mut seen = 0;
    let mut entries: Vec<_> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for txt in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
    {
        let golden = txt.with_extension("json");
        let want: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&golden).unwrap()).unwrap();
        let text = std::fs::read_to_string(txt).unwrap();
        let got = splat::to_json(&splat::parse(&text).unwrap_or_else(|e| panic!("{txt:?}: {e}")));
        assert_eq!(
            got,
            want,
            "{}:\ngot  {}\nwant {}",
            txt.display(),
            serde_json::to_string_pretty(&got).unwrap(),
            serde_json::to_string_pretty(&want).unwrap()
        );
        seen += 1;
    }
    assert!(seen >= 2, "the seeds' two splats at least");
}

#[test]
fn text_that_is_not_a_splat_gets_a_clear_message() {
    let e = splat::parse("hello\nworld\n").unwrap_err();
    assert!(e.starts_with("no lockdep report found"), "{e}");
}
