//! Execution strategies: a single pass, hash partitions and the bounded
//! schedule give the same findings, evidence and rejected rows; the memory
//! budget chooses among them and refuses what no strategy fits.

mod common;

use std::path::Path;

use common::{audit, audit_output, run, run_showing_progress, RULES};
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

/// The aggregations that took the sorted path, as (rule, key, held).
fn sorted_plans(v: &Value) -> Vec<(String, String, bool)> {
    let Some(plans) = v["execution"]["sorted"].as_array() else { return Vec::new() };
    plans
        .iter()
        .map(|p| (p["rule"].as_str().unwrap().into(), p["key"].as_str().unwrap().into(), p["held"].as_bool().unwrap()))
        .collect()
}

/// The aggregations of the CN rulebook keyed on sessions and transaction ids.
const SORTABLE: &[(&str, &str)] = &[
    ("accounting", "txn_id"),
    ("CN-PL-02", "session_id"),
    ("CN-PL-03", "session_id"),
    ("CN-ND-01", "session_id"),
    ("CN-ND-04", "session_id"),
    ("CN-ND-05", "session_id"),
];

/// Audits `data` on every path (hash partitions K = 1, 2, 7 in a single pass
/// and bounded, and the sorted path) and asserts the same outcome as a
/// single hashed pass. `sorted` lists the aggregations the sorted path
/// takes, and whether its check holds for each (the accepted rows come
/// sorted by its key).
fn same_on_every_path(data: &str, extra: &[&str], sorted: &[(&str, &str, bool)]) {
    let tmp = tempfile::tempdir().unwrap();
    let base_dir = tmp.path().join("single");
    let mut args = vec!["--strategy", "single-pass", "--sorted", "never"];
    args.extend_from_slice(extra);
    let (code, base) = audit(Path::new(data), &base_dir, &args);
    assert_eq!(base["execution"]["strategy"], "single pass");
    assert_eq!(base["execution"]["partitions"], 1);
    assert!(base["execution"].get("partitioned").is_none());
    assert!(base["execution"].get("sorted").is_none());
    let base_files = files(&base_dir);
    assert!(!base_files.is_empty());
    let cases: &[(&str, &str, &str, &str)] = &[
        ("single-pass", "2", "single pass", "never"),
        ("single-pass", "7", "single pass", "never"),
        ("bounded", "1", "bounded", "never"),
        ("bounded", "2", "bounded", "never"),
        ("bounded", "7", "bounded", "never"),
        ("single-pass", "1", "single pass", "always"),
        ("bounded", "1", "bounded", "always"),
        ("bounded", "7", "bounded", "always"),
    ];
    for (strategy, k, name, path) in cases {
        let out = tmp.path().join(format!("{strategy}-{k}-{path}"));
        let mut args = vec!["--strategy", strategy, "--partitions", k, "--sorted", path];
        args.extend_from_slice(extra);
        let (c, v) = audit(Path::new(data), &out, &args);
        let e = &v["execution"];
        let case = format!("{strategy} K={k} sorted {path}");
        assert_eq!((e["strategy"].as_str(), e["partitions"].as_u64()), (Some(*name), k.parse().ok()), "{e}");
        let want: Vec<(String, String, bool)> = match *path {
            "always" => sorted.iter().map(|(r, k, held)| (r.to_string(), k.to_string(), *held)).collect(),
            _ => Vec::new(),
        };
        assert_eq!(sorted_plans(&v), want, "{case}");
        assert_eq!(c, code, "{case}: exit code");
        assert!(verdicts(v.clone()) == verdicts(base.clone()), "{case}: findings differ from a single hashed pass");
        assert!(files(&out) == base_files, "{case}: evidence or rejected rows differ");
    }
}

#[test]
fn every_strategy_gives_the_findings_of_a_single_pass() {
    // The sample's accepted rows come sorted by session and transaction id,
    // with rejected rows among them: the sorted path's check holds.
    same_on_every_path("testdata/sample", &[], &all_held());
}

#[test]
fn every_strategy_gives_the_same_rejected_rows_and_periods() {
    // The hostile data has rejected rows of every kind; periods add a key to every plan.
    // Its transaction ids run T1, T2, ..., T10: not in order as text, so the
    // sorted duplicate count fails its check and is recomputed. CN-ND-04 and
    // CN-ND-05 are not evaluable on it (no surcharges or discounts).
    let sorted = [
        ("accounting", "txn_id", false),
        ("CN-PL-02", "session_id", true),
        ("CN-PL-03", "session_id", true),
        ("CN-ND-01", "session_id", true),
    ];
    same_on_every_path("testdata/hostile", &["--period", "week"], &sorted);
}

#[test]
fn the_execution_is_recorded_with_its_partitioned_aggregations() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, v) = audit(Path::new("testdata/sample"), tmp.path(), &["--partitions", "3", "--sorted", "never"]);
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
    // Partitions given on the command line hold for every key.
    assert!(e["partitioned"].as_array().unwrap().iter().all(|p| p["partitions"] == 3), "{e}");
    let want: Vec<(String, String)> = [
        ("accounting", "txn_id"),
        ("CN-PL-01", "merchant_id"),
        ("CN-PL-02", "session_id"),
        ("CN-PL-03", "merchant_id"),
        ("CN-PL-03", "session_id"),
        // The parity rules' presence: from the rows per merchant and
        // provider, which CN-PL-01 and CN-PL-03 count too.
        ("CN-ND-01", "merchant_id"),
        ("CN-ND-01", "session_id"),
        ("CN-ND-02", "merchant_id"),
        ("CN-ND-03", "merchant_id"),
        ("CN-ND-03", "latency_ms"),
        ("CN-ND-04", "merchant_id"),
        ("CN-ND-04", "session_id"),
        ("CN-ND-05", "merchant_id"),
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
    // The converted sample is read as convert wrote it; with --no-cache it
    // is validated again, and a bounded audit stages it in slices.
    let tmp = tempfile::tempdir().unwrap();
    let pq = converted_sample(tmp.path());
    same_on_every_path(pq.to_str().unwrap(), &[], &all_held());
    same_on_every_path(pq.to_str().unwrap(), &["--no-cache"], &all_held());
}

/// The sample converted to Parquet under `dir`.
fn converted_sample(dir: &Path) -> std::path::PathBuf {
    let pq = dir.join("pq");
    let (code, _, err) = run(&["convert", "--data", "testdata/sample", "--out", pq.to_str().unwrap(), "--quiet"]);
    assert_eq!(code, Some(0), "{err}");
    pq
}

/// What an audit said on stderr about converted input: the datasets it read
/// as `hutong convert` wrote them, and those of them whose rows an earlier
/// run had found valid (comma-separated; empty when none).
#[derive(Debug, PartialEq)]
struct Said {
    converted: String,
    earlier: String,
}

/// Audits `data` with progress on stderr, its pre-read cache beside `data`:
/// the exit code, findings.json and what it said about converted input.
fn audit_saying_converted(data: &Path, out: &Path, extra: &[&str]) -> (Option<i32>, Value, Said) {
    let mut args = vec!["audit", "--rules", RULES, "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_hutong"))
        .args(&args)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("HUTONG_PROGRESS", "1")
        .env("HUTONG_CACHE_DIR", data.with_file_name("cache"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.code() != Some(2), "{err}");
    let line = err.lines().find_map(|l| l.split_once(": written by hutong convert, read as validated then"));
    let said = match line {
        None => Said { converted: String::new(), earlier: String::new() },
        Some((head, tail)) => Said {
            converted: head.split_once("] ").unwrap().1.to_string(),
            earlier: match tail.strip_prefix(" (the rows of ") {
                Some(t) => t.strip_suffix(" found valid by an earlier run)").unwrap().to_string(),
                None => {
                    assert_eq!(tail, "");
                    String::new()
                }
            },
        },
    };
    let v: Value = serde_json::from_str(&std::fs::read_to_string(out.join("findings.json")).unwrap()).unwrap();
    (o.status.code(), v, said)
}

fn said(converted: &str, earlier: &str) -> Said {
    Said { converted: converted.into(), earlier: earlier.into() }
}

#[test]
fn converted_parquet_is_read_as_written_once_every_row_is_checked() {
    use polars::prelude::*;
    let tmp = tempfile::tempdir().unwrap();
    let pq = converted_sample(tmp.path());
    let all = "transactions, checkout, merchants, codes";
    for (strategy, earlier) in [("single-pass", ""), ("bounded", all)] {
        // The first audit counts every dataset's rejected rows; the second
        // takes the count from the first (the same files, by their SHA-256,
        // and the same options).
        let (c, v, said1) = audit_saying_converted(&pq, &tmp.path().join(strategy), &["--strategy", strategy]);
        assert_eq!(said1, said(all, earlier), "{strategy}");
        let again = tmp.path().join(format!("{strategy}-again"));
        let (c2, v2, said2) = audit_saying_converted(&pq, &again, &["--strategy", strategy, "--no-cache"]);
        assert_eq!(said2, said("", ""), "--no-cache validates every file again");
        assert_eq!(c, c2);
        assert!(verdicts(v) == verdicts(v2), "{strategy}: findings differ from validating again");
        assert!(files(&tmp.path().join(strategy)) == files(&again), "{strategy}: evidence differs");
    }
    // Another time zone is another validation: counted again, then remembered too.
    let (_, _, other) = audit_saying_converted(&pq, &tmp.path().join("utc"), &["--timezone", "+00:00"]);
    assert_eq!(other, said(all, ""));
    // A converted file changed afterwards, its footer kept as another
    // tool would: one amount made negative. The check finds the row
    // validation rejects, and the dataset is validated like any input.
    let path = pq.join("transactions.parquet");
    let mut df = ParquetReader::new(std::fs::File::open(&path).unwrap()).finish().unwrap();
    let amounts: Vec<Option<f64>> = df.column("amount").unwrap().f64().unwrap().iter().collect();
    let changed: Vec<Option<f64>> =
        amounts.iter().enumerate().map(|(i, a)| if i == 10 { Some(-5.0) } else { *a }).collect();
    df.replace("amount", Column::new("amount".into(), changed)).unwrap();
    let marker = KeyValueMetadata::from_static(vec![("hutong.converted".to_string(), "transactions".to_string())]);
    ParquetWriter::new(std::fs::File::create(&path).unwrap())
        .with_key_value_metadata(Some(marker))
        .finish(&mut df)
        .unwrap();
    let claim = hutong::ingest::sortmeta::entry(&path, hutong::ingest::sortmeta::CONVERTED).unwrap();
    assert_eq!(claim.as_deref(), Some("transactions"));
    for strategy in ["single-pass", "bounded"] {
        let (_, v, said1) =
            audit_saying_converted(&pq, &tmp.path().join(format!("{strategy}-changed")), &["--strategy", strategy]);
        // Its new bytes were never found valid: counted, and rejected.
        let rest = "checkout, merchants, codes";
        assert_eq!(said1, said(rest, rest), "{strategy}");
        let t = &v["inputs"][0];
        assert_eq!(t["dataset"], "transactions");
        assert_eq!((t["rows_read"].as_u64(), t["rows_rejected"].as_u64()), (Some(20885), Some(1)), "{strategy}");
        assert_eq!(t["rejected_by_reason"]["negative_value:amount"], 1, "{strategy}");
    }
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

/// Every keyed aggregation of the CN rulebook on the sorted path, its check held.
fn all_held() -> Vec<(&'static str, &'static str, bool)> {
    SORTABLE.iter().map(|(r, k)| (*r, *k, true)).collect()
}

/// A copy of the sample with the rows of every file in another order (the
/// header first), so that nothing comes sorted by its key.
fn shuffled_sample(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for entry in std::fs::read_dir("testdata/sample").unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        let rows: Vec<&str> = lines.collect();
        // Row i goes to place i × 7,919 mod n: a fixed permutation when n is
        // not a multiple of 7,919 (none of the sample's files is).
        let n = rows.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|i| (i * 7919) % n);
        let mut out = format!("{header}\n");
        for i in order {
            out.push_str(rows[i]);
            out.push('\n');
        }
        std::fs::write(dir.join(path.file_name().unwrap()), out).unwrap();
    }
}

#[test]
fn the_sorted_path_is_chosen_by_the_order_of_the_rows_and_checked() {
    let tmp = tempfile::tempdir().unwrap();
    // The sample comes sorted: `auto` (the default) takes the sorted path
    // for every aggregation keyed on sessions and transaction ids.
    let (code, v) = audit(Path::new("testdata/sample"), &tmp.path().join("sorted"), &[]);
    let held: Vec<(String, String, bool)> =
        all_held().iter().map(|(r, k, h)| (r.to_string(), k.to_string(), *h)).collect();
    assert_eq!(sorted_plans(&v), held);
    let (_, never) = audit(Path::new("testdata/sample"), &tmp.path().join("never"), &["--sorted", "never"]);
    assert!(verdicts(v) == verdicts(never));
    // Shuffled, `auto` sees the order and stays hashed; `always` takes the
    // sorted path, every check fails, and the hashed results are used.
    let shuffled = tmp.path().join("shuffled");
    shuffled_sample(&shuffled);
    let (c, auto) = audit(&shuffled, &tmp.path().join("auto"), &[]);
    assert_eq!(c, code);
    assert!(sorted_plans(&auto).is_empty());
    for k in ["1", "3"] {
        let (_, always) =
            audit(&shuffled, &tmp.path().join(format!("always-{k}")), &["--sorted", "always", "--partitions", k]);
        let none_held: Vec<(String, String, bool)> =
            SORTABLE.iter().map(|(r, k)| (r.to_string(), k.to_string(), false)).collect();
        assert_eq!(sorted_plans(&always), none_held);
        assert!(verdicts(always) == verdicts(auto.clone()), "K={k}: findings differ from the hashed audit");
    }
}

#[test]
fn staging_proves_the_order_and_the_columns_each_session_keeps() {
    let tmp = tempfile::tempdir().unwrap();
    let audit_saying = |data: &Path, name: &str, extra: &[&str]| {
        let out = tmp.path().join(format!("out-{name}"));
        let mut args =
            vec!["audit", "--rules", RULES, "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap()];
        args.extend_from_slice(&["--strategy", "bounded"]);
        args.extend_from_slice(extra);
        let (code, _, err) = run_showing_progress(&args);
        assert!(code != Some(2), "{err}");
        let v: Value = serde_json::from_str(&std::fs::read_to_string(out.join("findings.json")).unwrap()).unwrap();
        (code, v, err)
    };
    let held: Vec<(String, String, bool)> =
        all_held().iter().map(|(r, k, h)| (r.to_string(), k.to_string(), *h)).collect();
    // The sample, staged: sorted by both keys, seen on every row, no probe.
    let (_, v, err) = audit_saying(Path::new("testdata/sample"), "sample", &[]);
    assert!(err.contains("(the order of `session_id` and `txn_id` as seen while staging)"), "{err}");
    assert_eq!(sorted_plans(&v), held);
    // The first session's second row moved to another platform: the rows
    // are still sorted, so the sorted path is taken, but staging saw the
    // platform change within a session, so the sorted plans compare it;
    // every plan grouping sessions by platform fails its check and the
    // hashed results are used.
    let mixed = tmp.path().join("mixed");
    std::fs::create_dir_all(&mixed).unwrap();
    for name in ["transactions.csv", "merchants.csv", "codes.csv"] {
        std::fs::copy(Path::new("testdata/sample").join(name), mixed.join(name)).unwrap();
    }
    let checkout = std::fs::read_to_string("testdata/sample/checkout.csv").unwrap();
    let second = "S000000001,2021-10-01T00:00:46+08:00,ele_me,M000305,330100,checkout,Alipay,";
    assert_eq!(checkout.lines().nth(2).map(|l| l.starts_with(second)), Some(true));
    let moved = checkout.replacen(second, &second.replace("ele_me", "taobao"), 1);
    std::fs::write(mixed.join("checkout.csv"), moved).unwrap();
    let (code, v, err) = audit_saying(&mixed, "mixed", &[]);
    assert!(err.contains("as seen while staging"), "{err}");
    let failed: Vec<(String, String, bool)> =
        SORTABLE.iter().map(|(r, k)| (r.to_string(), k.to_string(), *k == "txn_id")).collect();
    assert_eq!(sorted_plans(&v), failed);
    let (c, never, _) = audit_saying(&mixed, "never", &["--sorted", "never"]);
    assert_eq!(code, c);
    assert!(verdicts(v) == verdicts(never), "findings differ from the hashed audit");
}

#[test]
fn convert_records_the_order_of_the_rows_and_audit_takes_it_from_the_footer() {
    use hutong::ingest::sortmeta::{entry, record, recorded, SortedKey, CONSTANT_WITHIN};
    let tmp = tempfile::tempdir().unwrap();
    let key = |column: &str| vec![SortedKey { column: column.into(), descending: false }];
    // The sample comes sorted by session and by transaction id.
    let pq = tmp.path().join("pq");
    let (code, out, err) = run(&["convert", "--data", "testdata/sample", "--out", pq.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("38978 written to") && out.contains("2 rejected; sorted by `session_id`"), "{out}");
    assert_eq!(recorded(&pq.join("checkout.parquet")).unwrap(), key("session_id"));
    assert_eq!(recorded(&pq.join("transactions.parquet")).unwrap(), key("txn_id"));
    assert_eq!(recorded(&pq.join("merchants.parquet")).unwrap(), Vec::new());
    let (code, out, err) = run(&["inspect", "--data", pq.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("  order     sorted by session_id asc (recorded by hutong convert)\n"), "{out}");
    // Each session of the sample is on one platform, merchant and region.
    assert!(out.contains("  order     sorted by session_id asc (recorded by hutong convert)\n            one platform, merchant_id, region per key\n"), "{out}");
    assert_eq!(
        entry(&pq.join("checkout.parquet"), CONSTANT_WITHIN).unwrap().as_deref(),
        Some("platform, merchant_id, region")
    );
    // An audit takes both from the footers, without looking at the rows.
    let audited = tmp.path().join("pq-audit");
    let args = ["audit", "--rules", RULES, "--data", pq.to_str().unwrap(), "--out", audited.to_str().unwrap()];
    let (_, _, err) = run_showing_progress(&args);
    assert!(err.contains("(the order of `session_id` and `txn_id` as recorded by hutong convert)"), "{err}");
    assert_eq!(out.matches("  order     ").count(), 2, "{out}");
    // Shuffled rows are not recorded as sorted.
    let shuffled = tmp.path().join("shuffled");
    shuffled_sample(&shuffled);
    let spq = tmp.path().join("spq");
    let (code, _, err) = run(&["convert", "--data", shuffled.to_str().unwrap(), "--out", spq.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(recorded(&spq.join("checkout.parquet")).unwrap(), Vec::new());
    assert_eq!(recorded(&spq.join("transactions.parquet")).unwrap(), Vec::new());
    let (_, auto) = audit(&spq, &tmp.path().join("auto"), &[]);
    assert!(sorted_plans(&auto).is_empty());
    // A footer that claims an order the rows do not have: `auto` believes it
    // without looking at the rows, every check fails, and the hashed
    // results are used.
    record(&spq.join("checkout.parquet"), &key("session_id"), &[]).unwrap();
    record(&spq.join("transactions.parquet"), &key("txn_id"), &[]).unwrap();
    let (c, hashed) = audit(&spq, &tmp.path().join("hashed"), &["--sorted", "never"]);
    let (c2, claimed) = audit(&spq, &tmp.path().join("claimed"), &[]);
    let none_held: Vec<(String, String, bool)> =
        SORTABLE.iter().map(|(r, k)| (r.to_string(), k.to_string(), false)).collect();
    assert_eq!(sorted_plans(&claimed), none_held);
    assert_eq!(c2, c);
    assert!(verdicts(claimed) == verdicts(hashed), "findings differ from the hashed audit");
}

/// The sample audited through the library, bounded in 4 partitions, with or
/// without each key's partitions chosen from its distinct values.
fn bounded_in_four(key_budget: Option<u64>) -> hutong::findings::Report {
    use hutong::ingest::{self, IngestOptions, InputSpec};
    let tmp = tempfile::tempdir().unwrap();
    let spec = InputSpec { data: Some("testdata/sample".into()), ..Default::default() };
    let inputs = ingest::open(&spec, IngestOptions::default()).unwrap();
    let input = hutong::budget::input_of(&inputs).unwrap();
    let execution =
        hutong::budget::choose(512 << 20, true, input, Some(hutong::budget::Strategy::Bounded), Some(4)).unwrap();
    let rb = hutong::engine::kinds::load(Path::new(RULES)).unwrap();
    let run = hutong::audit::Run {
        generated_at: "2021-01-01T00:00:00Z".into(),
        command: vec![],
        execution,
        sorted_keys: Vec::new(),
        runner: None,
        key_budget,
    };
    hutong::audit::audit(&rb, &inputs, &tmp.path().join("out"), run, Default::default(), &Default::default()).unwrap()
}

#[test]
fn keys_with_few_distinct_values_run_whole_with_the_same_findings() {
    let every = bounded_in_four(None);
    let partitioned: Vec<(&str, &str, u64)> =
        every.execution.partitioned.iter().map(|p| (p.rule.as_str(), p.key.as_str(), p.partitions)).collect();
    assert_eq!(partitioned.len(), 16);
    assert!(partitioned.iter().all(|p| p.2 == 4), "{partitioned:?}");
    // The sample's 61,775 rows hold 2.5 MB of keyed state (40 B a row), one
    // partition of the 192 MiB the budget leaves, and its keys (20,891
    // transaction ids, 1,000 merchants, some thousands of sessions) are far
    // fewer than the million a partition is for: every key runs whole.
    let fewer = bounded_in_four(Some(512 << 20));
    assert_eq!(fewer.execution.partitions, 4);
    assert!(fewer.execution.partitioned.is_empty(), "{:?}", fewer.execution.partitioned);
    let json = |r: &hutong::findings::Report| serde_json::to_value(&r.findings).unwrap();
    assert_eq!(json(&fewer), json(&every));
    assert_eq!(serde_json::to_value(&fewer.inputs).unwrap(), serde_json::to_value(&every.inputs).unwrap());
}

#[test]
fn converted_parquet_is_accounted_for_from_its_footer_unless_a_window_cuts_its_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let pq = converted_sample(tmp.path());
    let all = "transactions, checkout, merchants, codes";
    // Without a window every converted row is read and accepted, as the
    // footer counts them: the sample's 20,885 valid transactions.
    let (_, v, said1) = audit_saying_converted(&pq, &tmp.path().join("whole"), &[]);
    assert_eq!(said1.converted, all);
    let t = &v["inputs"][0];
    assert_eq!(t["dataset"], "transactions");
    let rows = |t: &Value, k: &str| t[k].as_u64().unwrap();
    assert_eq!(
        [rows(t, "rows_read"), rows(t, "rows_accepted"), rows(t, "rows_rejected"), rows(t, "rows_outside_window")],
        [20885, 20885, 0, 0]
    );
    assert_eq!(rows(&t["files"][0], "rows_read"), 20885);
    // A window leaves rows out: counted by a pass over the rows, as from
    // the CSV the converted files came from.
    let window = ["--from", "2021-10-03", "--to", "2021-10-05"];
    let (_, w, said2) = audit_saying_converted(&pq, &tmp.path().join("window"), &window);
    assert_eq!(said2.converted, all);
    let (_, csv) = audit(Path::new("testdata/sample"), &tmp.path().join("csv"), &window);
    for (c, p) in csv["inputs"].as_array().unwrap().iter().zip(w["inputs"].as_array().unwrap()) {
        assert_eq!(c["dataset"], p["dataset"]);
        let ds = c["dataset"].as_str().unwrap();
        assert_eq!(rows(c, "rows_accepted"), rows(p, "rows_accepted"), "{ds}");
        assert_eq!(rows(c, "rows_outside_window"), rows(p, "rows_outside_window"), "{ds}");
        assert_eq!(rows(p, "rows_read"), rows(p, "rows_accepted") + rows(p, "rows_outside_window"), "{ds}");
    }
    let t = &w["inputs"][0];
    assert!(rows(t, "rows_outside_window") > 0 && rows(t, "rows_accepted") > 0);
    assert_eq!(rows(t, "rows_read"), 20885);
}
