//! `hutong import` on export fixtures built from the documented layouts
//! (testdata/exports/make_fixtures.py): every row accounted for, exact counts
//! and amount sums, a test per pitfall of each format, a user's own profile
//! end to end, and clear errors for bad profiles and mismatched files.

mod common;

use std::path::{Path, PathBuf};

use common::run;
use serde_json::Value;

const EXPORTS: &str = "testdata/exports";

fn fixture(name: &str) -> String {
    format!("{EXPORTS}/{name}")
}

/// Imports `files` with `profile` (contract CSV output); exit code, import.json, stderr.
fn import(profile: &str, files: &[&str], extra: &[&str]) -> (Option<i32>, Value, String, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap().to_string();
    let mut args = vec!["import", "--profile", profile, "--out", &dir, "--format", "csv", "--quiet"];
    args.extend_from_slice(files);
    args.extend_from_slice(extra);
    let (code, _, err) = run(&args);
    let v = std::fs::read_to_string(out.path().join("import.json"))
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    (code, v, err, out)
}

/// The imported rows as (header, rows).
fn rows(out: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut rdr = csv::Reader::from_path(out.join("transactions.csv")).unwrap();
    let header = rdr.headers().unwrap().iter().map(str::to_string).collect();
    let rows = rdr.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect();
    (header, rows)
}

fn column(out: &Path, name: &str) -> Vec<String> {
    let (header, rows) = rows(out);
    let i = header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name} in {header:?}"));
    rows.into_iter().map(|r| r[i].clone()).collect()
}

/// The sum of the imported amounts, in fen (exact).
fn fen(out: &Path) -> i64 {
    column(out, "amount").iter().map(|a| (a.parse::<f64>().unwrap() * 100.0).round() as i64).sum()
}

/// rows read = imported + set aside + rejected, overall and per file.
fn accounted(v: &Value) {
    let n = |x: &Value, k: &str| x[k].as_u64().unwrap();
    assert_eq!(n(v, "rows_read"), n(v, "imported") + n(v, "set_aside") + n(v, "rejected"), "{v:#}");
    for f in v["files"].as_array().unwrap() {
        assert_eq!(n(f, "rows_read"), n(f, "imported") + n(f, "set_aside") + n(f, "rejected"), "{f:#}");
    }
    let by = |k: &str| v[k].as_object().unwrap().values().map(|x| x.as_u64().unwrap()).sum::<u64>();
    assert_eq!((by("set_aside_by_reason"), by("rejected_by_reason")), (n(v, "set_aside"), n(v, "rejected")));
}

const WECHAT_SET: [&str; 6] = ["--set", "platform=wechat_mp", "--set", "channel=online", "--set", "region=440300"];

#[test]
fn a_wechat_all_bill_imports_every_payment_and_sets_aside_refunds_and_the_summary() {
    // BOM, CRLF, backticks, a comma inside a product name, a refund, a
    // revocation and the two summary lines.
    let (code, v, err, out) = import("wechat-trade-bill", &[&fixture("wechat-ALL.csv")], &WECHAT_SET);
    assert_eq!(code, Some(0), "{err}");
    accounted(&v);
    assert_eq!((v["rows_read"].as_u64(), v["imported"].as_u64(), v["rejected"].as_u64()), (Some(7), Some(3), Some(0)));
    assert_eq!(v["set_aside_by_reason"]["refund or revocation"], 2);
    assert_eq!(v["set_aside_by_reason"]["bill summary"], 2);
    // The input's own SHA-256, hashed while its lines were read.
    let bytes = std::fs::read(fixture("wechat-ALL.csv")).unwrap();
    assert_eq!(v["files"][0]["sha256"], hutong::ingest::sources::sha256_bytes(&bytes));
    // 0.03 + 128.00 + 56.50.
    assert_eq!(fen(out.path()), 18453);
    let ids = column(out.path(), "txn_id");
    assert_eq!(ids, ["4200000263202110047700134901", "4200000263202110047700134902", "4200000263202110057700134903"]);
    // The sub-merchant where present; `0` falls back to the merchant number.
    assert_eq!(column(out.path(), "merchant_id"), ["1921000401", "1900000109", "1921000401"]);
    // Fees with 5 decimals; rates with `%` are not mapped and do not reject the row.
    assert_eq!(column(out.path(), "fee"), ["0.01", "0.708", "0.339"]);
    assert_eq!(column(out.path(), "ts")[0], "2021-10-04T01:12:01.000000Z");
    assert_eq!(column(out.path(), "platform"), ["wechat_mp"; 3]);
    // The set-aside rows are listed with file, line and reason.
    let aside = std::fs::read_to_string(out.path().join("set-aside.csv")).unwrap();
    assert!(aside.starts_with("row,file,line,reason,raw\n"), "{aside}");
    assert!(aside.contains(",5,refund or revocation,\"`2021-10-05 20:00:00"), "{aside}");
    assert!(aside.contains(",7,bill summary,\"总交易单数"), "{aside}");
    assert!(!out.path().join("rejected/transactions.csv").exists());
}

#[test]
fn success_refund_and_legacy_wechat_bills() {
    let (code, v, err, out) = import("wechat-trade-bill", &[&fixture("wechat-SUCCESS.csv")], &WECHAT_SET);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!((v["imported"].as_u64(), v["set_aside"].as_u64()), (Some(3), Some(2)));
    assert_eq!(fen(out.path()), 18453);
    // A REFUND bill holds no payment at all, whatever its 交易状态 column says.
    let (code, v, err, _) = import("wechat-trade-bill", &[&fixture("wechat-REFUND.csv")], &WECHAT_SET);
    assert_eq!(code, Some(0), "{err}");
    let reason = "refund bill: every row is a refund";
    assert_eq!((v["imported"].as_u64(), v["set_aside_by_reason"][reason].as_u64()), (Some(0), Some(1)));
    let dir = tempfile::tempdir().unwrap();
    let success = dir.path().join("refund-bill.csv");
    let text = std::fs::read_to_string(fixture("wechat-REFUND.csv")).unwrap().replace("`REFUND,", "`SUCCESS,");
    std::fs::write(&success, text).unwrap();
    let (_, v, _, _) = import("wechat-trade-bill", &[success.to_str().unwrap()], &WECHAT_SET);
    assert_eq!((v["imported"].as_u64(), v["set_aside_by_reason"][reason].as_u64()), (Some(0), Some(1)));
    // The legacy bill names its columns 子商户号, 总金额, 代金券或立减优惠金额.
    let (code, v, err, out) = import("wechat-trade-bill", &[&fixture("wechat-legacy.csv")], &WECHAT_SET);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["imported"], 1);
    assert_eq!(
        (column(out.path(), "amount"), column(out.path(), "discount")),
        (vec!["25.0".to_string()], vec!["5.0".to_string()])
    );
    assert_eq!(column(out.path(), "merchant_id"), ["10000100"]);
}

#[test]
fn an_alipay_trade_detail_in_gbk_with_preamble_footer_and_tabs() {
    let set = ["--set", "platform=taobao", "--set", "channel=online", "--set", "region=330100"];
    for file in ["alipay-trade-detail.csv", "alipay-trade-detail-halfwidth.csv", "alipay-trade-detail.csv.zip"] {
        let (code, v, err, out) = import("alipay-trade-detail", &[&fixture(file)], &set);
        assert_eq!(code, Some(0), "{file}: {err}");
        accounted(&v);
        // 4 preamble and 4 footer lines, 3 payments, 1 negative refund.
        let got = (v["rows_read"].as_u64(), v["imported"].as_u64(), v["rejected"].as_u64());
        assert_eq!(got, (Some(12), Some(3), Some(0)), "{file}");
        assert_eq!(v["set_aside_by_reason"]["statement preamble or footer"], 8, "{file}");
        assert_eq!(v["set_aside_by_reason"]["refund"], 1, "{file}");
        // 0.01 + 35.00 + 12.50, trailing tabs trimmed from every id.
        assert_eq!(fen(out.path()), 4751, "{file}");
        let ids = column(out.path(), "txn_id");
        assert_eq!(ids[0], "2021100422001458860515315453");
        assert_eq!(column(out.path(), "fee"), ["0.0", "-0.21", "-0.08"]);
    }
    // From the zip: the detail entry (its GBK name decoded), not the summary beside it.
    let (_, v, _, _) = import("alipay-trade-detail", &[&fixture("alipay-trade-detail.csv.zip")], &set);
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["entry"], "20880211096256330156_20211004_业务明细.csv");
    let zip = std::fs::read(fixture("alipay-trade-detail.csv.zip")).unwrap();
    assert_eq!(files[0]["sha256"], hutong::ingest::sources::sha256_bytes(&zip));
}

#[test]
fn a_unionpay_zm_file_is_cut_by_gbk_bytes() {
    let set = ["--set", "platform=jd", "--set", "channel=online", "--set", "region=440300"];
    let (code, v, err, out) = import("unionpay-zm", &[&fixture("INN21102388ZM_777290058110048")], &set);
    assert_eq!(code, Some(0), "{err}");
    accounted(&v);
    assert_eq!((v["rows_read"].as_u64(), v["imported"].as_u64(), v["rejected"].as_u64()), (Some(4), Some(2), Some(0)));
    assert_eq!(
        (v["set_aside_by_reason"]["refund"].as_u64(), v["set_aside_by_reason"]["cancellation"].as_u64()),
        (Some(1), Some(1))
    );
    // Amounts in fen: 12.34 + 50.00.
    assert_eq!(fen(out.path()), 6234);
    // The discount sits after a 32-byte field holding a Chinese name: read by
    // characters it would be misaligned; by GBK bytes it is 1.00.
    assert_eq!(column(out.path(), "discount"), ["1.0", "5.0"]);
    assert_eq!(column(out.path(), "merchant_id"), ["777290058110101", "777290058110048"]);
    // MMDDhhmmss with the year of the file name's date (21-10-23).
    assert_eq!(column(out.path(), "ts")[0], "2021-10-22T02:30:15.000000Z");
    // A name without a date needs --file-date.
    let dir = tempfile::tempdir().unwrap();
    let renamed = dir.path().join("zm.txt");
    std::fs::copy(fixture("INN21102388ZM_777290058110048"), &renamed).unwrap();
    let (code, _, err, _) = import("unionpay-zm", &[renamed.to_str().unwrap()], &set);
    assert_eq!(code, Some(2));
    assert!(err.contains("pass --file-date"), "{err}");
    let mut with_date = set.to_vec();
    with_date.extend(["--file-date", "2021-10-23"]);
    let (code, v, _, _) = import("unionpay-zm", &[renamed.to_str().unwrap()], &with_date);
    assert_eq!((code, v["imported"].as_u64()), (Some(0), Some(2)));
}

#[test]
fn a_users_own_profile_imports_and_then_audits() {
    let (code, v, err, out) = import(&fixture("warehouse.toml"), &[&fixture("warehouse-payments.csv")], &[]);
    assert_eq!(code, Some(0), "{err}");
    accounted(&v);
    assert_eq!((v["imported"].as_u64(), v["set_aside_by_reason"]["refund"].as_u64()), (Some(4), Some(1)));
    assert_eq!(fen(out.path()), 1999 + 50000 + 1500 + 800);
    assert_eq!(column(out.path(), "status"), ["success", "success", "failed", "success"]);
    assert_eq!(column(out.path(), "channel"), ["online", "online", "online", "offline"]);
    // Parquet by default, and the audit reads it directly.
    let pq = tempfile::tempdir().unwrap();
    let pq_out = pq.path().join("imported");
    let (code, _, err) = run(&[
        "import",
        "--profile",
        &fixture("warehouse.toml"),
        &fixture("warehouse-payments.csv"),
        "--out",
        pq_out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(pq_out.join("transactions.parquet").is_file());
    let audit_out = pq.path().join("audit");
    let (code, _, err) = run(&[
        "audit",
        "--rules",
        common::RULES,
        "--data",
        pq_out.to_str().unwrap(),
        "--out",
        audit_out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(code == Some(0) || code == Some(1), "{err}");
    let f: Value = serde_json::from_str(&std::fs::read_to_string(audit_out.join("findings.json")).unwrap()).unwrap();
    let finding = |id: &str| f["findings"].as_array().unwrap().iter().find(|x| x["rule_id"] == id).unwrap().clone();
    // No checkout data in the export: the checkout rules are not evaluable, and say why.
    let pl = finding("CN-PL-01");
    assert_eq!(pl["verdict"], "not_evaluable");
    assert!(pl["message"].as_str().unwrap().contains("imported from a `acme-warehouse` export"), "{pl}");
    // A rule needing a column the export lacks names the column and the profile.
    let nd = finding("CN-ND-06");
    assert_eq!(nd["verdict"], "not_evaluable");
    let msg = nd["message"].as_str().unwrap();
    assert!(msg.contains("`fee`") && msg.contains("the `acme-warehouse` export does not provide it"), "{msg}");
    assert_eq!(f["inputs"][0]["rows_accepted"], 4);
}

#[test]
fn mismatched_files_and_bad_rows_are_located_never_lost() {
    // The WeChat profile on another export: the missing columns are named, with the line.
    let (code, _, err, _) = import("wechat-trade-bill", &[&fixture("warehouse-payments.csv")], &WECHAT_SET);
    assert_eq!(code, Some(2));
    assert!(err.contains("warehouse-payments.csv:1: the header lacks `微信订单号` (for txn_id)"), "{err}");
    assert!(err.contains("profile `wechat-trade-bill`"), "{err}");
    // ... and on a GBK statement: the encoding is named.
    let (code, _, err, _) = import("wechat-trade-bill", &[&fixture("alipay-trade-detail.csv")], &WECHAT_SET);
    assert_eq!(code, Some(2));
    assert!(err.contains("alipay-trade-detail.csv:1: not valid UTF-8 before the header"), "{err}");
    // An empty file has no header to read.
    let empty = tempfile::NamedTempFile::new().unwrap();
    let (code, _, err, _) = import("wechat-trade-bill", &[empty.path().to_str().unwrap()], &WECHAT_SET);
    assert_eq!(code, Some(2));
    assert!(err.contains("the file is empty (profile `wechat-trade-bill`)"), "{err}");
    // Required columns the export lacks must be given.
    let (code, _, err, _) = import("wechat-trade-bill", &[&fixture("wechat-ALL.csv")], &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot supply `platform`, `channel`, `region`") && err.contains("--set"), "{err}");
    // Broken rows are rejected with file, line and reason; the rest imports.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("warehouse-payments.csv")).unwrap()
        + "A-2001;2021-10-06 09:00:00;taobao;S01\n"
        + "A-2002;yesterday;taobao;S01;440300;web;alipay;100;PAID\n"
        + "A-2003;2021-10-06 09:00:00;taobao;S01;440300;web;alipay;1,5;PAID\n"
        + "A-2004;2021-10-06 09:00:00;taobao;S01;440300;web;alipay;\"100;PAID\n";
    let file = dir.path().join("broken.csv");
    std::fs::write(&file, text).unwrap();
    let (code, v, err, out) = import(&fixture("warehouse.toml"), &[file.to_str().unwrap()], &[]);
    assert_eq!(code, Some(0), "{err}");
    accounted(&v);
    assert_eq!((v["rows_read"].as_u64(), v["imported"].as_u64(), v["rejected"].as_u64()), (Some(9), Some(4), Some(4)));
    let by = &v["rejected_by_reason"];
    assert_eq!((by["field_count"].as_u64(), by["invalid_value:ts"].as_u64()), (Some(1), Some(1)));
    assert_eq!((by["invalid_value:amount"].as_u64(), by["quoting"].as_u64()), (Some(1), Some(1)));
    let rejected = std::fs::read_to_string(out.path().join("rejected/transactions.csv")).unwrap();
    assert!(rejected.contains("broken.csv,7,6,\"field_count: 4 fields, the header has 9\","), "{rejected}");
}

#[test]
fn bad_profiles_get_every_problem_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("warehouse.toml"))
        .unwrap()
        .replace("txn_id = { column", "txn_ix = { column")
        .replace("divide_by = 100", "divide_by = 150")
        .replace("delimiter = \";\"", "delimiter = \";;\"");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let (code, _, err) = run(&["profiles", "check", path.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    for want in ["P004", "`txn_ix` is not a transactions column", "P005", "power of ten", "P002", "bad.toml:12:13"] {
        assert!(err.contains(want), "no `{want}` in\n{err}");
    }
    // A route needs exactly one of a column or a header column.
    let text =
        std::fs::read_to_string(fixture("warehouse.toml")).unwrap() + "\n[[route]]\nreason = \"nothing to judge\"\n";
    std::fs::write(&path, text).unwrap();
    let (code, _, err) = run(&["profiles", "check", path.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("P005") && err.contains("a route needs exactly one of `column` or `header_has`"), "{err}");
    // A syntax error names its place too.
    std::fs::write(&path, "[profile\nid = 1\n").unwrap();
    let (code, _, err) = run(&["profiles", "check", path.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("P001") && err.contains("bad.toml:1:"), "{err}");
    // The shipped profiles are listed, shown and valid.
    let (code, out, _) = run(&["profiles", "list"]);
    assert_eq!(code, Some(0));
    for id in ["alipay-trade-detail", "unionpay-zm", "wechat-trade-bill"] {
        assert!(out.contains(id), "{out}");
        let (code, text, _) = run(&["profiles", "show", id]);
        assert_eq!(code, Some(0));
        assert!(text.contains(&format!("id = \"{id}\"")));
    }
    let shipped: Vec<PathBuf> = std::fs::read_dir("profiles").unwrap().map(|e| e.unwrap().path()).collect();
    let mut args = vec!["profiles".to_string(), "check".to_string()];
    args.extend(shipped.iter().map(|p| p.display().to_string()));
    let (code, _, err) = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(&["import", "--profile", "no-such-profile", "x.csv", "--out", "y"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not a shipped profile (alipay-trade-detail, unionpay-zm, wechat-trade-bill)"), "{err}");
}

#[test]
fn the_documented_example_profile_is_the_tested_one() {
    let doc = std::fs::read_to_string("docs/import.md").unwrap();
    let start = doc.find("```toml\n").unwrap() + "```toml\n".len();
    let block = &doc[start..start + doc[start..].find("```\n").unwrap()];
    let documented = hutong::import::profile::parse("docs/import.md", block).unwrap();
    let tested = hutong::import::profile::resolve(&fixture("warehouse.toml")).unwrap();
    assert_eq!((documented.id, documented.columns, documented.lacks), (tested.id, tested.columns, tested.lacks));
}

#[test]
fn chunked_staging_gives_the_same_import() {
    // Two rows per chunk: the warehouse extract is validated in parts and joined.
    for format in ["csv", "parquet"] {
        let out = tempfile::tempdir().unwrap();
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_hutong"))
            .args(["import", "--profile", &fixture("warehouse.toml"), &fixture("warehouse-payments.csv")])
            .args(["--out", out.path().to_str().unwrap(), "--format", format, "--quiet"])
            .env("HUTONG_IMPORT_CHUNK_ROWS", "2")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("import.json")).unwrap()).unwrap();
        accounted(&v);
        assert_eq!(v["imported"], 4);
        if format == "csv" {
            assert_eq!(column(out.path(), "txn_id"), ["A-1001", "A-1002", "A-1003", "A-1004"]);
            assert_eq!(fen(out.path()), 1999 + 50000 + 1500 + 800);
        } else {
            let (code, text, err) =
                run(&["inspect", "--transactions", out.path().join("transactions.parquet").to_str().unwrap()]);
            assert_eq!(code, Some(0), "{err}");
            assert!(text.contains("rows      4 read = 4 accepted + 0 rejected"), "{text}");
        }
        // Nothing of the staging is left behind.
        let left: Vec<String> = std::fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.') && n != ".hutong-lock")
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
