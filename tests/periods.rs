//! `audit --period` on hand-made logs: each rule is judged per calendar period
//! as well as over the whole window; the pooled verdicts do not change; a
//! violation that starts in the second month shows there; coverage rules with
//! a deadline get a projection from the trend.

mod common;

use std::fmt::Write as _;

use common::{group, run};
use serde_json::Value;

/// Appended to `common::HEADER`: merchant coverage of UnionPay, and
/// exclusivity (five sessions or more to judge a merchant).
const RULES: &str = r#"
[[rules]]
id = "P-01"
title = "UnionPay offered by merchants"
severity = "high"
citation = "fixture"
rationale = "fixture"
kind = "coverage"
unit = "merchant"
provider = "unionpay"
min_share = 0.75
DEADLINE

[[rules]]
id = "P-02"
title = "No merchant offers only its platform's own provider"
severity = "critical"
citation = "fixture"
rationale = "fixture"
kind = "exclusivity"
"#;

const HEAD: &str = "session_id,ts,platform,merchant_id,region,method,position,is_default,folded,surcharge\n";

/// `sessions` checkout sessions of a taobao merchant on `day` (at noon,
/// +08:00), each offering Alipay and, when `unionpay`, UnionPay too.
fn sessions(csv: &mut String, merchant: &str, day: &str, sessions: u32, unionpay: bool) {
    for s in 0..sessions {
        let id = format!("{merchant}-{day}-{s}");
        let _ = writeln!(csv, "{id},{day}T12:00:00+08:00,taobao,{merchant},110000,Alipay,1,true,false,");
        if unionpay {
            let _ = writeln!(csv, "{id},{day}T12:00:00+08:00,taobao,{merchant},110000,UnionPay,2,false,false,");
        }
    }
}

/// Two months: in October all four merchants offer UnionPay; from November M3
/// and M4 offer only Alipay.
fn two_months() -> String {
    let mut csv = HEAD.to_string();
    for m in ["M1", "M2", "M3", "M4"] {
        sessions(&mut csv, m, "2021-10-04", 5, true);
        sessions(&mut csv, m, "2021-11-08", 5, m == "M1" || m == "M2");
    }
    csv
}

/// Audits `checkout` with the fixture rules: exit code and findings.json.
fn audit(checkout: &str, deadline: &str, extra: &[&str]) -> (Option<i32>, Value, tempfile::TempDir) {
    audit_with(&RULES.replace("DEADLINE", deadline), checkout, extra)
}

/// Audits `checkout` with `rules` after `common::HEADER`; the output is in `out/` of the directory returned.
fn audit_with(rules: &str, checkout: &str, extra: &[&str]) -> (Option<i32>, Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let path = dir.path().join("in/rules.toml");
    std::fs::write(&path, format!("{}{rules}", common::HEADER)).unwrap();
    let data = dir.path().join("in/checkout.csv");
    std::fs::write(&data, checkout).unwrap();
    let out = dir.path().join("out");
    let mut args = vec!["audit", "--rules", path.to_str().unwrap(), "--checkout", data.to_str().unwrap()];
    args.extend(["--out", out.to_str().unwrap(), "--quiet"]);
    args.extend_from_slice(extra);
    let (code, _, err) = run(&args);
    assert_ne!(code, Some(2), "{err}");
    let v = serde_json::from_str(&std::fs::read_to_string(out.join("findings.json")).unwrap()).unwrap();
    (code, v, dir)
}

fn finding<'a>(v: &'a Value, id: &str) -> &'a Value {
    common::finding(v, id)
}

/// `(period, from, to, n, value, verdict)` of each period of a finding or group.
fn periods(x: &Value) -> Vec<(String, String, String, u64, f64, String)> {
    x["periods"]
        .as_array()
        .unwrap_or_else(|| panic!("no periods in {x}"))
        .iter()
        .map(|p| {
            let s = |k: &str| p[k].as_str().unwrap().to_string();
            (s("period"), s("from"), s("to"), p["n"].as_u64().unwrap(), p["value"].as_f64().unwrap(), s("verdict"))
        })
        .collect()
}

fn p(
    label: &str,
    from: &str,
    to: &str,
    n: u64,
    value: f64,
    verdict: &str,
) -> (String, String, String, u64, f64, String) {
    (label.into(), from.into(), to.into(), n, value, verdict.into())
}

/// findings.json without what `--period` adds (and the temporary paths), for
/// comparing pooled results.
fn pooled(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for k in ["periods", "period", "projection", "command", "path"] {
                    m.remove(k);
                }
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

#[test]
fn a_violation_from_the_second_month_shows_there_and_the_pooled_verdict_is_unchanged() {
    let (code, plain, _d1) = audit(&two_months(), "", &[]);
    let (code_m, v, d2) = audit(&two_months(), "", &["--period", "month"]);
    // Pooled over both months every merchant offered UnionPay at some point
    // and none offered Alipay alone throughout: both rules pass, as before.
    assert_eq!((code, code_m), (Some(0), Some(0)));
    assert_eq!(finding(&v, "P-01")["verdict"], "pass");
    assert_eq!(finding(&v, "P-02")["verdict"], "pass");
    assert_eq!(pooled(v.clone()), pooled(plain.clone()), "--period changed the pooled findings");
    assert_eq!(plain.get("period"), None);
    assert_eq!(finding(&plain, "P-01").get("periods"), None);
    assert_eq!(v["period"], "month");
    // Per month: October 4 of 4 merchants offer UnionPay; November 2 of 4.
    let oct = |n, value, verdict| p("2021-10", "2021-10-01", "2021-11-01", n, value, verdict);
    let nov = |n, value, verdict| p("2021-11", "2021-11-01", "2021-12-01", n, value, verdict);
    let cover = group(finding(&v, "P-01"), "platform=taobao");
    assert_eq!(periods(cover), [oct(4, 1.0, "pass"), nov(4, 0.5, "fail")]);
    assert_eq!(periods(finding(&v, "P-01")), [oct(4, 1.0, "pass"), nov(4, 0.5, "fail")]);
    // Exclusivity: M3 and M4 offer only Alipay in November, in five sessions
    // each: two exclusive merchants, more than the rule's zero.
    let excl = group(finding(&v, "P-02"), "platform=taobao");
    assert_eq!(periods(excl), [oct(4, 0.0, "pass"), nov(4, 2.0, "fail")]);
    // The report draws a panel per group and a sparkline per rule.
    let html = std::fs::read_to_string(d2.path().join("out/report.html")).unwrap();
    assert_eq!(html.matches("class=\"chart panel\"").count(), 2);
    assert!(html.contains("aria-label=\"Per period: 2021-10 pass, 2021-11 fail\""), "no sparkline");
    assert!(html.contains("2021-11: 50.0% (fail)"), "no point text");
}

#[test]
fn weeks_days_and_quarters_are_labelled_by_the_calendar() {
    let (_, v, _d) = audit(&two_months(), "", &["--period", "week"]);
    // 4 October 2021 is the Monday of ISO week 40; 8 November a Monday of week 45.
    let labels: Vec<String> =
        periods(finding(&v, "P-01")).into_iter().map(|x| format!("{} {} {}", x.0, x.1, x.2)).collect();
    assert_eq!(labels, ["2021-W40 2021-10-04 2021-10-11", "2021-W45 2021-11-08 2021-11-15"]);
    let (_, v, _d) = audit(&two_months(), "", &["--period", "day"]);
    let labels: Vec<String> = periods(finding(&v, "P-01")).into_iter().map(|x| x.0).collect();
    assert_eq!(labels, ["2021-10-04", "2021-11-08"]);
    let (_, v, _d) = audit(&two_months(), "", &["--period", "quarter"]);
    assert_eq!(periods(finding(&v, "P-01")), [p("2021-Q4", "2021-10-01", "2022-01-01", 4, 1.0, "pass")]);
    assert_eq!(run(&["audit", "--period", "year", "--rules", "r", "--data", "d", "--out", "o"]).0, Some(2));
}

#[test]
fn periods_follow_the_calendar_of_the_time_zone() {
    // 31 October 20:00 UTC is 1 November 04:00 in China.
    let mut csv = HEAD.to_string();
    csv.push_str("S1,2021-10-31T20:00:00Z,taobao,M1,110000,Alipay,1,true,false,\n");
    csv.push_str("S1,2021-10-31T20:00:00Z,taobao,M1,110000,UnionPay,2,false,false,\n");
    let (_, v, _d) = audit(&csv, "", &["--period", "month"]);
    assert_eq!(periods(finding(&v, "P-01"))[0].0, "2021-11");
    let (_, v, _d) = audit(&csv, "", &["--period", "month", "--timezone", "Z"]);
    assert_eq!(periods(finding(&v, "P-01"))[0].0, "2021-10");
}

/// Three months of eight merchants on each of two platforms: on taobao 4, 5
/// then 6 offer UnionPay; on tmall 4 every month.
fn three_months() -> String {
    let mut csv = HEAD.to_string();
    for (k, day) in ["2021-10-04", "2021-11-08", "2021-12-06"].iter().enumerate() {
        for i in 1..=8 {
            sessions(&mut csv, &format!("T{i}"), day, 1, i <= 4 + k);
            let line = format!("S-{i}-{day},{day}T12:00:00+08:00,tmall,K{i},110000,");
            let _ = writeln!(csv, "{line}Alipay,1,true,false,");
            if i <= 4 {
                let _ = writeln!(csv, "{line}UnionPay,2,false,false,");
            }
        }
    }
    csv
}

#[test]
fn a_coverage_rule_with_a_deadline_is_projected_from_its_trend() {
    let (_, v, _d) = audit(&three_months(), "deadline = 2022-03-31", &["--period", "month"]);
    let f = finding(&v, "P-01");
    // taobao: 4/8, 5/8, 6/8 → slope 0.125 per month; from 0.75 in December,
    // 0.9 takes ceil(0.15 / 0.125) = 2 more months: February 2022.
    let taobao = group(f, "platform=taobao");
    let vals: Vec<f64> = periods(taobao).iter().map(|x| x.4).collect();
    assert_eq!(vals, [0.5, 0.625, 0.75]);
    let pr = &taobao["projection"];
    assert_eq!(pr["method"], "linear fit over 3 months");
    assert_eq!(pr["slope"], 0.125);
    // The target is the rule's 0.75: already met in December.
    assert_eq!((pr["reaches"].as_str(), pr["by_deadline"].as_bool()), (Some("2021-12"), Some(true)));
    assert_eq!(pr["text"], "Already at 75.0% in 2021-12 (target 75.0%).");
    // tmall: 4 of 8 every month: flat, so never.
    let pr = &group(f, "platform=tmall")["projection"];
    assert_eq!((pr["reaches"].as_str(), pr["slope"].as_f64()), (None, Some(0.0)));
    assert_eq!(
        pr["text"],
        "Not at the current pace (linear fit over 3 months: +0.0 pp per month); the target is 75.0%."
    );
    // Without a deadline there is nothing to project.
    let (_, v, _d) = audit(&three_months(), "", &["--period", "month"]);
    assert_eq!(group(finding(&v, "P-01"), "platform=taobao").get("projection"), None);
}

#[test]
fn a_rising_trend_is_projected_to_the_period_it_reaches_the_target() {
    let rules = RULES.replace("DEADLINE", "deadline = 2022-01-31").replace("min_share = 0.75", "min_share = 0.9");
    let (_, v, dir) = audit_with(&rules, &three_months(), &["--period", "month"]);
    // 0.75 in December rising 0.125 a month: 0.9 in February 2022, after the
    // January deadline.
    let pr = &group(finding(&v, "P-01"), "platform=taobao")["projection"];
    assert_eq!((pr["reaches"].as_str(), pr["by_deadline"].as_bool()), (Some("2022-02"), Some(false)));
    assert_eq!(
        pr["text"],
        "At the current pace (linear fit over 3 months: +12.5 pp per month), 90.0% is reached in 2022-02, after the \
         deadline 2022-01-31."
    );
    let html = std::fs::read_to_string(dir.path().join("out/report.html")).unwrap();
    assert!(
        html.contains("90.0% is reached in 2022-02, after the deadline 2022-01-31."),
        "no projection in the report"
    );
}
