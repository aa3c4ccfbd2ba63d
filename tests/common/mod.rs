//! Helpers shared by the integration tests: run the binary, read findings.json.
#![allow(dead_code)] // each test file uses a different subset

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

pub const RULES: &str = "rules/cn-interconnection-2021.toml";

/// Runs `hutong` with the given arguments and a fixed SOURCE_DATE_EPOCH.
pub fn hutong(args: &[&str]) -> Output {
    command(args).output().unwrap()
}

fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hutong"));
    c.args(args).env("SOURCE_DATE_EPOCH", "1700000000");
    c
}

/// [`run`] with the progress lines on stderr.
pub fn run_showing_progress(args: &[&str]) -> (Option<i32>, String, String) {
    let o = command(args).env("HUTONG_PROGRESS", "1").output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Runs `hutong`: exit code, stdout and stderr as text.
pub fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let o = hutong(args);
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

/// `hutong audit --quiet` of `data` with the shipped rulebook into `out`, as run.
pub fn audit_output(data: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["audit", "--rules", RULES, "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap()];
    args.push("--quiet");
    args.extend_from_slice(extra);
    hutong(&args)
}

/// Audits `data` with the shipped rulebook into `out`: the exit code and findings.json.
pub fn audit(data: &Path, out: &Path, extra: &[&str]) -> (Option<i32>, Value) {
    let o = audit_output(data, out, extra);
    assert!(o.status.code() != Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(out.join("findings.json")).unwrap()).unwrap();
    (o.status.code(), v)
}

pub fn finding<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == id).unwrap_or_else(|| panic!("no finding {id}"))
}

/// A group's key as "k=v,k=v".
pub fn key_text(g: &Value) -> String {
    let pairs = g["key"].as_object().unwrap().iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap()));
    pairs.collect::<Vec<_>>().join(",")
}

/// The groups of a finding with the given verdict, as key texts.
pub fn groups_with(f: &Value, verdict: &str) -> Vec<String> {
    let groups = f["groups"].as_array().unwrap().iter();
    let mut out: Vec<String> = groups.filter(|g| g["verdict"] == verdict).map(key_text).collect();
    out.sort();
    out
}

pub fn group<'a>(f: &'a Value, key: &str) -> &'a Value {
    let mut groups = f["groups"].as_array().unwrap().iter();
    groups.find(|g| key_text(g) == key).unwrap_or_else(|| panic!("no group {key}"))
}

/// The rows of a finding's evidence file.
pub fn evidence(out: &Path, f: &Value) -> Vec<csv::StringRecord> {
    let file = f["evidence"]["file"].as_str().expect("evidence file");
    let mut rdr = csv::Reader::from_path(out.join(file)).unwrap();
    rdr.records().map(|r| r.unwrap()).collect()
}

/// The head of a test rulebook: Alipay (taobao's own), UnionPay and WeChat
/// Pay (wechat_mp's own); tests append `[[rules]]`.
pub const HEADER: &str = r#"
[rulebook]
id = "t"
title = "test"
version = "1"
jurisdiction = "CN"
effective = 2021-09-01

[providers.alipay]
name = "Alipay"
aliases = ['^alipay']
affiliated_platforms = ["taobao"]

[providers.unionpay]
name = "UnionPay"
aliases = ['unionpay', '云闪付']

[providers.wechat_pay]
name = "WeChat Pay"
aliases = ['^wechat']
affiliated_platforms = ["wechat_mp"]
"#;
