//! Reloading the configuration and the rule files, on SIGHUP or `POST /-/reload`.

use std::sync::{Arc, Mutex};

use crate::alerting::Alerting;
use crate::base::sync::lock;
use crate::config::{Config, LiveConfig};
use crate::metrics::Metrics;

/// Re-reads the configuration file and the rule files (SIGHUP and `POST /-/reload`).
/// A file that does not validate keeps what is running; the error is returned, logged
/// and counted.
pub(crate) struct Reloader {
    pub(super) path: std::path::PathBuf,
    pub(super) live: LiveConfig,
    pub(super) metrics: Metrics,
    pub(super) alerting: Arc<Mutex<Alerting>>,
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

/// The SIGHUP listener, or nothing where there are no such signals.
pub(super) struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangups {
    pub(super) fn listen() -> Hangups {
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
pub(super) async fn reload_on_sighup(hangups: Hangups, reloader: Arc<Reloader>) {
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
