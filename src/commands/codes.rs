//! `hutong codes FILE`: reads collection-code payloads (one per line, or the
//! `payload` column of a CSV) and prints, per payload, its format, validity,
//! CRC, schemes and merchant fields. Exit 0 when every payload is valid, 1
//! when some are not, 2 when the file cannot be read.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context as _};
use serde::Serialize;

use crate::cli::{CodesArgs, TextOrJson};
use crate::codes::{self, Alternate, CodeError, Crc, Initiation, Payload, Template};
use crate::engine::kinds;
use crate::rulebook::{code_schemes, Provider};
use crate::text::terminal;

/// One payload as `codes` reports it.
#[derive(Debug, Serialize)]
pub struct Report {
    pub line: u64,
    pub format: &'static str,
    pub valid: bool,
    pub crc: Option<Crc>,
    pub initiation: Option<Initiation>,
    pub schemes: Vec<String>,
    pub merchant_name: Option<String>,
    pub merchant_city: Option<String>,
    pub country: Option<String>,
    pub currency: Option<String>,
    pub mcc: Option<String>,
    pub amount: Option<String>,
    pub templates: Vec<Template>,
    pub reserved_tags: Vec<String>,
    /// URL codes: the issuer a known form names.
    pub issuer: Option<&'static str>,
    pub alternate: Option<Alternate>,
    pub errors: Vec<CodeError>,
}

impl Report {
    fn of(line: u64, p: Payload, providers: &[Provider]) -> Report {
        let schemes = code_schemes(providers, &p);
        Report {
            line,
            format: p.format.name(),
            valid: p.valid,
            crc: p.crc,
            initiation: p.initiation,
            schemes,
            merchant_name: p.merchant_name,
            merchant_city: p.merchant_city,
            country: p.country,
            currency: p.currency,
            mcc: p.mcc,
            amount: p.amount,
            templates: p.templates,
            reserved_tags: p.reserved_tags,
            issuer: p.url.as_ref().and_then(|u| u.issuer),
            alternate: p.alternate,
            errors: p.errors,
        }
    }
}

pub fn run_cli(args: &CodesArgs) -> anyhow::Result<u8> {
    let providers = match &args.rules {
        Some(path) => kinds::load(path)?.providers,
        None => Vec::new(),
    };
    let reports: Vec<Report> = payloads(&args.file)?
        .into_iter()
        .map(|(line, text)| Report::of(line, codes::read(&text), &providers))
        .collect();
    let mut out = std::io::stdout().lock();
    match args.format {
        TextOrJson::Json => {
            serde_json::to_writer_pretty(&mut out, &reports)?;
            writeln!(out)?;
        }
        TextOrJson::Text => {
            for r in &reports {
                writeln!(out, "{}", terminal(&text_line(r)))?;
            }
            let bad = reports.iter().filter(|r| !r.valid).count();
            writeln!(out, "{} payloads: {} valid, {bad} not", reports.len(), reports.len() - bad)?;
        }
    }
    Ok(u8::from(reports.iter().any(|r| !r.valid)))
}

fn text_line(r: &Report) -> String {
    let mut s = format!("line {}: {} {}", r.line, r.format, if r.valid { "valid" } else { "INVALID" });
    if !r.schemes.is_empty() {
        s.push_str(&format!("; schemes {}", r.schemes.join(", ")));
    }
    if let Some(name) = &r.merchant_name {
        let place: Vec<&str> = [r.merchant_city.as_deref(), r.country.as_deref()].into_iter().flatten().collect();
        s.push_str(&format!("; {name}"));
        if !place.is_empty() {
            s.push_str(&format!(" ({})", place.join(", ")));
        }
    }
    for e in &r.errors {
        s.push_str(&format!("\n  at character {}: {}", e.offset, e.message));
    }
    s
}

/// The payloads of a file (`-`: the standard input) with their line numbers:
/// the `payload` column of a CSV whose header has one, else every non-empty
/// line. UTF-8, or GB18030 when the bytes are not UTF-8.
pub fn payloads(path: &Path) -> anyhow::Result<Vec<(u64, String)>> {
    if path.is_dir() {
        bail!("{} is a directory; give a file of payloads", path.display());
    }
    let bytes = if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut buf).context("reading the standard input")?;
        buf
    } else {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
    };
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t.to_string(),
        Err(e) => {
            let (t, _, bad) = encoding_rs::GB18030.decode(bytes);
            if bad {
                bail!("{}: neither UTF-8 nor GB18030 (byte {})", path.display(), e.valid_up_to());
            }
            t.into_owned()
        }
    };
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let header: Vec<String> = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(first.as_bytes())
        .records()
        .next()
        .and_then(Result::ok)
        .map(|r| r.iter().map(|f| f.trim().to_ascii_lowercase()).collect())
        .unwrap_or_default();
    let Some(column) = header.iter().position(|h| h == "payload") else {
        return Ok(text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (i as u64 + 1, l.trim().to_string()))
            .collect());
    };
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let mut out = Vec::new();
    for record in rdr.records() {
        let record = record.with_context(|| format!("reading {} as CSV", path.display()))?;
        let line = record.position().map_or(0, |p| p.line());
        out.push((line, record.get(column).unwrap_or("").to_string()));
    }
    Ok(out)
}
