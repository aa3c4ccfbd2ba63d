//! The binary end to end: inspect, bad inputs, generate, exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn hutong(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hutong")).args(args).env_remove("SOURCE_DATE_EPOCH").output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

fn dataset<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["datasets"].as_array().unwrap().iter().find(|d| d["dataset"] == name).unwrap()
}

/// Data records in a CSV file without blank lines or quoted line breaks.
fn lines_minus_header(path: &str) -> u64 {
    std::fs::read_to_string(path).unwrap().lines().count() as u64 - 1
}

#[test]
fn inspect_sample_counts_match_the_files() {
    let o = hutong(&["inspect", "--data", "testdata/sample", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    let t = dataset(&v, "transactions");
    assert_eq!(t["rows_read"], lines_minus_header("testdata/sample/transactions.csv"));
    assert_eq!(t["rows_read"], 20891);
    assert_eq!(t["rows_accepted"], 20885);
    assert_eq!(t["rows_rejected"], 6);
    let reasons = &t["rejected_by_reason"];
    for r in [
        "invalid_number:amount",
        "invalid_timestamp:ts",
        "invalid_value:status",
        "missing_value:merchant_id",
        "negative_value:amount",
        "wrong_field_count",
    ] {
        assert_eq!(reasons[r], 1, "{r}");
    }
    // The window is the earliest and latest valid timestamp in the file; all
    // are written in +08:00, so text order is time order.
    let text = std::fs::read_to_string("testdata/sample/transactions.csv").unwrap();
    let stamps: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1))
        .filter(|ts| ts.len() == 25 && ts.ends_with("+08:00") && !ts.starts_with("2021-13"))
        .collect();
    assert_eq!(t["window"]["from"], *stamps.iter().min().unwrap());
    assert_eq!(t["window"]["to"], *stamps.iter().max().unwrap());
    assert_eq!(t["window"]["from"], "2021-10-01T00:02:24+08:00");
    // 5 payments a platform with a label no taxonomy maps, 7 platforms.
    let methods = t["labels"]["method"]["values"].as_array().unwrap();
    assert!(methods.iter().any(|m| m[0] == "礼品卡" && m[1] == 35));
    let c = dataset(&v, "checkout");
    assert_eq!(c["rows_read"], lines_minus_header("testdata/sample/checkout.csv"));
    assert_eq!((c["rows_accepted"].as_u64(), c["rows_rejected"].as_u64()), (Some(38978), Some(2)));
    let m = dataset(&v, "merchants");
    assert_eq!(m["rows_read"], 1000);
    assert_eq!(t["files"][0]["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn inspect_text_lists_rejected_lines() {
    let o = hutong(&["inspect", "--data", "testdata/sample"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("20891 read = 20885 accepted + 6 rejected"), "{out}");
    assert!(out.contains("testdata/sample/transactions.csv:line 53: wrong_field_count"), "{out}");
}

#[test]
fn bad_rows_are_rejected_with_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let o =
        hutong(&["inspect", "--data", "testdata/bad/rows", "--out", dir.path().to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    let t = dataset(&v, "transactions");
    assert_eq!(
        (t["rows_read"].as_u64(), t["rows_accepted"].as_u64(), t["rows_rejected"].as_u64()),
        (Some(15), Some(4), Some(11))
    );
    let mut rdr = csv::Reader::from_path(dir.path().join("rejected/transactions.csv")).unwrap();
    let got: Vec<(String, String)> =
        rdr.records().map(|r| r.unwrap()).map(|r| (r[1].to_string(), r[3].to_string())).collect();
    let want = [
        ("6", "invalid_timestamp:ts"),
        ("7", "invalid_number:amount"),
        ("8", "negative_value:amount"),
        ("9", "invalid_value:status"),
        ("10", "missing_value:merchant_id"),
        ("11", "wrong_field_count"),
        ("12", "wrong_field_count"),
        ("13", "blank_line"),
        ("14", "invalid_value:channel"),
        ("15", "out_of_range:latency_ms"),
        ("16", "invalid_integer:latency_ms"),
    ];
    assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec());
    let mut rdr = csv::Reader::from_path(dir.path().join("rejected/checkout.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!((&rows[0][1], &rows[0][3]), ("3", "out_of_range:position"));
    assert_eq!((&rows[1][1], &rows[1][3]), ("4", "invalid_bool:is_default"));
    assert_eq!(&rows[1][4], "S1,2021-10-01T10:00:00+08:00,taobao,M1,110000,WeChat Pay,3,maybe,false,0");
}

fn fails_with(args: &[&str], needles: &[&str]) {
    let o = hutong(args);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    let err = stderr(&o);
    for n in needles {
        assert!(err.contains(n), "{args:?}: expected `{n}` in: {err}");
    }
}

#[test]
fn missing_required_column_stops_with_exit_2() {
    fails_with(
        &["inspect", "--data", "testdata/bad/missing-column"],
        &[
            "transactions: testdata/bad/missing-column/transactions.csv lacks required column amount",
            "columns found: txn_id, ts, platform, channel, merchant_id, region, method, status",
        ],
    );
}

#[test]
fn unusable_paths_stop_with_exit_2() {
    fails_with(&["inspect", "--data", "testdata/bad/empty"], &["testdata/bad/empty/transactions.csv is empty"]);
    fails_with(
        &["inspect", "--data", "testdata/bad/no-matching"],
        &["no input files found in testdata/bad/no-matching"],
    );
    fails_with(
        &["inspect", "--transactions", "testdata/bad/*.nothing"],
        &["no files match the pattern `testdata/bad/*.nothing`"],
    );
    fails_with(
        &["inspect", "--transactions", "testdata/bad/nope.csv"],
        &["no such file or directory: testdata/bad/nope.csv"],
    );
    fails_with(&["inspect", "--data", "testdata/bad/nope"], &["no such file or directory: testdata/bad/nope"]);
    fails_with(&["inspect", "--transactions", "testdata/bad/no-matching"], &["no .csv or .parquet files in directory"]);
}

#[cfg(target_os = "linux")]
#[test]
fn unreadable_file_stops_with_exit_2() {
    // Reading /proc/self/mem at offset 0 fails with EIO, even for root.
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("transactions.csv");
    std::os::unix::fs::symlink("/proc/self/mem", &link).unwrap();
    fails_with(&["inspect", "--transactions", link.to_str().unwrap()], &["cannot read", "Input/output error"]);
}

#[test]
fn bad_timezone_is_a_usage_error() {
    fails_with(
        &["inspect", "--data", "testdata/sample", "--timezone", "Asia/Shanghai"],
        &["--timezone `Asia/Shanghai`"],
    );
}

fn generate(dir: &Path, extra: &[&str]) {
    let mut args = vec!["generate", "--out", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = hutong(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p: PathBuf| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn generate_is_deterministic_and_seeded() {
    let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let small = ["--seed", "7", "--merchants", "40", "--days", "1"];
    generate(a.path(), &small);
    generate(b.path(), &small);
    assert_eq!(files(a.path()), files(b.path()));
    generate(c.path(), &["--seed", "8", "--merchants", "40", "--days", "1"]);
    assert_ne!(files(a.path()), files(c.path()));
}

#[test]
fn committed_sample_is_what_generate_writes() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), &[]);
    assert_eq!(
        files(dir.path()),
        files(Path::new("testdata/sample")),
        "regenerate with: hutong generate --out testdata/sample"
    );
}

#[test]
fn generate_parquet_reads_back_with_the_same_counts() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), &["--format", "parquet", "--merchants", "40", "--days", "1", "--plant", "none"]);
    let o = hutong(&["inspect", "--data", dir.path().to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    let csv_dir = tempfile::tempdir().unwrap();
    generate(csv_dir.path(), &["--merchants", "40", "--days", "1", "--plant", "none"]);
    let w = json(&hutong(&["inspect", "--data", csv_dir.path().to_str().unwrap(), "--format", "json"]));
    for ds in ["transactions", "checkout", "merchants"] {
        assert_eq!(dataset(&v, ds)["rows_read"], dataset(&w, ds)["rows_read"], "{ds}");
        assert_eq!(dataset(&v, ds)["rows_rejected"], 0, "{ds}");
        assert_eq!(dataset(&v, ds)["window"], dataset(&w, ds)["window"], "{ds}");
    }
}

#[test]
fn unknown_plant_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    fails_with(&["generate", "--out", dir.path().to_str().unwrap(), "--plant", "bogus"], &["unknown plant `bogus`"]);
}

#[test]
fn help_explains_every_command() {
    let o = hutong(&["--help"]);
    let text = String::from_utf8_lossy(&o.stdout);
    for cmd in ["inspect", "audit", "rules", "generate", "Exit codes"] {
        assert!(text.contains(cmd), "{cmd} missing from --help");
    }
    let o = hutong(&["audit", "--help"]);
    let text = String::from_utf8_lossy(&o.stdout);
    for flag in ["--rules", "--data", "--out", "--fail-on", "--transactions", "--timezone"] {
        assert!(text.contains(flag), "{flag} missing from audit --help");
    }
}

#[test]
fn convert_to_parquet_gives_the_same_findings() {
    let pq = tempfile::tempdir().unwrap();
    let o = hutong(&["convert", "--data", "testdata/sample", "--out", pq.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("20891 rows read = 20885 written to"), "{text}");
    assert!(pq.path().join("rejected/transactions.csv").is_file());
    let findings = |data: &Path| -> Value {
        let out = tempfile::tempdir().unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_hutong"))
            .args(["audit", "--rules", "rules/cn-interconnection-2021.toml", "--data", data.to_str().unwrap()])
            .args(["--out", out.path().to_str().unwrap(), "--quiet"])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        serde_json::from_str(&std::fs::read_to_string(out.path().join("findings.json")).unwrap()).unwrap()
    };
    let (a, b) = (findings(Path::new("testdata/sample")), findings(pq.path()));
    assert_eq!(a["findings"], b["findings"]);
    assert_eq!(a["window"], b["window"]);
    // Converted data holds no rejected rows: they were set aside.
    assert_eq!(b["inputs"][0]["rows_read"], 20885);
    assert_eq!(b["inputs"][0]["rows_rejected"], 0);
}

#[test]
fn convert_refuses_to_write_into_an_input_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy("testdata/bad/missing-column/checkout.csv", dir.path().join("checkout.csv")).unwrap();
    fails_with(
        &["convert", "--data", dir.path().to_str().unwrap(), "--out", dir.path().to_str().unwrap()],
        &["holds the input"],
    );
}

#[test]
fn csv_and_parquet_side_by_side_is_ambiguous() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy("testdata/sample/transactions.csv", dir.path().join("transactions.csv")).unwrap();
    std::fs::write(dir.path().join("transactions.parquet"), b"").unwrap();
    fails_with(&["inspect", "--data", dir.path().to_str().unwrap()], &["holds more than one of transactions.csv"]);
}

#[test]
fn audit_format_json_prints_findings_json() {
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_hutong"))
        .args(["audit", "--rules", "rules/cn-interconnection-2021.toml", "--data", "testdata/sample"])
        .args(["--out", out.path().to_str().unwrap(), "--format", "json"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let printed: Value = serde_json::from_slice(&o.stdout).unwrap();
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("findings.json")).unwrap()).unwrap();
    assert_eq!(printed, written);
    assert!(o.stderr.is_empty(), "no progress lines with --format json: {}", stderr(&o));
}

#[test]
fn several_files_per_dataset_are_read_and_located() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("testdata/bad/rows/transactions.csv").unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    // Part 1: the first three records (the third spans two lines); part 2: the rest.
    let rest: Vec<&str> = lines.collect();
    std::fs::write(dir.path().join("part1.csv"), format!("{header}\n{}\n", rest[..4].join("\n"))).unwrap();
    std::fs::write(dir.path().join("part2.csv"), format!("{header}\n{}\n", rest[4..].join("\n"))).unwrap();
    let out = tempfile::tempdir().unwrap();
    let pattern = format!("{}/part*.csv", dir.path().display());
    let o = hutong(&["inspect", "--transactions", &pattern, "--out", out.path().to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = json(&o);
    let t = dataset(&v, "transactions");
    assert_eq!((t["rows_read"].as_u64(), t["rows_rejected"].as_u64()), (Some(15), Some(11)));
    assert_eq!(t["files"].as_array().unwrap().len(), 2);
    assert_eq!((t["files"][0]["rows_read"].as_u64(), t["files"][0]["rows_rejected"].as_u64()), (Some(3), Some(0)));
    let mut rdr = csv::Reader::from_path(out.path().join("rejected/transactions.csv")).unwrap();
    let first = rdr.records().next().unwrap().unwrap();
    // `yesterday` was line 6 of the whole file: line 2 of part 2.
    assert!(first[0].ends_with("part2.csv"), "{:?}", &first[0]);
    assert_eq!((&first[1], &first[3]), ("2", "invalid_timestamp:ts"));
}

/// Without the `distributed` feature, the other engines and `cluster` say how
/// to get them, before any work; `--scheduler` belongs to `--engine ballista`.
#[cfg(not(feature = "distributed"))]
#[test]
fn engines_outside_the_build_are_refused_with_how_to_build_them() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let refused = |extra: &[&str], needle: &str| {
        let mut args = vec!["audit", "--rules", "rules/cn-interconnection-2021.toml", "--data", "testdata/sample"];
        args.extend(["--out", out.to_str().unwrap()]);
        args.extend_from_slice(extra);
        fails_with(&args, &[needle]);
        assert!(!out.join("findings.json").exists());
    };
    for engine in ["datafusion", "ballista"] {
        refused(
            &["--engine", engine],
            &format!(
                "--engine {engine} needs a hutong built with the `distributed` feature: \
                 cargo build --release --features distributed"
            ),
        );
    }
    refused(
        &["--scheduler", "df://127.0.0.1:50050"],
        "--scheduler names a Ballista scheduler: use it with --engine ballista",
    );
    fails_with(&["cluster", "scheduler"], &["hutong cluster needs a hutong built with the `distributed` feature"]);
}
