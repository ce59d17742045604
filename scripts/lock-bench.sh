#!/bin/bash
# The runtime's criterion benches (issue #3's targets), run N times alternately, with the
# median of the per-run medians for each benchmark and its ratio to parking_lot (the host is
# noisy: ratios within one run are what to compare).
#   locks:  uncontended lock+unlock on a known chain, and a 3-deep nested chain
#   newdep: the first acquisition of a new dependency, under each backtrace setting
#   events: event primitives' non-parking paths against their uninstrumented equivalents
#           (issue #4), and parked round trips
# usage: scripts/lock-bench.sh [N]      (default 9; BENCHES="locks events" runs only those)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-9}
cargo bench -q -p lockdep --features always --no-run 2>/dev/null
BENCHES=${BENCHES:-locks events newdep} python3 - "$n" <<'PY'
import json, os, statistics, subprocess, sys
n = int(sys.argv[1])
benches = os.environ["BENCHES"].split()
def run(bench, env, tag, out):
    e = dict(os.environ, **env)
    subprocess.run(["cargo", "bench", "-q", "-p", "lockdep", "--features", "always",
                    "--bench", bench, "--", "--noplot"], env=e, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = "target/criterion"
    for group in os.listdir(root):
        gdir = os.path.join(root, group)
        groups = {
            "locks": ("single", "nested3", "two_threads"),
            "newdep": ("newdep",),
            "events": ("complete_then_wait", "notify_no_waiter", "send_recv_ready",
                       "counter_inc_dec", "parked_round_trip"),
        }[bench]
        if group not in groups:
            continue
        for f in os.listdir(gdir):
            p = os.path.join(gdir, f, "new", "estimates.json")
            if os.path.exists(p):
                med = json.load(open(p))["median"]["point_estimate"]
                out.setdefault((group, f + tag), []).append(med)
settings = [
    ({"RUST_BACKTRACE": "0"}, " (RUST_BACKTRACE=0)"),
    ({"RUST_BACKTRACE": "1"}, " (RUST_BACKTRACE=1)"),
    ({"RUST_BACKTRACE": "0", "LOCKDEP_BACKTRACE": "0"}, " (LOCKDEP_BACKTRACE=0)"),
]
out = {}
for i in range(n):
    if "locks" in benches:
        run("locks", {}, "", out)
    if "events" in benches:
        run("events", {}, "", out)
    if "newdep" in benches:
        for env, tag in settings:
            run("newdep", env, tag, out)
    print(f"run {i + 1}/{n} done", file=sys.stderr)
print(f"| group | benchmark | median of {n} medians | ratio to the baseline (parking_lot, else the uninstrumented one): within each run, median (range) |")
print("|---|---|---|---|")
for (group, name) in sorted(out):
    vals = out[(group, name)]
    v = statistics.median(vals)
    base = next((out[(group, b)] for b in ("parking_lot", "plain", "std") if (group, b) in out), None)
    ratio = ""
    if base:
        r = [a / b for a, b in zip(vals, base)]
        ratio = f"{statistics.median(r):.2f}x ({min(r):.2f}-{max(r):.2f})"
    unit = f"{v / 1000:.2f} µs" if v >= 1000 else f"{v:.1f} ns"
    print(f"| {group} | {name} | {unit} | {ratio} |")
PY
