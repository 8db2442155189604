//! What `/readyz` reports: written by the consumer (assignment, checkpoints, broker
//! connections), read by the HTTP server.

use std::sync::atomic::{AtomicBool, Ordering};

/// What `/readyz` reports; written by the consumer, read by HTTP.
#[derive(Debug, Default)]
pub(crate) struct Readiness {
    assigned: AtomicBool,
    checkpoint_ok: AtomicBool,
    /// Set while librdkafka reports every broker connection down.
    brokers_down: AtomicBool,
}

impl Readiness {
    pub(crate) fn set_brokers_down(&self, v: bool) {
        self.brokers_down.store(v, Ordering::SeqCst);
    }
    pub(crate) fn set_assigned(&self, v: bool) {
        self.assigned.store(v, Ordering::SeqCst);
    }
    pub(crate) fn assigned(&self) -> bool {
        self.assigned.load(Ordering::SeqCst)
    }
    pub(crate) fn set_checkpoint_ok(&self, v: bool) {
        self.checkpoint_ok.store(v, Ordering::SeqCst);
    }
    /// `None` when ready, else why not.
    pub(crate) fn not_ready_reason(&self) -> Option<&'static str> {
        if self.brokers_down.load(Ordering::SeqCst) {
            Some("no connection to any Kafka broker")
        } else if !self.assigned.load(Ordering::SeqCst) {
            Some("no partitions assigned")
        } else if !self.checkpoint_ok.load(Ordering::SeqCst) {
            Some("last checkpoint did not succeed (or none yet)")
        } else {
            None
        }
    }
}
