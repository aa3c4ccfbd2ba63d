//! Each rule kind on a tiny hand-made log, against hand-computed values.

mod common;

use std::path::Path;

use hutong::audit::audit;
use hutong::findings::Report;
use hutong::findings::{Finding, Group, Verdict};
use hutong::ingest::{self, IngestOptions, InputSpec};

use common::HEADER;

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
    let rb = hutong::engine::kinds::parse("test.toml", rulebook).unwrap();
    let spec = InputSpec { data: Some(dir.path().to_path_buf()), ..Default::default() };
    let inputs = ingest::open(&spec, IngestOptions::default()).unwrap();
    let execution = hutong::budget::choose(1 << 30, false, hutong::budget::input_of(&inputs).unwrap(), None, None);
    audit(
        &rb,
        &inputs,
        &dir.path().join("out"),
        hutong::audit::Run {
            generated_at: "2021-01-01T00:00:00Z".into(),
            command: vec![],
            execution: execution.unwrap(),
            sorted_keys: Vec::new(),
            runner: None,
            key_budget: None,
        },
        Default::default(),
        &Default::default(),
    )
    .unwrap()
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
    // Every merchant is counted: a census, compared exactly, with no interval.
    assert_eq!(taobao.get("basis").unwrap(), "census");
    assert!(taobao.get("ci_low").is_none());
    let jd = group(f, &[("platform", "jd")]);
    assert_eq!((jd.n, jd.value, jd.verdict), (1, Some(1.0), Verdict::Pass));
    let table = f.evidence_table.as_ref().unwrap();
    assert_eq!(table.rows, vec![vec!["taobao".to_string(), "unionpay".into(), "M2".into()]]);
}

#[test]
fn acceptance_fails_a_zero_attempt_cell_and_judges_the_rest_by_interval() {
    let rb = rule(
        "kind = \"acceptance\"\nregions = [\"110000\"]\nproviders = [\"alipay\", \"unionpay\"]\nmin_attempts = 3\nmin_success = 0.75",
    );
    let txns: Vec<String> = (0..4).map(|i| scan(i, "110000", "Alipay", "China UnionPay", "success")).collect();
    let r = run(&rb, Some((TXN_HEADER, txns)), vec![]);
    let f = finding(&r);
    assert_eq!(f.verdict, Verdict::Fail);
    assert_eq!(f.groups.len(), 2);
    // 4 of 4 cannot show a 75% success rate with two cells at alpha 0.05:
    // each one-sided bound at 0.025; Wilson's lower bound 4/(4 + 1.959964^2)
    // = 0.510109 widens to the exact one, 0.025^(1/4) = 0.397635 < 0.75.
    let cell = group(f, &[("app", "alipay"), ("issuer", "unionpay")]);
    assert_eq!((cell.n, cell.value, cell.verdict), (4, Some(1.0), Verdict::Inconclusive));
    assert_eq!(num(cell, "ci_low"), 0.397635);
    assert_eq!((num(cell, "family_size"), num(cell, "alpha_adjusted")), (2.0, 0.025));
    let dead = group(f, &[("app", "unionpay"), ("issuer", "alipay")]);
    assert_eq!((dead.n, dead.value, dead.verdict), (0, None, Verdict::Fail));
    assert_eq!(dead.get("reason").unwrap(), "no scans observed");
    assert_eq!(f.value, Some(1.0));
}

#[test]
fn reciprocity_fails_a_one_way_pair() {
    let rb =
        rule("kind = \"reciprocity\"\nregions = [\"110000\"]\nproviders = [\"alipay\", \"unionpay\"]\nmax_gap = 0.05");
    let mut txns: Vec<String> = (0..4).map(|i| scan(i, "110000", "Alipay", "China UnionPay", "success")).collect();
    // The other direction has traffic but only 1 of 4 succeeds.
    txns.extend((4..8).map(|i| scan(i, "110000", "云闪付", "Alipay", if i == 4 { "success" } else { "failed" })));
    let r = run(&rb, Some((TXN_HEADER, txns)), vec![]);
    let f = finding(&r);
    let g = group(f, &[("region", "110000"), ("provider_a", "alipay"), ("provider_b", "unionpay")]);
    assert_eq!((g.n, g.verdict, g.value), (8, Verdict::Fail, Some(0.75)));
    assert_eq!((num(g, "success_a_to_b"), num(g, "success_b_to_a")), (1.0, 0.25));
    // Newcombe for 4/4 - 1/4 at z = 1.959964 (one pair, two-sided at 0.05):
    // (0.085233, 0.954413), wholly beyond the 0.05 margin.
    assert_eq!((num(g, "ci_low"), num(g, "ci_high")), (0.085233, 0.954413));
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
    // Below min_n an arm needs min_n observations: 2 more rival, no more own.
    assert_eq!(num(g, "needed_per_arm"), 5.0);
    assert_eq!((num(g, "more_rival_needed"), num(g, "more_reference_needed")), (2.0, 0.0));
    assert!(f.message.contains("1 group below min_n = 5"), "{}", f.message);
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
fn p95_latency_is_the_nearest_rank_of_successful_payments() {
    let rb =
        rule("kind = \"parity\"\nmetric = \"p95_latency\"\nrivals = [\"unionpay\"]\nmax_ratio = 1.25\nmin_n = 100");
    let mut txns = Vec::new();
    for i in 1..=100 {
        txns.push(format!("{},{}", txn(i, "taobao", "Alipay", "success"), i));
        txns.push(format!("{},{}", txn(1000 + i, "taobao", "UnionPay", "success"), 10 * i));
    }
    // A failed payment's latency is how fast it failed: not counted.
    txns.push(format!("{},{}", txn(5000, "taobao", "Alipay", "failed"), 100_000));
    let r = run(&rb, Some((TXN_HEADER_LAT, txns)), vec![]);
    let f = finding(&r);
    let g = group(f, &[("platform", "taobao"), ("provider", "unionpay")]);
    // rank ceil(0.95 * 100) = 95: Alipay 95 ms, UnionPay 950 ms, ratio 10.
    assert_eq!(num(g, "reference_value"), 95.0);
    assert_eq!(num(g, "rival_value"), 950.0);
    // Each arm's p95 has its distribution-free 95% interval at ranks 90 and
    // 100, so SE = width / (2 x 1.959964): 25.51 ms and 2.551 ms; the log
    // ratio ln 10 +- 1.644854 x sqrt((25.51/950)^2 + (2.551/95)^2).
    assert_eq!((num(g, "ci_low"), num(g, "ci_high")), (9.394454, 10.644578));
    assert_eq!((g.value, g.verdict), (Some(10.0), Verdict::Fail));
}

#[test]
fn p95_latency_on_few_payments_is_inconclusive() {
    let rb = rule("kind = \"parity\"\nmetric = \"p95_latency\"\nrivals = [\"unionpay\"]\nmax_ratio = 1.25\nmin_n = 20");
    let mut txns = Vec::new();
    for i in 1..=20 {
        txns.push(format!("{},{}", txn(i, "taobao", "Alipay", "success"), i));
        txns.push(format!("{},{}", txn(100 + i, "taobao", "UnionPay", "success"), 10 * i));
    }
    let r = run(&rb, Some((TXN_HEADER_LAT, txns)), vec![]);
    let g = group(finding(&r), &[("platform", "taobao"), ("provider", "unionpay")]);
    // Twenty payments cannot bound a p95 from above: the interval is open and
    // the tenfold point estimate is not a finding.
    assert_eq!((g.value, g.verdict), (Some(10.0), Verdict::Inconclusive));
}

#[test]
fn visible_rate_ratio_is_compared_within_shared_sessions() {
    let rb = rule("kind = \"parity\"\nmetric = \"visible_rate\"\nrivals = [\"unionpay\"]\nmin_ratio = 0.8\nmin_n = 4");
    let mut checkout = Vec::new();
    for s in 0..40 {
        let sid = format!("S{s}");
        checkout.push(option(&sid, "taobao", "M1", "Alipay", 1, false));
        checkout.push(option(&sid, "taobao", "M1", "UnionPay", 2, s % 2 == 0));
    }
    // Sessions showing only Alipay are not comparisons and do not count.
    for s in 40..100 {
        checkout.push(option(&format!("S{s}"), "taobao", "M2", "Alipay", 1, false));
    }
    let r = run(&rb, None, checkout);
    let g = group(finding(&r), &[("platform", "taobao"), ("provider", "unionpay")]);
    // 20 of 40 shared sessions show UnionPay visible, 40 of 40 Alipay: ratio
    // 0.5; paired log interval exp(ln 0.5 +- 1.644854 sqrt(20/(20*40))).
    assert_eq!((g.n, g.value, g.verdict), (40, Some(0.5), Verdict::Fail));
    assert_eq!((num(g, "shared_sessions"), num(g, "reference_value")), (40.0, 1.0));
    assert_eq!((num(g, "ci_low"), num(g, "ci_high")), (0.385497, 0.648513));
}

#[test]
fn exclusivity_ignores_merchants_with_unreadable_labels() {
    let rb = rule("kind = \"exclusivity\"\nmin_sessions = 2");
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
fn exclusivity_sets_aside_merchants_with_too_few_sessions() {
    let rb = rule("kind = \"exclusivity\"");
    let mut checkout = vec![option("S1", "taobao", "M1", "Alipay", 1, false)];
    for s in 2..8 {
        checkout.push(option(&format!("S{s}"), "taobao", "M2", "Alipay", 1, false));
        checkout.push(option(&format!("S{s}"), "taobao", "M2", "UnionPay", 2, false));
    }
    let r = run(&rb, None, checkout);
    let f = finding(&r);
    // M1 showed only Alipay, but in one session (< 5): listed, not counted.
    let taobao = group(f, &[("platform", "taobao")]);
    assert_eq!((taobao.value, taobao.verdict), (Some(0.0), Verdict::Pass));
    assert_eq!(num(taobao, "too_few_sessions"), 1.0);
    let rows = &f.evidence_table.as_ref().unwrap().rows;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0][1].as_str(), rows[0][6].as_str()), ("M1", "too few sessions to judge"));
    assert!(f.message.contains("1 merchant with fewer than 5 sessions"), "{}", f.message);
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
    // Every firm meeting any limb of Art. 24: Alipay alone holds 1/2; with
    // UnionPay 0.9 >= 2/3; with WeChat Pay (exactly 1/10) 1.0 >= 3/4.
    assert_eq!(g.get("presumed_dominant").unwrap(), serde_json::json!(["alipay", "unionpay", "wechat_pay"]));
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
fn relative_coverage_on_two_sessions_is_inconclusive() {
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
    // Two sessions are a sample far too small to tell 0.5 from 0.8.
    let g = group(f, &[("platform", "taobao"), ("provider", "unionpay")]);
    assert_eq!((g.n, g.value, g.verdict), (2, Some(0.5), Verdict::Inconclusive));
    assert_eq!((num(g, "gap_units"), num(g, "offered_both")), (1.0, 1.0));
    assert_eq!(group(f, &[("platform", "pinduoduo")]).verdict, Verdict::NotEvaluable);
    assert_eq!(f.verdict, Verdict::Inconclusive);
}

#[test]
fn every_input_file_is_scanned_once_for_all_rules() {
    let rb = hutong::engine::kinds::load(Path::new("rules/cn-interconnection-2021.toml")).unwrap();
    let plan = explained(&rb, false);
    // 14 rules, label counts and merchant names share three scans: one per file.
    for file in ["transactions.csv", "checkout.csv", "merchants.csv"] {
        let scans = plan.lines().filter(|l| l.contains("SCAN [") && l.contains(file)).count();
        assert_eq!(scans, 1, "{file}:\n{plan}");
    }
}

#[test]
fn labels_are_normalised_and_ambiguous_ones_do_not_stop_the_audit() {
    let book = format!(
        "{HEADER}\n[providers.meituan_pay]\nname = \"Meituan Pay\"\naliases = ['^meituan ?pay$']\n\
         [providers.wide]\nname = \"Wide\"\naliases = ['quickpass']\n[providers.other]\nname = \"Other\"\naliases = ['quickpass']\n\
         [[rules]]\nid = \"T-1\"\ntitle = \"t\"\nseverity = \"high\"\ncitation = \"c\"\nrationale = \"r\"\n\
         kind = \"concentration\"\nby = [\"channel\"]\nmax_hhi = 10000\nmax_unmapped = 0.5"
    );
    let txns = vec![
        txn(1, "taobao", "Meituan Pay", "success"),
        txn(2, "taobao", "meituan_pay", "success"),
        txn(3, "taobao", "MEITUAN-PAY", "success"),
        txn(4, "taobao", "ｍｅｉｔｕａｎ　ｐａｙ", "success"),
        txn(5, "taobao", "QuickPass", "success"),
    ];
    let r = run(&book, Some((TXN_HEADER, txns)), vec![]);
    let g = group(finding(&r), &[("channel", "online")]);
    // Four spellings map to Meituan Pay; the tied label stays in the
    // denominator as unmapped: share 4/5, HHI 6,400.
    assert_eq!(g.get("shares").unwrap(), serde_json::json!({"meituan_pay": 0.8}));
    assert_eq!((g.value, num(g, "unmapped_share")), (Some(6400.0), 0.2));
    let u = &r.unmapped_labels;
    assert_eq!(
        (u.len(), u[0].label.as_str(), u[0].ambiguous.clone()),
        (1, "QuickPass", vec!["other".to_string(), "wide".into()])
    );
    assert!(r.warnings.iter().any(|w| w.contains("`QuickPass`") && w.contains("other and wide")), "{:?}", r.warnings);
}

#[test]
fn unmapped_labels_are_counted_per_column_and_dataset() {
    let rb = rule("kind = \"concentration\"\nby = [\"channel\"]\nmax_hhi = 1800");
    // Each transaction's method and wallet app alike, its issuer apart.
    let txns = vec![
        scan(1, "110000", "Alipay", "礼品卡", "success"),
        scan(2, "110000", "礼品卡", "unionpay", "success"),
        scan(3, "110000", "礼品卡", "礼品卡", "failed"),
        scan(4, "110000", "PayPal", "PayPal", "success"),
    ];
    let checkout =
        vec![option("S1", "taobao", "M1", "PayPal", 1, false), option("S1", "taobao", "M1", "Alipay", 2, false)];
    let r = run(&rb, Some((TXN_HEADER, txns)), checkout);
    let mut got: Vec<(String, String, String, u64)> =
        r.unmapped_labels.iter().map(|u| (u.dataset.clone(), u.column.clone(), u.label.clone(), u.rows)).collect();
    got.sort();
    let want = [
        ("checkout", "method", "PayPal", 1),
        ("transactions", "code_issuer", "PayPal", 1),
        ("transactions", "code_issuer", "礼品卡", 2),
        ("transactions", "method", "PayPal", 1),
        ("transactions", "method", "礼品卡", 2),
        ("transactions", "wallet_app", "PayPal", 1),
        ("transactions", "wallet_app", "礼品卡", 2),
    ];
    let want: Vec<(String, String, String, u64)> =
        want.iter().map(|(d, c, l, n)| (d.to_string(), c.to_string(), l.to_string(), *n)).collect();
    assert_eq!(got, want);
}

#[test]
fn unmapped_share_above_the_limit_makes_concentration_inconclusive() {
    let rb = rule("kind = \"concentration\"\nby = [\"channel\"]\nmax_hhi = 1800");
    let mut txns: Vec<String> = (0..9).map(|i| txn(i, "taobao", "Alipay", "success")).collect();
    txns.push(txn(9, "taobao", "礼品卡", "success"));
    let r = run(&rb, Some((TXN_HEADER, txns)), vec![]);
    let f = finding(&r);
    let g = group(f, &[("channel", "online")]);
    // 1 of 10 unmapped (> 5%): Alipay's 0.9 share may be wrong either way.
    assert_eq!((g.verdict, num(g, "unmapped_share")), (Verdict::Inconclusive, 0.1));
    assert_eq!(g.get("unmapped_labels").unwrap(), serde_json::json!(["礼品卡"]));
    assert!(f.message.contains("礼品卡"), "{}", f.message);
}

#[test]
fn platforms_map_through_aliases_and_unknown_ones_are_warned_about() {
    let book = format!("{HEADER}\n[platforms.taobao]\nname = \"Taobao\"\naliases = ['^淘宝']\n[[rules]]\nid = \"T-1\"\ntitle = \"t\"\nseverity = \"high\"\ncitation = \"c\"\nrationale = \"r\"\nkind = \"exclusivity\"\nmin_sessions = 1");
    let checkout = vec![
        option("S1", "淘宝", "M1", "Alipay", 1, false),
        option("S2", "taobao", "M2", "Alipay", 1, false),
        option("S2", "taobao", "M2", "UnionPay", 2, false),
        option("S3", "kuaishou", "M3", "UnionPay", 1, false),
    ];
    let r = run(&book, None, checkout);
    let f = finding(&r);
    // 淘宝 is taobao: two merchants, one exclusive.
    let g = group(f, &[("platform", "taobao")]);
    assert_eq!((g.n, g.value), (2, Some(1.0)));
    assert_eq!(group(f, &[("platform", "kuaishou")]).verdict, Verdict::NotEvaluable);
    assert!(r.warnings.iter().any(|w| w.contains("platform `kuaishou`")), "{:?}", r.warnings);
    assert!(!r.warnings.iter().any(|w| w.contains("`taobao`")), "{:?}", r.warnings);
}

#[test]
fn an_affiliated_provider_without_mapped_rows_is_not_evaluable() {
    let rb =
        rule("kind = \"parity\"\nmetric = \"failure_rate\"\nrivals = [\"unionpay\"]\nmax_difference = 0.01\nmin_n = 1");
    // taobao logs its own provider under a label the taxonomy does not know.
    let mut txns: Vec<String> = (0..5).map(|i| txn(i, "taobao", "蚂蚁支付", "success")).collect();
    txns.extend((5..10).map(|i| txn(i, "taobao", "UnionPay", "success")));
    let r = run(&rb, Some((TXN_HEADER, txns)), vec![]);
    let f = finding(&r);
    assert_eq!(f.verdict, Verdict::NotEvaluable);
    let g = group(f, &[("platform", "taobao")]);
    let reason = g.reason.as_deref().unwrap();
    assert!(reason.contains("no mapped rows") && reason.contains("蚂蚁支付 (5 rows)"), "{reason}");
}

#[test]
fn technical_failure_rate_counts_only_technical_codes() {
    let book = format!(
        "{HEADER}\n[failure_codes]\nuser_cancel = [\"USER_CANCEL\"]\nrisk_decline = [\"RISK_DECLINE\"]\n\
         [[rules]]\nid = \"T-1\"\ntitle = \"t\"\nseverity = \"high\"\ncitation = \"c\"\nrationale = \"r\"\n\
         kind = \"parity\"\nmetric = \"failure_rate\"\nfailures = \"technical\"\nrivals = [\"unionpay\"]\nmax_difference = 0.01\nmin_n = 1"
    );
    let header =
        "txn_id,ts,platform,channel,merchant_id,region,method,wallet_app,code_issuer,amount,status,failure_code";
    let row = |i: usize, method: &str, status: &str, code: &str| format!("{},{code}", txn(i, "taobao", method, status));
    let mut txns: Vec<String> = (0..10).map(|i| row(i, "Alipay", "success", "")).collect();
    txns.extend([
        row(10, "UnionPay", "failed", "user-cancel"), // normalised: a user cancel, not counted
        row(11, "UnionPay", "failed", "RISK_DECLINE"), // not technical
        row(12, "UnionPay", "failed", "PAYERROR"),    // listed nowhere: technical
        row(13, "UnionPay", "failed", ""),            // no code: technical
        row(14, "UnionPay", "success", ""),
    ]);
    let r = run(&book, Some((header, txns)), vec![]);
    let g = group(finding(&r), &[("platform", "taobao"), ("provider", "unionpay")]);
    // 2 technical failures of 5, against 0 of 10; 4 failures in all.
    assert_eq!((num(g, "rival_value"), num(g, "reference_value")), (0.4, 0.0));
    assert_eq!(num(g, "rival_failures"), 4.0);
}

#[test]
fn districts_roll_up_to_the_cities_a_rule_names() {
    let rb = rule(
        "kind = \"acceptance\"\nregions = [\"440100\", \"110000\"]\nproviders = [\"alipay\", \"unionpay\"]\nmin_attempts = 1\nmin_success = 0.5",
    );
    let txns = vec![
        scan(1, "440106", "Alipay", "China UnionPay", "success"),
        scan(2, "440100", "Alipay", "China UnionPay", "success"),
        scan(3, "110105", "Alipay", "China UnionPay", "failed"),
    ];
    let r = run(&rb, Some((TXN_HEADER, txns)), vec![]);
    let f = finding(&r);
    assert_eq!(group(f, &[("region", "440100"), ("app", "alipay"), ("issuer", "unionpay")]).n, 2);
    assert_eq!(group(f, &[("region", "110000"), ("app", "alipay"), ("issuer", "unionpay")]).n, 1);
}

/// The plans of `rulebook` over the bundled sample, as polars explains
/// them, with the aggregations keyed on `session_id` on the sorted path when
/// `sorted`.
fn explained(rulebook: &hutong::engine::Rulebook, sorted: bool) -> String {
    let spec = InputSpec { data: Some("testdata/sample".into()), ..Default::default() };
    let inputs = ingest::open(&spec, IngestOptions::default()).unwrap();
    let taxonomy = std::sync::Arc::new(hutong::rulebook::Taxonomy::new(rulebook).unwrap());
    let ctx = hutong::engine::Context { rulebook, taxonomy, inputs: &inputs, period: None, part: None, sorted };
    let batch = match sorted {
        true => hutong::exec::Batch::new().sorting(vec!["session_id"]),
        false => hutong::exec::Batch::new(),
    };
    hutong::engine::explain(&ctx, batch).unwrap()
}

/// How many of the plans `explain` prints aggregate as `aggregate` does.
fn plans_aggregating(rulebook: &hutong::engine::Rulebook, aggregate: &str) -> usize {
    explained(rulebook, false).lines().filter(|l| l.contains(aggregate)).count()
}

#[test]
fn rules_asking_for_the_same_aggregate_over_the_same_rows_share_one_plan() {
    let path = "rules/cn-interconnection-2021.toml";
    let text = std::fs::read_to_string(path).unwrap();
    let per_merchant =
        r#"[len().cast(UInt64).alias("n")] BY [col("platform"), col("merchant_id"), col("provider"), col("region")]"#;
    let cells = r#"alias("successes")] BY [col("region"), col("app"), col("issuer")]"#;
    let shares = r#"BY [col("channel"), col("firm"), col("label")]"#;
    let rb = hutong::engine::kinds::parse(path, &text).unwrap();
    // Rows per merchant and provider: over all checkout rows for CN-PL-01
    // (coverage per merchant), CN-PL-03 (exclusivity) and the presence of
    // CN-ND-01, 04 and 05; over online payments for the presence of CN-ND-02
    // and 03. Scan cells: CN-IO-01, 02 and 03 from 30 September, and
    // CN-QR-01's own (its rows ignore its `where`). Market shares: CN-MK-01
    // and 02, by channel.
    assert_eq!(plans_aggregating(&rb, per_merchant), 2);
    assert_eq!(plans_aggregating(&rb, cells), 2);
    assert_eq!(plans_aggregating(&rb, shares), 1);
    // No rule reads those rows again for its own step: presence per platform,
    // coverage per merchant and exclusivity's providers per merchant are
    // computed from the shared result.
    assert_eq!(plans_aggregating(&rb, r#"[len().cast(UInt64).alias("n")] BY [col("platform"), col("provider")]"#), 0);
    assert_eq!(plans_aggregating(&rb, r#"col("merchant_id").alias("unit")"#), 0);
    assert_eq!(plans_aggregating(&rb, r#"alias("n_providers")"#), 0);
    // Another `where` is other rows: CN-ND-03 no longer shares with CN-ND-02.
    let at = text.find(r#"id = "CN-ND-03""#).unwrap();
    let filter = r#"where = "channel = 'online'""#;
    let cut = at + text[at..].find(filter).unwrap();
    let edited =
        format!("{}where = \"channel = 'online' and amount > 0\"{}", &text[..cut], &text[cut + filter.len()..]);
    let rb = hutong::engine::kinds::parse(path, &edited).unwrap();
    assert_eq!(plans_aggregating(&rb, per_merchant), 3);
    assert_eq!(plans_aggregating(&rb, shares), 1);
}

#[test]
fn the_paired_parity_rules_share_one_sorted_group_by_of_the_checkout_sessions() {
    let rb = hutong::engine::kinds::load(Path::new("rules/cn-interconnection-2021.toml")).unwrap();
    let plan = explained(&rb, true);
    // CN-PL-02's and CN-PL-03's own, and one for CN-ND-01, -04 and -05
    // (five when each ran its own); each read by its result and its check
    // through one cache, so printed once.
    assert_eq!(plan.lines().filter(|l| l.contains("hint.sorted('session_id'")).count(), 3, "{plan}");
}
