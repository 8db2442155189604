//! Every Prometheus metric name and label in one place.
//!
//! Naming follows Prometheus practice: `driftd_` prefix, base units in the name
//! (`_seconds`, `_bytes`), `_total` for counters. Label values are bounded: models and
//! versions come from the data, so their number is documented as the cardinality limit;
//! decode reasons are a fixed set.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::event::DecodeReason;

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
}

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
        let store_size =
            IntGauge::new("driftd_store_size_bytes", "Size of the sled store on disk.")?;
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
        })
    }

    /// Starts the per-model counters at the values restored from the store, so that
    /// `driftd_events_total` equals the persisted state across restarts.
    pub fn restore(&self, state: &crate::state::IngestState) {
        for ((model, version), n) in state.events() {
            self.events.with_label_values(&[model, version]).inc_by(*n);
        }
        for (model, n) in state.labels() {
            self.labels.with_label_values(&[model]).inc_by(*n);
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let families = self.registry.gather();
        if let Err(e) = TextEncoder::new().encode(&families, &mut buf) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
