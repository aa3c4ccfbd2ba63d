//! Redacted editions: no original merchant id or name anywhere in the output
//! directory, stable keyed pseudonyms, small groups suppressed.

mod common;

use std::path::Path;

use serde_json::Value;

fn redacted(out: &Path, key: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["--redact-key", key.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = common::audit_output(Path::new("testdata/sample"), out, &args);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_str(&std::fs::read_to_string(out.join("findings.json")).unwrap()).unwrap()
}

/// Every regular file under a directory (links not followed: the store
/// holds the files the links lead to).
fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            files(&e.path(), out);
        } else if t.is_file() {
            out.push(e.path());
        }
    }
}

#[test]
fn a_redacted_directory_holds_no_merchant_id_or_name() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "a-secret-the-auditor-keeps-0123\n").unwrap();
    let out = dir.path().join("out");
    let v = redacted(&out, &key, &["--redact", "merchants", "--embed-evidence"]);
    let mut rdr = csv::Reader::from_path("testdata/sample/merchants.csv").unwrap();
    let mut secrets: Vec<String> = Vec::new();
    for r in rdr.records() {
        let r = r.unwrap();
        secrets.push(r[0].to_string());
        secrets.push(r[4].to_string());
    }
    assert_eq!(secrets.len(), 2000);
    let mut all = Vec::new();
    files(&out, &mut all);
    assert!(all.len() >= 20, "{all:?}");
    for path in &all {
        let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
        // The embedded evidence is base64: decode it too.
        let mut texts = vec![text.clone()];
        for part in text.split("base64,").skip(1) {
            use base64::Engine as _;
            let end = part.find('"').unwrap_or(part.len());
            texts.push(
                String::from_utf8_lossy(&base64::engine::general_purpose::STANDARD.decode(&part[..end]).unwrap())
                    .into_owned(),
            );
        }
        for t in &texts {
            if let Some(s) = secrets.iter().find(|s| t.contains(s.as_str())) {
                panic!("{} holds `{s}`", path.display());
            }
        }
    }
    // The edition is marked, with the key's id.
    let digest = {
        use sha2::Digest as _;
        let d = sha2::Sha256::digest(b"a-secret-the-auditor-keeps-0123");
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    assert_eq!(v["edition"]["redacted"], "merchants");
    assert_eq!(v["edition"]["min_group"], 10);
    assert_eq!(v["edition"]["key_id"], &digest[..8]);
    assert!(std::fs::read_to_string(out.join("report.html")).unwrap().contains("<strong>Redacted edition</strong>"));
    // The exclusive merchants are still 12, now as pseudonyms.
    let evidence = std::fs::read_to_string(out.join("evidence/CN-PL-03.csv")).unwrap();
    assert_eq!(evidence.lines().filter(|l| l.starts_with("taobao,M~")).count(), 12, "{evidence}");
    // The same key gives the same pseudonyms; another key others.
    let again = dir.path().join("again");
    redacted(&again, &key, &["--redact", "merchants"]);
    assert_eq!(std::fs::read_to_string(again.join("evidence/CN-PL-03.csv")).unwrap(), evidence);
    let other_key = dir.path().join("other");
    std::fs::write(&other_key, "another-secret-of-16-bytes-or-more").unwrap();
    let other = dir.path().join("other-out");
    redacted(&other, &other_key, &["--redact", "merchants"]);
    assert_ne!(std::fs::read_to_string(other.join("evidence/CN-PL-03.csv")).unwrap(), evidence);
}

#[test]
fn groups_under_min_group_are_suppressed_and_verdicts_kept() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "0123456789abcdef0123").unwrap();
    let plain = dir.path().join("plain");
    let o = common::audit_output(Path::new("testdata/sample"), &plain, &[]);
    assert_eq!(o.status.code(), Some(1));
    let p: Value = serde_json::from_str(&std::fs::read_to_string(plain.join("findings.json")).unwrap()).unwrap();
    let out = dir.path().join("out");
    let v = redacted(&out, &key, &["--redact", "all", "--min-group", "200"]);
    let mut suppressed = 0;
    for (f, pf) in v["findings"].as_array().unwrap().iter().zip(p["findings"].as_array().unwrap()) {
        assert_eq!(f["verdict"], pf["verdict"], "{}", f["rule_id"]);
        for (g, pg) in f["groups"].as_array().unwrap().iter().zip(pf["groups"].as_array().unwrap()) {
            let small = pg["n"].as_u64().unwrap() > 0 && pg["n"].as_u64().unwrap() < 200;
            assert_eq!(g["suppressed"] == true, small, "{} {}", f["rule_id"], g["key"]);
            if small {
                assert_eq!((g["n"].as_u64(), g["value"].is_null()), (Some(0), true));
                assert_eq!(g["verdict"], pg["verdict"]);
                suppressed += 1;
            }
        }
    }
    assert!(suppressed > 0);
    // The exclusive merchants' platform has fewer than 200 merchants: its
    // evidence rows are withheld with the group, so there is no file.
    assert!(!out.join("evidence/CN-PL-03.csv").exists());
    // `all` also withholds file paths and the command line.
    assert_eq!(v["inputs"][0]["files"][0]["path"], "transactions-1");
    assert_eq!(v["command"][2], "[redacted]");
    // Without a key: a usage error.
    let o = common::audit_output(Path::new("testdata/sample"), &dir.path().join("x"), &["--redact", "merchants"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--redact needs a key"));
}
