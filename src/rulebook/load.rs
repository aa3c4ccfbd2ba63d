//! Reads a rulebook's TOML into the validated model, collecting every
//! problem (with its span) instead of stopping at the first.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use regex::Regex;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::diag::{codes, Diagnostics};
use super::model::*;
use super::reader::{as_str, as_table, type_name, Obj, Params};
use crate::contract::Dataset;
use crate::lang::Localized;

/// The rule kinds a rulebook may use: how each reads its own keys. The
/// engine registers the kinds; the loader only asks.
pub trait KindTable<S> {
    /// Every registered kind's name, for "expected one of".
    fn names(&self) -> Vec<&'static str>;
    /// The keys a kind reads beyond the common ones; `None` for an unknown kind.
    fn keys(&self, kind: &str) -> Option<&'static [&'static str]>;
    /// The dataset a rule of the kind reads, from its table as written (to
    /// check `where` columns), if it can be told.
    fn dataset(&self, kind: &str, p: &Params) -> Option<Dataset>;
    /// Reads and validates a known kind's parameters, every problem into `d`.
    fn read(&self, kind: &str, p: &Params, d: &mut Diagnostics) -> Option<S>;
}

const TOP_KEYS: &str = "allowed here: rulebook, providers, platforms, sets, failure_codes, rules";
const META_KEYS: &str = "allowed in [rulebook]: id, title, version, jurisdiction, effective, sources, note";
const PROVIDER_KEYS: &str =
    "allowed in a provider: name, operator, kind, aliases, affiliated_platforms, priority, emv_guids, emv_tags, url_hosts, url_schemes";
const PLATFORM_KEYS: &str = "allowed in a platform: name, aliases";
const PROVIDER_KINDS: [&str; 5] = ["wallet", "bank", "card_scheme", "cbdc", "standard"];

/// Parses TOML text, reporting every syntax error; `None` when there is one.
pub(crate) fn parse_toml<'i>(source: &'i str, d: &mut Diagnostics) -> Option<toml::Spanned<DeTable<'i>>> {
    let (doc, errors) = DeTable::parse_recoverable(source);
    for e in &errors {
        let span = e.span().unwrap_or(0..0);
        d.push(codes::SYNTAX, span, format!("TOML syntax: {}", e.message().trim()), "here");
    }
    errors.is_empty().then_some(doc)
}

/// Parses and validates a rulebook. On failure, every problem found.
pub fn parse<S>(path: &str, source: &str, kinds: &dyn KindTable<S>) -> Result<Rulebook<S>, Diagnostics> {
    let mut d = Diagnostics::default();
    let doc = parse_toml(source, &mut d).ok_or_else(|| std::mem::take(&mut d))?;
    let root = Obj::new(doc.get_ref(), 0..source.len().max(1), "the rulebook");
    let meta = read_meta(&root, &mut d);
    let sets = read_sets(&root, &mut d);
    let (providers, alias_spans) = read_providers(&root, &mut d);
    let platforms = read_platforms(&root, &mut d);
    let failure_codes = read_failure_codes(&root, &mut d);
    let provider_ids: BTreeSet<String> = providers.iter().map(|p| p.id.clone()).collect();
    let rules = read_rules(&root, &mut d, &sets, &provider_ids, source, kinds);
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
fn check_overlaps<S>(rb: &Rulebook<S>, alias_spans: &BTreeMap<String, Range<usize>>, d: &mut Diagnostics) {
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

/// `sources`: a list of texts, each a string or `{ en = "…", zh-CN = "…" }`.
fn read_sources(o: &Obj, d: &mut Diagnostics) -> Vec<Localized> {
    let Some(v) = o.get("sources") else { return Vec::new() };
    let DeValue::Array(items) = v.get_ref() else {
        d.push(codes::WRONG_TYPE, v.span(), "`sources` must be a list", format!("found {}", type_name(v.get_ref())));
        return Vec::new();
    };
    items.iter().filter_map(|item| super::reader::as_text(d, item, "items of `sources`")).collect()
}

fn read_platforms(root: &Obj, d: &mut Diagnostics) -> Vec<Platform> {
    let mut out = Vec::new();
    let Some(v) = root.get("platforms") else { return out };
    let Some(t) = as_table(d, v, "[platforms]") else { return out };
    for (k, v) in t.iter() {
        let id = k.get_ref().to_string();
        let Some(pt) = as_table(d, v, &format!("platform `{id}`")) else { continue };
        let o = Obj::new(pt, k.span(), format!("platform `{id}`"));
        let names = o.text(d, "name", false).map(Spanned::into_inner).unwrap_or_else(|| Localized::plain(id.clone()));
        let aliases = o.list(d, "aliases", &BTreeMap::new()).map(Spanned::into_inner).unwrap_or_default();
        let aliases = aliases.into_iter().filter_map(|a| compile_alias(d, &id, a)).collect();
        o.finish(d, PLATFORM_KEYS);
        out.push(Platform { id: id.clone(), name: names.primary().to_string(), names, aliases });
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
    let title = o.text(d, "title", true);
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
    let sources = read_sources(&o, d);
    let note = o.text(d, "note", false).map(Spanned::into_inner).unwrap_or_else(|| {
        Localized::plain("Thresholds marked as engineering defaults are not set by law; adjust them to the case.")
    });
    o.finish(d, META_KEYS);
    let title = title?.into_inner();
    Some(Meta {
        id: id?.into_inner(),
        title: title.primary().to_string(),
        version: version?.into_inner(),
        jurisdiction: jurisdiction?.into_inner(),
        effective: effective?,
        sources: sources.iter().map(|s| s.primary().to_string()).collect(),
        note: note.primary().to_string(),
        text: MetaText { title, note, sources },
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
        let names = o.text(d, "name", true).map(Spanned::into_inner).unwrap_or_else(|| Localized::plain(id.clone()));
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
        let mut list = |key: &str| -> Vec<String> {
            o.list(d, key, &BTreeMap::new())
                .map(Spanned::into_inner)
                .unwrap_or_default()
                .into_iter()
                .map(Spanned::into_inner)
                .collect()
        };
        let code_keys = CodeKeys {
            emv_guids: list("emv_guids"),
            emv_tags: list("emv_tags"),
            url_hosts: list("url_hosts"),
            url_schemes: list("url_schemes"),
        };
        for tag in &code_keys.emv_tags {
            let ok = tag.len() == 2 && tag.parse::<u8>().is_ok_and(|n| (2..=25).contains(&n));
            if !ok {
                d.push(
                    codes::BAD_VALUE,
                    k.span(),
                    format!("provider `{id}`: emv_tags entry `{tag}` is not a reserved scheme tag"),
                    "reserved card-scheme tags are two digits from 02 to 25 (UnionPay: 15, 16)",
                );
            }
        }
        o.finish(d, PROVIDER_KEYS);
        out.push(Provider {
            codes: code_keys,
            id: id.clone(),
            name: names.primary().to_string(),
            names,
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
const COMMON_RULE_KEYS: &[&str] = &[
    "id",
    "title",
    "kind",
    "severity",
    "citation",
    "rationale",
    "where",
    "engineering_default",
    "effective",
    "deadline",
];

fn read_rules<S>(
    root: &Obj,
    d: &mut Diagnostics,
    sets: &BTreeMap<String, Vec<Spanned<String>>>,
    providers: &BTreeSet<String>,
    source: &str,
    kinds: &dyn KindTable<S>,
) -> Vec<Rule<S>> {
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
        let params = Params { obj: &o, sets, providers };
        if let Some(rule) = read_rule(&params, d, source, kinds) {
            out.push(rule);
        }
    }
    out
}

fn read_rule<S>(p: &Params, d: &mut Diagnostics, source: &str, kinds: &dyn KindTable<S>) -> Option<Rule<S>> {
    let o = p.obj;
    let id = o.str(d, "id", true).filter(|id| {
        // The id names the rule's evidence file, so it must be a plain file name.
        let text = id.get_ref();
        let ok = !text.is_empty()
            && !text.starts_with('.')
            && text.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            d.push(
                codes::BAD_VALUE,
                id.span(),
                format!("rule id `{text}` may hold only letters, digits, `-`, `_` and `.`, and not start with `.`"),
                "it names the rule's evidence file",
            );
        }
        ok
    });
    let title = o.text(d, "title", true);
    let citation = o.text(d, "citation", true);
    let rationale = o.text(d, "rationale", true);
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
        if kinds.keys(k.get_ref()).is_some() {
            Some(k.into_inner())
        } else {
            d.push(
                codes::BAD_VALUE,
                k.span(),
                format!("unknown rule kind `{}`", k.get_ref()),
                format!("expected one of {}", kinds.names().join(", ")),
            );
            None
        }
    });
    let engineering_default = o.bool(d, "engineering_default").unwrap_or(false);
    let effective = o.date(d, "effective", false);
    let deadline = o.date(d, "deadline", false);
    if let (Some(e), Some(dl)) = (&effective, &deadline) {
        if dl.get_ref() < e.get_ref() {
            d.push(
                codes::OUT_OF_RANGE,
                dl.span(),
                "`deadline` is before `effective`",
                format!("the rule takes effect on {}", e.get_ref()),
            );
        }
    }
    let dataset = kind.as_deref().and_then(|k| kinds.dataset(k, p));
    let filter = o
        .str(d, "where", false)
        .and_then(|w| check_filter(d, &w, dataset).map(|expr| super::filter::Filter { text: w.into_inner(), expr }));
    let spec = kind.as_deref().and_then(|k| kinds.read(k, p, d));
    let kind_keys = kind.as_deref().and_then(|k| kinds.keys(k)).unwrap_or(&[]);
    let allowed: Vec<&str> = COMMON_RULE_KEYS.iter().chain(kind_keys).copied().collect();
    o.finish(d, &format!("allowed for this kind: {}", allowed.join(", ")));
    let line = super::diag::line_col(source, o.span.start).0;
    Some(Rule {
        head: RuleHead {
            id: id?.into_inner(),
            title: title.as_ref()?.get_ref().primary().to_string(),
            severity: severity?,
            citation: citation.as_ref()?.get_ref().primary().to_string(),
            rationale: rationale.as_ref()?.get_ref().primary().to_string(),
            text: RuleText {
                title: title?.into_inner(),
                citation: citation?.into_inner(),
                rationale: rationale?.into_inner(),
            },
            filter,
            engineering_default,
            effective: effective.map(|e| e.into_inner()),
            deadline: deadline.map(|e| e.into_inner()),
            line,
        },
        spec: spec?,
    })
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
    if ok {
        if let Err((msg, hint)) = super::filter::type_check(&expr, ds) {
            d.push(codes::BAD_FILTER, inner, msg, hint);
            return None;
        }
    }
    ok.then_some(expr)
}
