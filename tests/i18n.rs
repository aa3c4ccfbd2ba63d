//! The report's languages: the Chinese edition of the sample meets no
//! English fixed text (scanned against the English catalogue), marks text a
//! rulebook gives in one language only, and rulebooks give text in both.

use std::path::Path;
use std::process::Command;

const RULES: &str = "rules/cn-interconnection-2021.toml";

fn audit(rules: &str, out: &Path, extra: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_hutong"))
        .args(["audit", "--rules", rules, "--data", "testdata/sample", "--out", out.to_str().unwrap(), "--quiet"])
        .args(extra)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(out.join("report.html")).unwrap()
}

/// The text a reader sees: no script, style or tags, entities decoded.
fn visible_text(html: &str) -> String {
    let blocks = regex::Regex::new(r"(?s)<(script|style)[^>]*>.*?</(script|style)>").unwrap();
    let tags = regex::Regex::new(r"(?s)<[^>]*>").unwrap();
    let text = tags.replace_all(&blocks.replace_all(html, " "), " ").to_string();
    text.replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The literal pieces of the English catalogue's texts (between `{holes}`)
/// that a Chinese reader could meet: pieces with words, names excepted.
fn english_pieces() -> Vec<(String, String)> {
    let catalogue: toml::Table = toml::from_str(&std::fs::read_to_string("reports/i18n/en.toml").unwrap()).unwrap();
    let hole = regex::Regex::new(r"\{[a-z_0-9]+\}").unwrap();
    // Proper names and notation the Chinese edition keeps as they are.
    let kept = ["SHA-256", "HHI", "CR1", "CR2", "CR3", "hutong", "findings.json", "txn_id"];
    let mut pieces = Vec::new();
    for (key, value) in catalogue["ui"].as_table().unwrap() {
        for piece in hole.split(value.as_str().unwrap()) {
            let piece = piece.trim_matches(|c: char| !c.is_alphanumeric());
            let words: Vec<&str> = piece.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| w.len() >= 3).collect();
            if words.is_empty() || kept.contains(&piece) {
                continue;
            }
            pieces.push((key.clone(), piece.to_string()));
        }
    }
    pieces
}

#[test]
fn the_chinese_edition_has_no_english_fixed_text() {
    let out = tempfile::tempdir().unwrap();
    let html = audit(RULES, out.path(), &["--lang", "zh-CN"]);
    assert!(html.contains(r#"<html lang="zh-CN">"#));
    let text = visible_text(&html);
    let pieces = english_pieces();
    assert!(pieces.len() > 200, "{}", pieces.len());
    let mut found = Vec::new();
    for (key, piece) in &pieces {
        let hit = if piece.contains(' ') {
            // A phrase: anywhere, in any case.
            text.to_lowercase().contains(&piece.to_lowercase())
        } else {
            // One word: as a word, as the catalogue writes it (a lower-case
            // word such as `codes` is also a dataset's file name).
            let word =
                regex::Regex::new(&format!(r"(^|[^A-Za-z_/.]){}([^A-Za-z_/.]|$)", regex::escape(piece))).unwrap();
            piece.starts_with(|c: char| c.is_ascii_uppercase()) && word.is_match(&text)
        };
        if hit {
            found.push(format!("{key}: {piece}"));
        }
    }
    assert!(found.is_empty(), "English fixed text in the zh-CN report:\n{}", found.join("\n"));
    // Nor English from elsewhere (the engine's wording, the rulebook): no run
    // of three English words. Names, ids and notation stand alone.
    let run = regex::Regex::new(r"[A-Za-z][A-Za-z'-]+(?:[ ,]+[A-Za-z][A-Za-z'-]+){2,}").unwrap();
    let runs: Vec<&str> = run.find_iter(&text).map(|m| m.as_str()).collect();
    assert!(runs.is_empty(), "English in the zh-CN report: {runs:?}");
    // The CN rulebook gives every title, rationale, citation and source in
    // Chinese, and every engine phrase of the sample has a translation: no
    // element falls back to English.
    assert!(!html.contains("data-fallback=\""), "an element falls back to English");
    // The Chinese words the reader does meet: the headings, the rule titles,
    // regions and providers by their Chinese names.
    for zh in ["审计结论一览", "摘要", "没有商户只提供其平台的自有支付方式", "440300 深圳市", "云闪付", "2021年9月1日"]
    {
        assert!(text.contains(zh), "`{zh}` missing from the zh-CN report");
    }
}

#[test]
fn every_text_the_report_asks_for_is_in_both_catalogues() {
    // A key missing from a catalogue shows as ⟦key⟧: none in any edition of
    // the sample, the hostile data, or an audit with baseline, waivers,
    // periods, redaction and embedded evidence.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "a key of at least sixteen bytes").unwrap();
    for lang in ["en", "zh-CN"] {
        let hostile = dir.path().join(format!("hostile-{lang}"));
        let o = Command::new(env!("CARGO_BIN_EXE_hutong"))
            .args(["audit", "--rules", RULES, "--data", "testdata/hostile", "--quiet", "--lang", lang])
            .args(["--out", hostile.to_str().unwrap()])
            .output()
            .unwrap();
        assert_ne!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
        let html = std::fs::read_to_string(hostile.join("report.html")).unwrap();
        assert!(!html.contains('⟦'), "a missing catalogue key in the hostile {lang} report");
        let out = dir.path().join(format!("all-{lang}"));
        let html = audit(
            RULES,
            &out,
            &[
                "--lang",
                lang,
                "--baseline",
                hostile.join("findings.json").to_str().unwrap(),
                "--waivers",
                "testdata/waivers.toml",
                "--as-of",
                "2022-01-01",
                "--period",
                "week",
                "--redact",
                "merchants",
                "--redact-key",
                key.to_str().unwrap(),
                "--embed-evidence",
            ],
        );
        assert!(!html.contains('⟦'), "a missing catalogue key in the {lang} report");
    }
}

#[test]
fn the_english_edition_is_unchanged_by_the_catalogue() {
    let out = tempfile::tempdir().unwrap();
    let html = audit(RULES, out.path(), &[]);
    assert!(html.contains(r#"<html lang="en">"#));
    let text = visible_text(&html);
    for en in ["Findings at a glance", "No merchant offers only its platform's own provider", "440300 Shenzhen 深圳市"]
    {
        assert!(text.contains(en), "`{en}` missing from the English report");
    }
    assert!(!text.contains("审计结论一览"));
}

#[test]
fn text_in_one_language_falls_back_with_a_mark() {
    // A rulebook whose rule titles are in English only: the Chinese edition
    // shows them in English, marked as such for the reader and for the
    // browser's language (`lang="en"`), not silently.
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(RULES).unwrap();
    let title = regex::Regex::new(r#"(?m)^title\.zh-CN = ".*"\n"#).unwrap();
    let english_only = title.replace_all(&source, "").to_string();
    let rules = dir.path().join("en-titles.toml");
    std::fs::write(&rules, english_only).unwrap();
    let out = dir.path().join("out");
    let html = audit(rules.to_str().unwrap(), &out, &["--lang", "zh-CN"]);
    assert!(
        html.contains(
            r#"<span lang="en" data-fallback="英文">No merchant offers only its platform&#x27;s own provider</span>"#
        ),
        "the English-only title is not marked"
    );
    // The rationale still has its Chinese text.
    assert!(html.contains("会话较少的商户列为“会话过少，无法判断”"));
}

#[test]
fn a_bilingual_text_names_known_languages_only() {
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(RULES).unwrap();
    let bad = source.replacen("title.zh-CN = ", "title.fr = ", 1);
    let rules = dir.path().join("bad.toml");
    std::fs::write(&rules, &bad).unwrap();
    let o =
        Command::new(env!("CARGO_BIN_EXE_hutong")).args(["rules", "check", rules.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    let line = bad.lines().position(|l| l.starts_with("title.fr = ")).unwrap() + 1;
    assert!(stderr.contains("unknown key `fr` in `title`"), "{stderr}");
    assert!(stderr.contains(&format!("bad.toml:{line}:")), "{stderr}");
    assert!(stderr.contains("languages: en, zh-CN"), "{stderr}");
}

#[test]
fn an_unknown_report_language_is_a_usage_error() {
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_hutong"))
        .args(["audit", "--rules", RULES, "--data", "testdata/sample", "--out", out.path().to_str().unwrap()])
        .args(["--lang", "fr"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown report language `fr`: expected one of en, zh-CN"));
}
