#!/usr/bin/env bash
# End-to-end Kafka benchmark: generated CloudTrail ({"Records":[...]} messages of PER_MESSAGE
# events keyed by account, lz4, 4 partitions, produced by Python confluent-kafka) through a
# tansu broker on this machine into `trailhound run`. Two phases, RUNS runs each (a new consumer
# group every run):
#
#  - backlog: every event is produced first, then `trailhound run` drains the topic as fast as
#    it can. Reports events/s (first message arrival → last batch detected).
#  - live: `trailhound run` is started on an empty topic, then LIVE_EVENTS are produced paced at
#    RATE events/s (a live stream below capacity). Reports the latency from a message's arrival
#    at the consumer to its batch being detected, and to its finding's ack by the findings topic
#    (p50/p99).
#
#   EVENTS=1000000 RUNS=3 PER_MESSAGE=100 STORAGE=memory bash scripts/bench-kafka.sh
#   RATE=100000 LIVE_EVENTS=500000 PHASES=live bash scripts/bench-kafka.sh
#   PROFILE=release bash scripts/bench-kafka.sh   # quicker to rebuild, ~5 % more CPU per event
#   PROFILE=dev bash scripts/bench-kafka.sh       # the test build (DataFusion unoptimised)
#   COMPARE=/tmp/old-trailhound PHASES=backlog RUNS=6 bash scripts/bench-kafka.sh
#   WORKLOAD=stress PHASES=backlog bash scripts/bench-kafka.sh   # large busy accounts' shape
#
# WORKLOAD is the generator profile of the input (`trailhound gen --profile`, seed 42):
# `estate` (default) or `stress` (many principals, Zipf activity, recon-heavy, a few percent
# sensitive writes; README "Benchmarks").
#
# COMPARE=BIN: every backlog run is followed by one of BIN on the same produced topic (A, B,
# A, B, ...), and the medians of both and of the per-pair ratios are printed. This machine's
# speed changes by up to ~1.6x between periods (docs/BENCHMARKS.md), so two builds are only
# comparable interleaved like this, never as medians taken at different times.
#
# STORAGE=memory (default) uses tansu's memory storage: the benchmark commits offsets but never
# restarts from them, so it does not depend on what memory storage gets wrong (BROKER.md);
# STORAGE=sqlite measures the storage the tests use. The broker, the producer and trailhound
# share the machine's cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trailhound-target}"
EVENTS="${EVENTS:-1000000}"
RUNS="${RUNS:-3}"
PER_MESSAGE="${PER_MESSAGE:-100}"
STORAGE="${STORAGE:-memory}"
# `production` (fat LTO, one codegen unit) is the build to deploy: ~33 min for its first build on
# 2 cores, ~16 min after any change.
PROFILE="${PROFILE:-production}"
PHASES="${PHASES:-backlog live}"
RATE="${RATE:-100000}"
LIVE_EVENTS="${LIVE_EVENTS:-$EVENTS}"
COMPARE="${COMPARE:-}"
WORKLOAD="${WORKLOAD:-estate}"
BENCH_DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/trailhound-kafka-bench}"
PY="${TRAILHOUND_PYTHON:-$HOME/.cache/trailhound-venv/bin/python}"
TANSU="${TANSU:-$(command -v tansu || echo "$HOME/.cargo/bin/tansu")}"

cargo build --profile "$PROFILE" --quiet -p trailhound-cli
case "$PROFILE" in dev) dir=debug ;; *) dir="$PROFILE" ;; esac
bin="$CARGO_TARGET_DIR/$dir/trailhound"
mkdir -p "$BENCH_DIR"
case "$WORKLOAD" in
    estate) input="$BENCH_DIR/events-$EVENTS.ndjson" ;;
    stress) input="$BENCH_DIR/stress-$EVENTS.ndjson" ;;
    *) echo "WORKLOAD must be estate or stress, not $WORKLOAD" >&2; exit 2 ;;
esac
[ -s "$input" ] || "$bin" gen --profile "$WORKLOAD" --seed 42 --events "$EVENTS" --out "$input"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
mport=$(free_port)
brokers="127.0.0.1:$port"
rm -rf "$BENCH_DIR/broker" && mkdir -p "$BENCH_DIR/broker"
case "$STORAGE" in memory) engine="memory://" ;; *) engine="sqlite://tansu.db" ;; esac
(cd "$BENCH_DIR/broker" && exec "$TANSU" broker --listener-url "tcp://$brokers" --advertised-listener-url "tcp://$brokers" --storage-engine "$engine" > tansu.log 2>&1) &
broker_pid=$!
pid=""
trap 'kill $broker_pid $pid 2>/dev/null || true' EXIT
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do sleep 0.2; done

tool() { "$PY" tests/python/kafka_tool.py --brokers "$brokers" "$@"; }
# Polls /metrics through bash's /dev/tcp: a curl per poll cost ~5 % of the machine's CPU.
metric() {
    local line
    { exec 3<>"/dev/tcp/127.0.0.1/$mport"; } 2>/dev/null || return 0
    printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
    while IFS=' ' read -r -u 3 name value _; do
        [ "$name" = "$1" ] && line="$value"
    done
    exec 3<&-
    echo "${line:-}"
}
tool create --topic findings --partitions 2
tool create --topic dead-letters --partitions 1

# produced FILE: the messages a `tool produce` summary counts, plus its 4 heartbeats.
produced() { python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['messages'] + 4)" "$1"; }
# start_run NAME TOPIC: `trailhound run` on TOPIC with a new group, in the background ($pid).
start_run() {
    local run_bin="${3:-$bin}"
    out="$BENCH_DIR/out-$1"
    rm -rf "$out" && mkdir -p "$out"
    printf '[kafka]\nbrokers = "%s"\ngroup_id = "bench-%s-%s"\ninput_topics = ["%s"]\nfindings_topic = "findings"\ndead_letter_topic = "dead-letters"\n[run]\nlisten = "127.0.0.1:%s"\n' \
        "$brokers" "$1" "$$" "$2" "$mport" > "$out/bench.toml"
    RUST_LOG=warn "$run_bin" run --config "$out/bench.toml" --out "$out" --summary "$BENCH_DIR/$1.json" 2> "$out/run.log" &
    pid=$!
}
# finish_run MESSAGES: waits until the run has consumed MESSAGES, lets the last acks land, stops it.
finish_run() {
    until [ "$(metric trailhound_messages_total)" = "$1" ]; do
        kill -0 "$pid" || { cat "$out/run.log"; exit 1; }
        sleep 1
    done
    sleep 2
    kill -TERM "$pid" && wait "$pid"
}

rm -f "$BENCH_DIR"/backlog-*.json "$BENCH_DIR"/live-*.json "$BENCH_DIR"/compare-*.json
if [[ " $PHASES " == *" backlog "* ]]; then
    tool create --topic cloudtrail --partitions 4
    echo "backlog: producing $input ($PER_MESSAGE events per message) ..."
    tool produce --topic cloudtrail --events "$input" --per-message "$PER_MESSAGE" --heartbeat-partitions 4 > "$BENCH_DIR/produced.json"
    messages=$(produced "$BENCH_DIR/produced.json")
    for run in $(seq 1 "$RUNS"); do
        start_run "backlog-$run" cloudtrail
        finish_run "$messages"
        if [ -n "$COMPARE" ]; then
            start_run "compare-$run" cloudtrail "$COMPARE"
            finish_run "$messages"
        fi
    done
fi
if [[ " $PHASES " == *" live "* ]]; then
    for run in $(seq 1 "$RUNS"); do
        topic="live-$run-$$"
        tool create --topic "$topic" --partitions 4
        start_run "live-$run" "$topic"
        until [ "$(curl -s -o /dev/null -w '%{http_code}' "127.0.0.1:$mport/readyz")" = 200 ]; do
            kill -0 "$pid" || { cat "$out/run.log"; exit 1; }
            sleep 0.2
        done
        echo "live run $run: producing $LIVE_EVENTS events at $RATE events/s ..."
        tool produce --topic "$topic" --events "$input" --limit $(( (LIVE_EVENTS + PER_MESSAGE - 1) / PER_MESSAGE )) \
            --per-message "$PER_MESSAGE" --rate "$RATE" --heartbeat-partitions 4 > "$BENCH_DIR/live-produced-$run.json"
        cat "$BENCH_DIR/live-produced-$run.json"
        messages=$(produced "$BENCH_DIR/live-produced-$run.json")
        finish_run "$messages"
    done
fi

python3 - "$BENCH_DIR" "$RUNS" "$PROFILE" "$STORAGE" "$RATE" "$COMPARE" "$WORKLOAD" <<'PY'
import json, os, statistics, sys
d, runs, profile, storage, rate, compare, workload = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5]), sys.argv[6], sys.argv[7]
med = lambda rs, k: statistics.median(r[k] for r in rs)
for phase in ("backlog", "compare", "live"):
    paths = [f"{d}/{phase}-{i}.json" for i in range(1, runs + 1)]
    if not all(os.path.exists(p) for p in paths):
        continue
    rs = [json.load(open(p))["latency"] for p in paths]
    for i, r in enumerate(rs, 1):
        print(f"{phase} run {i}: {r['events']} events in {r['busy_seconds']:.2f} s = {r['events_per_second']:,.0f} events/s; "
              f"batch latency p50 {r['batch_latency_p50_ms']:.1f} ms p99 {r['batch_latency_p99_ms']:.1f} ms; "
              f"finding ack latency p50 {r['finding_latency_p50_ms']:.1f} ms p99 {r['finding_latency_p99_ms']:.1f} ms "
              f"({r['findings_acked']} finding versions)")
    what = {"live": f"offered {rate:,.0f} events/s", "compare": f"drain, {compare}"}.get(phase, "drain")
    print(f"{phase} median ({what}; {workload} workload, {profile} build, tansu {storage}): {med(rs, 'events_per_second'):,.0f} events/s; "
          f"batch latency p50 {med(rs, 'batch_latency_p50_ms'):.1f} ms p99 {med(rs, 'batch_latency_p99_ms'):.1f} ms; "
          f"finding ack latency p50 {med(rs, 'finding_latency_p50_ms'):.1f} ms p99 {med(rs, 'finding_latency_p99_ms'):.1f} ms")
pairs = [(f"{d}/backlog-{i}.json", f"{d}/compare-{i}.json") for i in range(1, runs + 1)]
if compare and all(os.path.exists(a) and os.path.exists(b) for a, b in pairs):
    eps = lambda p: json.load(open(p))["latency"]["events_per_second"]
    ratios = [eps(a) / eps(b) for a, b in pairs]
    print("this build / COMPARE, per interleaved pair: " + " ".join(f"{r:.2f}" for r in ratios)
          + f"; median {statistics.median(ratios):.2f}")
PY
