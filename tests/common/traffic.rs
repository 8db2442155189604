//! Live traffic for alerting tests: synthetic records of one model, drifted on demand.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use driftd::{base::rng::SplitMix, generate::synthetic_record};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::brokers;

/// A rule that fires a few seconds after [`Traffic::set_drift`] (1 s buckets, a 5 s
/// window, a 1 s tick): the plan mix's PSI. Tests append their `actions` and more.
pub const PLAN_DRIFT_RULE: &str = r#"
[[rule]]
name = "PlanDrift"
features = ["plan"]
metric = "psi"
window = "5s"
condition = "> 0.2"
for = "2s"
min_samples = 100
severity = "critical"
summary = "plan drifted on {{ $labels.model }}: PSI {{ $value }}"
"#;

/// Produces ~150 records/s of one model with current timestamps until dropped;
/// `set_drift` switches the distribution.
pub struct Traffic {
    drift: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Traffic {
    pub fn start(topic: &str, model: &str) -> Traffic {
        let drift = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (d, s, topic, model) = (
            drift.clone(),
            stop.clone(),
            topic.to_string(),
            model.to_string(),
        );
        let handle = std::thread::spawn(move || {
            let producer: BaseProducer = rdkafka::ClientConfig::new()
                .set("bootstrap.servers", brokers())
                .set("linger.ms", "5")
                .create()
                .unwrap();
            let mut rng = SplitMix::new(11);
            let mut seq = 0u64;
            while !s.load(Ordering::SeqCst) {
                for _ in 0..15 {
                    let (payload, _) =
                        synthetic_record(&mut rng, &model, seq, d.load(Ordering::SeqCst));
                    let key = format!("k{seq}");
                    let _ = producer.send(BaseRecord::to(&topic).key(&key).payload(&payload));
                    seq += 1;
                }
                producer.poll(Duration::ZERO);
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = producer.flush(Duration::from_secs(10));
        });
        Traffic {
            drift,
            stop,
            handle: Some(handle),
        }
    }

    pub fn set_drift(&self, on: bool) {
        self.drift.store(on, Ordering::SeqCst);
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
