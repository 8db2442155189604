//! `driftd.toml`: the one place that knows the configuration's shape.
//!
//! Every table is `deny_unknown_fields`, and every value is validated while it is
//! deserialized, so that a mistake is reported by the TOML parser with the line, the
//! column and the key (`TOML parse error at line 7, column 1 … unknown field `brokerz``).
//! Checks that need more than one value at a time run afterwards in `Config::validate`
//! and still name the key and its line, through [`toml::Spanned`].
//!
//! The tables (`*Config`) convert *down* into the `*Settings` of the modules that
//! consume them (`ProfileConfig::settings` → `reference::ProfileSettings`, …); nothing
//! below this layer reads the configuration.
//!
//! - this file: [`Config`], loading and validation, the live (reloadable) copy
//! - [`service`]: `[kafka]` (and its secrets), `[[source]]`, `[limits]`, `[storage]`,
//!   `[http]`
//! - [`evaluation`]: `[profile]`, `[report]`, `[windows]`, `[labels]`, `[models.*]`
//! - [`alerting`]: `[alerting]`, `[email]`, `[retrain]`, `[outbox]`
//! - [`cluster`]: the `[cluster]` table

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::base::text::{key_after, line_of};
use crate::base::time::parse_duration;
use crate::evaluate::EvaluationSettings;
use crate::event::SourceRole;

mod alerting;
mod cluster;
mod evaluation;
mod service;

pub use alerting::*;
pub use cluster::*;
pub use evaluation::*;
pub use service::*;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub kafka: KafkaConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub http: HttpConfig,
    /// One `[[source]]` table per topic driftd consumes (the daemon needs one).
    #[serde(rename = "source", default)]
    pub sources: Vec<SourceConfig>,
    /// How reference profiles are built.
    #[serde(default)]
    pub profile: ProfileConfig,
    /// Drift verdicts of `driftd report` (and of the daemon's windows).
    #[serde(default)]
    pub report: ReportConfig,
    /// Event-time buckets and the rolling windows evaluated over them.
    #[serde(default)]
    pub windows: WindowsConfig,
    /// Joining ground-truth labels to predictions.
    #[serde(default)]
    pub labels: LabelsConfig,
    /// Per-model settings, `[models.<name>]`.
    #[serde(default)]
    pub models: BTreeMap<String, ModelConfig>,
    /// Rule files and notification grouping.
    #[serde(default)]
    pub alerting: AlertingConfig,
    /// Alert e-mails over SMTP; without this table no e-mail is sent.
    #[serde(default)]
    pub email: Option<EmailConfig>,
    /// Alerts pushed to Alertmanager as Prometheus pushes them; without this table
    /// nothing is pushed.
    #[serde(default)]
    pub alertmanager: Option<AlertmanagerConfig>,
    /// The e-mail's notifications also POSTed in Alertmanager's webhook format, for a
    /// chat tool or an incident system without Alertmanager.
    #[serde(default)]
    pub webhook: Option<AlertWebhookConfig>,
    /// Retraining events (CloudEvents on Kafka, optionally a webhook).
    #[serde(default)]
    pub retrain: RetrainConfig,
    /// Retries of e-mails and events that could not be delivered yet.
    #[serde(default)]
    pub outbox: OutboxConfig,
    /// What a record may be before it is dead-lettered instead of counted.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Several daemons in one consumer group as one (off by default).
    #[serde(default)]
    pub cluster: ClusterConfig,
}

/// The configuration the daemon evaluates with; SIGHUP replaces it (see
/// [`Config::restart_only_changes`] for what a reload cannot change).
#[derive(Debug, Clone)]
pub(crate) struct LiveConfig(std::sync::Arc<std::sync::RwLock<std::sync::Arc<Config>>>);

impl LiveConfig {
    pub fn new(config: Config) -> LiveConfig {
        LiveConfig(std::sync::Arc::new(std::sync::RwLock::new(
            std::sync::Arc::new(config),
        )))
    }

    /// The current configuration.
    pub fn get(&self) -> std::sync::Arc<Config> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn replace(&self, config: Config) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(config);
    }
}

impl Config {
    /// Sections that differ between `self` (running) and `new` but that only a restart
    /// applies: the consumer, the store, the listener and the bucket layout are set up
    /// once. Reports, windows evaluated, model references and ε apply at once.
    pub(crate) fn restart_only_changes(&self, new: &Config) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.kafka != new.kafka {
            out.push("[kafka]");
        }
        if self.sources != new.sources {
            out.push("[[source]]");
        }
        if self.storage != new.storage {
            out.push("[storage]");
        }
        if self.http != new.http {
            out.push("[http]");
        }
        if self.labels != new.labels {
            out.push("[labels]");
        }
        if self.email != new.email {
            out.push("[email]");
        }
        if self.retrain != new.retrain {
            out.push("[retrain]");
        }
        if self.outbox != new.outbox {
            out.push("[outbox]");
        }
        if self.limits != new.limits {
            out.push("[limits]");
        }
        if self.cluster != new.cluster {
            out.push("[cluster]");
        }
        // The models whose records are accepted are fixed at start, like the profiles.
        if !self.models.keys().eq(new.models.keys()) {
            out.push("[models.*] (which models are accepted)");
        }
        if self.shadows() != new.shadows() {
            out.push("[[models.*.deployments]] of kind shadow (the join pairs their versions)");
        }
        let w = (&self.windows, &new.windows);
        if w.0.bucket != w.1.bucket
            || w.0.tick != w.1.tick
            || w.0.fine_retention != w.1.fine_retention
            || w.0.hour_retention != w.1.hour_retention
            || w.0.day_retention != w.1.day_retention
        {
            out.push("[windows] bucket, tick and retentions");
        }
        out
    }

    /// What the label join needs: `[labels]` and the shadow deployments, whose
    /// versions it pairs by request id.
    pub(crate) fn label_settings(&self) -> crate::join::LabelSettings {
        crate::join::LabelSettings {
            shadows: self.shadows(),
            ..self.labels.settings()
        }
    }

    fn shadows(&self) -> std::collections::HashMap<String, Vec<crate::join::ShadowSettings>> {
        self.models
            .iter()
            .filter_map(|(model, m)| {
                let shadows: Vec<_> = m
                    .deployments
                    .iter()
                    .filter(|d| d.kind == crate::evaluate::deployment::DeploymentKind::Shadow)
                    .map(|d| crate::join::ShadowSettings {
                        deployment: d.name.clone(),
                        baseline: d.baseline.clone(),
                        candidate: d.candidate.clone(),
                    })
                    .collect();
                (!shadows.is_empty()).then(|| (model.clone(), shadows))
            })
            .collect()
    }

    /// The rolling reference period of a model, if it has one.
    pub(crate) fn rolling_reference(&self, model: &str) -> Option<Duration> {
        match self.models.get(model).map(|m| m.reference) {
            Some(ReferenceMode::Previous(d)) => Some(d),
            _ => None,
        }
    }
}

impl Config {
    /// driftd's API as others reach it: `[alertmanager] generator_url`, else `http://`
    /// + `[http] bind`. Alerts' `generatorURL` and templates' `$externalURL`.
    pub fn external_url(&self) -> String {
        self.alertmanager
            .as_ref()
            .and_then(|a| a.generator_url.clone())
            .unwrap_or_else(|| format!("http://{}", self.http.bind))
    }

    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses and validates configuration text; the error names the key and line.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate(text)?;
        Ok(config)
    }

    /// Deployments: unique names per model, a configured window, two different arms.
    fn check_deployments(&self, text: &str) -> Result<(), String> {
        for (model, m) in &self.models {
            let mut names = std::collections::BTreeSet::new();
            for d in &m.deployments {
                // The table starts at its `name`; a key's line is the first
                // `key =` after it, so the error points at what to edit.
                let at = text
                    .find(&format!("\"{}\"", d.name))
                    .or_else(|| text.find("deployments"))
                    .unwrap_or(0);
                let what = |key: &str| {
                    let line = key_after(text, at, key).unwrap_or_else(|| line_of(text, at));
                    format!("line {line}: models.{model}.deployments `{}`", d.name)
                };
                if !names.insert(d.name.as_str()) {
                    return Err(format!("{} is named twice", what("name")));
                }
                if d.baseline == d.candidate {
                    return Err(format!(
                        "{}: baseline and candidate are the same glob `{}`",
                        what("candidate"),
                        d.baseline
                    ));
                }
                if let Some(w) = d
                    .window
                    .as_deref()
                    .filter(|w| self.windows.window(w).is_none())
                {
                    return Err(format!(
                        "{}: window `{w}` is not one of [windows] windows ({})",
                        what("window"),
                        self.windows.names().join(", ")
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate(&self, text: &str) -> Result<(), String> {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, source) in self.sources.iter().enumerate() {
            let topic = source.topic.get_ref().as_str();
            let line = line_of(text, source.topic.span().start);
            if topic.is_empty() {
                return Err(format!("line {line}: source[{i}].topic must not be empty"));
            }
            if topic == self.kafka.dead_letter_topic {
                return Err(format!(
                    "line {line}: source[{i}].topic `{topic}` is also kafka.dead_letter_topic; \
                     driftd would consume its own rejects"
                ));
            }
            if let Some(first) = seen.insert(topic, i) {
                return Err(format!(
                    "line {line}: source[{i}].topic `{topic}` is already source[{first}].topic"
                ));
            }
        }
        self.check_deployments(text)?;
        if let Some(am) = &self.alertmanager {
            am.check().map_err(|e| {
                let line = text.find("[alertmanager").map_or(1, |at| line_of(text, at));
                format!("line {line}: {e}")
            })?;
        }
        let sources: Vec<&str> = self
            .sources
            .iter()
            .map(|s| s.topic.get_ref().as_str())
            .collect();
        self.cluster
            .check(&self.kafka.group_id, &sources)
            .map_err(|e| {
                let line = text.find("[cluster]").map_or(1, |at| line_of(text, at));
                format!("line {line}: {e}")
            })?;
        if self.cluster.enabled
            && !self
                .alerting
                .group_by
                .iter()
                .any(|l| l == "model" || l == "...")
        {
            // A group spanning models would span owners: each would send its share.
            let line = text.find("group_by").map_or(1, |at| line_of(text, at));
            return Err(format!(
                "line {line}: alerting.group_by must include \"model\" with [cluster] enabled \
                 (each model's alerts are grouped by the instance that owns it)"
            ));
        }
        Ok(())
    }

    /// What window evaluations need from `[profile]` and `[report]`.
    pub(crate) fn evaluation_settings(&self) -> EvaluationSettings {
        EvaluationSettings {
            psi_epsilon: self.profile.psi_epsilon,
            report: self.report.settings(),
            outcome_values: self
                .models
                .iter()
                .filter_map(|(name, m)| Some((name.clone(), m.value?.settings())))
                .collect(),
        }
    }

    /// The first predictions source: its field paths decode `--input` files.
    pub(crate) fn first_source(&self, role: SourceRole) -> Option<&SourceConfig> {
        self.sources.iter().find(|s| s.role == role)
    }
}

// Validators that several tables share.

/// A duration such as `5m`, longer than zero.
fn de_any_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    let dur = parse_duration(&s).map_err(de::Error::custom)?;
    if dur.is_zero() {
        return Err(de::Error::custom("must be longer than 0"));
    }
    Ok(dur)
}

/// A string that is not blank.
fn de_nonempty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Err(de::Error::custom("must not be empty"));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[[source]]\ntopic = \"predictions\"\nrole = \"predictions\"\n";

    #[test]
    fn minimal_config_gets_defaults() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.kafka.group_id, "driftd");
        assert_eq!(c.http.bind.to_string(), DEFAULT_HTTP_BIND);
        assert_eq!(c.storage.checkpoint_interval, Duration::from_secs(5));
        assert_eq!(c.sources[0].fields.model.as_str(), "/model");
    }

    #[test]
    fn outcome_values_are_finite_and_named() {
        let c = Config::parse(&format!(
            "{MINIMAL}\n[models.fraud.value]\ntp = 40\nfn = -100\n"
        ))
        .unwrap();
        let v = c.evaluation_settings().outcome_values["fraud"];
        assert_eq!((v.tp, v.fp, v.tn, v.fn_), (40.0, 0.0, 0.0, -100.0));
        let err = Config::parse(&format!("{MINIMAL}\n[models.fraud.value]\ntq = 1\n")).unwrap_err();
        assert!(err.contains("line 6") && err.contains("tq"), "{err}");
        let err =
            Config::parse(&format!("{MINIMAL}\n[models.fraud.value]\nfp = nan\n")).unwrap_err();
        assert!(err.contains("finite"), "{err}");
    }

    #[test]
    fn secrets_are_refused_in_the_client_table_and_read_from_env_or_file() {
        let text = format!(
            "[kafka.client]\n\"sasl.username\" = \"u\"\n\"sasl.password\" = \"hunter2\"\n{MINIMAL}"
        );
        let err = Config::parse(&text).unwrap_err();
        assert!(
            err.contains("sasl.password") && err.contains("[kafka.secrets]"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        let text = format!(
            "[kafka.secrets]\n\"sasl.password\" = {{ env = \"DRIFTD_TEST_UNSET_VARIABLE\" }}\n{MINIMAL}"
        );
        let c = Config::parse(&text).unwrap();
        let err = c.kafka.read_secrets().unwrap_err();
        assert!(
            err.contains("sasl.password") && err.contains("DRIFTD_TEST_UNSET_VARIABLE"),
            "{err}"
        );
        let text = format!("[kafka.secrets]\n\"ssl.key.password\" = {{ }}\n{MINIMAL}");
        let err = Config::parse(&text).unwrap_err();
        assert!(
            err.contains("exactly one") && err.contains("ssl.key.password"),
            "{err}"
        );
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn group_by_defaults_to_the_model_and_takes_label_names() {
        use crate::notify::GroupBy;
        let group_by = |v: &str| {
            Config::parse(&format!("{MINIMAL}[alerting]\ngroup_by = {v}\n"))
                .map(|c| c.alerting.group_settings().group_by)
        };
        assert_eq!(
            Config::parse(MINIMAL)
                .unwrap()
                .alerting
                .group_settings()
                .group_by,
            GroupBy::Labels(vec!["model".into()])
        );
        assert_eq!(group_by("[]").unwrap(), GroupBy::Labels(vec![]));
        assert_eq!(group_by("[\"...\"]").unwrap(), GroupBy::All);
        assert_eq!(
            group_by("[\"model\", \"team\"]").unwrap(),
            GroupBy::Labels(vec!["model".into(), "team".into()])
        );
        let err = group_by("[\"model\", \"tea-m\"]").unwrap_err();
        assert!(err.contains("tea-m") && err.contains("line 5"), "{err}");
        assert!(group_by("[\"...\", \"model\"]")
            .unwrap_err()
            .contains("stands alone"));
    }

    #[test]
    fn alertmanager_takes_one_credential_and_a_whole_client_certificate() {
        let am = |rest: &str| {
            Config::parse(&format!(
                "{MINIMAL}[alertmanager]\nurls = [\"https://am:9093\"]\n{rest}"
            ))
        };
        assert!(am("basic_auth = { username = \"d\", password = { env = \"P\" } }\n").is_ok());
        let both = am("token = { env = \"T\" }\nbasic_auth = { username = \"d\", password = { env = \"P\" } }\n")
            .unwrap_err();
        assert!(
            both.contains("not both") && both.contains("line 4"),
            "{both}"
        );
        let half = am("tls = { cert_file = \"c.pem\" }\n").unwrap_err();
        assert!(half.contains("cert_file and key_file"), "{half}");
        let plain = am("basic_auth = { username = \"d\", password = \"secret\" }\n").unwrap_err();
        assert!(plain.contains("password"), "{plain}");
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = format!("[kafka]\nbrokerz = [\"a:1\"]\n{MINIMAL}");
        let err = Config::parse(&text).unwrap_err();
        assert!(err.contains("brokerz"), "{err}");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn memory_budget_takes_sizes_and_refuses_too_little() {
        let parse = |v: &str| Config::parse(&format!("{MINIMAL}[storage]\nmemory_budget = {v}\n"));
        assert_eq!(parse("\"2GiB\"").unwrap().storage.memory_budget, 2 << 30);
        assert_eq!(parse("268435456").unwrap().storage.memory_budget, 256 << 20);
        assert_eq!(
            Config::parse(MINIMAL).unwrap().storage.memory_budget,
            512 << 20
        );
        for (bad, says) in [
            ("\"lots\"", "not a size"),
            ("\"32MiB\"", "below the 64 MiB"),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(
                err.contains("line 5") && err.contains("memory_budget") && err.contains(says),
                "{err}"
            );
        }
    }

    #[test]
    fn bad_values_name_key_and_line() {
        let text = format!("{MINIMAL}[storage]\ncheckpoint_interval = \"5x\"\n");
        let err = Config::parse(&text).unwrap_err();
        assert!(
            err.contains("line 5") && err.contains("checkpoint_interval"),
            "{err}"
        );

        let text = format!("[kafka]\nbrokers = [\"nohostport\"]\n{MINIMAL}");
        let err = Config::parse(&text).unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("nohostport"),
            "{err}"
        );

        let text = "[[source]]\ntopic = \"p\"\nrole = \"predictionz\"\n";
        let err = Config::parse(text).unwrap_err();
        assert!(
            err.contains("line 3") && err.contains("predictionz"),
            "{err}"
        );
    }

    #[test]
    fn managed_client_keys_are_refused() {
        // Every setting driftd sets itself is refused with its reason, not silently
        // overridden.
        for (key, value, why) in [
            (
                "enable.auto.commit",
                "true",
                "committed only after a checkpoint",
            ),
            ("auto.offset.reset", "\"latest\"", "earliest record"),
            ("statistics.interval.ms", "1000", "consumer lag"),
            ("enable.idempotence", "false", "never a duplicate"),
            ("message.timeout.ms", "1000", "retried until delivered"),
            ("linger.ms", "100", "batching delay"),
        ] {
            let text = format!("[kafka.client]\n\"{key}\" = {value}\n{MINIMAL}");
            let err = Config::parse(&text).unwrap_err();
            assert!(err.contains(key) && err.contains("line 1"), "{err}");
            assert!(err.contains(why), "{err}");
        }
        let text = format!(
            "[kafka.client]\n\"security.protocol\" = \"ssl\"\n\"fetch.min.bytes\" = 1\n{MINIMAL}"
        );
        let c = Config::parse(&text).unwrap();
        assert_eq!(c.kafka.client["fetch.min.bytes"], "1");
    }

    #[test]
    fn duplicate_topics_name_the_line() {
        let text = format!("{MINIMAL}[[source]]\ntopic = \"predictions\"\nrole = \"labels\"\n");
        let err = Config::parse(&text).unwrap_err();
        assert!(
            err.contains("line 5") && err.contains("source[1].topic"),
            "{err}"
        );
    }

    #[test]
    fn model_reference_modes() {
        let c = Config::parse("[models.churn]\nreference = \"previous:7d\"\n[models.fraud]\nreference = \"profile\"\n").unwrap();
        assert_eq!(
            c.rolling_reference("churn"),
            Some(Duration::from_secs(7 * 86_400))
        );
        assert_eq!(c.rolling_reference("fraud"), None);
        assert_eq!(c.rolling_reference("other"), None);
        let err = Config::parse("[models.churn]\nreference = \"last week\"\n").unwrap_err();
        assert!(err.contains("line 2") && err.contains("previous:"), "{err}");
    }

    #[test]
    fn reload_reports_what_needs_a_restart() {
        let old = Config::parse(MINIMAL).unwrap();
        let new = Config::parse(&format!(
            "{MINIMAL}[report]\npsi_threshold = 0.3\n[windows]\nwindows = [\"1h\"]\n"
        ))
        .unwrap();
        assert!(old.restart_only_changes(&new).is_empty());
        let new = Config::parse(&format!(
            "{MINIMAL}[http]\nbind = \"127.0.0.1:9\"\n[windows]\nbucket = \"5m\"\n"
        ))
        .unwrap();
        assert_eq!(
            old.restart_only_changes(&new),
            ["[http]", "[windows] bucket, tick and retentions"]
        );
    }
}
