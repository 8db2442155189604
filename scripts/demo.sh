#!/usr/bin/env bash
# The demo: a local Kafka broker and a local SMTP server, reference profiles for two
# models, a generator streaming their prediction logs and ground-truth labels (with
# some malformed records; after a minute every distribution shifts and model churn's
# labels stop agreeing with its scores; 20 % of fraud's traffic is a worse v2 canary
# that driftd rolls back), a Python model service logging a third model
# through the driftd client (numpy values, NaNs, times without a zone), and driftd
# watching it all with the shipped rules/: alerts go pending then firing, e-mails are
# delivered, the alerts (their annotations rendered from the rules' Prometheus-style
# templates) are pushed to a local Alertmanager, retraining events are emitted. Two
# driftd instances share the work in cluster mode (docs/scaling.md): each owns the
# models whose partitions it holds, and their state is mirrored to a compacted
# changelog topic. It prints what happens as it happens, who owns which model, and at
# the end what Alertmanager holds.
#
#   scripts/demo.sh                  run for DEMO_SECONDS (default 300), then stop cleanly
#   DEMO_SECONDS=0 scripts/demo.sh   run until Ctrl-C
#   DEMO_INSTANCES=1                 one daemon, no [cluster] (default 2)
#   DEMO_CHECK=1                     exit 1 unless driftd consumed events and served a
#                                    window report, and (when DEMO_SECONDS >= 240) an
#                                    alert e-mail with charts arrived, an alert with its
#                                    rendered summary reached Alertmanager, a retraining
#                                    event was produced and the live HTML report shows
#                                    drifted features, and fraud's v2 canary reached
#                                    rollback (the test command uses this)
#
# While it runs: http://127.0.0.1:7853/metrics, /api/v1/alerts, /api/v1/models,
# /api/v1/cluster (the second instance on 7854), and
# Alertmanager on http://127.0.0.1:19095 (its UI and /api/v2/alerts).
# Received e-mails are saved in target/demo-mail/ (kept after the demo); at the end
# churn's live drift report is written to target/demo-report.html.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${DEMO_SECONDS:-300}
export KAFKA_PORT=${KAFKA_PORT:-19092}
export KAFKA_CONTROLLER_PORT=$((KAFKA_PORT + 1))
smtp_port=${DEMO_SMTP_PORT:-2525}
# Alertmanager (Debian's prometheus-alertmanager, through scripts/alertmanager.sh).
export ALERTMANAGER_PORT=${DEMO_ALERTMANAGER_PORT:-19095}
alertmanager=http://127.0.0.1:$ALERTMANAGER_PORT
work=$(mktemp -d "${TMPDIR:-/tmp}/driftd-demo.XXXXXX")
mail_dir=$PWD/target/demo-mail
instances=${DEMO_INSTANCES:-2}
apis=()
for i in $(seq 1 "$instances"); do apis+=("http://127.0.0.1:$((7852 + i))"); done
api=${apis[0]}
# Every instance's /metrics, one after the other (gauges of a model come from its owner).
all_metrics() { for a in "${apis[@]}"; do curl -sf "$a/metrics" || true; done; }
# The API of the instance that owns model $1.
owner_of() {
  local a
  for a in "${apis[@]}"; do
    if curl -sf "$a/api/v1/cluster" | python3 -c 'import json,sys; c=json.load(sys.stdin); sys.exit(0 if not c["enabled"] or sys.argv[1] in c["owned_models"] else 1)' "$1"; then
      echo "$a"; return
    fi
  done
  echo "$api"
}

scripts/ensure-deps.sh
echo "demo: building driftd (release; the first build takes a few minutes)"
cargo build --release --quiet
bin=target/release/driftd
smtp_python=$(scripts/smtp-env.sh)
client_python=$(scripts/client-env.sh)

pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  if [ "$instances" -gt 1 ]; then
    echo "demo: the instances' state is in the changelog topic driftd-changelog (each store held only its own partitions)"
  elif [ -f "$work/driftd-1.toml" ]; then
    echo "demo: state checkpointed by driftd:"
    "$bin" state show --config "$work/driftd-1.toml" | head -n 20
  fi
  scripts/kafka.sh stop
  scripts/alertmanager.sh stop
  rm -rf "$work"
  echo "demo: e-mails received: $(find "$mail_dir" -name '*.eml' | wc -l), in $mail_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$mail_dir" && mkdir -p "$mail_dir"
"$smtp_python" scripts/smtp_sink.py --port "$smtp_port" --dir "$mail_dir" &
pids+=($!)
scripts/kafka.sh start
scripts/alertmanager.sh stop >/dev/null 2>&1 || true
scripts/alertmanager.sh start

# The example config with a store of its own, a 1m window and a 5 s tick to watch,
# quicker e-mail grouping, an SMTP server, and each model's validation accuracy as
# the reference of the AccuracyDrop rule. The rules are the shipped rules/.
sed -e "s#^path = .*#path = \"$work/store\"#" \
    -e "s#127.0.0.1:19092#127.0.0.1:$KAFKA_PORT#" \
    -e 's#^windows = \[.*\]#windows = ["1m", "5m", "1h", "24h"]#' \
    -e 's#^tick = .*#tick = "5s"#' \
    -e 's#^group_wait = .*#group_wait = "10s"#' \
    -e 's#^group_interval = .*#group_interval = "30s"#' \
    docs/driftd.example.toml > "$work/driftd.toml"
cat >> "$work/driftd.toml" <<EOF

[email]
to = ["oncall@example.com"]
from = "driftd demo <driftd@example.com>"
smtp_host = "127.0.0.1"
smtp_port = $smtp_port
# The local demo server speaks plain SMTP; real servers use starttls or tls.
tls = "none"

[alertmanager]
urls = ["$alertmanager"]
resend_delay = "10s"

[models.churn]
reference_metrics = { accuracy = 0.735 }

[models.fraud]
reference_metrics = { accuracy = 0.735 }

# 20 % of fraud's traffic is a v2 canary whose labels disagree more often (driftd
# generate --canary-model): the always-valid verdict rolls it back, rules/deployments.toml
# pages on it, and the verdict goes out as a CloudEvent on driftd.deployments.
[[models.fraud.deployments]]
name = "v2-canary"
kind = "canary"
baseline = "v1"
candidate = "v2"
min_effect = 0.05

# Logged by scripts/demo_service.py through the Python client; no reference profile.
[models.pricing]
EOF
if [ "$instances" -gt 1 ]; then
  # Several instances as one: each owns the models on its partitions.
  sed -i '/^\[cluster\]/,$ s/^enabled = false/enabled = true/' "$work/driftd.toml"
fi
# One config per instance: its own store and port.
for i in $(seq 1 "$instances"); do
  sed -e "s#^path = .*#path = \"$work/store-$i\"#" \
      -e "s#^bind = .*#bind = \"127.0.0.1:$((7852 + i))\"#" \
      "$work/driftd.toml" > "$work/driftd-$i.toml"
done
"$bin" config check --config "$work/driftd-1.toml"

# A reference profile per model, from undrifted synthetic traffic; every instance
# imports the same file (a profile's id is its file's checksum).
for model in churn fraud; do
  "$bin" generate --models "$model" --count 20000 --seed 7 --output "$work/$model-reference.jsonl" --log warn
  for i in $(seq 1 "$instances"); do
    "$bin" reference import --model "$model" --file "$work/$model-reference.jsonl" --config "$work/driftd-$i.toml" >/dev/null
  done
done

"$bin" generate --brokers "127.0.0.1:$KAFKA_PORT" --topic predictions --models churn,fraud \
  --labels-topic labels --degrade-model churn --canary-model fraud --rate 300 \
  --malformed-every 500 --drift-after 60s --log warn &
pids+=($!)
"$client_python" scripts/demo_service.py "127.0.0.1:$KAFKA_PORT" 50 &
pids+=($!)
if [ "$instances" -gt 1 ]; then
  # Cluster mode reads the input topics' partition count at start: they must exist.
  for _ in $(seq 1 60); do
    topics=$(scripts/kafka.sh topics 2>/dev/null || true)
    grep -qx predictions <<<"$topics" && grep -qx labels <<<"$topics" && break
    sleep 1
  done
fi
for i in $(seq 1 "$instances"); do
  "$bin" --log-format json run --config "$work/driftd-$i.toml" 2> "$work/driftd-$i.log" &
  pids+=($!)
  # What each instance does, as it does it: take-overs, alert transitions, e-mails,
  # retraining events.
  name=driftd; [ "$instances" -gt 1 ] && name=driftd-$i
  tail -n +1 -F "$work/driftd-$i.log" 2>/dev/null | python3 -u scripts/demo_events.py --name "$name" &
  pids+=($!)
done

for a in "${apis[@]}"; do until curl -sf "$a/healthz" >/dev/null; do sleep 0.5; done; done
echo "demo: driftd is consuming 'predictions' and 'labels'; drift starts in about 60 s"
echo "demo: look at $api/metrics, $api/api/v1/alerts, $api/api/v1/models/churn/drift?window=5m"
[ "$instances" -gt 1 ] && echo "demo: $instances instances in one group; who owns what: ${apis[*]/%//api/v1/cluster}"
echo "demo: e-mails are saved in $mail_dir; driftd's logs (JSON) are $work/driftd-*.log"
[ "$seconds" -eq 0 ] && echo "demo: Ctrl-C stops it" || echo "demo: running for ${seconds}s (Ctrl-C stops it earlier)"
start=$SECONDS
while [ "$seconds" -eq 0 ] || [ $((SECONDS - start)) -lt "$seconds" ]; do
  sleep 15
  m=$(all_metrics)
  events=$(echo "$m" | awk '/^driftd_events_total/ {s+=$2} END {print s+0}')
  pricing=$(echo "$m" | awk '/^driftd_events_total\{.*model="pricing"/ {s+=$2} END {print s+0}')
  errors=$(echo "$m" | awk '/^driftd_decode_errors_total/ {s+=$2} END {print s+0}')
  psi=$(echo "$m" | awk '/^driftd_feature_psi\{feature="plan",model="churn",version="v1",window="5m"\}/ {printf "%.3f", $2}')
  acc=$(echo "$m" | awk '/^driftd_performance_accuracy\{model="churn",version="v1",window="1h"\}/ {printf "%.3f", $2}')
  canary=$(echo "$m" | awk '/^driftd_deployment_verdict\{deployment="v2-canary",metric="all",model="fraud"\}/ {print ($2 > 0 ? "promote" : ($2 < 0 ? "rollback" : "continue"))}')
  firing=$(echo "$m" | awk '/^driftd_alerts\{.*alertstate="firing"/ {n++} END {print n+0}')
  pending=$(echo "$m" | awk '/^driftd_alerts\{.*alertstate="pending"/ {n++} END {print n+0}')
  printf 'demo: t=%3ss events=%s (pricing, Python client: %s) dead-lettered=%s | churn: plan PSI(5m)=%s accuracy(1h)=%s | fraud v2 canary: %s | alerts: %s firing, %s pending\n' \
    $((SECONDS - start)) "$events" "$pricing" "$errors" "${psi:--}" "${acc:--}" "${canary:--}" "$firing" "$pending"
done

if [ "$instances" -gt 1 ]; then
  echo "demo: who owns what:"
  for i in $(seq 1 "$instances"); do
    curl -s "${apis[$((i - 1))]}/api/v1/cluster" | python3 scripts/demo_events.py --cluster "driftd-$i"
  done
fi
echo "demo: alerts now:"
for a in "${apis[@]}"; do curl -s "$a/api/v1/alerts" | python3 scripts/demo_events.py --alerts; done
echo "demo: alerts in Alertmanager ($alertmanager):"
curl -s "$alertmanager/api/v2/alerts" | python3 scripts/demo_events.py --alertmanager
# The live drift report of churn as one HTML page, from the instance that owns it.
churn_api=$(owner_of churn)
churn_config="$work/driftd-$(( ${churn_api##*:} - 7852 )).toml"
report_html=$PWD/target/demo-report.html
rm -f "$report_html"
if "$bin" report --model churn --window 5m --config "$churn_config" --format html --output "$report_html"; then
  echo "demo: churn's drift report (5m window; charts, PSI per hour): $report_html — or open $churn_api/api/v1/models/churn/report?window=5m in a browser"
fi
charted=$(grep -l "Content-Type: image/png" "$mail_dir"/*.eml 2>/dev/null | wc -l)
echo "demo: $charted e-mail(s) carry charts of the drifted features (inline PNGs)"
if [ "${DEMO_CHECK:-0}" = 1 ]; then
  m=$(all_metrics)
  events=$(echo "$m" | awk '/^driftd_events_total/ {s+=$2} END {print s+0}')
  pricing=$(echo "$m" | awk '/^driftd_events_total\{.*model="pricing"/ {s+=$2} END {print s+0}')
  # Delivered to Kafka by the outbox: retraining requests and deployment verdicts.
  produced=$(echo "$m" | awk '/^driftd_outbox_deliveries_total\{kind="kafka",result="delivered"\}/ {s+=$2} END {print s+0}')
  requested=$(echo "$m" | awk '/^driftd_retrain_requests_total\{.*result="emitted"/ {s+=$2} END {print s+0}')
  rollbacks=$(echo "$m" | awk '/^driftd_deployment_events_total\{.*model="fraud".*verdict="rollback"/ {s+=$2} END {print s+0}')
  status=$(curl -s -o /dev/null -w '%{http_code}' "$(owner_of churn)/api/v1/models/churn/drift?window=5m")
  mails=$(find "$mail_dir" -name '*.eml' | wc -l)
  # Alerts in Alertmanager with a rendered summary (a template left as text would
  # still contain "{{").
  in_am=$(curl -s "$alertmanager/api/v2/alerts" | python3 -c '
import json, sys
alerts = json.load(sys.stdin)
print(sum(1 for a in alerts if a["annotations"].get("summary") and "{{" not in a["annotations"]["summary"]))' || echo 0)
  ok=1
  [ "$events" -gt 0 ] && [ "$pricing" -gt 0 ] && [ "$status" = 200 ] || ok=0
  grep -q 'data-verdict="drift"' "$report_html" 2>/dev/null && report="drifted features in the HTML report" || report=""
  if [ "$seconds" -ge 240 ] && { [ "$mails" -lt 1 ] || [ "${produced:-0}" -lt 2 ] || [ "$requested" -lt 1 ] || [ "$in_am" -lt 1 ] || [ "$charted" -lt 1 ] || [ -z "$report" ] || [ "$rollbacks" -lt 1 ]; }; then ok=0; fi
  if [ "$ok" = 1 ]; then
    echo "demo check: passed ($events events, $pricing from the Python client, window report served, $mails e-mail(s) ($charted with charts), $in_am alert(s) in Alertmanager, $requested retraining request(s), ${produced:-0} event(s) produced, ${report:-no HTML report}, fraud's canary rolled back)"
  else
    echo "demo check: FAILED (events=$events, pricing=$pricing, drift API status $status, e-mails=$mails, with charts=$charted, alerts in Alertmanager=$in_am, retraining requests=$requested, events produced=${produced:-0}, HTML report: ${report:-none}, canary rollbacks=$rollbacks)"
    exit 1
  fi
fi
echo "demo: stopping (SIGTERM: final checkpoint, offsets committed)"
