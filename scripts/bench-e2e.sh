#!/usr/bin/env bash
# End-to-end throughput: driftd against the best the same Kafka consumer can do.
#
#   scripts/bench-e2e.sh [N]          N events (default 2,000,000)
#
# 1. starts a local broker (port 19292), creates a 6-partition topic, produces N
#    records (3 models, 20 numeric + 5 categorical features; examples/e2e.rs);
# 2. the ceiling: a bare rdkafka BaseConsumer with driftd's client settings that only
#    parses each record's JSON (`e2e ceiling`), from process start to the N-th record;
# 3. driftd with reference profiles for the 3 models, the shipped rules, checkpoints
#    every 5 s and windows 5m/1h/24h evaluated every 10 s, from process start until
#    driftd_events_total reaches N (polling /metrics every 100 ms);
# 4. prints events/s, the ratio, peak RSS (VmHWM) and CPU seconds per million events,
#    and ends with one line: ratio=<driftd/ceiling> events_per_s=<driftd> rss_mb=<peak>
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

cat > "$work/driftd.toml" <<EOF
[kafka]
brokers = ["$brokers"]
group_id = "bench-driftd"
dead_letter_topic = "bench-dead-letter"
[storage]
path = "$work/store"
checkpoint_interval = "5s"
[http]
bind = "127.0.0.1:$http_port"
[[source]]
topic = "$topic"
role = "predictions"
[alerting]
rules = ["$PWD/rules"]
EOF
for model in churn fraud ltv; do
  "$e2e" reference --model "$model" --count 20000 > "$work/$model.jsonl"
  "$bin" reference import --model "$model" --file "$work/$model.jsonl" --config "$work/driftd.toml" >/dev/null
done

echo "bench: ceiling (bare consumer, JSON parse only)"
ceiling=$("$e2e" ceiling --brokers "$brokers" --topic "$topic" --count "$n" --group "ceiling-$RANDOM")
echo "bench: $ceiling"

echo "bench: driftd"
start=$(date +%s.%N)
"$bin" run --config "$work/driftd.toml" 2> "$work/driftd.log" &
pid=$!
counted=0
while [ "$counted" -lt "$n" ]; do
  sleep 0.1
  if ! kill -0 "$pid" 2>/dev/null; then echo "bench: driftd exited:"; tail -20 "$work/driftd.log"; exit 1; fi
  counted=$(curl -sf "http://127.0.0.1:$http_port/metrics" 2>/dev/null \
    | awk '/^driftd_events_total/ {s+=$2} END {printf "%d", s+0}' || echo 0)
done
end=$(date +%s.%N)
# Where the time went besides records: window evaluation and checkpoints.
curl -sf "http://127.0.0.1:$http_port/metrics" | awk '
  /^driftd_evaluation_duration_seconds_(sum|count)/ {e[$1]=$2}
  /^driftd_checkpoint_duration_seconds_(sum|count)/ {c[$1]=$2}
  END {
    printf "bench: driftd evaluated windows %d times (%.1f s in total), checkpointed %d times (%.2f s in total)\n",
      e["driftd_evaluation_duration_seconds_count"], e["driftd_evaluation_duration_seconds_sum"],
      c["driftd_checkpoint_duration_seconds_count"], c["driftd_checkpoint_duration_seconds_sum"]
  }'
rss_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
cpu_ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
kill -TERM "$pid"; wait "$pid" || true; pid=""

python3 - "$n" "$start" "$end" "$rss_kb" "$cpu_ticks" "$ceiling" <<'EOF'
import sys
n, start, end, rss_kb, ticks, ceiling = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
c = dict(kv.split("=") for kv in ceiling.split()[1:])
d_s = end - start
d_rate, c_rate = n / d_s, n / float(c["seconds"])
d_rss, d_cpu = rss_kb / 1024, ticks / 100
print(f"{'':10} {'events/s':>12} {'seconds':>9} {'peak RSS MB':>12} {'CPU s / 1M events':>18}")
print(f"{'ceiling':10} {c_rate:12,.0f} {float(c['seconds']):9.2f} {float(c['rss_mb']):12.1f} {float(c['cpu_s']) / n * 1e6:18.2f}")
print(f"{'driftd':10} {d_rate:12,.0f} {d_s:9.2f} {d_rss:12.1f} {d_cpu / n * 1e6:18.2f}")
print(f"ratio={d_rate / c_rate:.3f} events_per_s={d_rate:.0f} rss_mb={d_rss:.1f}")
EOF
