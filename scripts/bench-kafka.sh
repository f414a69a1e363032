#!/usr/bin/env bash
# End-to-end Kafka benchmark: generated CloudTrail, produced beforehand (Python confluent-kafka,
# {"Records":[...]} messages of PER_MESSAGE events keyed by account, 4 partitions) to a tansu
# broker on this machine; then `trailhound run` consumes it all, RUNS times (a new consumer
# group each run). Reports events/s (first message arrival → last batch detected) and the
# latency from a message's arrival at the consumer to its finding's ack by the findings topic
# (p50/p99), per run and as medians.
#
#   EVENTS=1000000 RUNS=3 PER_MESSAGE=100 STORAGE=memory bash scripts/bench-kafka.sh
#   PROFILE=dev bash scripts/bench-kafka.sh   # the test build (DataFusion unoptimised)
#
# STORAGE=memory (default) uses tansu's memory storage: the benchmark commits offsets but never
# restarts from them, so it does not depend on what memory storage gets wrong (BROKER.md);
# STORAGE=sqlite measures the storage the tests use. The broker shares the 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trailhound-target}"
EVENTS="${EVENTS:-1000000}"
RUNS="${RUNS:-3}"
PER_MESSAGE="${PER_MESSAGE:-100}"
STORAGE="${STORAGE:-memory}"
PROFILE="${PROFILE:-release}"
BENCH_DIR="${BENCH_DIR:-${TMPDIR:-/tmp}/trailhound-kafka-bench}"
PY="${TRAILHOUND_PYTHON:-$HOME/.cache/trailhound-venv/bin/python}"
TANSU="${TANSU:-$(command -v tansu || echo "$HOME/.cargo/bin/tansu")}"

cargo build --profile "$PROFILE" --quiet -p trailhound-cli
case "$PROFILE" in dev) dir=debug ;; *) dir="$PROFILE" ;; esac
bin="$CARGO_TARGET_DIR/$dir/trailhound"
mkdir -p "$BENCH_DIR"
input="$BENCH_DIR/events-$EVENTS.ndjson"
[ -s "$input" ] || "$bin" gen --seed 42 --events "$EVENTS" --out "$input"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
brokers="127.0.0.1:$port"
rm -rf "$BENCH_DIR/broker" && mkdir -p "$BENCH_DIR/broker"
case "$STORAGE" in memory) engine="memory://" ;; *) engine="sqlite://tansu.db" ;; esac
(cd "$BENCH_DIR/broker" && exec "$TANSU" broker --listener-url "tcp://$brokers" --advertised-listener-url "tcp://$brokers" --storage-engine "$engine" > tansu.log 2>&1) &
broker_pid=$!
trap 'kill $broker_pid 2>/dev/null || true' EXIT
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do sleep 0.2; done

tool() { "$PY" tests/python/kafka_tool.py --brokers "$brokers" "$@"; }
tool create --topic cloudtrail --partitions 4
tool create --topic findings --partitions 2
tool create --topic dead-letters --partitions 1
echo "producing $input ($PER_MESSAGE events per message) ..."
tool produce --topic cloudtrail --events "$input" --per-message "$PER_MESSAGE" --heartbeat-partitions 4 > "$BENCH_DIR/produced.json"
messages=$(python3 -c "import json; print(json.load(open('$BENCH_DIR/produced.json'))['messages'] + 4)")

for run in $(seq 1 "$RUNS"); do
    out="$BENCH_DIR/out-$run"
    rm -rf "$out" && mkdir -p "$out"
    cat > "$out/bench.toml" <<EOF
[kafka]
brokers = "$brokers"
group_id = "bench-$run-$$"
input_topics = ["cloudtrail"]
findings_topic = "findings"
dead_letter_topic = "dead-letters"
[run]
listen = "127.0.0.1:$mport"
EOF
    RUST_LOG=warn "$bin" run --config "$out/bench.toml" --out "$out" --summary "$BENCH_DIR/run-$run.json" 2> "$out/run.log" &
    pid=$!
    until [ "$(curl -s "127.0.0.1:$mport/metrics" | awk '/^trailhound_messages_total/ {print $2}')" = "$messages" ]; do
        kill -0 $pid || { cat "$out/run.log"; exit 1; }
        sleep 0.5
    done
    sleep 2 # let the last acks land
    kill -TERM $pid && wait $pid
done

python3 - "$BENCH_DIR" "$RUNS" "$PROFILE" "$STORAGE" <<'PY'
import json, statistics, sys
d, runs, profile, storage = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rs = [json.load(open(f"{d}/run-{i}.json"))["latency"] for i in range(1, runs + 1)]
for i, r in enumerate(rs, 1):
    print(f"run {i}: {r['events']} events in {r['busy_seconds']:.2f} s = {r['events_per_second']:,.0f} events/s; "
          f"finding ack latency p50 {r['finding_latency_p50_ms']:.1f} ms p99 {r['finding_latency_p99_ms']:.1f} ms "
          f"({r['findings_acked']} finding versions); batch latency p50 {r['batch_latency_p50_ms']:.1f} ms p99 {r['batch_latency_p99_ms']:.1f} ms")
med = lambda k: statistics.median(r[k] for r in rs)
print(f"median ({profile} build, tansu {storage}): {med('events_per_second'):,.0f} events/s; "
      f"finding ack latency p50 {med('finding_latency_p50_ms'):.1f} ms, p99 {med('finding_latency_p99_ms'):.1f} ms; "
      f"batch latency p99 {med('batch_latency_p99_ms'):.1f} ms")
PY
