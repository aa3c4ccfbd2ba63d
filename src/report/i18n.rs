//! The report's message catalogues (`reports/i18n/<lang>.toml`): every fixed
//! text of the report by key, dates and numbers for the locale, and the
//! translation of the engine's English wording (messages, reasons, criteria)
//! by pattern, so `findings.json` keeps one language and the report another.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;

use crate::lang::Lang;

const EN: &str = include_str!("../../reports/i18n/en.toml");
const ZH_CN: &str = include_str!("../../reports/i18n/zh-CN.toml");

/// The catalogue file of a language, as compiled into the binary.
pub fn source(lang: Lang) -> &'static str {
    match lang {
        Lang::En => EN,
        Lang::ZhCn => ZH_CN,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    ui: BTreeMap<String, String>,
    #[serde(default)]
    engine: BTreeMap<String, String>,
}

/// An English engine phrase with `{name}` holes, and its translation.
struct Pattern {
    re: Regex,
    names: Vec<String>,
    to: String,
}

/// A language's catalogue.
pub struct Catalog {
    pub lang: Lang,
    ui: BTreeMap<String, String>,
    patterns: Vec<Pattern>,
    /// Providers' names in English and in this language, for the engine's
    /// text that names them.
    names: BTreeMap<String, String>,
}

/// Text the engine wrote in English, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translated {
    pub text: String,
    /// No pattern matched: the text is still English.
    pub english: bool,
}

impl Catalog {
    pub fn new(lang: Lang) -> anyhow::Result<Catalog> {
        let file: File =
            toml::from_str(source(lang)).map_err(|e| anyhow::anyhow!("reports/i18n/{}.toml: {e}", lang.tag()))?;
        let mut patterns = Vec::new();
        for (from, to) in file.engine {
            let (re, names) = pattern(&from)?;
            patterns.push(Pattern { re, names, to });
        }
        // Longest English first: a specific phrase wins over a general one.
        patterns.sort_by_key(|p| std::cmp::Reverse(p.re.as_str().len()));
        Ok(Catalog { lang, ui: file.ui, patterns, names: BTreeMap::new() })
    }

    /// Names the engine writes in English (providers), with this language's.
    pub fn add_names(&mut self, names: impl IntoIterator<Item = (String, String)>) {
        self.names.extend(names);
    }

    /// A provider's or platform's name in this language, from its id or
    /// English name; else the value as it is.
    pub fn name_of(&self, v: &str) -> String {
        self.names.get(v).cloned().unwrap_or_else(|| v.to_string())
    }

    /// A hole's value: a name or a list of names in this language, else as is.
    fn names_in(&self, v: &str) -> String {
        let parts: Vec<&str> = v.split(", ").map(|part| self.names.get(part).map_or(part, String::as_str)).collect();
        parts.join(&self.t("comma"))
    }

    /// Every fixed text by key, for the templates (`{{ t.key }}`).
    pub fn ui(&self) -> &BTreeMap<String, String> {
        &self.ui
    }

    /// The text of a key; a missing key shows itself as `⟦key⟧`, which
    /// `tests/i18n.rs` looks for in every edition it renders.
    pub fn t(&self, key: &str) -> String {
        self.ui.get(key).cloned().unwrap_or_else(|| format!("⟦{key}⟧"))
    }

    /// The text of a key the catalogue may not have (a dataset, a rule kind,
    /// an evidence column, a key's value): else `fallback` as it is.
    pub fn t_or(&self, key: &str, fallback: &str) -> String {
        self.ui.get(key).cloned().unwrap_or_else(|| fallback.to_string())
    }

    /// The text of a key with its `{name}` holes filled.
    pub fn f(&self, key: &str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
        fill(&self.t(key), args)
    }

    /// Singular or plural by count (English needs both; Chinese uses the
    /// `_other` form alone when `_one` is absent).
    pub fn n(&self, key: &str, n: u64, args: &[(&str, &dyn std::fmt::Display)]) -> String {
        let one = format!("{key}_one");
        let k = if n == 1 && self.ui.contains_key(&one) { one } else { format!("{key}_other") };
        fill(&self.t(&k), args)
    }

    /// A chart value's unit for the locale: percentage points (`pp`) in words.
    pub fn units(&self, text: &str) -> String {
        if self.lang == Lang::En {
            text.to_string()
        } else {
            text.replace(" pp", &self.t("pp"))
        }
    }

    /// An axis tick for the locale: where the unit would crowd the axis, the
    /// caption names it instead.
    pub fn axis_units(&self, text: &str) -> String {
        if self.lang == Lang::En {
            text.to_string()
        } else {
            text.replace(" pp", "")
        }
    }

    /// A date or timestamp (`2021-09-01`, `2021-09-01T08:00:00Z`) for the locale.
    pub fn date(&self, text: &str) -> String {
        if self.lang == Lang::En {
            return text.to_string();
        }
        let Some(d) = text.get(..10).and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()) else {
            return text.to_string();
        };
        use chrono::Datelike as _;
        let day = self.f("date", &[("y", &d.year()), ("m", &d.month()), ("d", &d.day())]);
        let rest = text[10..].trim_start_matches('T');
        if rest.is_empty() {
            day
        } else {
            let time = rest.strip_suffix('Z').map(|t| format!("{t} UTC")).unwrap_or_else(|| rest.to_string());
            format!("{day} {time}")
        }
    }

    /// The engine's English text in this language: whole by one pattern, or
    /// part by part where it joins clauses with "; "; else left in English.
    pub fn engine(&self, text: &str) -> Translated {
        if self.lang == Lang::En || text.is_empty() {
            return Translated { text: text.to_string(), english: false };
        }
        if let Some(t) = self.phrase(text, 0) {
            return Translated { text: t, english: false };
        }
        if text.split(", ").all(|p| self.names.contains_key(p)) {
            return Translated { text: self.names_in(text), english: false };
        }
        let parts: Vec<Option<String>> = text.split("; ").map(|p| self.phrase(p, 0)).collect();
        if parts.len() > 1 && parts.iter().all(Option::is_some) {
            let joined = parts.into_iter().flatten().collect::<Vec<_>>().join("；");
            return Translated { text: joined, english: false };
        }
        Translated { text: text.to_string(), english: true }
    }

    /// Engine text as shown: translated, or in English with no change.
    pub fn engine_text(&self, text: &str) -> String {
        self.engine(text).text
    }

    fn phrase(&self, text: &str, depth: usize) -> Option<String> {
        let (body, stop) = match text.strip_suffix('.') {
            Some(b) => (b, true),
            None => (text, false),
        };
        for p in &self.patterns {
            let Some(caps) = p.re.captures(body) else { continue };
            let mut out = p.to.clone();
            for name in &p.names {
                let raw = caps.name(name).map_or("", |m| m.as_str());
                // A hole holding words is itself translated where a pattern
                // knows it, and providers' names are given in this language;
                // numbers and ids stay as they are.
                let v = if depth < 3 { self.phrase(raw, depth + 1) } else { None };
                let v = v.unwrap_or_else(|| self.names_in(raw));
                out = out.replace(&format!("{{{name}}}"), &v);
            }
            if stop && !out.ends_with('。') {
                out.push('。');
            }
            return Some(out);
        }
        None
    }
}

/// `{name}` holes filled from the arguments.
pub fn fill(template: &str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
    let mut out = template.to_string();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), &value.to_string());
    }
    out
}

/// The regular expression of an English phrase with `{name}` holes.
fn pattern(from: &str) -> anyhow::Result<(Regex, Vec<String>)> {
    let hole = Regex::new(r"\{([a-z_0-9]+)\}").expect("a fixed pattern");
    let mut re = String::from("^");
    let mut names = Vec::new();
    let mut last = 0;
    for c in hole.captures_iter(from) {
        let m = c.get(0).expect("the whole match");
        re.push_str(&regex::escape(&from[last..m.start()]));
        let name = c[1].to_string();
        re.push_str(&format!("(?P<{name}>.+?)"));
        names.push(name);
        last = m.end();
    }
    re.push_str(&regex::escape(&from[last..]));
    re.push('$');
    let re = Regex::new(&re).map_err(|e| anyhow::anyhow!("catalogue pattern `{from}`: {e}"))?;
    Ok((re, names))
}

/// The `{name}` holes of a text, sorted.
pub fn holes(text: &str) -> Vec<String> {
    let hole = Regex::new(r"\{([a-z_0-9]+)\}").expect("a fixed pattern");
    let mut v: Vec<String> = hole.captures_iter(text).map(|c| c[1].to_string()).collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogues_have_the_same_keys_and_holes() {
        let en = Catalog::new(Lang::En).unwrap();
        let zh = Catalog::new(Lang::ZhCn).unwrap();
        for (k, v) in en.ui() {
            // A Chinese `_one` form is optional: Chinese has no plural.
            if k.ends_with("_one") && !zh.ui().contains_key(k) {
                continue;
            }
            let z = zh.ui().get(k).unwrap_or_else(|| panic!("zh-CN lacks `{k}`"));
            assert_eq!(holes(v), holes(z), "holes of `{k}`");
        }
        for k in zh.ui().keys() {
            assert!(en.ui().contains_key(k), "en lacks `{k}`");
        }
        // A translation fills exactly the holes its English phrase has.
        for p in &zh.patterns {
            let mut names = p.names.clone();
            names.sort();
            names.dedup();
            assert_eq!(holes(&p.to), names, "holes of `{}`", p.re.as_str());
        }
    }

    #[test]
    fn translates_engine_text_by_pattern() {
        let zh = Catalog::new(Lang::ZhCn).unwrap();
        assert_eq!(
            zh.engine("the interval straddles the threshold"),
            Translated { text: "区间跨越阈值".into(), english: false }
        );
        assert_eq!(zh.engine("fewer than min_n = 200 sessions").text, "少于 min_n = 200 个会话");
        assert_eq!(zh.engine("only 40 scans (< 100)").text, "仅 40 次扫码（< 100）");
        let odd = zh.engine("something no pattern knows");
        assert!(odd.english);
        assert_eq!(zh.date("2021-09-01"), "2021年9月1日");
        assert_eq!(zh.date("2023-11-14T22:13:20Z"), "2023年11月14日 22:13:20 UTC");
        let en = Catalog::new(Lang::En).unwrap();
        assert_eq!(en.date("2021-09-01"), "2021-09-01");
    }
}
