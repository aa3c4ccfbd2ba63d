//! Rulebook diagnostics: a stable code, a message and the byte span of the
//! offending text, rendered with file:line:column and a caret underline.

use std::ops::Range;

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Config};

/// One problem in a rulebook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable code, e.g. `R003`; documented in `docs/rulebook.md`.
    pub code: &'static str,
    pub message: String,
    pub span: Range<usize>,
    /// Short text under the caret.
    pub label: String,
}

/// Diagnostic codes. Stable: a retired code is never reused.
pub mod codes {
    pub const SYNTAX: &str = "R001";
    pub const UNKNOWN_KEY: &str = "R002";
    pub const WRONG_TYPE: &str = "R003";
    pub const MISSING_KEY: &str = "R004";
    pub const UNKNOWN_PROVIDER: &str = "R005";
    pub const UNKNOWN_SET: &str = "R006";
    pub const BAD_REGEX: &str = "R007";
    pub const BAD_FILTER: &str = "R008";
    pub const DUPLICATE_ID: &str = "R009";
    pub const OUT_OF_RANGE: &str = "R010";
    pub const AMBIGUOUS_ALIAS: &str = "R011";
    pub const BAD_VALUE: &str = "R012";
    pub const EMPTY_MATCH: &str = "R013";
    /// A warning: an alias written with a character labels lose in normalisation.
    pub const ALIAS_NORMALISED: &str = "R014";
    pub const UNKNOWN_FAILURE_CLASS: &str = "R015";
    /// A waiver names a rule the rulebook does not have.
    pub const UNKNOWN_RULE: &str = "R016";
}

/// Problems collected while reading one rulebook.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
    /// Problems that do not make the rulebook invalid.
    pub warnings: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(
        &mut self,
        code: &'static str,
        span: Range<usize>,
        message: impl Into<String>,
        label: impl Into<String>,
    ) {
        self.items.push(Diagnostic { code, message: message.into(), span, label: label.into() });
    }

    pub fn warn(
        &mut self,
        code: &'static str,
        span: Range<usize>,
        message: impl Into<String>,
        label: impl Into<String>,
    ) {
        self.warnings.push(Diagnostic { code, message: message.into(), span, label: label.into() });
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..floor_char_boundary(source, offset)];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Renders diagnostics as text (no colour), in source order.
pub fn render(path: &str, source: &str, diags: &[Diagnostic]) -> String {
    render_as(path, source, diags, false)
}

/// Renders warnings as text (no colour), in source order.
pub fn render_warnings(path: &str, source: &str, diags: &[Diagnostic]) -> String {
    render_as(path, source, diags, true)
}

fn render_as(path: &str, source: &str, diags: &[Diagnostic], warning: bool) -> String {
    let file = SimpleFile::new(path, source);
    let config = Config::default();
    let mut out = String::new();
    let mut sorted: Vec<&Diagnostic> = diags.iter().collect();
    sorted.sort_by_key(|d| (d.span.start, d.code));
    for d in sorted {
        let span = clamp(source, d.span.clone());
        let diagnostic = if warning { CsDiagnostic::warning() } else { CsDiagnostic::error() };
        let diagnostic =
            diagnostic
                .with_code(d.code)
                .with_message(&d.message)
                .with_labels(vec![Label::primary((), span).with_message(&d.label)]);
        let mut buf = String::new();
        if term::emit_to_string(&mut buf, &config, &file, &diagnostic).is_ok() {
            out.push_str(&buf);
        } else {
            let (l, c) = line_col(source, d.span.start);
            let level = if warning { "warning" } else { "error" };
            out.push_str(&format!("{level}[{}]: {}\n  --> {path}:{l}:{c}\n", d.code, d.message));
        }
    }
    out
}

fn clamp(source: &str, span: Range<usize>) -> Range<usize> {
    let start = floor_char_boundary(source, span.start.min(source.len()));
    let end = floor_char_boundary(source, span.end.min(source.len())).max(start);
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let s = "a = 1\nbé = 2\n";
        assert_eq!(line_col(s, 0), (1, 1));
        assert_eq!(line_col(s, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_col(s, 9), (2, 3));
    }
}
