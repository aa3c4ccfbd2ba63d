//! The shipped rulebook on the committed sample: every planted violation is
//! reported with the right verdict, groups and evidence; on data generated
//! without plants, every rule but the market-structure screens passes.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const RULES: &str = "rules/cn-interconnection-2021.toml";

fn audit(data: &Path, out: &Path, extra: &[&str]) -> (Option<i32>, Value) {
    let o = Command::new(env!("CARGO_BIN_EXE_hutong"))
        .args(["audit", "--rules", RULES, "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"])
        .args(extra)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert!(o.status.code() != Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(out.join("findings.json")).unwrap()).unwrap();
    (o.status.code(), v)
}

fn finding<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == id).unwrap_or_else(|| panic!("no finding {id}"))
}

/// A group's key as "k=v,k=v".
fn key_text(g: &Value) -> String {
    let pairs = g["key"].as_object().unwrap().iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap()));
    pairs.collect::<Vec<_>>().join(",")
}

/// The groups of a finding with the given verdict, as key texts.
fn groups_with(f: &Value, verdict: &str) -> Vec<String> {
    let groups = f["groups"].as_array().unwrap().iter();
    let mut out: Vec<String> = groups.filter(|g| g["verdict"] == verdict).map(key_text).collect();
    out.sort();
    out
}

fn group<'a>(f: &'a Value, key: &str) -> &'a Value {
    let mut groups = f["groups"].as_array().unwrap().iter();
    groups.find(|g| key_text(g) == key).unwrap_or_else(|| panic!("no group {key}"))
}

fn evidence(out: &Path, f: &Value) -> Vec<csv::StringRecord> {
    let file = f["evidence"]["file"].as_str().expect("evidence file");
    let mut rdr = csv::Reader::from_path(out.join(file)).unwrap();
    rdr.records().map(|r| r.unwrap()).collect()
}

#[test]
fn sample_audit_reports_every_planted_violation() {
    let out = tempfile::tempdir().unwrap();
    let out = out.path();
    let (code, v) = audit(Path::new("testdata/sample"), out, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(v["schema_version"], "1.0");
    assert_eq!(v["generated_at"], "2023-11-14T22:13:20Z");
    assert_eq!(v["summary"]["fail"], 11);

    // exclusive-merchants: 12 taobao merchants offer only Alipay.
    let f = finding(&v, "CN-PL-03");
    assert_eq!(f["verdict"], "fail");
    assert_eq!(groups_with(f, "fail"), ["platform=taobao"]);
    assert_eq!(groups_with(f, "not_evaluable"), ["platform=pinduoduo"]);
    let rows = evidence(out, f);
    let ids: Vec<&str> = rows.iter().map(|r| &r[1]).collect();
    let want: Vec<String> = (1..=12).map(|i| format!("M{i:06}")).collect();
    assert_eq!(ids, want);
    assert_eq!(&rows[0][2], "taobao 1号店");

    // low-unionpay-coverage: 30% of jd merchants never offer UnionPay.
    let f = finding(&v, "CN-PL-01");
    assert_eq!(groups_with(f, "fail"), ["platform=jd"]);
    assert_eq!(groups_with(f, "pass").len(), 6);
    let jd = group(f, "platform=jd");
    // 91 jd merchants (700 online x 130/1000); those with k % 10 < 3 never
    // offer UnionPay: 28, so 63 covered; 85% of 91 is 77.35 -> 78 needed, gap 15.
    assert_eq!((jd["n"].as_u64(), jd["offered"].as_u64(), jd["gap_units"].as_u64()), (Some(91), Some(63), Some(15)));
    assert_eq!(evidence(out, f).len(), 28);
    let f = finding(&v, "CN-PL-02");
    assert_eq!(groups_with(f, "fail"), ["platform=jd,provider=unionpay"]);
    assert_eq!(groups_with(f, "not_evaluable"), ["platform=pinduoduo,provider=*"]);

    // folded-rivals on ele_me.
    let f = finding(&v, "CN-ND-01");
    assert_eq!(groups_with(f, "fail"), ["platform=ele_me,provider=unionpay", "platform=ele_me,provider=wechat_pay"]);
    assert_eq!(groups_with(f, "inconclusive"), Vec::<String>::new());

    // failing-rival: WeChat Pay fails 8% on tmall against Alipay's 2%: exactly 32 and 8 of 400.
    let f = finding(&v, "CN-ND-02");
    assert_eq!(groups_with(f, "fail"), ["platform=tmall,provider=wechat_pay"]);
    let g = group(f, "platform=tmall,provider=wechat_pay");
    assert_eq!(
        (g["rival_value"].as_f64(), g["reference_value"].as_f64(), g["value"].as_f64()),
        (Some(0.08), Some(0.02), Some(0.06))
    );
    // Alipay's 8 failures are fewer than 10 in a cell, so Fisher's exact test.
    assert_eq!(g["test"], "fisher_exact");
    assert!(g["p_adjusted"].as_f64().unwrap() < 0.01);
    assert_eq!(groups_with(f, "inconclusive"), Vec::<String>::new());

    // slow-rival: UnionPay on meituan.
    let f = finding(&v, "CN-ND-03");
    assert_eq!(groups_with(f, "fail"), ["platform=meituan,provider=unionpay"]);

    // rival-surcharge: UnionPay on jd.
    let f = finding(&v, "CN-ND-04");
    assert_eq!(groups_with(f, "fail"), ["platform=jd,provider=unionpay"]);

    // one-way (Shenzhen WeChat -> UnionPay) and dead-cell (Xi'an UnionPay -> Alipay, no scans).
    let f = finding(&v, "CN-IO-01");
    assert_eq!(
        groups_with(f, "fail"),
        ["app=unionpay,issuer=alipay,region=610100", "app=wechat_pay,issuer=unionpay,region=440300"]
    );
    assert_eq!(groups_with(f, "pass").len(), 40);
    let dead = group(f, "app=unionpay,issuer=alipay,region=610100");
    assert_eq!((dead["n"].as_u64(), dead["live"].as_bool()), (Some(0), Some(false)));
    let one_way = group(f, "app=wechat_pay,issuer=unionpay,region=440300");
    // 150 scans, 90% fail by error diffusion: 15 succeed.
    assert_eq!((one_way["n"].as_u64(), one_way["successes"].as_u64()), (Some(150), Some(15)));
    let f = finding(&v, "CN-IO-02");
    assert_eq!(
        groups_with(f, "fail"),
        [
            "provider_a=alipay,provider_b=unionpay,region=610100",
            "provider_a=wechat_pay,provider_b=unionpay,region=440300"
        ]
    );

    // Market structure is not planted: three similar majors make both screens fail (info).
    assert_eq!(finding(&v, "CN-MK-01")["severity"], "info");

    // Unmapped labels and the row accounting are reported.
    assert_eq!(v["unmapped_labels"][0]["label"], "数字人民币");
    assert_eq!(v["unmapped_labels"][0]["rows"], 35);
    assert_eq!(v["inputs"][0]["rows_rejected"], 6);
    assert_eq!(v["inputs"][0]["rejected_file"], "rejected/transactions.csv");
}

#[test]
fn unplanted_data_passes_every_compliance_rule() {
    let data = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_hutong"))
        .args(["generate", "--out", data.path().to_str().unwrap(), "--plant", "none", "--seed", "3"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let out = tempfile::tempdir().unwrap();
    let (code, v) = audit(data.path(), out.path(), &[]);
    for f in v["findings"].as_array().unwrap() {
        let id = f["rule_id"].as_str().unwrap();
        if id.starts_with("CN-MK") {
            continue;
        }
        assert_eq!(f["verdict"], "pass", "{id}: {}", f["message"]);
        assert!(f["evidence"].is_null(), "{id}");
    }
    // Only info-level screens fail, below the default --fail-on high.
    assert_eq!(code, Some(0));
    assert_eq!(v["inputs"][0]["rows_rejected"], 0);
}

#[test]
fn fail_on_sets_the_exit_code() {
    let out = tempfile::tempdir().unwrap();
    let (code, _) = audit(Path::new("testdata/sample"), out.path(), &["--fail-on", "critical"]);
    assert_eq!(code, Some(1));
    let data = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_hutong"))
        .args(["generate", "--out", data.path().to_str().unwrap(), "--plant", "none"])
        .output()
        .unwrap();
    let (code, _) = audit(data.path(), out.path(), &["--fail-on", "info"]);
    assert_eq!(code, Some(1), "the concentration screens fail at info");
}

#[test]
fn same_inputs_give_byte_identical_outputs() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    audit(Path::new("testdata/sample"), a.path(), &[]);
    audit(Path::new("testdata/sample"), b.path(), &[]);
    let read = |d: &Path, f: &str| std::fs::read(d.join(f)).unwrap();
    // The command line names the output directory, so compare with it blanked.
    let strip = |bytes: Vec<u8>, dir: &Path| String::from_utf8(bytes).unwrap().replace(dir.to_str().unwrap(), "OUT");
    assert_eq!(strip(read(a.path(), "findings.json"), a.path()), strip(read(b.path(), "findings.json"), b.path()));
    let strip_html = |bytes: Vec<u8>, dir: &Path| {
        String::from_utf8(bytes).unwrap().replace(&dir.to_str().unwrap().replace('/', "&#x2F;"), "OUT")
    };
    assert_eq!(
        strip_html(read(a.path(), "report.html"), a.path()),
        strip_html(read(b.path(), "report.html"), b.path())
    );
    for f in std::fs::read_dir(a.path().join("evidence")).unwrap() {
        let name = f.unwrap().file_name();
        let rel = format!("evidence/{}", name.to_string_lossy());
        assert_eq!(read(a.path(), &rel), read(b.path(), &rel), "{rel}");
    }
    assert_eq!(read(a.path(), "rejected/transactions.csv"), read(b.path(), "rejected/transactions.csv"));
}
