//! Hardening: each test is named after the item of the red-team list it
//! covers (formula injection, terminal control characters, a bad --out).

mod common;

use std::path::Path;

use common::run;

/// Appended to `common::HEADER`.
const RULE: &str = r#"
[[rules]]
id = "H-01"
title = "No merchant offers only its platform's own provider"
severity = "critical"
citation = "fixture"
rationale = "fixture"
kind = "exclusivity"
"#;

/// Five taobao sessions of merchant `merchant` offering only Alipay, on `platform`.
fn checkout(platform: &str, merchant: &str) -> String {
    let mut s = String::from("session_id,ts,platform,merchant_id,region,method,position,is_default,folded\n");
    let merchant = merchant.replace('"', "\"\"");
    for i in 0..5 {
        s.push_str(&format!("S{i},2021-10-04T10:00:00+08:00,{platform},\"{merchant}\",110000,Alipay,1,true,false\n"));
    }
    s
}

/// Audits the fixture; exit code, stdout, stderr and the output directory.
fn audit(platform: &str, merchant: &str, extra: &[&str]) -> (Option<i32>, String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let rules = dir.path().join("in/rules.toml");
    std::fs::write(&rules, format!("{}{RULE}", common::HEADER)).unwrap();
    let data = dir.path().join("in/checkout.csv");
    std::fs::write(&data, checkout(platform, merchant)).unwrap();
    let out = dir.path().join("out");
    let mut args = vec!["audit", "--rules", rules.to_str().unwrap(), "--checkout", data.to_str().unwrap()];
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = run(&args);
    (code, stdout, stderr, dir)
}

fn evidence(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("out/evidence/H-01.csv")).unwrap()
}

#[test]
fn item_02_formula_prefixes_are_neutralised_in_csv_outputs() {
    let (code, _, err, dir) = audit("taobao", "=HYPERLINK(\"http://x\",\"M1\")", &["--quiet"]);
    assert_eq!(code, Some(1), "{err}");
    let text = evidence(dir.path());
    assert!(text.contains("\"'=HYPERLINK(\"\"http://x\"\",\"\"M1\"\")\""), "{text}");
    // --raw-csv keeps cells exactly as found, for machines.
    let (_, _, _, dir) = audit("taobao", "@SUM(1)", &["--quiet", "--raw-csv"]);
    assert!(evidence(dir.path()).contains("taobao,@SUM(1),"), "{}", evidence(dir.path()));
    let (_, _, _, dir) = audit("taobao", "  -1+2", &["--quiet"]);
    assert!(evidence(dir.path()).contains("taobao,'  -1+2,"), "{}", evidence(dir.path()));
    // Rejected rows carry the raw record: neutralised there too.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("checkout.csv");
    let mut text = checkout("taobao", "M1");
    text.push_str("=cmd|' /C calc'!A0,not a time,taobao,M1,110000,Alipay,1,true,false\n");
    std::fs::write(&file, text).unwrap();
    let out = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&["inspect", "--checkout", file.to_str().unwrap(), "--out", out.path().to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let rejected = std::fs::read_to_string(out.path().join("rejected/checkout.csv")).unwrap();
    assert!(rejected.contains(",\"'=cmd|' /C calc'!A0,not a time,"), "{rejected}");
}

#[test]
fn item_03_control_characters_do_not_reach_the_terminal() {
    // A platform the rulebook does not know is named in a warning: with ESC
    // sequences that would clear the screen and recolour the text.
    let (code, stdout, stderr, _dir) = audit("evil\u{1b}[2J\u{1b}[31m\u{7}", "M1", &[]);
    assert!(code == Some(0) || code == Some(1), "{stderr}");
    assert!(!stderr.contains('\u{1b}') && !stderr.contains('\u{7}'), "{stderr:?}");
    assert!(!stdout.contains('\u{1b}') && !stdout.contains('\u{7}'), "{stdout:?}");
    assert!(stderr.contains("evil\\u{1b}[2J\\u{1b}[31m\\u{7}"), "{stderr}");
}

#[test]
fn item_11_a_bad_out_is_refused_before_any_input_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    // The data does not even exist: the --out problem is reported first.
    let missing = dir.path().join("no-such-data");
    for cmd in [
        vec!["audit", "--rules", common::RULES, "--data", missing.to_str().unwrap(), "--out", file.to_str().unwrap()],
        vec!["convert", "--data", missing.to_str().unwrap(), "--out", file.to_str().unwrap()],
    ] {
        let (code, _, err) = run(&cmd);
        assert_eq!(code, Some(2));
        assert!(err.contains("exists and is not a directory"), "{cmd:?}: {err}");
    }
    let nested = file.join("sub");
    let (code, _, err) = run(&["convert", "--data", missing.to_str().unwrap(), "--out", nested.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("a-file exists and is not a directory"), "{err}");
    // Nothing was created by the check.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

const TXN_HEADER: &str = "txn_id,ts,platform,channel,merchant_id,region,method,amount,status,fee,discount";

/// `inspect --format json` of a transactions file: its rejected-by-reason counts and accepted rows.
fn inspect(path: &Path) -> serde_json::Value {
    let (code, out, err) = run(&["inspect", "--transactions", path.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["datasets"][0].clone()
}

#[test]
fn item_05_quoted_empty_fields_are_missing_values() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("transactions.csv");
    // Every field quoted, as many tools write: "" is an empty optional value,
    // not an invalid number; a required platform of "" is missing.
    let text = format!(
        "{TXN_HEADER}\n\
         \"T1\",\"2021-10-04T10:00:00+08:00\",\"taobao\",\"online\",\"M1\",\"110000\",\"Alipay\",\"12.50\",\"success\",\"\",\"\"\n\
         \"T2\",\"2021-10-04T10:00:00+08:00\",\"\",\"online\",\"M1\",\"110000\",\"Alipay\",\"12.50\",\"success\",\"\",\"\"\n"
    );
    std::fs::write(&file, text).unwrap();
    let v = inspect(&file);
    assert_eq!((v["rows_accepted"].as_u64(), v["rows_rejected"].as_u64()), (Some(1), Some(1)), "{v:#}");
    assert_eq!(v["rejected_by_reason"]["missing_value:platform"], 1, "{v:#}");
}

#[test]
fn item_06_non_finite_and_absurd_amounts_are_rejected() {
    use polars::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    // Parquet floats: NaN and +inf are not amounts; a required '' is missing.
    let mut df = df!(
        "txn_id" => ["T1", "T2", "T3", "T4"],
        "ts" => ["2021-10-04T10:00:00+08:00"; 4],
        "platform" => ["taobao", "taobao", "taobao", ""],
        "channel" => ["online"; 4],
        "merchant_id" => ["M1"; 4],
        "region" => ["110000"; 4],
        "method" => ["Alipay"; 4],
        "amount" => [12.5, f64::NAN, f64::INFINITY, 3.0],
        "status" => ["success"; 4],
    )
    .unwrap();
    let file = dir.path().join("transactions.parquet");
    ParquetWriter::new(std::fs::File::create(&file).unwrap()).finish(&mut df).unwrap();
    let v = inspect(&file);
    assert_eq!((v["rows_accepted"].as_u64(), v["rows_rejected"].as_u64()), (Some(1), Some(3)), "{v:#}");
    assert_eq!(v["rejected_by_reason"]["invalid_number:amount"], 2, "{v:#}");
    assert_eq!(v["rejected_by_reason"]["missing_value:platform"], 1, "{v:#}");
    // CSV: two amounts of 1e308 would sum to infinity; beyond 10^12 yuan is out of range.
    let csv = dir.path().join("transactions.csv");
    let row = |id: &str, amount: &str| {
        format!("{id},2021-10-04T10:00:00+08:00,taobao,online,M1,110000,Alipay,{amount},success,,\n")
    };
    std::fs::write(
        &csv,
        format!(
            "{TXN_HEADER}\n{}{}{}{}",
            row("T1", "1e308"),
            row("T2", "1e308"),
            row("T3", "NaN"),
            row("T4", "999999999999")
        ),
    )
    .unwrap();
    let v = inspect(&csv);
    assert_eq!((v["rows_accepted"].as_u64(), v["rows_rejected"].as_u64()), (Some(1), Some(3)), "{v:#}");
    assert_eq!(v["rejected_by_reason"]["out_of_range:amount"], 2, "{v:#}");
    assert_eq!(v["rejected_by_reason"]["invalid_number:amount"], 1, "{v:#}");
}

#[test]
fn item_08_unreadable_entries_in_a_dataset_folder_are_errors_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("transactions");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy("testdata/sample/transactions.csv", folder.join("a.csv")).unwrap();
    let check = |name: &str, want: &str| {
        let (code, _, err) = run(&["inspect", "--data", dir.path().to_str().unwrap()]);
        assert_eq!(code, Some(2), "{name}: {err}");
        assert!(err.contains(name) && err.contains(want), "{name}: {err}");
    };
    // A dangling link, then a link to itself: never skipped in silence.
    std::os::unix::fs::symlink(dir.path().join("gone.csv"), folder.join("b.csv")).unwrap();
    check("b.csv", "is a symbolic link that leads nowhere readable");
    std::fs::remove_file(folder.join("b.csv")).unwrap();
    std::os::unix::fs::symlink(folder.join("c.csv"), folder.join("c.csv")).unwrap();
    check("c.csv", "is a symbolic link that leads nowhere readable");
    std::fs::remove_file(folder.join("c.csv")).unwrap();
    // A FIFO is named as one, not as a missing file; also when given directly.
    let fifo = folder.join("d.csv");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    check("d.csv", "is a FIFO (named pipe)");
    let (code, _, err) = run(&["inspect", "--transactions", fifo.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("is a FIFO (named pipe); name a regular file"), "{err}");
}

/// The sample's header and first `n` transactions.
fn sample_head(n: usize) -> Vec<String> {
    std::fs::read_to_string("testdata/sample/transactions.csv")
        .unwrap()
        .lines()
        .take(n + 1)
        .map(str::to_string)
        .collect()
}

#[test]
fn item_04_cr_only_line_ends_are_read_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("transactions.csv");
    std::fs::write(&file, sample_head(20).join("\r") + "\r").unwrap();
    let v = inspect(&file);
    assert_eq!((v["rows_read"].as_u64(), v["rows_accepted"].as_u64()), (Some(20), Some(20)), "{v:#}");
    // The file's own hash, not the fixed copy's.
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(v["files"][0]["sha256"], hutong::ingest::sources::sha256_bytes(&bytes));
}

#[test]
fn item_09_blank_lines_before_the_header_are_skipped_and_lines_stay_true() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("transactions.csv");
    let mut lines = sample_head(5);
    lines.insert(3, "broken,row".to_string());
    std::fs::write(&file, format!("\n  \n{}\n", lines.join("\n"))).unwrap();
    let out = tempfile::tempdir().unwrap();
    let (code, _, err) =
        run(&["inspect", "--transactions", file.to_str().unwrap(), "--out", out.path().to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let v = inspect(&file);
    assert_eq!((v["rows_read"].as_u64(), v["rows_accepted"].as_u64()), (Some(6), Some(5)), "{v:#}");
    // Two blank lines, the header on line 3: the broken row is on line 6.
    let rejected = std::fs::read_to_string(out.path().join("rejected/transactions.csv")).unwrap();
    assert!(rejected.contains("transactions.csv,6,3,wrong_field_count,\"broken,row\""), "{rejected}");
}

#[test]
fn item_07_a_stray_quote_rejects_its_record_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("transactions.csv");
    let mut lines = sample_head(8);
    // A merchant named `Joe 5" TV shop` (a quote inside an unquoted field) ...
    lines[3] = lines[3].replacen(",checkout,", ",Joe 5\" TV shop,", 1);
    // ... and a quote opened and never closed: it would swallow every line after it.
    lines[6] = format!("\"{}", lines[6]);
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    let (code, _, err) =
        run(&["inspect", "--transactions", file.to_str().unwrap(), "--out", out.path().to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let v = inspect(&file);
    assert_eq!((v["rows_read"].as_u64(), v["rows_accepted"].as_u64()), (Some(8), Some(6)), "{v:#}");
    assert_eq!(v["rejected_by_reason"]["malformed_quoting"], 2, "{v:#}");
    let rejected = std::fs::read_to_string(out.path().join("rejected/transactions.csv")).unwrap();
    // Each located at its own line, with its raw text as written.
    assert!(
        rejected.contains("transactions.csv,4,3,malformed_quoting,") && rejected.contains("Joe 5\"\" TV shop"),
        "{rejected}"
    );
    assert!(rejected.contains("transactions.csv,7,6,malformed_quoting,\"\"\"T"), "{rejected}");
}

/// `rules check` of the fixture rule with `where = "<filter>"`: exit code and stderr.
fn check_where(filter: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    let rule = RULE.replace("kind = \"exclusivity\"", &format!("kind = \"exclusivity\"\nwhere = \"{filter}\""));
    std::fs::write(&rules, format!("{}{rule}", common::HEADER)).unwrap();
    let (code, _, err) = run(&["rules", "check", rules.to_str().unwrap()]);
    (code, err)
}

#[test]
fn item_15_where_filters_are_type_checked_by_rules_check() {
    let (code, err) = check_where("ts > '2021-10-03'");
    assert_eq!(code, Some(2));
    assert!(err.contains("R008") && err.contains("`where` does not type-check"), "{err}");
    assert!(err.contains("rules.toml:30:10") && err.contains("audit --from / --to"), "{err}");
    let (code, err) = check_where("1");
    assert_eq!(code, Some(2));
    assert!(err.contains("`where` is not a boolean expression: it gives i32"), "{err}");
    assert_eq!(check_where("platform IN ('taobao') AND position > 1").0, Some(0));
}

#[test]
fn item_12_a_deep_where_filter_is_an_error_not_a_stack_overflow() {
    let deep = vec!["platform = 'taobao'"; 5000].join(" AND ");
    let (code, err) = check_where(&deep);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("the filter is too complex (4999 boolean operators"), "{err}");
}

/// The files under a directory (relative paths) with their contents.
fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn item_10_concurrent_audits_into_one_out_leave_one_complete_output() {
    let reference = tempfile::tempdir().unwrap();
    let o = common::audit_output(Path::new("testdata/sample"), reference.path(), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let want = tree(reference.path());
    for round in 0..2 {
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().to_str().unwrap().to_string();
        let runs: Vec<std::thread::JoinHandle<(Option<i32>, String)>> = (0..8)
            .map(|_| {
                let dir = dir.clone();
                std::thread::spawn(move || {
                    let o = common::audit_output(Path::new("testdata/sample"), Path::new(&dir), &[]);
                    (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
                })
            })
            .collect();
        for r in runs {
            let (code, err) = r.join().unwrap();
            assert_eq!(code, Some(1), "round {round}: {err}");
        }
        // Exactly one run's complete output: the same files and bytes as a
        // single run, and no temporary file left behind.
        assert_eq!(tree(out.path()), want, "round {round}");
    }
}

#[test]
fn item_14_under_a_memory_limit_the_exit_code_is_always_a_documented_one() {
    let bin = env!("CARGO_BIN_EXE_hutong");
    for limit_kb in [300_000u64, 1_200_000, 2_000_000, 3_000_000] {
        let out = tempfile::tempdir().unwrap();
        let script = format!(
            "ulimit -v {limit_kb}; exec {bin} audit --rules {} --data testdata/sample --out {} --quiet",
            common::RULES,
            out.path().display()
        );
        let o = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        if limit_kb * 1024 < 2 << 30 {
            // Too little address space to run at all: refused up front, clearly.
            assert_eq!(o.status.code(), Some(2), "{limit_kb} KB: {err}");
            assert!(err.contains("hutong needs at least 2048 MiB: raise the limit"), "{limit_kb} KB: {err}");
        } else {
            // 1: the sample's planted violations. Never an abort (134) or a panic (101).
            assert!(matches!(o.status.code(), Some(1) | Some(2)), "{limit_kb} KB: {:?} {err}", o.status);
        }
    }
}

#[test]
fn item_13_many_small_files_are_read_in_one_scan_with_every_row_placed() {
    use hutong::ingest::{self, IngestOptions, InputSpec};
    // 200 files of 10 rows each (the sample's first 2,000 transactions, its
    // planted bad rows among them), against the same rows in one file.
    let lines: Vec<String> =
        std::fs::read_to_string("testdata/sample/transactions.csv").unwrap().lines().map(str::to_string).collect();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("transactions");
    std::fs::create_dir(&folder).unwrap();
    for i in 0..200 {
        let body = lines[1 + i * 10..1 + (i + 1) * 10].join("\n");
        std::fs::write(folder.join(format!("part-{i:03}.csv")), format!("{}\n{body}\n", lines[0])).unwrap();
    }
    let whole = dir.path().join("whole.csv");
    std::fs::write(&whole, lines[..2001].join("\n") + "\n").unwrap();
    let many = inspect(&folder);
    let one = inspect(&whole);
    for k in ["rows_read", "rows_accepted", "rows_rejected", "rejected_by_reason", "duplicate_ids"] {
        assert_eq!(many[k], one[k], "{k}");
    }
    assert_eq!(many["files"].as_array().unwrap().len(), 200);
    assert!(many["files"].as_array().unwrap().iter().all(|f| f["rows_read"] == 10));
    // The plan scans the 200 files once, as one CSV source.
    let spec = InputSpec { transactions: Some(folder.to_string_lossy().into_owned()), ..Default::default() };
    let inputs = ingest::open(&spec, IngestOptions::default()).unwrap();
    let plan = inputs.datasets.values().next().unwrap().accepted().describe_plan().unwrap();
    assert_eq!(plan.matches("Csv SCAN").count(), 1, "{plan}");
    // Rejected rows are placed in their own file and line.
    let out = tempfile::tempdir().unwrap();
    let (code, _, err) =
        run(&["inspect", "--transactions", folder.to_str().unwrap(), "--out", out.path().to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let rejected = std::fs::read_to_string(out.path().join("rejected/transactions.csv")).unwrap();
    let located = std::fs::read_to_string(dir.path().join("whole.csv")).unwrap();
    for row in rejected.lines().skip(1) {
        let cells: Vec<&str> = row.splitn(5, ',').collect();
        let (file, line) = (cells[0], cells[1].parse::<usize>().unwrap());
        let part: usize = file.rsplit("part-").next().unwrap()[..3].parse().unwrap();
        // Line `line` of part k is line 1 + k * 10 + (line - 1) of the whole file.
        let want = located.lines().nth(part * 10 + line - 1).unwrap();
        let got = std::fs::read_to_string(file).unwrap().lines().nth(line - 1).unwrap().to_string();
        assert_eq!(got, want, "{row}");
    }
    assert!(rejected.lines().count() > 1, "the sample's first 2,000 rows hold no bad row: {rejected}");
}

mod outputs_stay_inside {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        /// Whatever the rule id and whatever the manifest of an earlier run
        /// says, an audit creates, changes and deletes nothing outside --out.
        #[test]
        fn item_01_nothing_outside_out_is_touched(
            id in prop_oneof![
                Just("../../victim/merchants".to_string()),
                Just("/tmp/x".to_string()),
                Just("..".to_string()),
                "[A-Za-z0-9./_-]{1,12}",
            ],
            manifest in proptest::collection::vec(
                prop_oneof![
                    Just("evidence/../../victim/keep.txt".to_string()),
                    Just("../victim/keep.txt".to_string()),
                    Just("/etc/hostname".to_string()),
                    Just("evidence/H-01.csv".to_string()),
                    "[a-z./]{1,16}",
                ],
                0..6,
            ),
        ) {
            let sandbox = tempfile::tempdir().unwrap();
            let victim = sandbox.path().join("victim");
            std::fs::create_dir(&victim).unwrap();
            std::fs::write(victim.join("keep.txt"), "keep").unwrap();
            std::fs::write(victim.join("merchants.csv"), "merchant_id\nM1\n").unwrap();
            let inputs = sandbox.path().join("in");
            std::fs::create_dir(&inputs).unwrap();
            let rules = inputs.join("rules.toml");
            std::fs::write(&rules, format!("{}{}", common::HEADER, RULE.replace("\"H-01\"", &format!("{id:?}")))).unwrap();
            let data = inputs.join("checkout.csv");
            std::fs::write(&data, checkout("taobao", "M1")).unwrap();
            let out = sandbox.path().join("out");
            std::fs::create_dir(&out).unwrap();
            std::fs::write(out.join(".hutong-outputs"), manifest.join("\n") + "\n").unwrap();
            let before = tree(sandbox.path());
            let (code, _, err) = run(&[
                "audit", "--rules", rules.to_str().unwrap(), "--checkout", data.to_str().unwrap(),
                "--out", out.to_str().unwrap(), "--quiet",
            ]);
            prop_assert!(matches!(code, Some(0..=2)), "{err}");
            let after = tree(sandbox.path());
            let outside = |t: &std::collections::BTreeMap<String, Vec<u8>>| -> Vec<(String, Vec<u8>)> {
                t.iter().filter(|(k, _)| !k.starts_with("out/")).map(|(k, v)| (k.clone(), v.clone())).collect()
            };
            prop_assert_eq!(outside(&before), outside(&after));
        }
    }
}

#[test]
fn item_12_rules_beyond_one_pass_give_the_same_findings() {
    // The shipped rulebook's 15 rules three times over: 45 rules, two passes
    // of at most 32 (hutong::engine::RULES_PER_PASS). Every copy of a rule
    // must find exactly what the first copy finds.
    const { assert!(hutong::engine::RULES_PER_PASS < 45) };
    let text = std::fs::read_to_string(common::RULES).unwrap();
    let (head, rules) = text.split_once("[[rules]]").unwrap();
    let rules = format!("[[rules]]{rules}");
    let mut all = head.to_string();
    for copy in 0..3 {
        all.push_str(&rules.replace("id = \"CN-", &format!("id = \"C{copy}-CN-")));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, all).unwrap();
    let out = dir.path().join("out");
    let (code, _, err) = run(&[
        "audit",
        "--rules",
        path.to_str().unwrap(),
        "--data",
        "testdata/sample",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(code, Some(1), "{err}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("findings.json")).unwrap()).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 45);
    let strip = |f: &serde_json::Value| {
        let mut f = f.clone();
        let o = f.as_object_mut().unwrap();
        o.remove("rule_id");
        o.remove("evidence");
        for g in o.get_mut("groups").unwrap().as_array_mut().unwrap() {
            g.as_object_mut().unwrap().remove("fingerprint");
        }
        f
    };
    for f in findings.iter().filter(|f| f["rule_id"].as_str().unwrap().starts_with("C0-")) {
        let id = f["rule_id"].as_str().unwrap().trim_start_matches("C0-").to_string();
        for copy in 1..3 {
            let other = findings.iter().find(|x| x["rule_id"] == format!("C{copy}-{id}")).unwrap();
            assert_eq!(strip(f), strip(other), "{id} copy {copy}");
        }
    }
}

#[test]
fn item_10_an_interrupted_run_leaves_no_transcoded_copy_behind() {
    // A GBK export of 1.2 million rows: transcoding it takes a while.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("transactions.csv");
    let head = "txn_id,ts,platform,channel,merchant_id,region,method,amount,status\n";
    let chunk: String = (0..100_000)
        .map(|i| format!("T{i},2021-10-04T10:00:00+08:00,taobao,online,M1,110000,支付宝,12.50,success\n"))
        .collect();
    let (head_gbk, _, _) = encoding_rs::GBK.encode(head);
    let (chunk_gbk, _, _) = encoding_rs::GBK.encode(&chunk);
    let mut bytes = head_gbk.into_owned();
    for _ in 0..12 {
        bytes.extend_from_slice(&chunk_gbk);
    }
    std::fs::write(&file, bytes).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_hutong"))
        .args(["inspect", "--transactions", file.to_str().unwrap()])
        .env("TMPDIR", &tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the scratch copy exists, then interrupt.
    let start = std::time::Instant::now();
    while std::fs::read_dir(&tmp).unwrap().next().is_none() && start.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(std::fs::read_dir(&tmp).unwrap().next().is_some(), "no scratch directory appeared");
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(143), "{err}");
    assert!(err.contains("interrupted: temporary files removed"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// The output as a reader sees it: every file reached through the published
/// names, following their links (hutong's store and lock aside).
fn visible(out: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    for name in ["findings.json", "report.html", ".hutong-outputs", "notes.txt"] {
        if let Ok(bytes) = std::fs::read(out.join(name)) {
            files.insert(name.to_string(), bytes);
        }
    }
    for dir in ["evidence", "rejected"] {
        if let Ok(entries) = std::fs::read_dir(out.join(dir)) {
            for e in entries {
                let e = e.unwrap();
                files.insert(format!("{dir}/{}", e.file_name().to_string_lossy()), std::fs::read(e.path()).unwrap());
            }
        }
    }
    files
}

#[test]
fn item_10_a_kill_at_every_publish_step_leaves_the_old_or_the_new_complete_output() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("in")).unwrap();
    let rules = dir.path().join("in/rules.toml");
    std::fs::write(&rules, format!("{}{RULE}", common::HEADER)).unwrap();
    let head = "session_id,ts,platform,merchant_id,region,method,position,is_default,folded\n";
    // Old: M1 offers only Alipay (evidence) and one row is bad (rejected rows).
    let old = dir.path().join("in/old.csv");
    let mut text = head.to_string();
    for i in 0..5 {
        text.push_str(&format!("S{i},2021-10-04T10:00:00+08:00,taobao,M1,110000,Alipay,1,true,false\n"));
    }
    text.push_str("S9,not-a-time,taobao,M1,110000,Alipay,1,true,false\n");
    std::fs::write(&old, text).unwrap();
    // New: M1 also offers WeChat Pay: the rule passes, no evidence, no rejects.
    let new = dir.path().join("in/new.csv");
    let mut text = head.to_string();
    for i in 0..5 {
        text.push_str(&format!("S{i},2021-10-04T10:00:00+08:00,taobao,M1,110000,Alipay,1,true,false\n"));
        text.push_str(&format!("S{i},2021-10-04T10:00:00+08:00,taobao,M1,110000,WeChat Pay,2,false,false\n"));
    }
    std::fs::write(&new, text).unwrap();
    // A run stopped by a fault leaves its scratch directory (no clean-up, by
    // design): in the test's own directory, not the machine's /tmp.
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let run_into = |data: &Path, out: &Path, fault: Option<u32>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hutong"));
        cmd.args(["audit", "--quiet", "--rules", rules.to_str().unwrap(), "--checkout", data.to_str().unwrap()]);
        cmd.args(["--out", out.to_str().unwrap()]).env("SOURCE_DATE_EPOCH", "1700000000").env("TMPDIR", &tmp);
        if let Some(n) = fault {
            cmd.env("HUTONG_FAULT_AT", n.to_string());
        }
        let o = cmd.output().unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let notes = |out: &Path| std::fs::write(out.join("evidence/NOTES.csv"), "my own notes").unwrap();
    // The two complete outputs, each with the user's own file in evidence/.
    let want_old = dir.path().join("want-old");
    let (code, err) = run_into(&old, &want_old, None);
    assert_eq!(code, Some(1), "{err}");
    notes(&want_old);
    let want_new = dir.path().join("want-new");
    assert_eq!(run_into(&new, &want_new, None).0, Some(0));
    let bare_new = visible(&want_new);
    notes(&want_new);
    let (want_old, want_new) = (visible(&want_old), visible(&want_new));
    assert!(want_old.contains_key("evidence/H-01.csv") && want_old.contains_key("rejected/checkout.csv"));
    assert!(!want_new.contains_key("evidence/H-01.csv") && !want_new.contains_key("rejected/checkout.csv"));
    let mut steps = 0;
    for n in 1..100 {
        let out = dir.path().join(format!("out-{n}"));
        assert_eq!(run_into(&old, &out, None).0, Some(1));
        notes(&out);
        let (code, err) = run_into(&new, &out, Some(n));
        let seen = visible(&out);
        assert!(seen == want_old || seen == want_new, "step {n} left a mix: {:?}\n{err}", seen.keys());
        // The next run clears what the killed one left and publishes whole.
        assert_eq!(run_into(&new, &out, None).0, Some(0));
        assert_eq!(visible(&out), want_new, "after step {n}");
        let store: Vec<String> = std::fs::read_dir(out.join(".hutong"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(store.len(), 2, "after step {n}: {store:?}");
        if code != Some(86) {
            assert_eq!(code, Some(0), "{err}");
            steps = n - 1;
            break;
        }
        assert!(err.contains(&format!("HUTONG_FAULT_AT={n}: stopping abruptly")), "{err}");
        // A first run into an empty directory: nothing, or all of it.
        let fresh = dir.path().join(format!("fresh-{n}"));
        let (code, err) = run_into(&new, &fresh, Some(n));
        let seen = visible(&fresh);
        assert!(seen.is_empty() || seen == bare_new, "step {n} of a first run left a part: {:?}\n{err}", seen.keys());
        assert!(matches!(code, Some(86) | Some(0)), "{err}");
    }
    // findings.json, report.html, seal, link, commit, collect (at least).
    assert!(steps >= 6, "{steps} publish steps");
}
