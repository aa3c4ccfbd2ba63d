//! Rule `where` filters: SQL boolean expressions over contract columns,
//! parsed by polars' own SQL expression parser.

use polars::prelude::*;

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
