//! Waiver files (`audit --waivers FILE`): accepted exceptions to a rule, each
//! with a reason, an owner and an expiry date, read and validated like a
//! rulebook (every problem with file:line:column).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::NaiveDate;
use toml::de::DeValue;

use super::diag::{self, codes, line_col, Diagnostics};
use super::reader::{as_str, as_table, type_name, Obj};
use super::RulebookError;

const TOP_KEYS: &str = "allowed here: waiver (as [[waiver]] tables)";
const WAIVER_KEYS: &str = "allowed in a waiver: rule, group, reason, owner, expires, ticket";

/// One accepted exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiver {
    pub rule: String,
    /// Matches a group whose key holds all of these; empty: every group of the rule.
    pub group: BTreeMap<String, String>,
    pub reason: String,
    pub owner: String,
    /// The last day the waiver applies.
    pub expires: NaiveDate,
    pub ticket: Option<String>,
    /// Where the waiver starts in its file, `path:line`.
    pub location: String,
}

/// A waiver file as read.
#[derive(Debug, Clone)]
pub struct WaiverFile {
    pub path: String,
    pub sha256: String,
    pub waivers: Vec<Waiver>,
}

/// Reads and validates a waiver file against the rule ids of the rulebook.
pub fn load(path: &Path, rule_ids: &BTreeSet<String>) -> Result<WaiverFile, RulebookError> {
    let (shown, source) = super::read_source(path)?;
    parse(&shown, &source, rule_ids).map_err(|d| RulebookError::Invalid {
        path: shown.clone(),
        rendered: diag::render(&shown, &source, &d.items),
        count: d.items.len(),
        diagnostics: d.items,
    })
}

/// Validates waiver text; `path` is used in messages.
pub fn parse(path: &str, source: &str, rule_ids: &BTreeSet<String>) -> Result<WaiverFile, Diagnostics> {
    let mut d = Diagnostics::default();
    let doc = super::load::parse_toml(source, &mut d).ok_or_else(|| std::mem::take(&mut d))?;
    let root = Obj::new(doc.get_ref(), 0..source.len().max(1), "the waiver file");
    let mut waivers = Vec::new();
    if let Some(v) = root.get("waiver") {
        match v.get_ref() {
            DeValue::Array(items) => {
                for item in items.iter() {
                    if let Some(t) = as_table(&mut d, item, "each [[waiver]] entry") {
                        let (line, _) = line_col(source, item.span().start);
                        let o = Obj::new(t, item.span(), "a [[waiver]]");
                        if let Some(w) = read_waiver(&o, &mut d, rule_ids, format!("{path}:{line}")) {
                            waivers.push(w);
                        }
                        o.finish(&mut d, WAIVER_KEYS);
                    }
                }
            }
            other => d.push(
                codes::WRONG_TYPE,
                v.span(),
                "`waiver` must be an array of tables ([[waiver]])",
                format!("found {}", type_name(other)),
            ),
        }
    }
    root.finish(&mut d, TOP_KEYS);
    if !d.is_empty() {
        return Err(d);
    }
    Ok(WaiverFile { path: path.to_string(), sha256: crate::digest::sha256_bytes(source.as_bytes()), waivers })
}

fn read_waiver(o: &Obj, d: &mut Diagnostics, rule_ids: &BTreeSet<String>, location: String) -> Option<Waiver> {
    let rule = o.str(d, "rule", true);
    if let Some(r) = &rule {
        if !rule_ids.contains(r.get_ref()) {
            let known: Vec<&str> = rule_ids.iter().map(String::as_str).collect();
            d.push(
                codes::UNKNOWN_RULE,
                r.span(),
                format!("no rule `{}` in the rulebook", r.get_ref()),
                format!("rules: {}", known.join(", ")),
            );
        }
    }
    let mut group = BTreeMap::new();
    if let Some(v) = o.get("group") {
        if let Some(t) = as_table(d, v, "`group`") {
            for (k, item) in t.iter() {
                if let Some(s) = as_str(d, item, &format!("`group.{}`", k.get_ref())) {
                    group.insert(k.get_ref().to_string(), s.into_inner());
                }
            }
        }
    }
    let reason = o.str(d, "reason", true);
    let owner = o.str(d, "owner", true);
    let ticket = o.str(d, "ticket", false);
    let expires = o.date(d, "expires", true).map(|x| x.into_inner());
    for (key, value) in [("reason", &reason), ("owner", &owner)] {
        if let Some(s) = value {
            if s.get_ref().trim().is_empty() {
                d.push(codes::BAD_VALUE, s.span(), format!("`{key}` must not be empty"), "say who and why");
            }
        }
    }
    Some(Waiver {
        rule: rule?.into_inner(),
        group,
        reason: reason?.into_inner(),
        owner: owner?.into_inner(),
        expires: expires?,
        ticket: ticket.map(|t| t.into_inner()),
        location,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> BTreeSet<String> {
        ["CN-PL-01", "CN-PL-03"].into_iter().map(String::from).collect()
    }

    #[test]
    fn a_complete_waiver_is_read() {
        let src = "[[waiver]]\nrule = \"CN-PL-03\"\ngroup = { platform = \"ele_me\" }\nreason = \"r\"\n\
                   owner = \"o@x\"\nexpires = 2022-03-31\nticket = \"T-1\"\n";
        let f = parse("w.toml", src, &ids()).unwrap();
        let w = &f.waivers[0];
        assert_eq!((w.rule.as_str(), w.expires), ("CN-PL-03", NaiveDate::from_ymd_opt(2022, 3, 31).unwrap()));
        assert_eq!(w.group.get("platform").map(String::as_str), Some("ele_me"));
        assert_eq!((w.ticket.as_deref(), w.location.as_str()), (Some("T-1"), "w.toml:1"));
    }

    #[test]
    fn every_problem_is_located() {
        let src = "[[waiver]]\nrule = \"CN-XX-09\"\nreason = \"r\"\nowner = \"o\"\nexpires = \"soon\"\ncolour = 1\n";
        let d = parse("w.toml", src, &ids()).unwrap_err();
        let found: Vec<(&str, (usize, usize))> =
            d.items.iter().map(|i| (i.code, line_col(src, i.span.start))).collect();
        assert_eq!(found, [(codes::UNKNOWN_RULE, (2, 8)), (codes::BAD_VALUE, (5, 11)), (codes::UNKNOWN_KEY, (6, 1))]);
    }
}
