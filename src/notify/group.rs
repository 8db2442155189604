//! Grouping alerts into notifications, with Alertmanager's timers (`group_wait`,
//! `group_interval`, `repeat_interval`, `send_resolved`). Pure: alerts, group state
//! and a `now` in; notifications out.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::rules::alert::{Alert, AlertPhase};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupSettings {
    pub group_wait_ms: i64,
    pub group_interval_ms: i64,
    pub repeat_interval_ms: i64,
    pub send_resolved: bool,
    pub group_by: GroupBy,
}

/// Which labels make a group, as Alertmanager's route `group_by`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum GroupBy {
    /// These labels (an alert without one has it empty); `[]`: one group for all.
    Labels(Vec<String>),
    /// `["..."]`: every label, so each alert is a group of its own.
    All,
}

impl GroupBy {
    /// The group's labels and its key, `{a="x",b="y"}` (Alertmanager's form).
    pub(crate) fn group_of(&self, a: &Alert) -> (BTreeMap<String, String>, String) {
        let labels: BTreeMap<String, String> = match self {
            GroupBy::All => a.labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .map(|n| (n.clone(), a.label(n).unwrap_or("").to_string()))
                .collect(),
        };
        let key = group_key(&labels);
        (labels, key)
    }
}

pub(crate) fn group_key(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", pairs.join(","))
}

/// The `model` label of a [`group_key`] (the group's owner in cluster mode), if the key
/// has one. Reads the pairs as `group_key` writes them: Rust's `{:?}` of each value.
pub(crate) fn model_of_group_key(key: &str) -> Option<String> {
    let mut rest = key.strip_prefix('{')?.strip_suffix('}')?;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => match chars.next()?.1 {
                    c @ ('"' | '\\' | '\'') => value.push(c),
                    'n' => value.push('\n'),
                    't' => value.push('\t'),
                    'r' => value.push('\r'),
                    // `\u{…}` and the like: a name with them has no parsable owner.
                    _ => return None,
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        if name == "model" {
            return Some(value);
        }
        rest = after[end + 1..]
            .strip_prefix(',')
            .unwrap_or(&after[end + 1..]);
    }
    None
}

/// What a group remembers between evaluations (persisted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GroupState {
    pub key: String,
    pub created_ms: i64,
    pub last_flush_ms: Option<i64>,
    pub last_sent_ms: Option<i64>,
    /// Fingerprints of the alerts that were firing at the last notification.
    pub notified_firing: BTreeSet<String>,
}

/// One e-mail's worth of alerts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Notification {
    /// The group's key, `{model="churn"}`.
    pub group: String,
    pub group_labels: BTreeMap<String, String>,
    pub at_ms: i64,
    pub firing: Vec<Alert>,
    pub resolved: Vec<Alert>,
}

impl Notification {
    /// How the group is named to people: its label values (`churn`; `churn, age`).
    pub(crate) fn title(&self) -> String {
        let values: Vec<&str> = self.group_labels.values().map(String::as_str).collect();
        if values.is_empty() {
            "all alerts".into()
        } else {
            values.join(", ")
        }
    }

    /// The model every alert of the notification is about, if they share one.
    pub(crate) fn model(&self) -> Option<&str> {
        let mut models = self
            .firing
            .iter()
            .chain(&self.resolved)
            .filter_map(|a| a.label("model"));
        let first = models.next()?;
        models.all(|m| m == first).then_some(first)
    }
}

/// Groups' state; changes are tracked for persistence.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Groups {
    groups: BTreeMap<String, GroupState>,
    dirty: BTreeSet<String>,
    removed: BTreeSet<String>,
}

impl Groups {
    /// Groups as stored. Before `group_by` a group's key was its model's name: such a
    /// group becomes `{model="…"}` (the default grouping), rewritten at the next
    /// persistence, so an upgrade neither forgets nor repeats a notification.
    pub(crate) fn restored(groups: impl IntoIterator<Item = GroupState>) -> Groups {
        let mut out = Groups::default();
        for mut g in groups {
            if !g.key.starts_with('{') {
                out.removed.insert(g.key.clone());
                g.key = group_key(&BTreeMap::from([("model".to_string(), g.key)]));
                out.dirty.insert(g.key.clone());
            }
            out.groups.insert(g.key.clone(), g);
        }
        out
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    pub fn changes(&self) -> (Vec<GroupState>, Vec<String>) {
        (
            self.dirty
                .iter()
                .filter_map(|k| self.groups.get(k).cloned())
                .collect(),
            self.removed.iter().cloned().collect(),
        )
    }

    pub(crate) fn mark_clean(&mut self) {
        self.dirty.clear();
        self.removed.clear();
    }

    /// Looks at every group at `now_ms`. `alerts`: the alerts of e-mailing rules.
    pub fn flush<'a>(
        &mut self,
        alerts: impl IntoIterator<Item = &'a Alert>,
        silenced: &BTreeSet<String>,
        settings: &GroupSettings,
        now_ms: i64,
    ) -> Vec<Notification> {
        let mut by_group: BTreeMap<String, Vec<&Alert>> = BTreeMap::new();
        let mut labels_of: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for a in alerts {
            if a.phase != AlertPhase::Pending {
                let (labels, key) = settings.group_by.group_of(a);
                by_group.entry(key.clone()).or_default().push(a);
                labels_of.entry(key).or_insert(labels);
            }
        }
        let keys: BTreeSet<String> = by_group.keys().chain(self.groups.keys()).cloned().collect();
        let mut out = Vec::new();
        for key in keys {
            let alerts = by_group.remove(&key).unwrap_or_default();
            // Silenced alerts are neither firing nor resolved for the e-mail, as in
            // Alertmanager's mute stage; the group stays while it has them.
            let muted: BTreeSet<String> = alerts
                .iter()
                .map(|a| a.fingerprint())
                .filter(|f| silenced.contains(f))
                .collect();
            let firing: BTreeMap<String, &Alert> = alerts
                .iter()
                .filter(|a| a.phase == AlertPhase::Firing)
                .map(|a| (a.fingerprint(), *a))
                .filter(|(f, _)| !muted.contains(f))
                .collect();
            let group = match self.groups.get_mut(&key) {
                Some(g) => g,
                None if firing.is_empty() => continue,
                None => {
                    self.dirty.insert(key.clone());
                    self.removed.remove(&key);
                    self.groups.entry(key.clone()).or_insert(GroupState {
                        key: key.clone(),
                        created_ms: now_ms,
                        last_flush_ms: None,
                        last_sent_ms: None,
                        notified_firing: BTreeSet::new(),
                    })
                }
            };
            let due = match group.last_flush_ms {
                None => now_ms >= group.created_ms + settings.group_wait_ms,
                Some(t) => now_ms >= t + settings.group_interval_ms,
            };
            if !due {
                continue;
            }
            let added = firing.keys().any(|f| !group.notified_firing.contains(f));
            let gone: BTreeSet<&String> = group
                .notified_firing
                .iter()
                .filter(|f| !firing.contains_key(*f) && !muted.contains(*f))
                .collect();
            let repeat = !firing.is_empty()
                && group
                    .last_sent_ms
                    .is_none_or(|t| now_ms - t >= settings.repeat_interval_ms);
            let send = added || (settings.send_resolved && !gone.is_empty()) || repeat;
            if send {
                let resolved = if settings.send_resolved {
                    alerts
                        .iter()
                        .filter(|a| {
                            a.phase == AlertPhase::Resolved && gone.contains(&a.fingerprint())
                        })
                        .map(|a| (*a).clone())
                        .collect()
                } else {
                    Vec::new()
                };
                out.push(Notification {
                    group_labels: labels_of.remove(&key).unwrap_or_default(),
                    group: key.clone(),
                    at_ms: now_ms,
                    firing: firing.values().map(|a| (*a).clone()).collect(),
                    resolved,
                });
                group.last_sent_ms = Some(now_ms);
            }
            group.last_flush_ms = Some(now_ms);
            // A silenced alert that was notified stays notified: lifting the silence
            // does not announce it again before the repeat interval.
            let still_muted: Vec<String> = group
                .notified_firing
                .iter()
                .filter(|f| muted.contains(*f))
                .cloned()
                .collect();
            group.notified_firing = firing.keys().cloned().chain(still_muted).collect();
            if firing.is_empty() && muted.is_empty() {
                self.groups.remove(&key);
                self.dirty.remove(&key);
                self.removed.insert(key);
            } else {
                self.dirty.insert(key);
            }
        }
        out
    }
}
