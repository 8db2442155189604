//! `driftd generate`: a synthetic stream to Kafka, or a reference file.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::base::time::parse_duration;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[arg(long, default_value = "127.0.0.1:19092")]
    pub brokers: String,
    #[arg(long, default_value = "predictions")]
    pub topic: String,
    /// Records to produce; 0 runs until interrupted.
    #[arg(long, default_value_t = 0)]
    pub count: u64,
    /// Records per second; 0 is as fast as possible.
    #[arg(long, default_value_t = 200)]
    pub rate: u64,
    /// Comma-separated model names; records go round-robin over them.
    #[arg(long, default_value = "churn,fraud,ltv", value_delimiter = ',')]
    pub models: Vec<String>,
    /// Make every n-th record malformed (0 = never), to exercise the dead-letter path.
    #[arg(long, default_value_t = 0)]
    pub malformed_every: u64,
    /// Shift every distribution after this long, e.g. `60s`.
    #[arg(long, value_parser = parse_duration)]
    pub drift_after: Option<Duration>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also produce a ground-truth label per prediction to this topic (calibrated:
    /// 1 with probability equal to the score).
    #[arg(long)]
    pub labels_topic: Option<String>,
    /// After --drift-after, this model's labels disagree with its scores, so its
    /// accuracy falls.
    #[arg(long, requires = "labels_topic")]
    pub degrade_model: Option<String>,
    /// A share (--canary-share) of this model's records come from version v2, whose
    /// labels are flipped 30 % of the time: a worse candidate for a canary deployment.
    #[arg(long, requires = "labels_topic")]
    pub canary_model: Option<String>,
    /// The canary's share of --canary-model's records, between 0 and 1.
    #[arg(long, default_value_t = 0.2, value_parser = share)]
    pub canary_share: f64,
    /// Write undrifted records of the first model to this JSON-lines file instead of
    /// producing to Kafka (a reference dataset; --count defaults to 10000).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

pub(super) fn generate(mut a: GenerateArgs) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(path) = a.output.take() {
        let count = if a.count == 0 { 10_000 } else { a.count };
        let model = a.models.first().map(String::as_str).unwrap_or("churn");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        crate::generate::write_reference(&mut out, model, count, a.seed)?;
        tracing::info!(count, model, path = %path.display(), "reference written");
        Ok(())
    } else {
        let opts = crate::generate::GenerateOptions {
            brokers: a.brokers,
            topic: a.topic,
            count: a.count,
            rate: a.rate,
            models: a.models,
            malformed_every: a.malformed_every,
            drift_after: a.drift_after,
            seed: a.seed,
            labels_topic: a.labels_topic,
            degrade_model: a.degrade_model,
            canary_model: a.canary_model,
            canary_share: a.canary_share,
        };
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let stop = stop.clone();
            // Ctrl-C stops producing but still flushes what was sent.
            std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(crate::daemon::shutdown_signal());
                    stop.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            });
        }
        let sent =
            crate::generate::generate(&opts, || stop.load(std::sync::atomic::Ordering::SeqCst))?;
        tracing::info!(sent, topic = %opts.topic, "generate done");
        Ok(())
    }
}

/// A share between 0 and 1.
fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{s}` is not a share between 0 and 1")),
    }
}
