//! Wiring: open the store, start HTTP, run the consumer thread, and shut down in order
//! on SIGINT/SIGTERM (stop consuming → final checkpoint → commit → stop HTTP → exit 0).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::config::Config;
use crate::http::{self, Readiness};
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
}

/// Runs the daemon until a signal or a fatal error.
pub async fn run(config: Config) -> Result<(), DaemonError> {
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
    let ingest = Arc::new(Mutex::new(ingest));
    let readiness = Arc::new(Readiness::default());
    let shutdown = Arc::new(AtomicBool::new(false));

    let (stop_http, mut http_stopped) = tokio::sync::watch::channel(false);
    let http = http::serve(
        config.http.bind,
        http::router(metrics.clone(), readiness.clone()),
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
