//! Reads a rulebook's TOML into the validated model, collecting every
//! problem (with its span) instead of stopping at the first.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use regex::Regex;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::diag::{codes, Diagnostics};
use super::model::*;
use crate::contract::Dataset;

type Value<'i> = Spanned<DeValue<'i>>;

/// A TOML table being read: remembers which keys were used, so the rest can
/// be reported as unknown.
struct Obj<'a, 'i> {
    table: &'a DeTable<'i>,
    span: Range<usize>,
    what: String,
    used: RefCell<BTreeSet<String>>,
}

impl<'a, 'i> Obj<'a, 'i> {
    fn new(table: &'a DeTable<'i>, span: Range<usize>, what: impl Into<String>) -> Self {
        Obj { table, span, what: what.into(), used: RefCell::new(BTreeSet::new()) }
    }

    fn get(&self, key: &str) -> Option<&'a Value<'i>> {
        self.used.borrow_mut().insert(key.to_string());
        self.table.iter().find(|(k, _)| k.get_ref().as_ref() == key).map(|(_, v)| v)
    }

    fn missing(&self, d: &mut Diagnostics, key: &str) {
        d.push(
            codes::MISSING_KEY,
            self.head(),
            format!("{} lacks required key `{key}`", self.what),
            format!("add `{key} = ...` here"),
        );
    }

    /// The span to point at for the table as a whole: its first line.
    fn head(&self) -> Range<usize> {
        self.span.start..self.span.start + 1
    }

    fn str(&self, d: &mut Diagnostics, key: &str, required: bool) -> Option<Spanned<String>> {
        match self.get(key) {
            None => {
                if required {
                    self.missing(d, key);
                }
                None
            }
            Some(v) => as_str(d, v, &format!("`{key}`")),
        }
    }

    fn f64(&self, d: &mut Diagnostics, key: &str) -> Option<Spanned<f64>> {
        let v = self.get(key)?;
        let num = match v.get_ref() {
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            DeValue::Integer(i) => parse_int(i.as_str(), i.radix()).map(|i| i as f64),
            _ => None,
        };
        if num.is_none() {
            d.push(
                codes::WRONG_TYPE,
                v.span(),
                format!("`{key}` must be a number"),
                format!("found {}", type_name(v.get_ref())),
            );
        }
        num.map(|n| Spanned::new(v.span(), n))
    }

    fn int(&self, d: &mut Diagnostics, key: &str) -> Option<Spanned<i64>> {
        let v = self.get(key)?;
        let num = match v.get_ref() {
            DeValue::Integer(i) => parse_int(i.as_str(), i.radix()),
            _ => None,
        };
        if num.is_none() {
            d.push(
                codes::WRONG_TYPE,
                v.span(),
                format!("`{key}` must be a whole number"),
                format!("found {}", type_name(v.get_ref())),
            );
        }
        num.map(|n| Spanned::new(v.span(), n))
    }

    fn bool(&self, d: &mut Diagnostics, key: &str) -> Option<bool> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                d.push(
                    codes::WRONG_TYPE,
                    v.span(),
                    format!("`{key}` must be true or false"),
                    format!("found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// A list of strings, or a string naming a set from `[sets]`.
    fn list(
        &self,
        d: &mut Diagnostics,
        key: &str,
        sets: &BTreeMap<String, Vec<Spanned<String>>>,
    ) -> Option<Spanned<Vec<Spanned<String>>>> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::String(name) => match sets.get(name.as_ref()) {
                Some(members) => Some(Spanned::new(
                    v.span(),
                    members.iter().map(|m| Spanned::new(v.span(), m.get_ref().clone())).collect(),
                )),
                None => {
                    let known: Vec<&str> = sets.keys().map(String::as_str).collect();
                    d.push(
                        codes::UNKNOWN_SET,
                        v.span(),
                        format!("unknown set `{name}`"),
                        if known.is_empty() {
                            "no [sets] are defined".to_string()
                        } else {
                            format!("known sets: {}", known.join(", "))
                        },
                    );
                    None
                }
            },
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for item in items.iter() {
                    out.push(as_str(d, item, &format!("items of `{key}`"))?);
                }
                Some(Spanned::new(v.span(), out))
            }
            other => {
                d.push(
                    codes::WRONG_TYPE,
                    v.span(),
                    format!("`{key}` must be a list of strings or the name of a set"),
                    format!("found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// Reports every key that was never asked for.
    fn finish(&self, d: &mut Diagnostics, hint: &str) {
        let used = self.used.borrow();
        for (k, _) in self.table.iter() {
            let key = k.get_ref().as_ref();
            if !used.contains(key) {
                d.push(codes::UNKNOWN_KEY, k.span(), format!("unknown key `{key}` in {}", self.what), hint.to_string());
            }
        }
    }
}

fn parse_int(text: &str, radix: u32) -> Option<i64> {
    let clean = text.replace('_', "");
    let digits = clean.trim_start_matches("0x").trim_start_matches("0o").trim_start_matches("0b");
    i64::from_str_radix(digits, radix).ok()
}

fn type_name(v: &DeValue) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn as_str(d: &mut Diagnostics, v: &Value, what: &str) -> Option<Spanned<String>> {
    match v.get_ref() {
        DeValue::String(s) => Some(Spanned::new(v.span(), s.to_string())),
        other => {
            d.push(
                codes::WRONG_TYPE,
                v.span(),
                format!("{what} must be a string"),
                format!("found {}", type_name(other)),
            );
            None
        }
    }
}

fn as_table<'a, 'i>(d: &mut Diagnostics, v: &'a Value<'i>, what: &str) -> Option<&'a DeTable<'i>> {
    match v.get_ref() {
        DeValue::Table(t) => Some(t),
        other => {
            d.push(
                codes::WRONG_TYPE,
                v.span(),
                format!("{what} must be a table"),
                format!("found {}", type_name(other)),
            );
            None
        }
    }
}

const TOP_KEYS: &str = "allowed here: rulebook, providers, platforms, sets, failure_codes, rules";
const META_KEYS: &str = "allowed in [rulebook]: id, title, version, jurisdiction, effective, sources, note";
const PROVIDER_KEYS: &str = "allowed in a provider: name, operator, kind, aliases, affiliated_platforms, priority";
const PLATFORM_KEYS: &str = "allowed in a platform: name, aliases";
const PROVIDER_KINDS: [&str; 4] = ["wallet", "bank", "card_scheme", "cbdc"];

/// Parses and validates a rulebook. On failure, every problem found.
pub fn parse(path: &str, source: &str) -> Result<Rulebook, Diagnostics> {
    let mut d = Diagnostics::default();
    let (doc, errors) = DeTable::parse_recoverable(source);
    for e in &errors {
        let span = e.span().unwrap_or(0..0);
        d.push(codes::SYNTAX, span, format!("TOML syntax: {}", e.message().trim()), "here");
    }
    if !errors.is_empty() {
        return Err(d);
    }
    let root = Obj::new(doc.get_ref(), 0..source.len().max(1), "the rulebook");
    let meta = read_meta(&root, &mut d);
    let sets = read_sets(&root, &mut d);
    let (providers, alias_spans) = read_providers(&root, &mut d);
    let platforms = read_platforms(&root, &mut d);
    let failure_codes = read_failure_codes(&root, &mut d);
    let provider_ids: BTreeSet<String> = providers.iter().map(|p| p.id.clone()).collect();
    let rules = read_rules(&root, &mut d, &sets, &provider_ids, source);
    root.finish(&mut d, TOP_KEYS);
    if !d.is_empty() {
        return Err(d);
    }
    let Some(meta) = meta else { return Err(d) };
    let mut rb = Rulebook {
        path: path.to_string(),
        sha256: crate::digest::sha256_bytes(source.as_bytes()),
        meta,
        providers,
        platforms,
        sets: sets.into_iter().map(|(k, v)| (k, v.into_iter().map(Spanned::into_inner).collect())).collect(),
        failure_codes,
        rules,
        warnings: Vec::new(),
    };
    check_overlaps(&rb, &alias_spans, &mut d);
    rb.warnings =
        d.warnings.iter().map(|w| super::diag::render_warnings(path, source, std::slice::from_ref(w))).collect();
    Ok(rb)
}

/// Warns where the taxonomy would map a provider's own name to another
/// provider, or cannot decide between several: the aliases overlap in a way
/// the precedence rules do not settle. (A label equal to an id always maps to
/// it, so ids need no probe.)
fn check_overlaps(rb: &Rulebook, alias_spans: &BTreeMap<String, Range<usize>>, d: &mut Diagnostics) {
    let Ok(tax) = super::Taxonomy::new(rb) else { return };
    for p in &rb.providers {
        {
            let probe = &p.name;
            let span = alias_spans.get(&p.id).cloned().unwrap_or(0..0);
            match tax.map(probe) {
                Ok(Some(other)) if other != p.id => d.warn(
                    codes::AMBIGUOUS_ALIAS,
                    span,
                    format!("provider `{}`'s own name `{probe}` maps to `{other}`", p.id),
                    "an alias of another provider matches it more specifically; tighten that alias or set `priority`",
                ),
                Err(e) => d.warn(
                    codes::AMBIGUOUS_ALIAS,
                    span,
                    format!("`{probe}` matches the aliases of {} equally well", e.providers.join(" and ")),
                    "such labels are reported as ambiguous and left unmapped; anchor an alias or set `priority`",
                ),
                _ => {}
            }
        }
    }
}

fn read_platforms(root: &Obj, d: &mut Diagnostics) -> Vec<Platform> {
    let mut out = Vec::new();
    let Some(v) = root.get("platforms") else { return out };
    let Some(t) = as_table(d, v, "[platforms]") else { return out };
    for (k, v) in t.iter() {
        let id = k.get_ref().to_string();
        let Some(pt) = as_table(d, v, &format!("platform `{id}`")) else { continue };
        let o = Obj::new(pt, k.span(), format!("platform `{id}`"));
        let name = o.str(d, "name", false);
        let aliases = o.list(d, "aliases", &BTreeMap::new()).map(Spanned::into_inner).unwrap_or_default();
        let aliases = aliases.into_iter().filter_map(|a| compile_alias(d, &id, a)).collect();
        o.finish(d, PLATFORM_KEYS);
        out.push(Platform { id: id.clone(), name: name.map(Spanned::into_inner).unwrap_or(id), aliases });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// `[failure_codes]`: class = [codes]; codes are compared after normalising.
fn read_failure_codes(root: &Obj, d: &mut Diagnostics) -> BTreeMap<FailureClass, Vec<String>> {
    let mut out = BTreeMap::new();
    let Some(v) = root.get("failure_codes") else { return out };
    let Some(t) = as_table(d, v, "[failure_codes]") else { return out };
    let o = Obj::new(t, v.span(), "[failure_codes]");
    for (k, _) in t.iter() {
        let name = k.get_ref().to_string();
        let Some(class) = FailureClass::parse(&name) else {
            o.get(&name);
            let names: Vec<&str> = FailureClass::ALL.iter().map(|c| c.name()).collect();
            d.push(
                codes::UNKNOWN_FAILURE_CLASS,
                k.span(),
                format!("unknown failure class `{name}`"),
                format!("expected one of {}", names.join(", ")),
            );
            continue;
        };
        if let Some(list) = o.list(d, &name, &BTreeMap::new()) {
            let codes: Vec<String> =
                list.into_inner().into_iter().map(|c| super::taxonomy::normalize(c.get_ref())).collect();
            out.insert(class, codes);
        }
    }
    out
}

/// Compiles one alias, reporting a bad or empty-matching pattern; warns where
/// the alias holds characters that normalised labels never contain.
fn compile_alias(d: &mut Diagnostics, owner: &str, a: Spanned<String>) -> Option<String> {
    match Regex::new(&format!("(?i){}", a.get_ref())) {
        Ok(re) => {
            if re.is_match("") {
                d.push(
                    codes::EMPTY_MATCH,
                    a.span(),
                    format!("alias `{}` of `{owner}` matches the empty string", a.get_ref()),
                    "it would match every label; anchor or tighten it",
                );
                return None;
            }
            // `_` never survives normalisation, so an alias holding one
            // cannot match (`-` and `.` have regex meanings and are left be).
            if a.get_ref().contains('_') {
                d.warn(
                    codes::ALIAS_NORMALISED,
                    a.span(),
                    format!("alias `{}` of `{owner}` contains `_`", a.get_ref()),
                    "labels are normalised before matching (`_`, `-`, `.` become one space): write ` ?` instead",
                );
            }
            Some(a.into_inner())
        }
        Err(e) => {
            d.push(
                codes::BAD_REGEX,
                a.span(),
                format!("alias of `{owner}` is not a valid regular expression"),
                first_line(&e.to_string()),
            );
            None
        }
    }
}

fn read_meta(root: &Obj, d: &mut Diagnostics) -> Option<Meta> {
    let Some(v) = root.get("rulebook") else {
        root.missing(d, "rulebook");
        return None;
    };
    let t = as_table(d, v, "[rulebook]")?;
    let o = Obj::new(t, v.span(), "[rulebook]");
    let id = o.str(d, "id", true);
    let title = o.str(d, "title", true);
    let version = o.str(d, "version", true);
    let jurisdiction = o.str(d, "jurisdiction", true);
    let effective = match o.get("effective") {
        Some(v) => match v.get_ref() {
            DeValue::Datetime(dt) => Some(dt.to_string()),
            DeValue::String(s) => Some(s.to_string()),
            other => {
                d.push(
                    codes::WRONG_TYPE,
                    v.span(),
                    "`effective` must be a date",
                    format!("found {}", type_name(other)),
                );
                None
            }
        },
        None => {
            o.missing(d, "effective");
            None
        }
    };
    let sources =
        o.list(d, "sources", &BTreeMap::new()).map(|l| l.into_inner().into_iter().map(Spanned::into_inner).collect());
    let note = o.str(d, "note", false);
    o.finish(d, META_KEYS);
    Some(Meta {
        id: id?.into_inner(),
        title: title?.into_inner(),
        version: version?.into_inner(),
        jurisdiction: jurisdiction?.into_inner(),
        effective: effective?,
        sources: sources.unwrap_or_default(),
        note: note.map(Spanned::into_inner).unwrap_or_else(|| {
            "Thresholds marked as engineering defaults are not set by law; adjust them to the case.".into()
        }),
    })
}

fn read_sets(root: &Obj, d: &mut Diagnostics) -> BTreeMap<String, Vec<Spanned<String>>> {
    let mut out = BTreeMap::new();
    let Some(v) = root.get("sets") else { return out };
    let Some(t) = as_table(d, v, "[sets]") else { return out };
    for (k, v) in t.iter() {
        let name = k.get_ref().to_string();
        match v.get_ref() {
            DeValue::Array(items) => {
                let members: Vec<Spanned<String>> =
                    items.iter().filter_map(|i| as_str(d, i, &format!("members of set `{name}`"))).collect();
                out.insert(name, members);
            }
            other => d.push(
                codes::WRONG_TYPE,
                v.span(),
                format!("set `{name}` must be a list of strings"),
                format!("found {}", type_name(other)),
            ),
        }
    }
    out
}

/// The providers, and where each provider's aliases are (for warnings).
fn read_providers(root: &Obj, d: &mut Diagnostics) -> (Vec<Provider>, BTreeMap<String, Range<usize>>) {
    let mut out = Vec::new();
    let mut spans = BTreeMap::new();
    let Some(v) = root.get("providers") else {
        root.missing(d, "providers");
        return (out, spans);
    };
    let Some(t) = as_table(d, v, "[providers]") else { return (out, spans) };
    let mut platform_owner: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in t.iter() {
        let id = k.get_ref().to_string();
        let Some(pt) = as_table(d, v, &format!("provider `{id}`")) else { continue };
        let o = Obj::new(pt, k.span(), format!("provider `{id}`"));
        let name = o.str(d, "name", true);
        let operator = o.str(d, "operator", false);
        let kind = o.str(d, "kind", false);
        if let Some(k) = &kind {
            if !PROVIDER_KINDS.contains(&k.get_ref().as_str()) {
                d.push(
                    codes::BAD_VALUE,
                    k.span(),
                    format!("provider `{id}`: unknown kind `{}`", k.get_ref()),
                    format!("expected one of {}", PROVIDER_KINDS.join(", ")),
                );
            }
        }
        let priority = o.int(d, "priority").map_or(0, |p| *p.get_ref());
        let aliases = o.list(d, "aliases", &BTreeMap::new());
        match &aliases {
            None => o.missing(d, "aliases"),
            Some(list) => {
                spans.insert(id.clone(), list.span());
            }
        }
        let alias_texts: Vec<String> = aliases
            .map(Spanned::into_inner)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|a| compile_alias(d, &id, a))
            .collect();
        let affiliated =
            o.list(d, "affiliated_platforms", &BTreeMap::new()).map(Spanned::into_inner).unwrap_or_default();
        for p in &affiliated {
            if let Some(prev) = platform_owner.insert(p.get_ref().clone(), id.clone()) {
                if prev != id {
                    d.push(
                        codes::BAD_VALUE,
                        p.span(),
                        format!("platform `{}` is affiliated with both `{prev}` and `{id}`", p.get_ref()),
                        "a platform has at most one affiliated provider",
                    );
                }
            }
        }
        o.finish(d, PROVIDER_KEYS);
        out.push(Provider {
            id: id.clone(),
            name: name.map(Spanned::into_inner).unwrap_or_else(|| id.clone()),
            operator: operator.map(Spanned::into_inner).unwrap_or_default(),
            kind: kind.map(Spanned::into_inner).unwrap_or_else(|| "wallet".into()),
            aliases: alias_texts,
            affiliated_platforms: affiliated.into_iter().map(Spanned::into_inner).collect(),
            priority,
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    (out, spans)
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

/// Keys every rule may have, before its kind's parameters.
const COMMON_RULE_KEYS: &[&str] =
    &["id", "title", "kind", "severity", "citation", "rationale", "where", "engineering_default"];

fn kind_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "coverage" => &["unit", "provider", "providers", "relative", "min_share", "min_ratio", "by", "alpha"],
        "acceptance" => &["regions", "providers", "min_attempts", "min_success", "alpha"],
        "reciprocity" => &["regions", "providers", "max_gap", "alpha"],
        "exclusivity" => &["max_merchants", "min_sessions"],
        "concentration" => &["by", "measure", "mode", "max_hhi", "max_unmapped"],
        "parity" => &[
            "metric",
            "rivals",
            "min_ratio",
            "max_ratio",
            "max_difference",
            "min_difference",
            "alpha",
            "min_n",
            "failures",
            "funded_by",
        ],
        _ => &[],
    }
}

const KINDS: [&str; 6] = ["coverage", "acceptance", "reciprocity", "exclusivity", "concentration", "parity"];

fn read_rules(
    root: &Obj,
    d: &mut Diagnostics,
    sets: &BTreeMap<String, Vec<Spanned<String>>>,
    providers: &BTreeSet<String>,
    source: &str,
) -> Vec<Rule> {
    let mut out = Vec::new();
    let Some(v) = root.get("rules") else {
        root.missing(d, "rules");
        return out;
    };
    let DeValue::Array(items) = v.get_ref() else {
        d.push(
            codes::WRONG_TYPE,
            v.span(),
            "`rules` must be an array of tables ([[rules]])",
            format!("found {}", type_name(v.get_ref())),
        );
        return out;
    };
    let mut seen: BTreeMap<String, Range<usize>> = BTreeMap::new();
    for item in items.iter() {
        let Some(t) = as_table(d, item, "each [[rules]] entry") else { continue };
        let head = item.span();
        let id = Obj::new(t, head.clone(), "a rule").get("id").and_then(|v| match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => None,
        });
        let what = id.as_ref().map_or_else(|| "a rule".to_string(), |i| format!("rule {i}"));
        let o = Obj::new(t, head.clone(), what.clone());
        // Duplicates are checked on the raw id, so a rule with other problems
        // is still compared.
        if let (Some(id), Some(id_value)) = (&id, o.get("id")) {
            if let Some(prev) = seen.get(id) {
                let (l, _) = super::diag::line_col(source, prev.start);
                d.push(
                    codes::DUPLICATE_ID,
                    id_value.span(),
                    format!("duplicate rule id `{id}`"),
                    format!("first defined on line {l}"),
                );
            } else {
                seen.insert(id.clone(), id_value.span());
            }
        }
        if let Some(rule) = read_rule(&o, d, sets, providers, source) {
            out.push(rule);
        }
    }
    out
}

fn read_rule(
    o: &Obj,
    d: &mut Diagnostics,
    sets: &BTreeMap<String, Vec<Spanned<String>>>,
    providers: &BTreeSet<String>,
    source: &str,
) -> Option<Rule> {
    let id = o.str(d, "id", true);
    let title = o.str(d, "title", true);
    let citation = o.str(d, "citation", true);
    let rationale = o.str(d, "rationale", true);
    let severity = o.str(d, "severity", true).and_then(|s| {
        let sev = Severity::parse(s.get_ref());
        if sev.is_none() {
            d.push(
                codes::BAD_VALUE,
                s.span(),
                format!("unknown severity `{}`", s.get_ref()),
                format!("expected one of {}", Severity::NAMES.join(", ")),
            );
        }
        sev
    });
    let kind = o.str(d, "kind", true).and_then(|k| {
        if KINDS.contains(&k.get_ref().as_str()) {
            Some(k)
        } else {
            d.push(
                codes::BAD_VALUE,
                k.span(),
                format!("unknown rule kind `{}`", k.get_ref()),
                format!("expected one of {}", KINDS.join(", ")),
            );
            None
        }
    });
    let engineering_default = o.bool(d, "engineering_default").unwrap_or(false);
    let kind_name = kind.as_ref().map(|k| k.get_ref().clone());
    let dataset = kind_name.as_deref().map(|k| kind_dataset(k, o));
    let filter = o.str(d, "where", false).and_then(|w| {
        check_filter(d, &w, dataset.flatten()).map(|expr| super::filter::Filter { text: w.into_inner(), expr })
    });
    let spec = kind_name.as_deref().and_then(|k| read_spec(k, o, d, sets, providers));
    let allowed: Vec<&str> =
        COMMON_RULE_KEYS.iter().chain(kind_name.as_deref().map_or(&[][..], kind_keys)).copied().collect();
    o.finish(d, &format!("allowed for this kind: {}", allowed.join(", ")));
    let line = super::diag::line_col(source, o.span.start).0;
    Some(Rule {
        id: id?.into_inner(),
        title: title?.into_inner(),
        severity: severity?,
        citation: citation?.into_inner(),
        rationale: rationale?.into_inner(),
        filter,
        engineering_default,
        spec: spec?,
        line,
    })
}

/// The dataset a rule kind reads (parity depends on its metric).
fn kind_dataset(kind: &str, o: &Obj) -> Option<Dataset> {
    let metric = o.table.iter().find(|(k, _)| k.get_ref().as_ref() == "metric").and_then(|(_, v)| match v.get_ref() {
        DeValue::String(s) => Metric::parse(s),
        _ => None,
    });
    super::model::kind_dataset(kind, metric)
}

/// Parses a `where` filter with polars' SQL expression parser and checks that
/// it names only contract columns of the rule's dataset.
fn check_filter(d: &mut Diagnostics, w: &Spanned<String>, dataset: Option<Dataset>) -> Option<polars::prelude::Expr> {
    // Point inside the quotes when the string is a plain one-line literal.
    let span = w.span();
    let inner =
        if span.end - span.start >= w.get_ref().len() + 2 { span.start + 1..span.end - 1 } else { span.clone() };
    let expr = match super::filter::parse(w.get_ref()) {
        Ok(e) => e,
        Err(msg) => {
            d.push(codes::BAD_FILTER, inner, "`where` is not a valid SQL boolean expression", msg);
            return None;
        }
    };
    let Some(ds) = dataset else { return Some(expr) };
    let mut ok = true;
    for name in super::filter::columns(&expr) {
        if ds.column(&name).is_none() {
            let names: Vec<&str> = ds.columns().iter().map(|c| c.name).collect();
            // SQL reads "x" as a column name: a string written in double
            // quotes shows up here.
            let hint = if w.get_ref().contains(&format!("\"{name}\"")) {
                format!("SQL strings take single quotes: '{name}'")
            } else {
                format!("columns: {}", names.join(", "))
            };
            d.push(
                codes::BAD_FILTER,
                inner.clone(),
                format!("`where` names column `{name}`, which is not in the {ds} contract"),
                hint,
            );
            ok = false;
        }
    }
    ok.then_some(expr)
}

fn providers_param(
    o: &Obj,
    d: &mut Diagnostics,
    key: &str,
    sets: &BTreeMap<String, Vec<Spanned<String>>>,
    providers: &BTreeSet<String>,
) -> Option<Vec<String>> {
    let list = o.list(d, key, sets)?;
    let mut ok = true;
    for p in list.get_ref() {
        if !providers.contains(p.get_ref()) {
            let known: Vec<&str> = providers.iter().map(String::as_str).collect();
            d.push(
                codes::UNKNOWN_PROVIDER,
                p.span(),
                format!("unknown provider `{}`", p.get_ref()),
                format!("known providers: {}", known.join(", ")),
            );
            ok = false;
        }
    }
    if list.get_ref().is_empty() {
        d.push(codes::BAD_VALUE, list.span(), format!("`{key}` is empty"), "name at least one provider");
        ok = false;
    }
    ok.then(|| list.into_inner().into_iter().map(Spanned::into_inner).collect())
}

fn share(o: &Obj, d: &mut Diagnostics, key: &str) -> Option<f64> {
    let v = o.f64(d, key)?;
    in_range(d, &v, key, 0.0, 1.0, "a share between 0 and 1")
}

fn in_range(d: &mut Diagnostics, v: &Spanned<f64>, key: &str, lo: f64, hi: f64, what: &str) -> Option<f64> {
    let x = *v.get_ref();
    if !(lo..=hi).contains(&x) || x.is_nan() {
        d.push(codes::OUT_OF_RANGE, v.span(), format!("`{key}` = {x} is out of range"), format!("expected {what}"));
        return None;
    }
    Some(x)
}

fn count(o: &Obj, d: &mut Diagnostics, key: &str) -> Option<u64> {
    let v = o.int(d, key)?;
    if *v.get_ref() < 0 {
        d.push(
            codes::OUT_OF_RANGE,
            v.span(),
            format!("`{key}` = {} is negative", v.get_ref()),
            "expected a count >= 0",
        );
        return None;
    }
    Some(*v.get_ref() as u64)
}

fn required<T>(o: &Obj, d: &mut Diagnostics, key: &str, v: Option<T>) -> Option<T> {
    if v.is_none() && o.get(key).is_none() {
        o.missing(d, key);
    }
    v
}

/// `alpha`: the family-wise error rate of a rule's verdicts, default 0.05.
fn alpha(o: &Obj, d: &mut Diagnostics) -> Option<f64> {
    match o.f64(d, "alpha") {
        Some(a) => in_range(d, &a, "alpha", f64::MIN_POSITIVE, 0.5, "a significance level in (0, 0.5]"),
        None if o.get("alpha").is_some() => None,
        None => Some(0.05),
    }
}

/// An optional count with a default; `min` is the smallest sensible value.
fn count_or(o: &Obj, d: &mut Diagnostics, key: &str, default: u64, min: u64) -> Option<u64> {
    if o.get(key).is_none() {
        return Some(default);
    }
    let v = o.int(d, key)?;
    if *v.get_ref() < min as i64 {
        d.push(
            codes::OUT_OF_RANGE,
            v.span(),
            format!("`{key}` = {} is too small", v.get_ref()),
            format!("`{key}` must be >= {min}"),
        );
        return None;
    }
    Some(*v.get_ref() as u64)
}

fn read_spec(
    kind: &str,
    o: &Obj,
    d: &mut Diagnostics,
    sets: &BTreeMap<String, Vec<Spanned<String>>>,
    providers: &BTreeSet<String>,
) -> Option<RuleSpec> {
    match kind {
        "coverage" => {
            let unit = match o.str(d, "unit", false) {
                None => Some(Unit::Merchant),
                Some(u) => match u.get_ref().as_str() {
                    "merchant" => Some(Unit::Merchant),
                    "session" => Some(Unit::Session),
                    other => {
                        d.push(
                            codes::BAD_VALUE,
                            u.span(),
                            format!("unknown unit `{other}`"),
                            "expected merchant or session",
                        );
                        None
                    }
                },
            };
            let relative = o.bool(d, "relative").unwrap_or(false);
            let list = if o.table.iter().any(|(k, _)| k.get_ref().as_ref() == "provider") {
                o.str(d, "provider", false).and_then(|p| {
                    if providers.contains(p.get_ref()) {
                        Some(vec![p.into_inner()])
                    } else {
                        d.push(
                            codes::UNKNOWN_PROVIDER,
                            p.span(),
                            format!("unknown provider `{}`", p.get_ref()),
                            "not in [providers]",
                        );
                        None
                    }
                })
            } else {
                let p = providers_param(o, d, "providers", sets, providers);
                required(o, d, "provider", p)
            };
            let by_region =
                read_by(o, d, &["platform", "region"], &["platform"]).map(|b| b.iter().any(|b| b == "region"));
            let min = if relative {
                let v = o.f64(d, "min_ratio");
                let v = v.and_then(|v| in_range(d, &v, "min_ratio", 0.0, 1.0, "a ratio between 0 and 1"));
                required(o, d, "min_ratio", v)
            } else {
                let v = share(o, d, "min_share");
                required(o, d, "min_share", v)
            };
            let alpha = alpha(o, d);
            Some(RuleSpec::Coverage(CoverageSpec {
                unit: unit?,
                providers: list?,
                relative,
                min: min?,
                by_region: by_region?,
                alpha: alpha?,
            }))
        }
        "acceptance" | "reciprocity" => {
            let regions = o
                .list(d, "regions", sets)
                .map(|l| l.into_inner().into_iter().map(Spanned::into_inner).collect::<Vec<_>>());
            let regions = required(o, d, "regions", regions);
            let list = providers_param(o, d, "providers", sets, providers);
            let list = required(o, d, "providers", list);
            let alpha = alpha(o, d);
            if kind == "acceptance" {
                let min_attempts = count_or(o, d, "min_attempts", 100, 1);
                let min_success = match o.get("min_success") {
                    None => Some(0.95),
                    Some(_) => share(o, d, "min_success"),
                };
                Some(RuleSpec::Acceptance(AcceptanceSpec {
                    regions: regions?,
                    providers: list?,
                    min_attempts: min_attempts?,
                    min_success: min_success?,
                    alpha: alpha?,
                }))
            } else {
                let max_gap = match o.f64(d, "max_gap") {
                    Some(v) => fraction(d, &v, "max_gap"),
                    None if o.get("max_gap").is_some() => None,
                    None => Some(0.05),
                };
                Some(RuleSpec::Reciprocity(ReciprocitySpec {
                    regions: regions?,
                    providers: list?,
                    max_gap: max_gap?,
                    alpha: alpha?,
                }))
            }
        }
        "exclusivity" => {
            let max = if o.get("max_merchants").is_some() { count(o, d, "max_merchants") } else { Some(0) };
            let min_sessions = count_or(o, d, "min_sessions", 5, 1);
            Some(RuleSpec::Exclusivity(ExclusivitySpec { max_merchants: max?, min_sessions: min_sessions? }))
        }
        "concentration" => {
            let by = read_by(o, d, &["channel", "platform", "region"], &["channel"]);
            let measure = match o.str(d, "measure", false) {
                None => Some(Measure::Count),
                Some(m) => match m.get_ref().as_str() {
                    "count" => Some(Measure::Count),
                    "amount" => Some(Measure::Amount),
                    other => {
                        d.push(
                            codes::BAD_VALUE,
                            m.span(),
                            format!("unknown measure `{other}`"),
                            "expected count or amount",
                        );
                        None
                    }
                },
            };
            let mode = match o.str(d, "mode", false) {
                None => Some("hhi".to_string()),
                Some(m) if ["hhi", "dominance"].contains(&m.get_ref().as_str()) => Some(m.into_inner()),
                Some(m) => {
                    d.push(
                        codes::BAD_VALUE,
                        m.span(),
                        format!("unknown mode `{}`", m.get_ref()),
                        "expected hhi or dominance",
                    );
                    None
                }
            };
            let mode = match mode.as_deref() {
                Some("hhi") => {
                    let v = o.f64(d, "max_hhi");
                    let v = v.and_then(|v| in_range(d, &v, "max_hhi", 0.0, 10_000.0, "an HHI between 0 and 10,000"));
                    required(o, d, "max_hhi", v).map(|max_hhi| ConcentrationMode::Hhi { max_hhi })
                }
                Some(_) => Some(ConcentrationMode::Dominance),
                None => None,
            };
            let max_unmapped = match o.f64(d, "max_unmapped") {
                Some(v) => fraction(d, &v, "max_unmapped"),
                None if o.get("max_unmapped").is_some() => None,
                None => Some(0.05),
            };
            Some(RuleSpec::Concentration(ConcentrationSpec {
                by: by?,
                measure: measure?,
                mode: mode?,
                max_unmapped: max_unmapped?,
            }))
        }
        "parity" => read_parity(o, d, sets, providers),
        _ => None,
    }
}

/// A fraction in [0, 1], with a hint when it was written in percent.
fn fraction(d: &mut Diagnostics, v: &Spanned<f64>, key: &str) -> Option<f64> {
    in_range(d, v, key, 0.0, 1.0, "a fraction between 0 and 1: 0.02 for 2 points")
}

fn read_parity(
    o: &Obj,
    d: &mut Diagnostics,
    sets: &BTreeMap<String, Vec<Spanned<String>>>,
    providers: &BTreeSet<String>,
) -> Option<RuleSpec> {
    let metric = o.str(d, "metric", true).and_then(|m| {
        let metric = Metric::parse(m.get_ref());
        if metric.is_none() {
            d.push(
                codes::BAD_VALUE,
                m.span(),
                format!("unknown metric `{}`", m.get_ref()),
                format!("expected one of {}", Metric::NAMES.join(", ")),
            );
        }
        metric
    });
    let rivals = providers_param(o, d, "rivals", sets, providers);
    let rivals = required(o, d, "rivals", rivals);
    let mut thresholds = Vec::new();
    for key in ["min_ratio", "max_ratio", "max_difference", "min_difference"] {
        if let Some(v) = o.f64(d, key) {
            let x = *v.get_ref();
            let t = match key {
                "min_ratio" => Threshold::MinRatio(x),
                "max_ratio" => Threshold::MaxRatio(x),
                "max_difference" => Threshold::MaxDifference(x),
                _ => Threshold::MinDifference(x),
            };
            if t.is_ratio() && x <= 0.0 {
                d.push(OUT_OF_RANGE_CODE, v.span(), format!("`{key}` = {x} is not positive"), "a ratio is > 0");
            } else if !t.is_ratio() && metric.is_some_and(Metric::is_rate) && !(-1.0..=1.0).contains(&x) {
                d.push(
                    OUT_OF_RANGE_CODE,
                    v.span(),
                    format!("`{key}` = {x} is out of range"),
                    "differences of rates are fractions: 0.02 for 2 points",
                );
            }
            thresholds.push((t, v.span()));
        }
    }
    let threshold = match thresholds.as_slice() {
        [(t, _)] => Some(*t),
        [] => {
            o.missing(d, "min_ratio, max_ratio, max_difference or min_difference");
            None
        }
        [_, (_, span), ..] => {
            d.push(
                codes::BAD_VALUE,
                span.clone(),
                "a parity rule takes exactly one threshold",
                "remove all but one of min_ratio, max_ratio, max_difference, min_difference",
            );
            None
        }
    };
    let alpha = alpha(o, d);
    let min_n = count_or(o, d, "min_n", 30, 1);
    let failures = match o.str(d, "failures", false) {
        None => Some(FailureScope::All),
        Some(f) => {
            let scope = match f.get_ref().as_str() {
                "all" => Some(FailureScope::All),
                "technical" => Some(FailureScope::Technical),
                _ => None,
            };
            if scope.is_none() {
                d.push(
                    codes::BAD_VALUE,
                    f.span(),
                    format!("unknown `failures` = `{}`", f.get_ref()),
                    "expected all or technical",
                );
            } else if metric.is_some_and(|m| m != Metric::FailureRate) {
                d.push(codes::BAD_VALUE, f.span(), "`failures` applies to metric failure_rate only", "remove it");
            }
            scope
        }
    };
    let funded_by = match o.str(d, "funded_by", false) {
        None => Some(None),
        Some(f) => {
            let known = crate::contract::FUNDERS;
            if !known.contains(&f.get_ref().as_str()) {
                d.push(
                    codes::BAD_VALUE,
                    f.span(),
                    format!("unknown funder `{}`", f.get_ref()),
                    format!("expected one of {}", known.join(", ")),
                );
                None
            } else if metric.is_some_and(|m| m != Metric::DiscountRate) {
                d.push(codes::BAD_VALUE, f.span(), "`funded_by` applies to metric discount_rate only", "remove it");
                None
            } else {
                Some(Some(f.into_inner()))
            }
        }
    };
    Some(RuleSpec::Parity(ParitySpec {
        metric: metric?,
        rivals: rivals?,
        threshold: threshold?,
        alpha: alpha?,
        min_n: min_n?,
        failures: failures?,
        funded_by: funded_by?,
    }))
}

const OUT_OF_RANGE_CODE: &str = codes::OUT_OF_RANGE;

/// Reads `by`, which must be a list drawn from `allowed`; `default` if absent.
fn read_by(o: &Obj, d: &mut Diagnostics, allowed: &[&str], default: &[&str]) -> Option<Vec<String>> {
    let Some(list) = o.list(d, "by", &BTreeMap::new()) else {
        return if o.get("by").is_some() { None } else { Some(default.iter().map(|s| s.to_string()).collect()) };
    };
    let mut ok = true;
    for b in list.get_ref() {
        if !allowed.contains(&b.get_ref().as_str()) {
            d.push(
                codes::BAD_VALUE,
                b.span(),
                format!("cannot break down by `{}` here", b.get_ref()),
                format!("expected one of {}", allowed.join(", ")),
            );
            ok = false;
        }
    }
    ok.then(|| list.into_inner().into_iter().map(Spanned::into_inner).collect())
}
