#!/usr/bin/env bash
# Detection state memory benchmark: many distinct actors (access keys) → `trailhound replay`;
# prints each run's peak RSS (the whole process, VmHWM via wait4's ru_maxrss) and events/s,
# the medians, and checks with `trailhound eval` that the injected attacks were still found.
#
#   ACTORS=1000000 bash scripts/bench-state.sh         # 4M events from 1M actors, 3 runs
#   ACTORS=500000 RUNS=1 bash scripts/bench-state.sh   # 2M events from 500k actors
#   CONFIG=my.toml bash scripts/bench-state.sh         # e.g. another [engine] max_state_bytes
#   BIN=/tmp/trailhound-before bash scripts/bench-state.sh   # another build, same workload
#
# The workload (`cargo run --release -p trailhound-gen --example actors`, see
# crates/gen/src/actors.rs) is generated once into $BENCH_DIR and reused: ~60 % IAM users'
# AKIA keys and ~40 % assumed-role sessions (ASIA keys, own session names), EVENTS/ACTORS
# calls each over six hours of event time (mostly List/Describe/Get, some writes, delivery
# disorder up to 2 min), plus six attacks by actors active in their windows (three recon
# bursts, three CreateUser → AttachUserPolicy → CreateAccessKey → new key used 5–20 min
# later) with ground-truth labels. It is ~1.1 KB per event (4.4 GB for 4M events): the
# input is read from the page cache when memory allows. Memory is measured, never asserted
# in a test (docs: README "Limits and bad input").
set -euo pipefail
cd "$(dirname "$0")/.."
ACTORS="${ACTORS:-1000000}"
EVENTS="${EVENTS:-$((ACTORS * 4))}"
RUNS="${RUNS:-3}"
PROFILE="${PROFILE:-release}"
BENCH_DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/trailhound-bench-state}"
target="${CARGO_TARGET_DIR:-target}"
case "$PROFILE" in dev) dir=debug ;; *) dir="$PROFILE" ;; esac

cargo build --profile "$PROFILE" --quiet -p trailhound-gen --example actors
if [ -z "${BIN:-}" ]; then
    cargo build --profile "$PROFILE" --quiet -p trailhound-cli
    BIN="$target/$dir/trailhound"
fi
mkdir -p "$BENCH_DIR"
input="$BENCH_DIR/actors-$ACTORS-$EVENTS.ndjson"
labels="$BENCH_DIR/actors-$ACTORS-$EVENTS.labels.ndjson"
if [ ! -s "$input" ] || [ ! -s "$labels" ]; then
    "$target/$dir/examples/actors" --actors "$ACTORS" --events "$EVENTS" --labels "$labels" --out "$input"
fi

python3 - "$BIN" "$input" "$labels" "$BENCH_DIR" "$RUNS" "${CONFIG:-}" <<'PY'
import json, os, statistics, subprocess, sys

bin_, input_, labels, d, runs, config = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
rows = []
for i in range(1, runs + 1):
    out = f"{d}/out"
    subprocess.run(["rm", "-rf", out], check=True)
    cmd = [bin_, "replay", "--json", "--out", out] + (["--config", config] if config else []) + [input_]
    with open(f"{d}/run-{i}.json", "w") as so, open(f"{d}/run-{i}.log", "w") as se:
        p = subprocess.Popen(cmd, stdout=so, stderr=se)
        _, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"run {i}: {' '.join(cmd)} exited with status {status}; see {d}/run-{i}.log")
    r = json.load(open(f"{d}/run-{i}.json"))
    rss = usage.ru_maxrss / 1024  # KiB on Linux
    evicted = {k: r[k] for k in ("state_bytes_peak", "state_bytes", "evicted_long_term", "evicted_dormant", "evicted_active", "evicted_armed") if k in r}
    warnings = sum(1 for line in open(f"{d}/run-{i}.log") if "memory budget" in line)
    findings = sum(sum(v.values()) for v in r["findings"].values())
    rows.append((rss, r["events_per_second"]))
    print(f"run {i}: {r['events']} events in {r['seconds']:.1f} s = {r['events_per_second']:,.0f} events/s, "
          f"peak RSS {rss:,.0f} MiB, {findings} findings, {warnings} budget warning(s) {evicted or ''}")
print(f"median of {runs}: peak RSS {statistics.median(x[0] for x in rows):,.0f} MiB, "
      f"{statistics.median(x[1] for x in rows):,.0f} events/s ({bin_}, {os.path.basename(input_)})")
ev = subprocess.run([bin_, "eval", "--labels", labels, "--fail-on-miss", f"{d}/out"], capture_output=True, text=True)
print(ev.stdout.strip())
if ev.returncode != 0:
    sys.exit(f"eval: an injected attack was not found (exit {ev.returncode}) {ev.stderr.strip()}")
PY
