//! The real Kafka broker: topics, producing, reading topics and committed offsets,
//! and brokers of a test's own.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::{free_port, unique};

pub fn brokers() -> String {
    std::env::var("DRIFTD_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".to_string())
}

pub fn create_topic(name: &str, partitions: i32) {
    create_topic_on(&brokers(), name, partitions)
}

pub fn create_topic_on(brokers: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = rt
        .block_on(admin.create_topics([&topic], &opts))
        .unwrap_or_else(|e| {
            panic!(
                "cannot reach Kafka at {} ({e}); run the tests with scripts/test.sh, \
                 which starts the broker",
                brokers
            )
        });
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
    }
}

/// Produces (key, payload) pairs and waits until all are acknowledged.
pub fn produce(topic: &str, records: &[(String, Vec<u8>)]) {
    produce_to(&brokers(), topic, records)
}

pub fn produce_to(brokers: &str, topic: &str, records: &[(String, Vec<u8>)]) {
    produce_with(brokers, topic, records, "consistent_random")
}

/// As [`produce`], partitioned as Kafka's Java client does (murmur2 of the key), which
/// cluster mode requires.
pub fn produce_murmur2(topic: &str, records: &[(String, Vec<u8>)]) {
    produce_with(&brokers(), topic, records, "murmur2_random")
}

fn produce_with(brokers: &str, topic: &str, records: &[(String, Vec<u8>)], partitioner: &str) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("partitioner", partitioner)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "200000")
        // The broker of scripts/kafka.sh takes up to 16 MiB (the hostile corpus has a
        // 10 MB record).
        .set("message.max.bytes", "16000000")
        .create()
        .expect("producer");
    for (key, payload) in records {
        let mut record = BaseRecord::to(topic).key(key).payload(payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
}

/// Reads every message of a topic from the beginning: (payload, headers).
pub fn read_topic(
    topic: &str,
    expect_at_least: usize,
    timeout: Duration,
) -> Vec<(Vec<u8>, BTreeMap<String, String>)> {
    read_keyed(topic, expect_at_least, timeout)
        .into_iter()
        .map(|r| (r.payload, r.headers))
        .collect()
}

/// The sum of a consumer group's committed offsets over a topic's partitions (a
/// partition without a commit counts 0). Reads them without joining the group.
pub fn committed_total(group: &str, topic: &str, partitions: i32) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum()
}

pub struct TopicRecord {
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: BTreeMap<String, String>,
}

/// Every record of a topic from the beginning, with keys; stops 3 s after the last
/// record once at least `expect_at_least` arrived, or at the timeout.
pub fn read_keyed(topic: &str, expect_at_least: usize, timeout: Duration) -> Vec<TopicRecord> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let mut headers = BTreeMap::new();
                if let Some(h) = m.headers() {
                    for hd in h.iter() {
                        headers.insert(
                            hd.key.to_string(),
                            String::from_utf8_lossy(hd.value.unwrap_or_default()).into_owned(),
                        );
                    }
                }
                out.push(TopicRecord {
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().unwrap_or_default().to_vec(),
                    headers,
                });
                quiet_since = Instant::now();
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {
                if out.len() >= expect_at_least && quiet_since.elapsed() > Duration::from_secs(3) {
                    break;
                }
            }
        }
    }
    out
}

/// A Kafka broker of one test's own (scripts/kafka.sh with its own ports and
/// directory), for tests that stop the broker or change its listeners. Stopped and
/// deleted on drop.
pub struct PrivateBroker {
    pub port: u16,
    pub sasl_port: Option<u16>,
    env: Vec<(String, String)>,
}

impl PrivateBroker {
    /// `scram`: a (user, password) that may connect over SASL_PLAINTEXT with
    /// SCRAM-SHA-256 on `sasl_port`.
    pub fn start(scram: Option<(&str, &str)>) -> PrivateBroker {
        let port = free_port();
        let mut env = vec![
            ("KAFKA_PORT".to_string(), port.to_string()),
            ("KAFKA_CONTROLLER_PORT".to_string(), free_port().to_string()),
            ("KAFKA_HEAP".to_string(), "384m".to_string()),
        ];
        let sasl_port = scram.map(|(user, password)| {
            let p = free_port();
            env.push(("KAFKA_SASL_PORT".into(), p.to_string()));
            env.push(("KAFKA_SCRAM_USER".into(), user.into()));
            env.push(("KAFKA_SCRAM_PASSWORD".into(), password.into()));
            p
        });
        let broker = PrivateBroker {
            port,
            sasl_port,
            env,
        };
        broker.run("start");
        broker
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the broker, keeping its data.
    pub fn halt(&self) {
        self.run("halt");
    }

    /// Starts it again on its data.
    pub fn resume(&self) {
        self.run("resume");
    }

    fn run(&self, command: &str) {
        let status = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka.sh"))
            .arg(command)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .status()
            .expect("scripts/kafka.sh");
        assert!(status.success(), "scripts/kafka.sh {command} failed");
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka.sh"))
            .arg("stop")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .status();
    }
}
