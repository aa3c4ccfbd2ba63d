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
