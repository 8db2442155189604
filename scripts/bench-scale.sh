#!/usr/bin/env bash
# State at fleet scale: memory under [storage] memory_budget whatever the join holds.
#
#   scripts/bench-scale.sh join [N]     N predictions waiting for labels (default 10,000,000)
#   scripts/bench-scale.sh fleet [K]    100 models × 3 versions × 25 features, every tier
#                                       full, K events per bucket (default 5)
#
# join: starts a local broker (port 19392), produces N predictions with ids (model
#   `credit`, event times over the last 48 h; examples/e2e.rs scale-predictions) to a
#   6-partition topic, with a labels source configured and no label yet ([labels]
#   ttl = 30d, default memory_budget 512 MiB). Measures:
#   1. ingest: seconds and events/s until driftd_events_total = N, peak RSS (VmHWM);
#   2. SIGKILL, restart: seconds from exec to /healthz 200 (store open, state restored)
#      and to /readyz 200 (partitions assigned; session.timeout.ms = 6 s), and the
#      waiting count restored;
#   3. labels for a random 1 % of the predictions, in random order: seconds until all
#      are joined, peak RSS of the restarted process, and the 7d window's accuracy,
#      precision, recall, F1, log loss (equal) and AUC (within driftd's bound) against
#      scikit-learn on the same pairs (scripts/golden.py sklearn, test venv);
#   ending with one line: join_n=… ingest_eps=… rss_mb=… up_s=… restart_s=… joined=… sklearn=ok
#
# fleet: reference profiles for models m000…m099 (20 numeric + 5 categorical features
#   and the prediction; e2e reference), then 300 series × 368 buckets × K events
#   (examples/e2e.rs scale-predictions --models 100 --fill-tiers: each minute of the last
#   2 h, each hour back to 7 days, each day back to 89), default memory_budget, windows
#   5m/1h/24h every 10 s. Measures ingest, peak RSS (VmHWM) through ingest and 12
#   ticks after it, the store, how long the first tick after ingest took (running sums
#   built from the store) against the steady ticks after it
#   (driftd_evaluation_duration_seconds), and start-up after SIGKILL; ending with one
#   line: fleet_series=300 events=… ingest_eps=… rss_mb=… store_mb=… buckets=… sums_mb=…
#   tick_first_s=… tick_steady_s=… up_s=…
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scenario=${1:-join}
case "$scenario" in
  join) n=${2:-10000000} ;;
  fleet) per_bucket=${2:-5}; n=$((300 * 368 * per_bucket)) ;;
  *) echo "usage: scripts/bench-scale.sh join [N] | fleet [K]" >&2; exit 2 ;;
esac
export KAFKA_PORT=${BENCH_KAFKA_PORT:-19392}
export KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1))
brokers=127.0.0.1:$KAFKA_PORT
http_port=${BENCH_HTTP_PORT:-17953}
work=$(mktemp -d "${TMPDIR:-/tmp}/driftd-scale.XXXXXX")
pid=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  scripts/kafka.sh stop >/dev/null 2>&1 || true
  [ -n "${BENCH_KEEP:-}" ] && echo "bench: kept $work" || rm -rf "$work"
}
trap cleanup EXIT

scripts/ensure-deps.sh
python=${DRIFTD_PYTHON:-target/pyenv/bin/python}
[ -x "$python" ] || { echo "bench: $python not found: run scripts/test.sh once (it makes the test venv)" >&2; exit 1; }
cargo build --release --quiet --bin driftd --example e2e
bin=target/release/driftd
e2e=target/release/examples/e2e
scripts/kafka.sh stop >/dev/null 2>&1 || true
KAFKA_HEAP=1g scripts/kafka.sh start >/dev/null

metric() { # sum of a metric's series
  curl -sf "http://127.0.0.1:$http_port/metrics" 2>/dev/null \
    | awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s+=$2} END {printf "%d", s+0}' || echo 0
}
hwm() { awk '/^VmHWM:/ {printf "%d", $2 / 1024}' "/proc/$1/status"; }
wait_for() { # metric value
  while [ "$(metric "$1")" -lt "$2" ]; do
    sleep 0.5
    if ! kill -0 "$pid" 2>/dev/null; then echo "bench: driftd exited:"; tail -20 "$work/driftd.log"; exit 1; fi
  done
}
# The configuration both scenarios share: config_head GROUP WINDOWS (a TOML list).
config_head() {
  cat > "$work/driftd.toml" <<EOF
[kafka]
brokers = ["$brokers"]
group_id = "$1-driftd"
dead_letter_topic = "$1-dead-letter"
[kafka.client]
# The broker's minimum: after the SIGKILL the group reassigns the dead member's
# partitions this soon (the 45 s default would dominate the restart).
"session.timeout.ms" = "6000"
[storage]
path = "$work/store"
[http]
bind = "127.0.0.1:$http_port"
[windows]
windows = $2
tick = "10s"
EOF
}
# Starts driftd again (after a SIGKILL) and returns once /healthz answers.
restart_until_healthy() {
  "$bin" run --config "$work/driftd.toml" 2>> "$work/driftd.log" &
  pid=$!
  until curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1; do
    sleep 0.05
    kill -0 "$pid" 2>/dev/null || { echo "bench: driftd exited:"; tail -20 "$work/driftd.log"; exit 1; }
  done
}

if [ "$scenario" = fleet ]; then
  preds=fleet-preds-$RANDOM
  "$e2e" topic --brokers "$brokers" --topic "$preds" --partitions 6
  config_head fleet '["5m", "1h", "24h"]'
  cat >> "$work/driftd.toml" <<EOF
[[source]]
topic = "$preds"
role = "predictions"
EOF
  echo "bench: reference profiles for 100 models"
  "$e2e" reference --model m000 --count 20000 > "$work/reference.jsonl"
  for i in $(seq 0 99); do
    "$bin" reference import --model "$(printf 'm%03d' "$i")" --file "$work/reference.jsonl" \
      --config "$work/driftd.toml" >/dev/null
  done
  echo "bench: producing $n predictions ($per_bucket per bucket of 300 series × 368 buckets)"
  "$e2e" scale-predictions --brokers "$brokers" --topic "$preds" --count "$n" --models 100 --fill-tiers
  echo "bench: ingest"
  start=$(date +%s.%N)
  "$bin" run --config "$work/driftd.toml" 2> "$work/driftd.log" &
  pid=$!
  wait_for driftd_events_total "$n"
  ingest_s=$(echo "$(date +%s.%N) - $start" | bc)
  rss_ingest=$(hwm "$pid")
  ( while kill -0 "$pid" 2>/dev/null; do
      echo "$(date +%s) $(awk '/^VmRSS:/ {printf "%d", $2 / 1024}' "/proc/$pid/status" 2>/dev/null)"; sleep 1
    done ) > "$work/rss.log" 2>/dev/null &
  hist() { # sum and count of driftd_evaluation_duration_seconds
    curl -sf "http://127.0.0.1:$http_port/metrics" \
      | awk '$1 == "driftd_evaluation_duration_seconds_sum" {s=$2} $1 == "driftd_evaluation_duration_seconds_count" {c=$2} END {print s, c}'
  }
  read -r s0 c0 <<< "$(hist)"
  # The first tick after ingest builds the running sums from the store.
  until read -r s1 c1 <<< "$(hist)" && [ "$c1" -gt "$c0" ]; do sleep 0.5; done
  tick_first=$(echo "$s1 - $s0" | bc)
  for _ in $(seq 12); do
    sleep 10
    kill -0 "$pid" 2>/dev/null || { echo "bench: driftd exited:"; tail -20 "$work/driftd.log"; exit 1; }
  done
  read -r s2 c2 <<< "$(hist)"
  tick_steady=$(python3 -c "print(round(($s2 - $s1) / max($c2 - $c1, 1), 4))")
  rss=$(hwm "$pid")
  store_mb=$(du -sm "$work/store" | cut -f1)
  curl -sf "http://127.0.0.1:$http_port/metrics" > "$work/metrics.txt"
  buckets=$(awk '$1 == "driftd_buckets{in=\"store\"}" {print $2}' "$work/metrics.txt")
  sums_mb=$(awk '$1 == "driftd_window_memory_bytes{part=\"sums\"}" {printf "%d", $2 / 1048576}' "$work/metrics.txt")
  metrics_kb=$(wc -c < "$work/metrics.txt" | awk '{printf "%d", $1 / 1024}')
  events_24h=$(curl -sf "http://127.0.0.1:$http_port/api/v1/models/m042/drift?window=24h&version=v1" \
    | python3 -c "import json,sys; print(json.load(sys.stdin)['events'])")
  kill -KILL "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  start=$(date +%s.%N)
  restart_until_healthy
  up_s=$(echo "$(date +%s.%N) - $start" | bc)
  eps=$(python3 -c "print(round($n / $ingest_s))")
  echo "bench: ingest $n in ${ingest_s}s ($eps events/s), peak RSS $rss_ingest MB by the end of ingest, $rss MB with 12 ticks after it, store $store_mb MB, $buckets buckets"
  echo "bench: first tick after ingest ${tick_first}s, steady ticks ${tick_steady}s each; running sums $sums_mb MB; /metrics $metrics_kb kB; m042/v1 24h window: $events_24h events; up after SIGKILL in ${up_s}s"
  echo "fleet_series=300 events=$n ingest_eps=$eps rss_mb=$rss store_mb=$store_mb buckets=$buckets sums_mb=$sums_mb tick_first_s=$tick_first tick_steady_s=$tick_steady up_s=$up_s"
  exit 0
fi

preds=scale-preds-$RANDOM
labels=scale-labels-$RANDOM
"$e2e" topic --brokers "$brokers" --topic "$preds" --partitions 6
"$e2e" topic --brokers "$brokers" --topic "$labels" --partitions 6
echo "bench: producing $n predictions to $preds"
t0=$(date +%s.%N)
"$e2e" scale-predictions --brokers "$brokers" --topic "$preds" --count "$n" --spread-hours 48
echo "bench: produced in $(echo "$(date +%s.%N) - $t0" | bc) s"

config_head scale '["7d"]'
cat >> "$work/driftd.toml" <<EOF
[labels]
ttl = "30d"
[[source]]
topic = "$preds"
role = "predictions"
[[source]]
topic = "$labels"
role = "labels"
EOF

echo "bench: ingest"
start=$(date +%s.%N)
"$bin" run --config "$work/driftd.toml" 2> "$work/driftd.log" &
pid=$!
wait_for driftd_events_total "$n"
ingest_s=$(echo "$(date +%s.%N) - $start" | bc)
wait_for driftd_label_join_pending "$n"
# Once everything is checkpointed: the restart must not replay.
sleep 6
rss_ingest=$(hwm "$pid")
store_mb=$(du -sm "$work/store" | cut -f1)
kill -KILL "$pid"; wait "$pid" 2>/dev/null || true; pid=""

echo "bench: restart after SIGKILL"
start=$(date +%s.%N)
restart_until_healthy
# Store opened, state restored, HTTP up: driftd's own start-up.
up_s=$(echo "$(date +%s.%N) - $start" | bc)
until curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1; do
  sleep 0.05
  kill -0 "$pid" 2>/dev/null || { echo "bench: driftd exited:"; tail -20 "$work/driftd.log"; exit 1; }
done
# Plus the group's rebalance: partitions assigned, consuming.
restart_s=$(echo "$(date +%s.%N) - $start" | bc)
restored=$(metric driftd_label_join_pending)

echo "bench: labels for 1 % of the predictions, in random order"
joined=$("$e2e" scale-labels --brokers "$brokers" --topic "$labels" --count "$n" --fraction 0.01 --pairs "$work/pairs.json")
start=$(date +%s.%N)
until curl -sf "http://127.0.0.1:$http_port/api/v1/models/credit/performance?window=7d" 2>/dev/null \
    | python3 -c "import json,sys; sys.exit(0 if json.load(sys.stdin).get('labelled') == $joined else 1)" 2>/dev/null; do
  sleep 1
  kill -0 "$pid" 2>/dev/null || { echo "bench: driftd exited:"; tail -20 "$work/driftd.log"; exit 1; }
done
join_s=$(echo "$(date +%s.%N) - $start" | bc)
curl -sf "http://127.0.0.1:$http_port/api/v1/models/credit/performance?window=7d" > "$work/driftd-perf.json"
rss_labels=$(hwm "$pid")
"$python" scripts/golden.py sklearn "$work/pairs.json" > "$work/sklearn.json"

python3 - "$work/driftd-perf.json" "$work/sklearn.json" <<'EOF'
import json, sys
got = json.load(open(sys.argv[1]))["metrics"]
want = json.load(open(sys.argv[2]))["binary"]
for k in ["accuracy", "precision", "recall", "f1", "log_loss"]:
    assert abs(got[k] - want[k]) <= 1e-9 * max(abs(want[k]), 1), (k, got[k], want[k])
assert abs(got["auc"] - want["auc"]) <= got["auc_bound"] + 1e-12, (got["auc"], want["auc"], got["auc_bound"])
print("bench: driftd = scikit-learn on the joined pairs:",
      ", ".join(f"{k} {got[k]:.4f}" for k in ["accuracy", "f1", "auc", "log_loss"]))
EOF
eps=$(python3 -c "print(round($n / $ingest_s))")
echo "bench: ingest $n in ${ingest_s}s ($eps events/s), peak RSS $rss_ingest MB, store $store_mb MB"
echo "bench: restart: up in ${up_s}s, ready (partitions assigned) in ${restart_s}s, $restored waiting; $joined labels joined in ${join_s}s, peak RSS $rss_labels MB"
echo "join_n=$n ingest_eps=$eps rss_mb=$(( rss_ingest > rss_labels ? rss_ingest : rss_labels )) store_mb=$store_mb up_s=$up_s restart_s=$restart_s joined=$joined sklearn=ok"
