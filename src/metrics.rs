//! Every Prometheus metric name and label in one place.
//!
//! Naming follows Prometheus practice: `driftd_` prefix, base units in the name
//! (`_seconds`, `_bytes`), `_total` for counters. Label values are bounded: models and
//! versions come from the data, so their number is documented as the cardinality limit;
//! decode reasons are a fixed set.

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::event::DecodeReason;
use crate::report::{FeatureStatistic, FEATURE_STATISTICS};
use crate::stats::performance::{PerformanceMetric, PERFORMANCE_METRICS};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub events: IntCounterVec,
    pub labels: IntCounterVec,
    pub decode_errors: IntCounterVec,
    pub dead_letters: IntCounter,
    pub consumer_lag: IntGaugeVec,
    pub assigned_partitions: IntGauge,
    pub checkpoint_duration: Histogram,
    pub checkpoint_failures: IntCounter,
    pub last_checkpoint: IntGauge,
    pub store_size: IntGauge,
    pub late_events: IntCounterVec,
    pub evaluation_duration: Histogram,
    pub join_expired: IntCounter,
    pub pending_joins: IntGauge,
    pub join_reads: IntCounterVec,
    pub bucket_reads: IntCounterVec,
    pub buckets: IntGaugeVec,
    pub window_memory: IntGaugeVec,
    pub early_checkpoints: IntCounter,
    pub memory_budget: IntGauge,
    pub model_versions: IntGaugeVec,
    pub config_reloads: IntCounterVec,
    pub config_reload_ok: IntGauge,
    pub alerting: AlertMetrics,
    pub cluster: ClusterMetrics,
    windows: WindowGauges,
}

/// Cluster mode (`[cluster]`): ownership, the changelog, restores. Registered in
/// single mode too (at zero), so that dashboards need no second query.
#[derive(Clone)]
pub struct ClusterMetrics {
    pub owned_partitions: IntGauge,
    pub owned_models: IntGauge,
    pub changelog_records: IntCounter,
    pub changelog_bytes: IntCounter,
    pub changelog_transactions: IntCounterVec,
    pub restored_records: IntCounter,
    pub restore_seconds: Histogram,
}

impl ClusterMetrics {
    fn new(registry: &Registry) -> Result<ClusterMetrics, prometheus::Error> {
        let m = ClusterMetrics {
            owned_partitions: reg(registry, IntGauge::new(
                "driftd_cluster_owned_partitions",
                "Input partitions this instance owns (cluster mode; in single mode every assigned one).",
            )?)?,
            owned_models: reg(registry, IntGauge::new(
                "driftd_cluster_owned_models",
                "Models this instance owns and alone evaluates, alerts on and retrains (cluster mode).",
            )?)?,
            changelog_records: reg(registry, IntCounter::new(
                "driftd_changelog_records_total",
                "State changes produced to the changelog topic.",
            )?)?,
            changelog_bytes: reg(registry, IntCounter::new(
                "driftd_changelog_bytes_total",
                "Key and value bytes produced to the changelog topic.",
            )?)?,
            changelog_transactions: reg(registry, IntCounterVec::new(
                Opts::new("driftd_changelog_transactions_total", "Changelog transactions, by result (committed, aborted, fatal; not_owner: a write for a partition given up, refused)."),
                &["result"],
            )?)?,
            restored_records: reg(registry, IntCounter::new(
                "driftd_cluster_restored_records_total",
                "Changelog records read back into the store after an assignment.",
            )?)?,
            restore_seconds: reg(registry, Histogram::with_opts(
                prometheus::HistogramOpts::new(
                    "driftd_cluster_restore_duration_seconds",
                    "Time to restore the assigned partitions' state from the changelog.",
                )
                .buckets(vec![0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0]),
            )?)?,
        };
        for result in ["committed", "aborted", "fatal", "not_owner"] {
            m.changelog_transactions.with_label_values(&[result]);
        }
        Ok(m)
    }
}

/// Registers `c` and hands it back.
fn reg<T: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    c: T,
) -> Result<T, prometheus::Error> {
    registry.register(Box::new(c.clone()))?;
    Ok(c)
}

/// Rules, alerts, the outbox and retraining requests.
#[derive(Clone)]
pub struct AlertMetrics {
    /// Like Prometheus's own `ALERTS`: 1 per pending or firing alert.
    pub alerts: IntGaugeVec,
    pub transitions: IntCounterVec,
    pub rules_loaded: IntGauge,
    pub rules_reloads: IntCounterVec,
    pub rules_reload_ok: IntGauge,
    pub outbox_pending: IntGaugeVec,
    pub outbox_oldest: prometheus::Gauge,
    pub deliveries: IntCounterVec,
    pub retrain_requests: IntCounterVec,
    /// Deployment verdicts reached (each one a CloudEvent in the outbox).
    pub deployment_events: IntCounterVec,
    /// Charts of alert e-mails: drawn, or left out (over the size budget, or failed).
    pub email_charts: IntCounterVec,
}

/// Label names of `driftd_alerts`; a rule's own labels are in the API, not here, so
/// that the series keep a fixed label set.
pub(crate) const ALERT_LABELS: &[&str] = &[
    "alertname",
    "alertstate",
    "severity",
    "model",
    "version",
    "feature",
    "deployment",
    "segment",
    "window",
];

impl AlertMetrics {
    fn new(registry: &Registry) -> Result<AlertMetrics, prometheus::Error> {
        let m = AlertMetrics {
            alerts: reg(registry, IntGaugeVec::new(
                Opts::new("driftd_alerts", "1 for each pending or firing alert, as Prometheus's ALERTS series."),
                ALERT_LABELS,
            )?)?,
            transitions: reg(registry, IntCounterVec::new(
                Opts::new("driftd_alert_transitions_total", "Alert state changes, by rule and new state (pending, firing, resolved, inactive)."),
                &["alertname", "to"],
            )?)?,
            rules_loaded: reg(registry, IntGauge::new("driftd_rules_loaded", "Alert rules in force.")?)?,
            rules_reloads: reg(registry, IntCounterVec::new(
                Opts::new("driftd_rules_reloads_total", "Rule reloads (SIGHUP, POST /-/reload), by result (success, failure)."),
                &["result"],
            )?)?,
            rules_reload_ok: reg(registry, IntGauge::new(
                "driftd_rules_last_reload_successful",
                "1 when the last rule reload succeeded (or none was asked for).",
            )?)?,
            outbox_pending: reg(registry, IntGaugeVec::new(
                Opts::new("driftd_outbox_pending", "Actions written to the outbox and not yet delivered, by kind (email, kafka, webhook, alertmanager, alert_webhook)."),
                &["kind"],
            )?)?,
            outbox_oldest: reg(registry, prometheus::Gauge::new(
                "driftd_outbox_oldest_age_seconds",
                "Age of the oldest undelivered outbox entry (0 when empty).",
            )?)?,
            deliveries: reg(registry, IntCounterVec::new(
                Opts::new("driftd_outbox_deliveries_total", "Delivery attempts from the outbox, by kind and result (delivered, failed; superseded: an Alertmanager push replaced by a newer one before it was sent)."),
                &["kind", "result"],
            )?)?,
            retrain_requests: reg(registry, IntCounterVec::new(
                Opts::new("driftd_retrain_requests_total", "Retraining requests, by model, trigger and result (emitted, suppressed by the cooldown)."),
                &["model", "trigger", "result"],
            )?)?,
            deployment_events: reg(registry, IntCounterVec::new(
                Opts::new("driftd_deployment_events_total", "Deployment verdicts reached (promote, rollback), each sent as a CloudEvent to [retrain] deployments_topic, by model, deployment and verdict."),
                &["model", "deployment", "verdict"],
            )?)?,
            email_charts: reg(registry, IntCounterVec::new(
                Opts::new("driftd_email_charts_total", "Feature charts of alert e-mails, by result (attached; omitted: past the 60 kB image budget of one e-mail, or not drawn)."),
                &["result"],
            )?)?,
        };
        m.rules_reload_ok.set(1);
        for result in ["attached", "omitted"] {
            m.email_charts.with_label_values(&[result]);
        }
        for kind in crate::notify::Action::KINDS {
            m.outbox_pending.with_label_values(&[kind]).set(0);
            for result in ["delivered", "failed"] {
                m.deliveries.with_label_values(&[kind, result]);
            }
        }
        m.deliveries
            .with_label_values(&["alertmanager", "superseded"]);
        Ok(m)
    }
}

/// Gauges of the rolling windows, set every tick.
#[derive(Clone)]
struct WindowGauges {
    events: GaugeVec,
    event_rate: GaugeVec,
    staleness: GaugeVec,
    latency: GaugeVec,
    /// The exported feature statistics (`driftd_feature_*`).
    features: Arc<FeatureGauges>,
    label_coverage: GaugeVec,
    /// `[models.<name>] reference_metrics`, next to the live values.
    performance_reference: GaugeVec,
    /// The gauge of each performance metric.
    performance: Vec<(&'static PerformanceMetric, GaugeVec)>,
    /// `[[models.<m>.deployments]]`: verdict, interval and samples per metric.
    deployment_verdict: GaugeVec,
    deployment_difference: GaugeVec,
    deployment_samples: GaugeVec,
    deployment_agreement: GaugeVec,
    deployment_pairs: GaugeVec,
    /// Gaps between the segments of a binary classifier, and each segment's rates.
    fairness: GaugeVec,
    group_rate: GaugeVec,
    /// Each performance metric per value of `[labels] segment_key`.
    segment_performance: GaugeVec,
    /// The segments each (model, version, window) showed at its last evaluation, so
    /// that those gone are removed without scanning the gauges.
    segments_shown: Arc<std::sync::Mutex<SegmentsShown>>,
}

type SegmentsShown =
    std::collections::HashMap<(String, String, String), std::collections::BTreeSet<String>>;

/// The `rate` label values of `driftd_segment_rate`, in [`crate::stats::fairness::GroupRates`] order.
const SEGMENT_RATES: [&str; 5] = [
    "selection",
    "true_positive",
    "false_positive",
    "false_negative",
    "accuracy",
];

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let events = IntCounterVec::new(
            Opts::new(
                "driftd_events_total",
                "Prediction records accepted into state, per model and version (restored from the store at start).",
            ),
            &["model", "version"],
        )?;
        let labels = IntCounterVec::new(
            Opts::new(
                "driftd_labels_total",
                "Ground-truth label records accepted into state, per model.",
            ),
            &["model"],
        )?;
        let decode_errors = IntCounterVec::new(
            Opts::new(
                "driftd_decode_errors_total",
                "Records that failed to decode, by reason; each went to the dead-letter topic.",
            ),
            &["reason"],
        )?;
        let dead_letters = IntCounter::new(
            "driftd_dead_letter_records_total",
            "Records produced to the dead-letter topic.",
        )?;
        let consumer_lag = IntGaugeVec::new(
            Opts::new(
                "driftd_consumer_lag_messages",
                "Messages between the consumer's position and the partition's high watermark.",
            ),
            &["topic", "partition"],
        )?;
        let assigned_partitions = IntGauge::new(
            "driftd_assigned_partitions",
            "Partitions currently assigned to this daemon.",
        )?;
        let checkpoint_duration = Histogram::with_opts(
            HistogramOpts::new(
                "driftd_checkpoint_duration_seconds",
                "Time to write and flush one checkpoint (state + offsets) to the store.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
        )?;
        let checkpoint_failures = IntCounter::new(
            "driftd_checkpoint_failures_total",
            "Checkpoints that could not be completed (dead-letter delivery or store write).",
        )?;
        let last_checkpoint = IntGauge::new(
            "driftd_last_checkpoint_timestamp_seconds",
            "Unix time of the last successful checkpoint.",
        )?;
        let store_size = IntGauge::new(
            "driftd_store_size_bytes",
            "Size of the store (state.redb) on disk.",
        )?;
        let late_events = IntCounterVec::new(
            Opts::new(
                "driftd_late_events_total",
                "Labels whose prediction is older than every bucket tier's retention: \
                 counted, in no window. (Such predictions are dead-lettered: too_late.)",
            ),
            &["model"],
        )?;
        registry.register(Box::new(late_events.clone()))?;
        let evaluation_duration = Histogram::with_opts(
            HistogramOpts::new(
                "driftd_evaluation_duration_seconds",
                "Time to evaluate every window of every model version in one tick.",
            )
            .buckets(vec![0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
        )?;
        registry.register(Box::new(evaluation_duration.clone()))?;
        let join_expired = IntCounter::new(
            "driftd_label_join_expired_total",
            "Predictions or labels dropped unjoined after the label TTL.",
        )?;
        registry.register(Box::new(join_expired.clone()))?;
        let pending_joins = IntGauge::new(
            "driftd_label_join_pending",
            "Predictions waiting for labels plus labels waiting for predictions.",
        )?;
        registry.register(Box::new(pending_joins.clone()))?;
        let join_reads = IntCounterVec::new(
            Opts::new(
                "driftd_label_join_reads_total",
                "Join entries looked up when a prediction or label arrived, by where they \
                 were found: memory (changed since the last checkpoint) or store (redb, \
                 through its page cache).",
            ),
            &["from"],
        )?;
        registry.register(Box::new(join_reads.clone()))?;
        for from in ["memory", "store"] {
            join_reads.with_label_values(&[from]);
        }
        let bucket_reads = IntCounterVec::new(
            Opts::new(
                "driftd_bucket_reads_total",
                "Window buckets needed to write, fold or evaluate, by where they were found: \
                 memory (being written) or store (redb, through its page cache).",
            ),
            &["from"],
        )?;
        registry.register(Box::new(bucket_reads.clone()))?;
        for from in ["memory", "store"] {
            bucket_reads.with_label_values(&[from]);
        }
        let buckets = IntGaugeVec::new(
            Opts::new(
                "driftd_buckets",
                "Window buckets: all of them (store) and those held in memory (memory).",
            ),
            &["in"],
        )?;
        registry.register(Box::new(buckets.clone()))?;
        let window_memory = IntGaugeVec::new(
            Opts::new(
                "driftd_window_memory_bytes",
                "Estimated memory of the windows: buckets held in memory (buckets) and the \
                 running window sums (sums); each has its share of [storage] memory_budget.",
            ),
            &["part"],
        )?;
        registry.register(Box::new(window_memory.clone()))?;
        let early_checkpoints = IntCounter::new(
            "driftd_early_checkpoints_total",
            "Checkpoints taken before checkpoint_interval because the label join's changes \
             held in memory reached their cap (100,000 entries) or the buckets in memory \
             their share of the memory budget.",
        )?;
        registry.register(Box::new(early_checkpoints.clone()))?;
        let memory_budget = IntGauge::new(
            "driftd_memory_budget_bytes",
            "[storage] memory_budget: what the state may hold in memory; the store's page cache \
             is its share of it (docs/resources.md).",
        )?;
        registry.register(Box::new(memory_budget.clone()))?;
        let model_versions = IntGaugeVec::new(
            Opts::new(
                "driftd_model_versions",
                "Versions of the model with data in any window tier; predictions of further \
                 versions beyond [limits] max_versions are dead-lettered (too_many_versions).",
            ),
            &["model"],
        )?;
        registry.register(Box::new(model_versions.clone()))?;
        let config_reloads = IntCounterVec::new(
            Opts::new(
                "driftd_config_reloads_total",
                "Configuration reloads on SIGHUP, by result (success, failure).",
            ),
            &["result"],
        )?;
        registry.register(Box::new(config_reloads.clone()))?;
        let config_reload_ok = IntGauge::new(
            "driftd_config_last_reload_successful",
            "1 when the last configuration reload succeeded (or none was asked for).",
        )?;
        config_reload_ok.set(1);
        registry.register(Box::new(config_reload_ok.clone()))?;
        let alerting = AlertMetrics::new(&registry)?;
        let cluster = ClusterMetrics::new(&registry)?;
        let window_labels = &["model", "version", "window"];
        let gauge =
            |name: &str, help: &str, labels: &[&str]| -> Result<GaugeVec, prometheus::Error> {
                let g = GaugeVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(g.clone()))?;
                Ok(g)
            };
        let windows = WindowGauges {
            events: gauge(
                "driftd_window_events",
                "Prediction events in the window.",
                window_labels,
            )?,
            event_rate: gauge(
                "driftd_window_events_per_second",
                "Prediction events per second over the window.",
                window_labels,
            )?,
            staleness: gauge(
                "driftd_staleness_seconds",
                "Seconds since the newest event of the model version.",
                &["model", "version"],
            )?,
            latency: gauge(
                "driftd_latency_seconds",
                "Prediction latency percentiles over the window (1 % relative error). The label is \
                 `percentile` (50, 90, 99), not `quantile`, which Prometheus reserves for summaries.",
                &["model", "version", "window", "percentile"],
            )?,
            features: Arc::new(FeatureGauges::default()),
            label_coverage: gauge(
                "driftd_label_coverage_ratio",
                "Share of the window's predictions whose labels have arrived.",
                window_labels,
            )?,
            performance_reference: gauge(
                "driftd_performance_reference",
                "Configured reference value of a metric ([models.<name>] reference_metrics), e.g. the validation accuracy.",
                &["model", "metric"],
            )?,
            performance: PERFORMANCE_METRICS
                .iter()
                .map(|m| {
                    gauge(&format!("driftd_performance_{}", m.name), m.help, window_labels)
                        .map(|g| (m, g))
                })
                .collect::<Result<_, _>>()?,
            deployment_verdict: gauge(
                "driftd_deployment_verdict",
                "A deployment's verdict per deciding metric (and metric=\"all\"): 1 promote, 0 continue, -1 rollback.",
                &["model", "deployment", "metric"],
            )?,
            deployment_difference: gauge(
                "driftd_deployment_difference",
                "Candidate minus baseline of a deciding metric over the deployment's window, and its always-valid interval (bound: low, estimate, high).",
                &["model", "deployment", "metric", "bound"],
            )?,
            deployment_samples: gauge(
                "driftd_deployment_samples",
                "Labelled outcomes behind a deployment's metric, per arm (baseline, candidate).",
                &["model", "deployment", "metric", "arm"],
            )?,
            deployment_agreement: gauge(
                "driftd_deployment_agreement",
                "A shadow deployment's share of requests where shadow and live decided the same class, over its window, and its 95 % interval (bound: low, estimate, high).",
                &["model", "deployment", "bound"],
            )?,
            deployment_pairs: gauge(
                "driftd_deployment_pairs",
                "A shadow deployment's (live, shadow) prediction pairs over its window, by kind: pairs, labelled, live_only_right, shadow_only_right, both_right.",
                &["model", "deployment", "kind"],
            )?,
            fairness: gauge(
                "driftd_fairness",
                "A gap between the segments ([labels] segment_key) of a binary classifier over the window (metric: demographic_parity_difference, demographic_parity_ratio, equal_opportunity_difference, equalized_odds_difference), and its simultaneous interval (bound: low, estimate, high).",
                &["model", "version", "window", "metric", "bound"],
            )?,
            segment_performance: gauge(
                "driftd_segment_performance",
                "A performance metric (the driftd_performance_* names) of the labelled predictions of one value of [labels] segment_key over the window; at most [labels] max_segments segments.",
                &["model", "version", "window", "segment", "metric"],
            )?,
            segments_shown: Default::default(),
            group_rate: gauge(
                "driftd_segment_rate",
                "A segment's rates among its labelled predictions over the window (rate: selection, true_positive, false_positive, false_negative, accuracy); at most [labels] max_segments segments.",
                &["model", "version", "window", "segment", "rate"],
            )?,
        };
        for reason in DecodeReason::ALL {
            // Present from the start, so rate() works before the first error.
            decode_errors.with_label_values(&[reason.as_str()]);
        }
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(labels.clone()))?;
        registry.register(Box::new(decode_errors.clone()))?;
        registry.register(Box::new(dead_letters.clone()))?;
        registry.register(Box::new(consumer_lag.clone()))?;
        registry.register(Box::new(assigned_partitions.clone()))?;
        registry.register(Box::new(checkpoint_duration.clone()))?;
        registry.register(Box::new(checkpoint_failures.clone()))?;
        registry.register(Box::new(last_checkpoint.clone()))?;
        registry.register(Box::new(store_size.clone()))?;
        let build_info = IntGaugeVec::new(
            Opts::new(
                "driftd_build_info",
                "Always 1; labelled with the driftd version.",
            ),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        registry.register(Box::new(build_info))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(Metrics {
            cluster,
            registry,
            events,
            labels,
            decode_errors,
            dead_letters,
            consumer_lag,
            assigned_partitions,
            checkpoint_duration,
            checkpoint_failures,
            last_checkpoint,
            store_size,
            late_events,
            evaluation_duration,
            join_expired,
            pending_joins,
            join_reads,
            bucket_reads,
            buckets,
            window_memory,
            early_checkpoints,
            memory_budget,
            model_versions,
            config_reloads,
            config_reload_ok,
            alerting,
            windows,
        })
    }

    /// Publishes the configured reference values (every tick: a reload may change them).
    pub(crate) fn record_reference_metrics(
        &self,
        models: &std::collections::BTreeMap<String, crate::config::ModelConfig>,
    ) {
        let g = &self.windows.performance_reference;
        g.reset();
        for (model, m) in models {
            for (metric, value) in &m.reference_metrics {
                g.with_label_values(&[model, metric]).set(*value);
            }
        }
    }

    /// Replaces the deployment gauges with this tick's verdicts.
    pub(crate) fn record_deployments(
        &self,
        reports: &[(String, crate::evaluate::deployment::DeploymentReport)],
    ) {
        let g = &self.windows;
        g.deployment_verdict.reset();
        g.deployment_difference.reset();
        g.deployment_samples.reset();
        g.deployment_agreement.reset();
        g.deployment_pairs.reset();
        let score = crate::evaluate::deployment::verdict_score;
        for (model, r) in reports {
            let d = r.deployment.as_str();
            g.deployment_verdict
                .with_label_values(&[model, d, "all"])
                .set(score(r.verdict));
            for m in &r.metrics {
                g.deployment_verdict
                    .with_label_values(&[model, d, m.metric])
                    .set(score(m.verdict));
                for (bound, v) in [("low", m.low), ("estimate", m.difference), ("high", m.high)] {
                    if let Some(v) = v {
                        g.deployment_difference
                            .with_label_values(&[model, d, m.metric, bound])
                            .set(v);
                    }
                }
                for (arm, n) in [
                    ("baseline", m.baseline.samples),
                    ("candidate", m.candidate.samples),
                ] {
                    g.deployment_samples
                        .with_label_values(&[model, d, m.metric, arm])
                        .set(n as f64);
                }
            }
            if let Some(s) = &r.shadow {
                let bounds = [
                    ("low", s.agreement_low),
                    ("estimate", s.agreement),
                    ("high", s.agreement_high),
                ];
                for (bound, v) in bounds {
                    if let Some(v) = v {
                        g.deployment_agreement
                            .with_label_values(&[model, d, bound])
                            .set(v);
                    }
                }
                let kinds = [
                    ("pairs", s.pairs),
                    ("labelled", s.labelled),
                    ("live_only_right", s.live_only_right),
                    ("shadow_only_right", s.shadow_only_right),
                    ("both_right", s.both_right),
                ];
                for (kind, n) in kinds {
                    g.deployment_pairs
                        .with_label_values(&[model, d, kind])
                        .set(n as f64);
                }
            }
        }
    }

    /// Sets the gauges of one evaluated window of one model version; statistics that
    /// are undefined (no data) are removed rather than left stale.
    pub(crate) fn record_window(&self, w: &crate::evaluate::WindowReport) {
        let version = w.version.as_deref().unwrap_or("");
        let g = &self.windows;
        let labels = [w.model.as_str(), version, w.window.as_str()];
        g.events.with_label_values(&labels).set(w.events as f64);
        g.event_rate.with_label_values(&labels).set(w.event_rate);
        set_or_remove(&g.staleness, &[&w.model, version], w.staleness_seconds);
        set_or_remove(&g.label_coverage, &labels, w.label_coverage);
        for (metric, gauge) in &g.performance {
            set_or_remove(gauge, &labels, (metric.value)(&w.performance));
        }
        for (q, v) in [
            ("50", w.latency_ms.p50),
            ("90", w.latency_ms.p90),
            ("99", w.latency_ms.p99),
        ] {
            set_or_remove(
                &g.latency,
                &[&w.model, version, &w.window, q],
                v.map(|ms| ms / 1000.0),
            );
        }
        g.features.record(w, version);
        self.record_segments(w, version);
    }

    /// Performance per segment, and fairness across segments.
    fn record_segments(&self, w: &crate::evaluate::WindowReport, version: &str) {
        let g = &self.windows;
        let at = |segment: &str, name: &str| {
            [w.model.as_str(), version, w.window.as_str(), segment, name].map(str::to_string)
        };
        let remove = |gauge: &GaugeVec, labels: [String; 5]| {
            let labels = labels.each_ref().map(String::as_str);
            let _ = gauge.remove_label_values(&labels);
        };
        // Segments that left the window (or the cap) leave the gauges: the ones this
        // window showed last time, remembered, not found by scanning every series.
        let now: std::collections::BTreeSet<String> =
            w.performance_by_segment.keys().cloned().collect();
        let gone: Vec<String> = {
            let key = (w.model.clone(), version.to_string(), w.window.clone());
            let mut shown = crate::base::sync::lock(&g.segments_shown);
            let before = shown.insert(key, now.clone()).unwrap_or_default();
            before.difference(&now).cloned().collect()
        };
        for segment in &gone {
            for m in PERFORMANCE_METRICS {
                remove(&g.segment_performance, at(segment, m.name));
            }
            for rate in SEGMENT_RATES {
                remove(&g.group_rate, at(segment, rate));
            }
        }
        for (segment, p) in &w.performance_by_segment {
            for (metric, v) in p.named() {
                set_or_remove(
                    &g.segment_performance,
                    &[&w.model, version, &w.window, segment, metric],
                    v,
                );
            }
        }
        let fairness = w.fairness.as_ref();
        for (metric, gap) in crate::stats::fairness::FAIRNESS_METRICS {
            let gap = fairness.and_then(gap);
            for (bound, v) in [
                ("low", gap.map(|g| g.low)),
                ("estimate", gap.map(|g| g.value)),
                ("high", gap.map(|g| g.high)),
            ] {
                set_or_remove(
                    &g.fairness,
                    &[&w.model, version, &w.window, metric, bound],
                    v,
                );
            }
        }
        for segment in &now {
            let rates = fairness
                .and_then(|f| f.groups.iter().find(|s| &s.group == segment))
                .map(|s| {
                    [
                        s.selection_rate,
                        s.true_positive_rate,
                        s.false_positive_rate,
                        s.false_negative_rate,
                        s.accuracy,
                    ]
                })
                .unwrap_or_default();
            for (rate, v) in SEGMENT_RATES.iter().zip(rates) {
                set_or_remove(
                    &g.group_rate,
                    &[&w.model, version, &w.window, segment, rate],
                    v,
                );
            }
        }
    }

    /// Removes the window gauges of every model not in `keep` (cluster mode: the models
    /// another instance owns now report from there, never from two places).
    pub(crate) fn forget_models_except(&self, keep: &std::collections::BTreeSet<String>) {
        let g = &self.windows;
        let vecs = [
            &g.events,
            &g.event_rate,
            &g.staleness,
            &g.latency,
            &g.label_coverage,
            &g.fairness,
            &g.group_rate,
            &g.segment_performance,
        ];
        for gauge in vecs.into_iter().chain(g.performance.iter().map(|(_, g)| g)) {
            retain_models(gauge, keep);
        }
        crate::base::sync::lock(&g.features.latest).retain(|(model, _, _), _| keep.contains(model));
        crate::base::sync::lock(&g.segments_shown).retain(|(model, _, _), _| keep.contains(model));
    }

    /// Starts the per-model counters at the values restored from the store, so that
    /// `driftd_events_total` equals the persisted state across restarts.
    pub(crate) fn restore(&self, state: &crate::state::IngestState) {
        for ((model, version), n) in state.events() {
            self.events.with_label_values(&[model, version]).inc_by(*n);
        }
        for (model, n) in state.labels() {
            self.labels.with_label_values(&[model]).inc_by(*n);
        }
    }

    /// The text exposition format.
    pub(crate) fn render(&self) -> String {
        let mut buf = Vec::new();
        let families = self.registry.gather();
        if let Err(e) = TextEncoder::new().encode(&families, &mut buf) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        let mut text = String::from_utf8(buf).unwrap_or_default();
        self.windows.features.render(&mut text);
        text
    }
}

/// Removes the series of `g` whose `model` label is not in `keep`.
fn retain_models(g: &GaugeVec, keep: &std::collections::BTreeSet<String>) {
    retain(g, |labels| {
        labels
            .get("model")
            .is_none_or(|model| keep.contains(*model))
    });
}

/// Removes the series of `g` whose labels `keep` refuses.
fn retain(g: &GaugeVec, keep: impl Fn(&std::collections::HashMap<&str, &str>) -> bool) {
    use prometheus::core::Collector;
    for family in g.collect() {
        for m in family.get_metric() {
            let labels: std::collections::HashMap<&str, &str> = m
                .get_label()
                .iter()
                .map(|l| (l.name(), l.value()))
                .collect();
            if !keep(&labels) {
                let _ = g.remove(&labels);
            }
        }
    }
}

fn set_or_remove(g: &GaugeVec, labels: &[&str], v: Option<f64>) {
    match v {
        Some(v) if v.is_finite() => g.with_label_values(labels).set(v),
        _ => {
            let _ = g.remove_label_values(labels);
        }
    }
}

/// The per-feature statistics of each (model, version, window)'s last evaluation,
/// kept as plain numbers and written out at each scrape in the text format — not one
/// registry series each: a fleet has hundreds of thousands of them (100 models × 3
/// versions × 3 windows × 26 features × 9 statistics: 135 MB in a `Registry`, and as
/// much again for every scrape's `gather`; as numbers, ~2 MB). The output is what the
/// registry would write: labels in name order, one family per statistic.
#[derive(Default)]
struct FeatureGauges {
    /// (model, version, window) → per feature: its name and each gauge statistic's value.
    latest: std::sync::Mutex<BTreeMap<(String, String, String), Vec<FeatureValues>>>,
}

/// One feature's name and the value of each gauge statistic, in [`feature_gauges`] order.
type FeatureValues = (String, Vec<Option<f64>>);

fn feature_gauges() -> impl Iterator<Item = (&'static FeatureStatistic, &'static str)> {
    FEATURE_STATISTICS
        .iter()
        .filter_map(|s| s.gauge.map(|name| (s, name)))
}

impl FeatureGauges {
    fn record(&self, w: &crate::evaluate::WindowReport, version: &str) {
        let features = w
            .drift
            .features
            .iter()
            .map(|f| {
                let measured = f.status == "ok";
                let values = feature_gauges()
                    .map(|(stat, _)| {
                        (stat.value)(f)
                            .filter(|v| v.is_finite() && (measured || !stat.gauge_needs_values))
                    })
                    .collect();
                (f.name.clone(), values)
            })
            .collect();
        let key = (w.model.clone(), version.to_string(), w.window.clone());
        crate::base::sync::lock(&self.latest).insert(key, features);
    }

    fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let latest = crate::base::sync::lock(&self.latest);
        for (i, (stat, name)) in feature_gauges().enumerate() {
            let mut header = false;
            for ((model, version, window), features) in latest.iter() {
                for (feature, values) in features {
                    let Some(v) = values.get(i).copied().flatten() else {
                        continue;
                    };
                    if !header {
                        header = true;
                        let help = stat.help.replace('\\', "\\\\").replace('\n', "\\n");
                        let _ = write!(
                            out,
                            "# HELP driftd_feature_{name} {help}\n# TYPE driftd_feature_{name} gauge\n"
                        );
                    }
                    let _ = writeln!(
                        out,
                        "driftd_feature_{name}{{feature=\"{}\",model=\"{}\",version=\"{}\",window=\"{}\"}} {v}",
                        escape(feature),
                        escape(model),
                        escape(version),
                        escape(window)
                    );
                }
            }
        }
    }
}

/// A label value in the text format: backslash, double quote and newline escaped.
fn escape(v: &str) -> std::borrow::Cow<'_, str> {
    if v.contains(['\\', '"', '\n']) {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
            .into()
    } else {
        v.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The feature table's text is what a registry of gauges with the same values
    /// writes, line for line.
    #[test]
    fn feature_gauges_render_as_the_registry_would() {
        let registry = Registry::new();
        let gauges: Vec<GaugeVec> = feature_gauges()
            .map(|(stat, name)| {
                let g = GaugeVec::new(
                    Opts::new(format!("driftd_feature_{name}"), stat.help),
                    &["model", "version", "window", "feature"],
                )
                .unwrap();
                registry.register(Box::new(g.clone())).unwrap();
                g
            })
            .collect();
        let table = FeatureGauges::default();
        let mut latest = BTreeMap::new();
        for (model, feature) in [("churn", "age"), ("a\"b\\c", "x\ny")] {
            let values: Vec<Option<f64>> = (0..gauges.len())
                .map(|i| (i % 3 != 1).then_some(i as f64 * 0.125 + 1e-7))
                .collect();
            for (g, v) in gauges.iter().zip(&values) {
                if let Some(v) = v {
                    g.with_label_values(&[model, "v1", "5m", feature]).set(*v);
                }
            }
            latest.insert(
                (model.to_string(), "v1".to_string(), "5m".to_string()),
                vec![(feature.to_string(), values)],
            );
        }
        *table.latest.lock().unwrap() = latest;
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&registry.gather(), &mut buf)
            .unwrap();
        let mut ours = String::new();
        table.render(&mut ours);
        let lines = |s: &str| {
            let mut v: Vec<String> = s.lines().map(str::to_string).collect();
            v.sort();
            v
        };
        assert_eq!(lines(&ours), lines(&String::from_utf8(buf).unwrap()));
    }
}
