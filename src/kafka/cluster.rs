//! Cluster mode (`[cluster] enabled`, docs/scaling.md): N daemons in one consumer
//! group give the answer one daemon gives, with Kafka as the only coordinator.
//!
//! - **Ownership** ([`Ownership`]): records are keyed by model with Kafka's default
//!   partitioner, so every record of a model is on one partition number p of every
//!   input topic (predictions and labels have the same partition count, checked at
//!   start; the range assignor gives partition p of each topic to the same member).
//!   The member that holds p owns every model whose key hashes to p: its windows, its
//!   joins, its alerts, e-mails, retraining and outbox.
//! - **Changelog** ([`Changelog`]): every store write of a replicated key
//!   ([`crate::store::KeyOwner`]) is first produced to partition p of a compacted
//!   changelog topic, in one Kafka transaction that also carries the input offsets
//!   (`send_offsets_to_transaction` with the consumer's group metadata, KIP-447), and
//!   only then written to the local store. A member that lost p in a rebalance it
//!   has not seen yet is fenced by the group's generation.
//! - **Restore** ([`restore`]): a member that is assigned p reads p of the changelog
//!   from its start to its end (read-committed) into its store before it consumes a
//!   record; a member that gives p up removes those keys from its store. The store
//!   therefore holds exactly the owned partitions, and a lost disk loses nothing.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerGroupMetadata};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::client_config;
use crate::base::partition::partition_of;
use crate::base::sync::lock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::{KeyOwner, Replica, ReplicatedChange, Store, StoreError};

const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a restore waits for a partition's end (an open transaction of a killed
/// member holds it back until the broker aborts it: `transaction.timeout.ms`).
const RESTORE_TIMEOUT: Duration = Duration::from_secs(180);
/// Restored records written to the store per transaction.
const RESTORE_CHUNK: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("{0}")]
    Topics(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("restore of changelog {topic} partition {partition} did not reach its end in {RESTORE_TIMEOUT:?}")]
    RestoreTimeout { topic: String, partition: i32 },
}

/// Which input partitions (and so which models) this instance owns now.
pub(crate) struct Ownership {
    partitions: i32,
    owned: RwLock<BTreeSet<i32>>,
    generation: AtomicU64,
    instance: String,
}

impl Ownership {
    pub fn new(partitions: i32, instance: String) -> Ownership {
        Ownership {
            partitions,
            owned: RwLock::new(BTreeSet::new()),
            generation: AtomicU64::new(0),
            instance,
        }
    }

    /// The partition count of every input topic (and of the changelog).
    pub fn partitions(&self) -> i32 {
        self.partitions
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The partition whose owner owns `model`.
    pub fn partition_of(&self, model: &str) -> i32 {
        partition_of(model.as_bytes(), self.partitions)
    }

    pub fn owns_partition(&self, partition: i32) -> bool {
        self.owned
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&partition)
    }

    pub fn owns_model(&self, model: &str) -> bool {
        self.owns_partition(self.partition_of(model))
    }

    pub fn owned(&self) -> BTreeSet<i32> {
        self.owned.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How many times ownership changed since the start.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn set(&self, owned: BTreeSet<i32>) {
        *self.owned.write().unwrap_or_else(|p| p.into_inner()) = owned;
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// The transactional producer of the changelog topic: the store's [`Replica`].
pub(crate) struct Changelog {
    topic: String,
    producer: BaseProducer,
    ownership: Arc<Ownership>,
    /// The consumer's group metadata of the current generation, set on assignment.
    group: Mutex<Option<ConsumerGroupMetadata>>,
    /// One transaction at a time: the consumer's checkpoints, the alerting stage's
    /// writes and the outbox's removals share the producer.
    busy: Mutex<()>,
    /// Set when the producer can no longer commit (fenced): the daemon stops.
    fatal: Mutex<Option<String>>,
    metrics: Metrics,
}

impl Changelog {
    /// Creates the producer and registers its transactional id with the broker (which
    /// aborts whatever a previous incarnation with the same id left open).
    pub fn new(
        config: &Config,
        ownership: Arc<Ownership>,
        metrics: Metrics,
    ) -> Result<Changelog, ClusterError> {
        let topic = config.cluster.changelog(&config.kafka.group_id);
        let id = format!("driftd-{}-{}", config.kafka.group_id, ownership.instance());
        let producer: BaseProducer = client_config(config)?
            .set("transactional.id", &id)
            .set("enable.idempotence", "true")
            // Kafka Streams' choice: a killed member's open transaction holds back
            // the changelog's readers (the next owner's restore) until it is aborted.
            .set("transaction.timeout.ms", "10000")
            .set("linger.ms", "5")
            .set("message.max.bytes", "16000000")
            .create()?;
        producer.init_transactions(TRANSACTION_TIMEOUT)?;
        tracing::info!(topic, transactional_id = %id, "changelog producer ready");
        Ok(Changelog {
            topic,
            producer,
            ownership,
            group: Mutex::new(None),
            busy: Mutex::new(()),
            fatal: Mutex::new(None),
            metrics,
        })
    }

    pub fn set_group_metadata(&self, group: Option<ConsumerGroupMetadata>) {
        *lock(&self.group) = group;
    }

    /// Why the producer stopped for good, if it did.
    pub fn fatal(&self) -> Option<String> {
        lock(&self.fatal).clone()
    }

    fn partition(&self, owner: &KeyOwner) -> Option<i32> {
        match owner {
            KeyOwner::Model(m) => Some(self.ownership.partition_of(m)),
            KeyOwner::Partition(p) => Some(*p),
            KeyOwner::Local => None,
        }
    }

    fn transact(&self, changes: &[ReplicatedChange<'_>]) -> Result<(), KafkaError> {
        self.producer.begin_transaction()?;
        let mut offsets = TopicPartitionList::new();
        let mut bytes = 0u64;
        for c in changes {
            let Some(partition) = self.partition(&c.owner) else {
                continue;
            };
            bytes += (c.key.len() + c.value.map_or(0, <[u8]>::len)) as u64;
            let mut record = BaseRecord::<[u8], [u8]>::to(&self.topic)
                .partition(partition)
                .key(c.key);
            if let Some(v) = c.value {
                record = record.payload(v);
            }
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        record = r;
                        self.producer.poll(Duration::from_millis(5));
                    }
                    Err((e, _)) => return Err(e),
                }
            }
            if let Some((topic, partition, offset)) = c.offset() {
                offsets.add_partition_offset(&topic, partition, Offset::Offset(offset))?;
            }
        }
        if offsets.count() > 0 {
            if let Some(group) = lock(&self.group).as_ref() {
                self.producer
                    .send_offsets_to_transaction(&offsets, group, TRANSACTION_TIMEOUT)?;
            }
        }
        self.producer.commit_transaction(TRANSACTION_TIMEOUT)?;
        self.metrics
            .cluster
            .changelog_records
            .inc_by(changes.len() as u64);
        self.metrics.cluster.changelog_bytes.inc_by(bytes);
        Ok(())
    }
}

impl Replica for Changelog {
    fn replicate(&self, changes: &[ReplicatedChange<'_>]) -> Result<(), String> {
        let _one = lock(&self.busy);
        if let Some(reason) = self.fatal() {
            return Err(reason);
        }
        // A write for a partition this instance gave up would overwrite its new
        // owner's state: refused before anything is produced.
        for c in changes {
            if let Some(p) = self.partition(&c.owner) {
                if !self.ownership.owns_partition(p) {
                    self.metrics
                        .cluster
                        .changelog_transactions
                        .with_label_values(&["not_owner"])
                        .inc();
                    return Err(format!(
                        "partition {p} is not this instance's (any more); write of {:?} refused",
                        String::from_utf8_lossy(c.key)
                    ));
                }
            }
        }
        match self.transact(changes) {
            Ok(()) => {
                self.metrics
                    .cluster
                    .changelog_transactions
                    .with_label_values(&["committed"])
                    .inc();
                Ok(())
            }
            Err(e) => {
                let fatal = matches!(&e, KafkaError::Transaction(t) if t.is_fatal());
                let result = if fatal { "fatal" } else { "aborted" };
                self.metrics
                    .cluster
                    .changelog_transactions
                    .with_label_values(&[result])
                    .inc();
                if fatal {
                    *lock(&self.fatal) = Some(format!("changelog producer fenced or failed: {e}"));
                } else if let Err(abort) = self.producer.abort_transaction(TRANSACTION_TIMEOUT) {
                    tracing::warn!(error = %abort, "changelog transaction abort failed");
                }
                tracing::warn!(error = %e, result, "changelog transaction failed");
                Err(format!("changelog transaction {result}: {e}"))
            }
        }
    }
}

/// Checks the input topics (one partition count) and the changelog topic (created
/// when missing and allowed; compacted, the same count); returns the count.
pub(crate) async fn prepare_topics(config: &Config) -> Result<i32, ClusterError> {
    let admin: AdminClient<DefaultClientContext> = client_config(config)?.create()?;
    let count = |topic: &str| -> Result<Option<i32>, ClusterError> {
        // All topics: asking for one by name makes a broker with
        // auto.create.topics.enable create it, with its default partition count.
        let md = admin.inner().fetch_metadata(None, ADMIN_TIMEOUT)?;
        Ok(md
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map(|t| t.partitions().len() as i32)
            .filter(|&n| n > 0))
    };
    let mut counts = Vec::new();
    for s in &config.sources {
        let topic = s.topic.get_ref();
        let n = count(topic)?.ok_or_else(|| {
            ClusterError::Topics(format!(
                "[cluster] needs the input topic {topic} to exist before the start \
                 (its partition count decides which instance owns which model)"
            ))
        })?;
        counts.push((topic.clone(), n));
    }
    let partitions = counts.first().map_or(1, |c| c.1);
    if counts.iter().any(|c| c.1 != partitions) {
        let list: Vec<String> = counts.iter().map(|(t, n)| format!("{t}: {n}")).collect();
        return Err(ClusterError::Topics(format!(
            "[cluster] needs every [[source]] topic to have the same partition count, so that \
             a model's predictions and labels meet on one instance; found {}",
            list.join(", ")
        )));
    }
    let changelog = config.cluster.changelog(&config.kafka.group_id);
    match count(&changelog)? {
        None if config.cluster.create_topics => {
            let rf = config.cluster.replication_factor.unwrap_or(-1);
            let topic = NewTopic::new(&changelog, partitions, TopicReplication::Fixed(rf))
                .set("cleanup.policy", "compact");
            let results = admin
                .create_topics([&topic], &AdminOptions::new())
                .await?;
            for r in results {
                match r {
                    Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((t, e)) => {
                        return Err(ClusterError::Topics(format!(
                            "cannot create the changelog topic {t}: {e}"
                        )))
                    }
                }
            }
            tracing::info!(topic = %changelog, partitions, "changelog topic created");
        }
        None => {
            return Err(ClusterError::Topics(format!(
                "the changelog topic {changelog} does not exist and [cluster] create_topics = \
                 false; create it with: kafka-topics.sh --create --topic {changelog} \
                 --partitions {partitions} --config cleanup.policy=compact"
            )))
        }
        Some(n) if n != partitions => {
            return Err(ClusterError::Topics(format!(
                "the changelog topic {changelog} has {n} partitions, the input topics {partitions}; \
                 they must be equal (partition p of the changelog holds the state of partition p's models)"
            )))
        }
        Some(_) => {
            let resource = ResourceSpecifier::Topic(&changelog);
            let described = admin
                .describe_configs([&resource], &AdminOptions::new())
                .await?;
            let policy = described
                .into_iter()
                .flatten()
                .find_map(|r| r.get("cleanup.policy").and_then(|e| e.value.clone()))
                .unwrap_or_default();
            if !policy.split(',').any(|p| p.trim() == "compact") {
                return Err(ClusterError::Topics(format!(
                    "the changelog topic {changelog} has cleanup.policy={policy}; it must be \
                     compact (a delete policy would lose state past the retention)"
                )));
            }
        }
    }
    Ok(partitions)
}

/// Reads `partitions` of the changelog from their start to their end into `store`
/// (which holds none of their keys); returns the records read.
pub(crate) fn restore(
    config: &Config,
    store: &Store,
    partitions: &BTreeSet<i32>,
    metrics: &Metrics,
) -> Result<u64, ClusterError> {
    if partitions.is_empty() {
        return Ok(0);
    }
    let started = Instant::now();
    let topic = config.cluster.changelog(&config.kafka.group_id);
    let consumer: BaseConsumer = client_config(config)?
        .set("group.id", format!("{}-restore", config.kafka.group_id))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    let mut waiting = BTreeSet::new();
    for &p in partitions {
        let (low, high) = consumer.fetch_watermarks(&topic, p, ADMIN_TIMEOUT)?;
        if high > low {
            tpl.add_partition_offset(&topic, p, Offset::Beginning)?;
            waiting.insert(p);
        }
    }
    let mut read = 0u64;
    if !waiting.is_empty() {
        consumer.assign(&tpl)?;
        let mut chunk = Vec::with_capacity(RESTORE_CHUNK);
        let mut progress = Instant::now();
        while !waiting.is_empty() {
            if started.elapsed() > RESTORE_TIMEOUT {
                let partition = waiting.first().copied().unwrap_or(-1);
                return Err(ClusterError::RestoreTimeout { topic, partition });
            }
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(m)) => {
                    let key = m.key().map(<[u8]>::to_vec).unwrap_or_default();
                    chunk.push((key, m.payload().map(<[u8]>::to_vec)));
                    read += 1;
                    if chunk.len() >= RESTORE_CHUNK {
                        store.restore(std::mem::take(&mut chunk))?;
                        metrics
                            .cluster
                            .restored_records
                            .inc_by(RESTORE_CHUNK as u64);
                    }
                }
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    waiting.remove(&p);
                }
                Some(Err(e)) => tracing::warn!(error = %e, "changelog restore: consume error"),
                None => {}
            }
            if progress.elapsed() > Duration::from_secs(5) {
                progress = Instant::now();
                tracing::info!(
                    records = read,
                    partitions_left = waiting.len(),
                    "restoring state from the changelog"
                );
            }
        }
        let rest = chunk.len() as u64;
        store.restore(chunk)?;
        metrics.cluster.restored_records.inc_by(rest);
    }
    store.recount_joins()?;
    metrics
        .cluster
        .restore_seconds
        .observe(started.elapsed().as_secs_f64());
    tracing::info!(records = read, partitions = ?partitions, took = ?started.elapsed(),
        "state restored from the changelog");
    Ok(read)
}

/// What the consumer thread does in cluster mode when its partitions change.
pub(crate) struct ClusterLink {
    pub config: Config,
    pub store: Store,
    pub ownership: Arc<Ownership>,
    pub changelog: Arc<Changelog>,
    /// Reloads the alerting stage's state from the store (after a restore or a wipe).
    pub reload_alerting: Box<dyn Fn() -> Result<(), String> + Send + Sync>,
    pub metrics: Metrics,
}

type SharedIngest = Arc<Mutex<crate::ingest::Ingest<super::KafkaDeadLetter>>>;

impl ClusterLink {
    /// Before an assignment is used: the partitions' state is read from the
    /// changelog into the (emptied) store, and every stage reloads from it.
    pub fn take_over(
        &self,
        ingest: &SharedIngest,
        partitions: BTreeSet<i32>,
        group: Option<ConsumerGroupMetadata>,
    ) -> Result<(), String> {
        self.changelog.set_group_metadata(group);
        self.store.wipe_replicated().map_err(|e| e.to_string())?;
        restore(&self.config, &self.store, &partitions, &self.metrics)
            .map_err(|e| e.to_string())?;
        self.ownership.set(partitions);
        self.reload(ingest)
    }

    /// After the revoke's checkpoint: the partitions' keys leave the store and the
    /// stages forget them; nothing more is written for them.
    pub fn give_up(&self, ingest: &SharedIngest) -> Result<(), String> {
        self.ownership.set(BTreeSet::new());
        self.store.wipe_replicated().map_err(|e| e.to_string())?;
        self.store.recount_joins().map_err(|e| e.to_string())?;
        self.reload(ingest)
    }

    fn reload(&self, ingest: &SharedIngest) -> Result<(), String> {
        let models = {
            let mut ingest = lock(ingest);
            ingest.reload().map_err(|e| e.to_string())?;
            ingest.models()
        };
        (self.reload_alerting)()?;
        let owned_models = self
            .config
            .models
            .keys()
            .chain(&models)
            .filter(|m| self.ownership.owns_model(m))
            .collect::<BTreeSet<_>>()
            .len();
        let c = &self.metrics.cluster;
        c.owned_partitions.set(self.ownership.owned().len() as i64);
        c.owned_models.set(owned_models as i64);
        self.metrics.forget_models_except(&models);
        Ok(())
    }
}
