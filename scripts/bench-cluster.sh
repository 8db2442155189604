#!/usr/bin/env bash
# Cluster mode's cost and scaling (docs/scaling.md):
#
#   scripts/bench-cluster.sh [N] [MODELS]     N events (default 1,000,000), MODELS models (12)
#
# 1. starts a local broker (port 19392), creates a 12-partition topic and produces N
#    records of MODELS models keyed by model with murmur2 (examples/e2e.rs produce
#    --keyed-models; 20 numeric + 5 categorical features);
# 2. runs, each in its own consumer group and store, from process start until the
#    events counted by its instances reach N (polling /metrics every 100 ms):
#      single     one driftd, no [cluster]                    (today's default)
#      cluster-1  one driftd with [cluster] enabled           (the changelog's cost)
#      cluster-2  two driftds with [cluster] enabled, one group
#      single-labels, cluster-1-labels: the same with a labels source and no label yet
#                 (every prediction waits in the join: a changelog record each)
#    with reference profiles for every model, the shipped rules, checkpoints every 5 s;
# 3. prints events/s, CPU seconds per million events (all instances together), peak RSS
#    of the largest instance, and changelog records and bytes per event; ends with one
#    line: overhead=<cluster-1 CPU per event / single's - 1> cpu_us_single=… cpu_us_cluster1=…
#    cpu_us_cluster2=… changelog_bytes_per_event=… events_per_s_single=… events_per_s_cluster1=…
#    events_per_s_cluster2=… labels_overhead=… labels_changelog_bytes_per_event=…
#    restore_s_per_gb=… (a new instance with an empty store restoring cluster-1-labels's
#    state from its changelog)
#
# On two cores the broker and both instances share the CPU, so cluster-2's events/s
# cannot double here: CPU per event and changelog bytes per event are what scale.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n=${1:-1000000}
models=${2:-12}
export KAFKA_PORT=${BENCH_KAFKA_PORT:-19392}
export KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1))
brokers=127.0.0.1:$KAFKA_PORT
http_port=${BENCH_HTTP_PORT:-18853}
work=$(mktemp -d "${TMPDIR:-/tmp}/driftd-bench-cluster.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
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

topic=bench-cluster-$RANDOM
"$e2e" topic --brokers "$brokers" --topic "$topic" --partitions 12
echo "bench: producing $n records of $models models to $topic (12 partitions, keyed by model)"
"$e2e" produce --brokers "$brokers" --topic "$topic" --count "$n" --keyed-models "$models"
"$e2e" reference --model m0 --count 20000 > "$work/reference.jsonl"

runs=()
port=$http_port
# run NAME INSTANCES CLUSTER(true|false) [labels]
run() {
  local name=$1 instances=$2 cluster=$3 labels=${4:-} group="bench-$1-$RANDOM" ports=() counted=0 i
  pids=()
  for i in $(seq 1 "$instances"); do
    local dir="$work/$name-$i"
    mkdir -p "$dir"
    port=$((port + 1))
    ports+=("$port")
    cat > "$dir/driftd.toml" <<EOF
[kafka]
brokers = ["$brokers"]
group_id = "$group"
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
[cluster]
enabled = $cluster
EOF
    if [ -n "$labels" ]; then
      # A labels source with no label yet: every prediction waits in the join, and in
      # cluster mode each one is a changelog record (the worst case for its bytes).
      printf '[[source]]\ntopic = "%s"\nrole = "labels"\n' "$labels_topic" >> "$dir/driftd.toml"
    fi
    for m in $(seq 0 $((models - 1))); do
      "$bin" reference import --model "m$m" --file "$work/reference.jsonl" --config "$dir/driftd.toml" >/dev/null
    done
  done
  echo "bench: $name ($instances instance(s))"
  local start end
  start=$(date +%s.%N)
  for i in $(seq 1 "$instances"); do
    "$bin" run --config "$work/$name-$i/driftd.toml" 2> "$work/$name-$i/driftd.log" &
    pids+=($!)
  done
  while [ "$counted" -lt "$n" ]; do
    sleep 0.1
    counted=0
    for i in "${!pids[@]}"; do
      if ! kill -0 "${pids[$i]}" 2>/dev/null; then echo "bench: $name exited:"; tail -20 "$work/$name-$((i + 1))/driftd.log"; exit 1; fi
      local c
      c=$(curl -sf "http://127.0.0.1:${ports[$i]}/metrics" 2>/dev/null \
        | awk '/^driftd_events_total/ {s+=$2} END {printf "%d", s+0}' || echo 0)
      counted=$((counted + c))
    done
  done
  end=$(date +%s.%N)
  local rss=0 ticks=0 bytes=0 records=0 restored=0
  for i in "${!pids[@]}"; do
    local p=${pids[$i]} r t
    r=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status")
    t=$(awk '{print $14 + $15}' "/proc/$p/stat")
    [ "$r" -gt "$rss" ] && rss=$r
    ticks=$((ticks + t))
    read -r b c s < <(curl -sf "http://127.0.0.1:${ports[$i]}/metrics" | awk '
      /^driftd_changelog_bytes_total/ {b=$2} /^driftd_changelog_records_total/ {c=$2}
      /^driftd_cluster_restored_records_total/ {s=$2}
      END {printf "%d %d %d\n", b, c, s}')
    bytes=$((bytes + b)); records=$((records + c)); restored=$((restored + s))
  done
  for p in "${pids[@]}"; do kill -TERM "$p"; wait "$p" || true; done
  pids=()
  runs+=("$name $instances $start $end $rss $ticks $bytes $records $restored")
}

labels_topic=bench-cluster-labels-$RANDOM
"$e2e" topic --brokers "$brokers" --topic "$labels_topic" --partitions 12
run single 1 false
run cluster-1 1 true
run cluster-2 2 true
run single-labels 1 false labels
run cluster-1-labels 1 true labels

# Restore: a new instance with an empty store joins cluster-1-labels's group (stopped):
# it reads all 12 partitions of that changelog before it consumes.
echo "bench: restore (an empty store in cluster-1-labels's group)"
mkdir -p "$work/restore"
port=$((port + 1))
sed -e "s|$work/cluster-1-labels-1/store|$work/restore/store|" \
    -e "s|^bind = .*|bind = \"127.0.0.1:$port\"|" \
    "$work/cluster-1-labels-1/driftd.toml" > "$work/restore/driftd.toml"
for m in $(seq 0 $((models - 1))); do
  "$bin" reference import --model "m$m" --file "$work/reference.jsonl" --config "$work/restore/driftd.toml" >/dev/null
done
"$bin" run --config "$work/restore/driftd.toml" 2> "$work/restore/driftd.log" &
pids=($!)
restore=""
while [ -z "$restore" ]; do
  sleep 0.2
  if ! kill -0 "${pids[0]}" 2>/dev/null; then echo "bench: restore exited:"; tail -20 "$work/restore/driftd.log"; exit 1; fi
  restore=$(curl -sf "http://127.0.0.1:$port/metrics" 2>/dev/null | awk '
    /^driftd_cluster_restore_duration_seconds_sum/ {s=$2} /^driftd_cluster_restore_duration_seconds_count/ {c=$2}
    /^driftd_cluster_restored_records_total/ {r=$2}
    END {if (c >= 1) printf "%s %d\n", s, r}' || true)
done
kill -TERM "${pids[0]}"; wait "${pids[0]}" || true
pids=()
runs+=("restore $restore")

python3 - "$n" "${runs[@]}" <<'EOF'
import sys
n, runs = int(sys.argv[1]), sys.argv[2:]
print(f"{'':16} {'inst':>4} {'events/s':>10} {'CPU s/1M':>9} {'peak RSS MB':>11} {'changelog B/event':>17} {'records/event':>13} {'restored':>9}")
out = {}
restore = [r for r in runs if r.startswith("restore ")]
runs = [r for r in runs if not r.startswith("restore ")]
for r in runs:
    name, inst, start, end, rss, ticks, b, c, s = r.split()
    secs = float(end) - float(start)
    cpu = int(ticks) / 100 / n * 1e6
    out[name] = (n / secs, cpu, int(b) / n)
    print(f"{name:16} {inst:>4} {n / secs:10,.0f} {cpu:9.2f} {int(rss) / 1024:11.1f} {int(b) / n:17.2f} {int(c) / n:13.4f} {int(s):9d}")
single, c1, c2 = out["single"], out["cluster-1"], out["cluster-2"]
# The changelog bytes cluster-1-labels wrote, over the restore's time (compaction may
# have dropped some of them: the rate is a lower bound).
_, secs, records = restore[0].split()
written = out["cluster-1-labels"][2] * n
print(f"restore: {int(records):,} records ({written / 1e6:.1f} MB written) in {float(secs):.2f} s: "
      f"{written / 1e6 / float(secs):.1f} MB/s, {float(secs) / (written / 1e9):.0f} s per GB")
print(f"overhead={c1[1] / single[1] - 1:.3f} cpu_us_single={single[1]:.2f} cpu_us_cluster1={c1[1]:.2f} "
      f"cpu_us_cluster2={c2[1]:.2f} changelog_bytes_per_event={c1[2]:.2f} "
      f"events_per_s_single={single[0]:.0f} events_per_s_cluster1={c1[0]:.0f} events_per_s_cluster2={c2[0]:.0f} "
      f"labels_overhead={out['cluster-1-labels'][1] / out['single-labels'][1] - 1:.3f} "
      f"labels_changelog_bytes_per_event={out['cluster-1-labels'][2]:.2f} "
      f"restore_s_per_gb={float(secs) / (written / 1e9):.1f}")
EOF
