#!/usr/bin/env bash
# Runs every test of trailhound on a fresh machine: installs what the tests need (Python's
# pyarrow as the independent Parquet reader), then format and lint checks, then the tests.
# Build output goes to $CARGO_TARGET_DIR (default ~/.cache/trailhound-target), outside the
# checkout, so a fresh clone does not rebuild every dependency.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trailhound-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# Independent clients: pyarrow reads the Parquet findings back, confluent-kafka (its own
# bundled librdkafka) produces the input and reads the output topics. A private virtualenv.
venv="${TRAILHOUND_VENV:-$HOME/.cache/trailhound-venv}"
if ! "$venv/bin/python" -c "import pyarrow, confluent_kafka" >/dev/null 2>&1; then
    echo "== installing pyarrow and confluent-kafka into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "pyarrow>=15" "confluent-kafka>=2.6"
fi
export TRAILHOUND_PYTHON="$venv/bin/python"

# The Kafka-protocol broker the tests run (each test starts its own on a free 127.0.0.1 port
# with its own sqlite data directory, and stops it): tansu, built once per machine (~15 min).
# Its own target directory, so the build does not invalidate trailhound's.
if [ -z "${TANSU:-}" ]; then
    if ! command -v tansu >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tansu" ]; then
        echo "== installing the tansu broker (once per machine)"
        CARGO_TARGET_DIR="$HOME/.cache/tansu-target" cargo install tansu --locked --features dynostore,libsql
    fi
    TANSU="$(command -v tansu || echo "$HOME/.cargo/bin/tansu")"
    export TANSU
fi

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --workspace --no-fail-fast
