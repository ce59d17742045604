//! The `lockdep` command.
#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod check;
mod graph;
mod svg;

/// Lock- and wait-dependency validator: finds deadlocks that a run did not hit.
#[derive(Parser, Debug)]
#[command(name = "lockdep", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Output format of reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Lockdep-style text.
    Text,
    /// One JSON object per report per line.
    Json,
}

/// When to colour text reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always (ANSI escapes).
    Always,
    /// Never.
    Never,
}

impl Color {
    /// Whether to colour what goes to stdout.
    fn enabled(self) -> bool {
        use std::io::IsTerminal;
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        }
    }
}

/// Output format of `lockdep splat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SplatFormat {
    /// A summary per report.
    Text,
    /// One JSON object per report per line.
    Json,
    /// The report's lock chain as a Graphviz DOT graph.
    Dot,
    /// The report's lock chain drawn as SVG.
    Svg,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate traces (JSON Lines, format v1) and print the reports.
    ///
    /// Exit status: 0 no error report, 1 at least one error report, 2 input or usage error.
    Check {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Validate all files in one engine (traces of several processes of one program).
        #[arg(long)]
        merge: bool,
        /// Print only the summary lines, not the reports.
        #[arg(long, short)]
        quiet: bool,
        /// Colour the text reports (auto: on a terminal, unless NO_COLOR is set).
        #[arg(long, value_enum, default_value_t = Color::Auto)]
        color: Color,
        /// Trace files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Read Linux lockdep reports (console logs, mails, web pages; flattened text too) into
    /// the report model.
    ///
    /// Exit status: 0 when every file held a report, 2 otherwise (with a message saying why).
    Splat {
        /// Output format.
        #[arg(long, value_enum, default_value_t = SplatFormat::Text)]
        format: SplatFormat,
        /// Files holding a report.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Draw the class dependency graph of traces (merged), reported cycles highlighted.
    ///
    /// Exit status: 0, or 2 on input or usage errors.
    Graph {
        /// Output format.
        #[arg(long, value_enum, default_value_t = graph::GraphFormat::Dot)]
        format: graph::GraphFormat,
        /// Only the edges of reported cycles and paths.
        #[arg(long)]
        cycles_only: bool,
        /// Trace files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
}

/// `lockdep splat`: each file's report as text or one JSON object per line.
fn splat(out: &mut impl Write, format: SplatFormat, files: &[std::path::PathBuf]) -> u8 {
    use lockdep_trace::splat;
    let mut status = 0;
    for path in files {
        let text = match std::fs::read(path) {
            // Logs are not always UTF-8: read what is.
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => {
                eprintln!("{}: cannot open: {e}", path.display());
                status = 2;
                continue;
            }
        };
        match splat::parse(&text) {
            Ok(s) => {
                let _ = match format {
                    SplatFormat::Json => writeln!(out, "{}", splat::to_json(&s)),
                    SplatFormat::Text => {
                        writeln!(out, "{}:\n{}", path.display(), splat::to_text(&s))
                    }
                    SplatFormat::Dot => {
                        let m = graph::splat_model(&s);
                        write!(
                            out,
                            "{}",
                            graph::dot(&m, std::slice::from_ref(&s.syz_title))
                        )
                    }
                    SplatFormat::Svg => {
                        let m = graph::splat_model(&s);
                        write!(
                            out,
                            "{}",
                            svg::render(&m.nodes, &m.edges, Some(&s.syz_title))
                        )
                    }
                };
            }
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                status = 2;
            }
        }
    }
    status
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let code = match cli.command {
        Command::Check {
            format,
            merge,
            quiet,
            color,
            files,
        } => check::run(&mut out, format, merge, quiet, color.enabled(), &files),
        Command::Splat { format, files } => splat(&mut out, format, &files),
        Command::Graph {
            format,
            cycles_only,
            files,
        } => graph::run(&mut out, format, cycles_only, &files),
    };
    // A closed pipe (`lockdep check ... | head`) is not an error.
    let _ = out.flush();
    ExitCode::from(code)
}
