#!/usr/bin/env bash
# A local single-node Apache Kafka 4.x broker (KRaft: broker and controller in one JVM),
# resolved from Maven Central, for development, the tests and the demo.
#
#   scripts/kafka.sh start    resolve jars (cached in ~/.m2), format a fresh log dir, start, wait
#   scripts/kafka.sh stop     stop the broker (SIGTERM, then SIGKILL after 30 s) and delete its dir
#   scripts/kafka.sh status   exit 0 when the broker answers metadata requests
#   scripts/kafka.sh topics   list topics (a metadata round trip)
#   scripts/kafka.sh halt     stop the broker but keep its data (an outage)
#   scripts/kafka.sh resume   start a halted broker on its data, wait
#
# Environment: KAFKA_PORT (default 19092), KAFKA_CONTROLLER_PORT (19093),
# KAFKA_DIR (default /tmp/driftd-kafka-$KAFKA_PORT), KAFKA_HEAP (default 768m).
# With KAFKA_SASL_PORT, KAFKA_SCRAM_USER and KAFKA_SCRAM_PASSWORD the broker also
# listens on KAFKA_SASL_PORT with SASL_PLAINTEXT and SCRAM-SHA-256, that user's
# credentials added when the storage is formatted.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
port=${KAFKA_PORT:-19092}
cport=${KAFKA_CONTROLLER_PORT:-19093}
dir=${KAFKA_DIR:-${TMPDIR:-/tmp}/driftd-kafka-$port}
lib="$here/kafka/target/lib"
heap=${KAFKA_HEAP:-768m}

log() { echo "kafka.sh: $*" >&2; }

resolve_jars() {
  if [ -f "$lib/.complete" ]; then return; fi
  command -v mvn >/dev/null || { log "mvn not found: install Maven (apt-get install maven)"; exit 1; }
  command -v java >/dev/null || { log "java not found: install a JDK 17 (apt-get install openjdk-17-jre-headless)"; exit 1; }
  log "resolving Apache Kafka jars with Maven (first run only)"
  rm -rf "$lib"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$lib" >&2
  touch "$lib/.complete"
}

kjava() { java -cp "$lib/*" -Dlog4j2.configurationFile="$dir/log4j2.properties" "$@"; }

answers_metadata() {
  kjava org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" --list >/dev/null 2>&1
}

running_pid() {
  [ -f "$dir/kafka.pid" ] || return 1
  local pid; pid=$(cat "$dir/kafka.pid")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

sasl_port=${KAFKA_SASL_PORT:-}

write_config() {
  mkdir -p "$dir/data"
  local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
  local advertised="PLAINTEXT://127.0.0.1:$port"
  local protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  local sasl=""
  if [ -n "$sasl_port" ]; then
    listeners="$listeners,SASL_PLAINTEXT://127.0.0.1:$sasl_port"
    advertised="$advertised,SASL_PLAINTEXT://127.0.0.1:$sasl_port"
    protocols="$protocols,SASL_PLAINTEXT:SASL_PLAINTEXT"
    sasl="sasl.enabled.mechanisms=SCRAM-SHA-256
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
  fi
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
$sasl
log.dirs=$dir/data
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
message.max.bytes=16777216
PROPS
  cat > "$dir/log4j2.properties" <<PROPS
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$dir/server.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=INFO
logger.org.name=org.apache.kafka
logger.org.level=WARN
PROPS
}

start() {
  if pid=$(running_pid); then log "already running (pid $pid) on 127.0.0.1:$port"; return 0; fi
  resolve_jars
  rm -rf "$dir"
  write_config
  local cluster_id
  cluster_id=$(kjava kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
  local scram=()
  if [ -n "$sasl_port" ]; then
    scram=(--add-scram "SCRAM-SHA-256=[name=${KAFKA_SCRAM_USER:?},password=${KAFKA_SCRAM_PASSWORD:?}]")
  fi
  kjava kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$dir/server.properties" "${scram[@]}" >"$dir/format.log" 2>&1 \
    || { log "formatting failed:"; cat "$dir/format.log" >&2; exit 1; }
  launch
}

# Starts the JVM on the formatted log dir and waits until it answers.
launch() {
  nohup java -Xms256m -Xmx"$heap" -XX:+UseG1GC -cp "$lib/*" \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 </dev/null &
  echo $! > "$dir/kafka.pid"
  log "starting broker (pid $!) on 127.0.0.1:$port, log dir $dir"
  local deadline=$((SECONDS + 120))
  until answers_metadata; do
    if ! running_pid >/dev/null; then
      log "broker exited during start-up; last log lines:"; tail -n 40 "$dir/stdout.log" "$dir/server.log" >&2 2>/dev/null || true
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then log "broker did not answer metadata within 120 s"; stop; exit 1; fi
    sleep 1
  done
  log "ready: bootstrap.servers=127.0.0.1:$port"
}

halt() {
  local pid
  if ! pid=$(running_pid); then log "not running"; return 0; fi
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then log "still alive after 30 s, killing"; kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$dir/kafka.pid"
  log "halted (data kept in $dir)"
}

resume() {
  if pid=$(running_pid); then log "already running (pid $pid)"; return 0; fi
  [ -f "$dir/server.properties" ] || { log "nothing to resume in $dir: use start"; exit 1; }
  launch
}

stop() {
  halt
  rm -rf "$dir"
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  halt) halt ;;
  resume) resume ;;
  status) if running_pid >/dev/null && answers_metadata; then echo "running on 127.0.0.1:$port"; else echo "not running"; exit 1; fi ;;
  topics) kjava org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$port" --list ;;
  *) echo "usage: $0 start|stop|status|topics|halt|resume" >&2; exit 2 ;;
esac
