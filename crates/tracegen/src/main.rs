//! `lockdep-tracegen`: writes a deterministic, deadlock-free benchmark trace (JSON Lines v1).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::time::Instant;

use lockdep_tracegen::{Config, generate};

const USAGE: &str = "\
usage: lockdep-tracegen [OPTIONS]

Writes a deterministic lock trace (JSON Lines, format v1) of threads that take rwlocks in one
global class order, so it has no deadlock. Statistics go to stderr.

options (defaults in brackets):
  --threads N                 threads t0..t{N-1} [8]
  --classes N                 lock classes c0..c{N-1}, one rwlock object each [2000]
  --events N                  acquire+release lines, rounded down to even; the final
                              releases are counted within this number [10000000]
  --seed N                    random seed [1]
  --read-pct P                % of acquires in read mode [30]
  --try-pct P                 % of acquires that are try-acquires [5]
  --max-depth N               most locks held by one thread at once [4]
  --fresh                     never reuse a chain: nearly every lock chain is new
  --reuse-pct P               % of chains repeated from the thread's working set [95]
  --working-set N             recent chains a thread remembers [64]
  --second-instance-pct P     % of classes with a second lock object [10]
  --unordered-release-pct P   % of chains released out of LIFO order [10]
  --out FILE                  output file, - for stdout [-]
  -h, --help                  this help
";

fn parse_num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.replace('_', "")
        .parse()
        .map_err(|_| format!("{flag}: not a valid number: {v:?}"))
}

/// Parsed command line: the config and the output path, or `None` for `--help`.
fn parse_args(args: &[String]) -> Result<Option<(Config, String)>, String> {
    let mut cfg = Config::default();
    let mut out = String::from("-");
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_str();
        i += 1;
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg, None),
        };
        match flag {
            "-h" | "--help" => return Ok(None),
            "--fresh" => {
                if inline.is_some() {
                    return Err("--fresh takes no value".into());
                }
                cfg.fresh = true;
                continue;
            }
            _ => {}
        }
        let value = match inline {
            Some(v) => v,
            None => {
                let v = args
                    .get(i)
                    .ok_or_else(|| format!("{flag}: missing value (or unknown option)"))?;
                i += 1;
                v.clone()
            }
        };
        match flag {
            "--threads" => cfg.threads = parse_num(flag, &value)?,
            "--classes" => cfg.classes = parse_num(flag, &value)?,
            "--events" => cfg.events = parse_num(flag, &value)?,
            "--seed" => cfg.seed = parse_num(flag, &value)?,
            "--read-pct" => cfg.read_pct = parse_num(flag, &value)?,
            "--try-pct" => cfg.try_pct = parse_num(flag, &value)?,
            "--max-depth" => cfg.max_depth = parse_num(flag, &value)?,
            "--reuse-pct" => cfg.reuse_pct = parse_num(flag, &value)?,
            "--working-set" => cfg.working_set = parse_num(flag, &value)?,
            "--second-instance-pct" => cfg.second_instance_pct = parse_num(flag, &value)?,
            "--unordered-release-pct" => cfg.unordered_release_pct = parse_num(flag, &value)?,
            "--out" => out = value,
            _ => return Err(format!("unknown option {flag:?}")),
        }
    }
    cfg.validate()?;
    Ok(Some((cfg, out)))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cfg, out) = match parse_args(&args) {
        Ok(Some(v)) => v,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("lockdep-tracegen: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let start = Instant::now();
    let result = if out == "-" {
        let stdout = io::stdout();
        let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
        generate(&cfg, &mut w).and_then(|s| w.flush().map(|()| s))
    } else {
        match File::create(&out) {
            Ok(f) => {
                let mut w = BufWriter::with_capacity(1 << 20, f);
                generate(&cfg, &mut w).and_then(|s| w.flush().map(|()| s))
            }
            Err(e) => {
                eprintln!("lockdep-tracegen: {out}: {e}");
                return ExitCode::from(1);
            }
        }
    };
    match result {
        Ok(stats) => {
            let secs = start.elapsed().as_secs_f64();
            eprintln!("{stats}");
            eprintln!("elapsed:               {secs:.2}s");
            ExitCode::SUCCESS
        }
        // A closed pipe (`| head`) is not an error worth a message.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lockdep-tracegen: {out}: {e}");
            ExitCode::from(1)
        }
    }
}
