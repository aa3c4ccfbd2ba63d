//! Rule `where` filters: SQL boolean expressions over contract columns,
//! parsed by polars' own SQL expression parser once, when the rulebook is
//! read, and kept beside their text.

use polars::prelude::*;

/// A parsed `where` filter.
#[derive(Clone)]
pub struct Filter {
    /// As written in the rulebook.
    pub text: String,
    pub expr: Expr,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl serde::Serialize for Filter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// Parses a filter; the error is polars' message, first line only.
pub fn parse(text: &str) -> Result<Expr, String> {
    if text.trim().is_empty() {
        return Err("the filter is empty".into());
    }
    polars::sql::sql_expr(text).map_err(|e| {
        let msg = e.to_string();
        msg.lines().next().unwrap_or(&msg).trim().to_string()
    })
}

/// The column names a filter refers to, sorted and deduplicated.
pub fn columns(expr: &Expr) -> Vec<String> {
    let mut names: Vec<String> = expr.clone().meta().root_names().into_iter().map(|n| n.to_string()).collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_lists_columns() {
        let e = parse("platform IN ('taobao','tmall') AND channel = 'online'").unwrap();
        assert_eq!(columns(&e), ["channel", "platform"]);
        assert!(parse("platform IN (").is_err());
        assert!(parse("").is_err());
    }
}
