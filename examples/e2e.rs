//! The end-to-end benchmark's helpers (driven by `scripts/bench-e2e.sh`):
//!
//! ```text
//! e2e topic     --brokers B --topic T --partitions 6
//! e2e produce   --brokers B --topic T --count N            # 3 models, 20 numeric + 5 categorical
//! e2e reference --model M --count N > ref.jsonl             # the same distributions, as JSON lines
//! e2e ceiling   --brokers B --topic T --count N --group G   # the bare consumer
//! ```
//!
//! The ceiling is the best the same consumer can do: a `BaseConsumer` with driftd's
//! client settings (group, no auto-commit, earliest) that parses each record's JSON and
//! does nothing else. It prints `ceiling events=… seconds=… rss_mb=… cpu_s=…`, measured
//! from its own start, like driftd's run is.

use std::time::{Duration, Instant};

use driftd::base::rng::SplitMix;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use serde_json::json;

/// The same allocator as the driftd binary, so that the ceiling is not handicapped.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MODELS: &[&str] = &["churn", "fraud", "ltv"];
const CATEGORIES: &[&str] = &["a", "b", "c", "d", "e", "f", "g", "h"];

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.windows(2)
        .find(|w| w[0] == name)
        .map(|w| w[1].clone())
        .unwrap_or_else(|| default.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One record: 20 numeric features f0..f19 (normal, shifted per feature), 5
/// categorical c0..c4 (skewed over 8 values), a score, a latency; event time within
/// the last minute.
fn record(rng: &mut SplitMix, model: &str, seq: u64, ts_ms: i64) -> String {
    let mut features = serde_json::Map::new();
    for i in 0..20 {
        let v = (i as f64) + (1.0 + i as f64 / 10.0) * rng.normal();
        features.insert(format!("f{i}"), json!((v * 1000.0).round() / 1000.0));
    }
    for i in 0..5 {
        let u = rng.uniform();
        let c = CATEGORIES[((u * u) * CATEGORIES.len() as f64) as usize];
        features.insert(format!("c{i}"), json!(c));
    }
    json!({
        "model": model,
        "model_version": "v1",
        "id": format!("{model}-{seq}"),
        "ts": ts_ms,
        "features": features,
        "prediction": rng.uniform(),
        "latency_ms": 5.0 + 20.0 * rng.uniform(),
    })
    .to_string()
}

/// Peak resident memory (MB) and CPU seconds of this process so far.
fn self_usage() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is 14th, stime 15th.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (hwm_kb / 1024.0, (ticks(11) + ticks(12)) / 100.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let brokers = arg(&args, "--brokers", "127.0.0.1:19292");
    let topic = arg(&args, "--topic", "bench");
    let count: u64 = arg(&args, "--count", "2000000").parse()?;
    match args.get(1).map(String::as_str) {
        Some("topic") => {
            let partitions: i32 = arg(&args, "--partitions", "6").parse()?;
            let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
                .set("bootstrap.servers", &brokers)
                .create()?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let t = NewTopic::new(&topic, partitions, TopicReplication::Fixed(1));
            for r in rt.block_on(admin.create_topics([&t], &AdminOptions::new()))? {
                r.map_err(|(t, e)| format!("create {t}: {e}"))?;
            }
        }
        Some("reference") => {
            let model = arg(&args, "--model", "churn");
            let mut rng = SplitMix::new(99);
            let ts = now_ms();
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for i in 0..count {
                use std::io::Write;
                writeln!(out, "{}", record(&mut rng, &model, i, ts))?;
            }
        }
        Some("produce") => {
            let producer: BaseProducer = ClientConfig::new()
                .set("bootstrap.servers", &brokers)
                .set("linger.ms", "50")
                .set("batch.size", "1000000")
                .set("compression.type", "lz4")
                .set("queue.buffering.max.messages", "1000000")
                .create()?;
            let mut rng = SplitMix::new(7);
            let started = Instant::now();
            let base = now_ms();
            for seq in 0..count {
                let model = MODELS[(seq % MODELS.len() as u64) as usize];
                // Event times spread over the last minute, so every record is in the
                // daemon's windows whatever N is.
                let ts = base - 60_000 + (seq * 60_000 / count.max(1)) as i64;
                let payload = record(&mut rng, model, seq, ts);
                let key = format!("{model}-{seq}");
                let mut r = BaseRecord::to(&topic).key(&key).payload(&payload);
                loop {
                    match producer.send(r) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                            r = back;
                            producer.poll(Duration::from_millis(10));
                        }
                        Err((e, _)) => return Err(e.into()),
                    }
                }
                producer.poll(Duration::ZERO);
            }
            producer.flush(Duration::from_secs(120))?;
            eprintln!(
                "produced {count} records in {:.1}s",
                started.elapsed().as_secs_f64()
            );
        }
        Some("ceiling") => {
            let started = Instant::now();
            let group = arg(&args, "--group", "bench-ceiling");
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &brokers)
                .set("client.id", "driftd-ceiling")
                .set("group.id", &group)
                .set("enable.auto.commit", "false")
                .set("enable.auto.offset.store", "false")
                .set("auto.offset.reset", "earliest")
                .set("statistics.interval.ms", "5000")
                .create()?;
            consumer.subscribe(&[&topic])?;
            let mut n = 0u64;
            let mut bytes = 0usize;
            let mut fields = 0usize;
            while n < count {
                if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                    let m = m?;
                    let payload = m.payload().unwrap_or_default();
                    bytes += payload.len();
                    let v: serde_json::Value = serde_json::from_slice(payload)?;
                    fields += v.as_object().map(|o| o.len()).unwrap_or(0);
                    n += 1;
                }
            }
            let seconds = started.elapsed().as_secs_f64();
            let (rss_mb, cpu_s) = self_usage();
            println!(
                "ceiling events={n} seconds={seconds:.3} rss_mb={rss_mb:.1} cpu_s={cpu_s:.2} bytes={bytes} fields={fields}"
            );
        }
        _ => {
            eprintln!("usage: e2e topic|produce|reference|ceiling [--brokers B] [--topic T] [--count N] …");
            std::process::exit(2);
        }
    }
    Ok(())
}
