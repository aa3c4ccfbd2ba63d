//! `audit --junit`: one test case per rule, failures and skips counted exactly,
//! and the same bytes wherever the audit is written. (`.ci/run` validates the
//! files against the JUnit XML schema.)

mod common;

use std::path::Path;

use common::hutong;

/// Audits `data` quietly into a fresh directory; the exit code and the JUnit XML.
fn junit(data: &Path) -> (Option<i32>, String) {
    let (out, xml) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let file = xml.path().join("hutong.xml");
    let o = common::audit_output(data, out.path(), &["--junit", file.to_str().unwrap()]);
    assert!(o.status.code() != Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    (o.status.code(), std::fs::read_to_string(file).unwrap())
}

#[test]
fn the_sample_has_one_failing_test_case_per_failing_rule() {
    let (code, xml) = junit(Path::new("testdata/sample"));
    assert_eq!(code, Some(1));
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"hutong\" tests=\"15\" failures=\"15\" errors=\"0\">\n"), "{xml}");
    assert!(
        xml.contains("tests=\"15\" failures=\"15\" errors=\"0\" skipped=\"0\" timestamp=\"2023-11-14T22:13:20Z\">"),
        "{xml}"
    );
    assert_eq!((xml.matches("<testcase ").count(), xml.matches("<failure ").count()), (15, 15));
    // The failure names the failing groups with their values, and the evidence file.
    assert!(
        xml.contains(
            "name=\"CN-PL-03 No merchant offers only its platform&apos;s own provider\">\n      \
         <failure type=\"critical\" message=\"12 exclusive merchants: taobao: 12 merchants offer only Alipay.\">"
        ),
        "{xml}"
    );
    assert!(xml.contains("taobao: 12.0\nevidence: evidence/CN-PL-03.csv (12 rows)\n</failure>"), "{xml}");
    assert!(xml.contains("unionpay / alipay / 610100: no value (no scans observed)\n"), "{xml}");
}

#[test]
fn fair_data_fails_only_the_market_screens_and_skips_the_undecided() {
    let data = tempfile::tempdir().unwrap();
    let o = hutong(&["generate", "--out", data.path().to_str().unwrap(), "--plant", "none", "--seed", "3"]);
    assert!(o.status.success());
    let (code, xml) = junit(data.path());
    assert_eq!(code, Some(0));
    assert!(xml.contains("tests=\"15\" failures=\"2\" errors=\"0\" skipped=\"6\""), "{xml}");
    let failing: Vec<&str> = xml.lines().filter(|l| l.contains("<failure ")).map(|l| &l[..40]).collect();
    assert!(failing.iter().all(|l| l.contains("type=\"info\"")), "{failing:?}");
    assert_eq!(xml.matches("<skipped type=\"inconclusive\"").count(), 6);
    // A passing rule is an empty test case.
    let empty = xml.lines().filter(|l| l.trim_start().starts_with("<testcase ") && l.ends_with("/>")).count();
    assert_eq!(empty, 7);
}

#[test]
fn the_junit_file_is_the_same_wherever_it_is_written() {
    assert_eq!(junit(Path::new("testdata/sample")).1, junit(Path::new("testdata/sample")).1);
}
