#!/usr/bin/env bash
# The Python client's overhead on the serving thread: µs per logged prediction (mean,
# p99, max) with the broker up, and with no broker (the bounded queue fills; calls
# must still return at once), against a floor of json.dumps + a bare Producer.
#
#   scripts/bench-client.sh [N]     N calls per run (default 200,000)
#
# Starts a local broker (port 19492); needs the test venv (scripts/test.sh makes it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n=${1:-200000}
export KAFKA_PORT=${BENCH_KAFKA_PORT:-19492}
export KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1))
python=${DRIFTD_PYTHON:-target/pyenv/bin/python}
[ -x "$python" ] || { echo "bench: $python not found: run scripts/test.sh once (it makes the test venv)" >&2; exit 1; }
"$(dirname "$python")/pip" install -q --disable-pip-version-check --no-deps --force-reinstall ./clients/python
trap 'scripts/kafka.sh stop >/dev/null 2>&1 || true' EXIT
scripts/kafka.sh stop >/dev/null 2>&1 || true
scripts/kafka.sh start >/dev/null
"$python" scripts/bench_client.py "127.0.0.1:$KAFKA_PORT" "bench-client-$$" "$n"
