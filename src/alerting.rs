//! The alerting stage of every tick: rules → alert states → e-mail notifications and
//! retraining requests → outbox. The decisions are made by the pure modules
//! ([`crate::rules`], [`crate::notify`], [`crate::retrain`]); this module keeps their
//! state, persists it, and updates metrics and logs.
//!
//! Each evaluation writes the changed alert, group and cooldown state together with
//! the outbox entries it created, in one store transaction. A crash before that write
//! re-evaluates from the previous state (the same decisions, nothing sent yet); a crash
//! after it finds the entries in the outbox. Either way nothing is lost or repeated.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::json;

use crate::base::id::stable_id;
use crate::base::time::rfc3339;
use crate::config::Config;
use crate::evaluate::deployment::{newly_reached, verdict_event, DeploymentReport, ReachedVerdict};
use crate::metrics::Metrics;
use crate::notify::alertmanager::{needs_sending, push_body, webhook_body, PushSettings};
use crate::notify::silence::Silence;
use crate::notify::{render_email, EmailChart, Groups};
use crate::notify::{Action, OutboxEntry};
use crate::retrain::{Cooldowns, CronSchedule, Decision, Evidence, RetrainRequest, Trigger};
use crate::rules::{load_rules, Alert, AlertPhase, AlertTable, RuleSet, RulesError, SampleSet};
use crate::store::{AlertingChanges, Store, StoreError};

/// How long an expired silence stays listed (Alertmanager's default retention).
const SILENCE_RETENTION_MS: i64 = 5 * 86_400_000;

pub struct Alerting {
    store: Store,
    metrics: Metrics,
    rules: RuleSet,
    table: AlertTable,
    groups: Groups,
    cooldowns: Cooldowns,
    schedules_checked: BTreeMap<String, i64>,
    dirty_schedules: BTreeSet<String>,
    /// The last verdict each deployment (model, name) reached, as stored.
    verdicts: BTreeMap<(String, String), ReachedVerdict>,
    dirty_verdicts: BTreeSet<(String, String)>,
    /// Silences of the built-in e-mail, as stored.
    silences: Vec<Silence>,
    /// When each alert was last pushed to Alertmanager, by fingerprint. In memory: after
    /// a restart every alert is pushed again at once, as Prometheus does.
    pushed_ms: BTreeMap<String, i64>,
    /// Created but not yet durable (kept across a failed write).
    new_entries: Vec<OutboxEntry>,
    wake: Arc<tokio::sync::Notify>,
    last_reload_error: Option<String>,
    /// Cluster mode: whether this instance owns a model (its schedules are run by its
    /// owner alone). `None`: every model is this instance's.
    owns: Option<ModelOwnership>,
    /// Draws the charts of feature alerts for e-mails; `None`: e-mails without charts.
    charts: Option<Arc<dyn AlertCharts>>,
}

/// Whether this instance owns a model, asked by the alerting stage in cluster mode.
pub(crate) type ModelOwnership = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// The pictures of a firing feature alert for its e-mail (the window's distributions
/// and the statistic over the last hours); injected by the daemon, which can read the
/// windows. `None` when the alert has nothing to draw (no feature, no data).
pub(crate) trait AlertCharts: Send + Sync {
    fn chart(&self, alert: &Alert, now_ms: i64) -> Option<EmailChart>;
}

#[derive(Debug, thiserror::Error)]
pub enum AlertingError {
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The configured rule files (`[alerting] rules`), validated against the windows.
pub(crate) fn configured_rules(config: &Config) -> Result<RuleSet, RulesError> {
    let mut rules = load_rules(&config.alerting.rules, Some(&config.windows.names()))?;
    rules.external_url = config.external_url();
    Ok(rules)
}

impl Alerting {
    /// Loads the rules (a broken file stops the start) and the persisted state.
    pub fn new(
        config: &Config,
        store: Store,
        metrics: Metrics,
        wake: Arc<tokio::sync::Notify>,
    ) -> Result<Alerting, AlertingError> {
        let rules = configured_rules(config)?;
        let state = store.load_alerting()?;
        let silences = store.silences()?;
        if config.email.is_none() && config.webhook.is_none() && rules.rules.iter().any(|r| r.email)
        {
            tracing::warn!("rules have the `email` action but there is no [email] or [webhook] table: no notification will be sent");
        }
        metrics.alerting.rules_loaded.set(rules.rules.len() as i64);
        let alerting = Alerting {
            store,
            metrics,
            rules,
            table: AlertTable::restored(state.alerts),
            groups: Groups::restored(state.groups),
            cooldowns: Cooldowns::restored(state.last_retrain),
            schedules_checked: state.schedules_checked,
            dirty_schedules: BTreeSet::new(),
            verdicts: state.verdicts,
            dirty_verdicts: BTreeSet::new(),
            pushed_ms: BTreeMap::new(),
            silences,
            new_entries: Vec::new(),
            wake,
            last_reload_error: None,
            owns: None,
            charts: None,
        };
        alerting.update_alert_gauges();
        tracing::info!(
            rules = alerting.rules.rules.len(),
            files = alerting.rules.files.len(),
            restored_alerts = alerting.table.alerts().count(),
            "alert rules loaded"
        );
        Ok(alerting)
    }

    /// E-mails of feature alerts get charts drawn by `charts`.
    pub(crate) fn draw_charts_with(&mut self, charts: Arc<dyn AlertCharts>) {
        self.charts = Some(charts);
    }

    /// The charts of a notification's firing feature alerts, one per feature and
    /// window (two rules on one feature share it).
    fn charts_of(&self, n: &crate::notify::Notification, now_ms: i64) -> Vec<EmailChart> {
        let Some(source) = &self.charts else {
            return Vec::new();
        };
        let mut seen = BTreeSet::new();
        n.firing
            .iter()
            .filter(|a| a.label("feature").is_some())
            .filter(|a| {
                seen.insert((
                    a.label("model").map(str::to_string),
                    a.label("version").map(str::to_string),
                    a.label("feature").map(str::to_string),
                    a.label("window").map(str::to_string),
                ))
            })
            .filter_map(|a| source.chart(a, now_ms))
            .collect()
    }

    /// Cluster mode: only models `owns` says are this instance's have their schedules
    /// run here.
    pub(crate) fn own_models(&mut self, owns: ModelOwnership) {
        self.owns = Some(owns);
    }

    /// Replaces the alerting state with the store's (cluster mode, after the owned
    /// partitions changed). Alertmanager pushes start over, as after a restart.
    pub(crate) fn reload_state(&mut self) -> Result<(), StoreError> {
        let state = self.store.load_alerting()?;
        self.table = AlertTable::restored(state.alerts);
        self.groups = Groups::restored(state.groups);
        self.cooldowns = Cooldowns::restored(state.last_retrain);
        self.schedules_checked = state.schedules_checked;
        self.dirty_schedules.clear();
        self.verdicts = state.verdicts;
        self.dirty_verdicts.clear();
        self.pushed_ms.clear();
        // Decided for partitions that may be another instance's now: their owner
        // decides again from the restored state.
        self.new_entries.clear();
        self.update_alert_gauges();
        Ok(())
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    pub fn alerts(&self) -> impl Iterator<Item = &Alert> {
        self.table.alerts()
    }

    pub fn last_reload_error(&self) -> Option<&str> {
        self.last_reload_error.as_deref()
    }

    /// The (window, metric) pairs the rules use: the only samples a tick needs.
    pub(crate) fn used_samples(&self) -> BTreeSet<(String, String)> {
        self.rules
            .rules
            .iter()
            .map(|r| (r.window.clone(), r.metric.clone()))
            .collect()
    }

    /// Windows that rules evaluate over all versions of a model merged.
    pub(crate) fn merged_windows(&self) -> BTreeSet<String> {
        self.rules
            .rules
            .iter()
            .filter(|r| r.versions.is_none() && r.deployments.is_none())
            .map(|r| r.window.clone())
            .collect()
    }

    /// Windows that version-relative rules (a model or feature metric with
    /// `deployments`) compare a deployment's arms over.
    pub(crate) fn relative_windows(&self) -> BTreeSet<String> {
        self.rules
            .rules
            .iter()
            .filter(|r| {
                r.deployments.is_some()
                    && !crate::rules::sample::DEPLOYMENT_METRICS.contains(&r.metric.as_str())
            })
            .map(|r| r.window.clone())
            .collect()
    }

    /// Re-reads the rule files; on error the running rules stay.
    pub(crate) fn reload_rules(&mut self, config: &Config) -> Result<usize, RulesError> {
        let m = &self.metrics.alerting;
        match configured_rules(config) {
            Ok(rules) => {
                let n = rules.rules.len();
                self.rules = rules;
                self.last_reload_error = None;
                m.rules_loaded.set(n as i64);
                // The gauge before the counter, so that they agree once the reload is done; a
                // scrape running meanwhile may still read one old and one new (families
                // are gathered one by one).
                m.rules_reload_ok.set(1);
                m.rules_reloads.with_label_values(&["success"]).inc();
                tracing::info!(rules = n, "alert rules reloaded");
                Ok(n)
            }
            Err(e) => {
                self.last_reload_error = Some(e.to_string());
                m.rules_reload_ok.set(0);
                m.rules_reloads.with_label_values(&["failure"]).inc();
                tracing::error!(error = %e, "rule reload failed; keeping the running rules");
                Err(e)
            }
        }
    }

    /// One evaluation at `now_ms`.
    pub(crate) fn evaluate(
        &mut self,
        samples: &SampleSet,
        config: &Config,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let a = &config.alerting;
        let keep_resolved_ms =
            (a.group_wait + a.group_interval + 2 * config.windows.tick).as_millis() as i64;
        let transitions = self
            .table
            .evaluate(&self.rules, samples, now_ms, keep_resolved_ms);
        let rule_of: BTreeMap<&str, &crate::rules::Rule> = self
            .rules
            .rules
            .iter()
            .map(|r| (r.name.as_str(), r))
            .collect();
        let mut retrain = Vec::new();
        for t in &transitions {
            let to = t.to.map(AlertPhase::as_str).unwrap_or("inactive");
            let from = t.from.map(AlertPhase::as_str).unwrap_or("inactive");
            let alert = self.table.get(&t.fingerprint);
            let name = &t.rule;
            self.metrics
                .alerting
                .transitions
                .with_label_values(&[name, to])
                .inc();
            let l = |k: &str| t.labels.get(k).map(String::as_str).unwrap_or("");
            let (value, threshold, summary) = alert
                .map(|a| (a.value, a.threshold, a.summary()))
                .unwrap_or((f64::NAN, f64::NAN, ""));
            tracing::info!(alertname = %name, model = l("model"), version = l("version"),
                feature = l("feature"), window = l("window"), severity = l("severity"),
                from, to, value, threshold, summary, "alert state changed");
            if t.to == Some(AlertPhase::Firing) {
                if let Some(a) =
                    alert.filter(|a| rule_of.get(a.rule.as_str()).is_some_and(|r| r.retrain))
                {
                    retrain.push(a.clone());
                }
            }
        }
        for a in retrain {
            let model = a.label("model").unwrap_or("").to_string();
            let req = RetrainRequest {
                evidence: self.evidence(&model),
                version: a.label("version").map(str::to_string),
                trigger: Trigger::for_metric(&a.metric),
                rule: Some(a.rule.clone()),
                reason: a.summary().to_string(),
                identity: vec![
                    a.rule.clone(),
                    a.fingerprint(),
                    a.fired_at_ms.unwrap_or(now_ms).to_string(),
                ],
                at_ms: now_ms,
                model,
            };
            self.request(&req, config);
        }
        self.run_schedules(config, now_ms);
        if config.email.is_some() || config.webhook.is_some() {
            let emailing: BTreeSet<&str> = self
                .rules
                .rules
                .iter()
                .filter(|r| r.email)
                .map(|r| r.name.as_str())
                .collect();
            let muted = self.silenced(now_ms);
            let notifications = self.groups.flush(
                self.table
                    .alerts()
                    .filter(|a| emailing.contains(a.rule.as_str())),
                &muted,
                &a.group_settings(),
                now_ms,
            );
            for n in notifications {
                let at = n.at_ms.to_string();
                if let Some(email) = &config.email {
                    let charts = self.charts_of(&n, now_ms);
                    let (content, omitted) = render_email(&n, a.dashboard_url.as_deref(), &charts);
                    let c = &self.metrics.alerting.email_charts;
                    c.with_label_values(&["attached"])
                        .inc_by((charts.len() - omitted) as u64);
                    c.with_label_values(&["omitted"]).inc_by(omitted as u64);
                    tracing::info!(group = %n.group, firing = n.firing.len(), resolved = n.resolved.len(),
                        subject = %content.subject, "alert e-mail queued");
                    let action = Action::Email {
                        to: email.to.clone(),
                        content,
                    };
                    let id = stable_id(&["email", &n.group, &at]);
                    self.new_entries
                        .push(OutboxEntry::new(id, action, now_ms).about(n.model()));
                }
                if let Some(hook) = &config.webhook {
                    let base = config.external_url();
                    let action = Action::AlertWebhook {
                        url: hook.url.clone(),
                        payload: webhook_body(&n, &base).to_string(),
                    };
                    let id = stable_id(&["alert_webhook", &n.group, &at]);
                    self.new_entries
                        .push(OutboxEntry::new(id, action, now_ms).about(n.model()));
                }
            }
        }
        if let Some(am) = &config.alertmanager {
            self.push_to_alertmanager(am, config, now_ms);
        }
        self.drop_old_silences(now_ms)?;
        self.update_alert_gauges();
        self.persist()
    }

    /// Queues a push of every firing and resolved alert to each Alertmanager when one
    /// of them is due (it started firing, resolved, or `resend_delay` passed).
    fn push_to_alertmanager(
        &mut self,
        am: &crate::config::AlertmanagerConfig,
        config: &Config,
        now_ms: i64,
    ) {
        let settings = PushSettings {
            resend_delay_ms: am.resend_delay.as_millis() as i64,
            interval_ms: config.windows.tick.as_millis() as i64,
            generator_base: config.external_url(),
        };
        let table = &self.table;
        self.pushed_ms.retain(|fp, _| table.get(fp).is_some());
        let due = table.alerts().any(|a| {
            needs_sending(
                a,
                self.pushed_ms.get(&a.fingerprint()).copied(),
                &settings,
                now_ms,
            )
        });
        if !due {
            return;
        }
        let payload = push_body(table.alerts(), &settings, now_ms).to_string();
        for url in &am.urls {
            let id = stable_id(&["alertmanager", url, &now_ms.to_string()]);
            let action = Action::Alertmanager {
                url: url.clone(),
                payload: payload.clone(),
            };
            self.new_entries.push(OutboxEntry::new(id, action, now_ms));
        }
        for a in table.alerts().filter(|a| a.phase != AlertPhase::Pending) {
            self.pushed_ms.insert(a.fingerprint(), now_ms);
        }
    }

    /// Records the verdicts this tick reached ([`newly_reached`]); each becomes a
    /// CloudEvent on `[retrain] deployments_topic`. Written with the next
    /// [`Alerting::evaluate`], in the same transaction as its outbox entry: after a
    /// crash either both are stored or the verdict is reached again.
    pub(crate) fn record_verdicts(
        &mut self,
        reports: &[(String, DeploymentReport)],
        config: &Config,
        now_ms: i64,
    ) {
        for (model, r) in reports {
            let key = (model.clone(), r.deployment.clone());
            if !newly_reached(r, self.verdicts.get(&key)) {
                continue;
            }
            let reached = ReachedVerdict {
                verdict: r.verdict.to_string(),
                candidate_versions: r.candidate_versions.clone(),
                at_ms: now_ms,
            };
            let previous = self.verdicts.insert(key.clone(), reached);
            self.dirty_verdicts.insert(key);
            let source = &config.retrain.source;
            let event = verdict_event(model, r, previous.as_ref(), source, now_ms);
            let id = event["id"].as_str().unwrap_or_default().to_string();
            self.new_entries.push(
                OutboxEntry::new(
                    format!("{id}-kafka"),
                    Action::Kafka {
                        topic: config.retrain.deployments_topic.clone(),
                        key: model.clone(),
                        payload: event.to_string(),
                    },
                    now_ms,
                )
                .about(Some(model)),
            );
            self.metrics
                .alerting
                .deployment_events
                .with_label_values(&[model, &r.deployment, r.verdict])
                .inc();
            tracing::info!(model = %model, deployment = %r.deployment, verdict = r.verdict,
                previous = previous.as_ref().map_or("", |p| p.verdict.as_str()), id = %id,
                "deployment verdict reached");
        }
    }

    /// A manual retraining request (`POST /api/v1/models/{model}/retrain`).
    pub(crate) fn request_manual(
        &mut self,
        model: &str,
        version: Option<String>,
        reason: &str,
        config: &Config,
        now_ms: i64,
    ) -> Result<Decision, StoreError> {
        let req = RetrainRequest {
            model: model.to_string(),
            version,
            trigger: Trigger::Manual,
            rule: None,
            reason: reason.to_string(),
            evidence: self.evidence(model),
            identity: vec![reason.to_string(), now_ms.to_string()],
            at_ms: now_ms,
        };
        let decision = self.request(&req, config);
        self.persist()?;
        Ok(decision)
    }

    fn evidence(&self, model: &str) -> Vec<Evidence> {
        self.table
            .alerts()
            .filter(|a| a.phase == AlertPhase::Firing && a.label("model") == Some(model))
            .map(|a| Evidence {
                rule: a.rule.clone(),
                window: a.label("window").unwrap_or("").to_string(),
                feature: a.label("feature").map(str::to_string),
                metric: a.metric.clone(),
                value: a.value,
                threshold: a.threshold,
                reference: a.reference,
            })
            .collect()
    }

    fn request(&mut self, req: &RetrainRequest, config: &Config) -> Decision {
        let r = &config.retrain;
        let decision = self.cooldowns.decide(
            req,
            r.cooldown.as_millis() as i64,
            &r.source,
            r.training_window,
        );
        let trigger = req.trigger.as_str();
        match &decision {
            Decision::Emit(event) => {
                let id = event["id"].as_str().unwrap_or_default().to_string();
                let payload = event.to_string();
                self.new_entries.push(
                    OutboxEntry::new(
                        format!("{id}-kafka"),
                        Action::Kafka {
                            topic: r.topic.clone(),
                            key: req.model.clone(),
                            payload: payload.clone(),
                        },
                        req.at_ms,
                    )
                    .about(Some(&req.model)),
                );
                if let Some(url) = &r.webhook_url {
                    self.new_entries.push(
                        OutboxEntry::new(
                            format!("{id}-webhook"),
                            Action::Webhook {
                                url: url.clone(),
                                payload,
                            },
                            req.at_ms,
                        )
                        .about(Some(&req.model)),
                    );
                }
                self.metrics
                    .alerting
                    .retrain_requests
                    .with_label_values(&[&req.model, trigger, "emitted"])
                    .inc();
                tracing::info!(model = %req.model, trigger, id = %id, rule = req.rule.as_deref().unwrap_or(""),
                    "retraining requested");
            }
            Decision::Suppressed { until_ms } => {
                self.metrics
                    .alerting
                    .retrain_requests
                    .with_label_values(&[&req.model, trigger, "suppressed"])
                    .inc();
                tracing::info!(model = %req.model, trigger, rule = req.rule.as_deref().unwrap_or(""),
                    cooldown_until_ms = until_ms, "retraining request suppressed by the cooldown");
            }
        }
        decision
    }

    fn run_schedules(&mut self, config: &Config, now_ms: i64) {
        for (model, m) in &config.models {
            let Some(text) = &m.retrain_schedule else {
                continue;
            };
            let Ok(cron) = CronSchedule::parse(&text.0, m.retrain_timezone) else {
                continue;
            };
            if self.owns.as_ref().is_some_and(|owns| !owns(model)) {
                continue;
            }
            let Some(&checked) = self.schedules_checked.get(model) else {
                // First sight of the schedule: runs before now are not owed.
                self.schedules_checked.insert(model.clone(), now_ms);
                self.dirty_schedules.insert(model.clone());
                continue;
            };
            if let Some(at) = cron.latest_between(checked, now_ms) {
                let req = RetrainRequest {
                    model: model.clone(),
                    version: None,
                    trigger: Trigger::Schedule,
                    rule: None,
                    reason: format!("scheduled retraining ({})", text.0),
                    evidence: self.evidence(model),
                    identity: vec![at.to_string()],
                    at_ms: now_ms,
                };
                self.request(&req, config);
                // Persisted only when a run was due: re-checking an unpersisted quiet
                // period after a restart finds nothing new.
                self.schedules_checked.insert(model.clone(), now_ms);
                self.dirty_schedules.insert(model.clone());
            }
        }
    }

    fn persist(&mut self) -> Result<(), StoreError> {
        let (alerts, removed_alerts) = self.table.changes();
        let (groups, removed_groups) = self.groups.changes();
        let changes = AlertingChanges {
            alerts,
            removed_alerts,
            groups,
            removed_groups,
            last_retrain: self.cooldowns.changes(),
            schedules_checked: self
                .dirty_schedules
                .iter()
                .filter_map(|m| self.schedules_checked.get(m).map(|t| (m.clone(), *t)))
                .collect(),
            verdicts: self
                .dirty_verdicts
                .iter()
                .filter_map(|k| self.verdicts.get(k).map(|v| (k.clone(), v.clone())))
                .collect(),
            outbox: self.new_entries.clone(),
        };
        if changes.is_empty() {
            return Ok(());
        }
        self.store.write_alerting(&changes)?;
        self.table.mark_clean();
        self.groups.mark_clean();
        self.cooldowns.mark_clean();
        self.dirty_schedules.clear();
        self.dirty_verdicts.clear();
        if !self.new_entries.is_empty() {
            self.new_entries.clear();
            self.wake.notify_one();
        }
        Ok(())
    }

    fn update_alert_gauges(&self) {
        let g = &self.metrics.alerting.alerts;
        g.reset();
        for a in self.table.alerts() {
            if a.phase == AlertPhase::Resolved {
                continue;
            }
            let values: Vec<&str> = crate::metrics::ALERT_LABELS
                .iter()
                .map(|k| match *k {
                    "alertname" => a.rule.as_str(),
                    "alertstate" => a.phase.as_str(),
                    k => a.label(k).unwrap_or(""),
                })
                .collect();
            g.with_label_values(&values).set(1);
        }
    }

    /// `GET /api/v1/alerts`.
    /// Fingerprints of the alerts an active silence covers.
    fn silenced(&self, now_ms: i64) -> BTreeSet<String> {
        self.table
            .alerts()
            .filter(|a| self.silences.iter().any(|s| s.silences(&a.labels, now_ms)))
            .map(|a| a.fingerprint())
            .collect()
    }

    pub fn silences(&self) -> &[Silence] {
        &self.silences
    }

    /// Creates a silence (durably); its id.
    pub(crate) fn add_silence(
        &mut self,
        mut s: Silence,
        now_ms: i64,
    ) -> Result<String, StoreError> {
        s.id = stable_id(&[
            "silence",
            &now_ms.to_string(),
            &s.created_by,
            &self.silences.len().to_string(),
        ]);
        self.store.put_silence(&s)?;
        tracing::info!(id = %s.id, matchers = ?s.matchers.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ends_at = %rfc3339(s.ends_at_ms), created_by = %s.created_by, "silence created");
        let id = s.id.clone();
        self.silences.push(s);
        Ok(id)
    }

    /// Ends a silence now (durably); `false` when there is no such silence.
    pub(crate) fn expire_silence(&mut self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let Some(s) = self.silences.iter_mut().find(|s| s.id == id) else {
            return Ok(false);
        };
        s.ends_at_ms = s.ends_at_ms.min(now_ms);
        s.starts_at_ms = s.starts_at_ms.min(s.ends_at_ms);
        self.store.put_silence(s)?;
        tracing::info!(id, "silence expired");
        Ok(true)
    }

    /// Forgets silences that ended more than [`SILENCE_RETENTION_MS`] ago.
    fn drop_old_silences(&mut self, now_ms: i64) -> Result<(), StoreError> {
        let old: Vec<String> = self
            .silences
            .iter()
            .filter(|s| now_ms - s.ends_at_ms > SILENCE_RETENTION_MS)
            .map(|s| s.id.clone())
            .collect();
        for id in &old {
            self.store.remove_silence(id)?;
        }
        self.silences.retain(|s| !old.contains(&s.id));
        Ok(())
    }

    pub(crate) fn silences_json(&self, now_ms: i64) -> serde_json::Value {
        let list: Vec<_> = self
            .silences
            .iter()
            .map(|s| {
                json!({
                    "id": s.id,
                    "matchers": s.matchers,
                    "starts_at": rfc3339(s.starts_at_ms),
                    "ends_at": rfc3339(s.ends_at_ms),
                    "created_by": s.created_by,
                    "comment": s.comment,
                    "state": s.state(now_ms),
                })
            })
            .collect();
        json!({ "silences": list })
    }

    pub(crate) fn alerts_json(&self) -> serde_json::Value {
        let muted = self.silenced(crate::base::time::unix_now_ms());
        let alerts: Vec<_> = self
            .table
            .alerts()
            .map(|a| {
                json!({
                    "labels": a.labels,
                    "state": a.phase.as_str(),
                    // Silenced: no e-mail while an active silence matches it.
                    "suppressed": muted.contains(&a.fingerprint()),
                    "active_at": rfc3339(a.active_at_ms),
                    "fired_at": a.fired_at_ms.map(rfc3339),
                    "resolved_at": a.resolved_at_ms.map(rfc3339),
                    "metric": a.metric,
                    "value": a.value,
                    "threshold": a.threshold,
                    "reference": a.reference,
                    "baseline": a.baseline,
                    "samples": a.samples,
                    "summary": a.summary(),
                    "annotations": a.annotations,
                })
            })
            .collect();
        json!({
            "alerts": alerts,
            "rules": {
                "loaded": self.rules.rules.len(),
                "files": self.rules.files,
                "last_reload_error": self.last_reload_error,
            }
        })
    }

    /// `GET /api/v1/rules`.
    pub(crate) fn rules_json(&self) -> serde_json::Value {
        let rules: Vec<_> = self
            .rules
            .rules
            .iter()
            .map(|r| {
                let actions: Vec<&str> =
                    [r.email.then_some("email"), r.retrain.then_some("retrain")]
                        .into_iter()
                        .flatten()
                        .collect();
                json!({
                    "name": r.name, "file": r.file, "models": r.models, "features": r.features,
                    "versions": r.versions, "metric": r.metric, "window": r.window,
                    "condition": r.condition.to_string(), "for_seconds": r.for_ms / 1000,
                    "keep_firing_for_seconds": r.keep_firing_for_ms / 1000,
                    "min_samples": r.min_samples, "severity": r.severity, "labels": r.labels,
                    "actions": actions,
                })
            })
            .collect();
        json!({ "rules": rules, "last_reload_error": self.last_reload_error })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule_events(store: &Store) -> Vec<serde_json::Value> {
        store
            .outbox()
            .unwrap()
            .into_iter()
            .filter_map(|e| match e.action {
                Action::Kafka { payload, .. } => serde_json::from_str(&payload).ok(),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn schedules_request_once_per_run_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let config = Config::parse(
            "[models.m]\nretrain_schedule = \"*/5 * * * *\"\n[retrain]\ncooldown = \"1m\"\n",
        )
        .unwrap();
        let wake = Arc::new(tokio::sync::Notify::new());
        let open = || {
            Alerting::new(
                &config,
                store.clone(),
                Metrics::new().unwrap(),
                wake.clone(),
            )
            .unwrap()
        };
        let none = SampleSet::default();
        let t0 = 1_000 * 300_000 + 1_000; // one second after a scheduled minute
        let mut a = open();
        a.evaluate(&none, &config, t0).unwrap();
        assert!(
            schedule_events(&store).is_empty(),
            "runs before the first look are not owed"
        );
        a.evaluate(&none, &config, t0 + 60_000).unwrap();
        assert!(schedule_events(&store).is_empty());
        a.evaluate(&none, &config, t0 + 300_000).unwrap();
        let events = schedule_events(&store);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["data"]["trigger"], "schedule");
        assert_eq!(events[0]["subject"], "m");
        a.evaluate(&none, &config, t0 + 310_000).unwrap();
        assert_eq!(schedule_events(&store).len(), 1, "one request per run");
        drop(a);
        // A restart remembers the run; two runs missed while down give one request.
        let mut a = open();
        a.evaluate(&none, &config, t0 + 320_000).unwrap();
        assert_eq!(schedule_events(&store).len(), 1);
        a.evaluate(&none, &config, t0 + 900_000).unwrap();
        assert_eq!(schedule_events(&store).len(), 2);
    }
}
