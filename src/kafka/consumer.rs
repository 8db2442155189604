//! The consumer loop on its own thread, with rebalance callbacks between two polls.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::ClientContext;

use super::cluster::ClusterLink;
use super::{client_config, KafkaDeadLetter, Readiness};
use crate::base::sync::lock;
use crate::base::time::unix_now_ms;
use crate::config::Config;
use crate::ingest::{CheckpointError, Ingest, Origin};
use crate::metrics::Metrics;

const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Records collected before they are decoded (on two threads) and applied.
const BATCH: usize = 1024;
/// How long an assignment waits for the group's committed offsets.
const COMMITTED_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("kafka client: {0}")]
    Client(#[from] KafkaError),
    #[error("checkpoint failed: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("{0}")]
    Fatal(String),
}

type SharedIngest = Arc<Mutex<Ingest<KafkaDeadLetter>>>;

/// A polled record, copied out of librdkafka's buffer so that a batch can be decoded
/// on two threads.
struct Polled {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    timestamp_ms: i64,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
}

/// Decodes a batch on this thread and one more (decoding is most of a record's cost
/// and needs nothing shared), then applies it in offset order under the lock.
fn process_batch(ingest: &SharedIngest, batch: &mut Vec<Polled>) {
    if batch.is_empty() {
        return;
    }
    fn origin(m: &Polled) -> Origin<'_> {
        Origin {
            topic: &m.topic,
            partition: Some(m.partition),
            offset: m.offset,
            timestamp_ms: m.timestamp_ms,
        }
    }
    let decoder = lock(ingest).decoder();
    let decode = |part: &[Polled]| -> Vec<_> {
        part.iter()
            .map(|m| decoder.decode(origin(m), None, &m.payload))
            .collect()
    };
    let (first, second) = batch.split_at(batch.len() / 2);
    let decoded = if first.is_empty() {
        decode(second)
    } else {
        std::thread::scope(|s| {
            let other = s.spawn(|| decode(second));
            let mut out = decode(first);
            match other.join() {
                Ok(rest) => out.extend(rest),
                // Decoding does not panic on any input (tested); if it did, decode here.
                Err(_) => out.extend(decode(second)),
            }
            out
        })
    };
    let now = unix_now_ms();
    let mut guard = lock(ingest);
    for (m, d) in batch.iter().zip(decoded) {
        guard.apply(origin(m), m.key.as_deref(), &m.payload, d, now);
    }
    drop(guard);
    batch.clear();
}

/// Consumer callbacks: rebalances (seek to stored offsets, checkpoint on revoke)
/// and statistics (consumer lag).
struct ConsumerCallbacks {
    ingest: SharedIngest,
    /// Polled but not yet applied; a revoke applies them before it checkpoints, so
    /// the next owner of the partitions starts after them.
    pending: Mutex<Vec<Polled>>,
    metrics: Metrics,
    readiness: Arc<Readiness>,
    /// Set when a rebalance could not checkpoint; the loop then stops the daemon.
    fatal: Mutex<Option<String>>,
    /// Cluster mode: restores on assignment, gives the state up on revoke.
    cluster: Option<Arc<ClusterLink>>,
}

impl ClientContext for ConsumerCallbacks {
    /// Lag is measured against driftd's own position (the next offset in state), not
    /// librdkafka's `consumer_lag`, which counts from the last commit and so would
    /// report up to one checkpoint interval of phantom lag.
    fn stats(&self, stats: Statistics) {
        // Bootstrap entries (node id -1) are only addresses; a broker proper that is
        // up means the consumer can fetch again.
        let up = stats
            .brokers
            .values()
            .any(|b| b.nodeid >= 0 && b.state == "UP");
        if up {
            self.readiness.set_brokers_down(false);
        }
        let ingest = lock(&self.ingest);
        for (topic, t) in &stats.topics {
            for (partition, p) in &t.partitions {
                // -1 is librdkafka's internal "unassigned" partition.
                let end = if p.ls_offset >= 0 {
                    p.ls_offset
                } else {
                    p.hi_offset
                };
                if *partition < 0 || end < 0 || p.fetch_state != "active" {
                    continue;
                }
                let Some(position) = ingest
                    .state()
                    .offset(topic, *partition)
                    .or((p.app_offset >= 0).then_some(p.app_offset))
                else {
                    continue;
                };
                self.metrics
                    .consumer_lag
                    .with_label_values(&[topic, &partition.to_string()])
                    .set((end - position).max(0));
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            // Not ready until a statistics report shows a broker up again; the
            // consumer keeps reconnecting by itself.
            self.readiness.set_brokers_down(true);
        }
        tracing::warn!(%error, reason, "kafka client error");
    }
}

impl ConsumerContext for ConsumerCallbacks {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                // The group's committed offsets say where another member stopped: a
                // partition that comes back after it was consumed elsewhere resumes
                // there, not at this store's older offset (which would count the
                // other member's share twice).
                let committed = match consumer.committed_offsets(tpl.clone(), COMMITTED_TIMEOUT) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        tracing::warn!(%e, "cannot read the group's committed offsets; \
                            resuming from this store's offsets");
                        None
                    }
                };
                if let Some(cluster) = &self.cluster {
                    let partitions = tpl.elements().iter().map(|e| e.partition()).collect();
                    if let Err(e) =
                        cluster.take_over(&self.ingest, partitions, consumer.group_metadata())
                    {
                        // Consuming without the partitions' state would count from zero.
                        *lock(&self.fatal) =
                            Some(format!("cannot restore the assigned partitions: {e}"));
                        return;
                    }
                }
                let mut ingest = lock(&self.ingest);
                let mut starts = Vec::new();
                for e in tpl.elements() {
                    let (topic, partition) = (e.topic(), e.partition());
                    let stored = ingest.state().offset(topic, partition);
                    let group = committed
                        .as_ref()
                        .and_then(|c| c.find_partition(topic, partition))
                        .and_then(|c| match c.offset() {
                            Offset::Offset(o) => Some(o),
                            _ => None,
                        });
                    let start = match (stored, group) {
                        (Some(s), Some(g)) if g > s => {
                            tracing::info!(topic, partition, store = s, group = g,
                                "another member consumed this partition since; resuming at the group's offset");
                            // Stored at once, so that a checkpoint and commit before the
                            // first record never moves the group's offset back.
                            ingest.resume_at(topic, partition, g);
                            Some(g)
                        }
                        (Some(s), _) => Some(s),
                        (None, g) => g,
                    };
                    if let Some(o) = start {
                        starts.push((topic.to_string(), partition, o));
                    }
                }
                drop(ingest);
                for (topic, partition, offset) in &starts {
                    if let Err(e) =
                        tpl.set_partition_offset(topic, *partition, Offset::Offset(*offset))
                    {
                        tracing::error!(%e, topic, partition, "cannot set start offset");
                    }
                }
                let result = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                match result {
                    Ok(()) => {
                        tracing::info!(partitions = ?describe(tpl), "partitions assigned");
                    }
                    Err(e) => *lock(&self.fatal) = Some(format!("cannot assign partitions: {e}")),
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(partitions = ?describe(tpl), "partitions revoked; checkpointing");
                process_batch(&self.ingest, &mut lock(&self.pending));
                let mut ingest = lock(&self.ingest);
                match ingest.checkpoint() {
                    // In cluster mode the checkpoint's transaction committed the offsets.
                    Ok(()) if self.cluster.is_some() => {}
                    Ok(()) => commit(consumer, &ingest, Some(tpl), CommitMode::Sync),
                    Err(e) => {
                        // Without a checkpoint the next owner would re-read what this
                        // daemon counted; stopping and restarting from the store is safe.
                        *lock(&self.fatal) = Some(format!(
                            "checkpoint before giving up partitions failed: {e}"
                        ));
                    }
                }
                drop(ingest);
                if let Some(cluster) = &self.cluster {
                    if let Err(e) = cluster.give_up(&self.ingest) {
                        *lock(&self.fatal) =
                            Some(format!("cannot give up the revoked partitions: {e}"));
                    }
                }
                let result = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                if let Err(e) = result {
                    tracing::warn!(%e, "unassign failed");
                }
                for e in tpl.elements() {
                    let _ = self
                        .metrics
                        .consumer_lag
                        .remove_label_values(&[e.topic(), &e.partition().to_string()]);
                }
            }
            other => tracing::error!(error = ?other, "rebalance error"),
        }
        let assigned = consumer.assignment().map(|a| a.count()).unwrap_or(0);
        self.metrics.assigned_partitions.set(assigned as i64);
        self.readiness.set_assigned(assigned > 0);
    }
}

fn describe(tpl: &TopicPartitionList) -> Vec<String> {
    tpl.elements()
        .iter()
        .map(|e| format!("{}/{}@{:?}", e.topic(), e.partition(), e.offset()))
        .collect()
}

/// Commits the checkpointed offsets of `only` (or of every assigned partition).
fn commit(
    consumer: &BaseConsumer<ConsumerCallbacks>,
    ingest: &Ingest<KafkaDeadLetter>,
    only: Option<&TopicPartitionList>,
    mode: CommitMode,
) {
    let scope = match only {
        Some(t) => t.clone(),
        None => match consumer.assignment() {
            Ok(a) => a,
            Err(_) => return,
        },
    };
    let mut tpl = TopicPartitionList::new();
    for e in scope.elements() {
        if let Some(o) = ingest.state().offset(e.topic(), e.partition()) {
            if tpl
                .add_partition_offset(e.topic(), e.partition(), Offset::Offset(o))
                .is_err()
            {
                continue;
            }
        }
    }
    if tpl.count() == 0 {
        return;
    }
    if let Err(e) = consumer.commit(&tpl, mode) {
        // The store holds the truth; a failed commit only means the group offset lags.
        tracing::warn!(%e, "offset commit failed (state is safe in the store)");
    }
}

/// The share of `[storage] memory_budget` librdkafka may hold as prefetched records.
pub const PREFETCH_SHARE: f64 = 0.05;
const PREFETCH_KEY: &str = "queued.max.messages.kbytes";

/// librdkafka's `queued.max.messages.kbytes` for a budget: [`PREFETCH_SHARE`] of it,
/// at least 1 MiB (below that one fetch of a busy partition no longer fits).
fn prefetch_kbytes(memory_budget: u64) -> u64 {
    ((memory_budget as f64 * PREFETCH_SHARE) as u64 / 1024).max(1024)
}

/// Consumes until `shutdown` is set, checkpointing every `checkpoint_interval`;
/// ends with a final checkpoint and commit.
pub(crate) fn consume(
    config: &Config,
    ingest: SharedIngest,
    metrics: Metrics,
    readiness: Arc<Readiness>,
    shutdown: Arc<AtomicBool>,
    cluster: Option<Arc<ClusterLink>>,
) -> Result<(), ConsumeError> {
    let clustered = cluster.is_some();
    let callbacks = ConsumerCallbacks {
        ingest: ingest.clone(),
        pending: Mutex::new(Vec::with_capacity(BATCH)),
        metrics,
        readiness: readiness.clone(),
        fatal: Mutex::new(None),
        cluster: cluster.clone(),
    };
    let mut client = client_config(config)?;
    // librdkafka prefetches up to 64 MiB by default whatever the budget; records
    // waiting in its queue are memory like any other (docs/resources.md). The user's
    // `[kafka.client]` value, if any, wins.
    if client.get(PREFETCH_KEY).is_none() {
        client.set(
            PREFETCH_KEY,
            prefetch_kbytes(config.storage.memory_budget).to_string(),
        );
    }
    if clustered {
        // The range assignor gives partition p of every subscribed topic to one member
        // (the topics have one partition count, checked at start): a model's
        // predictions and labels meet there. The user's choice is not kept.
        client.set("partition.assignment.strategy", "range");
    }
    let consumer: BaseConsumer<ConsumerCallbacks> = client
        .set("group.id", &config.kafka.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("statistics.interval.ms", "5000")
        .create_with_context(callbacks)?;
    let topics: Vec<&str> = config
        .sources
        .iter()
        .map(|s| s.topic.get_ref().as_str())
        .collect();
    consumer.subscribe(&topics)?;
    tracing::info!(?topics, group = %config.kafka.group_id, "subscribed");

    let interval = config.storage.checkpoint_interval;
    let mut last_checkpoint = Instant::now();
    let mut topics: Vec<Arc<str>> = Vec::new();
    let pending = &consumer.context().pending;
    while !shutdown.load(Ordering::SeqCst) {
        if let Some(reason) = lock(&consumer.context().fatal).take() {
            return Err(ConsumeError::Fatal(reason));
        }
        if let Some(reason) = cluster.as_ref().and_then(|c| c.changelog.fatal()) {
            return Err(ConsumeError::Fatal(reason));
        }
        // Collect up to a batch without waiting while records are flowing; process
        // it when full or when the consumer has nothing more right now.
        let waiting = lock(pending).is_empty();
        let drained = match consumer.poll(if waiting {
            POLL_INTERVAL
        } else {
            Duration::ZERO
        }) {
            Some(Ok(msg)) => {
                let topic = match topics.iter().find(|t| &***t == msg.topic()) {
                    Some(t) => t.clone(),
                    None => {
                        let t: Arc<str> = Arc::from(msg.topic());
                        topics.push(t.clone());
                        t
                    }
                };
                let polled = Polled {
                    topic,
                    partition: msg.partition(),
                    offset: msg.offset(),
                    timestamp_ms: msg.timestamp().to_millis().unwrap_or_else(unix_now_ms),
                    key: msg.key().map(<[u8]>::to_vec),
                    payload: msg.payload().unwrap_or(&[]).to_vec(),
                };
                let mut p = lock(pending);
                p.push(polled);
                p.len() < BATCH
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "consume error");
                false
            }
            None => false,
        };
        let mut early = false;
        if !drained {
            process_batch(&ingest, &mut lock(pending));
            early = lock(&ingest).checkpoint_due();
            if early {
                consumer.context().metrics.early_checkpoints.inc();
            }
        }
        if early || last_checkpoint.elapsed() >= interval {
            process_batch(&ingest, &mut lock(pending));
            last_checkpoint = Instant::now();
            checkpoint_and_commit(&consumer, &ingest, &readiness, false, clustered)?;
        }
    }
    tracing::info!("shutting down: final checkpoint");
    process_batch(&ingest, &mut lock(pending));
    checkpoint_and_commit(&consumer, &ingest, &readiness, true, clustered)?;
    // Dropping the consumer leaves the group; the revoke callback finds nothing new.
    Ok(())
}

fn checkpoint_and_commit(
    consumer: &BaseConsumer<ConsumerCallbacks>,
    ingest: &SharedIngest,
    readiness: &Readiness,
    last: bool,
    clustered: bool,
) -> Result<(), ConsumeError> {
    let mode = if last {
        CommitMode::Sync
    } else {
        CommitMode::Async
    };
    let mut guard = lock(ingest);
    match guard.checkpoint() {
        Ok(()) => {
            readiness.set_checkpoint_ok(true);
            // Cluster mode: the checkpoint's transaction committed the offsets.
            if !clustered {
                commit(consumer, &guard, None, mode);
            }
            Ok(())
        }
        Err(CheckpointError::DeadLetter(e) | CheckpointError::Replica(e)) if !last => {
            readiness.set_checkpoint_ok(false);
            tracing::warn!(error = %e, "checkpoint postponed");
            Ok(())
        }
        Err(e) => {
            readiness.set_checkpoint_ok(false);
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::prefetch_kbytes;

    #[test]
    fn prefetch_is_a_share_of_the_budget_with_a_floor() {
        // 5 % of the default 512 MiB, in kB.
        assert_eq!(prefetch_kbytes(512 << 20), 26_214);
        assert_eq!(prefetch_kbytes(2 << 30), 104_857);
        assert_eq!(prefetch_kbytes(0), 1024);
    }
}
