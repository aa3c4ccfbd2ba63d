//! Arbitrary bytes as a transactions CSV: ingestion must report a file error
//! or account for every row (read = accepted + rejected), never panic.
#![no_main]

use hutong::ingest::{self, accounting, rejects, IngestOptions, InputSpec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("transactions.csv");
    std::fs::write(&path, data).expect("write input");
    let spec = InputSpec { transactions: Some(path.to_string_lossy().into_owned()), ..Default::default() };
    let Ok(inputs) = ingest::open(&spec, IngestOptions::default()) else { return };
    for input in inputs.datasets.values() {
        let Ok(counts) = accounting::counts_plan(input).collect() else { continue };
        let Ok(account) = accounting::from_counts(input, &counts) else { continue };
        assert_eq!(account.rows_read, account.rows_accepted + account.rows_rejected);
        if let Ok(rejected) = rejects::rejected_plan(input).collect() {
            let located = rejects::locate(input, &rejected, b',').expect("locate rejected rows");
            assert_eq!(located.len() as u64, account.rows_rejected);
        }
    }
});
