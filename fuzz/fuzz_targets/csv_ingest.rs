//! Arbitrary bytes as a transactions CSV: ingestion must report a file error
//! or account for every row (read = accepted + rejected), never panic. The
//! same check runs over the seed corpus in `tests/corpus.rs`.
#![no_main]

use hutong::exec::Batch;
use hutong::ingest::{self, accounting::AccountingPlans, IngestOptions, InputSpec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("transactions.csv");
    std::fs::write(&path, data).expect("write input");
    let spec = InputSpec { transactions: Some(path.to_string_lossy().into_owned()), ..Default::default() };
    let Ok(inputs) = ingest::open(&spec, IngestOptions::default()) else { return };
    let mut batch = Batch::new();
    let plans: Vec<_> = inputs.datasets.values().map(|i| (i, AccountingPlans::add(i, &mut batch))).collect();
    let Ok(mut results) = batch.run() else { return };
    for (input, plans) in plans {
        let Ok((account, rejected)) = plans.finish(input, &mut results, b',') else { continue };
        assert_eq!(account.rows_read, account.rows_accepted + account.rows_rejected);
        assert_eq!(rejected.len() as u64, account.rows_rejected);
    }
});
