#!/usr/bin/env bash
# The demo: a local Kafka broker, a synthetic prediction stream (with some malformed
# records and a distribution shift after a minute), and driftd watching it.
#
#   scripts/demo.sh                 run for DEMO_SECONDS (default 90), then stop cleanly
#   DEMO_SECONDS=0 scripts/demo.sh  run until Ctrl-C
#
# While it runs: http://127.0.0.1:7853/metrics, /readyz, /healthz.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${DEMO_SECONDS:-90}
export KAFKA_PORT=${KAFKA_PORT:-19092}
export KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1))
work=$(mktemp -d "${TMPDIR:-/tmp}/driftd-demo.XXXXXX")

scripts/ensure-deps.sh
echo "demo: building driftd (release; the first build takes a few minutes)"
cargo build --release --quiet
bin=target/release/driftd

pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ -f "$work/driftd.toml" ]; then
    echo "demo: state checkpointed by driftd:"
    "$bin" state show --config "$work/driftd.toml" | head -n 30
  fi
  scripts/kafka.sh stop
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/kafka.sh start
sed -e "s#^path = .*#path = \"$work/store\"#" \
    -e "s#127.0.0.1:19092#127.0.0.1:$KAFKA_PORT#" docs/driftd.example.toml > "$work/driftd.toml"
"$bin" config check --config "$work/driftd.toml"

"$bin" generate --brokers "127.0.0.1:$KAFKA_PORT" --topic predictions --rate 300 \
  --malformed-every 500 --drift-after 60s --log warn &
pids+=($!)
"$bin" run --config "$work/driftd.toml" 2> "$work/driftd.log" &
pids+=($!)

echo "demo: driftd is consuming 'predictions'; metrics at http://127.0.0.1:7853/metrics"
echo "demo: driftd log: $work/driftd.log"
start=$SECONDS
until curl -sf http://127.0.0.1:7853/healthz >/dev/null; do sleep 0.5; done
while [ "$seconds" -eq 0 ] || [ $((SECONDS - start)) -lt "$seconds" ]; do
  sleep 10
  m=$(curl -sf http://127.0.0.1:7853/metrics || true)
  events=$(echo "$m" | awk '/^driftd_events_total/ {s+=$2} END {print s+0}')
  errors=$(echo "$m" | awk '/^driftd_decode_errors_total/ {s+=$2} END {print s+0}')
  lag=$(echo "$m" | awk '/^driftd_consumer_lag_messages/ {s+=$2} END {print s+0}')
  ready=$(curl -s http://127.0.0.1:7853/readyz || true)
  printf 'demo: t=%3ss events=%s dead-lettered=%s lag=%s readyz=%s\n' \
    $((SECONDS - start)) "$events" "$errors" "$lag" "$ready"
done
echo "demo: stopping (SIGTERM: final checkpoint, offsets committed)"
