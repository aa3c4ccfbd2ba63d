//! Rulebooks: TOML files that declare the taxonomy of providers, named sets
//! and the rules to apply. `load` reads and validates one, reporting every
//! problem with file:line:column; `Taxonomy` maps raw labels to providers.

pub mod diag;
pub mod filter;
mod load;
pub mod model;
pub mod reader;
pub mod taxonomy;
pub mod waivers;

use std::path::Path;

pub use load::KindTable;
pub use model::{code_schemes, CodeKeys, Provider, Rule, RuleHead, Rulebook, Severity, SpecInfo};
pub use reader::Params;
pub use taxonomy::Taxonomy;

/// A rulebook that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RulebookError {
    #[error("cannot read rulebook {path}: {cause}")]
    Unreadable { path: String, cause: std::io::Error },
    /// `rendered` holds every diagnostic, formatted with positions.
    #[error("{rendered}{count} problem{} in {path}", if *.count == 1 { "" } else { "s" })]
    Invalid { path: String, rendered: String, count: usize, diagnostics: Vec<diag::Diagnostic> },
}

/// Reads and validates a rulebook file with the given rule kinds.
pub fn load<S>(path: &Path, kinds: &dyn KindTable<S>) -> Result<Rulebook<S>, RulebookError> {
    let (shown, source) = read_source(path)?;
    parse(&shown, &source, kinds)
}

/// A TOML file's path as shown in messages, and its text (UTF-8 required).
pub(crate) fn read_source(path: &Path) -> Result<(String, String), RulebookError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|cause| RulebookError::Unreadable { path: shown.clone(), cause })?;
    let source = String::from_utf8(bytes).map_err(|e| RulebookError::Unreadable {
        path: shown.clone(),
        cause: std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8: {e}")),
    })?;
    Ok((shown, source))
}

/// Validates rulebook text with the given rule kinds; `path` is used in messages.
pub fn parse<S>(path: &str, source: &str, kinds: &dyn KindTable<S>) -> Result<Rulebook<S>, RulebookError> {
    load::parse(path, source, kinds).map_err(|d| RulebookError::Invalid {
        path: path.to_string(),
        rendered: diag::render(path, source, &d.items),
        count: d.items.len(),
        diagnostics: d.items,
    })
}
