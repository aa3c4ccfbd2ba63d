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

/// The most boolean operators and the deepest parentheses a filter may have:
/// SQL parsing and planning recurse on them, and thousands of chained ANDs
/// once overflowed the stack (an abort, not an error).
const MAX_OPERATORS: usize = 256;
const MAX_DEPTH: usize = 64;

/// Parses a filter; the error is polars' message, first line only.
pub fn parse(text: &str) -> Result<Expr, String> {
    if text.trim().is_empty() {
        return Err("the filter is empty".into());
    }
    let operators = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.eq_ignore_ascii_case("and") || w.eq_ignore_ascii_case("or") || w.eq_ignore_ascii_case("not"))
        .count();
    let depth = text
        .chars()
        .scan(0i64, |d, c| {
            *d += i64::from(c == '(') - i64::from(c == ')');
            Some(*d)
        })
        .max()
        .unwrap_or(0);
    if operators > MAX_OPERATORS || depth > MAX_DEPTH as i64 {
        return Err(format!(
            "the filter is too complex ({operators} boolean operators, parentheses {depth} deep; at most \
             {MAX_OPERATORS} and {MAX_DEPTH}): list values with IN (...) instead"
        ));
    }
    polars::sql::sql_expr(text).map_err(|e| {
        let msg = e.to_string();
        msg.lines().next().unwrap_or(&msg).trim().to_string()
    })
}

/// Checks a filter against the dataset's typed columns, as the engine sees
/// them (timestamps are UTC microseconds): it must run and give a boolean.
/// The error: a message and a hint.
pub fn type_check(expr: &Expr, ds: crate::contract::Dataset) -> Result<(), (String, String)> {
    let schema: Schema =
        ds.columns().iter().map(|c| Field::new(c.name.into(), crate::ingest::validate::typed_dtype(c.kind))).collect();
    let empty = DataFrame::empty_with_schema(&schema).lazy();
    let time_hint = || {
        if columns(expr).iter().any(|c| c == "ts") {
            "`ts` holds UTC microseconds: restrict time with the rule's `effective` date or `audit --from / --to`"
                .to_string()
        } else {
            "compare columns with values of their type (docs/data-contract.md)".to_string()
        }
    };
    let first_line = |e: PolarsError| {
        let msg = e.to_string();
        msg.lines().next().unwrap_or(&msg).trim().to_string()
    };
    match empty.select([expr.clone().alias("__where")]).collect() {
        Err(e) => Err((format!("`where` does not type-check: {}", first_line(e)), time_hint())),
        Ok(df) => match df.column("__where").map(|c| c.dtype().clone()) {
            Ok(DataType::Boolean) => Ok(()),
            Ok(other) => Err((
                format!("`where` is not a boolean expression: it gives {other}"),
                "e.g. channel = 'online'".into(),
            )),
            Err(e) => Err((format!("`where` does not type-check: {}", first_line(e)), time_hint())),
        },
    }
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
        let deep = vec!["platform = 'taobao'"; 5000].join(" AND ");
        assert!(parse(&deep).unwrap_err().contains("too complex (4999 boolean operators"));
        let nested = format!("{}platform = 'x'{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&nested).unwrap_err().contains("parentheses 100 deep"));
    }
}
