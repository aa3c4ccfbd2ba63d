//! Import profiles (`profiles/*.toml`): how one export format is read (encoding,
//! delimited or fixed-width layout, lines set aside, value cleanup, header
//! aliases), how its columns map to the data contract, and which rows are not
//! payment attempts. Read with every problem located at file:line:column.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use crate::contract::Dataset;
use crate::ingest::Offset;
use crate::rulebook::diag::{self, Diagnostics};

/// Profile diagnostic codes. Stable: a retired code is never reused.
pub mod codes {
    pub const SYNTAX: &str = "P001";
    pub const BAD_VALUE: &str = "P002";
    pub const BAD_REGEX: &str = "P003";
    pub const UNKNOWN_COLUMN: &str = "P004";
    pub const BAD_EXPRESSION: &str = "P005";
}

/// The profiles shipped with hutong, embedded in the binary: (name, text).
pub const SHIPPED: &[(&str, &str)] = &[
    ("alipay-trade-detail", include_str!("../../profiles/alipay-trade-detail.toml")),
    ("unionpay-zm", include_str!("../../profiles/unionpay-zm.toml")),
    ("wechat-trade-bill", include_str!("../../profiles/wechat-trade-bill.toml")),
];

/// A profile that cannot be used, with its problems rendered.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProfileError(pub String);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    profile: HeadToml,
    read: ReadToml,
    #[serde(default)]
    headers: BTreeMap<String, Vec<String>>,
    columns: BTreeMap<String, Spanned<ExprToml>>,
    #[serde(default)]
    route: Vec<RouteToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadToml {
    id: String,
    title: String,
    source: String,
    dataset: Spanned<String>,
    #[serde(default)]
    lacks: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadToml {
    #[serde(default)]
    encoding: Option<Spanned<String>>,
    #[serde(default)]
    layout: Option<Spanned<String>>,
    #[serde(default)]
    delimiter: Option<Spanned<String>>,
    #[serde(default)]
    value_prefix: Option<String>,
    #[serde(default)]
    trim: Option<bool>,
    #[serde(default)]
    skip: Vec<LineToml>,
    #[serde(default)]
    footer: Option<LineToml>,
    #[serde(default)]
    zip_entry: Option<Spanned<String>>,
    #[serde(default)]
    fields: Option<Spanned<Vec<(String, usize)>>>,
    #[serde(default)]
    separator: Option<usize>,
    #[serde(default)]
    file_date: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LineToml {
    pattern: Spanned<String>,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteToml {
    #[serde(default)]
    column: Option<Spanned<String>>,
    /// Set aside every row of a file whose header has this column.
    #[serde(default)]
    header_has: Option<String>,
    #[serde(default)]
    values: Vec<String>,
    /// Set aside every value but these.
    #[serde(default)]
    except: Option<Vec<String>>,
    reason: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ExprToml {
    column: Option<Spanned<String>>,
    first: Option<Vec<Spanned<String>>>,
    value: Option<String>,
    #[serde(default)]
    ignore: Vec<String>,
    map: Option<BTreeMap<String, String>>,
    divide_by: Option<Spanned<u64>>,
    format: Option<String>,
    offset: Option<Spanned<String>>,
    year: Option<Spanned<String>>,
    strip_suffix: Option<String>,
}

/// The text encoding of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Gbk,
    Gb18030,
}

/// How records are laid out in a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Fields split on `delimiter`; with `value_prefix`, on the delimiter
    /// followed by the prefix, so a delimiter inside a value stays in it.
    Delimited { delimiter: u8, value_prefix: Option<String> },
    /// Fixed byte widths, `separator` bytes between fields, no header.
    Fixed { fields: Vec<(String, usize)>, separator: usize },
}

/// Lines set aside by pattern.
#[derive(Debug, Clone)]
pub struct LineRule {
    pub pattern: Regex,
    pub reason: String,
}

/// Rows that are not payment attempts: set aside with a reason.
#[derive(Debug, Clone)]
pub struct Route {
    /// The column judged; `None` for a route on the header (`header_has`).
    pub column: Option<String>,
    /// Every row of a file whose header has this column is set aside (a
    /// refund bill's own columns, say).
    pub header_has: Option<String>,
    /// Set aside rows with one of these values...
    pub values: Vec<String>,
    /// ...or, when given, with any value but these.
    pub except: Option<Vec<String>>,
    pub reason: String,
}

impl Route {
    /// Whether a row with `value` in the route's column is set aside.
    pub fn sets_aside(&self, value: &str) -> bool {
        self.values.iter().any(|v| v == value) || self.except.as_ref().is_some_and(|e| !e.iter().any(|v| v == value))
    }
}

/// Where a contract column's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The first of these source columns that is present and not empty.
    Columns(Vec<String>),
    Constant(String),
}

/// A contract column's value from a source row.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub source: Source,
    /// Values counted as empty (e.g. WeChat's `0` sub-merchant).
    pub ignore: Vec<String>,
    pub map: Option<BTreeMap<String, String>>,
    /// Divide a decimal by this power of ten, exactly (fen → yuan: 100).
    pub divide_by: Option<u64>,
    /// A time: its `strftime` format, offset, and whether the year comes from
    /// the file's date (formats without a year).
    pub time: Option<TimeFormat>,
    pub strip_suffix: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimeFormat {
    pub format: String,
    pub offset: Offset,
    pub year_from_file: bool,
}

/// A validated import profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub id: String,
    pub title: String,
    pub source: String,
    /// Where it was read from: `shipped:<name>` or a path.
    pub origin: String,
    pub sha256: String,
    pub dataset: Dataset,
    pub encoding: Encoding,
    pub layout: Layout,
    pub trim: bool,
    pub skip: Vec<LineRule>,
    pub footer: Option<LineRule>,
    pub zip_entry: Option<Regex>,
    /// On the file name: groups `y` (2 or 4 digits), `m` and `d`.
    pub file_date: Option<Regex>,
    /// Other names of a source column (full-width brackets already fold to
    /// half-width by normalisation).
    pub headers: BTreeMap<String, Vec<String>>,
    /// Contract column → expression, in contract order.
    pub columns: Vec<(String, Expr)>,
    pub routes: Vec<Route>,
    /// Contract columns the format cannot supply.
    pub lacks: Vec<String>,
}

/// A header or column name as profiles and exports are compared: NFKC (so
/// `（元）` and `(元)` are one name), trimmed of spaces, tabs and backticks.
pub fn normalise(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    name.nfkc().collect::<String>().trim_matches(|c: char| c.is_whitespace() || c == '`').to_string()
}

/// Reads the profile a user names: a shipped name, or a path to a TOML file.
pub fn resolve(name_or_path: &str) -> Result<Profile, ProfileError> {
    if let Some((name, text)) = SHIPPED.iter().find(|(n, _)| *n == name_or_path) {
        return parse(&format!("shipped:{name}"), text);
    }
    let path = Path::new(name_or_path);
    if !path.exists() {
        let names: Vec<&str> = SHIPPED.iter().map(|(n, _)| *n).collect();
        return Err(ProfileError(format!(
            "no profile `{name_or_path}`: not a shipped profile ({}) and no such file",
            names.join(", ")
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ProfileError(format!("cannot read profile {}: {e}", path.display())))?;
    parse(&path.display().to_string(), &text)
}

fn span<T>(s: &Spanned<T>) -> Range<usize> {
    s.span()
}

/// Validates profile text; `origin` names it in messages.
pub fn parse(origin: &str, text: &str) -> Result<Profile, ProfileError> {
    let mut d = Diagnostics::default();
    let file: FileToml = match toml::from_str(text) {
        Ok(f) => f,
        Err(e) => {
            let s = e.span().unwrap_or(0..0);
            d.push(codes::SYNTAX, s, e.message().to_string(), "here");
            return Err(ProfileError(diag::render(origin, text, &d.items)));
        }
    };
    let dataset = match file.profile.dataset.get_ref().as_str() {
        "transactions" => Dataset::Transactions,
        other => {
            d.push(
                codes::BAD_VALUE,
                span(&file.profile.dataset),
                format!("`dataset = \"{other}\"`: profiles import transactions only"),
                "expected \"transactions\"",
            );
            Dataset::Transactions
        }
    };
    let contract: Vec<&str> = dataset.columns().iter().map(|c| c.name).collect();
    let encoding = match file.read.encoding.as_ref().map(|e| e.get_ref().to_ascii_lowercase()) {
        None => Encoding::Utf8,
        Some(e) if e == "utf-8" || e == "utf8" => Encoding::Utf8,
        Some(e) if e == "gbk" => Encoding::Gbk,
        Some(e) if e == "gb18030" => Encoding::Gb18030,
        Some(e) => {
            let s = file.read.encoding.as_ref().map(span).unwrap_or(0..0);
            d.push(codes::BAD_VALUE, s, format!("unknown encoding `{e}`"), "expected utf-8, gbk or gb18030");
            Encoding::Utf8
        }
    };
    let layout = read_layout(&file.read, &mut d);
    let regex = |d: &mut Diagnostics, p: &Spanned<String>| match Regex::new(p.get_ref()) {
        Ok(r) => Some(r),
        Err(e) => {
            d.push(codes::BAD_REGEX, span(p), format!("invalid regular expression: {e}"), "this pattern");
            None
        }
    };
    let skip: Vec<LineRule> = file
        .read
        .skip
        .iter()
        .filter_map(|l| Some(LineRule { pattern: regex(&mut d, &l.pattern)?, reason: l.reason.clone() }))
        .collect();
    let footer = file
        .read
        .footer
        .as_ref()
        .and_then(|l| Some(LineRule { pattern: regex(&mut d, &l.pattern)?, reason: l.reason.clone() }));
    let zip_entry = file.read.zip_entry.as_ref().and_then(|p| regex(&mut d, p));
    let file_date = file.read.file_date.as_ref().and_then(|p| {
        let r = regex(&mut d, p)?;
        let names: Vec<&str> = r.capture_names().flatten().collect();
        if !["y", "m", "d"].iter().all(|g| names.contains(g)) {
            d.push(codes::BAD_REGEX, span(p), "`file_date` needs the groups (?P<y>…), (?P<m>…) and (?P<d>…)", "here");
        }
        Some(r)
    });
    let mut columns = Vec::new();
    for (name, expr) in &file.columns {
        if !contract.contains(&name.as_str()) {
            d.push(
                codes::UNKNOWN_COLUMN,
                key_span(text, "columns", name),
                format!("`{name}` is not a {dataset} column of the data contract"),
                format!("expected one of {}", contract.join(", ")),
            );
            continue;
        }
        if let Some(e) = read_expr(expr, file.read.file_date.is_some(), &mut d) {
            columns.push((name.clone(), e));
        }
    }
    // Contract order, so the staged file reads like any other export.
    columns.sort_by_key(|(name, _)| contract.iter().position(|c| c == name));
    let mut lacks = Vec::new();
    for l in &file.profile.lacks {
        if !contract.contains(&l.get_ref().as_str()) {
            d.push(codes::UNKNOWN_COLUMN, span(l), format!("`{}` is not a contract column", l.get_ref()), "here");
        } else if file.columns.contains_key(l.get_ref()) {
            d.push(codes::BAD_VALUE, span(l), format!("`{}` is both mapped and lacking", l.get_ref()), "here");
        } else {
            lacks.push(l.get_ref().clone());
        }
    }
    for r in &file.route {
        if r.column.is_some() == r.header_has.is_some() {
            let s = r.column.as_ref().map(span).unwrap_or_else(|| key_span(text, "route", "reason"));
            d.push(codes::BAD_EXPRESSION, s, "a route needs exactly one of `column` or `header_has`", "in this route");
        }
    }
    let routes = file
        .route
        .iter()
        .map(|r| Route {
            column: r.column.as_ref().map(|c| normalise(c.get_ref())),
            header_has: r.header_has.as_ref().map(|h| normalise(h)),
            values: r.values.iter().map(|v| v.trim().to_string()).collect(),
            except: r.except.as_ref().map(|e| e.iter().map(|v| v.trim().to_string()).collect()),
            reason: r.reason.clone(),
        })
        .collect();
    if !d.is_empty() {
        return Err(ProfileError(diag::render(origin, text, &d.items)));
    }
    use sha2::Digest;
    Ok(Profile {
        id: file.profile.id,
        title: file.profile.title,
        source: file.profile.source,
        origin: origin.to_string(),
        sha256: format!("{:x}", sha2::Sha256::digest(text.as_bytes())),
        dataset,
        encoding,
        layout,
        trim: file.read.trim.unwrap_or(true),
        skip,
        footer,
        zip_entry,
        file_date,
        headers: file
            .headers
            .into_iter()
            .map(|(k, v)| (normalise(&k), v.iter().map(|x| normalise(x)).collect()))
            .collect(),
        columns,
        routes,
        lacks,
    })
}

/// The span of `key` in the `[table]` of the text, for a problem with a key
/// (TOML keys carry no span once read into a map).
fn key_span(text: &str, table: &str, key: &str) -> Range<usize> {
    let start = text.find(&format!("[{table}]")).unwrap_or(0);
    let rest = &text[start..];
    for (offset, line) in rest.split_inclusive('\n').scan(start, |pos, l| {
        let here = *pos;
        *pos += l.len();
        Some((here, l))
    }) {
        let t = line.trim_start();
        let bare = t.strip_prefix('"').unwrap_or(t);
        if bare.starts_with(key) {
            let at = offset + (line.len() - t.len());
            return at..at + key.len();
        }
    }
    start..start
}

fn read_layout(r: &ReadToml, d: &mut Diagnostics) -> Layout {
    let layout = r.layout.as_ref().map(|l| l.get_ref().as_str()).unwrap_or("delimited");
    match layout {
        "fixed" => {
            let fields = match &r.fields {
                Some(f) if !f.get_ref().is_empty() => f.get_ref().clone(),
                Some(f) => {
                    d.push(codes::BAD_VALUE, span(f), "`fields` is empty", "name each field with its width in bytes");
                    Vec::new()
                }
                None => {
                    let s = r.layout.as_ref().map(span).unwrap_or(0..0);
                    d.push(codes::BAD_VALUE, s, "a fixed layout needs `fields = [[\"name\", width], …]`", "here");
                    Vec::new()
                }
            };
            if let Some(f) = &r.fields {
                if f.get_ref().iter().any(|(_, w)| *w == 0) {
                    d.push(codes::BAD_VALUE, span(f), "a field width is 0", "widths are bytes, at least 1");
                }
            }
            Layout::Fixed {
                fields: fields.into_iter().map(|(n, w)| (normalise(&n), w)).collect(),
                separator: r.separator.unwrap_or(0),
            }
        }
        "delimited" => {
            let delimiter = match &r.delimiter {
                None => b',',
                Some(s) => match s.get_ref().as_str() {
                    "tab" | "\t" | "\\t" => b'\t',
                    one if one.len() == 1 && one.is_ascii() => one.as_bytes()[0],
                    other => {
                        d.push(
                            codes::BAD_VALUE,
                            span(s),
                            format!("delimiter `{other}` is not one ASCII character"),
                            "e.g. \",\" or \"tab\"",
                        );
                        b','
                    }
                },
            };
            Layout::Delimited { delimiter, value_prefix: r.value_prefix.clone().filter(|p| !p.is_empty()) }
        }
        other => {
            let s = r.layout.as_ref().map(span).unwrap_or(0..0);
            d.push(codes::BAD_VALUE, s, format!("unknown layout `{other}`"), "expected \"delimited\" or \"fixed\"");
            Layout::Delimited { delimiter: b',', value_prefix: None }
        }
    }
}

fn read_expr(e: &Spanned<ExprToml>, has_file_date: bool, d: &mut Diagnostics) -> Option<Expr> {
    let s = span(e);
    let x = e.get_ref();
    let sources = [x.column.is_some(), x.first.is_some(), x.value.is_some()].iter().filter(|b| **b).count();
    if sources != 1 {
        d.push(codes::BAD_EXPRESSION, s, "give exactly one of `column`, `first` or `value`", "in this mapping");
        return None;
    }
    let source = if let Some(c) = &x.column {
        Source::Columns(vec![normalise(c.get_ref())])
    } else if let Some(list) = &x.first {
        if list.is_empty() {
            d.push(codes::BAD_EXPRESSION, s, "`first` is empty", "name the source columns to try, in order");
            return None;
        }
        Source::Columns(list.iter().map(|c| normalise(c.get_ref())).collect())
    } else {
        Source::Constant(x.value.clone().unwrap_or_default())
    };
    let divide_by = match &x.divide_by {
        Some(n) if power_of_ten(*n.get_ref()) => Some(*n.get_ref()),
        Some(n) => {
            d.push(codes::BAD_EXPRESSION, span(n), "`divide_by` must be a power of ten (1, 10, 100, …)", "here");
            None
        }
        None => None,
    };
    let offset = match &x.offset {
        None => Offset::CHINA,
        Some(o) => match Offset::parse(o.get_ref()) {
            Some(off) => off,
            None => {
                d.push(codes::BAD_EXPRESSION, span(o), format!("`{}` is not a UTC offset", o.get_ref()), "e.g. +08:00");
                Offset::CHINA
            }
        },
    };
    let year_from_file = match &x.year {
        None => false,
        Some(y) if y.get_ref() == "file" => {
            if !has_file_date {
                d.push(
                    codes::BAD_EXPRESSION,
                    span(y),
                    "`year = \"file\"` needs `file_date` in [read] (or `import --file-date`)",
                    "here",
                );
            }
            true
        }
        Some(y) => {
            d.push(codes::BAD_EXPRESSION, span(y), format!("`year = \"{}\"`", y.get_ref()), "expected \"file\"");
            false
        }
    };
    let time = x.format.as_ref().map(|f| TimeFormat { format: f.clone(), offset, year_from_file });
    if time.is_none() && (x.offset.is_some() || x.year.is_some()) {
        d.push(codes::BAD_EXPRESSION, s, "`offset` and `year` need `format`", "in this mapping");
    }
    Some(Expr {
        source,
        ignore: x.ignore.clone(),
        map: x.map.clone(),
        divide_by,
        time,
        strip_suffix: x.strip_suffix.clone(),
    })
}

fn power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_profiles_are_valid() {
        for (name, text) in SHIPPED {
            let p = parse(name, text).unwrap_or_else(|e| panic!("{name}:\n{e}"));
            assert_eq!(p.id, *name);
        }
    }

    #[test]
    fn names_fold_full_width_brackets_and_backticks() {
        assert_eq!(normalise("订单金额（元）"), "订单金额(元)");
        assert_eq!(normalise("`交易时间\t"), "交易时间");
    }
}
