#!/usr/bin/env bash
# Runs every test of trailhound on a fresh machine: installs what the tests need (Python's
# pyarrow as the independent Parquet reader), then format and lint checks, then the tests.
# Build output goes to $CARGO_TARGET_DIR (default ~/.cache/trailhound-target), outside the
# checkout, so a fresh clone does not rebuild every dependency.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trailhound-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# An independent reader for the Parquet findings: pyarrow in a private virtualenv.
venv="${TRAILHOUND_VENV:-$HOME/.cache/trailhound-venv}"
if ! "$venv/bin/python" -c "import pyarrow" >/dev/null 2>&1; then
    echo "== installing pyarrow into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "pyarrow>=15"
fi
export TRAILHOUND_PYTHON="$venv/bin/python"

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --workspace --no-fail-fast
