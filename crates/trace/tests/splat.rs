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

mod smoke {
    //! A proptest smoke of what the fuzzer checks at length (`scripts/fuzz.sh splat`): the
    //! parser never panics, on arbitrary text or on real reports cut and spliced.
    use proptest::prelude::*;

    use super::*;

    fn reports() -> Vec<String> {
        let mut v: Vec<_> = std::fs::read_dir(dir())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "txt"))
            .collect();
        v.sort();
        v.iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    const PIECES: &[&str] = &[
        "WARNING: possible circular locking dependency detected\n",
        "[ INFO: inconsistent lock state ]\n",
        "-> #1 (a){+.+.}-{3:3}:\n",
        "-> #",
        "Chain exists of:\n",
        "  a --> b --> \n",
        "but task is already holding lock:\n",
        "x/1 is trying to release lock (",
        "1 lock held by x/1:\n #0: (",
        ")){",
        "[<ffffffff>] ",
        "[   1.000000] ",
        "stack backtrace:\n",
        "> ",
        "\u{fffd}",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn never_panics_on_arbitrary_text(s in ".{0,400}") {
            let _ = splat::parse(&s);
        }

        #[test]
        fn never_panics_on_cut_and_spliced_reports(
            which in 0usize..64,
            cuts in proptest::collection::vec((0usize..20_000, 0usize..400, 0usize..PIECES.len()), 0..12),
        ) {
            let all = reports();
            let mut text = all[which % all.len()].clone();
            for (at, len, piece) in cuts {
                let at = at % (text.len() + 1);
                let at = (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
                let end = (at + len).min(text.len());
                let end = (end..=text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
                text.replace_range(at..end, PIECES[piece]);
            }
            if let Ok(s) = splat::parse(&text) {
                let _ = splat::to_json(&s);
                let _ = splat::to_text(&s);
            }
        }
    }
}
