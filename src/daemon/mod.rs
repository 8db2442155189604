//! Wiring: open the store, start HTTP, run the consumer thread, and shut down in order
//! on SIGINT/SIGTERM (stop consuming → final checkpoint → commit → stop HTTP → exit 0).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::alerting::{Alerting, AlertingError};
use crate::config::{Config, LiveConfig};
use crate::evaluate::{plan, window_report, WindowSource};
use crate::http;
use crate::base::sync::lock;
use crate::base::time::unix_now_ms;
use crate::ingest::Ingest;
use crate::kafka::{self, ConsumeError, KafkaDeadLetter, Readiness};
use crate::metrics::Metrics;
use crate::outbox::{OutboxError, OutboxSender};
use crate::rules::SampleSet;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("cannot listen on {bind}: {source}")]
    Bind {
        bind: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Consume(#[from] ConsumeError),
    #[error("consumer thread panicked")]
    Panicked,
    #[error("the configuration has no [[source]] table: nothing to consume")]
    NoSources,
    #[error(transparent)]
    Alerting(#[from] AlertingError),
    #[error("outbox: {0}")]
    Outbox(#[from] OutboxError),
    #[error("{0}")]
    Secret(String),
}

/// Re-reads the configuration file and the rule files (SIGHUP and `POST /-/reload`).
/// A file that does not validate keeps what is running; the error is returned, logged
/// and counted.
pub struct Reloader {
    path: std::path::PathBuf,
    live: LiveConfig,
    metrics: Metrics,
    alerting: Arc<Mutex<Alerting>>,
}

impl Reloader {
    pub fn reload(&self) -> Result<String, String> {
        let config = match Config::load(&self.path) {
            Ok(new) => {
                let restart = self.live.get().restart_only_changes(&new);
                if !restart.is_empty() {
                    tracing::warn!(sections = ?restart, "changed, but applied only after a restart");
                }
                self.live.replace(new);
                // The gauge before the counter, so that they agree once the reload is done; a
                // scrape running meanwhile may still read one old and one new (families
                // are gathered one by one).
                self.metrics.config_reload_ok.set(1);
                self.metrics
                    .config_reloads
                    .with_label_values(&["success"])
                    .inc();
                tracing::info!(path = %self.path.display(), "configuration reloaded");
                self.live.get()
            }
            Err(e) => {
                self.metrics.config_reload_ok.set(0);
                self.metrics
                    .config_reloads
                    .with_label_values(&["failure"])
                    .inc();
                tracing::error!(error = %e, "configuration reload failed; keeping the running one");
                return Err(e.to_string());
            }
        };
        let n = lock(&self.alerting)
            .reload_rules(&config)
            .map_err(|e| e.to_string())?;
        Ok(format!("configuration and {n} rules reloaded"))
    }
}

/// Runs the daemon until a signal or a fatal error. `path` is re-read on SIGHUP.
pub async fn run(config: Config, path: std::path::PathBuf) -> Result<(), DaemonError> {
    if config.sources.is_empty() {
        return Err(DaemonError::NoSources);
    }
    // Installed before anything can report the daemon up: until a handler exists, a
    // SIGHUP terminates the process (its default action).
    let hangups = Hangups::listen();
    let metrics = Metrics::new()?;
    let store = Store::open(&config.storage.path)?;
    let wake = Arc::new(tokio::sync::Notify::new());
    let alerting = Arc::new(Mutex::new(Alerting::new(
        &config,
        store.clone(),
        metrics.clone(),
        wake.clone(),
    )?));
    let outbox = OutboxSender::new(&config, store.clone(), metrics.clone(), wake)?;
    let token = config
        .http
        .token
        .as_ref()
        .map(|t| t.read("http.token"))
        .transpose()
        .map_err(DaemonError::Secret)?;
    let sink = KafkaDeadLetter::new(&config, metrics.clone())?;
    let ingest = Ingest::new(&config, store, metrics.clone(), sink)?;
    let restored: u64 = ingest.state().events().values().sum();
    tracing::info!(
        store = %config.storage.path.display(),
        restored_events = restored,
        partitions_known = ingest.state().offsets().len(),
        "state restored"
    );
    tracing::info!(
        profiles = ingest.profiles().len(),
        "reference profiles loaded"
    );
    let ingest = Arc::new(Mutex::new(ingest));
    let readiness = Arc::new(Readiness::default());
    let shutdown = Arc::new(AtomicBool::new(false));
    let live = LiveConfig::new(config.clone());
    let windows: Arc<dyn WindowSource> = ingest.clone();

    let ticker = tokio::spawn(evaluate_every_tick(
        windows.clone(),
        live.clone(),
        metrics.clone(),
        alerting.clone(),
    ));
    let reload = Arc::new(Reloader {
        path,
        live: live.clone(),
        metrics: metrics.clone(),
        alerting: alerting.clone(),
    });
    let reloader = tokio::spawn(reload_on_sighup(hangups, reload.clone()));
    let (stop_outbox, outbox_stopped) = tokio::sync::watch::channel(false);
    let outbox = tokio::spawn(outbox.run(outbox_stopped));
    let (stop_http, mut http_stopped) = tokio::sync::watch::channel(false);
    let api = http::Api {
        metrics: metrics.clone(),
        readiness: readiness.clone(),
        windows,
        config: live,
        alerting,
        reload: Arc::new(move || reload.reload()),
        token,
    };
    let http = http::serve(config.http.bind, http::router(api), async move {
        let _ = http_stopped.changed().await;
    })
    .await
    .map_err(|source| DaemonError::Bind {
        bind: config.http.bind,
        source,
    })?;

    let mut consumer = {
        let shutdown = shutdown.clone();
        tokio::task::spawn_blocking(move || {
            kafka::consume(&config, ingest, metrics, readiness, shutdown)
        })
    };

    let result = tokio::select! {
        signal = shutdown_signal() => {
            tracing::info!(signal, "stopping: draining the consumer");
            shutdown.store(true, Ordering::SeqCst);
            consumer.await
        }
        finished = &mut consumer => finished,
    };
    ticker.abort();
    reloader.abort();
    // Let a delivery in progress finish; what is left stays in the outbox.
    let _ = stop_outbox.send(true);
    if tokio::time::timeout(std::time::Duration::from_secs(15), outbox)
        .await
        .is_err()
    {
        tracing::warn!("outbox delivery still running at shutdown; it resumes at the next start");
    }
    let _ = stop_http.send(true);
    let _ = http.await;
    match result {
        Ok(Ok(())) => {
            tracing::info!("stopped cleanly");
            Ok(())
        }
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(DaemonError::Panicked),
    }
}

/// Every tick: fold aged buckets, then evaluate every window of every model version
/// and publish the statistics as gauges. Runs on the blocking pool: KS p-values for
/// large windows take milliseconds each.
async fn evaluate_every_tick(
    windows: Arc<dyn WindowSource>,
    live: LiveConfig,
    metrics: Metrics,
    alerting: Arc<Mutex<Alerting>>,
) {
    let mut interval = tokio::time::interval(live.get().windows.tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        // The configuration in force at this tick (SIGHUP may have replaced it).
        let (windows, config, metrics, alerting) = (
            windows.clone(),
            live.get(),
            metrics.clone(),
            alerting.clone(),
        );
        let done = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let now = unix_now_ms();
            windows.compact(now);
            let profiles = windows.profiles();
            let settings = config.evaluation_settings();
            let mut samples = SampleSet::default();
            let merged = lock(&alerting).merged_windows();
            let no_reference = Default::default();
            let series = windows.series();
            let evaluations = plan(&series, &profiles, &config.windows.windows, &merged);
            for e in &evaluations {
                let reference_metrics = config
                    .models
                    .get(e.model)
                    .map(|m| &m.reference_metrics)
                    .unwrap_or(&no_reference);
                let rolling = config
                    .rolling_reference(e.model)
                    .map(|d| d.as_millis() as i64);
                let buckets = windows.window(e.model, e.version, e.window_ms, rolling, now);
                let report = window_report(
                    &buckets,
                    &profiles,
                    e.model,
                    e.version,
                    (e.window, e.window_ms),
                    now,
                    &settings,
                );
                if e.version.is_some() {
                    metrics.record_window(&report);
                }
                samples.add_report(&report, reference_metrics);
                if e.also_merged {
                    let mut all_versions = report;
                    all_versions.version = None;
                    samples.add_report(&all_versions, reference_metrics);
                }
            }
            let evaluated = evaluations.len();
            metrics.record_reference_metrics(&config.models);
            if let Err(e) = lock(&alerting).evaluate(&samples, &config, now) {
                tracing::error!(error = %e, "alert state could not be stored; retrying at the next tick");
            }
            metrics
                .evaluation_duration
                .observe(started.elapsed().as_secs_f64());
            tracing::debug!(evaluated, elapsed = ?started.elapsed(), "windows evaluated");
        })
        .await;
        if let Err(e) = done {
            tracing::error!(error = %e, "window evaluation failed");
        }
    }
}

/// The SIGHUP listener, or nothing where there are no such signals.
struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangups {
    fn listen() -> Hangups {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let signal = signal(SignalKind::hangup())
                .map_err(|e| {
                    tracing::warn!(error = %e, "cannot listen for SIGHUP; configuration reload disabled")
                })
                .ok();
            Hangups { signal }
        }
        #[cfg(not(unix))]
        Hangups {}
    }
}

/// SIGHUP re-reads the configuration and the rule files ([`Reloader`]).
async fn reload_on_sighup(hangups: Hangups, reloader: Arc<Reloader>) {
    #[cfg(unix)]
    if let Some(mut hup) = hangups.signal {
        while hup.recv().await.is_some() {
            let r = reloader.clone();
            let _ = tokio::task::spawn_blocking(move || r.reload()).await;
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (hangups, reloader);
    }
}

/// Resolves on SIGINT or SIGTERM with the signal's name.
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
