#!/usr/bin/env bash
# The long fuzz run of the parser and the framing (issue 14): 10 million generated inputs by
# default, release build, stable toolchain. Each input goes through read_stream (whole and in
# random small reads), parse_document and parse_in_place; the run fails (exit 1) on any panic,
# broken invariant, peak RSS over --max-rss-mb, or an input running longer than --hang-secs.
# Failing inputs are written to target/fuzz-crashes/ with a .txt saying what broke and the
# command that reruns just that input.
#
#   bash scripts/fuzz.sh                        # 10M inputs, seed 1, 1 thread (~63 min, see README)
#   ITERATIONS=1000000 SEED=7 THREADS=2 bash scripts/fuzz.sh
#   bash scripts/fuzz.sh --start 123456 --iterations 1   # extra flags go to trailhound-fuzz
#
# On a shared machine run it niced: `nice -n 10 bash scripts/fuzz.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
ITERATIONS="${ITERATIONS:-10000000}"
SEED="${SEED:-1}"
THREADS="${THREADS:-1}"
MAX_RSS_MB="${MAX_RSS_MB:-512}"
cargo build --release -p trailhound-fuzz
bin="${CARGO_TARGET_DIR:-target}/release/trailhound-fuzz"
exec "$bin" --iterations "$ITERATIONS" --seed "$SEED" --threads "$THREADS" --max-rss-mb "$MAX_RSS_MB" \
    --progress-secs 60 "$@"
