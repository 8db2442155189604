//! Grouping alerts into notifications, with Alertmanager's timers (`group_wait`,
//! `group_interval`, `repeat_interval`, `send_resolved`). Pure: alerts, group state
//! and a `now` in; notifications out.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::rules::alert::{Alert, AlertPhase};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct GroupSettings {
    pub group_wait_ms: i64,
    pub group_interval_ms: i64,
    pub repeat_interval_ms: i64,
    pub send_resolved: bool,
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
    pub group: String,
    pub at_ms: i64,
    pub firing: Vec<Alert>,
    pub resolved: Vec<Alert>,
}

/// Groups' state; changes are tracked for persistence.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Groups {
    groups: BTreeMap<String, GroupState>,
    dirty: BTreeSet<String>,
    removed: BTreeSet<String>,
}

impl Groups {
    pub(crate) fn restored(groups: impl IntoIterator<Item = GroupState>) -> Groups {
        Groups {
            groups: groups.into_iter().map(|g| (g.key.clone(), g)).collect(),
            ..Default::default()
        }
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
        for a in alerts {
            if a.phase != AlertPhase::Pending {
                by_group
                    .entry(a.label("model").unwrap_or("").to_string())
                    .or_default()
                    .push(a);
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
