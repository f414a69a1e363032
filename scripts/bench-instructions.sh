#!/usr/bin/env bash
# Detection cost per rule in instructions, not seconds: `trailhound replay` under valgrind's
# callgrind, which counts every instruction the process executes. The count does not depend
# on what else the machine runs, so a 1 % change in a rule shows where CPU-second timings on a
# shared 2-core VM vary by ±15 % (scripts/bench-rules.sh). It does not see cache misses: a
# rule whose state is larger than the caches costs more time per instruction than parsing
# (compare its figure here with bench-rules.sh's on the same workload).
#
# For each workload (`trailhound gen --profile estate` and `--profile stress`, seed 42, EVENTS
# events, generated once into $BENCH_DIR): replay with one worker, no state budget (eviction
# rounds would otherwise move with the state's weight), every rule disabled, then each rule
# alone, then every rule. Prints instructions per event for the rule-less replay (parse,
# engine, sinks), each rule (alone minus rule-less), and every rule together, and the ratio
# of every rule's instructions to the rule-less replay's. Results also go to
# $BENCH_DIR/instructions.json.
#
#   bash scripts/bench-instructions.sh                       # 50k events per workload, ~15 min
#   EVENTS=20000 WORKLOADS=stress bash scripts/bench-instructions.sh
#   RULES="enumeration_burst identity_baseline" bash scripts/bench-instructions.sh
#   BIN=/tmp/trailhound-before bash scripts/bench-instructions.sh   # another build
#
# Needs valgrind (Debian: apt-get install valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trailhound-target}"
EVENTS="${EVENTS:-50000}"
PROFILE="${PROFILE:-release}"
WORKLOADS="${WORKLOADS:-estate stress}"
RULES="${RULES:-}"
BENCH_DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/trailhound-bench-instructions}"

if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind not found: install it (Debian: apt-get install valgrind)" >&2
    exit 2
fi
case "$PROFILE" in dev) dir=debug ;; *) dir="$PROFILE" ;; esac
if [ -z "${BIN:-}" ]; then
    cargo build --profile "$PROFILE" --quiet -p trailhound-cli
    BIN="$CARGO_TARGET_DIR/$dir/trailhound"
fi
mkdir -p "$BENCH_DIR"
for w in $WORKLOADS; do
    input="$BENCH_DIR/$w-$EVENTS.ndjson"
    if [ ! -s "$input" ]; then
        "$BIN" gen --profile "$w" --seed 42 --events "$EVENTS" --out "$input.tmp"
        mv "$input.tmp" "$input"
    fi
done

python3 - "$BIN" "$BENCH_DIR" "$EVENTS" "$WORKLOADS" "$RULES" <<'PY'
import json, os, re, subprocess, sys

bin_, d, events, workloads, only = sys.argv[1:]
events = int(events)
listing = subprocess.run([bin_, "rules"], capture_output=True, text=True, check=True).stdout
rules = [l.strip() for l in listing.splitlines() if l and not l[0].isspace()]
alone = only.split() if only else rules
unknown = [r for r in alone if r not in rules]
if unknown:
    sys.exit(f"unknown rule(s) {unknown}; `{bin_} rules` lists {rules}")

def instructions(input_, enabled):
    env = dict(os.environ, TRAILHOUND__ENGINE__WORKERS="1", RUST_LOG="warn",
               TRAILHOUND__ENGINE__MAX_STATE_BYTES=str(1 << 50))
    for r in rules:
        env[f"TRAILHOUND__RULES__{r.upper()}__ENABLED"] = "true" if r in enabled else "false"
    out = f"{d}/out"
    subprocess.run(["rm", "-rf", out], check=True)
    p = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={d}/callgrind.out",
                        bin_, "replay", "--json", "--out", out, input_],
                       env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"replay under callgrind failed ({p.returncode}): {p.stderr[-2000:]}")
    summary = json.loads(p.stdout)
    if summary["events"] != events:
        sys.exit(f"replay read {summary['events']} events of {events}")
    m = re.search(r"Collected : (\d+)", p.stderr)
    if not m:
        sys.exit(f"no instruction count in callgrind's output: {p.stderr[-2000:]}")
    return int(m.group(1))

results = {"events": events, "binary": bin_, "workloads": {}}
for w in workloads.split():
    input_ = f"{d}/{w}-{events}.ndjson"
    none = instructions(input_, set())
    print(f"[{w}] no rule: {none / events:,.0f} instructions/event", flush=True)
    per_rule = {}
    for r in alone:
        per_rule[r] = (instructions(input_, {r}) - none) / events
        print(f"[{w}] {r}: {per_rule[r]:,.0f}", flush=True)
    every = instructions(input_, set(rules))
    results["workloads"][w] = {
        "no_rule_per_event": none / events,
        "rules_per_event": per_rule,
        "all_rules_per_event": (every - none) / events,
        "all_rules_over_no_rule": (every - none) / none,
    }

print(f"\ninstructions per event ({events:,} events per workload, no state budget)")
for w, r in results["workloads"].items():
    print(f"\n== {w}")
    print(f"{'replay, no rule (parse, engine, sinks)':<42} {r['no_rule_per_event']:>10,.0f}")
    for name, v in sorted(r["rules_per_event"].items(), key=lambda kv: -kv[1]):
        print(f"  {name:<40} {v:>10,.0f}")
    print(f"{'every rule together':<42} {r['all_rules_per_event']:>10,.0f}"
          f"   ({r['all_rules_over_no_rule']:.2f} x the rule-less replay)")
with open(f"{d}/instructions.json", "w") as f:
    json.dump(results, f, indent=2)
PY
