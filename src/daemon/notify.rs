//! systemd's readiness protocol (sd_notify(3), `Type=notify`): `READY=1` once the HTTP
//! server is up and the consumer has partitions, `STOPPING=1` when shutdown starts,
//! `STATUS=` lines for `systemctl status`. Nothing happens without `NOTIFY_SOCKET`.

use std::sync::Arc;
use std::time::Duration;

use sd_notify::NotifyState;

use crate::kafka::Readiness;

/// Sends `state`; a failure is logged, never fatal (systemd is then told nothing, and
/// its start timeout reports it).
fn send(state: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

/// Waits until the consumer has partitions, then reports the service ready. Called
/// once the HTTP server is bound.
pub(super) async fn ready_when_assigned(readiness: Arc<Readiness>) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    send(&[NotifyState::Status("waiting for partitions")]);
    while !readiness.assigned() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    send(&[NotifyState::Ready, NotifyState::Status("consuming")]);
}

/// Shutdown has begun: the final checkpoint follows.
pub(super) fn stopping() {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status("stopping: final checkpoint"),
    ]);
}
