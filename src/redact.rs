//! Redacted editions (`audit --redact`): merchant ids and names become
//! stable keyed pseudonyms (HMAC-SHA-256 with a key the auditor keeps, so a
//! merchant keeps its pseudonym across audits and the auditor can
//! re-identify it), raw records and code payloads are withheld, and groups
//! smaller than `--min-group` are suppressed, in findings.json, the report
//! and every CSV alike.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context as _};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use crate::findings::{Edition, Scope};
use crate::findings::{Finding, Report};
use crate::ingest::rejects::RejectedRow;

/// Withheld text, in place of raw records and payloads.
pub const WITHHELD: &str = "[redacted]";

/// A redaction with its key.
pub struct Redaction {
    key: Vec<u8>,
    pub scope: Scope,
    pub min_group: u64,
}

/// Evidence columns that hold merchant ids, merchant names, or text that
/// embeds either.
const IDS: [&str; 2] = ["merchant_id", "unit"];
const NAMES: [&str; 2] = ["name", "merchant_name"];
const TEXTS: [&str; 2] = ["payload", "raw"];

/// Whether an evidence row is about the group with `key`: every key column
/// the evidence has holds the key's value, and the key values it has no
/// column for, joined with `/`, are its first cell (`group`, as coverage
/// writes it).
fn belongs(header: &[String], row: &[String], key: &BTreeMap<String, String>) -> bool {
    let mut rest: Vec<&str> = Vec::new();
    for (k, v) in key {
        match header.iter().position(|h| h == k) {
            Some(i) if row.get(i) != Some(v) => return false,
            Some(_) => {}
            None => rest.push(v),
        }
    }
    rest.is_empty() || row.first().is_some_and(|c| *c == rest.join("/"))
}

/// Never prints the key.
impl std::fmt::Debug for Redaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redaction").field("scope", &self.scope).field("min_group", &self.min_group).finish()
    }
}

impl Redaction {
    /// The key from `key_file`, else from `HUTONG_REDACT_KEY`.
    pub fn new(scope: Scope, key_file: Option<&Path>, min_group: u64) -> anyhow::Result<Redaction> {
        let key = match key_file {
            Some(path) => {
                let bytes =
                    std::fs::read(path).with_context(|| format!("reading the redaction key {}", path.display()))?;
                String::from_utf8_lossy(&bytes).trim_end_matches(['\n', '\r']).as_bytes().to_vec()
            }
            None => match std::env::var("HUTONG_REDACT_KEY") {
                Ok(k) => k.into_bytes(),
                Err(_) => bail!(
                    "--redact needs a key: --redact-key FILE (or HUTONG_REDACT_KEY). Keep it: the same key gives \
                     the same pseudonyms in every audit and lets you re-identify merchants"
                ),
            },
        };
        if key.len() < 16 {
            bail!("the redaction key has {} bytes; use at least 16 (e.g. `openssl rand -hex 32 > key`)", key.len());
        }
        Ok(Redaction { key, scope, min_group })
    }

    pub fn edition(&self) -> Edition {
        let digest = crate::digest::sha256_bytes(&self.key);
        Edition { redacted: self.scope, min_group: self.min_group, key_id: digest[..8].to_string() }
    }

    /// `M~` and 12 hex digits of HMAC-SHA-256(key, "merchant_id\0" + id); names `N~`.
    pub fn pseudonym(&self, what: &str, value: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(what.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let hex = crate::digest::sha256_hex(&mac.finalize().into_bytes()[..6]);
        let prefix = if what == "merchant_id" { "M" } else { "N" };
        format!("{prefix}~{hex}")
    }

    /// Rejected rows keep file, line and reason; their raw text is withheld.
    pub fn rejected(&self, rows: &mut [RejectedRow]) {
        for r in rows {
            if !r.raw.is_empty() {
                r.raw = WITHHELD.to_string();
            }
        }
    }

    /// Pseudonymises evidence and messages and suppresses small groups.
    pub fn findings(&self, findings: &mut [Finding]) {
        for f in findings {
            let mut seen: BTreeMap<String, String> = BTreeMap::new();
            let mut suppressed_keys: Vec<BTreeMap<String, String>> = Vec::new();
            for g in f.groups.iter_mut() {
                if g.n > 0 && g.n < self.min_group {
                    suppressed_keys.push(g.key.clone());
                    g.suppressed = true;
                    g.n = 0;
                    g.value = None;
                    g.detail = None;
                    g.judged = Default::default();
                    g.periods.clear();
                    g.projection = None;
                    g.reason = Some(format!("suppressed: fewer than {} units", self.min_group));
                }
                for (k, v) in g.key.iter_mut() {
                    if IDS.contains(&k.as_str()) {
                        let p = self.pseudonym("merchant_id", v);
                        seen.insert(std::mem::replace(v, p.clone()), p);
                    }
                }
            }
            if let Some(table) = f.evidence_table.as_mut() {
                let col = |names: &[&str]| -> Vec<usize> {
                    table
                        .header
                        .iter()
                        .enumerate()
                        .filter(|(_, h)| names.contains(&h.as_str()))
                        .map(|(i, _)| i)
                        .collect()
                };
                let (ids, names, texts) = (col(&IDS), col(&NAMES), col(&TEXTS));
                let header = table.header.clone();
                table.rows.retain(|row| !suppressed_keys.iter().any(|key| belongs(&header, row, key)));
                for row in table.rows.iter_mut() {
                    for &i in &ids {
                        let p = self.pseudonym("merchant_id", &row[i]);
                        seen.insert(std::mem::replace(&mut row[i], p.clone()), p);
                    }
                    for &i in &names {
                        let p = self.pseudonym("name", &row[i]);
                        seen.insert(std::mem::replace(&mut row[i], p.clone()), p);
                    }
                    for &i in &texts {
                        row[i] = WITHHELD.to_string();
                    }
                }
            }
            if f.evidence_table.as_ref().is_some_and(|t| t.rows.is_empty()) {
                f.evidence_table = None;
            }
            // A message words every group's figures: with a group suppressed,
            // it says only what the verdicts say.
            let hidden = f.groups.iter().filter(|g| g.suppressed).count();
            if hidden > 0 {
                let failing = f.groups.iter().filter(|g| g.verdict == crate::findings::Verdict::Fail).count();
                f.message = format!(
                    "{} of {} groups fail; {hidden} with fewer than {} units are suppressed in this redacted edition \
                     (their verdicts count); the other groups' figures are in the table and evidence.",
                    failing,
                    f.groups.len(),
                    self.min_group
                );
            }
            // Ids and names the evidence held never appear in the words either.
            for (original, p) in seen.iter().filter(|(o, _)| !o.is_empty()) {
                if f.message.contains(original.as_str()) {
                    f.message = f.message.replace(original.as_str(), p);
                }
            }
        }
    }

    /// Marks the edition and, for `all`, removes what names the delivery.
    pub fn report(&self, report: &mut Report) {
        report.edition = Some(self.edition());
        if self.scope == Scope::All {
            for input in report.inputs.iter_mut() {
                for (i, file) in input.account.files.iter_mut().enumerate() {
                    file.path = format!("{}-{}", input.account.dataset, i + 1).into();
                }
            }
            report.command = vec!["hutong".into(), "audit".into(), WITHHELD.into()];
            report.unmapped_labels.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_rows_are_matched_to_their_group_by_its_key_columns() {
        let header: Vec<String> = ["region", "app", "issuer", "attempts"].map(String::from).to_vec();
        let key: BTreeMap<String, String> = [("region", "440300"), ("app", "wechat_pay"), ("issuer", "unionpay")]
            .map(|(k, v)| (k.into(), v.into()))
            .into();
        let row = |r: &str, a: &str| vec![r.to_string(), a.to_string(), "unionpay".to_string(), "9".to_string()];
        assert!(belongs(&header, &row("440300", "wechat_pay"), &key));
        // The same region, another cell: not the suppressed group's row.
        assert!(!belongs(&header, &row("440300", "alipay"), &key));
        // Without key columns: the first cell is the group.
        let group_header: Vec<String> = ["group", "provider", "merchant_id"].map(String::from).to_vec();
        let platform: BTreeMap<String, String> = [("platform".to_string(), "jd".to_string())].into();
        assert!(belongs(&group_header, &["jd".into(), "unionpay".into(), "M1".into()], &platform));
        assert!(!belongs(&group_header, &["taobao".into(), "unionpay".into(), "M1".into()], &platform));
        // Coverage of several providers: the provider column and the group.
        let both: BTreeMap<String, String> =
            [("platform", "jd"), ("provider", "unionpay")].map(|(k, v)| (k.into(), v.into())).into();
        assert!(belongs(&group_header, &["jd".into(), "unionpay".into(), "M1".into()], &both));
        assert!(!belongs(&group_header, &["jd".into(), "alipay".into(), "M1".into()], &both));
    }

    #[test]
    fn pseudonyms_are_keyed_stable_and_distinct() {
        let a = Redaction { key: b"0123456789abcdef".to_vec(), scope: Scope::Merchants, min_group: 10 };
        let b = Redaction { key: b"fedcba9876543210".to_vec(), ..a.clone_key() };
        assert_eq!(a.pseudonym("merchant_id", "M000001"), a.pseudonym("merchant_id", "M000001"));
        assert_ne!(a.pseudonym("merchant_id", "M000001"), a.pseudonym("merchant_id", "M000002"));
        assert_ne!(a.pseudonym("merchant_id", "M000001"), b.pseudonym("merchant_id", "M000001"));
        // Known answer: HMAC-SHA-256("0123456789abcdef", "merchant_id\0M000001"),
        // its first 6 bytes in hex (Python's hmac module gives the same).
        assert_eq!(a.pseudonym("merchant_id", "M000001"), "M~52ff3a6fbf3f");
        assert!(a.pseudonym("name", "x").starts_with("N~"));
    }

    impl Redaction {
        fn clone_key(&self) -> Redaction {
            Redaction { key: self.key.clone(), scope: self.scope, min_group: self.min_group }
        }
    }
}
