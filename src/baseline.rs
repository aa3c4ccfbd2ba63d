//! Audits over time: stable group fingerprints, the comparison of two
//! findings.json files (`hutong diff`) and of an audit with its baseline
//! (`audit --baseline`): which failing groups are new, persisting or
//! resolved, and which verdicts changed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use serde::Serialize;
use serde_json::Value;

use crate::findings::{BaselineStatus, BaselineSummary, GroupRef, Report};
use crate::rulebook::Severity;

/// The fingerprint of a group: rule id and canonical key (sorted `k=v`),
/// hashed. Stable across audits, runs and machines.
pub fn fingerprint(rule_id: &str, key: &BTreeMap<String, String>) -> String {
    let canonical: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let digest = crate::digest::sha256_bytes(format!("{rule_id}\u{0}{}", canonical.join("\u{0}")).as_bytes());
    digest[..16].to_string()
}

/// One group of a findings.json file, as a comparison needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    pub verdict: String,
    pub value: Option<f64>,
}

/// A group as `diff` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub rule_id: String,
    pub key: BTreeMap<String, String>,
    pub old: Option<Side>,
    pub new: Option<Side>,
    /// The rule's severity (from the newer file when both have it).
    #[serde(skip)]
    pub severity: Option<Severity>,
}

/// Failing groups new, resolved and persisting between two audits, and other
/// verdict changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Diff {
    pub new: Vec<Entry>,
    pub resolved: Vec<Entry>,
    pub persisting: Vec<Entry>,
    pub changed: Vec<Entry>,
}

/// A group's identity: rule id and key.
type GroupId = (String, BTreeMap<String, String>);

/// A findings.json file read for comparison.
pub struct Snapshot {
    pub path: PathBuf,
    pub schema_major: String,
    pub rulebook_id: String,
    pub generated_at: String,
    /// (rule id, key) → (side, severity)
    groups: BTreeMap<GroupId, (Side, Option<Severity>)>,
}

impl Snapshot {
    /// Reads a findings.json file, or the one in an audit output directory.
    pub fn load(path: &Path) -> anyhow::Result<Snapshot> {
        let file = if path.is_dir() { path.join("findings.json") } else { path.to_path_buf() };
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        let v: Value =
            serde_json::from_str(&text).with_context(|| format!("{} is not a findings.json file", file.display()))?;
        Snapshot::from_value(&file, &v)
    }

    fn from_value(path: &Path, v: &Value) -> anyhow::Result<Snapshot> {
        let shown = path.display();
        let Some(version) = v["schema_version"].as_str() else {
            bail!("{shown} has no schema_version: not a findings.json file");
        };
        let Some(findings) = v["findings"].as_array() else { bail!("{shown} has no findings list") };
        let mut groups = BTreeMap::new();
        for f in findings {
            let rule_id = f["rule_id"].as_str().unwrap_or_default().to_string();
            let severity = f["severity"].as_str().and_then(Severity::parse);
            for g in f["groups"].as_array().into_iter().flatten() {
                let key: BTreeMap<String, String> = g["key"]
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
                    .unwrap_or_default();
                let side =
                    Side { verdict: g["verdict"].as_str().unwrap_or_default().to_string(), value: g["value"].as_f64() };
                groups.insert((rule_id.clone(), key), (side, severity));
            }
        }
        Ok(Snapshot {
            path: path.to_path_buf(),
            schema_major: version.split('.').next().unwrap_or_default().to_string(),
            rulebook_id: v["rulebook"]["id"].as_str().unwrap_or_default().to_string(),
            generated_at: v["generated_at"].as_str().unwrap_or_default().to_string(),
            groups,
        })
    }

    /// The snapshot of an audit just run, read from its findings directly.
    pub fn of(report: &Report) -> Snapshot {
        let mut groups = BTreeMap::new();
        for f in &report.findings {
            for g in &f.groups {
                // As findings.json writes it: a non-finite value is null.
                let side = Side { verdict: g.verdict.name().to_string(), value: g.value.filter(|v| v.is_finite()) };
                groups.insert((f.rule_id.clone(), g.key.clone()), (side, Some(f.severity)));
            }
        }
        Snapshot {
            path: PathBuf::from("(this audit)"),
            schema_major: report.schema_version.split('.').next().unwrap_or_default().to_string(),
            rulebook_id: report.rulebook.id.clone(),
            generated_at: report.generated_at.clone(),
            groups,
        }
    }
}

fn failing(side: Option<&Side>) -> bool {
    side.is_some_and(|s| s.verdict == "fail")
}

/// Compares two audits. Refuses files of different schema major versions;
/// the caller warns about different rulebooks.
pub fn diff(old: &Snapshot, new: &Snapshot) -> anyhow::Result<Diff> {
    if old.schema_major != new.schema_major {
        bail!(
            "{} (schema {}.x) and {} (schema {}.x) cannot be compared",
            old.path.display(),
            old.schema_major,
            new.path.display(),
            new.schema_major
        );
    }
    let mut out = Diff::default();
    let keys: std::collections::BTreeSet<_> = old.groups.keys().chain(new.groups.keys()).collect();
    for k in keys {
        let (o, n) = (old.groups.get(k), new.groups.get(k));
        let entry = Entry {
            rule_id: k.0.clone(),
            key: k.1.clone(),
            old: o.map(|x| x.0.clone()),
            new: n.map(|x| x.0.clone()),
            severity: n.and_then(|x| x.1).or(o.and_then(|x| x.1)),
        };
        let (was, is) = (failing(entry.old.as_ref()), failing(entry.new.as_ref()));
        match (was, is) {
            (false, true) => out.new.push(entry),
            (true, false) => out.resolved.push(entry),
            (true, true) => out.persisting.push(entry),
            (false, false) => {
                let verdicts = (entry.old.as_ref().map(|s| &s.verdict), entry.new.as_ref().map(|s| &s.verdict));
                if let (Some(a), Some(b)) = verdicts {
                    if a != b {
                        out.changed.push(entry);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Marks each group of `report` as a new, persisting or resolved failure
/// against `baseline`, and records the counts.
pub fn classify(report: &mut Report, baseline: &Snapshot) -> anyhow::Result<()> {
    let d = diff(baseline, &Snapshot::of(report))?;
    let status = |list: &[Entry], s: BaselineStatus| -> Vec<(GroupId, BaselineStatus)> {
        list.iter().map(|e| ((e.rule_id.clone(), e.key.clone()), s)).collect()
    };
    let mut marks: BTreeMap<_, _> = status(&d.new, BaselineStatus::New).into_iter().collect();
    marks.extend(status(&d.persisting, BaselineStatus::Persisting));
    marks.extend(status(&d.resolved, BaselineStatus::Resolved));
    for f in report.findings.iter_mut() {
        for g in f.groups.iter_mut() {
            g.baseline_status = marks.get(&(f.rule_id.clone(), g.key.clone())).copied();
        }
    }
    let gone = |e: &&Entry| e.new.is_none();
    report.baseline = Some(BaselineSummary {
        path: baseline.path.display().to_string(),
        generated_at: baseline.generated_at.clone(),
        new: d.new.len() as u64,
        persisting: d.persisting.len() as u64,
        resolved: d.resolved.len() as u64,
        resolved_groups: d
            .resolved
            .iter()
            .filter(gone)
            .map(|e| GroupRef { rule_id: e.rule_id.clone(), key: e.key.clone() })
            .collect(),
    });
    Ok(())
}

/// The diff as text, one line per entry, then the counts.
pub fn text(d: &Diff) -> String {
    let mut s = String::new();
    let side = |x: &Option<Side>| match x {
        Some(v) => match v.value {
            Some(val) => format!("{} ({})", v.verdict, crate::findings::number_text(Some(val))),
            None => v.verdict.clone(),
        },
        None => "absent".to_string(),
    };
    for (label, list) in
        [("NEW", &d.new), ("RESOLVED", &d.resolved), ("PERSISTING", &d.persisting), ("CHANGED", &d.changed)]
    {
        for e in list {
            let key: Vec<String> = e.key.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.push_str(&format!(
                "{label:<11} {:<10} {:<40} {} -> {}\n",
                e.rule_id,
                key.join(","),
                side(&e.old),
                side(&e.new)
            ));
        }
    }
    s.push_str(&format!(
        "{} new, {} resolved, {} persisting failing groups; {} other verdict changes\n",
        d.new.len(),
        d.resolved.len(),
        d.persisting.len(),
        d.changed.len()
    ));
    s
}
