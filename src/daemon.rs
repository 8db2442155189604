//! Wiring: open the store, start HTTP, run the consumer thread, and shut down in order
//! on SIGINT/SIGTERM (stop consuming → final checkpoint → commit → stop HTTP → exit 0).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::{Config, LiveConfig};
use crate::evaluate::{window_report, EvaluationSettings, WindowSource};
use crate::http::{self, Readiness};
use crate::ingest::unix_now_ms;
use crate::ingest::Ingest;
use crate::kafka::{self, ConsumeError, KafkaDeadLetter};
use crate::metrics::Metrics;
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
}

/// Runs the daemon until a signal or a fatal error.
/// Runs the daemon until a signal or a fatal error. `path` is re-read on SIGHUP.
pub async fn run(config: Config, path: std::path::PathBuf) -> Result<(), DaemonError> {
    if config.sources.is_empty() {
        return Err(DaemonError::NoSources);
    }
    let metrics = Metrics::new()?;
    let store = Store::open(&config.storage.path)?;
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
    ));
    let reloader = tokio::spawn(reload_on_sighup(path, live.clone(), metrics.clone()));
    let (stop_http, mut http_stopped) = tokio::sync::watch::channel(false);
    let http = http::serve(
        config.http.bind,
        http::router(metrics.clone(), readiness.clone(), windows, live),
        async move {
            let _ = http_stopped.changed().await;
        },
    )
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
async fn evaluate_every_tick(windows: Arc<dyn WindowSource>, live: LiveConfig, metrics: Metrics) {
    let mut interval = tokio::time::interval(live.get().windows.tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        // The configuration in force at this tick (SIGHUP may have replaced it).
        let (windows, config, metrics) = (windows.clone(), live.get(), metrics.clone());
        let done = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let now = unix_now_ms();
            windows.compact(now);
            let profiles = windows.profiles();
            let settings = EvaluationSettings {
                profile: &config.profile,
                report: &config.report,
            };
            let mut evaluated = 0;
            for (model, version) in windows.series() {
                for (name, dur) in &config.windows.windows {
                    let ms = dur.as_millis() as i64;
                    let rolling = config
                        .rolling_reference(&model)
                        .map(|d| d.as_millis() as i64);
                    let buckets = windows.window(&model, Some(&version), ms, rolling, now);
                    let report = window_report(
                        &buckets,
                        &profiles,
                        &model,
                        Some(&version),
                        (name, ms),
                        now,
                        &settings,
                    );
                    metrics.record_window(&report);
                    evaluated += 1;
                }
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

/// SIGHUP re-reads the configuration file. A file that does not validate keeps the
/// running configuration (logged, `driftd_config_last_reload_successful` 0); sections
/// that only a restart applies are reported as such.
async fn reload_on_sighup(path: std::path::PathBuf, live: LiveConfig, metrics: Metrics) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; configuration reload disabled");
            return;
        };
        while hup.recv().await.is_some() {
            match Config::load(&path) {
                Ok(new) => {
                    let restart = live.get().restart_only_changes(&new);
                    if !restart.is_empty() {
                        tracing::warn!(sections = ?restart, "changed, but applied only after a restart");
                    }
                    live.replace(new);
                    metrics.config_reloads.with_label_values(&["success"]).inc();
                    metrics.config_reload_ok.set(1);
                    tracing::info!(path = %path.display(), "configuration reloaded");
                }
                Err(e) => {
                    metrics.config_reloads.with_label_values(&["failure"]).inc();
                    metrics.config_reload_ok.set(0);
                    tracing::error!(error = %e, "configuration reload failed; keeping the running one");
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, live, metrics);
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
