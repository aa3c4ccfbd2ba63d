//! The spanned TOML reader rulebooks are read with: a table that remembers
//! which keys were asked for (so the rest are reported as unknown), typed
//! getters that report every problem with its span, and the helpers rule
//! kinds read their parameters with (`Params`).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::diag::{codes, Diagnostics};
use crate::lang::{Lang, Localized};

pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

/// A TOML table being read: remembers which keys were used, so the rest can
/// be reported as unknown.
pub struct Obj<'a, 'i> {
    pub(crate) table: &'a DeTable<'i>,
    pub(crate) span: Range<usize>,
    pub(crate) what: String,
    used: RefCell<BTreeSet<String>>,
}

impl<'a, 'i> Obj<'a, 'i> {
    pub(crate) fn new(table: &'a DeTable<'i>, span: Range<usize>, what: impl Into<String>) -> Self {
        Obj { table, span, what: what.into(), used: RefCell::new(BTreeSet::new()) }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Value<'i>> {
        self.used.borrow_mut().insert(key.to_string());
        self.table.iter().find(|(k, _)| k.get_ref().as_ref() == key).map(|(_, v)| v)
    }

    pub(crate) fn missing(&self, d: &mut Diagnostics, key: &str) {
        d.push(
            codes::MISSING_KEY,
            self.head(),
            format!("{} lacks required key `{key}`", self.what),
            format!("add `{key} = ...` here"),
        );
    }

    /// The span to point at for the table as a whole: its first line.
    pub(crate) fn head(&self) -> Range<usize> {
        self.span.start..self.span.start + 1
    }

    pub(crate) fn str(&self, d: &mut Diagnostics, key: &str, required: bool) -> Option<Spanned<String>> {
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

    /// Text for people in one or both report languages (see [`as_text`]).
    pub(crate) fn text(&self, d: &mut Diagnostics, key: &str, required: bool) -> Option<Spanned<Localized>> {
        match self.get(key) {
            None => {
                if required {
                    self.missing(d, key);
                }
                None
            }
            Some(v) => as_text(d, v, &format!("`{key}`")).map(|t| Spanned::new(v.span(), t)),
        }
    }

    pub(crate) fn f64(&self, d: &mut Diagnostics, key: &str) -> Option<Spanned<f64>> {
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

    pub(crate) fn int(&self, d: &mut Diagnostics, key: &str) -> Option<Spanned<i64>> {
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

    pub(crate) fn bool(&self, d: &mut Diagnostics, key: &str) -> Option<bool> {
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
    pub(crate) fn list(
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

    /// A date (`2022-03-31`, bare or quoted).
    pub(crate) fn date(&self, d: &mut Diagnostics, key: &str, required: bool) -> Option<Spanned<chrono::NaiveDate>> {
        let Some(v) = self.get(key) else {
            if required {
                self.missing(d, key);
            }
            return None;
        };
        let text = match v.get_ref() {
            DeValue::Datetime(dt) => Some(dt.to_string()),
            DeValue::String(s) => Some(s.to_string()),
            _ => None,
        };
        let date = text.as_deref().and_then(|t| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").ok());
        if date.is_none() {
            d.push(
                codes::BAD_VALUE,
                v.span(),
                format!("`{key}` must be a date such as 2022-03-31"),
                format!("found {}", text.unwrap_or_else(|| type_name(v.get_ref()).to_string())),
            );
        }
        date.map(|x| Spanned::new(v.span(), x))
    }

    /// Reports every key that was never asked for.
    pub(crate) fn finish(&self, d: &mut Diagnostics, hint: &str) {
        let used = self.used.borrow();
        for (k, _) in self.table.iter() {
            let key = k.get_ref().as_ref();
            if !used.contains(key) {
                d.push(codes::UNKNOWN_KEY, k.span(), format!("unknown key `{key}` in {}", self.what), hint.to_string());
            }
        }
    }
}

pub(crate) fn parse_int(text: &str, radix: u32) -> Option<i64> {
    let clean = text.replace('_', "");
    let digits = clean.trim_start_matches("0x").trim_start_matches("0o").trim_start_matches("0b");
    i64::from_str_radix(digits, radix).ok()
}

pub(crate) fn type_name(v: &DeValue) -> &'static str {
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

pub(crate) fn as_str(d: &mut Diagnostics, v: &Value, what: &str) -> Option<Spanned<String>> {
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

/// Text for people: a plain string (English), or `{ en = "…", zh-CN = "…" }`
/// with at least one of the languages.
pub(crate) fn as_text(d: &mut Diagnostics, v: &Value, what: &str) -> Option<Localized> {
    let DeValue::Table(t) = v.get_ref() else {
        return as_str(d, v, what).map(|s| Localized::plain(s.into_inner()));
    };
    let tags = Lang::ALL.map(Lang::tag).join(", ");
    let o = Obj::new(t, v.span(), what);
    let mut text = Localized::default();
    for lang in Lang::ALL {
        let s = o.get(lang.tag()).and_then(|x| as_str(d, x, &format!("{what}.{}", lang.tag())));
        let slot = match lang {
            Lang::En => &mut text.en,
            Lang::ZhCn => &mut text.zh_cn,
        };
        *slot = s.map(Spanned::into_inner);
    }
    o.finish(d, &format!("languages: {tags}"));
    if text.en.is_none() && text.zh_cn.is_none() {
        d.push(codes::MISSING_KEY, v.span(), format!("{what} gives no text"), format!("give it in one of {tags}"));
        return None;
    }
    Some(text)
}

pub(crate) fn as_table<'a, 'i>(d: &mut Diagnostics, v: &'a Value<'i>, what: &str) -> Option<&'a DeTable<'i>> {
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

/// A rule's table as a rule kind reads it: the spanned reader, with the
/// rulebook's named sets and provider ids to resolve lists against. Every
/// getter reports its problems into the diagnostics and returns `None`.
pub struct Params<'r, 'a, 'i> {
    pub(crate) obj: &'r Obj<'a, 'i>,
    pub(crate) sets: &'r BTreeMap<String, Vec<Spanned<String>>>,
    pub(crate) providers: &'r BTreeSet<String>,
}

impl Params<'_, '_, '_> {
    /// Whether the rule has the key.
    pub fn has(&self, key: &str) -> bool {
        self.obj.get(key).is_some()
    }

    /// The span of the rule's first line, for problems of the rule as a whole.
    pub fn head(&self) -> Range<usize> {
        self.obj.head()
    }

    /// The span of a key's value, if the rule has it.
    pub fn span(&self, key: &str) -> Option<Range<usize>> {
        self.obj.get(key).map(|v| v.span())
    }

    /// Reports a missing required key.
    pub fn missing(&self, d: &mut Diagnostics, key: &str) {
        self.obj.missing(d, key);
    }

    pub fn str(&self, d: &mut Diagnostics, key: &str, required: bool) -> Option<Spanned<String>> {
        self.obj.str(d, key, required)
    }

    /// A string value without reporting anything (to peek at e.g. a metric).
    pub fn peek_str(&self, key: &str) -> Option<String> {
        self.obj.table.iter().find(|(k, _)| k.get_ref().as_ref() == key).and_then(|(_, v)| match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => None,
        })
    }

    pub fn f64(&self, d: &mut Diagnostics, key: &str) -> Option<Spanned<f64>> {
        self.obj.f64(d, key)
    }

    pub fn int(&self, d: &mut Diagnostics, key: &str) -> Option<Spanned<i64>> {
        self.obj.int(d, key)
    }

    pub fn bool(&self, d: &mut Diagnostics, key: &str) -> Option<bool> {
        self.obj.bool(d, key)
    }

    /// A list of strings, or the name of a set.
    pub fn list(&self, d: &mut Diagnostics, key: &str) -> Option<Vec<String>> {
        self.obj.list(d, key, self.sets).map(|l| l.into_inner().into_iter().map(Spanned::into_inner).collect())
    }

    /// A required value: reports the key as missing when it is absent.
    pub fn required<T>(&self, d: &mut Diagnostics, key: &str, v: Option<T>) -> Option<T> {
        if v.is_none() && self.obj.get(key).is_none() {
            self.obj.missing(d, key);
        }
        v
    }

    /// A list of known provider ids (or a set of them), not empty.
    pub fn providers(&self, d: &mut Diagnostics, key: &str) -> Option<Vec<String>> {
        let list = self.obj.list(d, key, self.sets)?;
        let mut ok = true;
        for p in list.get_ref() {
            if !self.providers.contains(p.get_ref()) {
                let known: Vec<&str> = self.providers.iter().map(String::as_str).collect();
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

    /// One known provider id.
    pub fn provider(&self, d: &mut Diagnostics, key: &str) -> Option<String> {
        let p = self.obj.str(d, key, false)?;
        if self.providers.contains(p.get_ref()) {
            return Some(p.into_inner());
        }
        d.push(codes::UNKNOWN_PROVIDER, p.span(), format!("unknown provider `{}`", p.get_ref()), "not in [providers]");
        None
    }

    /// A number in [lo, hi]; `what` says what is expected.
    pub fn number_in(&self, d: &mut Diagnostics, key: &str, lo: f64, hi: f64, what: &str) -> Option<f64> {
        let v = self.obj.f64(d, key)?;
        in_range(d, &v, key, lo, hi, what)
    }

    /// A share in [0, 1].
    pub fn share(&self, d: &mut Diagnostics, key: &str) -> Option<f64> {
        self.number_in(d, key, 0.0, 1.0, "a share between 0 and 1")
    }

    /// An optional fraction in [0, 1] with a default, hinting at percent mistakes.
    pub fn fraction_or(&self, d: &mut Diagnostics, key: &str, default: f64) -> Option<f64> {
        if !self.has(key) {
            return Some(default);
        }
        self.number_in(d, key, 0.0, 1.0, "a fraction between 0 and 1: 0.02 for 2 points")
    }

    /// An optional whole number with a default; `min` is the smallest allowed.
    pub fn count_or(&self, d: &mut Diagnostics, key: &str, default: u64, min: u64) -> Option<u64> {
        if !self.has(key) {
            return Some(default);
        }
        let v = self.obj.int(d, key)?;
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

    /// `alpha`: the family-wise error rate of a rule's verdicts, default 0.05.
    pub fn alpha(&self, d: &mut Diagnostics) -> Option<f64> {
        if !self.has("alpha") {
            return Some(0.05);
        }
        self.number_in(d, "alpha", f64::MIN_POSITIVE, 0.5, "a significance level in (0, 0.5]")
    }

    /// One of a fixed set of words, with a default when absent.
    pub fn choice<T: Copy>(
        &self,
        d: &mut Diagnostics,
        key: &str,
        choices: &[(&str, T)],
        default: Option<T>,
    ) -> Option<T> {
        let Some(v) = self.obj.str(d, key, default.is_none()) else {
            return if self.has(key) { None } else { default };
        };
        if let Some((_, t)) = choices.iter().find(|(name, _)| *name == v.get_ref().as_str()) {
            return Some(*t);
        }
        let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
        d.push(
            codes::BAD_VALUE,
            v.span(),
            format!("unknown {key} `{}`", v.get_ref()),
            format!("expected one of {}", names.join(", ")),
        );
        None
    }

    /// `by`: a list drawn from `allowed`; `default` when absent.
    pub fn by(&self, d: &mut Diagnostics, allowed: &[&str], default: &[&str]) -> Option<Vec<String>> {
        let o = self.obj;
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
}

/// Checks a number against a range.
pub(crate) fn in_range(d: &mut Diagnostics, v: &Spanned<f64>, key: &str, lo: f64, hi: f64, what: &str) -> Option<f64> {
    let x = *v.get_ref();
    if !(lo..=hi).contains(&x) || x.is_nan() {
        d.push(codes::OUT_OF_RANGE, v.span(), format!("`{key}` = {x} is out of range"), format!("expected {what}"));
        return None;
    }
    Some(x)
}
