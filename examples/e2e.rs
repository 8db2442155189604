//! The end-to-end benchmark's helpers (driven by `scripts/bench-e2e.sh`):
//!
//! ```text
//! e2e topic     --brokers B --topic T --partitions 6
//! e2e produce   --brokers B --topic T --count N            # 3 models, 20 numeric + 5 categorical
//!               [--keyed-models K]                          # K models, keyed by model (murmur2)
//! e2e reference --model M --count N > ref.jsonl             # the same distributions, as JSON lines
//! e2e ceiling   --brokers B --topic T --count N --group G [--raw]  # the bare consumer
//! e2e scale-predictions --brokers B --topic T --count N --models M --spread-hours H [--fill-tiers]
//! e2e scale-labels --brokers B --topic T --count N --fraction F --pairs FILE
//! ```
//!
//! `scale-*` drive `scripts/bench-scale.sh`: predictions of model `credit` with ids
//! `p-{seq}` (or of `--models` models × 3 versions, 25 features), event times spread
//! over the last `--spread-hours` (or, with `--fill-tiers`, over every bucket of every
//! tier in turn); then labels for a random fraction of them in random
//! order, with the (score, label) pairs written to FILE for scikit-learn.
//!
//! The ceiling is the best the same consumer can do: a `BaseConsumer` with driftd's
//! client settings (group, no auto-commit, earliest) that parses each record's JSON
//! into a `serde_json::Value` and does nothing else; with `--raw` it only polls (and
//! reads each payload's length): the real limit, what Kafka itself costs. It prints
//! `ceiling events=… seconds=… rss_mb=… cpu_s=…` (`raw …` with `--raw`), measured from
//! its own start, like driftd's run is.

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

/// The score and label of the join benchmark's prediction `seq`: the same in both
/// subcommands, so the labels agree with what was produced without keeping state.
fn scored(seq: u64) -> (f64, u8) {
    let mut rng = SplitMix::new(0x5eed ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let score = (rng.uniform() * 1000.0).round() / 1000.0;
    let label = u8::from(rng.uniform() < score);
    (score, label)
}

fn producer_config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("linger.ms", "50")
        .set("batch.size", "1000000")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000");
    c
}

fn producer(brokers: &str) -> Result<BaseProducer, KafkaError> {
    producer_config(brokers).create()
}

fn send(producer: &BaseProducer, topic: &str, key: &str, payload: &str) -> Result<(), KafkaError> {
    let mut r = BaseRecord::to(topic).key(key).payload(payload);
    loop {
        match producer.send(r) {
            Ok(()) => break,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                r = back;
                producer.poll(Duration::from_millis(10));
            }
            Err((e, _)) => return Err(e),
        }
    }
    producer.poll(Duration::ZERO);
    Ok(())
}

/// With `--fill-tiers`: the `round`-th of a series' `rounds` events lands in one of the
/// buckets a full state holds — each day from 89 days back to 7, each hour back to
/// 2 h, each minute of the last 2 h — oldest first, a few events per bucket, as a
/// backfill of history replays it.
fn tier_time(base: i64, round: u64, rounds: u64, jitter: f64) -> i64 {
    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;
    const DAY: i64 = 24 * HOUR;
    const SLOTS: u64 = 120 + 166 + 82;
    let per_slot = (rounds / SLOTS).max(1);
    let slot = (SLOTS - 1 - (round / per_slot) % SLOTS) as i64;
    let (start, width) = if slot < 120 {
        (base - (slot + 1) * MINUTE, MINUTE)
    } else if slot < 120 + 166 {
        (base - 2 * HOUR - (slot - 120 + 1) * HOUR, HOUR)
    } else {
        (base - 7 * DAY - (slot - 286 + 1) * DAY, DAY)
    };
    start + (jitter * width as f64) as i64
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
            // `--keyed-models K`: models m0…m{K-1}, keyed by model with Kafka's
            // (murmur2) partitioner, as cluster mode requires (scripts/bench-cluster.sh).
            let keyed: usize = arg(&args, "--keyed-models", "0").parse()?;
            let names: Vec<String> = match keyed {
                0 => MODELS.iter().map(|m| m.to_string()).collect(),
                k => (0..k).map(|i| format!("m{i}")).collect(),
            };
            let mut producer_config = producer_config(&brokers);
            if keyed > 0 {
                producer_config.set("partitioner", "murmur2_random");
            }
            let producer: BaseProducer = producer_config.create()?;
            let mut rng = SplitMix::new(7);
            let started = Instant::now();
            let base = now_ms();
            for seq in 0..count {
                let model = &names[(seq % names.len() as u64) as usize];
                // Event times spread over the last minute, so every record is in the
                // daemon's windows whatever N is.
                let ts = base - 60_000 + (seq * 60_000 / count.max(1)) as i64;
                let payload = record(&mut rng, model, seq, ts);
                let key = match keyed {
                    0 => format!("{model}-{seq}"),
                    _ => model.clone(),
                };
                send(&producer, &topic, &key, &payload)?;
            }
            producer.flush(Duration::from_secs(120))?;
            eprintln!(
                "produced {count} records in {:.1}s",
                started.elapsed().as_secs_f64()
            );
        }
        Some("scale-predictions") => {
            let producer = producer(&brokers)?;
            let models: u64 = arg(&args, "--models", "0").parse()?;
            let spread_ms = arg(&args, "--spread-hours", "24").parse::<i64>()? * 3_600_000;
            let fill_tiers = args.iter().any(|a| a == "--fill-tiers");
            let mut rng = SplitMix::new(11);
            let base = now_ms() - 60_000;
            for seq in 0..count {
                let ts = if fill_tiers && models > 0 {
                    tier_time(
                        base,
                        seq / (3 * models),
                        count / (3 * models),
                        rng.uniform(),
                    )
                } else {
                    base - spread_ms + (seq as i64 % 1_000_003) * spread_ms / 1_000_003
                };
                let (payload, key) = if models == 0 {
                    let (score, _) = scored(seq);
                    let id = format!("p-{seq}");
                    let payload = json!({
                        "model": "credit", "model_version": "v1", "id": id, "ts": ts,
                        "features": {"amount": (rng.normal() * 100.0).round(),
                                     "age": (40.0 + 12.0 * rng.normal()).round(),
                                     "channel": CATEGORIES[(rng.uniform() * 3.0) as usize]},
                        "prediction": score,
                    });
                    (payload.to_string(), id)
                } else {
                    let model = format!("m{:03}", seq % models);
                    let version = format!("v{}", (seq / models) % 3);
                    let mut payload: serde_json::Value =
                        serde_json::from_str(&record(&mut rng, &model, seq, ts))?;
                    payload["model_version"] = json!(version);
                    (payload.to_string(), model)
                };
                send(&producer, &topic, &key, &payload)?;
            }
            producer.flush(Duration::from_secs(300))?;
        }
        Some("scale-labels") => {
            let producer = producer(&brokers)?;
            let fraction: f64 = arg(&args, "--fraction", "0.01").parse()?;
            let pairs_path = arg(&args, "--pairs", "pairs.json");
            let mut rng = SplitMix::new(23);
            let mut chosen: Vec<u64> = (0..count).filter(|_| rng.uniform() < fraction).collect();
            // Out of order: a Fisher–Yates shuffle.
            for i in (1..chosen.len()).rev() {
                let j = (rng.uniform() * (i + 1) as f64) as usize;
                chosen.swap(i, j.min(i));
            }
            let mut pairs = Vec::with_capacity(chosen.len());
            let ts = now_ms();
            for &seq in &chosen {
                let (score, label) = scored(seq);
                let id = format!("p-{seq}");
                let payload = json!({"model": "credit", "id": id, "label": label, "ts": ts});
                send(&producer, &topic, &id, &payload.to_string())?;
                pairs.push(json!([score, label]));
            }
            producer.flush(Duration::from_secs(300))?;
            std::fs::write(
                &pairs_path,
                json!({"binary": pairs, "threshold": 0.5}).to_string(),
            )?;
            println!("{}", chosen.len());
        }
        Some("ceiling") => {
            let started = Instant::now();
            let group = arg(&args, "--group", "bench-ceiling");
            let raw = args.iter().any(|a| a == "--raw");
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
                    if !raw {
                        let v: serde_json::Value = serde_json::from_slice(payload)?;
                        fields += v.as_object().map(|o| o.len()).unwrap_or(0);
                    }
                    n += 1;
                }
            }
            let seconds = started.elapsed().as_secs_f64();
            let (rss_mb, cpu_s) = self_usage();
            println!(
                "{} events={n} seconds={seconds:.3} rss_mb={rss_mb:.1} cpu_s={cpu_s:.2} bytes={bytes} fields={fields}",
                if raw { "raw" } else { "ceiling" }
            );
        }
        _ => {
            eprintln!("usage: e2e topic|produce|reference|ceiling [--brokers B] [--topic T] [--count N] …");
            std::process::exit(2);
        }
    }
    Ok(())
}
