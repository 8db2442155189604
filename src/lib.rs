//! # driftd
//!
//! A streaming drift-monitoring daemon. Records flow
//! Kafka → [`kafka`] → [`ingest`] ([`event`] decode → [`state`]) → [`store`] (sled),
//! with metrics in [`metrics`] served by [`http`].
//!
//! # Layout
//! - [`cli`]: command line definitions and one function per subcommand
//! - [`config`]: `driftd.toml`, validated with key and line in every error
//! - [`event`]: record types and decoding (pure)
//! - [`state`]: mergeable counters and consumed offsets (pure)
//! - [`ingest`]: decode → apply or dead-letter → checkpoint, shared by every source
//! - [`store`]: every sled tree and key layout
//! - [`kafka`]: consumer loop, rebalances, dead-letter producer
//! - [`replay`]: JSON-lines files and stdin as a source
//! - [`metrics`]: every Prometheus metric name
//! - [`http`]: `/metrics`, `/healthz`, `/readyz`
//! - [`daemon`]: wiring and graceful shutdown
//! - [`generate`]: synthetic stream for the demo and load tests

pub mod alerting;
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
