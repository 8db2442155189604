//! `[cluster]`: N daemons in one consumer group behaving as one (docs/scaling.md).

use serde::Deserialize;

/// Off by default: one daemon needs no internal topic.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Models are owned through the input partitions (records keyed by model with
    /// Kafka's default partitioner) and their state is mirrored to a compacted
    /// changelog topic, in one Kafka transaction per checkpoint.
    #[serde(default)]
    pub enabled: bool,
    /// The changelog topic; default `{group_id}-changelog`.
    #[serde(default)]
    pub changelog_topic: Option<String>,
    /// Created when missing (partitions = the input topics', `cleanup.policy=compact`);
    /// when false a missing topic stops the start with the command that creates it.
    #[serde(default = "yes")]
    pub create_topics: bool,
    /// Replication factor of a changelog topic driftd creates; default: the broker's
    /// `default.replication.factor`.
    #[serde(default)]
    pub replication_factor: Option<i32>,
    /// This instance's transactional id (stable across restarts, unique in the group);
    /// default: an id generated once and kept in the store.
    #[serde(default)]
    pub instance_id: Option<String>,
}

fn yes() -> bool {
    true
}

impl ClusterConfig {
    /// The changelog topic for consumer group `group_id`.
    pub fn changelog(&self, group_id: &str) -> String {
        self.changelog_topic
            .clone()
            .unwrap_or_else(|| format!("{group_id}-changelog"))
    }
}

/// Kafka's rule for topic names: 1–249 of `[a-zA-Z0-9._-]`.
fn valid_topic(name: &str) -> bool {
    (1..=249).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl ClusterConfig {
    /// What `Config::validate` checks of the table; the message names the key.
    pub(crate) fn check(&self, group_id: &str, sources: &[&str]) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        let topic = self.changelog(group_id);
        if !valid_topic(&topic) {
            return Err(match &self.changelog_topic {
                Some(_) => format!(
                    "cluster.changelog_topic `{topic}` is not a Kafka topic name \
                     (1 to 249 of a-z, A-Z, 0-9, `.`, `_`, `-`)"
                ),
                None => format!(
                    "the changelog topic's default name `{topic}` (kafka.group_id + \
                     \"-changelog\") is not a Kafka topic name; set cluster.changelog_topic"
                ),
            });
        }
        if sources.contains(&topic.as_str()) {
            return Err(format!(
                "cluster.changelog_topic `{topic}` is also a [[source]] topic"
            ));
        }
        if self.replication_factor.is_some_and(|rf| rf < 1) {
            return Err("cluster.replication_factor must be at least 1".into());
        }
        if self
            .instance_id
            .as_deref()
            .is_some_and(|id| id.trim().is_empty())
        {
            return Err("cluster.instance_id must not be empty".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_changelog_must_be_a_topic_name() {
        let on = ClusterConfig {
            enabled: true,
            ..Default::default()
        };
        assert!(on.check("driftd", &["predictions"]).is_ok());
        let e = on.check("bench+labels", &[]).unwrap_err();
        assert!(e.contains("set cluster.changelog_topic"), "{e}");
        let named = ClusterConfig {
            changelog_topic: Some("predictions".into()),
            ..on.clone()
        };
        assert!(named
            .check("g", &["predictions"])
            .unwrap_err()
            .contains("[[source]]"));
        let off = ClusterConfig::default();
        assert!(
            off.check("bench+labels", &[]).is_ok(),
            "only checked when enabled"
        );
    }
}
