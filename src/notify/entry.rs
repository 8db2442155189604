//! What the alerting stage writes to the durable outbox, in the same store batch as
//! the alert state that caused it: an id that is the same whenever the same decision
//! is made again, and the action to deliver.

use serde::{Deserialize, Serialize};

use super::EmailContent;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Deterministic: the same alert notification or event always gets the same id.
    pub id: String,
    pub created_ms: i64,
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub last_error: Option<String>,
    pub action: Action,
    /// The model the entry is about; in cluster mode its owner alone delivers it.
    /// `None` for Alertmanager pushes, which carry every alert of the instance that
    /// made them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Action {
    Email {
        to: Vec<String>,
        content: EmailContent,
    },
    /// A CloudEvent (structured JSON) produced to a topic, keyed by model.
    Kafka {
        topic: String,
        key: String,
        payload: String,
    },
    /// The same CloudEvent POSTed to a URL.
    Webhook { url: String, payload: String },
    /// Alerts (JSON, `POST /api/v2/alerts`) for the Alertmanager at `url`; a newer
    /// push for the same URL supersedes this one.
    Alertmanager { url: String, payload: String },
    /// A grouped notification in Alertmanager's webhook format, POSTed to `url`.
    AlertWebhook { url: String, payload: String },
}

impl Action {
    /// Every kind, for the outbox gauges.
    pub const KINDS: [&'static str; 5] =
        ["email", "kafka", "webhook", "alertmanager", "alert_webhook"];

    pub fn kind(&self) -> &'static str {
        match self {
            Action::Email { .. } => "email",
            Action::Kafka { .. } => "kafka",
            Action::Webhook { .. } => "webhook",
            Action::Alertmanager { .. } => "alertmanager",
            Action::AlertWebhook { .. } => "alert_webhook",
        }
    }
}

impl OutboxEntry {
    pub fn new(id: String, action: Action, now_ms: i64) -> OutboxEntry {
        OutboxEntry {
            id,
            created_ms: now_ms,
            attempts: 0,
            next_attempt_ms: now_ms,
            last_error: None,
            action,
            model: None,
        }
    }

    /// The same entry, about `model`.
    pub fn about(mut self, model: Option<&str>) -> OutboxEntry {
        self.model = model.map(str::to_string);
        self
    }
}
