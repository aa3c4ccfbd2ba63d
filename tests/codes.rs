//! Collection-code payloads against published examples, with their CRCs,
//! and corrupted variants rejected at the right offset; `hutong codes`; the
//! code rule kinds on the sample, on fair data and in the SG and ID rulebooks.

use hutong::codes::{self, emv, Format, Initiation};

/// The EMVCo MPM specification's own example (Annex; merchant "BEST
/// TRANSPORT", Beijing, tag 64 in Chinese), also the fixture of open-source
/// parsers such as exemvi (Elixir) and emvqr (TypeScript).
const EMVCO: &str = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A";
/// PromptPay, phone number 080-123-4567: dtinth/promptpay-qr, index.test.js ("Local phone number").
const PROMPTPAY: &str = "00020101021129370016A000000677010111011300668012345675802TH530376463046197";
/// PromptPay with an amount of 4.22: dtinth/promptpay-qr, index.test.js ("Amount").
const PROMPTPAY_AMOUNT: &str = "00020101021229370016A000000677010111011300660000000005802TH530376454044.226304E469";
/// SGQR with PayNow: lee-ratinan/emv-qr, README.md (EmvMerchantDecoder example).
const SGQR: &str = "00020101021126490009SG.PAYNOW010120210202012345X0301104082021123151820007SG.SGQR0113202012345X123020701.000103068286710402010503123060400000708201912315204000053037025802SG5911RATINAN LEE6009SINGAPORE610682876162140110987654321X630429FD";
/// Pix: Banco Central do Brasil, Manual do BR Code (random key, no amount);
/// also in brazilian-utils' `isValidPixPayload` documentation.
const PIX: &str = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D";

fn guids(p: &codes::Payload) -> Vec<String> {
    p.templates.iter().filter_map(|t| t.guid.clone()).collect()
}

#[test]
fn the_emvco_specification_example() {
    let p = codes::read(EMVCO);
    assert_eq!(p.format, Format::EmvMpm);
    assert!(p.valid, "{:?}", p.errors);
    let crc = p.crc.as_ref().unwrap();
    assert_eq!((crc.expected.as_str(), crc.found.as_str()), ("A13A", "A13A"));
    assert_eq!(p.initiation, Some(Initiation::Dynamic));
    assert_eq!(guids(&p), ["D15600000000", "D15600000001"]);
    assert_eq!(p.mcc.as_deref(), Some("4111"));
    assert_eq!(p.currency.as_deref(), Some("156"));
    assert_eq!(p.amount.as_deref(), Some("23.72"));
    assert_eq!(p.country.as_deref(), Some("CN"));
    assert_eq!(p.merchant_name.as_deref(), Some("BEST TRANSPORT"));
    assert_eq!(p.merchant_city.as_deref(), Some("BEIJING"));
    let alt = p.alternate.as_ref().unwrap();
    assert_eq!(alt.language.as_deref(), Some("ZH"));
    assert_eq!(alt.merchant_name.as_deref(), Some("最佳运输"));
    assert_eq!(alt.merchant_city.as_deref(), Some("北京"));
    // 244 characters, 248 with the CRC; the CRC is over UTF-8 bytes.
    assert_eq!(EMVCO.chars().count(), 248);
}

#[test]
fn promptpay_sgqr_and_pix_examples() {
    let p = codes::read(PROMPTPAY);
    assert!(p.valid, "{:?}", p.errors);
    assert_eq!(p.crc.as_ref().unwrap().found, "6197");
    assert_eq!(p.initiation, Some(Initiation::Static));
    assert_eq!(guids(&p), ["A000000677010111"]);
    assert_eq!((p.country.as_deref(), p.currency.as_deref()), (Some("TH"), Some("764")));
    assert_eq!(p.merchant_name, None);
    let p = codes::read(PROMPTPAY_AMOUNT);
    assert!(p.valid, "{:?}", p.errors);
    assert_eq!((p.crc.as_ref().unwrap().expected.as_str(), p.amount.as_deref()), ("E469", Some("4.22")));

    let p = codes::read(SGQR);
    assert!(p.valid, "{:?}", p.errors);
    assert_eq!(p.crc.as_ref().unwrap().expected, "29FD");
    assert_eq!(guids(&p), ["SG.PAYNOW", "SG.SGQR"]);
    assert_eq!(p.templates.iter().map(|t| t.tag.as_str()).collect::<Vec<_>>(), ["26", "51"]);
    assert_eq!((p.merchant_name.as_deref(), p.merchant_city.as_deref()), (Some("RATINAN LEE"), Some("SINGAPORE")));

    let p = codes::read(PIX);
    assert!(p.valid, "{:?}", p.errors);
    assert_eq!(p.crc.as_ref().unwrap().expected, "1D3D");
    assert_eq!(guids(&p), ["br.gov.bcb.pix"]);
    assert_eq!(
        (p.mcc.as_deref(), p.currency.as_deref(), p.country.as_deref()),
        (Some("0000"), Some("986"), Some("BR"))
    );
    assert_eq!(p.merchant_name.as_deref(), Some("Fulano de Tal"));
}

fn first_error(text: &str) -> (usize, String) {
    let p = codes::read(text);
    assert!(!p.valid, "{text}");
    let e = p.errors.first().unwrap();
    (e.offset, e.message.clone())
}

#[test]
fn corrupted_payloads_are_rejected_with_the_right_error_and_offset() {
    // One character of the merchant name changed: only the CRC tells.
    let changed = PIX.replacen("Fulano", "Fulana", 1);
    let (at, why) = first_error(&changed);
    assert_eq!(at, PIX.len() - 4);
    assert!(why.starts_with("CRC is 1D3D, the payload's content gives "), "{why}");
    // The CRC missing altogether.
    let missing = &PIX[..PIX.len() - 8];
    assert_eq!(first_error(missing), (missing.len(), "the CRC (tag 63) is missing".to_string()));
    // Truncated in the middle of the merchant city: tag 60 at 106, its
    // length at 108 says 8 characters, 4 of BRASILIA are left.
    let cut = &PIX[..114];
    assert_eq!(first_error(cut), (108, "tag 60 says 8 characters but only 4 are left".to_string()));
    // A wrong length: tag 59 says 14 characters for a 13-character name, so
    // everything after it is misread; the CRC can no longer be found last.
    let wrong = PIX.replacen("5913Fulano", "5914Fulano", 1);
    let p = codes::read(&wrong);
    assert!(!p.valid);
    assert!(p.errors.iter().any(|e| e.message.contains("CRC")), "{:?}", p.errors);
    // Offsets count characters, not bytes: a CRC error after Chinese text.
    let emv = EMVCO.replacen("最佳运输", "最佳运送", 1);
    assert_eq!(first_error(&emv).0, EMVCO.chars().count() - 4);
    // The format indicator must be first, and the CRC must be last.
    assert_eq!(first_error("hello").0, 0);
    let no_indicator = format!("01021100{}", &PROMPTPAY[4..]);
    assert_eq!(codes::read(&no_indicator).format, Format::Unknown);
}

#[test]
fn a_mandatory_tag_missing_is_an_error_at_the_end() {
    // A payload without a merchant name (tag 59), with a correct CRC.
    let p = emv::encode(&[
        ("01".into(), "11".into()),
        ("26".into(), emv::tlv("00", "com.example")),
        ("52".into(), "5812".into()),
        ("53".into(), "702".into()),
        ("58".into(), "SG".into()),
        ("60".into(), "Singapore".into()),
    ]);
    let len = p.chars().count();
    assert_eq!(first_error(&p), (len, "mandatory tag 59 (merchant name) is missing".to_string()));
}

#[test]
fn encoding_then_reading_gives_the_fields_back() {
    use proptest::prelude::*;
    let text = "[A-Za-z0-9 .一-龥]{1,20}";
    proptest!(ProptestConfig::with_cases(200), |(
        name in text, city in "[A-Za-z ]{1,15}", guid in "[A-Za-z0-9.]{1,32}",
        mcc in "[0-9]{4}", currency in "[0-9]{3}", amount in proptest::option::of("[0-9]{1,6}\\.[0-9]{2}"),
        dynamic in any::<bool>(), local in proptest::option::of("[一-龥]{1,10}"),
    )| {
        let mut objects = vec![
            ("01".to_string(), if dynamic { "12" } else { "11" }.to_string()),
            ("29".to_string(), emv::tlv("00", &guid) + &emv::tlv("01", "12345678")),
            ("52".to_string(), mcc.clone()),
            ("53".to_string(), currency.clone()),
        ];
        if let Some(a) = &amount {
            objects.push(("54".to_string(), a.clone()));
        }
        objects.extend([("58".to_string(), "CN".to_string()), ("59".to_string(), name.clone()), ("60".to_string(), city.clone())]);
        if let Some(l) = &local {
            objects.push(("64".to_string(), emv::tlv("00", "ZH") + &emv::tlv("01", l)));
        }
        let payload = emv::encode(&objects);
        let p = codes::read(&payload);
        prop_assert!(p.valid, "{} {:?}", payload, p.errors);
        prop_assert_eq!(p.initiation, Some(if dynamic { Initiation::Dynamic } else { Initiation::Static }));
        prop_assert_eq!(guids(&p), vec![guid.clone()]);
        prop_assert_eq!(p.mcc, Some(mcc));
        prop_assert_eq!(p.currency, Some(currency));
        prop_assert_eq!(p.amount, amount);
        prop_assert_eq!(p.merchant_name, Some(name));
        prop_assert_eq!(p.merchant_city, Some(city));
        prop_assert_eq!(p.alternate.and_then(|a| a.merchant_name), local);
    });
}

#[test]
fn any_text_is_read_without_panicking() {
    use proptest::prelude::*;
    proptest!(ProptestConfig::with_cases(500), |(bytes in proptest::collection::vec(any::<u8>(), 0..300), prefix in any::<bool>())| {
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        if prefix {
            text = format!("000201{text}");
        }
        let p = codes::read(&text);
        prop_assert_eq!(p.valid, p.errors.is_empty());
        for e in &p.errors {
            prop_assert!(e.offset <= text.trim().chars().count());
        }
    });
    // Mutations of a valid payload (the fuzz target's check): one character
    // changed, dropped or doubled is read without panic and never valid
    // unless the payload is unchanged (surrounding whitespace aside) or only
    // the case of its CRC's hex digits changed (the same checksum).
    proptest!(ProptestConfig::with_cases(500), |(at in 0usize..137, c in proptest::char::any(), how in 0u8..3)| {
        let mut chars: Vec<char> = PIX.chars().collect();
        match how {
            0 => chars[at] = c,
            1 => { chars.remove(at); }
            _ => chars.insert(at, c),
        }
        let text: String = chars.iter().collect();
        let p = codes::read(&text);
        let (got, want): (Vec<char>, Vec<char>) = (text.trim().chars().collect(), PIX.chars().collect());
        let crc = want.len() - 4;
        let same = got.len() == want.len()
            && got[..crc] == want[..crc]
            && got[crc..].iter().zip(&want[crc..]).all(|(a, b)| a.eq_ignore_ascii_case(b));
        if same {
            prop_assert!(p.valid, "{}", text);
        } else if p.valid {
            // A changed payload may still carry its own checksum: CRC-16
            // collides for about one change in 65,536 (found: `g` of
            // `br.gov.bcb.pix` changed to U+B1674 keeps 1D3D). Valid then
            // only with the checksum recomputed over the changed text.
            let body: String = got[..got.len() - 4].iter().collect();
            let stated: String = got[got.len() - 4..].iter().collect();
            prop_assert_eq!(emv::crc_text(&body), stated.to_ascii_uppercase(), "{}", text);
        }
    });
}

#[test]
fn a_changed_payload_that_keeps_its_checksum_is_read_as_valid() {
    // Computed apart from hutong: the CRC-16 of the changed text up to `6304`
    // is 1D3D, as the original's.
    let changed = PIX.replacen("br.gov", "br.\u{b1674}ov", 1);
    assert_eq!(emv::crc_text(changed.strip_suffix("1D3D").unwrap()), "1D3D");
    assert!(codes::read(&changed).valid, "{changed}");
}

fn hutong(args: &[&str]) -> (Option<i32>, String, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_hutong"))
        .args(args)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn the_codes_command_classifies_a_mixed_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("codes.txt");
    let bad_crc = format!("{}0000", &PROMPTPAY[..PROMPTPAY.len() - 4]);
    let lines = [
        EMVCO,
        "https://qr.alipay.com/fkx01234abcdef",
        "wxp://f2f0hWbV6_bz3Fk0WyM8ZQF1ZbRNkNmQgaSu",
        "",
        "HTTPS://QR.95516.COM/00010000/62220000000000123",
        "garbage \u{1b}[31m",
        &bad_crc,
        "https://example.com/pay",
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (code, out, err) = hutong(&["codes", file.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, Some(1), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v.as_array().unwrap();
    let got: Vec<(u64, &str, bool)> = rows
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["format"].as_str().unwrap(), r["valid"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (1, "emv_mpm", true),
            (2, "url", true),
            (3, "url", true),
            (5, "url", true),
            (6, "unknown", false),
            (7, "emv_mpm", false),
            (8, "url", false)
        ]
    );
    // Without a rulebook: raw identifiers and the URL forms' issuers.
    let schemes = |r: &serde_json::Value| -> Vec<String> {
        r["schemes"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
    };
    assert_eq!(schemes(&rows[0]), ["D15600000000", "D15600000001"]);
    assert_eq!(schemes(&rows[3]), ["unionpay"]);
    assert_eq!(rows[5]["crc"]["expected"], "6197");
    assert_eq!(rows[5]["crc"]["found"], "0000");
    assert_eq!(rows[5]["errors"][0]["offset"], 70);
    // With the CN rulebook: provider ids from url_hosts and url_schemes.
    let (_, out, _) =
        hutong(&["codes", file.to_str().unwrap(), "--format", "json", "--rules", "rules/cn-interconnection-2021.toml"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mapped: Vec<Vec<String>> = v.as_array().unwrap()[1..4].iter().map(schemes).collect();
    assert_eq!(mapped, [vec!["alipay"], vec!["wechat_pay"], vec!["unionpay"]]);
    // Text output escapes the control character; all-valid input exits 0.
    let (_, text, _) = hutong(&["codes", file.to_str().unwrap()]);
    assert!(text.contains("line 6: unknown INVALID") && !text.contains('\u{1b}'), "{text}");
    assert!(text.ends_with("7 payloads: 4 valid, 3 not\n"), "{text}");
    std::fs::write(&file, format!("{PIX}\n{SGQR}\n")).unwrap();
    assert_eq!(hutong(&["codes", file.to_str().unwrap()]).0, Some(0));
    // A CSV with a payload column: lines are the records' lines.
    let csv = dir.path().join("codes.csv");
    std::fs::write(&csv, format!("code_id,payload\nA,{PIX}\nB,nonsense\n")).unwrap();
    let (code, out, _) = hutong(&["codes", csv.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v[0]["line"].as_u64(), v[1]["line"].as_u64()), (Some(2), Some(3)));
    // `-` reads the standard input.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hutong"))
        .args(["codes", "-", "--format", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), format!("{PROMPTPAY}\n").as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["crc"]["found"], "6197");
    // Unreadable input: exit 2.
    assert_eq!(hutong(&["codes", dir.path().join("missing.txt").to_str().unwrap()]).0, Some(2));
    assert_eq!(hutong(&["codes", dir.path().to_str().unwrap()]).0, Some(2));
}

fn finding<'a>(v: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    v["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == id).unwrap()
}

#[test]
fn an_audit_with_codes_finds_the_planted_non_interoperable_cities() {
    let out = tempfile::tempdir().unwrap();
    let (code, _, err) = hutong(&[
        "audit",
        "--rules",
        "rules/cn-interconnection-2021.toml",
        "--data",
        "testdata/sample",
        "--out",
        out.path().to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(code, Some(1), "{err}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("findings.json")).unwrap()).unwrap();
    let f = finding(&v, "CN-QR-01");
    assert_eq!(f["verdict"], "fail");
    // 27 shops per pilot city, three codes each (Alipay, WeChat Pay, UnionPay).
    for g in f["groups"].as_array().unwrap() {
        let region = g["key"]["region"].as_str().unwrap();
        let failing = region == "440300" || region == "610100";
        assert_eq!(g["verdict"] == "fail", failing, "{region}: {g}");
        if failing {
            // The planted dead cell makes one code in three unpayable; the
            // other two rest on cells not yet shown live at 150 scans.
            assert_eq!(
                (g["n"].as_u64(), g["codes_ok"].as_u64(), g["codes_undetermined"].as_u64()),
                (Some(81), Some(0), Some(54))
            );
        }
    }
    let evidence = std::fs::read_to_string(out.path().join("evidence/CN-QR-01.csv")).unwrap();
    let unpayable = evidence.lines().filter(|l| l.contains("cannot pay")).count();
    assert_eq!(unpayable, 27 + 27, "{evidence}");
    assert!(evidence.contains("WeChat Pay cannot pay UnionPay Cloud QuickPass codes in 440300"));
    assert!(evidence.contains("UnionPay Cloud QuickPass cannot pay Alipay codes in 610100: no scans observed"));
    // The codes dataset is accounted for like the others: of the planted
    // dirty rows, a bad timestamp and a missing payload are rejected; a bad
    // CRC and a malformed URL are read (and are not valid codes).
    let codes = v["inputs"].as_array().unwrap().iter().find(|i| i["dataset"] == "codes").unwrap();
    assert_eq!((codes["rows_read"].as_u64(), codes["rows_rejected"].as_u64()), (Some(904), Some(2)));
    assert_eq!(codes["rejected_by_reason"]["invalid_timestamp:captured_at"], 1);
    assert_eq!(codes["rejected_by_reason"]["missing_value:payload"], 1);
}

#[test]
fn fair_codes_never_fail() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    for seed in ["3", "11"] {
        let (code, _, err) =
            hutong(&["generate", "--out", data.path().to_str().unwrap(), "--plant", "none", "--seed", seed]);
        assert_eq!(code, Some(0), "{err}");
        let (_, _, err) = hutong(&[
            "audit",
            "--rules",
            "rules/cn-interconnection-2021.toml",
            "--data",
            data.path().to_str().unwrap(),
            "--out",
            out.path().to_str().unwrap(),
            "--quiet",
        ]);
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.path().join("findings.json")).unwrap()).unwrap();
        assert_ne!(finding(&v, "CN-QR-01")["verdict"], "fail", "seed {seed}: {err}");
    }
}

#[test]
fn the_sg_and_id_rulebooks_find_their_planted_violations() {
    for (rules, data, want) in [
        ("rules/sg-sgqr.toml", "testdata/sg-sample", [("SG-QR-01", "Bedok", 54), ("SG-QR-02", "Woodlands", 42)]),
        ("rules/id-qris.toml", "testdata/id-sample", [("ID-QR-01", "51", 54), ("ID-QR-02", "32", 45)]),
    ] {
        let out = tempfile::tempdir().unwrap();
        let (code, _, err) =
            hutong(&["audit", "--rules", rules, "--data", data, "--out", out.path().to_str().unwrap(), "--quiet"]);
        assert_eq!(code, Some(1), "{rules}: {err}");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.path().join("findings.json")).unwrap()).unwrap();
        for (id, region, ok) in want {
            let f = finding(&v, id);
            assert_eq!(f["verdict"], "fail", "{id}");
            for g in f["groups"].as_array().unwrap() {
                let planted = g["key"]["region"] == region;
                assert_eq!(g["verdict"] == "fail", planted, "{id}: {g}");
                if planted {
                    assert_eq!((g["n"].as_u64(), g["codes_ok"].as_u64()), (Some(60), Some(ok)), "{id}");
                }
            }
            assert!(out.path().join(format!("evidence/{id}.csv")).is_file());
        }
    }
}
