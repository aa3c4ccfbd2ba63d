//! The shipped rulebook on logs written by an independent simulator (not
//! `hutong generate`): on fair logs, where every provider is offered, folded,
//! surcharged, discounted, failing and scanned at the same rates with random
//! noise, no CN-PL / CN-ND / CN-IO rule fails over several seeds; planted
//! breaches of realistic size are all found, with the planted merchants and
//! cells as evidence.

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use common::{audit, evidence, finding, groups_with};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const PILOT: [&str; 7] = ["110000", "120000", "440100", "440300", "510100", "500000", "610100"];
const MAJORS: [&str; 3] = ["alipay", "wechat_pay", "unionpay"];

/// Platforms and their own providers.
const PLATFORMS: [(&str, &str); 6] = [
    ("taobao", "alipay"),
    ("tmall", "alipay"),
    ("ele_me", "alipay"),
    ("meituan", "meituan_pay"),
    ("jd", "jd_pay"),
    ("wechat_mp", "wechat_pay"),
];

/// Spellings logs use, several per provider, to exercise the aliases.
fn label(provider: &str, rng: &mut ChaCha8Rng) -> &'static str {
    let choices: &[&str] = match provider {
        "alipay" => &["Alipay", "支付宝", "alipay_balance", "花呗"],
        "wechat_pay" => &["WeChat Pay", "微信支付", "wxpay"],
        "unionpay" => &["UnionPay", "云闪付", "银联"],
        "meituan_pay" => &["Meituan Pay", "美团支付", "MEITUAN-PAY"],
        _ => &["JD Pay", "京东支付"],
    };
    choices[rng.random_range(0..choices.len())]
}

/// What the simulator plants; `Knobs::default()` is fair.
#[derive(Default, Clone, Copy)]
struct Knobs {
    /// jd: 400 merchants, this many never offer UnionPay.
    jd_without_unionpay: Option<usize>,
    /// ele_me: share of rival options folded.
    ele_me_rival_folded: Option<f64>,
    /// tmall: WeChat Pay attempts and technical failure rate (Alipay: 8,000 at 1%).
    tmall_wechat_failing: Option<(usize, f64)>,
    /// meituan: UnionPay successful attempts, and how much slower.
    meituan_unionpay_slow: Option<(usize, f64)>,
    /// jd: share of sessions where UnionPay carries a surcharge.
    jd_unionpay_surcharge: Option<f64>,
    /// Xi'an UnionPay → Alipay has no scans; Shenzhen WeChat → UnionPay succeeds 20%.
    dead_and_missing_cells: bool,
    /// jd: the merchant fee rate on UnionPay payments (others 0.6%).
    jd_unionpay_fee: Option<f64>,
}

/// Standard normal deviate (Box–Muller).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random_range(0.0..1.0));
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn ts(rng: &mut ChaCha8Rng) -> String {
    let day = rng.random_range(1..=28);
    let (h, m, s) = (rng.random_range(0..24), rng.random_range(0..60), rng.random_range(0..60));
    format!("2021-10-{day:02}T{h:02}:{m:02}:{s:02}+08:00")
}

/// Writes transactions.csv and checkout.csv into `dir`.
fn simulate(dir: &Path, seed: u64, k: Knobs) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut co = String::from(
        "session_id,ts,platform,merchant_id,region,scene,method,position,is_default,folded,surcharge,discount,discount_funder,selected\n",
    );
    let mut tx = String::from(
        "txn_id,ts,platform,channel,scene,merchant_id,region,method,wallet_app,code_issuer,amount,status,failure_code,latency_ms,fee,discount,discount_funder\n",
    );
    let mut session = 0u64;
    let mut txn = 0u64;
    for (pi, (platform, own)) in PLATFORMS.iter().enumerate() {
        let merchants = if *platform == "jd" && k.jd_without_unionpay.is_some() { 400 } else { 60 };
        let mids: Vec<String> = (0..merchants).map(|m| format!("{platform}-{m:04}")).collect();
        let region = |m: usize| PILOT[m % PILOT.len()];
        let mut providers: Vec<&str> = vec![own];
        providers.extend(MAJORS.iter().filter(|p| *p != own));
        // Checkout: every merchant gets sessions; each provider offered at 90%.
        let sessions = merchants * 25;
        for s in 0..sessions {
            let m = s % merchants;
            session += 1;
            let mut shown: Vec<&str> = providers
                .iter()
                .copied()
                .filter(|p| {
                    let barred = *p == "unionpay" && k.jd_without_unionpay.is_some_and(|n| *platform == "jd" && m < n);
                    !barred && rng.random_bool(0.9)
                })
                .collect();
            if shown.is_empty() {
                shown.push(own);
            }
            // A random order; folded options go last, as in a real checkout.
            let mut opts: Vec<(&str, bool)> = shown
                .iter()
                .map(|p| {
                    let rival = p != own;
                    let folded = match k.ele_me_rival_folded {
                        Some(f) if rival && *platform == "ele_me" => rng.random_bool(f),
                        _ => rng.random_bool(0.05),
                    };
                    (*p, folded)
                })
                .collect();
            for i in (1..opts.len()).rev() {
                let j = rng.random_range(0..=i);
                opts.swap(i, j);
            }
            opts.sort_by_key(|o| o.1);
            let when = ts(&mut rng);
            for (pos, (p, folded)) in opts.iter().enumerate() {
                let surcharge = match k.jd_unionpay_surcharge {
                    Some(r) if *platform == "jd" && *p == "unionpay" => rng.random_bool(r),
                    _ => rng.random_bool(0.03),
                };
                let discount = rng.random_bool(0.1);
                let funder = ["platform", "merchant", "provider"][rng.random_range(0..3)];
                let _ = writeln!(
                    co,
                    "S{session},{when},{platform},{},{},checkout,{},{},{},{},{},{},{},{}",
                    mids[m],
                    region(m),
                    label(p, &mut rng),
                    pos + 1,
                    pos == 0,
                    folded,
                    if surcharge { "1.00" } else { "" },
                    if discount { "2.00" } else { "" },
                    if discount { funder } else { "" },
                    pos == 0
                );
            }
        }
        // Online payments per provider: failures at the same rates everywhere.
        for p in &providers {
            let (n, technical, slow) = match (k.tmall_wechat_failing, k.meituan_unionpay_slow) {
                (Some((n, r)), _) if *platform == "tmall" && *p == "wechat_pay" => (n, r, 1.0),
                (Some(_), _) if *platform == "tmall" && p == own => (8000, 0.01, 1.0),
                (_, Some((n, f))) if *platform == "meituan" && *p == "unionpay" => (n, 0.01, f),
                (_, Some(_)) if *platform == "meituan" && p == own => (5000, 0.01, 1.0),
                _ => (300 + 40 * pi + rng.random_range(0..200), 0.01, 1.0),
            };
            let fee_rate = match k.jd_unionpay_fee {
                Some(r) if *platform == "jd" && *p == "unionpay" => r,
                _ => 0.006,
            };
            for _ in 0..n {
                txn += 1;
                let m = rng.random_range(0..merchants);
                let amount: f64 = rng.random_range(1.0..300.0);
                let (status, code) = if rng.random_bool(technical) {
                    ("failed", ["PAYERROR", "SYSTEMERROR"][rng.random_range(0..2)])
                } else if rng.random_bool(0.01) {
                    ("failed", "USER_CANCEL")
                } else {
                    ("success", "")
                };
                let latency = (slow * (5.5 + 0.4 * normal(&mut rng)).exp()).round() as i64;
                // Fees on successful payments only, rounded to the fen.
                let fee = if status == "success" { format!("{:.2}", amount * fee_rate) } else { String::new() };
                let _ = writeln!(
                    tx,
                    "T{txn},{},{platform},online,checkout,{},{},{},,,{amount:.2},{status},{code},{latency},{fee},,",
                    ts(&mut rng),
                    mids[m],
                    region(m),
                    label(p, &mut rng),
                );
            }
        }
    }
    // Offline scans: every pilot cell at 97% success, 150 to 400 scans.
    for region in PILOT {
        for app in MAJORS {
            for issuer in MAJORS {
                if app == issuer {
                    continue;
                }
                let dead = k.dead_and_missing_cells && region == "610100" && app == "unionpay" && issuer == "alipay";
                let poor =
                    k.dead_and_missing_cells && region == "440300" && app == "wechat_pay" && issuer == "unionpay";
                let n = if dead { 0 } else { rng.random_range(150..400) };
                for _ in 0..n {
                    txn += 1;
                    let ok = rng.random_bool(if poor { 0.2 } else { 0.97 });
                    let _ = writeln!(
                        tx,
                        "T{txn},{},offline,offline,qr_scan,shop-{region},{region},{},{},{},{:.2},{},{},{},,,",
                        ts(&mut rng),
                        label(app, &mut rng),
                        label(app, &mut rng),
                        label(issuer, &mut rng),
                        rng.random_range(1.0..300.0),
                        if ok { "success" } else { "failed" },
                        if ok { "" } else { "PAYERROR" },
                        (5.0 + 0.3 * normal(&mut rng)).exp().round() as i64,
                    );
                }
            }
        }
    }
    std::fs::write(dir.join("checkout.csv"), co).unwrap();
    std::fs::write(dir.join("transactions.csv"), tx).unwrap();
}

fn compliance(id: &str) -> bool {
    ["CN-PL", "CN-ND", "CN-IO"].iter().any(|p| id.starts_with(p))
}

#[test]
fn fair_logs_never_fail_a_compliance_rule() {
    let mut evaluations = 0;
    let mut fails = Vec::new();
    for seed in 1..=9 {
        let (data, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        simulate(data.path(), seed, Knobs::default());
        let (code, v) = audit(data.path(), out.path(), &[]);
        for f in v["findings"].as_array().unwrap() {
            let id = f["rule_id"].as_str().unwrap();
            if !compliance(id) {
                continue;
            }
            evaluations += 1;
            assert_ne!(f["verdict"], "not_evaluable", "seed {seed} {id}: {}", f["message"]);
            if f["verdict"] == "fail" {
                fails.push(format!("seed {seed} {id}: {}", f["message"]));
            }
        }
        assert_eq!(code, Some(0), "seed {seed}");
    }
    assert_eq!(evaluations, 9 * 12);
    assert!(fails.is_empty(), "{fails:#?}");
}

#[test]
fn planted_breaches_of_realistic_size_are_found() {
    let (data, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let knobs = Knobs {
        jd_without_unionpay: Some(80),
        ele_me_rival_folded: Some(0.45),
        tmall_wechat_failing: Some((1000, 0.04)),
        meituan_unionpay_slow: Some((700, 1.6)),
        jd_unionpay_surcharge: Some(0.10),
        dead_and_missing_cells: true,
        jd_unionpay_fee: Some(0.009),
    };
    simulate(data.path(), 42, knobs);
    let (code, v) = audit(data.path(), out.path(), &[]);
    assert_eq!(code, Some(1));

    // 80% merchant coverage against 85%, over 400 merchants: a census, so exact.
    let f = finding(&v, "CN-PL-01");
    assert_eq!(groups_with(f, "fail"), ["platform=jd"]);
    let jd = common::group(f, "platform=jd");
    assert_eq!((jd["n"].as_u64(), jd["offered"].as_u64(), jd["value"].as_f64()), (Some(400), Some(320), Some(0.8)));
    assert_eq!(jd["basis"], "census");
    let missing: BTreeSet<String> = evidence(out.path(), f).iter().map(|r| r[2].to_string()).collect();
    let planted: BTreeSet<String> = (0..80).map(|m| format!("jd-{m:04}")).collect();
    assert_eq!(missing, planted);

    // 45% of rival options folded on ele_me.
    let f = finding(&v, "CN-ND-01");
    assert_eq!(groups_with(f, "fail"), ["platform=ele_me,provider=unionpay", "platform=ele_me,provider=wechat_pay"]);

    // 4% vs 1% technical failures over 1,000 vs 8,000 attempts.
    let f = finding(&v, "CN-ND-02");
    assert_eq!(groups_with(f, "fail"), ["platform=tmall,provider=wechat_pay"]);
    let rows = evidence(out.path(), f);
    assert_eq!((&rows[0][0], &rows[0][1]), ("tmall", "wechat_pay"));

    // p95 latency 1.6 times the own provider's over 700 attempts.
    let f = finding(&v, "CN-ND-03");
    assert_eq!(groups_with(f, "fail"), ["platform=meituan,provider=unionpay"]);

    // 10% surcharge incidence on UnionPay at jd.
    let f = finding(&v, "CN-ND-04");
    assert_eq!(groups_with(f, "fail"), ["platform=jd,provider=unionpay"]);

    // A missing and a dead mutual-recognition cell.
    let f = finding(&v, "CN-IO-01");
    assert_eq!(
        groups_with(f, "fail"),
        ["app=unionpay,issuer=alipay,region=610100", "app=wechat_pay,issuer=unionpay,region=440300"]
    );
    let cells: Vec<String> = evidence(out.path(), f).iter().map(|r| format!("{} {}>{}", &r[0], &r[1], &r[2])).collect();
    assert_eq!(cells, ["440300 wechat_pay>unionpay", "610100 unionpay>alipay"]);
    let f = finding(&v, "CN-IO-02");
    assert_eq!(
        groups_with(f, "fail"),
        [
            "provider_a=alipay,provider_b=unionpay,region=610100",
            "provider_a=wechat_pay,provider_b=unionpay,region=440300"
        ]
    );

    // Merchants pay 0.9% instead of 0.6% on UnionPay payments at jd.
    let f = finding(&v, "CN-ND-06");
    assert_eq!(groups_with(f, "fail"), ["platform=jd,provider=unionpay"]);

    // Nothing else is accused.
    for id in ["CN-PL-02", "CN-PL-03", "CN-ND-05"] {
        assert_ne!(finding(&v, id)["verdict"], "fail", "{id}");
    }
}
