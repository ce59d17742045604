//! `lockdep check`.

use std::io::Write;
use std::path::PathBuf;

use lockdep_core::{Severity, render_text};
use lockdep_trace::{Replayer, report_json};

use crate::Format;

/// Runs the check and returns the exit status (0 clean, 1 error reports, 2 input errors).
pub fn run(
    out: &mut impl Write,
    format: Format,
    merge: bool,
    quiet: bool,
    color: bool,
    files: &[PathBuf],
) -> u8 {
    let mut status = 0u8;
    let mut shared = merge.then(Replayer::new);
    for path in files {
        let name = path.display().to_string();
        let mut fresh = Replayer::new();
        let r = shared.as_mut().unwrap_or(&mut fresh);
        let before = r.engine.reports().len();
        let res = match std::fs::File::open(path) {
            Ok(f) => r.read(&name, f),
            Err(e) => Err(lockdep_trace::TraceError {
                file: name.clone(),
                line: 0,
                message: format!("cannot open: {e}"),
            }),
        };
        // Reports found before an input error are still printed: never lose findings.
        if !merge {
            status = status.max(print(out, r, before, format, quiet, color));
        }
        if let Err(e) = res {
            eprintln!("{e}");
            status = 2;
        } else if !merge && !quiet && format == Format::Text {
            let _ = writeln!(out, "{}", summary(r, &name, before));
        }
    }
    if let Some(r) = &shared {
        status = status.max(print(out, r, 0, format, quiet, color));
        if format == Format::Text {
            let _ = writeln!(out, "{}", summary(r, "merged traces", 0));
        }
    }
    status
}

fn print(
    out: &mut impl Write,
    r: &Replayer,
    from: usize,
    format: Format,
    quiet: bool,
    color: bool,
) -> u8 {
    let mut status = 0;
    for loc in r.located_reports().into_iter().skip(from) {
        if loc.report.severity == Severity::Error {
            status = 1;
        }
        if quiet {
            continue;
        }
        let _ = match format {
            Format::Json => writeln!(
                out,
                "{}",
                report_json(loc.report, Some(loc.file), Some(loc.line))
            ),
            Format::Text => {
                let text = render_text(loc.report);
                let text = if color { colorize(&text) } else { text };
                writeln!(out, "{}:{}:\n{}", loc.file, loc.line, text)
            }
        };
    }
    status
}

/// ANSI colours for a text report on a terminal: the headline red (error) or yellow
/// (warning), the dependency chain's entries cyan, the scenario's verdict red, rules dim.
fn colorize(text: &str) -> String {
    const RED: &str = "\x1b[1;31m";
    const YELLOW: &str = "\x1b[1;33m";
    const CYAN: &str = "\x1b[36m";
    const DIM: &str = "\x1b[2m";
    const RESET: &str = "\x1b[0m";
    let mut out = String::with_capacity(text.len() + 256);
    for line in text.lines() {
        let style = if line.starts_with("ERROR:") || line.contains("*** DEADLOCK ***") {
            Some(RED)
        } else if line.starts_with("WARNING:") {
            Some(YELLOW)
        } else if line.starts_with("-> #") {
            Some(CYAN)
        } else if !line.is_empty() && line.chars().all(|c| c == '=' || c == '-') {
            Some(DIM)
        } else {
            None
        };
        match style {
            Some(s) => {
                out.push_str(s);
                out.push_str(line);
                out.push_str(RESET);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The closing lines: counts (by kind too), then each report once as a one-line title with
/// its signature and where the trace raised it.
fn summary(r: &Replayer, what: &str, from: usize) -> String {
    let located: Vec<_> = r.located_reports().into_iter().skip(from).collect();
    let errors = located
        .iter()
        .filter(|l| l.report.severity == Severity::Error)
        .count();
    let warnings = located.len() - errors;
    let mut by_kind: Vec<(&str, usize)> = Vec::new();
    for l in &located {
        let k = l.report.kind.as_str();
        match by_kind.iter_mut().find(|(name, _)| *name == k) {
            Some((_, n)) => *n += 1,
            None => by_kind.push((k, 1)),
        }
    }
    let mut out = format!(
        "lockdep: {what}: {} events, {errors} error{}, {warnings} warning{}",
        r.events(),
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" }
    );
    if !by_kind.is_empty() {
        let kinds: Vec<String> = by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
        out.push_str(&format!(" ({})", kinds.join(", ")));
    }
    for l in &located {
        out.push_str(&format!(
            "\n  {:<7} {}  [{}]  {}:{}",
            l.report.severity.as_str(),
            l.report.one_line(),
            l.report.signature,
            l.file,
            l.line
        ));
    }
    out
}
