//! Properties: the statistics stay in range and symmetric, and ingestion
//! accounts for every line of random mixes of valid and broken rows.

use hutong::ingest::{self, accounting, IngestOptions, InputSpec};
use hutong::stats;
use proptest::prelude::*;

proptest! {
    #[test]
    fn z_test_p_in_range_and_symmetric(x1 in 0u64..500, n1 in 1u64..500, x2 in 0u64..500, n2 in 1u64..500) {
        let (x1, x2) = (x1.min(n1), x2.min(n2));
        if let Some((z, p)) = stats::two_proportion_z(x1, n1, x2, n2) {
            prop_assert!((0.0..=1.0).contains(&p));
            let (z2, p2) = stats::two_proportion_z(x2, n2, x1, n1).unwrap();
            prop_assert!((z + z2).abs() < 1e-9);
            prop_assert!((p - p2).abs() < 1e-12);
        }
    }

    #[test]
    fn fisher_p_in_range_and_symmetric(a in 0u64..60, b in 0u64..60, c in 0u64..60, d in 0u64..60) {
        let p = stats::fisher_exact(a, b, c, d);
        prop_assert!(p > 0.0 && p <= 1.0, "{p}");
        prop_assert!((p - stats::fisher_exact(c, d, a, b)).abs() < 1e-9);
        prop_assert!((p - stats::fisher_exact(b, a, d, c)).abs() < 1e-9);
        prop_assert!((p - stats::fisher_exact(a, c, b, d)).abs() < 1e-9);
    }

    #[test]
    fn wilson_contains_the_estimate(x in 0u64..10_000, n in 1u64..10_000) {
        let x = x.min(n);
        let (lo, hi) = stats::wilson(x, n).unwrap();
        let p = x as f64 / n as f64;
        prop_assert!(0.0 <= lo && lo <= p + 1e-12 && p <= hi + 1e-12 && hi <= 1.0, "{lo} {p} {hi}");
    }

    #[test]
    fn holm_is_at_least_raw_and_at_most_one(ps in proptest::collection::vec(0.0f64..=1.0, 1..30)) {
        let adj = stats::holm(&ps);
        for (p, a) in ps.iter().zip(&adj) {
            prop_assert!(*a >= *p - 1e-15 && *a <= 1.0);
        }
        // Order is preserved: a smaller raw p never gets a larger adjusted p.
        for i in 0..ps.len() {
            for j in 0..ps.len() {
                if ps[i] < ps[j] {
                    prop_assert!(adj[i] <= adj[j] + 1e-15);
                }
            }
        }
    }
}

/// One line of a random transactions file: valid, or broken in a known way.
#[derive(Debug, Clone, Copy)]
enum Line {
    Valid,
    BadTime,
    Negative,
    NotNumber,
    BadStatus,
    MissingMerchant,
    TooFew,
    TooMany,
    Blank,
    Quoted,
}

fn render(line: Line, i: usize) -> (String, bool) {
    let ok = |ts: &str, m: &str, amount: &str, status: &str| {
        format!("T{i},{ts},taobao,online,{m},110000,Alipay,{amount},{status}")
    };
    let t = "2021-10-01T10:00:00+08:00";
    match line {
        Line::Valid => (ok(t, "M1", "1.00", "success"), true),
        Line::Quoted => (format!("T{i},{t},taobao,online,M1,110000,\"Ali,\n\"\"pay\"\"\",2,failed"), true),
        Line::BadTime => (ok("2021-10-01T25:00:00", "M1", "1", "success"), false),
        Line::Negative => (ok(t, "M1", "-1", "success"), false),
        Line::NotNumber => (ok(t, "M1", "x", "success"), false),
        Line::BadStatus => (ok(t, "M1", "1", "pending"), false),
        Line::MissingMerchant => (ok(t, "", "1", "success"), false),
        Line::TooFew => (format!("T{i},{t},taobao"), false),
        Line::TooMany => (ok(t, "M1", "1", "success") + ",extra", false),
        Line::Blank => (String::new(), false),
    }
}

fn any_line() -> impl Strategy<Value = Line> {
    prop_oneof![
        4 => Just(Line::Valid),
        1 => Just(Line::BadTime),
        1 => Just(Line::Negative),
        1 => Just(Line::NotNumber),
        1 => Just(Line::BadStatus),
        1 => Just(Line::MissingMerchant),
        1 => Just(Line::TooFew),
        1 => Just(Line::TooMany),
        1 => Just(Line::Blank),
        1 => Just(Line::Quoted),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_line_is_accounted_for(lines in proptest::collection::vec(any_line(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("transactions.csv");
        let mut text = String::from("txn_id,ts,platform,channel,merchant_id,region,method,amount,status\n");
        let mut valid = 0u64;
        for (i, l) in lines.iter().enumerate() {
            let (s, ok) = render(*l, i);
            valid += u64::from(ok);
            text.push_str(&s);
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
        let spec = InputSpec { transactions: Some(path.to_string_lossy().into_owned()), ..Default::default() };
        let inputs = ingest::open(&spec, IngestOptions::default()).unwrap();
        let input = inputs.datasets.values().next().unwrap();
        let mut batch = hutong::exec::Batch::new();
        let plans = accounting::AccountingPlans::add(input, &mut batch);
        let mut results = batch.run().unwrap();
        let (account, rejected) = plans.finish(input, &mut results, b',').unwrap();
        prop_assert_eq!(rejected.len() as u64, account.rows_rejected);
        prop_assert_eq!(account.rows_read, lines.len() as u64);
        prop_assert_eq!(account.rows_accepted, valid);
        prop_assert_eq!(account.rows_read, account.rows_accepted + account.rows_rejected);
        prop_assert_eq!(account.rejected_by_reason.values().sum::<u64>(), account.rows_rejected);
    }
}
