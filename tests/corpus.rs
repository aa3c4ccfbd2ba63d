//! The fuzz seed corpus (`fuzz/corpus/csv_ingest`) through the fuzz target's
//! check: every seed is a file error or has every row accounted for. The
//! seeds include stray and unclosed quotes, CR-only line ends and blank lines
//! before the header, so a regression there fails here, not only in fuzzing.

use hutong::exec::Batch;
use hutong::ingest::{self, accounting::AccountingPlans, IngestOptions, InputSpec};

#[test]
fn every_csv_seed_is_an_error_or_fully_accounted_for() {
    let mut seeds = 0;
    let mut read = 0;
    for entry in std::fs::read_dir("fuzz/corpus/csv_ingest").unwrap() {
        let path = entry.unwrap().path();
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("transactions.csv");
        std::fs::copy(&path, &copy).unwrap();
        seeds += 1;
        let spec = InputSpec { transactions: Some(copy.to_string_lossy().into_owned()), ..Default::default() };
        let Ok(inputs) = ingest::open(&spec, IngestOptions::default()) else { continue };
        let mut batch = Batch::new();
        let plans: Vec<_> = inputs.datasets.values().map(|i| (i, AccountingPlans::add(i, &mut batch))).collect();
        let mut results = batch.run().unwrap();
        for (input, plans) in plans {
            let (account, rejected) = plans.finish(input, &mut results, b',').unwrap();
            assert_eq!(account.rows_read, account.rows_accepted + account.rows_rejected, "{}", path.display());
            assert_eq!(rejected.len() as u64, account.rows_rejected, "{}", path.display());
            read += account.rows_read;
        }
    }
    assert!(seeds >= 7, "{seeds} seeds");
    assert!(read > 100, "the seeds hold rows: {read}");
}

/// The rows of a CSV read back: (read, accepted, rejected), or None for a file error.
fn account(bytes: &[u8]) -> Option<(u64, u64, u64)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("transactions.csv");
    std::fs::write(&path, bytes).unwrap();
    let spec = InputSpec { transactions: Some(path.to_string_lossy().into_owned()), ..Default::default() };
    let inputs = ingest::open(&spec, IngestOptions::default()).ok()?;
    let mut batch = Batch::new();
    let plans: Vec<_> = inputs.datasets.values().map(|i| (i, AccountingPlans::add(i, &mut batch))).collect();
    let mut results = batch.run().ok()?;
    let (input, plans) = plans.into_iter().next()?;
    let (a, rejected) = plans.finish(input, &mut results, b',').ok()?;
    assert_eq!(a.rows_read, a.rows_accepted + a.rows_rejected);
    assert_eq!(rejected.len() as u64, a.rows_rejected);
    Some((a.rows_read, a.rows_accepted, a.rows_rejected))
}

/// A CSV rewritten with another line end, every field quoted or not, and
/// blank lines before the header: the same records in another dress.
fn dress(lines: &[&str], end: &str, quote_all: bool, blank_before: usize, final_end: bool) -> Vec<u8> {
    let mut text = end.repeat(blank_before);
    let rows: Vec<String> = lines
        .iter()
        .map(|l| {
            if quote_all {
                l.split(',').map(|f| format!("\"{}\"", f.replace('"', "\"\""))).collect::<Vec<_>>().join(",")
            } else {
                l.to_string()
            }
        })
        .collect();
    text.push_str(&rows.join(end));
    if final_end {
        text.push_str(end);
    }
    text.into_bytes()
}

#[test]
fn line_end_and_quoting_variants_read_the_same_rows() {
    use proptest::prelude::*;
    let sample = std::fs::read_to_string("testdata/sample/transactions.csv").unwrap();
    // The header, 40 rows and the sample's planted bad rows (invalid values
    // stay invalid in any dress). No field of the sample holds a comma.
    let lines: Vec<&str> =
        sample.lines().take(41).chain(sample.lines().filter(|l| l.starts_with("TBAD")).take(4)).collect();
    let plain = account(&dress(&lines, "\n", false, 0, true)).expect("the plain file reads");
    assert_eq!(plain, (44, 40, 4));
    proptest!(ProptestConfig::with_cases(24), |(
        end in prop::sample::select(vec!["\n", "\r\n", "\r"]),
        quote_all in any::<bool>(),
        blank_before in 0usize..3,
        final_end in any::<bool>(),
    )| {
        let bytes = dress(&lines, end, quote_all, blank_before, final_end);
        prop_assert_eq!(account(&bytes), Some(plain), "end {:?} quoted {} blank {}", end, quote_all, blank_before);
    });
}

#[test]
fn a_stray_quote_anywhere_costs_at_most_its_own_record() {
    let lines = [
        "txn_id,ts,platform,channel,scene,merchant_id,region,method,wallet_app,code_issuer,amount,status,failure_code,latency_ms,fee,discount,discount_funder",
        "T1,2021-10-01T00:02:24+08:00,jd,online,checkout,M1,120000,Alipay,,,302.20,success,,205,1.81,,",
        "T2,2021-10-01T00:03:40+08:00,meituan,online,checkout,M2,330100,云闪付,,,225.71,success,,374,1.35,,",
        "T3,2021-10-01T00:04:04+08:00,taobao,online,checkout,M3,510100,quickpass,,,21.97,success,,276,0.13,,",
    ];
    let fields = 17;
    let mut checked = 0;
    for end in ["\n", "\r\n", "\r"] {
        // Quotes: none, every other field, every field; the stray quote at
        // the end of a field, or at its start (which opens a quoted field
        // running into the next line).
        for (style, at_start) in [(0, false), (1, false), (2, false), (0, true), (1, true)] {
            for stray in fields..3 * fields {
                let mut k = 0;
                let rows: Vec<String> = lines
                    .iter()
                    .map(|row| {
                        row.split(',')
                            .map(|f| {
                                let mut f = f.to_string();
                                if k == stray {
                                    f = if at_start { format!("\"{f}") } else { format!("{f}\"") };
                                }
                                if (style == 1 && k % 2 == 1) || style == 2 {
                                    f = format!("\"{}\"", f.replace('"', "\"\""));
                                }
                                k += 1;
                                f
                            })
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .collect();
                let text = rows.join(end) + end;
                let (read, accepted, _) = account(text.as_bytes()).unwrap_or_else(|| panic!("file error: {text:?}"));
                assert_eq!(read, 3, "{text:?}");
                assert!(accepted >= 2, "{text:?}: {accepted} accepted");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 3 * 5 * 2 * fields);
}
