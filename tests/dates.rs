//! Rule `effective` dates and `deadline`s on hand-made logs: rows before a
//! rule's effective day are not evaluated; failures in data that ends before
//! the deadline are reported `before_deadline` and count for the exit code only
//! with `--strict-deadlines`.

mod common;

use std::path::Path;

use common::run;
use serde_json::Value;

/// Appended to `common::HEADER`.
const RULE: &str = r#"
[[rules]]
id = "D-01"
title = "UnionPay offered by merchants"
severity = "high"
citation = "fixture"
rationale = "fixture"
kind = "coverage"
unit = "merchant"
provider = "unionpay"
min_share = MIN
DATES
"#;

/// Four taobao merchants on 1 October offer only Alipay; on 6 October M1 and
/// M2 offer UnionPay too and M3 still does not. (Times at +08:00.)
const CHECKOUT: &str = "session_id,ts,platform,merchant_id,region,method,position,is_default,folded,surcharge
S1,2021-10-01T10:00:00+08:00,taobao,M1,110000,Alipay,1,true,false,
S2,2021-10-01T10:00:00+08:00,taobao,M2,110000,Alipay,1,true,false,
S3,2021-10-01T10:00:00+08:00,taobao,M3,110000,Alipay,1,true,false,
S4,2021-10-01T10:00:00+08:00,taobao,M4,110000,Alipay,1,true,false,
S5,2021-10-06T10:00:00+08:00,taobao,M1,110000,Alipay,1,true,false,
S5,2021-10-06T10:00:00+08:00,taobao,M1,110000,UnionPay,2,false,false,
S6,2021-10-06T10:00:00+08:00,taobao,M2,110000,Alipay,1,true,false,
S6,2021-10-06T10:00:00+08:00,taobao,M2,110000,UnionPay,2,false,false,
S7,2021-10-06T10:00:00+08:00,taobao,M3,110000,Alipay,1,true,false,
";

/// Audits the fixture with `min_share` and the rule's date keys; exit code and findings.json.
fn audit(min: &str, dates: &str, extra: &[&str]) -> (Option<i32>, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    let text = format!("{}{}", common::HEADER, RULE.replace("MIN", min).replace("DATES", dates));
    std::fs::write(&rules, text).unwrap();
    std::fs::write(dir.path().join("checkout.csv"), CHECKOUT).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("out");
    let mut args = vec!["audit", "--rules", rules.to_str().unwrap(), "--checkout", "CHECKOUT", "--out"];
    let checkout = dir.path().join("checkout.csv");
    args[4] = checkout.to_str().unwrap();
    args.push(out.to_str().unwrap());
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = run(&args);
    if code == Some(2) {
        return (code, Value::Null, stderr);
    }
    let v = serde_json::from_str(&std::fs::read_to_string(Path::new(&out).join("findings.json")).unwrap()).unwrap();
    (code, v, stdout)
}

fn group(v: &Value) -> &Value {
    &v["findings"][0]["groups"][0]
}

#[test]
fn rows_before_the_effective_day_are_not_evaluated() {
    // All four merchants, two offering UnionPay: 0.5, below 0.6.
    let (code, v, _) = audit("0.6", "", &[]);
    assert_eq!((code, group(&v)["n"].as_u64(), group(&v)["value"].as_f64()), (Some(1), Some(4), Some(0.5)));
    assert_eq!(v["findings"][0]["effective"], "2021-09-01", "the rulebook's effective is the default");
    // From 5 October: M1, M2, M3 were seen and two offer UnionPay: 2/3 passes.
    let (code, v, _) = audit("0.6", "effective = 2021-10-05", &[]);
    assert_eq!((code, group(&v)["n"].as_u64(), group(&v)["value"].as_f64()), (Some(0), Some(3), Some(0.666667)));
    assert_eq!(v["findings"][0]["effective"], "2021-10-05");
}

#[test]
fn failures_before_the_deadline_count_only_with_strict_deadlines() {
    // The data end on 6 October: a deadline of 6 October has not passed.
    let (code, v, text) = audit("0.85", "deadline = 2021-10-06", &[]);
    assert_eq!(code, Some(0));
    let f = &v["findings"][0];
    assert_eq!((f["verdict"].as_str(), f["before_deadline"].as_bool()), (Some("fail"), Some(true)));
    assert_eq!((group(&v)["verdict"].as_str(), group(&v)["before_deadline"].as_bool()), (Some("fail"), Some(true)));
    assert_eq!(f["deadline"], "2021-10-06");
    assert!(text.contains("[before the deadline of 2021-10-06: not counted without --strict-deadlines]"), "{text}");
    let (code, _, _) = audit("0.85", "deadline = 2021-10-06", &["--strict-deadlines"]);
    assert_eq!(code, Some(1));
    // A deadline of 5 October has passed by the end of the data: it fails as usual.
    let (code, v, _) = audit("0.85", "deadline = 2021-10-05", &[]);
    assert_eq!(code, Some(1));
    assert_eq!(v["findings"][0].get("before_deadline"), None);
}

#[test]
fn bad_dates_are_located_rulebook_errors() {
    let (code, _, err) = audit("0.85", "effective = 2021-10-05\ndeadline = 2021-10-01", &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("R010") && err.contains("`deadline` is before `effective`") && err.contains("rules.toml:34:12"),
        "{err}"
    );
    let (code, _, err) = audit("0.85", "deadline = \"soon\"", &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("R012") && err.contains("`deadline` must be a date"), "{err}");
}

#[test]
fn from_and_to_restrict_the_window_and_count_the_rows_left_out() {
    // From 5 October: the four 1 October rows are outside, not rejected.
    let (code, v, text) = audit("0.6", "", &["--from", "2021-10-05"]);
    assert_eq!((code, group(&v)["n"].as_u64(), group(&v)["value"].as_f64()), (Some(0), Some(3), Some(0.666667)));
    let input = &v["inputs"][0];
    let counts: Vec<u64> = ["rows_read", "rows_accepted", "rows_rejected", "rows_outside_window"]
        .iter()
        .map(|k| input[k].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [9, 5, 0, 4]);
    assert!(text.contains("9 rows read = 5 accepted + 0 rejected + 4 outside the window"), "{text}");
    assert_eq!(v["window"]["from"], "2021-10-06T10:00:00+08:00");
    // Until 6 October 10:00 exclusive, in RFC 3339: only the 1 October rows.
    let (_, v, _) = audit("0.6", "", &["--to", "2021-10-06T10:00:00+08:00"]);
    assert_eq!((group(&v)["n"].as_u64(), v["inputs"][0]["rows_outside_window"].as_u64()), (Some(4), Some(5)));
    // An empty or unreadable window is a usage error.
    assert_eq!(audit("0.6", "", &["--from", "2021-10-06", "--to", "2021-10-05"]).0, Some(2));
    assert_eq!(audit("0.6", "", &["--from", "soon"]).0, Some(2));
}
