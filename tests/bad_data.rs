//! Messy extracts: each case in testdata/bad/ (or made here when too large to
//! commit) gets the outcome docs/data-contract.md documents.

mod common;

use std::path::Path;

use serde_json::Value;

use common::hutong;

fn inspect_ok(args: &[&str]) -> Value {
    let mut all = vec!["inspect", "--format", "json"];
    all.extend_from_slice(args);
    let o = hutong(&all);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["datasets"][0].clone()
}

fn inspect_fails(args: &[&str], needles: &[&str]) {
    let mut all = vec!["inspect"];
    all.extend_from_slice(args);
    let o = hutong(&all);
    assert_eq!(o.status.code(), Some(2), "{args:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    for n in needles {
        assert!(err.contains(n), "{args:?}: expected `{n}` in {err}");
    }
}

fn counts(d: &Value) -> (u64, u64, u64) {
    (d["rows_read"].as_u64().unwrap(), d["rows_accepted"].as_u64().unwrap(), d["rows_rejected"].as_u64().unwrap())
}

fn labels(d: &Value, column: &str) -> Vec<String> {
    d["labels"][column]["values"].as_array().unwrap().iter().map(|v| v[0].as_str().unwrap().to_string()).collect()
}

#[test]
fn header_only_file_has_no_rows_and_no_window() {
    let d = inspect_ok(&["--transactions", "testdata/bad/header-only/transactions.csv"]);
    assert_eq!(counts(&d), (0, 0, 0));
    assert!(d["window"].is_null());
}

#[test]
fn duplicate_column_stops() {
    inspect_fails(
        &["--transactions", "testdata/bad/duplicate-column/transactions.csv"],
        &["column `amount` appears more than once in the header"],
    );
}

#[test]
fn extra_columns_are_listed_and_ignored() {
    let d = inspect_ok(&["--transactions", "testdata/bad/extra-columns/transactions.csv"]);
    assert_eq!(counts(&d), (2, 2, 0));
    assert_eq!(d["extra_columns"], serde_json::json!(["memo", "shop_name"]));
}

#[test]
fn semicolon_file_gets_a_hint_and_reads_with_delimiter() {
    inspect_fails(
        &["--transactions", "testdata/bad/semicolon/transactions.csv"],
        &["lacks required columns", "hint: the header looks ;-separated; try --delimiter ';'"],
    );
    let d = inspect_ok(&["--transactions", "testdata/bad/semicolon/transactions.csv", "--delimiter", ";"]);
    assert_eq!(counts(&d), (2, 2, 0));
}

#[test]
fn tab_separated_file_reads_with_delimiter_tab() {
    inspect_fails(&["--transactions", "testdata/bad/tab/transactions.tsv"], &["try --delimiter '\\t'"]);
    let d = inspect_ok(&["--transactions", "testdata/bad/tab/transactions.tsv", "--delimiter", "tab"]);
    assert_eq!(counts(&d), (1, 1, 0));
}

#[test]
fn bom_and_crlf_are_transparent() {
    let d = inspect_ok(&["--transactions", "testdata/bad/bom-crlf/transactions.csv"]);
    assert_eq!(counts(&d), (2, 2, 0));
    assert_eq!(labels(&d, "method"), ["Alipay"]);
    assert_eq!(d["extra_columns"], serde_json::json!([]));
}

#[test]
fn quoted_fields_keep_delimiters_quotes_and_line_breaks() {
    let d = inspect_ok(&["--transactions", "testdata/bad/quoted/transactions.csv"]);
    assert_eq!(counts(&d), (3, 3, 0));
    let mut got = labels(&d, "method");
    got.sort();
    assert_eq!(got, ["Alipay", "Alipay, \"balance\"\nline two", "a,b"]);
}

#[test]
fn gbk_export_is_detected_or_named_and_reads() {
    // Explicit UTF-8 refuses it and names the fix.
    inspect_fails(
        &["--transactions", "testdata/bad/gbk/transactions.csv", "--encoding", "utf-8"],
        &["is not valid UTF-8", "--encoding gbk"],
    );
    // The default (auto) finds it is not UTF-8 but decodes cleanly as GB18030;
    // --encoding gbk and the per-dataset form read it the same way.
    for args in [vec![], vec!["--encoding", "gbk"], vec!["--encoding", "transactions=gbk"]] {
        let mut all = vec!["--transactions", "testdata/bad/gbk/transactions.csv"];
        all.extend(args.iter().copied());
        let d = inspect_ok(&all);
        assert_eq!(counts(&d), (3, 3, 0), "{args:?}");
        let mut got = labels(&d, "method");
        got.sort();
        assert_eq!(got, ["云闪付", "微信支付", "支付宝"]);
        // The recorded hash is the original file's, not the transcoded copy's.
        let bytes = std::fs::read("testdata/bad/gbk/transactions.csv").unwrap();
        assert_eq!(d["files"][0]["sha256"], hutong::ingest::sources::sha256_bytes(&bytes));
        let want = if args.is_empty() { "GB18030" } else { "GBK" };
        assert_eq!(d["files"][0]["encoding"], want, "{args:?}");
    }
    // A UTF-8 file under auto is read as UTF-8, and says so.
    let d = inspect_ok(&["--transactions", "testdata/bad/extra-columns/transactions.csv"]);
    assert_eq!(d["files"][0]["encoding"], "UTF-8");
    inspect_fails(
        &["--transactions", "testdata/bad/gbk/transactions.csv", "--encoding", "payments=gbk"],
        &["`payments` is not a dataset"],
    );
}

#[test]
fn item_16_a_gbk_export_beside_a_utf8_one_is_audited_without_converting() {
    // Two systems, one delivery: GBK transactions, UTF-8 checkout.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy("testdata/bad/gbk/transactions.csv", dir.path().join("transactions.csv")).unwrap();
    let checkout = "session_id,ts,platform,merchant_id,region,method,position,is_default,folded\n\
                    S1,2021-10-01T10:00:00+08:00,taobao,M1,110000,支付宝,1,true,false\n";
    std::fs::write(dir.path().join("checkout.csv"), checkout).unwrap();
    let o = hutong(&["inspect", "--data", dir.path().to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let enc: Vec<&str> =
        v["datasets"].as_array().unwrap().iter().map(|d| d["files"][0]["encoding"].as_str().unwrap()).collect();
    assert_eq!(enc, ["GB18030", "UTF-8"]);
    // Bytes that are neither are an error naming both attempts.
    let bad = dir.path().join("bad.csv");
    let mut bytes = std::fs::read("testdata/bad/gbk/transactions.csv").unwrap();
    bytes.extend_from_slice(b"T9,2021-10-01T10:00:00+08:00,taobao,online,M1,110000,\x81\x20,1,success\n");
    std::fs::write(&bad, &bytes).unwrap();
    inspect_fails(&["--transactions", bad.to_str().unwrap()], &["is neither UTF-8", "nor GB18030"]);
}

#[test]
fn amounts_in_fen_are_scaled() {
    use hutong::ingest::{self, IngestOptions, InputSpec};
    use polars::prelude::*;
    let spec = InputSpec { transactions: Some("testdata/bad/fen/transactions.csv".into()), ..Default::default() };
    let sum = |fen: bool| -> f64 {
        let inputs = ingest::open(&spec, IngestOptions { amounts_in_fen: fen, ..IngestOptions::default() }).unwrap();
        let df = inputs.datasets.values().next().unwrap().accepted().select([col("amount").sum()]).collect().unwrap();
        df.column("amount").unwrap().f64().unwrap().get(0).unwrap()
    };
    assert_eq!(sum(false), 1349.0);
    assert!((sum(true) - 13.49).abs() < 1e-12);
}

#[test]
fn binary_file_is_not_csv() {
    inspect_fails(
        &["--transactions", "testdata/bad/binary/transactions.csv"],
        &["is not a text file (NUL byte at offset 8)"],
    );
}

#[test]
fn timestamps_in_common_forms_are_read_and_others_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let o = hutong(&[
        "inspect",
        "--transactions",
        "testdata/bad/timestamps/transactions.csv",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let mut rdr = csv::Reader::from_path(dir.path().join("rejected/transactions.csv")).unwrap();
    let got: Vec<(String, String)> =
        rdr.records().map(|r| r.unwrap()).map(|r| (r[1].to_string(), r[3].to_string())).collect();
    let want: Vec<(String, String)> = (7..=11).map(|l| (l.to_string(), "invalid_timestamp:ts".to_string())).collect();
    assert_eq!(got, want);
}

#[test]
fn a_ten_megabyte_field_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("transactions.csv");
    let big = "x".repeat(10 * 1024 * 1024);
    let text = format!(
        "txn_id,ts,platform,channel,merchant_id,region,method,amount,status,failure_code\n\
         T1,2021-10-01T10:00:00+08:00,taobao,online,M1,110000,Alipay,1,failed,\"{big}\"\n\
         T2,2021-10-01T10:00:00+08:00,taobao,online,M1,110000,Alipay,1,success,\n"
    );
    std::fs::write(&path, text).unwrap();
    let d = inspect_ok(&["--transactions", path.to_str().unwrap()]);
    assert_eq!(counts(&d), (2, 2, 0));
}

#[test]
fn parquet_with_wrong_column_types_stops() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("transactions.parquet");
    let mut df = df!(
        "txn_id" => ["T1"], "ts" => ["2021-10-01T10:00:00+08:00"], "platform" => ["taobao"],
        "channel" => ["online"], "merchant_id" => ["M1"], "region" => ["110000"], "method" => ["Alipay"],
        "amount" => [true], "status" => ["success"]
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(&path).unwrap()).finish(&mut df).unwrap();
    inspect_fails(
        &["--transactions", path.to_str().unwrap()],
        &["column `amount` has type bool, which cannot hold decimal >= 0"],
    );
}

#[test]
fn rejected_rows_never_vanish() {
    // Every fixture that reads: read = accepted + rejected, per file.
    for f in [
        "testdata/bad/rows/transactions.csv",
        "testdata/bad/timestamps/transactions.csv",
        "testdata/bad/quoted/transactions.csv",
    ] {
        let d = inspect_ok(&["--transactions", f]);
        let (r, a, j) = counts(&d);
        assert_eq!(r, a + j, "{f}");
        let by_reason: u64 = d["rejected_by_reason"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(by_reason, j, "{f}");
        assert!(Path::new(f).exists());
    }
}

#[test]
fn duplicate_ids_are_counted_and_kept() {
    let d = inspect_ok(&["--transactions", "testdata/bad/duplicates/transactions.csv"]);
    // T1 three times, T2 once: 4 rows kept, 2 repeat an earlier id.
    assert_eq!(counts(&d), (4, 4, 0));
    assert_eq!(d["duplicate_ids"], 2);
    let clean = inspect_ok(&["--transactions", "testdata/bad/quoted/transactions.csv"]);
    assert_eq!(clean["duplicate_ids"], 0);
}
