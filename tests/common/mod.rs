//! Helpers for integration tests that run the real `driftd` binary against the real
//! Kafka broker started by `scripts/test.sh` (`DRIFTD_TEST_BROKERS`, default
//! 127.0.0.1:19092). Nothing here fakes a service: when the broker is missing the
//! tests fail and say how to start it.
//!
//! - [`broker`]: topics, producing, reading topics, private brokers
//! - [`browser`]: a page opened in the real headless Chromium (scripts/browser_check.py)
//! - [`process`]: a test's configuration and the daemon process
//! - [`cli`]: running the binary as a command (`driftd`, `driftd_json`, `state show`)
//! - [`http`]: requests, free ports, parsed `/metrics`
//! - [`records`]: generated and malformed records, JSON comparison
//! - [`smtp`]: the SMTP server of the alerting tests
//! - [`traffic`]: live synthetic traffic of one model, drifted on demand
//! - [`wait`]: the one polling loop (`wait_until`, `wait_for`)
// Every test binary compiles all of these and uses some.
#![allow(dead_code, unused_imports)]

pub mod broker;
pub mod browser;
pub mod cli;
pub mod hostile;
pub mod http;
pub mod process;
pub mod records;
pub mod smtp;
pub mod traffic;
pub mod wait;

pub use broker::*;
pub use browser::*;
pub use cli::*;
pub use http::*;
pub use process::*;
pub use records::*;
pub use smtp::*;
pub use traffic::*;
pub use wait::*;
