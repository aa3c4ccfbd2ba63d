//! Maps raw labels (`method`, `wallet_app`, `code_issuer`) to provider ids,
//! and raw `platform` values to platform ids.
//!
//! Labels are normalised first (`normalize`), so one alias matches the
//! spellings platforms log. Where the aliases of several providers match, the
//! most specific match wins: a higher provider `priority`, then an anchored
//! alias over a substring one, then the longer match. A label still tied is
//! ambiguous: reported, and treated as unmapped. Each distinct label is
//! resolved once and remembered; rows then cost one hash lookup.

use std::collections::HashMap;
use std::sync::RwLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use super::Rulebook;

/// Normalises a raw label before aliases apply: Unicode NFKC (full-width
/// letters and spaces become ASCII), lower case, surrounding quotes and
/// backticks removed, and runs of separators (space, `_`, `-`, `.`) folded
/// into one space. "ＭＥＩＴＵＡＮ-PAY", "meituan_pay" and "Meituan Pay" all
/// become "meituan pay".
pub fn normalize(label: &str) -> String {
    let nfkc: String = label.nfkc().collect::<String>().to_lowercase();
    let trimmed = nfkc.trim().trim_matches(|c: char| {
        c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '‘' | '’' | '“' | '”' | '「' | '」')
    });
    let mut out = String::with_capacity(trimmed.len());
    let mut pending_space = false;
    for c in trimmed.chars() {
        if c.is_whitespace() || matches!(c, '_' | '-' | '.') {
            pending_space = true;
            continue;
        }
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
    }
    out
}

/// How specific an alias is: exact (anchored at both ends) beats anchored at
/// one end, which beats a substring pattern.
fn anchoring(pattern: &str) -> u8 {
    let start = pattern.starts_with('^');
    let end = pattern.ends_with('$') && !pattern.ends_with("\\$");
    match (start, end) {
        (true, true) => 2,
        (true, false) | (false, true) => 1,
        _ => 0,
    }
}

/// A label that the aliases of several providers match equally well.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("label `{label}` matches the aliases of several providers equally well: {}", .providers.join(", "))]
pub struct Ambiguous {
    pub label: String,
    pub providers: Vec<String>,
}

/// One compiled alias.
struct Alias {
    owner: usize,
    re: Regex,
    priority: i64,
    anchoring: u8,
}

/// How a label resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Mapped(usize),
    Unmapped,
    Ambiguous(Vec<String>),
}

/// A compiled set of aliases over ids.
struct Matcher {
    aliases: Vec<Alias>,
    ids: Vec<String>,
    cache: RwLock<HashMap<String, Resolution>>,
}

impl Matcher {
    fn new<'a>(entries: impl Iterator<Item = (&'a str, i64, &'a [String])>) -> Result<Matcher, regex::Error> {
        let mut aliases = Vec::new();
        let mut ids = Vec::new();
        for (id, priority, list) in entries {
            for a in list {
                aliases.push(Alias {
                    owner: ids.len(),
                    re: Regex::new(&format!("(?i){a}"))?,
                    priority,
                    anchoring: anchoring(a),
                });
            }
            ids.push(id.to_string());
        }
        Ok(Matcher { aliases, ids, cache: RwLock::new(HashMap::new()) })
    }

    fn resolve(&self, raw: &str) -> Resolution {
        if let Ok(cache) = self.cache.read() {
            if let Some(hit) = cache.get(raw) {
                return hit.clone();
            }
        }
        let result = self.resolve_uncached(&normalize(raw));
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(raw.to_string(), result.clone());
        }
        result
    }

    fn resolve_uncached(&self, label: &str) -> Resolution {
        // An id written as itself always maps to it.
        if let Some(i) = self.ids.iter().position(|id| normalize(id) == label) {
            return Resolution::Mapped(i);
        }
        // Best (priority, anchoring, match length) per owner.
        let mut best: HashMap<usize, (i64, u8, usize)> = HashMap::new();
        for a in &self.aliases {
            if let Some(m) = a.re.find(label) {
                let score = (a.priority, a.anchoring, m.as_str().chars().count());
                let e = best.entry(a.owner).or_insert(score);
                if score > *e {
                    *e = score;
                }
            }
        }
        let Some(top) = best.values().max().copied() else { return Resolution::Unmapped };
        let mut winners: Vec<usize> = best.iter().filter(|(_, s)| **s == top).map(|(o, _)| *o).collect();
        winners.sort_unstable();
        match winners.as_slice() {
            [one] => Resolution::Mapped(*one),
            many => Resolution::Ambiguous(many.iter().map(|i| self.ids[*i].clone()).collect()),
        }
    }
}

/// The compiled provider and platform aliases of a rulebook.
pub struct Taxonomy {
    providers: Matcher,
    platforms: Matcher,
}

impl Taxonomy {
    pub fn new<S>(rb: &Rulebook<S>) -> Result<Taxonomy, regex::Error> {
        let providers = Matcher::new(rb.providers.iter().map(|p| (p.id.as_str(), p.priority, p.aliases.as_slice())))?;
        let platforms = Matcher::new(rb.platforms.iter().map(|p| (p.id.as_str(), 0, p.aliases.as_slice())))?;
        Ok(Taxonomy { providers, platforms })
    }

    /// The provider of a label: `None` when no alias matches, an error when
    /// several match equally well.
    pub fn map(&self, label: &str) -> Result<Option<&str>, Ambiguous> {
        match self.providers.resolve(label) {
            Resolution::Mapped(i) => Ok(Some(self.providers.ids[i].as_str())),
            Resolution::Unmapped => Ok(None),
            Resolution::Ambiguous(providers) => Err(Ambiguous { label: label.to_string(), providers }),
        }
    }

    /// The provider of a label, with ambiguous labels treated as unmapped.
    pub fn provider(&self, label: &str) -> Option<&str> {
        self.map(label).ok().flatten()
    }

    /// The platform id of a raw platform value: a `[platforms]` id or alias
    /// match, else the value itself (trimmed), so unknown platforms still
    /// form their own groups and can be warned about.
    pub fn platform(&self, raw: &str) -> String {
        match self.platforms.resolve(raw) {
            Resolution::Mapped(i) => self.platforms.ids[i].clone(),
            _ => raw.trim().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any kind, with no keys of its own: the taxonomy does not look at rules.
    struct AnyKind;

    impl crate::rulebook::KindTable<()> for AnyKind {
        fn names(&self) -> Vec<&'static str> {
            Vec::new()
        }
        fn keys(&self, _: &str) -> Option<&'static [&'static str]> {
            Some(&[])
        }
        fn dataset(&self, _: &str, _: &crate::rulebook::Params) -> Option<crate::contract::Dataset> {
            None
        }
        fn read(&self, _: &str, _: &crate::rulebook::Params, _: &mut crate::rulebook::diag::Diagnostics) -> Option<()> {
            Some(())
        }
    }

    fn book() -> Rulebook<()> {
        super::super::parse(
            "t.toml",
            r#"
[rulebook]
id = "t"
title = "t"
version = "1"
jurisdiction = "CN"
effective = 2021-09-01
[providers.alipay]
name = "Alipay"
aliases = ['^alipay', '支付宝', '^huabei$']
[providers.alipay_hk]
name = "AlipayHK"
aliases = ['^alipay ?hk\b']
[providers.unionpay]
name = "UnionPay"
aliases = ['unionpay', '银联', '云闪付']
[providers.icbc]
name = "ICBC"
aliases = ['^icbc', '^工商银行', '工行']
[providers.wechat_pay]
name = "WeChat Pay"
aliases = ['^wechat', '^财付通']
[providers.meituan_pay]
name = "Meituan Pay"
aliases = ['^meituan ?pay$']
[providers.wide]
name = "Wide"
aliases = ['quickpass']
[providers.other]
name = "Other"
aliases = ['quickpass']
[platforms.taobao]
name = "Taobao"
aliases = ['淘宝']
[[rules]]
id = "X-1"
title = "t"
kind = "any"
severity = "low"
citation = "c"
rationale = "r"
"#,
            &AnyKind,
        )
        .unwrap()
    }

    #[test]
    fn normalises_spellings() {
        assert_eq!(normalize("Meituan Pay"), "meituan pay");
        assert_eq!(normalize("meituan_pay"), "meituan pay");
        assert_eq!(normalize("MEITUAN-PAY"), "meituan pay");
        assert_eq!(normalize("ｍｅｉｔｕａｎ\u{3000}ｐａｙ"), "meituan pay");
        assert_eq!(normalize("  `Alipay.Balance`  "), "alipay balance");
        assert_eq!(normalize("\"WeChat  Pay\""), "wechat pay");
        assert_eq!(normalize("（银联）"), "(银联)");
    }

    #[test]
    fn maps_labels_after_normalising() {
        let t = Taxonomy::new(&book()).unwrap();
        for label in ["Meituan Pay", "meituan_pay", "MEITUAN-PAY", "ｍｅｉｔｕａｎ　ｐａｙ"] {
            assert_eq!(t.map(label), Ok(Some("meituan_pay")), "{label}");
        }
        assert_eq!(t.map("Alipay_Balance"), Ok(Some("alipay")));
        assert_eq!(t.map("HUABEI"), Ok(Some("alipay")));
        assert_eq!(t.map("支付宝"), Ok(Some("alipay")));
        assert_eq!(t.map("云闪付"), Ok(Some("unionpay")));
        assert_eq!(t.map("礼品卡"), Ok(None));
        // cached answers are the same
        assert_eq!(t.map("HUABEI"), Ok(Some("alipay")));
    }

    #[test]
    fn the_most_specific_alias_wins() {
        let t = Taxonomy::new(&book()).unwrap();
        // Anchored `^工商银行` beats the substring `银联`.
        assert_eq!(t.map("工商银行信用卡(银联)"), Ok(Some("icbc")));
        // Anchored `^icbc` beats the substring `unionpay`.
        assert_eq!(t.map("ICBC UnionPay Credit"), Ok(Some("icbc")));
        // Anchored `^财付通` beats the substring `银联`.
        assert_eq!(t.map("财付通（银联条码支付互联互通）"), Ok(Some("wechat_pay")));
        // Equally anchored: the longer match wins, so AlipayHK is not Alipay.
        assert_eq!(t.map("AlipayHK"), Ok(Some("alipay_hk")));
        assert_eq!(t.map("Alipay HK"), Ok(Some("alipay_hk")));
        assert_eq!(t.map("Alipay"), Ok(Some("alipay")));
    }

    #[test]
    fn ties_are_ambiguous_not_errors_of_the_audit() {
        let t = Taxonomy::new(&book()).unwrap();
        let err = t.map("QuickPass").unwrap_err();
        assert_eq!(err.providers, vec!["other".to_string(), "wide".to_string()]);
        assert_eq!(t.provider("QuickPass"), None);
    }

    #[test]
    fn platforms_map_through_ids_and_aliases() {
        let t = Taxonomy::new(&book()).unwrap();
        assert_eq!(t.platform("淘宝"), "taobao");
        assert_eq!(t.platform("TaoBao"), "taobao");
        assert_eq!(t.platform(" unknown_shop "), "unknown_shop");
    }
}
