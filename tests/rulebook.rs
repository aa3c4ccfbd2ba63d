//! Rulebook diagnostics (snapshots of what `rules check` prints) and the
//! shipped rulebook's completeness.

use std::process::Command;

fn hutong(args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_hutong")).args(args).output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn many_problems_are_all_reported_with_positions() {
    let (code, _, err) = hutong(&["rules", "check", "testdata/rules/many-problems.toml"]);
    assert_eq!(code, Some(2));
    insta::assert_snapshot!("many_problems", err);
}

#[test]
fn syntax_error_is_located() {
    let (code, _, err) = hutong(&["rules", "check", "testdata/rules/syntax.toml"]);
    assert_eq!(code, Some(2));
    insta::assert_snapshot!("syntax", err);
}

#[test]
fn ambiguous_alias_is_an_error() {
    let (code, _, err) = hutong(&["rules", "check", "testdata/rules/ambiguous.toml"]);
    assert_eq!(code, Some(2));
    insta::assert_snapshot!("ambiguous", err);
}

#[test]
fn audit_refuses_a_broken_rulebook_before_reading_data() {
    let out = tempfile::tempdir().unwrap();
    let (code, _, err) = hutong(&[
        "audit",
        "--rules",
        "testdata/rules/syntax.toml",
        "--data",
        "testdata/sample",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("syntax.toml:3:29"), "{err}");
    assert!(!out.path().join("findings.json").exists());
}

#[test]
fn shipped_rulebook_is_valid_and_documented() {
    let (code, out, err) = hutong(&["rules", "check", "rules/cn-interconnection-2021.toml"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "rules/cn-interconnection-2021.toml: ok (11 rules, 11 providers)\n");
    let rb = hutong::rulebook::load(std::path::Path::new("rules/cn-interconnection-2021.toml")).unwrap();
    let ids: Vec<&str> = rb.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "CN-PL-01", "CN-PL-02", "CN-PL-03", "CN-ND-01", "CN-ND-02", "CN-ND-03", "CN-ND-04", "CN-IO-01", "CN-IO-02",
            "CN-MK-01", "CN-MK-02"
        ]
    );
    for r in &rb.rules {
        assert!(
            !r.title.trim().is_empty() && !r.rationale.trim().is_empty() && !r.citation.trim().is_empty(),
            "{}",
            r.id
        );
    }
}

#[test]
fn list_and_explain() {
    let (code, out, _) = hutong(&["rules", "list", "rules/cn-interconnection-2021.toml"]);
    assert_eq!(code, Some(0));
    insta::assert_snapshot!("list", out);
    let (code, out, _) = hutong(&["rules", "explain", "rules/cn-interconnection-2021.toml", "CN-ND-02"]);
    assert_eq!(code, Some(0));
    insta::assert_snapshot!("explain_nd02", out);
    let (code, _, err) = hutong(&["rules", "explain", "rules/cn-interconnection-2021.toml", "CN-XX-99"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no rule `CN-XX-99`"), "{err}");
}
