#!/usr/bin/env bash
# End-to-end replay benchmark: generated CloudTrail → trailhound replay (parse, detect,
# Parquet + OCSF sinks) on this machine, RUNS times; prints each run and the medians.
#
#   EVENTS=1000000 RUNS=5 WORKERS=1 bash scripts/bench-replay.sh
#   PROFILE=release bash scripts/bench-replay.sh   # quicker to rebuild, ~5 % more CPU per event
#   PROFILE=dev bash scripts/bench-replay.sh       # the test build: parse/detect/simd-json/arrow
#                                                   # are optimised in it, DataFusion is not
#
# The input is generated once (seed 42, with attacks) into $BENCH_DIR and read from the page
# cache, so the figure is the pipeline's, not the disk's. The `production` build (fat LTO, one
# codegen unit; ~33 min for its first build on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trailhound-target}"
EVENTS="${EVENTS:-1000000}"
RUNS="${RUNS:-5}"
WORKERS="${WORKERS:-1}"
PROFILE="${PROFILE:-production}"
BENCH_DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/trailhound-bench}"

cargo build --profile "$PROFILE" --quiet -p trailhound-cli
case "$PROFILE" in dev) dir=debug ;; *) dir="$PROFILE" ;; esac
bin="$CARGO_TARGET_DIR/$dir/trailhound"
mkdir -p "$BENCH_DIR"
input="$BENCH_DIR/events-$EVENTS.ndjson"
if [ ! -s "$input" ]; then
    "$bin" gen --seed 42 --events "$EVENTS" --out "$input" --labels "$BENCH_DIR/labels-$EVENTS.ndjson"
fi
cat "$input" > /dev/null # warm the page cache

for run in $(seq 1 "$RUNS"); do
    rm -rf "$BENCH_DIR/out"
    TRAILHOUND__ENGINE__WORKERS="$WORKERS" "$bin" replay --json --out "$BENCH_DIR/out" "$input" > "$BENCH_DIR/run-$run.json"
done

python3 - "$BENCH_DIR" "$RUNS" "$WORKERS" "$PROFILE" <<'PY'
import json, statistics, sys
d, runs, workers, profile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rs = [json.load(open(f"{d}/run-{i}.json")) for i in range(1, runs + 1)]
for i, r in enumerate(rs, 1):
    print(f"run {i}: {r['events']} events, {r['bytes']/1e6:.0f} MB in {r['seconds']:.2f} s = {r['events_per_second']:,.0f} events/s, {r['mb_per_second']:.0f} MB/s, {sum(sum(v.values()) for v in r['findings'].values())} findings")
print(f"median over {runs} runs (workers={workers}, profile={profile}): {statistics.median(r['events_per_second'] for r in rs):,.0f} events/s, {statistics.median(r['mb_per_second'] for r in rs):.0f} MB/s")
PY
