#!/usr/bin/env bash
# Detection cost per rule, and trailhound against DuckDB on the same file. For each workload
# (`trailhound gen --profile estate` and `--profile stress`, seed 42, EVENTS events, generated
# once into $BENCH_DIR and read from the page cache), RUNS times:
#
#  - `trailhound replay` with one worker and every rule disabled (parse, engine and sinks),
#    then with each rule alone, then with every rule;
#  - DuckDB's burst query on the same file: events per userIdentity.arn in 5-minute buckets of
#    List*/Describe*/Get* calls, buckets with at least BURST_MIN events, read with read_json
#    and explicit columns.
#
# Each is timed in CPU seconds (user + system of the process and its threads, from wait4).
# Prints per workload: the rule-less replay (CPU-s, µs/event), each rule's cost (rule alone
# minus rule-less, µs/event) and findings, every rule together (all minus rule-less), the
# replay's and DuckDB's events per CPU-second and their ratio; then the workloads side by
# side. Figures are medians over the runs; a ratio is computed within each run (both sides
# measured minutes apart), then its median taken. Results also go to $BENCH_DIR/results.json
# (--json prints them instead of the tables).
#
#   bash scripts/bench-rules.sh                          # 1M events per workload, 3 runs
#   EVENTS=200000 RUNS=1 WORKLOADS=stress bash scripts/bench-rules.sh
#   RULES="enumeration_burst identity_baseline" bash scripts/bench-rules.sh   # only these alone
#   PROFILE=production bash scripts/bench-rules.sh       # the deploy build (~33 min first build)
#   BIN=/tmp/trailhound-before bash scripts/bench-rules.sh   # another build, same workloads
#
# DuckDB is installed with pip into $VENV (default ~/.cache/trailhound-bench-venv) on first
# use and runs with its default threads (every core); its CPU-s exclude the Python
# interpreter's start and `import duckdb`, measured in the same run and subtracted.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trailhound-target}"
EVENTS="${EVENTS:-1000000}"
RUNS="${RUNS:-3}"
PROFILE="${PROFILE:-release}"
WORKLOADS="${WORKLOADS:-estate stress}"
RULES="${RULES:-}"
BURST_MIN="${BURST_MIN:-30}"
BENCH_DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/trailhound-bench-rules}"
VENV="${VENV:-$HOME/.cache/trailhound-bench-venv}"
JSON=0
for arg in "$@"; do
    case "$arg" in
        --json) JSON=1 ;;
        *) echo "usage: $0 [--json]" >&2; exit 2 ;;
    esac
done

case "$PROFILE" in dev) dir=debug ;; *) dir="$PROFILE" ;; esac
if [ -z "${BIN:-}" ]; then
    cargo build --profile "$PROFILE" --quiet -p trailhound-cli
    BIN="$CARGO_TARGET_DIR/$dir/trailhound"
fi
if ! "$VENV/bin/python" -c 'import duckdb' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet duckdb
fi
mkdir -p "$BENCH_DIR"
for w in $WORKLOADS; do
    input="$BENCH_DIR/$w-$EVENTS.ndjson"
    if [ ! -s "$input" ]; then
        "$BIN" gen --profile "$w" --seed 42 --events "$EVENTS" --out "$input.tmp"
        mv "$input.tmp" "$input"
    fi
done

python3 - "$BIN" "$BENCH_DIR" "$EVENTS" "$RUNS" "$PROFILE" "$WORKLOADS" "$RULES" "$BURST_MIN" "$VENV/bin/python" "$JSON" <<'PY'
import json, os, platform, statistics, subprocess, sys

bin_, d, events, runs, profile, workloads, only, burst_min, py, as_json = sys.argv[1:]
events, runs, burst_min, as_json = int(events), int(runs), int(burst_min), as_json == "1"
workloads = workloads.split()
say = (lambda *a, **k: print(*a, file=sys.stderr, **k)) if as_json else print

listing = subprocess.run([bin_, "rules"], capture_output=True, text=True, check=True).stdout
rules = [l.strip() for l in listing.splitlines() if l and not l[0].isspace()]
alone = only.split() if only else rules
unknown = [r for r in alone if r not in rules]
if unknown:
    sys.exit(f"unknown rule(s) {unknown}; `{bin_} rules` lists {rules}")

def cpu(cmd, env=None, stdout=None):
    """Runs cmd; returns (user + system CPU seconds, wall seconds is not needed)."""
    p = subprocess.Popen(cmd, env=env, stdout=stdout or subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {err.decode(errors='replace')[-2000:]}")
    return usage.ru_utime + usage.ru_stime

def replay(input_, enabled):
    env = dict(os.environ, TRAILHOUND__ENGINE__WORKERS="1", RUST_LOG="warn")
    for r in rules:
        env[f"TRAILHOUND__RULES__{r.upper()}__ENABLED"] = "true" if r in enabled else "false"
    out = f"{d}/out"
    subprocess.run(["rm", "-rf", out], check=True)
    with open(f"{d}/replay.json", "w") as so:
        s = cpu([bin_, "replay", "--json", "--out", out, input_], env=env, stdout=so)
    r = json.load(open(f"{d}/replay.json"))
    if r["events"] != events:
        sys.exit(f"replay read {r['events']} events of {events}")
    return s, sum(sum(v.values()) for v in r["findings"].values())

QUERY = """
SELECT arn, bucket, count(*) AS calls FROM (
  SELECT userIdentity.arn AS arn, time_bucket(INTERVAL '5 minutes', eventTime) AS bucket
  FROM read_json(?, format = 'newline_delimited',
                 columns = {eventTime: 'TIMESTAMP', eventName: 'VARCHAR', userIdentity: 'STRUCT(arn VARCHAR)'})
  WHERE eventName LIKE 'List%' OR eventName LIKE 'Describe%' OR eventName LIKE 'Get%'
) GROUP BY arn, bucket HAVING count(*) >= ?
"""
DUCK = "import duckdb, sys; c = duckdb.connect(); c.execute('SET enable_progress_bar = false'); print(len(c.execute(sys.argv[1], [sys.argv[2], int(sys.argv[3])]).fetchall()) if sys.argv[1] else c.execute('SELECT 1').fetchall())"

def duckdb(input_):
    start = cpu([py, "-c", DUCK, "", "", "0"])
    with open(f"{d}/duckdb.out", "w") as so:
        total = cpu([py, "-c", DUCK, QUERY, input_, str(burst_min)], stdout=so)
    return total - start, int(open(f"{d}/duckdb.out").read().strip())

med = statistics.median
results = {
    "events": events, "runs": runs, "profile": profile, "binary": bin_, "burst_min": burst_min,
    "machine": {"cores": os.cpu_count(), "platform": platform.platform()}, "workloads": {},
}
for w in workloads:
    input_ = f"{d}/{w}-{events}.ndjson"
    subprocess.run(["cat", input_], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    samples = {"none": [], "all": [], "duckdb": [], "ratio": []}
    per_rule = {r: [] for r in alone}
    findings = {}
    for run in range(1, runs + 1):
        none, _ = replay(input_, set())
        say(f"[{w} run {run}] no rule: {none:.2f} CPU-s", flush=True)
        for r in alone:
            s, f = replay(input_, {r})
            per_rule[r].append(s - none)
            findings[r] = f
            say(f"[{w} run {run}] {r}: {s:.2f} CPU-s, {f} findings", flush=True)
        every, f_all = replay(input_, set(rules))
        duck, rows = duckdb(input_)
        say(f"[{w} run {run}] every rule: {every:.2f} CPU-s, {f_all} findings; DuckDB {duck:.2f} CPU-s, {rows} buckets", flush=True)
        samples["none"].append(none)
        samples["all"].append(every)
        samples["duckdb"].append(duck)
        samples["ratio"].append((events / every) / (events / duck))
    us = lambda s: s / events * 1e6
    results["workloads"][w] = {
        "bytes": os.path.getsize(input_),
        "no_rule_cpu_s": med(samples["none"]),
        "no_rule_us_per_event": us(med(samples["none"])),
        "rules_us_per_event": {r: us(med(v)) for r, v in per_rule.items()},
        "rules_findings": findings,
        "all_rules_cpu_s": med(samples["all"]),
        "all_rules_us_per_event": us(med(samples["all"]) - med(samples["none"])),
        "all_rules_findings": f_all,
        "replay_events_per_cpu_s": events / med(samples["all"]),
        "duckdb_cpu_s": med(samples["duckdb"]),
        "duckdb_events_per_cpu_s": events / med(samples["duckdb"]),
        "duckdb_buckets": rows,
        "ratio": med(samples["ratio"]),
        "ratio_per_run": samples["ratio"],
    }

json.dump(results, open(f"{d}/results.json", "w"), indent=2)
if as_json:
    json.dump(results, sys.stdout, indent=2)
    print()
    sys.exit(0)
for w, r in results["workloads"].items():
    print(f"\n== {w}: {events:,} events ({r['bytes'] / 1e9:.2f} GB), {profile} build, 1 worker, medians of {runs} run(s)")
    print(f"{'no rule (parse, engine, sinks)':<40} {r['no_rule_cpu_s']:8.2f} CPU-s {r['no_rule_us_per_event']:8.2f} µs/event")
    print(f"{'rule alone, minus no rule':<40} {'µs/event':>14} {'findings':>17}")
    for rule, v in sorted(r["rules_us_per_event"].items(), key=lambda kv: -kv[1]):
        print(f"  {rule:<38} {v:14.2f} {r['rules_findings'][rule]:17,}")
    print(f"{'every rule, minus no rule':<40} {r['all_rules_us_per_event']:14.2f} {r['all_rules_findings']:17,}")
    print(f"{'replay, every rule':<40} {r['replay_events_per_cpu_s']:14,.0f} events per CPU-s ({r['all_rules_cpu_s']:.2f} CPU-s)")
    print(f"{'DuckDB burst query':<40} {r['duckdb_events_per_cpu_s']:14,.0f} events per CPU-s ({r['duckdb_cpu_s']:.2f} CPU-s, {r['duckdb_buckets']:,} buckets >= {burst_min})")
    print(f"{'trailhound / DuckDB':<40} {r['ratio']:14.2f} (per run: {' '.join(f'{x:.2f}' for x in r['ratio_per_run'])})")
print(f"\n{'workload':<10} {'no rule µs/ev':>14} {'rules µs/ev':>12} {'worst rule':>28} {'replay ev/CPU-s':>16} {'DuckDB ev/CPU-s':>16} {'ratio':>6}")
for w, r in results["workloads"].items():
    worst = max(r["rules_us_per_event"].items(), key=lambda kv: kv[1], default=("-", 0.0))
    print(f"{w:<10} {r['no_rule_us_per_event']:14.2f} {r['all_rules_us_per_event']:12.2f} {worst[0] + f' {worst[1]:.2f}':>28} "
          f"{r['replay_events_per_cpu_s']:16,.0f} {r['duckdb_events_per_cpu_s']:16,.0f} {r['ratio']:6.2f}")
print(f"\nresults: {d}/results.json")
PY
