//! Maps raw labels (`method`, `wallet_app`, `code_issuer`) to provider ids.
//!
//! Each distinct label is matched against the aliases once and remembered;
//! rows then cost one hash lookup. A label matching two providers is an
//! error, never a silent first match.

use std::collections::HashMap;
use std::sync::RwLock;

use regex::RegexSet;

use super::Rulebook;

/// A label that the aliases of more than one provider match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("label `{label}` matches the aliases of several providers: {}", .providers.join(", "))]
pub struct Ambiguous {
    pub label: String,
    pub providers: Vec<String>,
}

/// The compiled alias set of a rulebook.
pub struct Taxonomy {
    set: RegexSet,
    /// Provider id of each pattern in `set`.
    owner: Vec<String>,
    cache: RwLock<HashMap<String, Result<Option<usize>, Ambiguous>>>,
    ids: Vec<String>,
}

impl Taxonomy {
    pub fn new(rb: &Rulebook) -> Result<Taxonomy, regex::Error> {
        let mut patterns = Vec::new();
        let mut owner = Vec::new();
        for p in &rb.providers {
            for a in &p.aliases {
                patterns.push(format!("(?i){a}"));
                owner.push(p.id.clone());
            }
        }
        Ok(Taxonomy {
            set: RegexSet::new(&patterns)?,
            owner,
            cache: RwLock::new(HashMap::new()),
            ids: rb.providers.iter().map(|p| p.id.clone()).collect(),
        })
    }

    /// The provider of a label, `None` when no alias matches.
    pub fn map(&self, label: &str) -> Result<Option<&str>, Ambiguous> {
        if let Ok(cache) = self.cache.read() {
            if let Some(hit) = cache.get(label) {
                return hit.clone().map(|o| o.map(|i| self.ids[i].as_str()));
            }
        }
        let result = self.resolve(label);
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(label.to_string(), result.clone());
        }
        result.map(|o| o.map(|i| self.ids[i].as_str()))
    }

    fn resolve(&self, label: &str) -> Result<Option<usize>, Ambiguous> {
        let mut found: Vec<&str> = self.set.matches(label).into_iter().map(|i| self.owner[i].as_str()).collect();
        found.sort_unstable();
        found.dedup();
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(self.ids.iter().position(|i| i == one)),
            many => {
                Err(Ambiguous { label: label.to_string(), providers: many.iter().map(|s| s.to_string()).collect() })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> Rulebook {
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
[providers.unionpay]
name = "UnionPay"
aliases = ['unionpay', '云闪付']
[providers.wide]
name = "Wide"
aliases = ['quickpass']
[[rules]]
id = "X-1"
title = "t"
kind = "exclusivity"
severity = "low"
citation = "c"
rationale = "r"
"#,
        )
        .unwrap()
    }

    #[test]
    fn maps_labels_case_insensitively() {
        let t = Taxonomy::new(&book()).unwrap();
        assert_eq!(t.map("Alipay_Balance"), Ok(Some("alipay")));
        assert_eq!(t.map("HUABEI"), Ok(Some("alipay")));
        assert_eq!(t.map("支付宝"), Ok(Some("alipay")));
        assert_eq!(t.map("云闪付"), Ok(Some("unionpay")));
        assert_eq!(t.map("数字人民币"), Ok(None));
        // cached answers are the same
        assert_eq!(t.map("HUABEI"), Ok(Some("alipay")));
    }

    #[test]
    fn ambiguous_labels_are_errors() {
        let t = Taxonomy::new(&book()).unwrap();
        let err = t.map("UnionPay QuickPass").unwrap_err();
        assert_eq!(err.providers, vec!["unionpay".to_string(), "wide".to_string()]);
    }
}
