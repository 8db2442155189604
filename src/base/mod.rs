//! The ground layer: small things every other layer needs and that depend on nothing
//! of driftd's — time, text positions, deterministic ids and random numbers, locking.
//!
//! - [`time`]: the clock (read only by the edges), RFC 3339, durations such as `5m`
//! - [`text`]: line numbers of byte offsets, for errors that name a line
//! - [`id`]: stable digests for ids that must be equal in every process
//! - [`rng`]: a small deterministic generator for synthetic streams and tests
//! - [`sync`]: locking a mutex that a panicked thread may have poisoned
//! - [`partition`]: Kafka's default partitioner (murmur2), which partition owns a model

pub mod id;
pub mod partition;
pub mod rng;
pub mod sync;
pub mod text;
pub mod time;
