//! hutong: an auditor for payment interconnection rules.
//!
//! The library holds every stage; the `hutong` binary only parses arguments
//! and maps outcomes to exit codes. The modules form layers, each using only
//! its own and earlier ones (docs/architecture.md; `tests/architecture.rs`
//! checks it):
//!
//! 1. foundations: [`contract`] (the data contract), [`stats`], [`digest`],
//!    [`exec`], [`progress`], [`text`], [`cleanup`], [`codes`] (collection-code
//!    payloads), [`lang`] (report languages);
//! 2. the verdict protocol: [`verdict`];
//! 3. inputs and rules: [`ingest`] reads and validates the logs, [`rulebook`]
//!    reads rulebooks (generic over the kinds' parameters), [`generate`]
//!    writes synthetic logs;
//! 4. the findings model: [`findings`];
//! 5. the engine: [`engine`], with every rule kind in `engine::kinds`, and
//!    `distributed` (feature `distributed`), which runs the same plans as SQL
//!    on Apache DataFusion or Ballista;
//! 6. outputs: [`report`], [`output`], [`inspect`], [`audit`], [`import`]
//!    (real exports into the contract by a profile), [`baseline`], [`waivers`],
//!    [`junit`], [`budget`] (the memory budget and the execution it chooses);
//! 7. commands: [`cli`] (clap definitions) and [`commands`].

// Layer 1: foundations.
pub mod cleanup;
pub mod codes;
pub mod contract;
pub(crate) mod digest;
pub mod exec;
pub mod lang;
pub(crate) mod progress;
pub mod stats;
pub mod text;
// Layer 2: the verdict protocol.
pub mod verdict;
// Layer 3: inputs and rules.
pub mod generate;
pub mod ingest;
pub mod rulebook;
// Layer 4: the findings model.
pub mod findings;
// Layer 5: the engine and its rule kinds.
#[cfg(feature = "distributed")]
pub mod distributed;
pub mod engine;
// Layer 6: outputs.
pub mod audit;
pub mod baseline;
pub mod budget;
pub mod import;
pub(crate) mod inspect;
pub mod junit;
pub(crate) mod output;
pub mod redact;
pub mod report;
pub mod waivers;
// Layer 7: commands.
pub mod cli;
pub mod commands;
