//! The HTML report: the committed example is current, hostile input is
//! escaped, the file is self-contained, templates can be overridden.

use std::path::Path;
use std::process::Command;

const RULES: &str = "rules/cn-interconnection-2021.toml";

fn audit(data: &str, out: &Path, extra: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_hutong"))
        .args(["audit", "--rules", RULES, "--data", data, "--out", out.to_str().unwrap()])
        .args(extra)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(o.status.code() != Some(2), "{}", String::from_utf8_lossy(&o.stderr));
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `reports/example` is `SOURCE_DATE_EPOCH=1700000000 hutong audit --rules
/// rules/cn-interconnection-2021.toml --data testdata/sample`, copied as plain
/// files (docs/report.md).
#[test]
fn example_report_is_current() {
    let out = tempfile::tempdir().unwrap();
    audit("testdata/sample", out.path(), &[]);
    let example = Path::new("reports/example");
    let rerun = "regenerate it as docs/report.md says";
    for file in ["report.html", "findings.json"] {
        // The recorded command leaves out --out: the files are identical.
        let fresh = read(&out.path().join(file));
        assert!(fresh == read(&example.join(file)), "{file} differs from reports/example; {rerun}");
    }
    // The Chinese edition of the same audit (`--lang zh-CN`).
    let zh = tempfile::tempdir().unwrap();
    audit("testdata/sample", zh.path(), &["--lang", "zh-CN"]);
    let fresh = read(&zh.path().join("report.html"));
    assert!(fresh == read(&example.join("report.zh-CN.html")), "report.zh-CN.html differs; {rerun}");
    for entry in std::fs::read_dir(out.path().join("evidence")).unwrap() {
        let name = entry.unwrap().file_name();
        let rel = Path::new("evidence").join(&name);
        assert_eq!(read(&out.path().join(&rel)), read(&example.join(&rel)), "{}; {rerun}", rel.display());
    }
}

#[test]
fn hostile_strings_are_escaped() {
    let out = tempfile::tempdir().unwrap();
    audit("testdata/hostile", out.path(), &[]);
    let html = read(&out.path().join("report.html"));
    for raw in ["<script>alert(1)</script>", "onmouseover=\"alert(2)", "<img src=x onerror", "<svg onload"] {
        assert!(!html.contains(raw), "unescaped `{raw}` in the report");
    }
    // The strings are shown as text: platform names, merchants, labels, regions.
    assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"));
    assert!(html.contains("&lt;img src=x onerror=alert(3)&gt;"));
    assert!(html.contains("&quot; onmouseover=&quot;alert(2)&quot;"));
    assert!(html.contains("&#x27;&gt;&lt;svg onload=alert(4)&gt;"));
}

#[test]
fn long_lists_of_failing_groups_are_cut_in_the_glance_row() {
    // 40 of the hostile data's 42 pilot-city cells fail CN-IO-01: the glance row
    // and the summary name five and count the rest; the section lists them all.
    let out = tempfile::tempdir().unwrap();
    audit("testdata/hostile", out.path(), &[]);
    let html = read(&out.path().join("report.html"));
    let glance = &html[html.find("id=\"glance-table\"").unwrap()..];
    let row = &glance[glance.find("CN-IO-01</a>").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("40 of 42 city cells not live"), "{row}");
    assert_eq!(row.matches(" → ").count(), 5, "{row}");
    assert!(row.contains("; and 35 more groups (see the section)"), "{row}");
}

#[test]
fn report_is_self_contained() {
    let html = read(Path::new("reports/example/report.html"));
    for needle in ["<link", " src=", "http://", "https://", "@import", "url("] {
        assert!(!html.contains(needle), "report refers outside itself: `{needle}`");
    }
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<style>") && html.contains("<svg class=\"chart\""));
}

#[test]
fn templates_can_be_overridden_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("style.css"), "body { color: rebeccapurple; }").unwrap();
    let out = tempfile::tempdir().unwrap();
    audit("testdata/sample", out.path(), &["--templates", dir.path().to_str().unwrap()]);
    let html = read(&out.path().join("report.html"));
    assert!(html.contains("body { color: rebeccapurple; }"));
    assert!(!html.contains("--fail-bg"), "the built-in stylesheet was replaced");
}

#[test]
fn broken_template_is_an_error_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("report.html"), "{% if %}").unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_hutong"))
        .args(["audit", "--rules", RULES, "--data", "testdata/sample", "--out", out.path().to_str().unwrap()])
        .args(["--templates", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("report templates"));
}

#[test]
fn a_report_over_100000_offending_merchants_stays_small() {
    let dir = tempfile::tempdir().unwrap();
    let mut checkout = String::from("session_id,ts,platform,merchant_id,region,method,position,is_default,folded\n");
    // 120,000 taobao merchants offering only Alipay: each is an exclusivity
    // offender and a merchant without UnionPay.
    for m in 0..120_000 {
        checkout.push_str(&format!("S{m},2021-10-01T10:00:00+08:00,taobao,M{m:06},110000,Alipay,1,true,false\n"));
    }
    std::fs::write(dir.path().join("checkout.csv"), checkout).unwrap();
    std::fs::write(
        dir.path().join("transactions.csv"),
        "txn_id,ts,platform,channel,merchant_id,region,method,amount,status\n\
         T1,2021-10-01T10:00:00+08:00,taobao,online,M000001,110000,Alipay,1,success\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    audit(dir.path().to_str().unwrap(), out.path(), &[]);
    let size = std::fs::metadata(out.path().join("report.html")).unwrap().len();
    assert!(size < 5_000_000, "report.html is {size} bytes");
    let html = read(&out.path().join("report.html"));
    // Ten offenders shown, 190 more folded away, every one in the file.
    assert!(html.contains("first 10 of 120,000 rows"));
    assert!(html
        .contains("<summary>190 more offenders here (of 120,000 in all; every one is in the evidence file)</summary>"));
    let evidence = read(&out.path().join("evidence/CN-PL-03.csv"));
    assert_eq!(evidence.lines().count(), 120_001, "the evidence file is complete");
}

/// The rule ids of the list items in a part of the report.
fn ids_in(html: &str, start: &str, end: &str) -> Vec<String> {
    let i = html.find(start).unwrap();
    let part = &html[i..i + html[i..].find(end).unwrap()];
    part.split("<a href=\"#rule-")
        .skip(1)
        .map(|s| s[s.find('>').unwrap() + 1..s.find('<').unwrap()].to_string())
        .collect()
}

#[test]
fn triage_comes_first_most_severe_first_with_screens_as_context() {
    let html = read(Path::new("reports/example/report.html"));
    // The executive summary comes before the glance table, its first item
    // the only critical finding; info-level screens and failures before
    // their deadline are listed as context, not counted.
    let summary = html.find("<section id=\"summary\"").unwrap();
    assert!(summary < html.find("id=\"glance\"").unwrap());
    let counted = ids_in(&html, "<ol class=\"triage\">", "</ol>");
    assert_eq!(counted.first().map(String::as_str), Some("CN-PL-03"));
    assert_eq!(counted.len(), 12, "{counted:?}");
    let context = ids_in(&html, "<p>Context (3)", "</ul>");
    assert_eq!(context, ["CN-IO-03", "CN-MK-01", "CN-MK-02"]);
    assert!(html.contains("12 of 15 rules fail, the most severe at critical severity; 0 inconclusive, 0 not evaluable, 0 pass. 3 more fail as context"));
    // The glance table: severity, then verdict, then id.
    let glance = ids_in(&html, "id=\"glance-table\"", "</table>");
    assert_eq!(&glance[..2], ["CN-PL-03", "CN-IO-01"]);
    assert_eq!(&glance[glance.len() - 2..], ["CN-MK-01", "CN-MK-02"]);
}

#[test]
fn info_screens_alone_do_not_raise_the_alarm() {
    let data = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_hutong"))
        .args(["generate", "--out", data.path().to_str().unwrap(), "--plant", "none"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let out = tempfile::tempdir().unwrap();
    audit(data.path().to_str().unwrap(), out.path(), &[]);
    let html = read(&out.path().join("report.html"));
    // On fair data only the market screens fail: the headline is not red.
    assert!(!html.contains("<p class=\"outcome fail\">"), "the outcome is shown as a failure");
    assert!(html.contains("No rule fails that counts: 2 of 15 fail only as context"), "{}", &html[..3000]);
    assert!(html.contains("<p>Not decided on this data ("));
}

#[test]
fn embedded_evidence_is_the_evidence_file_byte_for_byte() {
    use base64::Engine as _;
    let out = tempfile::tempdir().unwrap();
    audit("testdata/sample", out.path(), &["--embed-evidence"]);
    let html = read(&out.path().join("report.html"));
    let mut embedded = 0;
    for entry in std::fs::read_dir(out.path().join("evidence")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let at = html.find(&format!("download=\"{name}\"")).unwrap_or_else(|| panic!("{name} not embedded"));
        let start = html[..at].rfind("base64,").unwrap() + "base64,".len();
        let end = start + html[start..].find('"').unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(&html[start..end]).unwrap();
        assert_eq!(bytes, std::fs::read(out.path().join("evidence").join(&name)).unwrap(), "{name}");
        embedded += 1;
    }
    assert_eq!(embedded, 15);
    // Without the option the report only links the files.
    assert!(!read(Path::new("reports/example/report.html")).contains("base64,"));
}
