//! `driftd generate`: a synthetic prediction stream for the demo and for load tests.
//!
//! Each model has numeric features (`age`, `income`), a categorical one (`plan`), a
//! score, a latency and a region. With `--drift-after`, the distributions shift
//! after that many seconds, which later stages of driftd detect and alert on. With
//! `--labels-topic`, each prediction gets a label drawn from its score (calibrated), so
//! accuracy is stable, until the drift makes `--degrade-model`'s labels disagree.
//! With `--canary-model`, a share of that model's records come from a version `v2`
//! whose labels disagree with its scores more often: a worse candidate for a canary
//! deployment to roll back.

use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::json;

use crate::base::rng::SplitMix;
use crate::base::time::unix_now_ms;

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub brokers: String,
    pub topic: String,
    /// 0 = until interrupted.
    pub count: u64,
    /// Records per second; 0 = as fast as possible.
    pub rate: u64,
    pub models: Vec<String>,
    /// Every n-th record is malformed (0 = never).
    pub malformed_every: u64,
    pub drift_after: Option<Duration>,
    pub seed: u64,
    /// Also produce a ground-truth label per prediction to this topic.
    pub labels_topic: Option<String>,
    /// After the drift, this model's labels stop agreeing with its scores: its
    /// accuracy falls.
    pub degrade_model: Option<String>,
    /// This model's records come from version [`CANARY_VERSION`] with probability
    /// `canary_share`, and its labels are flipped with probability [`CANARY_FLIP`].
    pub canary_model: Option<String>,
    pub canary_share: f64,
}

/// The version of `--canary-model`'s candidate records.
pub const CANARY_VERSION: &str = "v2";

/// How often a canary's label is flipped: for a calibrated baseline of accuracy a,
/// the canary's is a − 0.3 (2a − 1), about 14 points lower at the demo's a ≈ 0.73.
pub const CANARY_FLIP: f64 = 0.3;

/// One synthetic record of version v1 and its score; `drifted` shifts every
/// distribution.
pub fn synthetic_record(rng: &mut SplitMix, model: &str, seq: u64, drifted: bool) -> (String, f64) {
    synthetic_record_of(rng, model, "v1", seq, drifted)
}

/// [`synthetic_record`] of `version`.
pub fn synthetic_record_of(
    rng: &mut SplitMix,
    model: &str,
    version: &str,
    seq: u64,
    drifted: bool,
) -> (String, f64) {
    let shift = if drifted { 1.0 } else { 0.0 };
    let age = (40.0 + 12.0 * rng.normal() + 8.0 * shift).round();
    let income = (10.5 + 0.6 * rng.normal() + 0.3 * shift).exp().round();
    let plans = ["basic", "plus", "gold"];
    let weights = if drifted {
        [0.2, 0.3, 0.5]
    } else {
        [0.6, 0.3, 0.1]
    };
    let u = rng.uniform();
    let plan = if u < weights[0] {
        plans[0]
    } else if u < weights[0] + weights[1] {
        plans[1]
    } else {
        plans[2]
    };
    let score = 1.0 / (1.0 + (-(rng.normal() - 1.0 + 1.5 * shift)).exp());
    let income_value = if rng.uniform() < 0.02 {
        serde_json::Value::Null
    } else {
        json!(income)
    };
    let region = ["eu", "us", "apac"][(rng.next_u64() % 3) as usize];
    let record = json!({
        "model": model,
        "model_version": version,
        "id": format!("{model}-{seq}"),
        "ts": unix_now_ms(),
        "features": {"age": age, "income": income_value, "plan": plan},
        "prediction": score,
        "latency_ms": (2.5 + 0.5 * rng.normal() + shift).exp(),
        "segment": {"region": region},
    })
    .to_string();
    (record, score)
}

/// The label record of prediction `seq`: 1 with probability `score` (a calibrated
/// model), or `1 - score` when `degraded`; then flipped with probability `flip`.
pub(crate) fn synthetic_label(
    rng: &mut SplitMix,
    model: &str,
    seq: u64,
    score: f64,
    degraded: bool,
    flip: f64,
) -> String {
    let p = if degraded { 1.0 - score } else { score };
    let label = u8::from(rng.uniform() < p) ^ u8::from(flip > 0.0 && rng.uniform() < flip);
    json!({
        "model": model,
        "id": format!("{model}-{seq}"),
        "ts": unix_now_ms(),
        "label": label,
    })
    .to_string()
}

/// Writes `count` undrifted records of `model` as JSON lines: a reference dataset
/// for `driftd reference import`.
pub(crate) fn write_reference(
    out: &mut impl std::io::Write,
    model: &str,
    count: u64,
    seed: u64,
) -> std::io::Result<()> {
    let mut rng = SplitMix::new(seed);
    for i in 0..count {
        writeln!(out, "{}", synthetic_record(&mut rng, model, i, false).0)?;
    }
    out.flush()
}

fn send(producer: &BaseProducer, topic: &str, key: &str, payload: &str) -> Result<(), KafkaError> {
    let mut record = BaseRecord::to(topic).key(key).payload(payload);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                producer.poll(Duration::from_millis(20));
            }
            Err((e, _)) => return Err(e),
        }
    }
}

/// Produces records until `count` is reached or `stop` returns true.
pub fn generate(opts: &GenerateOptions, stop: impl Fn() -> bool) -> Result<u64, KafkaError> {
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &opts.brokers)
        .set("linger.ms", "10")
        // Kafka's default (Java's) partitioner: cluster mode expects a model's records
        // on the partition murmur2 gives its name.
        .set("partitioner", "murmur2_random")
        .create()?;
    let mut rng = SplitMix::new(opts.seed);
    let started = Instant::now();
    let mut sent = 0u64;
    while (opts.count == 0 || sent < opts.count) && !stop() {
        let drifted = opts.drift_after.is_some_and(|d| started.elapsed() >= d);
        let model = &opts.models[(sent % opts.models.len() as u64) as usize];
        // The partition key of the README's contract: the model, for predictions and
        // labels alike.
        let key = model.as_str();
        if opts.malformed_every > 0 && sent.is_multiple_of(opts.malformed_every) {
            let payload = format!("{{\"model\": \"{model}\", \"features\": [broken");
            send(&producer, &opts.topic, key, &payload)?;
        } else {
            let canary = opts.canary_model.as_deref() == Some(model.as_str())
                && rng.uniform() < opts.canary_share;
            let version = if canary { CANARY_VERSION } else { "v1" };
            let (payload, score) = synthetic_record_of(&mut rng, model, version, sent, drifted);
            send(&producer, &opts.topic, key, &payload)?;
            if let Some(topic) = &opts.labels_topic {
                let degraded = drifted && opts.degrade_model.as_deref() == Some(model.as_str());
                let flip = if canary { CANARY_FLIP } else { 0.0 };
                let label = synthetic_label(&mut rng, model, sent, score, degraded, flip);
                send(&producer, topic, key, &label)?;
            }
        }
        sent += 1;
        producer.poll(Duration::ZERO);
        if opts.rate > 0 {
            let due = Duration::from_secs_f64(sent as f64 / opts.rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        if sent.is_multiple_of(10_000) {
            tracing::info!(sent, "generating");
        }
    }
    producer.flush(Duration::from_secs(30))?;
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_canary_label_agrees_less_often_by_the_documented_amount() {
        // Accuracy of the decision score > 0.5 against labels drawn from the score,
        // then flipped with probability `flip`.
        let accuracy = |flip: f64| {
            let mut rng = SplitMix::new(3);
            let n = 200_000;
            let mut right = 0;
            for i in 0..n {
                let score = rng.uniform();
                let label: serde_json::Value =
                    serde_json::from_str(&synthetic_label(&mut rng, "m", i, score, false, flip))
                        .unwrap();
                right += u64::from((label["label"] == 1) == (score > 0.5));
            }
            right as f64 / n as f64
        };
        let (baseline, canary) = (accuracy(0.0), accuracy(CANARY_FLIP));
        // Scores uniform on [0, 1]: a = 0.75, and the canary's a − 0.3 (2a − 1) = 0.6.
        assert!((baseline - 0.75).abs() < 0.005, "{baseline}");
        assert!((canary - 0.60).abs() < 0.005, "{canary}");
    }
}
