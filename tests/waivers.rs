//! `audit --waivers`: applied, expired and unused waivers, their effect on
//! verdicts and the exit code, and located errors in waiver files.

mod common;

use std::path::Path;

use common::{audit, run};
use serde_json::Value;

const PL03_TAOBAO: &str = r#"[[waiver]]
rule = "CN-PL-03"
group = { platform = "taobao" }
reason = "Merchant contracts renegotiated; rivals go live in Q1"
owner = "compliance@platform.example"
expires = 2024-03-31
ticket = "COMP-1234"
"#;

fn waivers_file(dir: &Path, text: &str) -> String {
    let p = dir.join("waivers.toml");
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

fn finding<'a>(v: &'a Value, rule: &str) -> &'a Value {
    v["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == rule).unwrap()
}

fn group<'a>(f: &'a Value, platform: &str) -> &'a Value {
    f["groups"].as_array().unwrap().iter().find(|g| g["key"]["platform"] == platform).unwrap()
}

#[test]
fn a_current_waiver_turns_the_failure_into_waived_and_never_fails_the_run() {
    let (dir, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let w = waivers_file(dir.path(), PL03_TAOBAO);
    // SOURCE_DATE_EPOCH 1700000000 is 2023-11-14: before the expiry.
    let (code, v) = audit(Path::new("testdata/sample"), out.path(), &["--waivers", &w, "--fail-on", "critical"]);
    assert_eq!(code, Some(0), "CN-PL-03 is the only critical rule and its one failure is waived");
    let f = finding(&v, "CN-PL-03");
    assert_eq!(f["verdict"], "pass");
    let g = group(f, "taobao");
    assert_eq!((g["verdict"].as_str(), g["value"].as_f64()), (Some("waived"), Some(12.0)));
    assert_eq!(g["waiver"]["owner"], "compliance@platform.example");
    assert_eq!(g["waiver"]["expires"], "2024-03-31");
    assert_eq!(g["waiver"]["ticket"], "COMP-1234");
    assert!(f["message"]
        .as_str()
        .unwrap()
        .starts_with("1 failing group waived (taobao). Without waivers: 12 exclusive"));
    let outcome = &v["waivers"]["waivers"][0];
    assert_eq!((outcome["status"].as_str(), outcome["groups"].as_u64()), (Some("applied"), Some(1)));
    assert_eq!(v["waivers"]["as_of"], "2023-11-14");
    assert_eq!((v["summary"]["fail"].as_u64(), v["summary"]["pass"].as_u64()), (Some(14), Some(1)));
    // The report shows the waived group, never hides it.
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    assert!(html.contains("<h2 id=\"waivers\">Waivers</h2>") && html.contains("COMP-1234"), "no waivers section");
    // Without the waiver the same run fails.
    let (code, _) = audit(Path::new("testdata/sample"), out.path(), &["--fail-on", "critical"]);
    assert_eq!(code, Some(1));
}

#[test]
fn an_expired_waiver_does_not_apply_and_fails_the_run() {
    let (dir, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let w = waivers_file(dir.path(), PL03_TAOBAO);
    let o = common::audit_output(
        Path::new("testdata/sample"),
        out.path(),
        &["--waivers", &w, "--as-of", "2024-04-01", "--fail-on", "critical"],
    );
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("findings.json")).unwrap()).unwrap();
    let f = finding(&v, "CN-PL-03");
    assert_eq!((f["verdict"].as_str(), group(f, "taobao")["verdict"].as_str()), (Some("fail"), Some("fail")));
    let outcome = &v["waivers"]["waivers"][0];
    assert_eq!((outcome["status"].as_str(), outcome["groups"].as_u64()), (Some("expired"), Some(1)));
    assert!(v["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("expired on 2024-03-31")));
    // The expiry day itself is still covered.
    let (code, _) = audit(
        Path::new("testdata/sample"),
        out.path(),
        &["--waivers", &w, "--as-of", "2024-03-31", "--fail-on", "critical"],
    );
    assert_eq!(code, Some(0));
}

#[test]
fn a_waiver_matching_no_failing_group_is_unused() {
    let (dir, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // jd has no exclusive merchants, and CN-PL-01 passes on tmall.
    let text = "[[waiver]]\nrule = \"CN-PL-03\"\ngroup = { platform = \"jd\" }\nreason = \"r\"\nowner = \"o\"\n\
                expires = 2030-01-01\n\n[[waiver]]\nrule = \"CN-PL-01\"\ngroup = { platform = \"tmall\" }\n\
                reason = \"r\"\nowner = \"o\"\nexpires = 2030-01-01\n";
    let w = waivers_file(dir.path(), text);
    let (code, v) = audit(Path::new("testdata/sample"), out.path(), &["--waivers", &w, "--fail-on", "critical"]);
    assert_eq!(code, Some(1));
    let statuses: Vec<&str> =
        v["waivers"]["waivers"].as_array().unwrap().iter().map(|w| w["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["unused", "unused"]);
    assert_eq!(finding(&v, "CN-PL-03")["verdict"], "fail");
    let warned = v["warnings"].as_array().unwrap().iter().filter(|w| w.as_str().unwrap().contains("unused")).count();
    assert_eq!(warned, 2);
}

#[test]
fn a_whole_rule_waiver_waives_every_failing_group() {
    let (dir, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let text = "[[waiver]]\nrule = \"CN-ND-05\"\nreason = \"r\"\nowner = \"o\"\nexpires = 2030-01-01\n";
    let w = waivers_file(dir.path(), text);
    let (_, v) = audit(Path::new("testdata/sample"), out.path(), &["--waivers", &w]);
    let f = finding(&v, "CN-ND-05");
    let waived = f["groups"].as_array().unwrap().iter().filter(|g| g["verdict"] == "waived").count();
    assert_eq!((waived, v["waivers"]["waivers"][0]["groups"].as_u64()), (3, Some(3)));
    assert_ne!(f["verdict"], "fail");
}

#[test]
fn a_bad_waiver_file_is_located_and_exits_2() {
    let (dir, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let text = "[[waiver]]\nrule = \"CN-XX-99\"\nreason = \"r\"\nowner = \"o\"\nexpires = \"next spring\"\n";
    let w = waivers_file(dir.path(), text);
    let o = out.path().to_str().unwrap();
    let (code, _, err) =
        run(&["audit", "--rules", common::RULES, "--data", "testdata/sample", "--out", o, "--waivers", &w]);
    assert_eq!(code, Some(2));
    assert!(err.contains("R016") && err.contains("no rule `CN-XX-99`"), "{err}");
    assert!(err.contains("waivers.toml:2:8") && err.contains("waivers.toml:5:11"), "{err}");
    assert!(err.contains("2 problems in"), "{err}");
    let (code, _, err) =
        run(&["audit", "--rules", common::RULES, "--data", "testdata/sample", "--out", o, "--as-of", "x"]);
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn the_bundled_example_has_one_waiver_of_each_outcome() {
    let out = tempfile::tempdir().unwrap();
    let (code, v) = audit(Path::new("testdata/sample"), out.path(), &["--waivers", "testdata/waivers.toml"]);
    assert_eq!(code, Some(1), "CN-PL-01 fails on jd: its waiver expired");
    let outcomes: Vec<(&str, &str, u64)> = v["waivers"]["waivers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["rule"].as_str().unwrap(), w["status"].as_str().unwrap(), w["groups"].as_u64().unwrap()))
        .collect();
    assert_eq!(outcomes, [("CN-PL-03", "applied", 1), ("CN-PL-01", "expired", 1), ("CN-ND-02", "unused", 0)]);
    assert_eq!(v["waivers"]["waivers"][0]["location"], "testdata/waivers.toml:5");
    // The example in docs/ci.md is the first waiver of the bundled file.
    let docs = std::fs::read_to_string("docs/ci.md").unwrap();
    let bundled = std::fs::read_to_string("testdata/waivers.toml").unwrap();
    let strip = |s: &str| s.split('#').next().unwrap().trim_end().to_string();
    let doc_lines: Vec<String> =
        docs.split("```toml\n").nth(1).unwrap().split("```").next().unwrap().lines().map(strip).collect();
    let file_lines: Vec<String> = bundled.lines().skip(4).take(doc_lines.len()).map(strip).collect();
    assert_eq!(doc_lines, file_lines);
}
