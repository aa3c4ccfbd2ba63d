//! Text from the data made safe for where hutong writes it: CSV cells that
//! spreadsheets would run as formulas (OWASP "CSV injection"), and control
//! characters that would drive the terminal.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};

/// `--raw-csv`: write cells exactly as found, for machine consumers.
static RAW_CSV: AtomicBool = AtomicBool::new(false);

/// Turns formula neutralisation off (or on) for every CSV hutong writes.
pub fn set_raw_csv(raw: bool) {
    RAW_CSV.store(raw, Ordering::Relaxed);
}

/// A CSV cell that a spreadsheet (Excel, WPS, LibreOffice) would not run as a
/// formula: a cell starting with `=`, `+`, `-`, `@`, a tab or a CR, also after
/// leading spaces, gets a leading `'`, unless it is a plain number (`-0.21`)
/// or `--raw-csv` is set.
pub fn csv_cell(s: &str) -> Cow<'_, str> {
    if RAW_CSV.load(Ordering::Relaxed) || !is_formula(s) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(format!("'{s}"))
    }
}

fn is_formula(s: &str) -> bool {
    let first = s.trim_start_matches(' ').chars().next();
    let risky = matches!(first, Some('=' | '+' | '-' | '@' | '\t' | '\r')) || s.starts_with(['\t', '\r']);
    risky && s.trim().parse::<f64>().map_or(true, |v| !v.is_finite())
}

/// Text for the terminal: control characters (ESC, BEL, …) shown escaped,
/// so data cannot move the cursor, recolour or ring; newlines and tabs kept.
pub fn terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(
                |c| {
                    if c.is_control() && c != '\n' && c != '\t' {
                        c.escape_unicode().to_string()
                    } else {
                        c.to_string()
                    }
                },
            )
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_numbers_are_not() {
        for bad in ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\t=1", "\r=1", "  =HYPERLINK(\"x\")"] {
            assert_eq!(csv_cell(bad), format!("'{bad}"), "{bad:?}");
        }
        for ok in ["-0.21", "+3", "12.5", "Joe's shop", "", "a=b", "-inf"] {
            let want = if ok == "-inf" { "'-inf".to_string() } else { ok.to_string() };
            assert_eq!(csv_cell(ok), want, "{ok:?}");
        }
    }

    #[test]
    fn control_characters_are_escaped_for_the_terminal() {
        assert_eq!(terminal("shop\u{1b}[31mred\u{7}"), "shop\\u{1b}[31mred\\u{7}");
        assert_eq!(terminal("a\tb\nc"), "a\tb\nc");
    }
}
