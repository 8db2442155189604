#!/usr/bin/env bash
# One local Alertmanager (Debian's prometheus-alertmanager) for the tests, shared by
# all of them: scripts/test.sh starts it once and stops it at the end; the demo runs
# one of its own (port 19095).
#
#   scripts/alertmanager.sh start    listen on 127.0.0.1:$ALERTMANAGER_PORT (default 19394)
#   scripts/alertmanager.sh stop
#
# No clustering, state in /tmp/driftd-alertmanager-$PORT. Alerts go to the receiver
# `tests`, which has no integrations: the tests read Alertmanager's own API (each
# test's alerts carry a model name of its own). Alerts labelled receiver="hook" go to
# a webhook on 127.0.0.1:$ALERTMANAGER_HOOK_PORT (default the port + 1), where a test
# listens to see what Alertmanager notifies (and what a silence holds back).
# ALERTMANAGER_WEB_CONFIG: a --web.config.file (TLS, basic auth), for the test of
# driftd's [alertmanager] tls and basic_auth; then ALERTMANAGER_SCHEME=https.
set -euo pipefail
port=${ALERTMANAGER_PORT:-19394}
hook_port=${ALERTMANAGER_HOOK_PORT:-$((port + 1))}
scheme=${ALERTMANAGER_SCHEME:-http}
web_config=()
if [ -n "${ALERTMANAGER_WEB_CONFIG:-}" ]; then
  web_config=(--web.config.file="$ALERTMANAGER_WEB_CONFIG")
fi
dir=/tmp/driftd-alertmanager-$port
pidfile=$dir/pid
case "${1:-}" in
  start)
    mkdir -p "$dir/data"
    cat > "$dir/alertmanager.yml" <<EOF
route:
  receiver: tests
  group_by: [alertname, model]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['receiver="hook"']
      receiver: hook
      group_by: [model]
      group_wait: 1s
      group_interval: 1s
      repeat_interval: 2s
receivers:
  - name: tests
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:$hook_port/hook
        send_resolved: true
EOF
    prometheus-alertmanager --config.file="$dir/alertmanager.yml" --storage.path="$dir/data" \
      --web.listen-address="127.0.0.1:$port" --cluster.listen-address= "${web_config[@]}" \
      --log.level=warn > "$dir/alertmanager.log" 2>&1 &
    echo $! > "$pidfile"
    for _ in $(seq 1 100); do
      # Any HTTP answer (401 behind basic auth) means it is up.
      code=$(curl -sk -o /dev/null -w '%{http_code}' "$scheme://127.0.0.1:$port/-/ready" || true)
      if [ "$code" != "000" ] && [ -n "$code" ]; then
        echo "alertmanager.sh: ready on 127.0.0.1:$port (pid $(cat "$pidfile"))"
        exit 0
      fi
      sleep 0.2
    done
    echo "alertmanager.sh: not ready after 20 s; log:" >&2
    cat "$dir/alertmanager.log" >&2
    exit 1
    ;;
  stop)
    if [ -f "$pidfile" ]; then
      kill "$(cat "$pidfile")" 2>/dev/null || true
      rm -f "$pidfile"
      echo "alertmanager.sh: stopped"
    fi
    ;;
  *) echo "usage: scripts/alertmanager.sh start|stop" >&2; exit 2 ;;
esac
