//! Each rule kind on a tiny hand-made log, against hand-computed values.

use std::path::Path;

use hutong::audit::{audit, Report};
use hutong::findings::{Finding, Group, Verdict};
use hutong::ingest::{self, IngestOptions, InputSpec};

const HEADER: &str = r#"
[rulebook]
id = "t"
title = "test"
version = "1"
jurisdiction = "CN"
effective = 2021-09-01

[providers.alipay]
name = "Alipay"
aliases = ['^alipay']
affiliated_platforms = ["taobao"]

[providers.unionpay]
name = "UnionPay"
aliases = ['unionpay', '云闪付']

[providers.wechat_pay]
name = "WeChat Pay"
aliases = ['^wechat']
affiliated_platforms = ["wechat_mp"]
"#;

const TXN_HEADER: &str = "txn_id,ts,platform,channel,merchant_id,region,method,wallet_app,code_issuer,amount,status";
const TXN_HEADER_LAT: &str =
    "txn_id,ts,platform,channel,merchant_id,region,method,wallet_app,code_issuer,amount,status,latency_ms";
const CHECKOUT_HEADER: &str = "session_id,ts,platform,merchant_id,region,method,position,is_default,folded,surcharge";

fn rule(body: &str) -> String {
    format!("{HEADER}\n[[rules]]\nid = \"T-1\"\ntitle = \"t\"\nseverity = \"high\"\ncitation = \"c\"\nrationale = \"r\"\n{body}")
}

fn txn(id: usize, platform: &str, method: &str, status: &str) -> String {
    format!("T{id},2021-10-01T10:00:00+08:00,{platform},online,M1,110000,{method},,,10.00,{status}")
}

fn scan(id: usize, region: &str, app: &str, issuer: &str, status: &str) -> String {
    format!("T{id},2021-10-01T10:00:00+08:00,offline,offline,S1,{region},{app},{app},{issuer},5.00,{status}")
}

fn option(session: &str, platform: &str, merchant: &str, method: &str, position: u32, folded: bool) -> String {
    format!(
        "{session},2021-10-01T10:00:00+08:00,{platform},{merchant},110000,{method},{position},{},{folded},0",
        position == 1
    )
}

fn write(dir: &Path, name: &str, header: &str, rows: &[String]) {
    let mut text = String::from(header);
    text.push('\n');
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(dir.join(name), text).unwrap();
}

fn run(rulebook: &str, txns: Option<(&str, Vec<String>)>, checkout: Vec<String>) -> Report {
    let dir = tempfile::tempdir().unwrap();
    if let Some((header, rows)) = txns {
        write(dir.path(), "transactions.csv", header, &rows);
    } else {
        write(dir.path(), "transactions.csv", TXN_HEADER, &[]);
    }
    write(dir.path(), "checkout.csv", CHECKOUT_HEADER, &checkout);
    let rb = hutong::rulebook::parse("test.toml", rulebook).unwrap();
    let spec = InputSpec { data: Some(dir.path().to_path_buf()), ..Default::default() };
    let inputs = ingest::open(&spec, IngestOptions::default()).unwrap();
    audit(&rb, &inputs, &dir.path().join("out"), "2021-01-01T00:00:00Z".into(), vec![], None).unwrap()
}

fn finding(r: &Report) -> &Finding {
    &r.findings[0]
}

fn group<'a>(f: &'a Finding, key: &[(&str, &str)]) -> &'a Group {
    f.groups
        .iter()
        .find(|g| key.iter().all(|(k, v)| g.key.get(*k).map(String::as_str) == Some(*v)))
        .unwrap_or_else(|| panic!("no group {key:?} in {:?}", f.groups.iter().map(|g| &g.key).collect::<Vec<_>>()))
}

fn num(g: &Group, field: &str) -> f64 {
    g.get(field).and_then(|v| v.as_f64()).unwrap_or_else(|| panic!("no field {field} in {g:?}"))
}

#[test]
fn coverage_by_merchant_counts_the_gap() {
    let rb = rule("kind = \"coverage\"\nunit = \"merchant\"\nprovider = \"unionpay\"\nmin_share = 0.8");
    let checkout = vec![
        option("S1", "taobao", "M1", "Alipay", 1, false),
        option("S1", "taobao", "M1", "UnionPay", 2, false),
        option("S2", "taobao", "M2", "Alipay", 1, false),
        option("S3", "taobao", "M3", "Alipay", 1, false),
        option("S4", "taobao", "M3", "云闪付", 1, false),
        option("S5", "jd", "M4", "UnionPay", 1, false),
    ];
    let r = run(&rb, None, checkout);
    let f = finding(&r);
    assert_eq!(f.verdict, Verdict::Fail);
    // taobao: M1 and M3 offer UnionPay, M2 does not: 2/3; 0.8 * 3 = 2.4 -> 3 needed, gap 1.
    let taobao = group(f, &[("platform", "taobao")]);
    assert_eq!((taobao.n, taobao.value, taobao.verdict), (3, Some(0.666667), Verdict::Fail));
    assert_eq!(num(taobao, "gap_units"), 1.0);
    // Wilson 95% for 2 of 3: (0.207660, 0.938508).
    assert_eq!((num(taobao, "ci_low"), num(taobao, "ci_high")), (0.20766, 0.938508));
    let jd = group(f, &[("platform", "jd")]);
    assert_eq!((jd.n, jd.value, jd.verdict), (1, Some(1.0), Verdict::Pass));
    let table = f.evidence_table.as_ref().unwrap();
    assert_eq!(table.rows, vec![vec!["taobao".to_string(), "unionpay".into(), "M2".into()]]);
}

#[test]
fn acceptance_lists_a_zero_attempt_cell_as_not_live() {
    let rb = rule(
        "kind = \"acceptance\"\nregions = [\"110000\"]\nproviders = [\"alipay\", \"unionpay\"]\nmin_attempts = 3\nmin_success = 0.75",
    );
    let txns: Vec<String> = (0..4).map(|i| scan(i, "110000", "Alipay", "China UnionPay", "success")).collect();
    let r = run(&rb, Some((TXN_HEADER, txns)), vec![]);
    let f = finding(&r);
    assert_eq!(f.verdict, Verdict::Fail);
    assert_eq!(f.groups.len(), 2);
    let live = group(f, &[("app", "alipay"), ("issuer", "unionpay")]);
    assert_eq!((live.n, live.value, live.verdict), (4, Some(1.0), Verdict::Pass));
    // Wilson for 4 of 4: lower 4/(4 + 1.959964^2) = 0.510109.
    assert_eq!(num(live, "ci_low"), 0.510109);
    let dead = group(f, &[("app", "unionpay"), ("issuer", "alipay")]);
    assert_eq!((dead.n, dead.value, dead.verdict), (0, None, Verdict::Fail));
    assert_eq!(dead.get("reason").unwrap(), "no attempts");
    assert_eq!(f.value, Some(1.0));
}

#[test]
fn reciprocity_fails_a_one_way_pair() {
    let rb = rule(
        "kind = \"reciprocity\"\nregions = [\"110000\"]\nproviders = [\"alipay\", \"unionpay\"]\nmin_attempts = 3\nmin_success = 0.75",
    );
    let mut txns: Vec<String> = (0..4).map(|i| scan(i, "110000", "Alipay", "China UnionPay", "success")).collect();
    // The other direction has traffic but only 1 of 4 succeeds.
    txns.extend((4..8).map(|i| scan(i, "110000", "云闪付", "Alipay", if i == 4 { "success" } else { "failed" })));
    let r = run(&rb, Some((TXN_HEADER, txns)), vec![]);
    let f = finding(&r);
    let g = group(f, &[("region", "110000"), ("provider_a", "alipay"), ("provider_b", "unionpay")]);
    assert_eq!((g.n, g.verdict), (8, Verdict::Fail));
    assert_eq!(g.get("live_a_to_b").unwrap(), true);
    assert_eq!(g.get("live_b_to_a").unwrap(), false);
}

#[test]
fn parity_below_min_n_is_inconclusive_not_pass() {
    let rb =
        rule("kind = \"parity\"\nmetric = \"failure_rate\"\nrivals = [\"unionpay\"]\nmax_difference = 0.01\nmin_n = 5");
    let mut txns: Vec<String> =
        (0..10).map(|i| txn(i, "taobao", "Alipay", if i == 0 { "failed" } else { "success" })).collect();
    txns.extend((10..13).map(|i| txn(i, "taobao", "UnionPay", "success")));
    let r = run(&rb, Some((TXN_HEADER, txns)), vec![]);
    let f = finding(&r);
    assert_eq!(f.verdict, Verdict::Inconclusive);
    let g = group(f, &[("platform", "taobao"), ("provider", "unionpay")]);
    assert_eq!((g.n, g.verdict), (3, Verdict::Inconclusive));
    assert_eq!(num(g, "reference_n"), 10.0);
    assert_eq!(num(g, "reference_value"), 0.1);
    // rates 0 vs 0.1: (1.959964*sqrt(2*0.05*0.95) + 0.841621*sqrt(0.09))^2 / 0.01 = 73.4 -> 74 per arm.
    assert_eq!(num(g, "needed_per_arm"), 74.0);
    assert_eq!(num(g, "more_rival_needed"), 71.0);
}

#[test]
fn parity_without_latency_column_is_not_evaluable() {
    let rb = rule("kind = \"parity\"\nmetric = \"p95_latency\"\nrivals = [\"unionpay\"]\nmax_ratio = 1.25\nmin_n = 1");
    let txns = vec![txn(1, "taobao", "Alipay", "success"), txn(2, "taobao", "UnionPay", "success")];
    let r = run(&rb, Some((TXN_HEADER, txns)), vec![]);
    let f = finding(&r);
    assert_eq!(f.verdict, Verdict::NotEvaluable);
    assert!(f.message.contains("lacks column `latency_ms`"), "{}", f.message);
    assert!(f.groups.is_empty());
}

#[test]
fn p95_latency_is_the_nearest_rank() {
    let rb = rule("kind = \"parity\"\nmetric = \"p95_latency\"\nrivals = [\"unionpay\"]\nmax_ratio = 1.25\nmin_n = 20");
    let mut txns = Vec::new();
    for i in 1..=20 {
        txns.push(format!("{},{}", txn(i, "taobao", "Alipay", "success"), i));
        txns.push(format!("{},{}", txn(100 + i, "taobao", "UnionPay", "success"), 10 * i));
    }
    let r = run(&rb, Some((TXN_HEADER_LAT, txns)), vec![]);
    let f = finding(&r);
    let g = group(f, &[("platform", "taobao"), ("provider", "unionpay")]);
    // rank ceil(0.95 * 20) = 19: Alipay 19 ms, UnionPay 190 ms, ratio 10.
    assert_eq!(num(g, "reference_value"), 19.0);
    assert_eq!(num(g, "rival_value"), 190.0);
    assert_eq!((g.value, g.verdict), (Some(10.0), Verdict::Fail));
}

#[test]
fn visible_rate_ratio_fails_below_threshold() {
    let rb = rule("kind = \"parity\"\nmetric = \"visible_rate\"\nrivals = [\"unionpay\"]\nmin_ratio = 0.8\nmin_n = 4");
    let mut checkout = Vec::new();
    for s in 0..4 {
        let sid = format!("S{s}");
        checkout.push(option(&sid, "taobao", "M1", "Alipay", 1, false));
        checkout.push(option(&sid, "taobao", "M1", "UnionPay", 2, s % 2 == 0));
    }
    let r = run(&rb, None, checkout);
    let g = group(finding(&r), &[("platform", "taobao"), ("provider", "unionpay")]);
    // 2 of 4 UnionPay options visible vs 4 of 4 Alipay: ratio 0.5.
    assert_eq!((g.n, g.value, g.verdict), (4, Some(0.5), Verdict::Fail));
    assert_eq!(num(g, "reference_value"), 1.0);
    // Fisher's exact test on [[2,2],[4,0]]: p = 0.428571.
    assert_eq!(g.get("test").unwrap(), "fisher_exact");
    assert_eq!(num(g, "p_value"), 0.428571);
}

#[test]
fn exclusivity_ignores_merchants_with_unreadable_labels() {
    let rb = rule("kind = \"exclusivity\"");
    let checkout = vec![
        option("S1", "taobao", "M1", "Alipay", 1, false),
        option("S2", "taobao", "M1", "alipay_balance", 1, false),
        option("S3", "taobao", "M2", "Alipay", 1, false),
        option("S3", "taobao", "M2", "PayPal", 2, false),
        option("S4", "taobao", "M3", "Alipay", 1, false),
        option("S4", "taobao", "M3", "UnionPay", 2, false),
        option("S5", "pinduoduo", "M4", "Alipay", 1, false),
    ];
    let r = run(&rb, None, checkout);
    let f = finding(&r);
    let taobao = group(f, &[("platform", "taobao")]);
    assert_eq!((taobao.n, taobao.value, taobao.verdict), (3, Some(1.0), Verdict::Fail));
    assert_eq!(group(f, &[("platform", "pinduoduo")]).verdict, Verdict::NotEvaluable);
    let rows = &f.evidence_table.as_ref().unwrap().rows;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][..2], ["taobao".to_string(), "M1".to_string()]);
    assert_eq!(rows[0][4], "2");
    assert_eq!(r.unmapped_labels.len(), 1);
    assert_eq!(r.unmapped_labels[0].label, "PayPal");
    assert_eq!((r.unmapped_labels[0].dataset.as_str(), r.unmapped_labels[0].rows), ("checkout", 1));
}

#[test]
fn concentration_hhi_and_dominance() {
    let mut txns = Vec::new();
    for i in 0..6 {
        txns.push(txn(i, "taobao", "Alipay", "success"));
    }
    for i in 6..9 {
        txns.push(txn(i, "taobao", "UnionPay", "success"));
    }
    txns.push(txn(9, "taobao", "WeChat Pay", "success"));
    // Failed payments are not market share.
    txns.push(txn(10, "taobao", "WeChat Pay", "failed"));
    let hhi = rule("kind = \"concentration\"\nby = [\"channel\"]\nmax_hhi = 1800");
    let r = run(&hhi, Some((TXN_HEADER, txns.clone())), vec![]);
    let g = group(finding(&r), &[("channel", "online")]);
    // shares 0.6 / 0.3 / 0.1: HHI = 3600 + 900 + 100 = 4600.
    assert_eq!((g.n, g.value, g.verdict), (10, Some(4600.0), Verdict::Fail));
    assert_eq!((num(g, "cr1"), num(g, "cr2"), num(g, "cr3")), (0.6, 0.9, 1.0));
    let dom = rule("kind = \"concentration\"\nby = [\"channel\"]\nmode = \"dominance\"");
    let r = run(&dom, Some((TXN_HEADER, txns)), vec![]);
    let g = group(finding(&r), &[("channel", "online")]);
    assert_eq!(g.get("presumed_dominant").unwrap(), &serde_json::json!(["alipay"]));
    assert_eq!(g.verdict, Verdict::Fail);
}

#[test]
fn where_filter_restricts_rows() {
    let rb = rule(
        "kind = \"concentration\"\nby = [\"channel\"]\nmax_hhi = 10000\nwhere = \"platform = 'jd' AND channel = 'online'\"",
    );
    let txns = vec![txn(1, "taobao", "Alipay", "success"), txn(2, "jd", "UnionPay", "success")];
    let r = run(&rb, Some((TXN_HEADER, txns)), vec![]);
    let g = group(finding(&r), &[("channel", "online")]);
    assert_eq!((g.n, g.value), (1, Some(10_000.0)));
}

#[test]
fn relative_coverage_reports_platforms_without_affiliation() {
    let rb = rule("kind = \"coverage\"\nunit = \"session\"\nrelative = true\nproviders = [\"alipay\", \"unionpay\"]\nmin_ratio = 0.8");
    let checkout = vec![
        option("S1", "taobao", "M1", "Alipay", 1, false),
        option("S1", "taobao", "M1", "UnionPay", 2, false),
        option("S2", "taobao", "M1", "Alipay", 1, false),
        option("S3", "pinduoduo", "M2", "UnionPay", 1, false),
    ];
    let r = run(&rb, None, checkout);
    let f = finding(&r);
    // taobao: UnionPay in 1 of 2 sessions, Alipay in 2 of 2: ratio 0.5; 0.8 * 2 = 1.6 -> 2 needed, gap 1.
    let g = group(f, &[("platform", "taobao"), ("provider", "unionpay")]);
    assert_eq!((g.n, g.value, g.verdict), (2, Some(0.5), Verdict::Fail));
    assert_eq!(num(g, "gap_units"), 1.0);
    assert_eq!(group(f, &[("platform", "pinduoduo")]).verdict, Verdict::NotEvaluable);
    assert_eq!(f.verdict, Verdict::Fail);
}

#[test]
fn every_input_file_is_scanned_once_for_all_rules() {
    let rb = hutong::rulebook::load(Path::new("rules/cn-interconnection-2021.toml")).unwrap();
    let spec = InputSpec { data: Some("testdata/sample".into()), ..Default::default() };
    let inputs = ingest::open(&spec, IngestOptions::default()).unwrap();
    let taxonomy = std::sync::Arc::new(hutong::rulebook::Taxonomy::new(&rb).unwrap());
    let ctx = hutong::engine::Context { rulebook: &rb, taxonomy, inputs: &inputs };
    let plan = hutong::engine::explain(&ctx, vec![]).unwrap();
    // 11 rules, label counts and merchant names share three scans: one per file.
    for file in ["transactions.csv", "checkout.csv", "merchants.csv"] {
        let scans = plan.lines().filter(|l| l.contains("SCAN [") && l.contains(file)).count();
        assert_eq!(scans, 1, "{file}:\n{plan}");
    }
}
