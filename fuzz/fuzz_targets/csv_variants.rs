//! Valid transactions in another dress: the fuzzer picks the line end (LF,
//! CRLF, CR), which fields are quoted, blank lines before the header, a
//! missing final line end, and may plant one stray quote in a field. Without
//! the stray quote the rows read must be exactly the plain file's; with it,
//! the same records are read and at most that one is lost.
//! `tests/corpus.rs` checks both properties over every dress it can list.
#![no_main]

use hutong::exec::Batch;
use hutong::ingest::{self, accounting::AccountingPlans, IngestOptions, InputSpec};
use libfuzzer_sys::fuzz_target;

const ROWS: [&str; 5] = [
    "txn_id,ts,platform,channel,scene,merchant_id,region,method,wallet_app,code_issuer,amount,status,failure_code,latency_ms,fee,discount,discount_funder",
    "T1,2021-10-01T00:02:24+08:00,jd,online,checkout,M1,120000,Alipay,,,302.20,success,,205,1.81,,",
    "T2,2021-10-01T00:03:40+08:00,meituan,online,checkout,M2,330100,云闪付,,,225.71,success,,374,1.35,,",
    "T3,2021-10-01T00:04:04+08:00,taobao,online,checkout,M3,510100,quickpass,,,21.97,success,,276,0.13,,",
    "TBAD,2021-13-45 99:00:00,taobao,online,checkout,M4,110000,Alipay,,,10.00,success,,200,0.006,,",
];

fn account(bytes: &[u8]) -> Option<(u64, u64, u64)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("transactions.csv");
    std::fs::write(&path, bytes).expect("write input");
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

fuzz_target!(|data: &[u8]| {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let end = ["\n", "\r\n", "\r"][byte(0) as usize % 3];
    let blank = byte(1) as usize % 3;
    let final_end = byte(2) % 2 == 0;
    let stray = byte(3) % 4 == 0;
    let mut text = end.repeat(blank);
    let mut fields_seen = 0usize;
    let rows: Vec<String> = ROWS
        .iter()
        .map(|row| {
            row.split(',')
                .map(|f| {
                    fields_seen += 1;
                    let quoted = byte(4 + fields_seen) % 2 == 1;
                    let mut f = f.to_string();
                    // One stray quote inside a data field (never the header).
                    if stray && fields_seen == 18 + (byte(4) as usize % 60) {
                        f.push('"');
                    }
                    if quoted {
                        format!("\"{}\"", f.replace('"', "\"\""))
                    } else {
                        f
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    text.push_str(&rows.join(end));
    if final_end {
        text.push_str(end);
    }
    let got = account(text.as_bytes());
    if !stray {
        assert_eq!(got, Some((4, 3, 1)), "{text:?}");
    } else if let Some((read, accepted, _)) = got {
        assert!(read == 4 && accepted >= 2, "{text:?}: {got:?}");
    }
});
