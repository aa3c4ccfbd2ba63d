//! Execution strategies: a single pass, hash partitions and the bounded
//! schedule give the same findings, evidence and rejected rows; the memory
//! budget chooses among them and refuses what no strategy fits.

mod common;

use std::path::Path;

use common::{audit, audit_output, run, RULES};
use serde_json::Value;

/// findings.json without what differs by strategy: the recorded execution
/// and the command line.
fn verdicts(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    o.remove("execution");
    o.remove("command");
    v
}

/// Every file under `dir`, by relative path, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for sub in ["evidence", "rejected"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else { continue };
        for e in entries {
            let p = e.unwrap().path();
            out.push((format!("{sub}/{}", p.file_name().unwrap().to_string_lossy()), std::fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

/// Audits `data` in every strategy and asserts the same outcome as a single pass.
fn same_in_every_strategy(data: &str, extra: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let base_dir = tmp.path().join("single");
    let mut args = vec!["--strategy", "single-pass"];
    args.extend_from_slice(extra);
    let (code, base) = audit(Path::new(data), &base_dir, &args);
    assert_eq!(base["execution"]["strategy"], "single pass");
    assert_eq!(base["execution"]["partitions"], 1);
    assert!(base["execution"].get("partitioned").is_none());
    let base_files = files(&base_dir);
    assert!(!base_files.is_empty());
    let cases: &[(&str, &str, &str)] = &[
        ("single-pass", "2", "single pass"),
        ("single-pass", "7", "single pass"),
        ("bounded", "1", "bounded"),
        ("bounded", "2", "bounded"),
        ("bounded", "7", "bounded"),
    ];
    for (strategy, k, name) in cases {
        let out = tmp.path().join(format!("{strategy}-{k}"));
        let mut args = vec!["--strategy", strategy, "--partitions", k];
        args.extend_from_slice(extra);
        let (c, v) = audit(Path::new(data), &out, &args);
        let e = &v["execution"];
        assert_eq!((e["strategy"].as_str(), e["partitions"].as_u64()), (Some(*name), k.parse().ok()), "{e}");
        assert_eq!(c, code, "{strategy} K={k}: exit code");
        assert!(verdicts(v.clone()) == verdicts(base.clone()), "{strategy} K={k}: findings differ from a single pass");
        assert!(files(&out) == base_files, "{strategy} K={k}: evidence or rejected rows differ");
    }
}

#[test]
fn every_strategy_gives_the_findings_of_a_single_pass() {
    same_in_every_strategy("testdata/sample", &[]);
}

#[test]
fn every_strategy_gives_the_same_rejected_rows_and_periods() {
    // The hostile data has rejected rows of every kind; periods add a key to every plan.
    same_in_every_strategy("testdata/hostile", &["--period", "week"]);
}

#[test]
fn the_execution_is_recorded_with_its_partitioned_aggregations() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, v) = audit(Path::new("testdata/sample"), tmp.path(), &["--partitions", "3"]);
    let e = &v["execution"];
    // 20,891 transactions + 38,980 checkout rows + 1,000 merchants + 904
    // codes (the sample's lines less their headers).
    assert_eq!(e["estimated_rows"], 61_775);
    assert_eq!(e["strategy"], "single pass");
    assert_eq!(e["partitions"], 3);
    assert!(e.get("memory_budget").is_none(), "the default budget depends on the machine: not recorded");
    let keyed: Vec<(String, String)> = e["partitioned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["rule"].as_str().unwrap().to_string(), p["key"].as_str().unwrap().to_string()))
        .collect();
    let want: Vec<(String, String)> = [
        ("accounting", "txn_id"),
        ("CN-PL-01", "merchant_id"),
        ("CN-PL-02", "session_id"),
        ("CN-PL-03", "merchant_id"),
        ("CN-PL-03", "session_id"),
        ("CN-ND-01", "session_id"),
        ("CN-ND-03", "latency_ms"),
        ("CN-ND-04", "session_id"),
        ("CN-ND-05", "session_id"),
        ("CN-ND-06", "merchant_id"),
        ("CN-QR-01", "merchant_id"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(keyed, want);
}

#[test]
fn a_budget_chooses_the_strategy_and_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    // 400 MiB: the sample's single-pass estimate, 320 MiB + 61,775 × 220 B
    // = 349,134,820 B, fits in 419,430,400 B.
    let (_, v) = audit(Path::new("testdata/sample"), &tmp.path().join("a"), &["--memory-budget", "400MiB"]);
    let e = &v["execution"];
    assert_eq!((e["strategy"].as_str(), e["partitions"].as_u64()), (Some("single pass"), Some(1)));
    assert_eq!(e["memory_budget"], 419_430_400);
    assert_eq!(e["estimated_peak"], 349_134_820);
    // Bounded on request, with one partition of 61,775 × 40 B.
    let (_, v) = audit(
        Path::new("testdata/sample"),
        &tmp.path().join("b"),
        &["--memory-budget", "400MiB", "--strategy", "bounded"],
    );
    let e = &v["execution"];
    assert_eq!((e["strategy"].as_str(), e["partitions"].as_u64()), (Some("bounded"), Some(1)));
    assert_eq!(e["estimated_peak"], (320u64 << 20) + 61_775 * 40);
}

#[test]
fn a_budget_no_strategy_fits_is_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let o = audit_output(Path::new("testdata/sample"), &out, &["--memory-budget", "200MB"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--memory-budget 200 MB is below what an audit holds whatever its size"), "{err}");
    assert!(!out.join("findings.json").exists(), "nothing is written");
    let (code, _, err) = run(&[
        "audit",
        "--rules",
        RULES,
        "--data",
        "testdata/sample",
        "--out",
        out.to_str().unwrap(),
        "--memory-budget",
        "lots",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("`lots` is not a size such as 512MB or 4GB"), "{err}");
}

#[test]
fn bounded_audits_of_parquet_input_match_the_single_pass() {
    // Parquet inputs are staged in slices: the converted sample goes through that path.
    let tmp = tempfile::tempdir().unwrap();
    let pq = tmp.path().join("pq");
    let (code, _, err) = run(&["convert", "--data", "testdata/sample", "--out", pq.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, Some(0), "{err}");
    same_in_every_strategy(pq.to_str().unwrap(), &[]);
}

#[test]
fn a_bounded_audit_of_empty_inputs_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("csv");
    std::fs::create_dir(&csv).unwrap();
    for ds in ["transactions", "checkout"] {
        let sample = std::fs::read_to_string(format!("testdata/sample/{ds}.csv")).unwrap();
        std::fs::write(csv.join(format!("{ds}.csv")), format!("{}\n", sample.lines().next().unwrap())).unwrap();
    }
    let pq = tmp.path().join("pq");
    let (code, _, err) = run(&["convert", "--data", csv.to_str().unwrap(), "--out", pq.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, Some(0), "{err}");
    for data in [&csv, &pq] {
        let out = tmp.path().join(format!("out-{}", data.file_name().unwrap().to_string_lossy()));
        let o = audit_output(data, &out, &["--strategy", "bounded", "--partitions", "2"]);
        assert_ne!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_str(&std::fs::read_to_string(out.join("findings.json")).unwrap()).unwrap();
        assert_eq!(v["execution"]["estimated_rows"], 0);
        assert_eq!(v["inputs"][0]["rows_read"], 0);
    }
}

#[test]
fn a_bounded_audit_stages_under_a_temporary_directory_named_with_glob_characters() {
    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path().join("scratch [1] *");
    std::fs::create_dir(&scratch).unwrap();
    let pq = tmp.path().join("pq");
    let (code, _, err) = run(&["convert", "--data", "testdata/sample", "--out", pq.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, Some(0), "{err}");
    let out = tmp.path().join("out");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_hutong"))
        .args(["audit", "--rules", RULES, "--data", pq.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(["--strategy", "bounded", "--quiet"])
        .env("TMPDIR", &scratch)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("findings.json").exists());
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0, "the staged copy is removed");
}

/// The SHA-256 findings.json records for each input file, by file name.
fn input_hashes(v: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = v["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["files"].as_array().unwrap().iter())
        .map(|f| {
            let name = Path::new(f["path"].as_str().unwrap()).file_name().unwrap().to_string_lossy().to_string();
            (name, f["sha256"].as_str().unwrap().to_string())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_repeated_audit_takes_the_pre_read_of_unchanged_files_from_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, cache) = (tmp.path().join("data"), tmp.path().join("cache"));
    std::fs::create_dir(&data).unwrap();
    for f in ["transactions.csv", "checkout.csv", "merchants.csv"] {
        std::fs::copy(Path::new("testdata/sample").join(f), data.join(f)).unwrap();
    }
    // Files written within the last two seconds are not cached (a later
    // write in the same clock tick could not be told apart).
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let audit = |out: &str, extra: &[&str]| {
        let out = tmp.path().join(out);
        let mut args =
            vec!["audit", "--rules", RULES, "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_hutong"))
            .args(&args)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .env("HUTONG_CACHE_DIR", &cache)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<Value>(&std::fs::read(out.join("findings.json")).unwrap()).unwrap()
    };
    let first = audit("first", &[]);
    let entries: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 3, "one entry per input file");
    // The second audit reads the files' structure and hashes from the cache:
    // the same findings.
    let second = audit("second", &[]);
    assert!(verdicts(second) == verdicts(first.clone()));
    // Proof that the entries are what it used: an entry altered by hand shows
    // in the next audit, and --no-cache reads the files again.
    let truth = input_hashes(&first);
    let fake = "0".repeat(64);
    for e in &entries {
        let text = std::fs::read_to_string(e).unwrap();
        let sha = truth.iter().find(|(_, s)| text.contains(s.as_str())).unwrap().1.clone();
        std::fs::write(e, text.replace(&sha, &fake)).unwrap();
    }
    let cached = audit("cached", &[]);
    assert!(input_hashes(&cached).iter().all(|(_, s)| *s == fake));
    assert_eq!(input_hashes(&audit("fresh", &["--no-cache"])), truth);
    // A file written again is read again, whatever the cache holds.
    std::fs::copy("testdata/sample/transactions.csv", data.join("transactions.csv")).unwrap();
    let rewritten = input_hashes(&audit("rewritten", &[]));
    let tx = |h: &[(String, String)]| h.iter().find(|(n, _)| n == "transactions.csv").unwrap().1.clone();
    assert_eq!(tx(&rewritten), tx(&truth));
}
