#!/usr/bin/env bash
# The demo: a local Kafka broker, reference profiles for three models, a synthetic
# prediction stream (with some malformed records and a distribution shift after a
# minute), and driftd watching it: per-window PSI, drift verdicts, the JSON API.
#
#   scripts/demo.sh                 run for DEMO_SECONDS (default 120), then stop cleanly
#   DEMO_SECONDS=0 scripts/demo.sh  run until Ctrl-C
#   DEMO_CHECK=1                     exit 1 unless driftd consumed events and served
#                                    a window report (the test command uses this)
#
# While it runs: http://127.0.0.1:7853/metrics, /readyz, /healthz.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${DEMO_SECONDS:-120}
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
# The example config, with a store of its own and short windows so that the shift
# shows within a minute.
sed -e "s#^path = .*#path = \"$work/store\"#" \
    -e "s#127.0.0.1:19092#127.0.0.1:$KAFKA_PORT#" \
    -e 's#^windows = \[.*\]#windows = ["1m", "5m", "1h"]#' \
    -e 's#^tick = .*#tick = "5s"#' docs/driftd.example.toml > "$work/driftd.toml"
"$bin" config check --config "$work/driftd.toml"

# A reference profile per model, from undrifted synthetic traffic.
for model in churn fraud ltv; do
  "$bin" generate --models "$model" --count 20000 --seed 7 --output "$work/$model-reference.jsonl" --log warn
  "$bin" reference import --model "$model" --file "$work/$model-reference.jsonl" --config "$work/driftd.toml"
done

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
  psi=$(echo "$m" | awk -F' ' '/^driftd_feature_psi\{feature="age",model="churn",version="v1",window="1m"\}/ {printf "%.3f", $2}')
  drifted=$(echo "$m" | awk '/^driftd_feature_drifted\{.*window="1m"/ && $2 == 1 {n++} END {print n+0}')
  printf 'demo: t=%3ss events=%s dead-lettered=%s lag=%s | 1m window: churn age PSI=%s, drifted features=%s\n' \
    $((SECONDS - start)) "$events" "$errors" "$lag" "${psi:--}" "$drifted"
done
m=$(curl -sf http://127.0.0.1:7853/metrics || true)
echo "$m" | awk '/^process_resident_memory_bytes/ {printf "demo: driftd resident memory %.1f MB\n", $2/1e6}
                 /^driftd_store_size_bytes/ {printf "demo: store size on disk %.1f MB\n", $2/1e6}'
echo "demo: drift report of model churn over the last 5 minutes:"
curl -s "http://127.0.0.1:7853/api/v1/models/churn/drift?window=5m" | head -c 1500; echo
if [ "${DEMO_CHECK:-0}" = 1 ]; then
  events=$(curl -sf http://127.0.0.1:7853/metrics | awk '/^driftd_events_total/ {s+=$2} END {print s+0}')
  status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:7853/api/v1/models/churn/drift?window=5m")
  if [ "$events" -gt 0 ] && [ "$status" = 200 ]; then
    echo "demo check: passed ($events events consumed, window report served)"
  else
    echo "demo check: FAILED (events=$events, drift API status $status)"
    exit 1
  fi
fi
echo "demo: stopping (SIGTERM: final checkpoint, offsets committed)"
