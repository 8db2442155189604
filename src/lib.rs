//! # driftd
//!
//! A streaming drift-monitoring daemon. Records flow
//! Kafka → [`kafka`] → [`ingest`] ([`event`] decode → [`state`]) → [`store`] (redb);
//! every tick [`evaluate`] turns the windows into reports, [`metrics`] publishes them
//! and [`alerting`] runs the [`rules`], [`notify`] and [`retrain`] decisions into the
//! durable outbox that [`outbox`] delivers. `ARCHITECTURE.md` draws the whole flow.
//!
//! # Layout
//!
//! The modules are stacked in layers, lowest first. A module may use its own layer and
//! the layers below it, never one above, and no two modules may use each other in a
//! cycle. `tests/layers.rs` reads this list and every `crate::` path in `src/`, and
//! fails naming the import that breaks the rule; a new module goes into this list
//! first. Each module's own documentation opens with what it is for.
//!
//! ## 0. Ground
//!
//! Pure helpers and pure math that know nothing of records or models: counts in,
//! numbers out; no I/O and no clock (only [`base::time::unix_now_ms`] reads it, and
//! only the edges call that).
//!
//! - [`base`]: time and RFC 3339, durations, line numbers and globs, stable ids, a deterministic
//!   generator, locking
//! - [`stats`]: histograms and bins, PSI, KS with the Kolmogorov distribution, χ²,
//!   Jensen–Shannon and Wasserstein, latency percentiles, performance metrics, an
//!   always-valid confidence sequence for comparing versions
//!
//! ## 1. Records
//!
//! What arrives: the record types and their field paths, decoding bytes into records
//! with a reason for every refusal, and tabular files for offline work. Pure.
//!
//! - [`event`]: record types, field paths (JSON pointers), timestamps, the Confluent
//!   header, raw decoding, decode reasons
//! - [`dataset`]: CSV and JSON-lines columns, streamed
//!
//! ## 2. Profiles and reports
//!
//! What "normal" looks like and how far the present is from it: reference profiles
//! (bins and reference counts) and the per-feature drift report, shared by
//! `driftd report`, the daemon's windows and the API.
//!
//! - [`reference`](mod@reference): profiles — built from columns (pure), from files, or captured
//! - [`chart`]: a feature's reference and current distributions and a statistic over
//!   time, as SVG (maud) and PNG (resvg)
//! - [`report`]: one feature's drift from a profile and counts; the one table of
//!   per-feature statistics; JSON, table and HTML output
//!
//! ## 3. Streaming state
//!
//! The daemon's mergeable state: event-time buckets, the label join, counts and
//! offsets, and the evaluation of windows over them. Pure: records and `now` in.
//!
//! - [`join`]: predictions and labels joined by (model, id) within a TTL
//! - [`window`]: event-time buckets in three tiers (an index and the buckets being
//!   written in memory, the rest read from the store), windows as running sums, the
//!   profile set
//! - [`state`]: everything a checkpoint persists, and what changed since the last one
//! - [`evaluate`]: window → report, history per bucket, which windows each tick
//!   evaluates, the pictures of a window, deployment verdicts
//!
//! ## 4. Alerting logic
//!
//! From reports to decisions, as Prometheus and Alertmanager make them. Pure: rules,
//! samples, state and `now` in; alerts, notifications and events out.
//!
//! - [`rules`]: rule files, conditions, samples, the alert state machine, annotation
//!   templates (Prometheus's syntax), rule tests
//! - [`notify`]: grouping with Alertmanager's timers, e-mail bodies, Alertmanager
//!   pushes as Prometheus sends them, outbox entries
//! - [`retrain`]: triggers, cooldowns, cron schedules, CloudEvents
//!
//! ## 5. Configuration
//!
//! The shape of `driftd.toml`, validated with key and line, converted *down* into each
//! module's own `*Settings`; nothing below this layer reads the configuration.
//!
//! - [`config`]: the TOML tables (`*Config`), secrets, the live (reloadable) copy
//!
//! ## 6. Persistence and telemetry
//!
//! The one module that knows the store's key layout, and the one that names metrics.
//!
//! - [`store`]: every table and key, atomic checkpoints, the outbox's entries
//! - [`metrics`]: every Prometheus metric name and label
//!
//! ## 7. Stages
//!
//! The two stages that drive the pure layers and persist their results: records into
//! state, and reports into alerts.
//!
//! - [`ingest`]: decode → admit → apply or dead-letter → checkpoint, for any source
//! - [`alerting`]: rules → alerts → notifications and retraining → outbox, each
//!   evaluation in one store batch
//!
//! ## 8. Edges
//!
//! Where driftd meets the network and the outside world: Kafka, files, SMTP,
//! webhooks, HTTP clients.
//!
//! - [`kafka`]: client settings, the consumer, dead letters, readiness, cluster mode
//!   (ownership by partition, the changelog, restores)
//! - [`replay`]: JSON-lines files and stdin as a source
//! - [`outbox`]: the sender that delivers outbox entries (SMTP, Kafka, webhook,
//!   Alertmanager)
//! - [`generate`]: the synthetic stream of the demo and load tests
//! - [`http`]: `/metrics`, health, the JSON API
//!
//! ## 9. Daemon
//!
//! The wiring of one running process.
//!
//! - [`daemon`]: start-up, the tick, reloads, signals and the shutdown order
//!
//! ## 10. Command line
//!
//! - [`cli`]: one file per subcommand; `main.rs` only parses, logs and exits

// These docs are for driftd's developers, who read them with
// `cargo doc --document-private-items`: there every link resolves, including those to
// the `pub(crate)` items that make up most of each module.
#![allow(rustdoc::private_intra_doc_links)]

pub mod alerting;
pub mod base;
pub mod chart;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod dataset;
pub mod evaluate;
pub mod event;
pub mod generate;
pub mod http;
pub mod ingest;
pub mod join;
pub mod kafka;
pub mod metrics;
pub mod notify;
pub mod outbox;
pub mod reference;
pub mod replay;
pub mod report;
pub mod retrain;
pub mod rules;
pub mod state;
pub mod stats;
pub mod store;
pub mod window;
