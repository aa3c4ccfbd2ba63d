//! The collection codes of the synthetic market's shops (`codes.csv`, also
//! beside Parquet logs): each
//! offline merchant shows one code per major provider, as Chinese shops did
//! before mutual recognition: Alipay and WeChat Pay URL codes, and UnionPay
//! as a URL or an EMV payload with UnionPay's reserved tag 15. The scan
//! plants decide which codes other apps cannot pay (Shenzhen: WeChat Pay
//! cannot pay UnionPay codes; Xi'an: Cloud QuickPass cannot pay Alipay
//! codes). With dirty rows, a few codes are corrupt and a few rows invalid.

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::model::Plant;
use super::{Config, GenerateError, Merchant, START};
use crate::codes::emv;

/// Separate from the logs' random stream, so codes never change the logs.
const STREAM: u64 = 0x636f_6465;

/// The English city names EMV payloads carry (tag 60, at most 15 characters).
fn city(region: &str) -> &'static str {
    match region {
        "110000" => "BEIJING",
        "120000" => "TIANJIN",
        "440100" => "GUANGZHOU",
        "440300" => "SHENZHEN",
        "510100" => "CHENGDU",
        "500000" => "CHONGQING",
        "610100" => "XIAN",
        "310000" => "SHANGHAI",
        "330100" => "HANGZHOU",
        "420100" => "WUHAN",
        "320100" => "NANJING",
        _ => "CHINA",
    }
}

fn token(rng: &mut ChaCha8Rng, alphabet: &[u8], n: usize) -> String {
    (0..n).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
}

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const DIGITS: &[u8] = b"0123456789";

/// One UnionPay EMV payload: reserved tag 15 with a merchant PAN.
fn unionpay_emv(m: &Merchant, rng: &mut ChaCha8Rng) -> String {
    emv::encode(&[
        ("01".into(), "11".into()),
        ("15".into(), format!("6222{}", token(rng, DIGITS, 12))),
        ("52".into(), m.mcc.into()),
        ("53".into(), "156".into()),
        ("58".into(), "CN".into()),
        ("59".into(), format!("SHOP {}", m.id)),
        ("60".into(), city(m.region).into()),
        ("64".into(), emv::tlv("00", "ZH") + &emv::tlv("01", &m.name)),
    ])
}

/// Writes `codes.csv` (or `.parquet`); returns its path and row count.
pub fn write(cfg: &Config, merchants: &[Merchant]) -> Result<(PathBuf, u64), GenerateError> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ STREAM);
    let span = i64::from(cfg.days) * 86_400;
    let mut rows: Vec<[String; 6]> = Vec::new();
    let when = |rng: &mut ChaCha8Rng| super::writer::timestamp(START + rng.random_range(0..span));
    for (k, m) in merchants.iter().filter(|m| m.platform == "offline").enumerate() {
        let unionpay = if k % 4 == 0 {
            unionpay_emv(m, &mut rng)
        } else {
            format!("https://qr.95516.com/00010000/{}", token(&mut rng, DIGITS, 17))
        };
        let shown = [
            format!("https://qr.alipay.com/fkx{}", token(&mut rng, ALNUM, 20)),
            format!("wxp://f2f0{}", token(&mut rng, ALNUM, 28)),
            unionpay,
        ];
        for payload in shown {
            rows.push([String::new(), when(&mut rng), m.region.into(), m.id.clone(), "offline".into(), payload]);
        }
    }
    if cfg.plants.contains(&Plant::DirtyRows) {
        if let Some(m) = merchants.iter().find(|m| m.platform == "offline") {
            let mut corrupt = unionpay_emv(m, &mut rng);
            // One character of the merchant PAN changed: only the CRC tells.
            // (The PAN of tag 15 starts at character 16.)
            corrupt.replace_range(20..21, if &corrupt[20..21] == "9" { "8" } else { "9" });
            let t = when(&mut rng);
            rows.push([String::new(), t.clone(), m.region.into(), m.id.clone(), "offline".into(), corrupt]);
            rows.push([
                String::new(),
                t.clone(),
                m.region.into(),
                m.id.clone(),
                "offline".into(),
                "https://qr.95516.com/abc".into(),
            ]);
            // Invalid rows: a timestamp that is no date, and no payload.
            rows.push([
                String::new(),
                "2021-13-45 99:00".into(),
                m.region.into(),
                m.id.clone(),
                "offline".into(),
                "wxp://f2f0x".into(),
            ]);
            rows.push([String::new(), t, m.region.into(), m.id.clone(), "offline".into(), String::new()]);
        }
    }
    for (i, r) in rows.iter_mut().enumerate() {
        r[0] = format!("C{:06}", i + 1);
    }
    // Always CSV: codes are a small field sample, read as text.
    let path = cfg.out.join("codes.csv");
    let names = crate::contract::Dataset::Codes.columns();
    let columns: Vec<Column> = names
        .iter()
        .enumerate()
        .map(|(i, c)| Column::new(c.name.into(), rows.iter().map(|r| r[i].clone()).collect::<Vec<_>>()))
        .collect();
    let mut df = DataFrame::new_infer_height(columns).map_err(pq(&path))?;
    let file = File::create(&path).map_err(|cause| GenerateError::Io { path: path.clone(), cause })?;
    CsvWriter::new(file).finish(&mut df).map_err(pq(&path))?;
    Ok((path, rows.len() as u64))
}

fn pq(path: &Path) -> impl FnOnce(PolarsError) -> GenerateError + '_ {
    move |cause| GenerateError::Parquet { path: path.to_path_buf(), cause }
}
