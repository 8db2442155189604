//! Kafka at the edge: client settings, the consumer loop, rebalances, and the
//! dead-letter producer.
//!
//! The consumer runs on its own thread with a [`BaseConsumer`](rdkafka::consumer::BaseConsumer), so that rebalance
//! callbacks run on the same thread as record handling, between two polls:
//! * on **assign**, each partition starts at the offset held in state (restored from
//!   store), so a restart neither skips nor re-counts; partitions that driftd has never
//!   seen start at the group's committed offset, or the earliest one;
//! * on **revoke**, a checkpoint is written and the offsets committed before the
//!   partitions go, so the next owner starts exactly where this daemon stopped.
//!
//! Offsets are never auto-committed or auto-stored: they are committed after each
//! checkpoint, from the state that the checkpoint made durable.

//!
//! - [`client`]: settings every client shares (brokers, pass-through, secrets)
//! - [`cluster`]: cluster mode: ownership by partition, the changelog, restores
//! - [`consumer`]: the consumer loop, rebalances, checkpoints and commits
//! - [`dead_letter`]: the dead-letter producer
//! - [`readiness`]: what `/readyz` reports, written by the consumer

mod client;
mod cluster;
mod consumer;
mod dead_letter;
mod readiness;

pub(crate) use client::client_config;
pub(crate) use cluster::{prepare_topics, Changelog, ClusterError, ClusterLink, Ownership};
pub(crate) use consumer::consume;
pub(crate) use consumer::ConsumeError;
pub(crate) use dead_letter::KafkaDeadLetter;
pub(crate) use readiness::Readiness;
