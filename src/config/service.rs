//! `[kafka]` with its pass-through and secret settings, `[[source]]`, `[limits]`,
//! `[storage]` and `[http]`: where the daemon reads from, what it admits, where it
//! keeps state and where it listens.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;
use toml::Spanned;

use crate::base::time::parse_duration;
use crate::event::{RecordFields, SourceRole, WireFormat};

use super::{de_any_duration, de_nonempty};

/// Where the HTTP server listens unless told otherwise. Loopback only, and outside
/// 9100–9999, the range the Prometheus project hands out to exporters.
pub(crate) const DEFAULT_HTTP_BIND: &str = "127.0.0.1:7853";

/// librdkafka settings that driftd sets itself; letting users override them would
/// break the checkpoint protocol (offsets are stored and committed only after the store).
/// librdkafka settings driftd sets itself, and why: a `[kafka.client]` value would be
/// silently overridden, so it is refused instead.
const MANAGED_CLIENT_KEYS: &[(&str, &str)] = &[
    ("bootstrap.servers", "use kafka.brokers"),
    ("group.id", "use kafka.group_id"),
    (
        "enable.auto.commit",
        "offsets are committed only after a checkpoint",
    ),
    (
        "enable.auto.offset.store",
        "offsets are stored only after a checkpoint",
    ),
    (
        "auto.offset.reset",
        "a partition without a stored or committed offset is read from the earliest record, so none is skipped",
    ),
    (
        "statistics.interval.ms",
        "driftd reads consumer lag from librdkafka's statistics every 5 s",
    ),
    (
        "enable.idempotence",
        "the dead-letter and outbox producers are idempotent so that a retry is never a duplicate",
    ),
    (
        "message.timeout.ms",
        "dead letters are retried until delivered, and outbox sends have their own retry schedule",
    ),
    (
        "linger.ms",
        "each of driftd's producers sets its own batching delay",
    ),
];

/// Why driftd manages librdkafka setting `key`, if it does.
fn managed_client_key(key: &str) -> Option<&'static str> {
    MANAGED_CLIENT_KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, why)| *why)
}

/// A secret read from an environment variable or a file (never written in the
/// configuration itself, never logged).
#[derive(Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// Name of an environment variable holding the secret.
    #[serde(default)]
    pub env: Option<String>,
    /// A file holding the secret (trailing newline removed), e.g. a systemd credential.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretRef")
            .field("env", &self.env)
            .field("file", &self.file)
            .finish()
    }
}

impl SecretRef {
    /// Reads the secret; the error names where it looked, never the value.
    pub fn read(&self, key: &str) -> Result<String, String> {
        match (&self.env, &self.file) {
            (Some(var), None) => std::env::var(var)
                .map_err(|_| format!("{key}: environment variable `{var}` is not set")),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| format!("{key}: cannot read {}: {e}", path.display())),
            _ => Err(format!("{key}: set exactly one of `env` or `file`")),
        }
    }
}

/// Bounds on input, so that a hostile or broken producer costs a dead-letter record
/// rather than memory or a wrong window.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Larger records are dead-lettered (`too_large`) without being parsed.
    #[serde(
        default = "default_max_message_bytes",
        deserialize_with = "de_positive"
    )]
    pub max_message_bytes: usize,
    /// Records whose event time is further ahead of the clock are dead-lettered
    /// (`from_the_future`): they would sit in a bucket no window reaches yet.
    #[serde(default = "default_max_future", deserialize_with = "de_any_duration")]
    pub max_future: Duration,
    /// When no model is configured (no reference profile, no `[models.*]` table), at
    /// most this many models are tracked; records of further ones are dead-lettered
    /// (`unknown_model`). With models configured, only those are accepted.
    #[serde(default = "default_max_models", deserialize_with = "de_positive")]
    pub max_models: usize,
    /// Versions of one model with data in any window tier; a prediction of a further
    /// version is dead-lettered (`too_many_versions`) until an old version's last
    /// bucket ages out (`[windows] day_retention`). Every version costs its own
    /// buckets, gauges and evaluations, and the version is the producer's to choose
    /// (a build hash or a timestamp per record would otherwise grow without end).
    #[serde(default = "default_max_versions", deserialize_with = "de_positive")]
    pub max_versions: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_message_bytes: default_max_message_bytes(),
            max_future: default_max_future(),
            max_models: default_max_models(),
            max_versions: default_max_versions(),
        }
    }
}

fn default_max_message_bytes() -> usize {
    1024 * 1024
}
fn default_max_future() -> Duration {
    Duration::from_secs(3600)
}
fn default_max_models() -> usize {
    100
}
fn default_max_versions() -> usize {
    20
}

fn de_positive<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    match usize::deserialize(d)? {
        0 => Err(de::Error::custom("must be at least 1")),
        n => Ok(n),
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port`.
    #[serde(default = "default_brokers", deserialize_with = "de_brokers")]
    pub brokers: Vec<String>,
    #[serde(default = "default_group_id", deserialize_with = "de_nonempty")]
    pub group_id: String,
    /// Records that do not decode are produced here with a reason header.
    #[serde(
        default = "default_dead_letter_topic",
        deserialize_with = "de_nonempty"
    )]
    pub dead_letter_topic: String,
    /// Passed to librdkafka unchanged (security.protocol, sasl.mechanism, ssl.*, …);
    /// secrets are refused here and go in `[kafka.secrets]`.
    #[serde(default, deserialize_with = "de_client_settings")]
    pub client: BTreeMap<String, String>,
    /// librdkafka settings whose values are secrets (`sasl.password`,
    /// `ssl.key.password`, …), each read from an environment variable or a file when
    /// a client is created, never logged.
    #[serde(default, deserialize_with = "de_client_secrets")]
    pub secrets: BTreeMap<String, SecretRef>,
}

/// librdkafka settings that hold secrets: refused in `[kafka.client]`, where they
/// would sit in the configuration file in clear.
pub(crate) const SECRET_CLIENT_KEYS: [&str; 5] = [
    "sasl.password",
    "sasl.oauthbearer.client.secret",
    "ssl.key.password",
    "ssl.keystore.password",
    "ssl.key.pem",
];

impl KafkaConfig {
    /// `[kafka.secrets]` read from their environment variables or files.
    pub(crate) fn read_secrets(&self) -> Result<Vec<(String, String)>, String> {
        self.secrets
            .iter()
            .map(|(k, r)| Ok((k.clone(), r.read(&format!("kafka.secrets.\"{k}\""))?)))
            .collect()
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: default_brokers(),
            group_id: default_group_id(),
            dead_letter_topic: default_dead_letter_topic(),
            client: BTreeMap::new(),
            secrets: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// The store's directory (`state.redb`: state, offsets, the label join).
    #[serde(default = "default_storage_path")]
    pub path: PathBuf,
    /// How often state and offsets are written to the store and offsets committed to Kafka.
    #[serde(
        default = "default_checkpoint_interval",
        deserialize_with = "de_checkpoint_interval"
    )]
    pub checkpoint_interval: Duration,
    /// Memory for the state ("512MiB", "2GiB" or bytes): the store's page cache gets
    /// [`crate::store::StoreSettings::from_budget`]'s share, the windows
    /// [`crate::window::WindowMemory::from_budget`]'s. State that does not fit stays on disk.
    #[serde(
        default = "default_memory_budget",
        deserialize_with = "de_memory_budget"
    )]
    pub memory_budget: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            path: default_storage_path(),
            checkpoint_interval: default_checkpoint_interval(),
            memory_budget: default_memory_budget(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "default_http_bind")]
    pub bind: SocketAddr,
    /// Bearer token for the mutating endpoints (`POST /-/reload`,
    /// `POST /api/v1/models/{model}/retrain`); without it they answer 403.
    #[serde(default)]
    pub token: Option<SecretRef>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            bind: default_http_bind(),
            token: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub topic: Spanned<String>,
    pub role: SourceRole,
    /// How the JSON is framed in each message.
    #[serde(default)]
    pub format: WireFormat,
    /// Where each field lives in the record (JSON pointers), and how its timestamp
    /// is read.
    #[serde(default)]
    pub fields: RecordFields,
}

fn default_brokers() -> Vec<String> {
    vec!["127.0.0.1:9092".to_string()]
}
fn default_group_id() -> String {
    "driftd".to_string()
}
fn default_dead_letter_topic() -> String {
    "driftd.dead-letter".to_string()
}
fn default_storage_path() -> PathBuf {
    PathBuf::from("./driftd-data")
}
fn default_checkpoint_interval() -> Duration {
    Duration::from_secs(5)
}
fn default_memory_budget() -> u64 {
    512 << 20
}
fn default_http_bind() -> SocketAddr {
    // A constant that parses; covered by a unit test.
    DEFAULT_HTTP_BIND
        .parse()
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 7853)))
}

fn de_brokers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let brokers = Vec::<String>::deserialize(d)?;
    if brokers.is_empty() {
        return Err(de::Error::custom(
            "list at least one broker, e.g. [\"kafka-1:9092\"]",
        ));
    }
    for b in &brokers {
        let ok = b
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !ok {
            return Err(de::Error::custom(format!(
                "`{b}` is not host:port, e.g. \"kafka-1:9092\""
            )));
        }
    }
    Ok(brokers)
}

fn de_checkpoint_interval<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    let dur = parse_duration(&s).map_err(de::Error::custom)?;
    if dur < Duration::from_millis(100) || dur > Duration::from_secs(3600) {
        return Err(de::Error::custom(format!(
            "`{s}` is outside 100ms..1h: too short wears the disk, too long replays too much after a crash"
        )));
    }
    Ok(dur)
}

fn de_memory_budget<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    let bytes = match Size::deserialize(d)? {
        Size::Bytes(b) => b,
        Size::Text(s) => s
            .parse::<bytesize::ByteSize>()
            .map_err(|e| de::Error::custom(format!("`{s}` is not a size like \"512MiB\": {e}")))?
            .as_u64(),
    };
    if bytes < 64 << 20 {
        return Err(de::Error::custom(format!(
            "{bytes} bytes is below the 64 MiB driftd needs for its own buffers and caches"
        )));
    }
    Ok(bytes)
}

/// A librdkafka setting: TOML strings, integers, floats and booleans are all accepted
/// and passed on as strings, the way librdkafka takes them.
struct ClientValue(String);

impl<'de> Deserialize<'de> for ClientValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = ClientValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ClientValue, E> {
                Ok(ClientValue(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ClientValue, E> {
                Ok(ClientValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ClientValue, E> {
                Ok(ClientValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ClientValue, E> {
                Ok(ClientValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ClientValue, E> {
                Ok(ClientValue(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

fn de_client_settings<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, ClientValue>::deserialize(d)?;
    let mut out = BTreeMap::new();
    for (k, v) in raw {
        if let Some(why) = managed_client_key(&k) {
            return Err(de::Error::custom(format!(
                "kafka.client.\"{k}\" is managed by driftd: {why}"
            )));
        }
        if SECRET_CLIENT_KEYS.contains(&k.as_str()) {
            return Err(de::Error::custom(format!(
                "kafka.client.\"{k}\" is a secret and must not be written in the \
                 configuration: use [kafka.secrets] \"{k}\" = {{ env = \"VARIABLE\" }} \
                 (or {{ file = \"/path\" }})"
            )));
        }
        out.insert(k, v.0);
    }
    Ok(out)
}

fn de_client_secrets<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, SecretRef>, D::Error> {
    let map = BTreeMap::<String, SecretRef>::deserialize(d)?;
    for (k, r) in &map {
        if let Some(why) = managed_client_key(k) {
            return Err(de::Error::custom(format!(
                "kafka.secrets.\"{k}\" is managed by driftd: {why}"
            )));
        }
        if r.env.is_some() == r.file.is_some() {
            return Err(de::Error::custom(format!(
                "kafka.secrets.\"{k}\": set exactly one of `env` or `file`"
            )));
        }
    }
    Ok(map)
}
