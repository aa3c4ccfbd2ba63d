//! Audits over time: `hutong diff` classifies failing groups as new, resolved
//! and persisting (hand-made findings files and real audits), `audit
//! --baseline` marks them in findings.json, `--fail-on-new-only` and
//! `--fail-on none` set the exit code, and a quiet failing run still says why.

mod common;

use std::path::Path;

use common::{audit, hutong, run};
use serde_json::{json, Value};

/// A findings.json with the given (rule, severity, key, verdict, value) groups.
fn findings(rulebook: &str, schema: &str, groups: &[(&str, &str, Value, &str, f64)]) -> Value {
    let mut by_rule: Vec<(String, String, Vec<Value>)> = Vec::new();
    for (rule, severity, key, verdict, value) in groups {
        let g = json!({ "key": key, "n": 10, "value": value, "verdict": verdict });
        match by_rule.iter_mut().find(|r| r.0 == *rule) {
            Some(r) => r.2.push(g),
            None => by_rule.push((rule.to_string(), severity.to_string(), vec![g])),
        }
    }
    let findings: Vec<Value> = by_rule
        .into_iter()
        .map(|(rule, severity, groups)| json!({ "rule_id": rule, "severity": severity, "groups": groups }))
        .collect();
    json!({ "schema_version": schema, "generated_at": "2021-11-01T00:00:00Z", "rulebook": { "id": rulebook }, "findings": findings })
}

fn write(dir: &Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p.to_string_lossy().into_owned()
}

fn keys(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let key: Vec<String> =
                e["key"].as_object().unwrap().iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap())).collect();
            format!("{} {}", e["rule_id"].as_str().unwrap(), key.join(","))
        })
        .collect()
}

#[test]
fn diff_classifies_hand_made_findings_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let old = findings(
        "rb",
        "1.1",
        &[
            ("R1", "high", json!({"platform": "a"}), "fail", 0.5),
            ("R1", "high", json!({"platform": "b"}), "fail", 0.6),
            ("R2", "high", json!({"cell": "x"}), "pass", 0.99),
            ("R3", "medium", json!({"pair": "y"}), "inconclusive", 0.1),
            ("R5", "high", json!({"platform": "gone"}), "fail", 1.0),
        ],
    );
    let new = findings(
        "rb",
        "1.1",
        &[
            ("R1", "high", json!({"platform": "a"}), "fail", 0.4),
            ("R1", "high", json!({"platform": "b"}), "pass", 0.9),
            ("R2", "high", json!({"cell": "x"}), "fail", 0.5),
            ("R3", "medium", json!({"pair": "y"}), "pass", 0.0),
            ("R4", "low", json!({"platform": "z"}), "fail", 2.0),
        ],
    );
    let (o, n) = (write(dir.path(), "old.json", &old), write(dir.path(), "new.json", &new));
    let (code, out, err) = run(&["diff", &o, &n, "--format", "json"]);
    assert_eq!(code, Some(1), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(keys(&v["new"]), ["R2 cell=x", "R4 platform=z"]);
    assert_eq!(keys(&v["resolved"]), ["R1 platform=b", "R5 platform=gone"]);
    assert_eq!(keys(&v["persisting"]), ["R1 platform=a"]);
    assert_eq!(keys(&v["changed"]), ["R3 pair=y"]);
    assert_eq!(v["new"][0]["old"], json!({"verdict": "pass", "value": 0.99}));
    assert_eq!(v["new"][0]["new"], json!({"verdict": "fail", "value": 0.5}));
    assert_eq!(v["resolved"][1]["new"], Value::Null);
    // Only a new failure at or above --fail-on sets the exit code: R2 is high.
    assert_eq!(run(&["diff", &o, &n, "--fail-on", "critical"]).0, Some(0));
    assert_eq!(run(&["diff", &o, &n, "--fail-on", "low"]).0, Some(1));
    assert_eq!(run(&["diff", &o, &n, "--fail-on", "none"]).0, Some(0));
    // Text: one line per entry, then the counts.
    let (_, text, _) = run(&["diff", &o, &n]);
    assert!(text.ends_with("2 new, 2 resolved, 1 persisting failing groups; 1 other verdict changes\n"), "{text}");
}

#[test]
fn diff_refuses_incompatible_files_and_warns_on_other_rulebooks() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.json", &findings("rb", "1.1", &[]));
    let b = write(dir.path(), "b.json", &findings("rb", "2.0", &[]));
    let (code, _, err) = run(&["diff", &a, &b]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot be compared"), "{err}");
    let c = write(dir.path(), "c.json", &findings("other", "1.0", &[]));
    let (code, _, err) = run(&["diff", &a, &c]);
    assert_eq!(code, Some(0));
    assert!(err.contains("warning: ") && err.contains("`other`"), "{err}");
    std::fs::write(dir.path().join("bad.json"), "{").unwrap();
    let bad = dir.path().join("bad.json").to_string_lossy().into_owned();
    assert_eq!(run(&["diff", &a, &bad]).0, Some(2));
    assert_eq!(run(&["diff", &a, "no/such/file.json"]).0, Some(2));
}

#[test]
fn a_baseline_marks_new_persisting_and_resolved_groups() {
    let clean = tempfile::tempdir().unwrap();
    let o = hutong(&["generate", "--out", clean.path().to_str().unwrap(), "--plant", "none", "--seed", "3"]);
    assert!(o.status.success());
    let (base_out, new_out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (code, base) = audit(clean.path(), base_out.path(), &[]);
    assert_eq!(code, Some(0));
    let baseline = base_out.path().to_str().unwrap();
    let (code, v) = audit(Path::new("testdata/sample"), new_out.path(), &["--baseline", baseline]);
    assert_eq!(code, Some(1));
    // Every failing group of the planted sample is new against clean data,
    // apart from the market screens, which fail on both.
    for f in v["findings"].as_array().unwrap() {
        for g in f["groups"].as_array().unwrap() {
            let want = match (g["verdict"].as_str().unwrap(), f["rule_id"].as_str().unwrap().starts_with("CN-MK")) {
                ("fail", true) => Some("persisting"),
                ("fail", false) => Some("new"),
                _ => None,
            };
            assert_eq!(g["baseline_status"].as_str(), want, "{} {}", f["rule_id"], g["key"]);
            assert_eq!(g["fingerprint"].as_str().unwrap().len(), 16);
        }
    }
    assert_eq!((v["baseline"]["new"].as_u64(), v["baseline"]["persisting"].as_u64()), (Some(20), Some(4)));
    // The same group has the same fingerprint in both audits.
    let fp = |v: &Value, rule: &str| -> String {
        let f = v["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == rule).unwrap();
        f["groups"][0]["fingerprint"].as_str().unwrap().to_string()
    };
    assert_eq!(fp(&base, "CN-MK-01"), fp(&v, "CN-MK-01"));
    // Known answer: sha256("CN-PL-01\0platform=ele_me"), first 16 hex digits
    // (platforms sort ele_me first).
    assert_eq!(fp(&v, "CN-PL-01"), "e4288dce644ec1c0");
    let html = std::fs::read_to_string(new_out.path().join("report.html")).unwrap();
    assert!(html.contains("Since the baseline") && html.contains("20 failing groups are new"), "no baseline section");
}

#[test]
fn fail_on_new_only_and_fail_on_none() {
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (code, _) = audit(Path::new("testdata/sample"), first.path(), &[]);
    assert_eq!(code, Some(1));
    let baseline = first.path().join("findings.json");
    let b = baseline.to_str().unwrap();
    // Nothing new against itself: the pipeline passes with --fail-on-new-only.
    let (code, v) = audit(Path::new("testdata/sample"), second.path(), &["--baseline", b, "--fail-on-new-only"]);
    assert_eq!(code, Some(0));
    assert_eq!(v["baseline"]["new"], 0);
    let (code, _) = audit(Path::new("testdata/sample"), second.path(), &["--baseline", b]);
    assert_eq!(code, Some(1));
    let out = second.path().to_str().unwrap();
    let o = hutong(&["audit", "--rules", common::RULES, "--data", "testdata/sample", "--out", out, "--baseline", b]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains(": 0 new, 24 persisting, 0 resolved failing groups\n"), "{text}");
    let (code, _) = audit(Path::new("testdata/sample"), second.path(), &["--fail-on", "none"]);
    assert_eq!(code, Some(0));
    assert_eq!(run(&["audit", "--rules", "x", "--data", "y", "--out", "z", "--fail-on-new-only"]).0, Some(2));
}

#[test]
fn a_quiet_failing_run_still_names_each_failing_rule() {
    let out = tempfile::tempdir().unwrap();
    let o = common::audit_output(Path::new("testdata/sample"), out.path(), &[]);
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 15, "{text}");
    assert!(lines.iter().any(|l| l.starts_with("CN-PL-03 FAIL critical: 12 exclusive merchants")), "{text}");
    // A failure the exit code does not count yet says so.
    assert!(
        lines.iter().any(|l| l.starts_with("CN-IO-03 FAIL medium: [before the deadline of 2022-03-31] 2 of 66")),
        "{text}"
    );
    // A quiet run that passes prints nothing.
    let o = common::audit_output(Path::new("testdata/sample"), out.path(), &["--fail-on", "none"]);
    assert_eq!((o.status.code(), o.stdout.is_empty()), (Some(0), true));
}
