//! hutong: an auditor for payment interconnection rules.
//!
//! The library holds every stage; the `hutong` binary only parses arguments
//! and maps outcomes to exit codes. Stages: [`ingest`] reads and validates the
//! logs against the [`contract`], [`inspect`] summarises them, and
//! [`generate`] writes synthetic logs.

pub mod audit;
pub mod cli;
pub mod commands;
pub mod contract;
pub mod digest;
pub mod engine;
pub mod exec;
pub mod findings;
pub mod generate;
pub mod ingest;
pub mod inspect;
pub mod output;
pub mod progress;
pub mod report;
pub mod rulebook;
pub mod stats;
pub mod verdict;
