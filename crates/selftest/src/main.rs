//! `selftest-gen [DIR]`: writes every case of the lockdep selftest table to `DIR/<name>.jsonl`
//! (default: `tests/selftest` of the workspace), after deleting the stale `*.jsonl` files
//! there, and prints the number of cases per family.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use lockdep_selftest::{cases, family_counts, render};

fn default_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/selftest")
}

fn run(dir: &Path) -> io::Result<()> {
    let all = cases();
    fs::create_dir_all(dir)?;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "jsonl") && path.is_file() {
            fs::remove_file(&path)?;
        }
    }
    for case in &all {
        fs::write(dir.join(format!("{}.jsonl", case.name)), render(case))?;
    }
    for (family, n) in family_counts(&all) {
        println!("{family:<30} {n:>4}");
    }
    println!("{:<30} {:>4}", "total", all.len());
    Ok(())
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let dir = args.next().map_or_else(default_dir, PathBuf::from);
    if args.next().is_some() {
        eprintln!("usage: selftest-gen [DIR]");
        return ExitCode::from(2);
    }
    match run(&dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("selftest-gen: {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
