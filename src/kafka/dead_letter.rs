//! The dead-letter producer: rejected records go to the dead-letter topic with their
//! reason in a header, and are durable there before their offsets are checkpointed.

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use super::client_config;
use crate::base::sync::lock;
use crate::config::Config;
use crate::ingest::{DeadLetterSink, Rejected};
use crate::metrics::Metrics;

/// Dead-letter payloads are cut to this size so that a huge rejected record still
/// fits the broker's default `message.max.bytes` (1 MiB).
const MAX_DEAD_LETTER_PAYLOAD: usize = 900 * 1024;
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// The dead-letter producer. Delivery failures are kept and re-sent, so a record
/// is never dropped; a checkpoint waits until all are delivered.
pub(crate) struct KafkaDeadLetter {
    producer: BaseProducer<DeadLetterContext>,
    topic: String,
    metrics: Metrics,
}

struct FailedDelivery {
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    headers: OwnedHeaders,
    too_large: bool,
}

#[derive(Default)]
pub(crate) struct DeadLetterContext {
    failed: Mutex<Vec<FailedDelivery>>,
}

impl ClientContext for DeadLetterContext {}

impl ProducerContext for DeadLetterContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {}
            Err((e, msg)) => {
                tracing::warn!(error = %e, "dead-letter delivery failed; will retry");
                let failed = FailedDelivery {
                    key: msg.key().map(<[u8]>::to_vec),
                    payload: msg.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                    headers: msg.headers().map(|h| h.detach()).unwrap_or_default(),
                    too_large: matches!(
                        e.rdkafka_error_code(),
                        Some(RDKafkaErrorCode::MessageSizeTooLarge)
                    ),
                };
                lock(&self.failed).push(failed);
            }
        }
    }
}

impl KafkaDeadLetter {
    pub fn new(config: &Config, metrics: Metrics) -> Result<Self, KafkaError> {
        let producer = client_config(config)?
            .set("enable.idempotence", "true")
            // Retry until delivered: a checkpoint waits for these, nothing is dropped.
            .set("message.timeout.ms", "0")
            .set("linger.ms", "20")
            .create_with_context(DeadLetterContext::default())?;
        Ok(KafkaDeadLetter {
            producer,
            topic: config.kafka.dead_letter_topic.clone(),
            metrics,
        })
    }

    fn enqueue(&self, key: Option<&[u8]>, payload: &[u8], headers: OwnedHeaders) {
        let mut record: BaseRecord<'_, [u8], [u8], ()> = BaseRecord::to(&self.topic)
            .payload(payload)
            .headers(headers);
        if let Some(k) = key {
            record = record.key(k);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => {
                    self.metrics.dead_letters.inc();
                    return;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    self.producer.poll(Duration::from_millis(50));
                }
                Err((e, r)) => {
                    // Not deliverable as is (e.g. larger than message.max.bytes on the
                    // client): keep it for the retry path, which truncates it.
                    tracing::warn!(error = %e, "dead-letter enqueue failed; will retry");
                    lock(&self.producer.context().failed).push(FailedDelivery {
                        key: r.key.map(<[u8]>::to_vec),
                        payload: r.payload.map(<[u8]>::to_vec).unwrap_or_default(),
                        headers: r.headers.unwrap_or_default(),
                        too_large: true,
                    });
                    return;
                }
            }
        }
    }
}

impl DeadLetterSink for KafkaDeadLetter {
    fn send(&mut self, rejected: Rejected<'_>) {
        let partition = rejected
            .origin
            .partition
            .map(|p| p.to_string())
            .unwrap_or_default();
        let offset = rejected.origin.offset.to_string();
        let mut headers = OwnedHeaders::new()
            .insert(Header {
                key: "driftd-reason",
                value: Some(rejected.error.reason.as_str()),
            })
            .insert(Header {
                key: "driftd-error",
                value: Some(rejected.error.detail.as_str()),
            })
            .insert(Header {
                key: "driftd-source-topic",
                value: Some(rejected.origin.topic),
            })
            .insert(Header {
                key: "driftd-source-partition",
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: "driftd-source-offset",
                value: Some(offset.as_str()),
            });
        if let Some(id) = rejected.schema_id {
            headers = headers.insert(Header {
                key: "driftd-schema-id",
                value: Some(id.to_string().as_str()),
            });
        }
        let payload = if rejected.payload.len() > MAX_DEAD_LETTER_PAYLOAD {
            headers = headers.insert(Header {
                key: "driftd-truncated-from",
                value: Some(rejected.payload.len().to_string().as_str()),
            });
            &rejected.payload[..MAX_DEAD_LETTER_PAYLOAD]
        } else {
            rejected.payload
        };
        self.enqueue(rejected.key, payload, headers);
    }

    fn flush(&mut self) -> Result<(), String> {
        let failed = std::mem::take(&mut *lock(&self.producer.context().failed));
        for f in failed {
            let mut payload = f.payload;
            let mut headers = f.headers;
            if f.too_large && payload.len() > 64 * 1024 {
                headers = headers.insert(Header {
                    key: "driftd-truncated-from",
                    value: Some(payload.len().to_string().as_str()),
                });
                payload.truncate(64 * 1024);
            }
            self.enqueue(f.key.as_deref(), &payload, headers);
        }
        self.producer
            .flush(FLUSH_TIMEOUT)
            .map_err(|e| format!("flush: {e}"))?;
        match lock(&self.producer.context().failed).len() {
            0 => Ok(()),
            n => Err(format!("{n} dead-letter records failed delivery; retrying")),
        }
    }
}
