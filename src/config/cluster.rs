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
