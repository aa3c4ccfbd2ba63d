//! Every registered rule kind brings a fixture (`testdata/kinds/<kind>/`: a
//! tiny hand-made log and a one-rule rulebook) and two snapshots: its finding
//! as findings.json has it, and its section of the report. A change in a
//! kind's output shows up in review as a snapshot diff. Every kind's
//! template (`hutong rules new KIND`) is a complete rule.

mod common;

use std::path::Path;

use common::hutong;
use hutong::engine::kinds::KINDS;
use serde_json::Value;

/// Runs a kind's fixture: its finding and its report section.
fn run(kind: &str) -> (Value, String) {
    let dir = Path::new("testdata/kinds").join(kind);
    let out = tempfile::tempdir().unwrap();
    let rules = dir.join("rules.toml");
    let o = hutong(&[
        "audit",
        "--rules",
        rules.to_str().unwrap(),
        "--data",
        dir.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.code() != Some(2), "{kind}: {}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("findings.json")).unwrap()).unwrap();
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    let start = html.find("<section class=\"rule\" id=\"rule-k-01\"").unwrap_or_else(|| panic!("{kind}: no section"));
    let end = start + html[start..].find("</section>").unwrap() + "</section>".len();
    (v["findings"][0].clone(), html[start..end].to_string())
}

#[test]
fn every_kind_has_a_fixture() {
    for (kind, _, _) in KINDS {
        let dir = Path::new("testdata/kinds").join(kind);
        assert!(dir.join("rules.toml").is_file(), "{kind}: add testdata/kinds/{kind}/rules.toml and a log");
        assert!(dir.join("README.md").is_file(), "{kind}: say what the fixture shows in its README.md");
    }
}

#[test]
fn each_kind_fails_its_planted_fixture_as_snapshotted() {
    for (kind, _, _) in KINDS {
        let (finding, section) = run(kind);
        assert_eq!(finding["kind"], *kind);
        assert_eq!(finding["verdict"], "fail", "{kind}: {}", finding["message"]);
        insta::assert_snapshot!(format!("{kind}_finding"), serde_json::to_string_pretty(&finding).unwrap());
        insta::assert_snapshot!(format!("{kind}_report"), section);
    }
}

#[test]
fn every_template_is_a_complete_rule() {
    let header = std::fs::read_to_string("testdata/kinds/coverage/rules.toml").unwrap();
    let header = &header[..header.find("[[rules]]").unwrap()];
    for (kind, _, _) in KINDS {
        let o = hutong(&["rules", "new", kind]);
        assert_eq!(o.status.code(), Some(0), "{kind}");
        let template = String::from_utf8(o.stdout).unwrap();
        assert!(template.contains(&format!("kind = \"{kind}\"")), "{kind}");
        let text = format!("{header}{template}");
        if let Err(e) = hutong::engine::kinds::parse("template.toml", &text) {
            panic!("{kind}: the template does not load:\n{e}");
        }
    }
    let o = hutong(&["rules", "new", "loyalty"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown rule kind `loyalty`; kinds: coverage"));
}
