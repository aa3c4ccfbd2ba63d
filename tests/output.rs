//! Output safety: hutong removes only what it wrote, and keeps out of input
//! directories unless asked.

mod common;

use std::path::Path;
use std::process::Command;

use common::audit_output as audit;

/// Synthetic data without planted violations: the rules pass.
fn clean_data() -> tempfile::TempDir {
    let clean = tempfile::tempdir().unwrap();
    let g = Command::new(env!("CARGO_BIN_EXE_hutong"))
        .args(["generate", "--out", clean.path().to_str().unwrap(), "--plant", "none"])
        .output()
        .unwrap();
    assert!(g.status.success());
    clean
}

#[test]
fn stale_outputs_go_but_foreign_files_stay() {
    let out = tempfile::tempdir().unwrap();
    let o = audit(Path::new("testdata/sample"), out.path(), &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(out.path().join("evidence/CN-PL-03.csv").is_file());
    // A file of the user's own, named like an evidence file hutong never wrote.
    std::fs::write(out.path().join("evidence/MY-NOTES.csv"), "mine").unwrap();
    std::fs::write(out.path().join("notes.txt"), "mine").unwrap();
    // Data without plants: the rules pass, their evidence files are stale.
    let clean = clean_data();
    let o = audit(clean.path(), out.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!out.path().join("evidence/CN-PL-03.csv").exists(), "stale evidence removed");
    assert!(!out.path().join("rejected/transactions.csv").exists(), "stale rejected rows removed");
    assert_eq!(std::fs::read_to_string(out.path().join("evidence/MY-NOTES.csv")).unwrap(), "mine");
    assert_eq!(std::fs::read_to_string(out.path().join("notes.txt")).unwrap(), "mine");
    // No temporary files are left behind.
    for entry in walk(out.path()) {
        assert!(!entry.ends_with(".tmp"), "{entry}");
    }
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}

#[test]
fn out_inside_an_input_directory_is_refused_unless_asked() {
    let data = tempfile::tempdir().unwrap();
    for f in ["transactions.csv", "checkout.csv"] {
        std::fs::copy(Path::new("testdata/sample").join(f), data.path().join(f)).unwrap();
    }
    let inside = data.path().join("out");
    let o = audit(data.path(), &inside, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("which holds the input"));
    assert!(!inside.exists());
    let o = audit(data.path(), &inside, &["--out-inside-inputs"]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(inside.join("findings.json").is_file());
}

#[test]
fn inputs_are_never_modified() {
    let before: Vec<Vec<u8>> = ["transactions.csv", "checkout.csv", "merchants.csv"]
        .iter()
        .map(|f| std::fs::read(Path::new("testdata/sample").join(f)).unwrap())
        .collect();
    let out = tempfile::tempdir().unwrap();
    audit(Path::new("testdata/sample"), out.path(), &[]);
    let after: Vec<Vec<u8>> = ["transactions.csv", "checkout.csv", "merchants.csv"]
        .iter()
        .map(|f| std::fs::read(Path::new("testdata/sample").join(f)).unwrap())
        .collect();
    assert!(before == after);
}

#[test]
fn neither_a_rule_id_nor_the_manifest_can_reach_outside_out() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("out");
    // A rule id that would name a file two levels up is a rulebook error.
    let rules = std::fs::read_to_string(common::RULES).unwrap().replace("\"CN-PL-03\"", "\"../../ESCAPED\"");
    let bad = root.path().join("bad.toml");
    std::fs::write(&bad, rules).unwrap();
    let (code, _, err) = common::run(&[
        "audit",
        "--rules",
        bad.to_str().unwrap(),
        "--data",
        "testdata/sample",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("R012") && err.contains("rule id `../../ESCAPED`"), "{err}");
    assert!(!root.path().join("ESCAPED.csv").exists());
    // A manifest line that climbs out of --out is ignored with a warning, and
    // the file it names stays; the audit itself runs as usual.
    let victim = root.path().join("victim.csv");
    std::fs::write(&victim, "keep me").unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join(".hutong-outputs"), "evidence/../../victim.csv\n").unwrap();
    let o = audit(Path::new("testdata/sample"), &out, &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: ignoring `evidence/../../victim.csv`")
            && err.contains("would leave the output directory"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
}

#[test]
fn a_directory_an_older_hutong_wrote_as_plain_files_is_converted() {
    let out = tempfile::tempdir().unwrap();
    std::fs::create_dir(out.path().join("evidence")).unwrap();
    std::fs::write(out.path().join("findings.json"), "{}").unwrap();
    std::fs::write(out.path().join("evidence/CN-OLD-01.csv"), "old").unwrap();
    std::fs::write(out.path().join("evidence/MINE.csv"), "mine").unwrap();
    std::fs::write(out.path().join(".hutong-outputs"), "evidence/CN-OLD-01.csv\nfindings.json\n").unwrap();
    let o = audit(Path::new("testdata/sample"), out.path(), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    for name in ["findings.json", "report.html", "evidence", "rejected", ".hutong-outputs"] {
        let link = std::fs::read_link(out.path().join(name)).unwrap();
        assert_eq!(link, Path::new(".hutong/current").join(name));
    }
    assert!(std::fs::read_to_string(out.path().join("findings.json")).unwrap().contains("\"schema_version\""));
    assert!(!out.path().join("evidence/CN-OLD-01.csv").exists(), "the old run's evidence is gone");
    assert_eq!(std::fs::read_to_string(out.path().join("evidence/MINE.csv")).unwrap(), "mine");
    assert!(out.path().join("evidence/CN-PL-03.csv").is_file());
    // Only the current generation is left in the store.
    let store: Vec<String> = std::fs::read_dir(out.path().join(".hutong"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(store.len(), 2, "{store:?}");
}

#[test]
fn without_symbolic_links_outputs_are_published_file_by_file() {
    let out = tempfile::tempdir().unwrap();
    let run = |data: &Path| {
        Command::new(env!("CARGO_BIN_EXE_hutong"))
            .args(["audit", "--rules", common::RULES, "--data", data.to_str().unwrap(), "--out"])
            .arg(out.path())
            .arg("--quiet")
            .env("HUTONG_NO_SYMLINKS", "1")
            .output()
            .unwrap()
    };
    let o = run(Path::new("testdata/sample"));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot hold symbolic links"));
    for name in ["findings.json", "report.html", "evidence/CN-PL-03.csv", ".hutong-outputs"] {
        let meta = std::fs::symlink_metadata(out.path().join(name)).unwrap();
        assert!(meta.is_file(), "{name} is a plain file");
    }
    // A rerun on clean data removes the stale evidence it listed, as before.
    let clean = clean_data();
    assert_eq!(run(clean.path()).status.code(), Some(0));
    assert!(!out.path().join("evidence/CN-PL-03.csv").exists());
    assert!(out.path().join("findings.json").is_file());
}
