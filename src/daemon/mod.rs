//! Wiring: open the store, start HTTP, run the consumer thread, and shut down in order
//! on SIGINT/SIGTERM (stop consuming → final checkpoint → commit → stop HTTP → exit 0).
//!
//! - this file: [`run`], which builds every part and owns the shutdown order
//! - [`tick`]: the evaluation loop (windows → gauges → alerting)
//! - [`charts`]: the charts of alert e-mails, read from the live windows
//! - [`reload`]: SIGHUP and `POST /-/reload`
//! - [`signals`]: SIGINT / SIGTERM
//! - [`notify`]: systemd readiness (`READY=1` once partitions are assigned, `STOPPING=1`)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::alerting::{Alerting, AlertingError};
use crate::config::{Config, LiveConfig};
use crate::evaluate::WindowSource;
use crate::http;
use crate::ingest::Ingest;
use crate::kafka::{self, ConsumeError, KafkaDeadLetter, Readiness};
use crate::metrics::Metrics;
use crate::outbox::{OutboxError, OutboxSender};
use crate::store::{Store, StoreError};

mod charts;
mod notify;
mod reload;
mod signals;
mod tick;

pub(crate) use reload::Reloader;
use reload::{reload_on_sighup, Hangups};
pub(crate) use signals::shutdown_signal;
use tick::evaluate_every_tick;

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
    #[error("cluster: {0}")]
    Cluster(#[from] kafka::ClusterError),
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
    metrics
        .memory_budget
        .set(i64::try_from(config.storage.memory_budget).unwrap_or(i64::MAX));
    let store = Store::open_with(
        &config.storage.path,
        crate::store::StoreSettings::from_budget(config.storage.memory_budget),
    )?;
    let cluster = match config.cluster.enabled {
        true => Some(join_cluster(&config, &store, &metrics).await?),
        false => None,
    };
    let wake = Arc::new(tokio::sync::Notify::new());
    let mut alerting = Alerting::new(&config, store.clone(), metrics.clone(), wake.clone())?;
    let mut outbox = OutboxSender::new(&config, store.clone(), metrics.clone(), wake)?;
    if let Some((ownership, _)) = &cluster {
        let owns = model_ownership(ownership);
        alerting.own_models(owns.clone());
        outbox = outbox.own_models(owns);
    }
    let alerting = Arc::new(Mutex::new(alerting));
    let token = config
        .http
        .token
        .as_ref()
        .map(|t| t.read("http.token"))
        .transpose()
        .map_err(DaemonError::Secret)?;
    let sink = KafkaDeadLetter::new(&config, metrics.clone())?;
    let mut ingest = Ingest::new(&config, store.clone(), metrics.clone(), sink)?;
    if let Some((ownership, _)) = &cluster {
        ingest.own_by_partition(ownership.partitions());
    }
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
    crate::base::sync::lock(&alerting).draw_charts_with(Arc::new(charts::WindowCharts {
        windows: windows.clone(),
        live: live.clone(),
    }));

    let ticker = tokio::spawn(evaluate_every_tick(
        windows.clone(),
        live.clone(),
        metrics.clone(),
        alerting.clone(),
    ));
    let alerting_for_link = alerting.clone();
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
        cluster: cluster.as_ref().map(|(ownership, _)| ownership.clone()),
    };
    let http = http::serve(config.http.bind, http::router(api), async move {
        let _ = http_stopped.changed().await;
    })
    .await
    .map_err(|source| DaemonError::Bind {
        bind: config.http.bind,
        source,
    })?;

    let link = cluster.map(|(ownership, changelog)| {
        let alerting = alerting_for_link;
        Arc::new(kafka::ClusterLink {
            config: config.clone(),
            store,
            ownership,
            changelog,
            reload_alerting: Box::new(move || {
                crate::base::sync::lock(&alerting)
                    .reload_state()
                    .map_err(|e| e.to_string())
            }),
            metrics: metrics.clone(),
        })
    });
    let notify_ready = tokio::spawn(notify::ready_when_assigned(readiness.clone()));
    let mut consumer = {
        let shutdown = shutdown.clone();
        tokio::task::spawn_blocking(move || {
            kafka::consume(&config, ingest, metrics, readiness, shutdown, link)
        })
    };

    let result = tokio::select! {
        signal = shutdown_signal() => {
            tracing::info!(signal, "stopping: draining the consumer");
            notify::stopping();
            shutdown.store(true, Ordering::SeqCst);
            consumer.await
        }
        finished = &mut consumer => finished,
    };
    ticker.abort();
    reloader.abort();
    notify_ready.abort();
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

/// Cluster mode's start: the topics checked (the changelog created when allowed), the
/// store emptied of replicated keys (the changelog is their truth; the assignment
/// restores the owned ones), and the changelog producer registered.
async fn join_cluster(
    config: &Config,
    store: &Store,
    metrics: &Metrics,
) -> Result<(Arc<kafka::Ownership>, Arc<kafka::Changelog>), DaemonError> {
    let partitions = kafka::prepare_topics(config).await?;
    let wiped = store.wipe_replicated()?;
    store.recount_joins()?;
    let instance = match &config.cluster.instance_id {
        Some(id) => id.clone(),
        None => store.instance_id()?,
    };
    tracing::info!(
        partitions,
        instance,
        wiped_keys = wiped,
        "cluster mode: joining"
    );
    let ownership = Arc::new(kafka::Ownership::new(partitions, instance));
    let changelog = {
        let (config, ownership, metrics) = (config.clone(), ownership.clone(), metrics.clone());
        tokio::task::spawn_blocking(move || kafka::Changelog::new(&config, ownership, metrics))
            .await
            .map_err(|_| DaemonError::Panicked)??
    };
    let changelog = Arc::new(changelog);
    store.replicate_to(changelog.clone());
    Ok((ownership, changelog))
}

fn model_ownership(ownership: &Arc<kafka::Ownership>) -> crate::alerting::ModelOwnership {
    let ownership = ownership.clone();
    Arc::new(move |model: &str| ownership.owns_model(model))
}
