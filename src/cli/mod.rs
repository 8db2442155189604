//! The command line: clap definitions and one function per subcommand. `main.rs`
//! only parses and calls [`run`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::base::time::parse_duration;
use crate::config::Config;
use crate::event::SourceRole;
use crate::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "driftd",
    version,
    about = "Streaming drift monitoring for machine-learning models in production",
    long_about = "driftd consumes prediction and label logs from Kafka, keeps per-model \
                  state in an embedded store with exactly-once checkpoints, and exposes \
                  Prometheus metrics. See README.md for a quick start."
)]
pub struct Cli {
    /// Log filter, e.g. `info`, `debug`, `driftd=debug,rdkafka=warn` (or RUST_LOG).
    #[arg(long, global = true, default_value = "info", env = "RUST_LOG")]
    pub log: String,
    /// Log format on stderr: `text` (for people) or `json` (one object per line, for
    /// log shippers).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "DRIFTD_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: consume the configured topics (or replay a JSON-lines file
    /// with --input), checkpoint state to the store, serve /metrics, /healthz, /readyz.
    /// Stops cleanly on SIGINT/SIGTERM after a final checkpoint.
    Run(RunArgs),
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Inspect the persisted state (stop the daemon first: the store is locked while it runs).
    #[command(subcommand)]
    State(StateCommand),
    /// Produce a synthetic prediction stream to Kafka (for the demo and load tests).
    Generate(GenerateArgs),
    /// Compare a current dataset with a reference dataset, feature by feature (PSI,
    /// KS, χ², Jensen–Shannon, data quality). With --fail-on-drift the exit code is 1
    /// when any feature drifted, so the command can gate a CI pipeline.
    Report(ReportArgs),
    /// Reference profiles stored for the daemon: import, show, list.
    #[command(subcommand)]
    Reference(ReferenceCommand),
    /// Alert rules: validate rule files, run rule unit tests.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Ask the running daemon for a retraining event for a model (POST
    /// /api/v1/models/{model}/retrain with the [http] token); the per-model cooldown
    /// applies.
    Retrain(RetrainArgs),
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate rule files (or directories of them), like `promtool check rules`.
    /// Without paths, the files of `[alerting] rules` in the configuration. Exit 1
    /// with the file, line, rule and key of the first error.
    Check {
        paths: Vec<PathBuf>,
        #[command(flatten)]
        config: OptionalConfigArg,
    },
    /// Run rule unit tests (input series, expected alerts), like `promtool test rules`.
    /// Exit 1 when a test fails.
    Test {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct RetrainArgs {
    #[arg(long)]
    pub model: String,
    /// Why: recorded in the event's `data.reason`.
    #[arg(long)]
    pub reason: String,
    #[arg(long)]
    pub version: Option<String>,
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Debug, Args)]
pub struct OptionalConfigArg {
    /// Path to driftd.toml ([profile] and [report] settings, store path); defaults apply
    /// when omitted and ./driftd.toml does not exist.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

impl OptionalConfigArg {
    fn load(&self) -> Result<Config, crate::config::ConfigError> {
        match &self.config {
            Some(p) => Config::load(p),
            None if std::path::Path::new("driftd.toml").exists() => {
                Config::load(std::path::Path::new("driftd.toml"))
            }
            None => Ok(Config::default()),
        }
    }
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Reference dataset: CSV with a header row, or JSON lines (.jsonl).
    #[arg(long)]
    pub reference: PathBuf,
    /// Current dataset, same formats.
    #[arg(long)]
    pub current: PathBuf,
    #[command(flatten)]
    pub config: OptionalConfigArg,
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
    /// Exit with status 1 when any feature's PSI reaches its threshold.
    #[arg(long)]
    pub fail_on_drift: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum ReferenceCommand {
    /// Build a reference profile from a CSV or JSON-lines file and store it.
    Import {
        #[arg(long)]
        model: String,
        #[arg(long, default_value = crate::event::UNVERSIONED)]
        version: String,
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        config: OptionalConfigArg,
    },
    /// Print a model's newest profile (a summary; --full for every edge and count).
    Show {
        model: String,
        #[arg(long)]
        version: Option<String>,
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        config: OptionalConfigArg,
    },
    /// Freeze a past window of the daemon's own data as the model's new reference:
    /// the buckets between --from and --to, in the current profile's bins (stop the
    /// daemon first; it uses the new profile from its next start).
    Capture {
        #[arg(long)]
        model: String,
        /// Capture one version's buckets (default: every version).
        #[arg(long)]
        version: Option<String>,
        /// Start, RFC 3339 or epoch ms (buckets starting at or after it).
        #[arg(long)]
        from: String,
        /// End, RFC 3339 or epoch ms (buckets starting before it).
        #[arg(long)]
        to: String,
        #[command(flatten)]
        config: OptionalConfigArg,
    },
    /// List every stored profile.
    List {
        #[command(flatten)]
        config: OptionalConfigArg,
    },
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Path to driftd.toml.
    #[arg(long, short, default_value = "driftd.toml")]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Replay a JSON-lines file (`-` for stdin) instead of consuming Kafka, then exit.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// With --input: what the lines are (their field paths come from the first
    /// [[source]] with this role).
    #[arg(long, value_enum, default_value = "predictions", requires = "input")]
    pub role: RoleArg,
    /// With --input: write rejected lines, with their reason, to this JSON-lines file.
    #[arg(long, requires = "input")]
    pub dead_letter: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Predictions,
    Labels,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file; exit 1 with the key and line of the first error.
    Check(ConfigArg),
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Print the checkpointed counts and offsets as JSON.
    Show(StateShowArgs),
}

#[derive(Debug, Args)]
pub struct StateShowArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Also print every window bucket (large: meant for comparing two stores).
    #[arg(long)]
    pub buckets: bool,
}

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
    /// Write undrifted records of the first model to this JSON-lines file instead of
    /// producing to Kafka (a reference dataset; --count defaults to 10000).
    #[arg(long)]
    pub output: Option<PathBuf>,
}

/// Runs a parsed command; the error is printed by `main`.
pub fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Run(args) => {
            let config = Config::load(&args.config.config)?;
            match args.input {
                Some(input) => {
                    let role = match args.role {
                        RoleArg::Predictions => SourceRole::Predictions,
                        RoleArg::Labels => SourceRole::Labels,
                    };
                    let s =
                        crate::replay::replay(&config, &input, role, args.dead_letter.as_deref())?;
                    tracing::info!(lines = s.lines, rejected = s.rejected, "replay done");
                    Ok(())
                }
                None => {
                    let rt = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()?;
                    rt.block_on(crate::daemon::run(config, args.config.config.clone()))?;
                    Ok(())
                }
            }
        }
        Command::Config(ConfigCommand::Check(arg)) => {
            let config = Config::load(&arg.config)?;
            let rules = crate::alerting::configured_rules(&config)?;
            println!(
                "{}: ok ({} source(s), brokers {}, store {}, http {}, {} rule(s))",
                arg.config.display(),
                config.sources.len(),
                config.kafka.brokers.join(","),
                config.storage.path.display(),
                config.http.bind,
                rules.rules.len()
            );
            Ok(())
        }
        Command::State(StateCommand::Show(arg)) => {
            let config = Config::load(&arg.config.config)?;
            let state = Store::open(&config.storage.path)?.load()?;
            let mut events = serde_json::Map::new();
            for ((model, version), n) in state.events() {
                let entry = events.entry(model.clone()).or_insert_with(|| json!({}));
                entry[version] = json!(n);
            }
            let offsets: Vec<_> = state
                .offsets()
                .iter()
                .map(|((t, p), o)| json!({"topic": t, "partition": p, "next_offset": o}))
                .collect();
            let mut out = json!({
                "events": events,
                "labels": state.labels(),
                "offsets": offsets,
            });
            if arg.buckets {
                out["buckets"] = state
                    .windows()
                    .buckets()
                    .iter()
                    .map(|(k, b)| {
                        json!({"model": k.model, "version": k.version, "tier": k.tier,
                               "start_ms": k.start_ms, "bucket": b})
                    })
                    .collect();
            }
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        Command::Report(a) => report(a),
        Command::Reference(c) => reference(c),
        Command::Rules(c) => rules(c),
        Command::Retrain(a) => retrain(a),
        Command::Generate(a) if a.output.is_some() => {
            let path = a.output.unwrap_or_default();
            let count = if a.count == 0 { 10_000 } else { a.count };
            let model = a.models.first().map(String::as_str).unwrap_or("churn");
            let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
            crate::generate::write_reference(&mut out, model, count, a.seed)?;
            tracing::info!(count, model, path = %path.display(), "reference written");
            Ok(())
        }
        Command::Generate(a) => {
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
            let sent = crate::generate::generate(&opts, || {
                stop.load(std::sync::atomic::Ordering::SeqCst)
            })?;
            tracing::info!(sent, topic = %opts.topic, "generate done");
            Ok(())
        }
    }
}

/// Exit status 1 for `--fail-on-drift`, distinct from errors in output only.
#[derive(Debug, thiserror::Error)]
#[error("{0} feature(s) drifted")]
pub struct DriftDetected(pub usize);

fn rules(c: RulesCommand) -> Result<(), Box<dyn std::error::Error>> {
    match c {
        RulesCommand::Check { paths, config } => {
            let config = config.load()?;
            let windows = config.windows.names();
            let paths = if paths.is_empty() {
                if config.alerting.rules.is_empty() {
                    vec![PathBuf::from("rules")]
                } else {
                    config.alerting.rules.clone()
                }
            } else {
                paths
            };
            let set = crate::rules::load_rules(&paths, Some(&windows))?;
            for file in &set.files {
                let n = set.rules.iter().filter(|r| &r.file == file).count();
                println!("{}: {n} rule(s) ok", file.display());
            }
            Ok(())
        }
        RulesCommand::Test { files } => {
            let mut failed = 0;
            for file in &files {
                for case in crate::rules::unit::run_file(file)? {
                    if case.failures.is_empty() {
                        println!("ok    {}: {}", file.display(), case.name);
                    } else {
                        failed += 1;
                        println!("FAIL  {}: {}", file.display(), case.name);
                        for f in &case.failures {
                            println!("      {f}");
                        }
                    }
                }
            }
            if failed > 0 {
                return Err(format!("{failed} rule test(s) failed").into());
            }
            Ok(())
        }
    }
}

fn retrain(a: RetrainArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load(&a.config.config)?;
    let token = config
        .http
        .token
        .as_ref()
        .ok_or("the configuration has no [http] token: the daemon refuses retraining requests")?
        .read("http.token")?;
    let mut bind = config.http.bind;
    if bind.ip().is_unspecified() {
        bind.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("http://{bind}/api/v1/models/{}/retrain", a.model);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (status, body) = rt.block_on(async {
        let resp = reqwest::Client::new()
            .post(&url)
            .bearer_auth(token)
            .json(&json!({ "reason": a.reason, "version": a.version }))
            .send()
            .await?;
        let status = resp.status();
        Ok::<_, reqwest::Error>((status, resp.text().await?))
    })?;
    println!("{body}");
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{url} answered {status}").into())
    }
}

fn report(a: ReportArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = a.config.load()?;
    let options = config.profile.settings();
    let started = std::time::Instant::now();
    // Both files are parsed at once, one thread each; the current columns are then
    // counted against the reference's bins.
    let (reference, current) = std::thread::scope(|s| {
        let r = s.spawn(|| crate::reference::read_columns(&a.reference));
        let c = s.spawn(|| crate::reference::read_columns(&a.current));
        (r.join(), c.join())
    });
    let (ref_names, ref_columns) = reference.map_err(|_| "reading the reference panicked")??;
    let (cur_names, cur_columns) = current.map_err(|_| "reading the current data panicked")??;
    tracing::debug!(elapsed = ?started.elapsed(), "files read");
    let (reference_rows, features) = ref_columns.finish(&ref_names, &options);
    let current = cur_columns.count_against(&cur_names, &features);
    tracing::debug!(elapsed = ?started.elapsed(), "current counted");
    let mut drift: Vec<_> = features
        .iter()
        .zip(&current.features)
        .zip(&current.seen)
        .map(|((f, c), seen)| {
            crate::report::feature_drift(
                f,
                c,
                current.rows,
                *seen || current.rows == 0,
                config.profile.psi_epsilon,
                &config.report.settings(),
            )
        })
        .collect();
    for (name, (present, numbers)) in &current.extra {
        drift.push(crate::report::unprofiled_column(
            name,
            *present,
            *numbers,
            current.rows,
        ));
    }
    let report = crate::report::DriftReport::new(reference_rows, current.rows, drift);
    tracing::debug!(elapsed = ?started.elapsed(), "report computed");
    match a.format {
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        ReportFormat::Table => print!("{}", report.to_table()),
    }
    if a.fail_on_drift && !report.drifted.is_empty() {
        return Err(Box::new(DriftDetected(report.drifted.len())));
    }
    Ok(())
}

fn reference(c: ReferenceCommand) -> Result<(), Box<dyn std::error::Error>> {
    match c {
        ReferenceCommand::Import {
            model,
            version,
            file,
            config,
        } => {
            let config = config.load()?;
            crate::event::check_name("model", &model)?;
            crate::event::check_name("version", &version)?;
            let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let profile = crate::reference::profile_file(
                &file,
                &model,
                &version,
                &config.profile.settings(),
                &created,
            )?;
            Store::open(&config.storage.path)?.put_reference(&profile)?;
            println!(
                "imported {} ({} rows, {} features) from {}",
                profile.id,
                profile.rows,
                profile.features.len(),
                file.display()
            );
            Ok(())
        }
        ReferenceCommand::Show {
            model,
            version,
            full,
            config,
        } => {
            let config = config.load()?;
            let store = Store::open(&config.storage.path)?;
            let profile = store
                .latest_reference(&model, version.as_deref())?
                .ok_or_else(|| format!("no reference profile for model `{model}`"))?;
            let out = if full {
                serde_json::to_value(&profile)?
            } else {
                profile_summary(&profile)
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(())
        }
        ReferenceCommand::Capture {
            model,
            version,
            from,
            to,
            config,
        } => {
            let config = config.load()?;
            let parse = |what: &str, s: &str| {
                crate::base::time::parse_timestamp(s)
                    .ok_or_else(|| format!("--{what} `{s}` is not RFC 3339 or epoch milliseconds"))
            };
            let (from_ms, to_ms) = (parse("from", &from)?, parse("to", &to)?);
            if to_ms <= from_ms {
                return Err("--to must be after --from".into());
            }
            let store = Store::open(&config.storage.path)?;
            let base = store
                .latest_reference(&model, version.as_deref())?
                .ok_or_else(|| {
                    format!("model `{model}` has no reference profile to take bins from")
                })?;
            let window = store.load()?.windows().range(
                &model,
                version.as_deref(),
                Some(&base),
                from_ms,
                to_ms - 1,
            );
            if window.events == 0 {
                return Err(format!("no events of `{model}` between {from} and {to}").into());
            }
            let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let captured = crate::reference::ReferenceProfile {
                id: format!("{}@{}#capture-{from_ms}", base.model, base.version),
                created_at: created,
                source: format!("capture:{from}..{to}"),
                source_checksum: String::new(),
                rows: window.events,
                features: base
                    .features
                    .iter()
                    .zip(&window.features)
                    .map(|(f, c)| f.with_reference_counts(c))
                    .collect(),
                ..base
            };
            store.put_reference(&captured)?;
            println!(
                "captured {} ({} events from {from} to {to})",
                captured.id, captured.rows
            );
            Ok(())
        }
        ReferenceCommand::List { config } => {
            let config = config.load()?;
            let store = Store::open(&config.storage.path)?;
            println!(
                "{:<20} {:<12} {:<28} {:<22} {:>10} {:>8}  checksum",
                "model", "version", "id", "created", "rows", "features"
            );
            for p in store.references()? {
                println!(
                    "{:<20} {:<12} {:<28} {:<22} {:>10} {:>8}  {}",
                    p.model,
                    p.version,
                    p.id,
                    p.created_at,
                    p.rows,
                    p.features.len(),
                    p.source_checksum
                );
            }
            Ok(())
        }
    }
}

/// A profile without its per-bin arrays.
fn profile_summary(p: &crate::reference::ReferenceProfile) -> serde_json::Value {
    use crate::reference::FeatureKind;
    let features: Vec<_> = p
        .features
        .iter()
        .map(|f| {
            let mut v = json!({
                "name": f.name, "kind": f.kind.name(),
                "missing_rate": if p.rows > 0 { f.missing as f64 / p.rows as f64 } else { 0.0 },
                "type_mismatch": f.type_mismatch,
            });
            match &f.kind {
                FeatureKind::Numeric {
                    bins,
                    min,
                    max,
                    mean,
                    std,
                    ..
                } => {
                    v["min"] = json!(min);
                    v["max"] = json!(max);
                    v["mean"] = json!(mean);
                    v["std"] = json!(std);
                    v["psi_edges"] = json!(bins.psi_edges);
                    v["fine_edges"] = json!(bins.fine_edges.len());
                }
                FeatureKind::Categorical { bins, counts } => {
                    v["categories"] = json!(bins.categories);
                    v["counts"] = json!(counts);
                }
            }
            v
        })
        .collect();
    json!({
        "id": p.id, "model": p.model, "version": p.version, "created_at": p.created_at,
        "source": p.source, "source_checksum": p.source_checksum, "rows": p.rows,
        "resolution": p.resolution, "psi_bins": p.psi_bins,
        "max_categories": p.max_categories, "features": features,
    })
}
