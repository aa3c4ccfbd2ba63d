//! The engine against a naive row-by-row evaluator on small random logs, for
//! every rule kind: same groups, same values.

use std::collections::{BTreeMap, BTreeSet};

use hutong::audit::audit;
use hutong::findings::Finding;
use hutong::ingest::{self, IngestOptions, InputSpec};
use proptest::prelude::*;

const RULEBOOK: &str = r#"
[rulebook]
id = "naive"
title = "naive"
version = "1"
jurisdiction = "CN"
effective = 2021-09-01

[providers.alipay]
name = "Alipay"
aliases = ['^alipay$']
affiliated_platforms = ["taobao"]

[providers.unionpay]
name = "UnionPay"
aliases = ['^unionpay$']

[providers.wechat_pay]
name = "WeChat Pay"
aliases = ['^wechat pay$']
affiliated_platforms = ["wechat_mp"]

[sets]
majors = ["alipay", "wechat_pay", "unionpay"]

[[rules]]
id = "A-COV"
title = "t"
kind = "coverage"
severity = "low"
citation = "c"
rationale = "r"
provider = "unionpay"
min_share = 0.5

[[rules]]
id = "B-REL"
title = "t"
kind = "coverage"
severity = "low"
citation = "c"
rationale = "r"
unit = "session"
relative = true
providers = "majors"
min_ratio = 0.5

[[rules]]
id = "C-EXC"
title = "t"
kind = "exclusivity"
severity = "low"
citation = "c"
rationale = "r"

[[rules]]
id = "D-ACC"
title = "t"
kind = "acceptance"
severity = "low"
citation = "c"
rationale = "r"
regions = ["110000"]
providers = "majors"
min_attempts = 2
min_success = 0.5

[[rules]]
id = "E-HHI"
title = "t"
kind = "concentration"
severity = "low"
citation = "c"
rationale = "r"
by = ["channel"]
max_hhi = 5000

[[rules]]
id = "F-FAIL"
title = "t"
kind = "parity"
severity = "low"
citation = "c"
rationale = "r"
where = "channel = 'online'"
metric = "failure_rate"
rivals = "majors"
max_difference = 0.1
min_n = 1

[[rules]]
id = "G-P95"
title = "t"
kind = "parity"
severity = "low"
citation = "c"
rationale = "r"
where = "channel = 'online'"
metric = "p95_latency"
rivals = "majors"
max_ratio = 2
min_n = 1

[[rules]]
id = "H-VIS"
title = "t"
kind = "parity"
severity = "low"
citation = "c"
rationale = "r"
metric = "visible_rate"
rivals = "majors"
min_ratio = 0.5
min_n = 1
"#;

const PLATFORMS: [&str; 3] = ["taobao", "wechat_mp", "pinduoduo"];
const LABELS: [&str; 4] = ["Alipay", "UnionPay", "WeChat Pay", "PayPal"];
const PROVIDERS: [Option<&str>; 4] = [Some("alipay"), Some("unionpay"), Some("wechat_pay"), None];
const MAJORS: [&str; 3] = ["alipay", "wechat_pay", "unionpay"];

fn affiliated(p: &str) -> Option<&'static str> {
    match p {
        "taobao" => Some("alipay"),
        "wechat_mp" => Some("wechat_pay"),
        _ => None,
    }
}

#[derive(Debug, Clone)]
struct Txn {
    platform: usize,
    online: bool,
    label: usize,
    app: usize,
    issuer: usize,
    success: bool,
    latency: u32,
}

#[derive(Debug, Clone)]
struct Opt {
    platform: usize,
    merchant: u8,
    session: u8,
    label: usize,
    folded: bool,
}

fn txn() -> impl Strategy<Value = Txn> {
    (0..3usize, any::<bool>(), 0..4usize, 0..4usize, 0..4usize, any::<bool>(), 1..50u32).prop_map(
        |(platform, online, label, app, issuer, success, latency)| Txn {
            platform,
            online,
            label,
            app,
            issuer,
            success,
            latency,
        },
    )
}

fn opt() -> impl Strategy<Value = Opt> {
    (0..3usize, 0..4u8, 0..6u8, 0..4usize, any::<bool>()).prop_map(|(platform, merchant, session, label, folded)| Opt {
        platform,
        merchant,
        session,
        label,
        folded,
    })
}

type Values = BTreeMap<String, f64>;

fn key(parts: &[(&str, &str)]) -> String {
    let mut p: Vec<(&str, &str)> = parts.to_vec();
    p.sort();
    p.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

fn round(v: f64) -> f64 {
    (v * 1e6).round() / 1e6
}

/// Rule id -> group key -> value, straight from the rows.
fn naive(txns: &[Txn], opts: &[Opt]) -> BTreeMap<&'static str, Values> {
    let mut out: BTreeMap<&'static str, Values> = BTreeMap::new();
    // Coverage by merchant, and exclusivity: per platform, merchant -> providers offered.
    let mut offered: BTreeMap<&str, BTreeMap<u8, BTreeSet<Option<&str>>>> = BTreeMap::new();
    let mut sessions: BTreeMap<&str, BTreeMap<u8, BTreeSet<Option<&str>>>> = BTreeMap::new();
    for o in opts {
        let p = PLATFORMS[o.platform];
        offered.entry(p).or_default().entry(o.merchant).or_default().insert(PROVIDERS[o.label]);
        // Session ids are per platform and merchant in the generated log.
        sessions.entry(p).or_default().entry(o.session * 10 + o.merchant).or_default().insert(PROVIDERS[o.label]);
    }
    // Distinct sessions per platform and merchant.
    let mut merchant_sessions: BTreeMap<(&str, u8), BTreeSet<u8>> = BTreeMap::new();
    for o in opts {
        merchant_sessions.entry((PLATFORMS[o.platform], o.merchant)).or_default().insert(o.session);
    }
    for (p, merchants) in &offered {
        let covered = merchants.values().filter(|s| s.contains(&Some("unionpay"))).count();
        out.entry("A-COV").or_default().insert(key(&[("platform", p)]), round(covered as f64 / merchants.len() as f64));
        // Exclusivity needs the platform's own provider seen at all, and counts
        // merchants with at least 5 sessions (the default min_sessions).
        if let Some(aff) = affiliated(p).filter(|a| merchants.values().any(|s| s.contains(&Some(*a)))) {
            let only = merchants
                .iter()
                .filter(|(m, s)| s.len() == 1 && s.contains(&Some(aff)) && merchant_sessions[&(*p, **m)].len() >= 5)
                .count();
            out.entry("C-EXC").or_default().insert(key(&[("platform", p)]), only as f64);
        }
    }
    for (p, ss) in &sessions {
        let Some(aff) = affiliated(p) else { continue };
        let own = ss.values().filter(|s| s.contains(&Some(aff))).count();
        if own == 0 {
            continue;
        }
        for r in MAJORS.iter().filter(|r| **r != aff) {
            let n = ss.values().filter(|s| s.contains(&Some(*r))).count();
            out.entry("B-REL")
                .or_default()
                .insert(key(&[("platform", p), ("provider", r)]), round(n as f64 / own as f64));
        }
    }
    // Acceptance: offline scans in region 110000 with mapped app and issuer.
    for a in MAJORS {
        for i in MAJORS.iter().filter(|i| **i != a) {
            let cell: Vec<&Txn> = txns
                .iter()
                .filter(|t| !t.online && PROVIDERS[t.app] == Some(a) && PROVIDERS[t.issuer] == Some(*i))
                .collect();
            if !cell.is_empty() {
                let s = cell.iter().filter(|t| t.success).count();
                out.entry("D-ACC").or_default().insert(
                    key(&[("region", "110000"), ("app", a), ("issuer", i)]),
                    round(s as f64 / cell.len() as f64),
                );
            }
        }
    }
    // Concentration: successful payments, online by method, offline by app
    // (else method); unmapped labels stay in the denominator.
    for (channel, online) in [("online", true), ("offline", false)] {
        let mut shares: BTreeMap<&str, f64> = BTreeMap::new();
        let mut total = 0.0;
        for t in txns.iter().filter(|t| t.success && t.online == online) {
            total += 1.0;
            let firm = if online { PROVIDERS[t.label] } else { PROVIDERS[t.app].or(PROVIDERS[t.label]) };
            if let Some(f) = firm {
                *shares.entry(f).or_default() += 1.0;
            }
        }
        if !shares.is_empty() {
            let hhi: f64 = shares.values().map(|n| (100.0 * n / total).powi(2)).sum();
            out.entry("E-HHI").or_default().insert(key(&[("channel", channel)]), round(hhi));
        }
    }
    // Parity on online payments and on checkout options.
    for (pi, p) in PLATFORMS.iter().enumerate() {
        let Some(aff) = affiliated(p) else { continue };
        let arm = |prov: &str| -> Vec<&Txn> {
            txns.iter().filter(|t| t.online && t.platform == pi && PROVIDERS[t.label] == Some(prov)).collect()
        };
        let own = arm(aff);
        let opt_arm = |prov: &str| -> Vec<&Opt> {
            opts.iter().filter(|o| o.platform == pi && PROVIDERS[o.label] == Some(prov)).collect()
        };
        // Per session of the platform: provider -> shown visible at least once.
        let mut visible: BTreeMap<u8, BTreeMap<&str, bool>> = BTreeMap::new();
        for o in opts.iter().filter(|o| o.platform == pi) {
            if let Some(prov) = PROVIDERS[o.label] {
                *visible.entry(o.session * 10 + o.merchant).or_default().entry(prov).or_default() |= !o.folded;
            }
        }
        for r in MAJORS.iter().filter(|r| **r != aff) {
            let rival = arm(r);
            if !rival.is_empty() && !own.is_empty() {
                let fr = |v: &[&Txn]| v.iter().filter(|t| !t.success).count() as f64 / v.len() as f64;
                out.entry("F-FAIL")
                    .or_default()
                    .insert(key(&[("platform", p), ("provider", r)]), round(fr(&rival) - fr(&own)));
                // p95 of successful payments only.
                let p95 = |v: &[&Txn]| {
                    let mut l: Vec<u32> = v.iter().filter(|t| t.success).map(|t| t.latency).collect();
                    l.sort_unstable();
                    (!l.is_empty()).then(|| f64::from(l[(0.95 * l.len() as f64).ceil() as usize - 1]))
                };
                if let (Some(a), Some(b)) = (p95(&rival), p95(&own)) {
                    out.entry("G-P95").or_default().insert(key(&[("platform", p), ("provider", r)]), round(a / b));
                }
            }
            // Visibility within the sessions that showed both.
            let shared: Vec<(bool, bool)> = visible.values().filter_map(|s| Some((*s.get(r)?, *s.get(aff)?))).collect();
            if !shared.is_empty() && opt_arm(aff).len() + opt_arm(r).len() > 0 {
                let a = shared.iter().filter(|x| x.0).count() as f64;
                let b = shared.iter().filter(|x| x.1).count() as f64;
                let ratio = if b > 0.0 {
                    a / b
                } else if a == 0.0 {
                    1.0
                } else {
                    f64::INFINITY
                };
                if ratio.is_finite() {
                    out.entry("H-VIS").or_default().insert(key(&[("platform", p), ("provider", r)]), round(ratio));
                }
            }
        }
    }
    out
}

fn engine_values(findings: &[Finding]) -> BTreeMap<String, Values> {
    let mut out: BTreeMap<String, Values> = BTreeMap::new();
    for f in findings {
        let id = f.rule_id.clone();
        for g in &f.groups {
            if let Some(v) = g.value {
                let parts: Vec<(&str, &str)> = g.key.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                out.entry(id.clone()).or_default().insert(key(&parts), v);
            }
        }
    }
    out
}

/// Runs the engine on a log; returns (naive values, engine values).
fn both(txns: &[Txn], opts: &[Opt]) -> (BTreeMap<String, Values>, BTreeMap<String, Values>) {
    let dir = tempfile::tempdir().unwrap();
    let mut t = String::from(
        "txn_id,ts,platform,channel,merchant_id,region,method,wallet_app,code_issuer,amount,status,latency_ms\n",
    );
    for (i, x) in txns.iter().enumerate() {
        let (platform, channel, app, issuer) = if x.online {
            (PLATFORMS[x.platform], "online", "", "")
        } else {
            ("offline", "offline", LABELS[x.app], LABELS[x.issuer])
        };
        let status = if x.success { "success" } else { "failed" };
        t.push_str(&format!(
            "T{i},2021-10-01T10:00:00+08:00,{platform},{channel},M1,110000,{},{app},{issuer},1.00,{status},{}\n",
            LABELS[x.label], x.latency
        ));
    }
    let mut c = String::from("session_id,ts,platform,merchant_id,region,method,position,is_default,folded\n");
    for o in opts {
        c.push_str(&format!(
            "S{}-{},2021-10-01T10:00:00+08:00,{},M{},110000,{},1,true,{}\n",
            o.session * 10 + o.merchant,
            PLATFORMS[o.platform],
            PLATFORMS[o.platform],
            o.merchant,
            LABELS[o.label],
            o.folded
        ));
    }
    std::fs::write(dir.path().join("transactions.csv"), t).unwrap();
    std::fs::write(dir.path().join("checkout.csv"), c).unwrap();
    let rb = hutong::engine::kinds::parse("naive.toml", RULEBOOK).unwrap();
    let spec = InputSpec { data: Some(dir.path().to_path_buf()), ..Default::default() };
    let inputs = ingest::open(&spec, IngestOptions::default()).unwrap();
    let execution = hutong::budget::choose(1 << 30, false, hutong::budget::input_of(&inputs).unwrap(), None, None);
    let report = audit(
        &rb,
        &inputs,
        &dir.path().join("out"),
        // The keyed aggregations on the sorted path, whose in-pass check
        // decides (whatever the rows' order, the results are the hashed ones').
        hutong::audit::Run {
            generated_at: "t".into(),
            command: vec![],
            execution: execution.unwrap(),
            sorted_keys: hutong::budget::SORTABLE.iter().map(|(_, k)| *k).collect(),
            runner: None,
            key_budget: None,
        },
        Default::default(),
        &Default::default(),
    )
    .unwrap();
    let want = naive(txns, opts).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    (want, engine_values(&report.findings))
}

#[test]
fn a_log_touching_every_rule_kind_agrees() {
    let mut txns = Vec::new();
    let mut opts = Vec::new();
    for i in 0..48usize {
        txns.push(Txn {
            platform: i % 3,
            online: i % 4 != 0,
            label: i % 4,
            app: (i / 4) % 4,
            issuer: (i / 3) % 4,
            success: i % 5 != 0,
            latency: 1 + (i as u32 * 7) % 49,
        });
        opts.push(Opt {
            platform: i % 3,
            merchant: (i % 4) as u8,
            session: (i % 6) as u8,
            label: (i / 2) % 4,
            folded: i % 7 == 0,
        });
    }
    let (want, got) = both(&txns, &opts);
    let rules: Vec<&str> = want.keys().map(String::as_str).collect();
    assert_eq!(rules, ["A-COV", "B-REL", "C-EXC", "D-ACC", "E-HHI", "F-FAIL", "G-P95", "H-VIS"]);
    assert_eq!(want, got);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn engine_agrees_with_naive(txns in proptest::collection::vec(txn(), 1..60), opts in proptest::collection::vec(opt(), 1..60)) {
        let (want, got) = both(&txns, &opts);
        for (rule, values) in &want {
            let empty = Values::new();
            let engine = got.get(rule).unwrap_or(&empty);
            for (k, v) in values {
                prop_assert_eq!(engine.get(k), Some(v), "{} {}", rule, k);
            }
        }
        // The engine reports no value the naive evaluator lacks (acceptance
        // lists empty cells as n = 0 with no value, so it has none either).
        for (rule, values) in &got {
            for k in values.keys() {
                prop_assert!(want.get(rule).is_some_and(|w| w.contains_key(k)), "{} {} only in the engine", rule, k);
            }
        }
    }
}
