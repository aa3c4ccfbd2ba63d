//! Rulebook diagnostics (snapshots of what `rules check` prints) and the
//! shipped rulebook's completeness.

mod common;

use common::run as hutong;

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
fn overlapping_aliases_are_a_warning() {
    let (code, out, err) = hutong(&["rules", "check", "testdata/rules/ambiguous.toml"]);
    assert_eq!(code, Some(0));
    assert_eq!(out, "testdata/rules/ambiguous.toml: ok (1 rules, 2 providers, 1 warning)\n");
    insta::assert_snapshot!("ambiguous", err);
}

#[test]
fn an_underscore_in_an_alias_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u.toml");
    let text = std::fs::read_to_string("testdata/rules/ambiguous.toml").unwrap().replace("'npa'", "'union_pay'");
    std::fs::write(&path, text).unwrap();
    let (code, _, err) = hutong(&["rules", "check", path.to_str().unwrap()]);
    assert_eq!(code, Some(0));
    assert!(err.contains("warning[R014]: alias `union_pay` of `unionpay` contains `_`"), "{err}");
}

#[test]
fn a_percent_written_as_a_whole_number_gets_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    let text = std::fs::read_to_string("testdata/rules/ambiguous.toml").unwrap().replace(
        "kind = \"exclusivity\"",
        "kind = \"parity\"\nmetric = \"failure_rate\"\nrivals = [\"unionpay\"]\nmax_difference = 2\nmin_n = 0\nwhere = \"channel = \\\"online\\\"\"",
    );
    std::fs::write(&path, text).unwrap();
    let (code, _, err) = hutong(&["rules", "check", path.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("differences of rates are fractions: 0.02 for 2 points"), "{err}");
    assert!(err.contains("`min_n` must be >= 1"), "{err}");
    assert!(err.contains("SQL strings take single quotes: 'online'"), "{err}");
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
    assert_eq!(out, "rules/cn-interconnection-2021.toml: ok (15 rules, 15 providers)\n");
    // No overlapping aliases or other warnings in the shipped rulebook.
    assert_eq!(err, "");
    let rb = hutong::engine::kinds::load(std::path::Path::new("rules/cn-interconnection-2021.toml")).unwrap();
    let ids: Vec<&str> = rb.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "CN-PL-01", "CN-PL-02", "CN-PL-03", "CN-ND-01", "CN-ND-02", "CN-ND-03", "CN-ND-04", "CN-ND-05", "CN-ND-06",
            "CN-IO-01", "CN-IO-02", "CN-IO-03", "CN-MK-01", "CN-MK-02", "CN-QR-01"
        ]
    );
    for r in &rb.rules {
        assert!(
            !r.title.trim().is_empty() && !r.rationale.trim().is_empty() && !r.citation.trim().is_empty(),
            "{}",
            r.id
        );
    }
    // Every comparison has a deliberate, non-zero margin.
    for r in &rb.rules {
        if let hutong::engine::RuleSpec::Parity(p) = &r.spec {
            let limit = p.threshold.limit();
            let margin = if p.threshold.is_ratio() { (limit - 1.0).abs() } else { limit.abs() };
            assert!(margin > 0.0, "{} has no margin", r.id);
        }
    }
    // Every source names how far it was checked, and the shipped taxonomy
    // resolves the labels platforms really log.
    for s in &rb.meta.sources {
        assert!(s.contains("verified") || s.contains("Art.") || s.contains("CFR") || s.contains("Guidelines"), "{s}");
    }
    let tax = hutong::rulebook::Taxonomy::new(&rb).unwrap();
    for (label, want) in [
        ("工商银行信用卡(银联)", Some("icbc")),
        ("ICBC UnionPay Credit", Some("icbc")),
        ("财付通（银联条码支付互联互通）", Some("wechat_pay")),
        ("CMBC", Some("cmbc")),
        ("民生银行", Some("cmbc")),
        ("CMB", Some("cmb")),
        ("数字人民币", Some("ecny")),
        ("e-CNY", Some("ecny")),
        ("网商银行", Some("alipay")),
        ("MYbank", Some("alipay")),
        ("微众银行", Some("wechat_pay")),
        ("WeBank", Some("wechat_pay")),
        ("京东白条", Some("jd_pay")),
        ("美团月付", Some("meituan_pay")),
        ("AlipayHK", Some("alipay_hk")),
        ("WeChat Pay HK", Some("wechat_pay_hk")),
        ("Alipay", Some("alipay")),
        ("WeChat Pay", Some("wechat_pay")),
        ("meituan_pay", Some("meituan_pay")),
        ("MEITUAN-PAY", Some("meituan_pay")),
        ("ｍｅｉｔｕａｎ　ｐａｙ", Some("meituan_pay")),
        ("礼品卡", None),
    ] {
        assert_eq!(tax.map(label), Ok(want), "{label}");
    }
    for (raw, want) in
        [("淘宝", "taobao"), ("天猫", "tmall"), ("饿了么", "ele_me"), ("美团", "meituan"), ("京东", "jd")]
    {
        assert_eq!(tax.platform(raw), want, "{raw}");
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
