//! Settings shared by every Kafka client of the daemon.

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;

use crate::config::Config;

/// Settings shared by every client: brokers, the user's pass-through table and the
/// secrets of `[kafka.secrets]`, read now (an unreadable one fails the client, naming
/// the key and where it looked, never a value).
pub(crate) fn client_config(config: &Config) -> Result<ClientConfig, KafkaError> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", config.kafka.brokers.join(","));
    c.set("client.id", concat!("driftd-", env!("CARGO_PKG_VERSION")));
    for (k, v) in &config.kafka.client {
        c.set(k, v);
    }
    let secrets = config.kafka.read_secrets().map_err(|e| {
        KafkaError::ClientConfig(
            rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
            e,
            String::new(),
            String::new(),
        )
    })?;
    for (k, v) in secrets {
        c.set(k, v);
    }
    Ok(c)
}
