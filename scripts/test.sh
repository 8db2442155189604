#!/usr/bin/env bash
# The test command: installs what is missing, starts a real Kafka broker on its own
# port, runs formatting and lint checks and every test (the alerting tests start their
# own real SMTP servers, scripts/smtp_sink.py), and stops the broker at the end, also
# when a test fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/ensure-deps.sh

# numpy, scipy and scikit-learn for the golden answers of the statistics tests,
# jsonschema for the record contract, confluent-kafka and pandas for the Python client,
# playwright to drive Chromium for the HTML report, fairlearn for the fairness metrics,
# and hadolint for the Dockerfile.
venv=target/pyenv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import numpy, scipy, sklearn, jsonschema, confluent_kafka, pandas, playwright, fairlearn" 2>/dev/null \
  || [ ! -x "$venv/bin/hadolint" ]; then
  echo "== installing the test venv ($venv): scripts/requirements-test.txt"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-test.txt
fi
# The Python client (clients/python) as a serving process installs it, fresh each run:
# tests/python_client.rs drives it against the broker.
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall ./clients/python
export DRIFTD_PYTHON="$PWD/$venv/bin/python"
export DRIFTD_GOLDEN_DIR="$PWD/target/golden"
if [ ! -f "$DRIFTD_GOLDEN_DIR/golden.json" ] || [ scripts/golden.py -nt "$DRIFTD_GOLDEN_DIR/golden.json" ]; then
  echo "== generating golden answers with scipy"
  "$DRIFTD_PYTHON" scripts/golden.py generate "$DRIFTD_GOLDEN_DIR"
fi

# aiosmtpd: the real SMTP server of the alert e-mail tests (scripts/smtp_sink.py).
echo "== SMTP test server (aiosmtpd)"
DRIFTD_SMTP_PYTHON=$(scripts/smtp-env.sh)
export DRIFTD_SMTP_PYTHON

# The Debian package's Chromium: the HTML report in a real browser (tests/html_report.rs).
DRIFTD_CHROMIUM=$(command -v chromium)
export DRIFTD_CHROMIUM

# The Debian package's Prometheus and promtool: the dashboard checks (tests/dashboards.rs).
DRIFTD_PROMETHEUS=$(command -v prometheus)
DRIFTD_PROMTOOL=$(command -v promtool)
export DRIFTD_PROMETHEUS DRIFTD_PROMTOOL

# A port of its own, so a broker left by the demo or by development does not interfere.
export KAFKA_PORT=${DRIFTD_TEST_KAFKA_PORT:-19192}
export KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1))
export DRIFTD_TEST_BROKERS="127.0.0.1:$KAFKA_PORT"

# One Alertmanager for every Alertmanager test (tests/alertmanager.rs), on a port of its own.
export ALERTMANAGER_PORT=${DRIFTD_TEST_ALERTMANAGER_PORT:-19394}
export DRIFTD_TEST_ALERTMANAGER="http://127.0.0.1:$ALERTMANAGER_PORT"
# Where Alertmanager sends the notifications of alerts labelled receiver="hook".
export DRIFTD_TEST_ALERTMANAGER_HOOK="127.0.0.1:$((ALERTMANAGER_PORT + 1))"

trap 'scripts/kafka.sh stop || true; scripts/alertmanager.sh stop || true' EXIT
scripts/kafka.sh stop >/dev/null 2>&1 || true
scripts/kafka.sh start
scripts/alertmanager.sh stop >/dev/null 2>&1 || true
scripts/alertmanager.sh start

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --all-targets 2>&1
scripts/kafka.sh stop
scripts/alertmanager.sh stop

# The fuzz targets, a bounded time each (the decoder and rule-file parsing).
echo "== fuzzing"
FUZZ_SECONDS=${FUZZ_SECONDS:-60} scripts/fuzz.sh

echo "== deployment files"
HADOLINT="$PWD/$venv/bin/hadolint" scripts/check-deploy.sh "$PWD/target/debug/driftd"

# The README's first command: the demo must run end to end, alert, e-mail and
# request retraining (about 6 minutes with the build).
echo "== demo smoke run"
DEMO_SECONDS=270 DEMO_CHECK=1 scripts/demo.sh
