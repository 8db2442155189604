#!/usr/bin/env bash
# End-to-end throughput: driftd against the best the same Kafka consumer can do.
#
#   scripts/bench-e2e.sh [N]          N events (default 2,000,000)
#
# 1. starts a local broker (port 19292), creates a 6-partition topic, produces N
#    records (3 models, 20 numeric + 5 categorical features; examples/e2e.rs);
# 2. the ceilings: a bare rdkafka BaseConsumer with driftd's client settings that only
#    polls (`e2e ceiling --raw`: what Kafka itself costs, the real limit), and the same
#    parsing each record into a serde_json::Value (`e2e ceiling`, a reference point),
#    from process start to the N-th record;
# 3. driftd with reference profiles for the 3 models, the shipped rules, checkpoints
#    every 5 s and windows 5m/1h/24h evaluated every 10 s, from process start until
#    driftd_events_total reaches N (polling /metrics every 100 ms);
#    — then the same with a labels source configured (no label arrives: every prediction
#    waits in the label join), and, with BENCH_BASELINE=path/to/driftd, both runs again
#    with that binary (the previous release, built from its tag), each in its own group
#    and store;
# 4. prints events/s, the ratio, peak RSS (VmHWM) and CPU seconds per million events
#    per run, and ends with one line: raw_ratio=<driftd/raw> ratio=<driftd/ceiling>
#    events_per_s=<driftd>
#    rss_mb=<peak> labels_events_per_s=… [baseline_events_per_s=…
#    baseline_labels_events_per_s=…]
# BENCH_PERF=1: `perf record` samples the first driftd run (attached to its pid, 999 Hz)
#    once records flow, and the script prints where its CPU went, by category (decode, bin, state, Kafka,
#    store/checkpoint, allocation, evaluation, other), from `perf report`'s self time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n=${1:-2000000}
export KAFKA_PORT=${BENCH_KAFKA_PORT:-19292}
export KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1))
brokers=127.0.0.1:$KAFKA_PORT
http_port=${BENCH_HTTP_PORT:-17853}
work=$(mktemp -d "${TMPDIR:-/tmp}/driftd-bench.XXXXXX")
pid=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  scripts/kafka.sh stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

scripts/ensure-deps.sh
cargo build --release --quiet --bin driftd --example e2e
bin=target/release/driftd
e2e=target/release/examples/e2e
scripts/kafka.sh stop >/dev/null 2>&1 || true
scripts/kafka.sh start >/dev/null

topic=bench-$RANDOM
"$e2e" topic --brokers "$brokers" --topic "$topic" --partitions 6
echo "bench: producing $n records to $topic (6 partitions)"
"$e2e" produce --brokers "$brokers" --topic "$topic" --count "$n"

# One driftd run on the topic, from process start until driftd_events_total reaches N:
# run_driftd NAME BINARY LABELS(0|1). Each run has its own group, store (with the
# reference profiles imported by that binary) and port.
runs=()
run_driftd() {
  local name=$1 run_bin=$2 labels=$3 dir="$work/$1" port=$((http_port + ${#runs[@]}))
  mkdir -p "$dir"
  cat > "$dir/driftd.toml" <<EOF
[kafka]
brokers = ["$brokers"]
group_id = "bench-$name-$RANDOM"
dead_letter_topic = "bench-dead-letter"
[storage]
path = "$dir/store"
checkpoint_interval = "5s"
[http]
bind = "127.0.0.1:$port"
[[source]]
topic = "$topic"
role = "predictions"
[alerting]
rules = ["$PWD/rules"]
EOF
  if [ "$labels" = 1 ]; then
    # A labels source with no label yet: every prediction with an id waits in the join.
    printf '[[source]]\ntopic = "%s"\nrole = "labels"\n' "$labels_topic" >> "$dir/driftd.toml"
  fi
  for model in churn fraud ltv; do
    "$run_bin" reference import --model "$model" --file "$work/$model.jsonl" --config "$dir/driftd.toml" >/dev/null
  done
  echo "bench: $name"
  local start end counted=0
  start=$(date +%s.%N)
  "$run_bin" run --config "$dir/driftd.toml" 2> "$dir/driftd.log" &
  pid=$!
  local perf_pid="" profile=0
  if [ "${BENCH_PERF:-0}" = 1 ] && [ "$name" = driftd ]; then profile=1; fi
  while [ "$counted" -lt "$n" ]; do
    sleep 0.1
    if ! kill -0 "$pid" 2>/dev/null; then echo "bench: $name exited:"; tail -20 "$dir/driftd.log"; exit 1; fi
    counted=$(curl -sf "http://127.0.0.1:$port/metrics" 2>/dev/null \
      | awk '/^driftd_events_total/ {s+=$2} END {printf "%d", s+0}' || echo 0)
    # Sampled once records flow (all of driftd's threads exist then; start-up and the
    # group join are left out).
    if [ "$profile" = 1 ] && [ -z "$perf_pid" ] && [ "$counted" -gt 0 ]; then
      perf record -F 999 -p "$pid" -o "$work/perf.data" >/dev/null 2>&1 &
      perf_pid=$!
    fi
  done
  end=$(date +%s.%N)
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid"; wait "$perf_pid" || true
    perf report -i "$work/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null \
      | python3 scripts/perf_breakdown.py
  fi
  # Where the time went besides records: window evaluation and checkpoints.
  curl -sf "http://127.0.0.1:$port/metrics" | awk -v name="$name" '
    /^driftd_evaluation_duration_seconds_(sum|count)/ {e[$1]=$2}
    /^driftd_checkpoint_duration_seconds_(sum|count)/ {c[$1]=$2}
    END {
      printf "bench: %s evaluated windows %d times (%.1f s in total), checkpointed %d times (%.2f s in total)\n",
        name, e["driftd_evaluation_duration_seconds_count"], e["driftd_evaluation_duration_seconds_sum"],
        c["driftd_checkpoint_duration_seconds_count"], c["driftd_checkpoint_duration_seconds_sum"]
    }'
  local rss_kb cpu_ticks
  rss_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
  cpu_ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill -TERM "$pid"; wait "$pid" || true; pid=""
  runs+=("$name $start $end $rss_kb $cpu_ticks")
}

for model in churn fraud ltv; do
  "$e2e" reference --model "$model" --count 20000 > "$work/$model.jsonl"
done
labels_topic=bench-labels-$RANDOM
"$e2e" topic --brokers "$brokers" --topic "$labels_topic" --partitions 6

echo "bench: raw (bare consumer, poll only)"
raw=$("$e2e" ceiling --raw --brokers "$brokers" --topic "$topic" --count "$n" --group "raw-$RANDOM")
echo "bench: $raw"
echo "bench: ceiling (bare consumer, JSON parse only)"
ceiling=$("$e2e" ceiling --brokers "$brokers" --topic "$topic" --count "$n" --group "ceiling-$RANDOM")
echo "bench: $ceiling"

run_driftd driftd "$bin" 0
run_driftd driftd+labels "$bin" 1
# The previous release, on the same topic in the same run (BENCH_BASELINE=path/to/driftd).
if [ -n "${BENCH_BASELINE:-}" ]; then
  run_driftd baseline "$BENCH_BASELINE" 0
  run_driftd baseline+labels "$BENCH_BASELINE" 1
fi

python3 - "$n" "$raw" "$ceiling" "${runs[@]}" <<'EOF'
import sys
n, raw, ceiling, runs = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
print(f"{'':16} {'events/s':>12} {'seconds':>9} {'peak RSS MB':>12} {'CPU s / 1M events':>18}")
def consumer(name, text):
    c = dict(kv.split("=") for kv in text.split()[1:])
    rate = n / float(c["seconds"])
    print(f"{name:16} {rate:12,.0f} {float(c['seconds']):9.2f} {float(c['rss_mb']):12.1f} {float(c['cpu_s']) / n * 1e6:18.2f}")
    return rate
r_rate = consumer("raw (poll only)", raw)
c_rate = consumer("ceiling (Value)", ceiling)
rates = {}
for r in runs:
    name, start, end, rss_kb, ticks = r.split()
    d_s = float(end) - float(start)
    rates[name] = (n / d_s, int(rss_kb) / 1024)
    print(f"{name:16} {n / d_s:12,.0f} {d_s:9.2f} {int(rss_kb) / 1024:12.1f} {int(ticks) / 100 / n * 1e6:18.2f}")
d_rate, d_rss = rates["driftd"]
line = f"raw_ratio={d_rate / r_rate:.3f} ratio={d_rate / c_rate:.3f} events_per_s={d_rate:.0f} rss_mb={d_rss:.1f}"
line += f" labels_events_per_s={rates['driftd+labels'][0]:.0f}"
if "baseline" in rates:
    line += f" baseline_events_per_s={rates['baseline'][0]:.0f} baseline_labels_events_per_s={rates['baseline+labels'][0]:.0f}"
print(line)
EOF
