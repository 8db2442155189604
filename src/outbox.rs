//! The durable outbox: every e-mail, retraining event and webhook call is written to
//! the store (by [`crate::alerting`], in the same transaction as the alert state that caused it)
//! before anything is sent. [`OutboxSender`] delivers the entries, oldest first,
//! retries failures with exponential backoff, and removes an entry only after its
//! delivery succeeded. SMTP, Kafka or the webhook being down delays delivery; it never
//! drops an entry, and a restart resumes where the last one stopped.
//!
//! What "exactly once" means here: an entry is created once (its id is deterministic
//! and the alert state that produced it is written with it) and removed once delivered.
//! A crash in the instant between a successful delivery and the removal re-sends it on
//! restart; e-mails then carry the same `Message-ID` and events the same CloudEvent
//! `id`, so receivers can drop that duplicate.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::base::time::unix_now_ms;
use crate::config::{Config, EmailConfig, OutboxConfig, SmtpTls};
use crate::metrics::Metrics;
use crate::notify::{Action, OutboxEntry};
use crate::store::Store;

/// The delay before attempt `attempts + 1`: initial · 2^(attempts − 1), capped.
pub(crate) fn backoff(attempts: u32, settings: &OutboxConfig) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(30));
    settings
        .initial_backoff
        .saturating_mul(factor)
        .min(settings.max_backoff)
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("email: {0}")]
    Email(String),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("webhook: {0}")]
    Webhook(String),
    #[error("alertmanager: {0}")]
    Alertmanager(String),
}

/// Delivers outbox entries; one per daemon.
pub(crate) struct OutboxSender {
    store: Store,
    metrics: Metrics,
    settings: OutboxConfig,
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    producer: FutureProducer,
    http: reqwest::Client,
    /// Alertmanager's own client: its `[alertmanager] tls`.
    alertmanager_http: reqwest::Client,
    webhook_token: Option<HttpAuth>,
    alertmanager_auth: Option<HttpAuth>,
    alert_webhook_token: Option<HttpAuth>,
    wake: Arc<tokio::sync::Notify>,
    /// Cluster mode: an entry about a model another instance owns now is left to it
    /// (the store drops it when the partitions go; this closes the moment between).
    owns: Option<crate::alerting::ModelOwnership>,
}

/// How a POST authenticates.
enum HttpAuth {
    Bearer(String),
    Basic { username: String, password: String },
}

/// A client for `[alertmanager] tls`: extra CA, client certificate, or no checks.
fn tls_client(tls: &crate::config::TlsClientConfig) -> Result<reqwest::Client, String> {
    let read = |key: &str, p: &std::path::Path| {
        std::fs::read(p).map_err(|e| format!("alertmanager.tls.{key} `{}`: {e}", p.display()))
    };
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(10));
    if let Some(ca) = &tls.ca_file {
        let pem = read("ca_file", ca)?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| format!("alertmanager.tls.ca_file `{}`: {e}", ca.display()))?;
        b = b.add_root_certificate(cert);
    }
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        let identity =
            reqwest::Identity::from_pkcs8_pem(&read("cert_file", cert)?, &read("key_file", key)?)
                .map_err(|e| format!("alertmanager.tls: client certificate and key: {e}"))?;
        b = b.identity(identity);
    }
    if tls.insecure_skip_verify {
        b = b.danger_accept_invalid_certs(true);
    }
    b.build().map_err(|e| e.to_string())
}

fn smtp_transport(
    c: &EmailConfig,
) -> Result<(AsyncSmtpTransport<Tokio1Executor>, Mailbox), OutboxError> {
    let err = |e: String| OutboxError::Email(e);
    let mut builder = match c.tls {
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&c.smtp_host)
            .map_err(|e| err(e.to_string()))?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&c.smtp_host)
            .map_err(|e| err(e.to_string()))?,
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.smtp_host),
    };
    if let Some(port) = c.smtp_port {
        builder = builder.port(port);
    }
    builder = builder.timeout(Some(c.timeout));
    match (&c.username, &c.password) {
        (Some(user), Some(secret)) => {
            let password = secret.read("email.password").map_err(err)?;
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        (None, None) => {}
        _ => {
            return Err(err(
                "set both email.username and email.password, or neither".into(),
            ))
        }
    }
    let from: Mailbox = c
        .from
        .parse()
        .map_err(|e| err(format!("email.from: {e}")))?;
    Ok((builder.build(), from))
}

impl OutboxSender {
    pub fn new(
        config: &Config,
        store: Store,
        metrics: Metrics,
        wake: Arc<tokio::sync::Notify>,
    ) -> Result<OutboxSender, OutboxError> {
        let smtp = config.email.as_ref().map(smtp_transport).transpose()?;
        let producer: FutureProducer = crate::kafka::client_config(config)?
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "10000")
            .create()?;
        let bearer = |s: &crate::config::SecretRef, key: &str| s.read(key).map(HttpAuth::Bearer);
        let webhook_token = config
            .retrain
            .webhook_token
            .as_ref()
            .map(|s| bearer(s, "retrain.webhook_token"))
            .transpose()
            .map_err(OutboxError::Webhook)?;
        let am = config.alertmanager.as_ref();
        let alertmanager_auth = match (
            am.and_then(|a| a.token.as_ref()),
            am.and_then(|a| a.basic_auth.as_ref()),
        ) {
            (Some(token), _) => Some(bearer(token, "alertmanager.token")),
            (None, Some(basic)) => Some(
                basic
                    .password
                    .read("alertmanager.basic_auth.password")
                    .map(|password| HttpAuth::Basic {
                        username: basic.username.clone(),
                        password,
                    }),
            ),
            (None, None) => None,
        }
        .transpose()
        .map_err(OutboxError::Alertmanager)?;
        let alert_webhook_token = config
            .webhook
            .as_ref()
            .and_then(|w| w.token.as_ref())
            .map(|s| bearer(s, "webhook.token"))
            .transpose()
            .map_err(OutboxError::Webhook)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| OutboxError::Webhook(e.to_string()))?;
        let alertmanager_http = match am.and_then(|a| a.tls.as_ref()) {
            Some(tls) => tls_client(tls).map_err(OutboxError::Alertmanager)?,
            None => http.clone(),
        };
        Ok(OutboxSender {
            store,
            metrics,
            settings: config.outbox.clone(),
            smtp,
            producer,
            http,
            alertmanager_http,
            webhook_token,
            alertmanager_auth,
            alert_webhook_token,
            wake,
            owns: None,
        })
    }

    /// Cluster mode: deliver only entries about models `owns` says are this instance's.
    pub fn own_models(mut self, owns: crate::alerting::ModelOwnership) -> OutboxSender {
        self.owns = Some(owns);
        self
    }

    /// Delivers due entries until `stop` turns true; wakes on new entries and every
    /// second for retries.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            if let Err(e) = self.deliver_due().await {
                tracing::error!(error = %e, "outbox: store access failed");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// One pass over the outbox.
    pub(crate) async fn deliver_due(&self) -> Result<(), crate::store::StoreError> {
        let mut entries = self.store.outbox()?;
        // Of the pushes to one Alertmanager only the newest is sent: each carries every
        // alert, so the older ones are superseded (and would undo newer state if sent
        // after it).
        let mut newest: BTreeMap<&str, (i64, &str)> = BTreeMap::new();
        for e in &entries {
            if let Action::Alertmanager { url, .. } = &e.action {
                let n = newest.entry(url).or_insert((e.created_ms, &e.id));
                if (e.created_ms, e.id.as_str()) > *n {
                    *n = (e.created_ms, &e.id);
                }
            }
        }
        let superseded: Vec<String> = entries
            .iter()
            .filter(|e| match &e.action {
                Action::Alertmanager { url, .. } => {
                    newest.get(url.as_str()).map(|n| n.1) != Some(e.id.as_str())
                }
                _ => false,
            })
            .map(|e| e.id.clone())
            .collect();
        for id in &superseded {
            self.store.remove_outbox(id)?;
            self.metrics
                .alerting
                .deliveries
                .with_label_values(&["alertmanager", "superseded"])
                .inc();
        }
        entries.retain(|e| !superseded.contains(&e.id));
        let now = unix_now_ms();
        let ours = |e: &crate::notify::OutboxEntry| match (&self.owns, &e.model) {
            (Some(owns), Some(model)) => owns(model),
            _ => true,
        };
        for mut entry in entries
            .into_iter()
            .filter(|e| e.next_attempt_ms <= now && ours(e))
        {
            let kind = entry.action.kind();
            match self.deliver(&entry).await {
                Ok(()) => {
                    self.store.remove_outbox(&entry.id)?;
                    self.metrics
                        .alerting
                        .deliveries
                        .with_label_values(&[kind, "delivered"])
                        .inc();
                    match &entry.action {
                        Action::Email { to, content } => tracing::info!(
                            id = %entry.id, subject = %content.subject, recipients = to.len(),
                            attempts = entry.attempts + 1, "alert e-mail sent"),
                        // The topic carries retraining requests or deployment verdicts
                        // (CloudEvents, told apart by their type).
                        Action::Kafka {
                            topic,
                            key,
                            payload,
                        } if payload.contains(crate::evaluate::deployment::VERDICT_EVENT_TYPE) => {
                            tracing::info!(
                            id = entry.id.trim_end_matches("-kafka"), topic = %topic, model = %key,
                            attempts = entry.attempts + 1, "deployment verdict event produced")
                        }
                        Action::Kafka { topic, key, .. } => tracing::info!(
                            id = entry.id.trim_end_matches("-kafka"), topic = %topic, model = %key,
                            attempts = entry.attempts + 1, "retraining event produced"),
                        Action::Webhook { url, .. } => tracing::info!(
                            id = %entry.id, url = %url,
                            attempts = entry.attempts + 1, "retraining webhook delivered"),
                        Action::AlertWebhook { url, .. } => tracing::info!(
                            id = %entry.id, url = %url,
                            attempts = entry.attempts + 1, "alert webhook delivered"),
                        Action::Alertmanager { url, .. } => tracing::debug!(
                            id = %entry.id, url = %url,
                            attempts = entry.attempts + 1, "alerts pushed to Alertmanager"),
                    }
                }
                Err(e) => {
                    entry.attempts += 1;
                    let wait = backoff(entry.attempts, &self.settings);
                    entry.next_attempt_ms = unix_now_ms() + wait.as_millis() as i64;
                    entry.last_error = Some(e.to_string());
                    self.store.update_outbox(&entry)?;
                    self.metrics
                        .alerting
                        .deliveries
                        .with_label_values(&[kind, "failed"])
                        .inc();
                    tracing::warn!(id = %entry.id, kind, attempts = entry.attempts,
                        retry_in = ?wait, error = %e, "outbox delivery failed; will retry");
                }
            }
        }
        self.update_gauges()
    }

    fn update_gauges(&self) -> Result<(), crate::store::StoreError> {
        let entries = self.store.outbox()?;
        for kind in Action::KINDS {
            let n = entries.iter().filter(|e| e.action.kind() == kind).count();
            self.metrics
                .alerting
                .outbox_pending
                .with_label_values(&[kind])
                .set(n as i64);
        }
        let oldest = entries.iter().map(|e| e.created_ms).min();
        self.metrics.alerting.outbox_oldest.set(
            oldest
                .map(|t| (unix_now_ms() - t).max(0) as f64 / 1000.0)
                .unwrap_or(0.0),
        );
        Ok(())
    }

    async fn deliver(&self, entry: &OutboxEntry) -> Result<(), OutboxError> {
        match &entry.action {
            Action::Email { to, content } => {
                let Some((smtp, from)) = &self.smtp else {
                    return Err(OutboxError::Email(
                        "no [email] table in the configuration".into(),
                    ));
                };
                let mut builder = Message::builder()
                    .from(from.clone())
                    .subject(content.subject.clone())
                    // The same id on every attempt: receivers can drop a duplicate.
                    .message_id(Some(format!("<{}@driftd>", entry.id)));
                for rcpt in to {
                    let mailbox: Mailbox = rcpt
                        .parse()
                        .map_err(|e| OutboxError::Email(format!("`{rcpt}`: {e}")))?;
                    builder = builder.to(mailbox);
                }
                let message = builder
                    .multipart(email_body(content)?)
                    .map_err(|e| OutboxError::Email(e.to_string()))?;
                smtp.send(message)
                    .await
                    .map_err(|e| OutboxError::Email(e.to_string()))?;
                Ok(())
            }
            Action::Kafka {
                topic,
                key,
                payload,
            } => {
                let headers = OwnedHeaders::new().insert(Header {
                    key: "content-type",
                    value: Some("application/cloudevents+json; charset=UTF-8"),
                });
                self.producer
                    .send(
                        FutureRecord::to(topic)
                            .key(key)
                            .payload(payload)
                            .headers(headers),
                        Duration::from_secs(5),
                    )
                    .await
                    .map_err(|(e, _)| OutboxError::Kafka(e))?;
                Ok(())
            }
            Action::Alertmanager { url, payload } => {
                let endpoint = alerts_endpoint(url).map_err(OutboxError::Alertmanager)?;
                self.post(
                    &self.alertmanager_http,
                    endpoint.as_str(),
                    "application/json",
                    payload,
                    self.alertmanager_auth.as_ref(),
                )
                .await
                .map_err(OutboxError::Alertmanager)
            }
            Action::AlertWebhook { url, payload } => self
                .post(
                    &self.http,
                    url,
                    "application/json",
                    payload,
                    self.alert_webhook_token.as_ref(),
                )
                .await
                .map_err(OutboxError::Webhook),
            Action::Webhook { url, payload } => self
                .post(
                    &self.http,
                    url,
                    "application/cloudevents+json; charset=UTF-8",
                    payload,
                    self.webhook_token.as_ref(),
                )
                .await
                .map_err(OutboxError::Webhook),
        }
    }
}

impl OutboxSender {
    /// POSTs `payload`; a non-2xx answer is an error with its status and the start of
    /// its body.
    async fn post(
        &self,
        client: &reqwest::Client,
        url: &str,
        content_type: &str,
        payload: &str,
        auth: Option<&HttpAuth>,
    ) -> Result<(), String> {
        let mut req = client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(payload.to_string());
        match auth {
            Some(HttpAuth::Bearer(token)) => req = req.bearer_auth(token),
            Some(HttpAuth::Basic { username, password }) => {
                req = req.basic_auth(username, Some(password))
            }
            None => {}
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        if resp.status().is_success() {
            return Ok(());
        }
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        Err(format!(
            "{url} answered {status}: {}",
            body.chars().take(200).collect::<String>()
        ))
    }
}

/// `{base}/api/v2/alerts`, keeping a path prefix of the base.
fn alerts_endpoint(base: &str) -> Result<url::Url, String> {
    let mut url = url::Url::parse(base).map_err(|e| format!("`{base}`: {e}"))?;
    url.path_segments_mut()
        .map_err(|()| format!("`{base}` cannot be a base URL"))?
        .pop_if_empty()
        .extend(["api", "v2", "alerts"]);
    Ok(url)
}

/// Text and HTML as alternatives; with charts, the HTML and its inline PNGs as one
/// `multipart/related` part (the images by `Content-ID`, which the HTML's `cid:`
/// references name).
fn email_body(content: &crate::notify::EmailContent) -> Result<MultiPart, OutboxError> {
    if content.images.is_empty() {
        return Ok(MultiPart::alternative_plain_html(
            content.text.clone(),
            content.html.clone(),
        ));
    }
    let png: ContentType = "image/png"
        .parse()
        .map_err(|e| OutboxError::Email(format!("image/png: {e:?}")))?;
    let mut related = MultiPart::related().singlepart(SinglePart::html(content.html.clone()));
    for image in &content.images {
        related = related.singlepart(
            Attachment::new_inline(image.cid.clone()).body(image.png.clone(), png.clone()),
        );
    }
    Ok(MultiPart::alternative()
        .singlepart(SinglePart::plain(content.text.clone()))
        .multipart(related))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let s = OutboxConfig {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
        };
        let secs: Vec<u64> = (1..=6).map(|a| backoff(a, &s).as_secs()).collect();
        assert_eq!(secs, vec![1, 2, 4, 8, 10, 10]);
        assert_eq!(backoff(1000, &s).as_secs(), 10);
    }

    #[test]
    fn entries_round_trip_through_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let e = OutboxEntry::new(
            "abc".into(),
            Action::Kafka {
                topic: "t".into(),
                key: "m".into(),
                payload: "{}".into(),
            },
            5,
        );
        store
            .write_alerting(&crate::store::AlertingChanges {
                outbox: vec![e.clone()],
                ..Default::default()
            })
            .unwrap();
        assert_eq!(store.outbox().unwrap(), vec![e.clone()]);
        let mut failed = e.clone();
        failed.attempts = 1;
        store.update_outbox(&failed).unwrap();
        assert_eq!(store.outbox().unwrap()[0].attempts, 1);
        store.remove_outbox("abc").unwrap();
        assert!(store.outbox().unwrap().is_empty());
    }
}
