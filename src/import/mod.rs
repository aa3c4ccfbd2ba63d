//! `hutong import`: real exports (WeChat Pay bills, Alipay statements,
//! UnionPay reconciliation files, in-house logs) turned into the data contract
//! by a declarative profile. Each source line is read once, streaming: set
//! aside with a reason (preamble, summary, refund), rejected with a reason, or
//! staged as a contract row; the staged rows are then validated and written
//! exactly as `hutong convert` writes logs. Every line is accounted for in
//! `import.json`: rows read = imported + set aside + rejected.

pub mod map;
pub mod profile;
pub mod read;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ingest::convert::{self, OutputFormat};
use crate::ingest::rejects::RejectedRow;
use profile::Profile;
use read::{Outcome, Reader};

/// The provenance file an import leaves beside its output (read back by
/// `ingest` to say what an imported export lacks).
pub const IMPORT_JSON: &str = "import.json";

/// What `hutong import` is asked to do.
pub struct Request<'a> {
    pub profile: &'a Profile,
    pub files: &'a [PathBuf],
    pub out: &'a Path,
    /// `--set COLUMN=VALUE`: constants for contract columns.
    pub set: BTreeMap<String, String>,
    pub format: OutputFormat,
    /// `--file-date`: the date of files whose times have no year.
    pub file_date: Option<NaiveDate>,
}

/// `import.json`: the profile, the constants, and every row accounted for.
#[derive(Debug, Serialize, Deserialize)]
pub struct ImportReport {
    pub profile: ProfileRef,
    pub set: BTreeMap<String, String>,
    pub output: String,
    pub rows_read: u64,
    pub imported: u64,
    pub set_aside: u64,
    pub rejected: u64,
    pub set_aside_by_reason: BTreeMap<String, u64>,
    pub rejected_by_reason: BTreeMap<String, u64>,
    pub files: Vec<FileReport>,
    /// Contract columns the export cannot supply: rules needing them are not evaluable.
    pub lacks: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ProfileRef {
    pub id: String,
    pub title: String,
    pub origin: String,
    pub sha256: String,
}

#[derive(Debug, Serialize, Deserialize, Default, Clone)]
pub struct FileReport {
    pub path: String,
    /// The entry read inside a `.zip`, if any.
    pub entry: Option<String>,
    pub bytes: u64,
    pub sha256: String,
    pub rows_read: u64,
    pub imported: u64,
    pub set_aside: u64,
    pub rejected: u64,
}

/// How many lines between progress lines on stderr.
const PROGRESS_EVERY: u64 = 1_000_000;

/// The columns of the staging file that trace a row to its source.
const SOURCE_FILE: &str = "source_file";
const SOURCE_LINE: &str = "source_line";

/// Runs an import; the report is also written to `out/import.json`.
pub fn run(req: &Request, progress: &crate::progress::Progress) -> anyhow::Result<ImportReport> {
    let p = req.profile;
    let contract = p.dataset.columns();
    for column in req.set.keys() {
        if !contract.iter().any(|c| c.name == column) {
            bail!(
                "--set {column}=…: `{column}` is not a {} column of the data contract (expected one of {})",
                p.dataset,
                contract.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
            );
        }
    }
    let mapped = |name: &str| req.set.contains_key(name) || p.columns.iter().any(|(c, _)| c == name);
    let unsupplied: Vec<&str> = contract.iter().filter(|c| c.required && !mapped(c.name)).map(|c| c.name).collect();
    if !unsupplied.is_empty() {
        bail!(
            "the `{}` profile cannot supply {} (the export has no such column): give {} with --set COLUMN=VALUE, \
             e.g. --set {}=…",
            p.id,
            unsupplied.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "),
            if unsupplied.len() == 1 { "it" } else { "each" },
            unsupplied[0]
        );
    }
    for f in req.files {
        if !f.is_file() {
            bail!("{}: no such file", f.display());
        }
    }
    std::fs::create_dir_all(req.out).with_context(|| format!("creating {}", req.out.display()))?;
    let staging_dir = tempfile::Builder::new()
        .prefix(".hutong-import-")
        .tempdir_in(req.out)
        .with_context(|| format!("creating a staging directory in {}", req.out.display()))?;
    let _staging_guard = crate::cleanup::register(staging_dir.path());
    let columns: Vec<&str> = contract.iter().map(|c| c.name).filter(|n| mapped(n)).collect();
    let set_aside_path = req.out.join("set-aside.csv");
    let set_aside_tmp = staging_dir.path().join("set-aside.csv");
    let mut aside = csv::Writer::from_path(&set_aside_tmp)?;
    aside.write_record(["row", "file", "line", "reason", "raw"])?;
    let mut state = State {
        req,
        progress,
        columns: &columns,
        stage: Stage::new(staging_dir.path(), &columns, req.format, chunk_rows()),
        aside,
        rejected: Vec::new(),
        set_aside_by_reason: BTreeMap::new(),
        rejected_by_reason: BTreeMap::new(),
    };
    let mut files = Vec::new();
    for path in req.files {
        progress.stage(format!("reading {} with profile {}", path.display(), p.id));
        files.extend(state.file(path)?);
    }
    let State { rejected: mut rejected_rows, set_aside_by_reason, mut rejected_by_reason, stage, mut aside, .. } =
        state;
    aside.flush()?;
    drop(aside);
    progress.stage("validating the imported rows and writing them in the contract's form");
    let target = req.out.join(format!("{}.{}", p.dataset.name(), req.format.extension()));
    let validated = stage.finish(&target)?;
    // Rows the contract's validation rejected, traced back to their source line.
    let mut staged_rejects: BTreeMap<String, u64> = BTreeMap::new();
    for r in validated {
        let (file, line) = trace(&r.raw).unwrap_or_else(|| (r.file.clone(), r.line.unwrap_or(0)));
        *staged_rejects.entry(file.clone()).or_default() += 1;
        *rejected_by_reason.entry(r.reason.clone()).or_default() += 1;
        rejected_rows.push(RejectedRow { file, line: Some(line), record: r.record, reason: r.reason, raw: r.raw });
    }
    for f in files.iter_mut() {
        let lost = staged_rejects.get(&f.path).copied().unwrap_or(0);
        f.imported -= lost.min(f.imported);
        f.rejected += lost;
    }
    let rejected_file = req.out.join("rejected").join(format!("{}.csv", p.dataset.name()));
    if rejected_rows.is_empty() {
        if rejected_file.exists() {
            std::fs::remove_file(&rejected_file)?;
        }
    } else {
        rejected_rows.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        crate::output::write_atomic(&rejected_file, |path| crate::ingest::rejects::write_to(path, &rejected_rows))?;
    }
    std::fs::rename(&set_aside_tmp, &set_aside_path)
        .with_context(|| format!("moving {} into place", set_aside_path.display()))?;
    let sum = |f: fn(&FileReport) -> u64| files.iter().map(f).sum::<u64>();
    let report = ImportReport {
        profile: ProfileRef {
            id: p.id.clone(),
            title: p.title.clone(),
            origin: p.origin.clone(),
            sha256: p.sha256.clone(),
        },
        set: req.set.clone(),
        output: format!("{}.{}", p.dataset.name(), req.format.extension()),
        rows_read: sum(|f| f.rows_read),
        imported: sum(|f| f.imported),
        set_aside: sum(|f| f.set_aside),
        rejected: sum(|f| f.rejected),
        set_aside_by_reason,
        rejected_by_reason,
        files,
        lacks: p.lacks.iter().filter(|c| !req.set.contains_key(*c)).cloned().collect(),
    };
    crate::output::write_atomic(&req.out.join(IMPORT_JSON), |path| {
        let mut text = serde_json::to_string_pretty(&report).map_err(std::io::Error::other)?;
        text.push('\n');
        std::fs::write(path, text)
    })?;
    Ok(report)
}

/// Rows per staged chunk: each chunk is validated and written on its own, so
/// memory stays flat however long the export; the chunks' parts are then
/// joined into one file, streaming. `HUTONG_IMPORT_CHUNK_ROWS` overrides it
/// (tests use it to exercise several chunks on small fixtures).
const CHUNK_ROWS: u64 = 250_000;

fn chunk_rows() -> u64 {
    std::env::var("HUTONG_IMPORT_CHUNK_ROWS").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(CHUNK_ROWS)
}

/// Staged contract rows, in chunks validated and written as they fill.
struct Stage<'a> {
    dir: &'a Path,
    columns: &'a [&'a str],
    format: OutputFormat,
    limit: u64,
    /// The chunk being filled: its writer, path and rows.
    open: Option<(csv::Writer<File>, PathBuf, u64)>,
    parts: Vec<PathBuf>,
    rejected: Vec<RejectedRow>,
}

impl<'a> Stage<'a> {
    fn new(dir: &'a Path, columns: &'a [&'a str], format: OutputFormat, limit: u64) -> Stage<'a> {
        Stage { dir, columns, format, limit, open: None, parts: Vec::new(), rejected: Vec::new() }
    }

    /// Stages one row, with the source file and line it came from.
    fn push(&mut self, values: &[String], file: &str, line: u64) -> anyhow::Result<()> {
        if self.open.is_none() {
            let path = self.dir.join(format!("chunk-{:05}.csv", self.parts.len()));
            let mut w = csv::Writer::from_path(&path)?;
            w.write_record(self.columns.iter().copied().chain([SOURCE_FILE, SOURCE_LINE]))?;
            self.open = Some((w, path, 0));
        }
        if let Some((w, _, rows)) = self.open.as_mut() {
            let line = line.to_string();
            w.write_record(values.iter().map(String::as_str).chain([file, line.as_str()]))?;
            *rows += 1;
            if *rows >= self.limit {
                self.close()?;
            }
        }
        Ok(())
    }

    /// Validates and writes the open chunk as a part.
    fn close(&mut self) -> anyhow::Result<()> {
        let Some((mut w, path, _)) = self.open.take() else { return Ok(()) };
        w.flush()?;
        drop(w);
        let part_dir = self.dir.join(format!("part-{:05}", self.parts.len()));
        std::fs::create_dir(&part_dir)?;
        let spec =
            crate::ingest::InputSpec { transactions: Some(path.to_string_lossy().into_owned()), ..Default::default() };
        let inputs = crate::ingest::open(&spec, crate::ingest::IngestOptions::default())?;
        // Duplicate ids are the audit's to count: here they would cost memory
        // growing with the chunk.
        for c in convert::write_typed(&inputs, &part_dir, self.format, false)? {
            self.rejected.extend(c.rejected);
            self.parts.push(c.target);
        }
        drop(inputs);
        std::fs::remove_file(&path)?;
        Ok(())
    }

    /// Closes the last chunk and joins the parts into `target`; the rows the
    /// contract's validation rejected, as staged.
    fn finish(mut self, target: &Path) -> anyhow::Result<Vec<RejectedRow>> {
        if self.open.is_none() && self.parts.is_empty() {
            // No row at all: still write the (empty) file, with its header.
            let path = self.dir.join("chunk-empty.csv");
            let mut w = csv::Writer::from_path(&path)?;
            w.write_record(self.columns.iter().copied().chain([SOURCE_FILE, SOURCE_LINE]))?;
            self.open = Some((w, path, 0));
        }
        self.close()?;
        join(&self.parts, target, self.format)?;
        Ok(self.rejected)
    }
}

/// Joins the parts into one file at `target` (through a temporary name).
fn join(parts: &[PathBuf], target: &Path, format: OutputFormat) -> anyhow::Result<()> {
    let tmp = target.with_file_name(format!(
        ".{}.tmp",
        target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    if let [one] = parts {
        std::fs::rename(one, target).with_context(|| format!("moving {} into place", target.display()))?;
        return Ok(());
    }
    match format {
        OutputFormat::Csv => {
            let mut out = std::io::BufWriter::new(File::create(&tmp)?);
            for (i, part) in parts.iter().enumerate() {
                let mut input = BufReader::new(File::open(part)?);
                let mut header = Vec::new();
                input.read_until(b'\n', &mut header)?;
                if i == 0 {
                    std::io::Write::write_all(&mut out, &header)?;
                }
                std::io::copy(&mut input, &mut out)?;
            }
            std::io::Write::flush(&mut out)?;
        }
        OutputFormat::Parquet => {
            use polars::prelude::*;
            let scans = parts
                .iter()
                .map(|p| {
                    LazyFrame::scan_parquet(PlRefPath::new(p.to_string_lossy().as_ref()), ScanArgsParquet::default())
                })
                .collect::<PolarsResult<Vec<_>>>()?;
            let all = concat(scans, UnionArgs::default())?;
            let sink = all.sink(
                SinkDestination::File { target: SinkTarget::Path(PlRefPath::new(tmp.to_string_lossy().as_ref())) },
                FileWriteFormat::Parquet(std::sync::Arc::new(ParquetWriteOptions::default())),
                UnifiedSinkArgs::default(),
            )?;
            crate::exec::collect_all(vec![sink])?;
        }
    }
    std::fs::rename(&tmp, target).with_context(|| format!("moving {} into place", target.display()))?;
    Ok(())
}

/// The kind of a rejection reason: its text before the first `": "`.
fn category(reason: &str) -> String {
    reason.split_once(": ").map_or(reason, |(kind, _)| kind).to_string()
}

/// The source file and line of a staged row, from its last two fields.
fn trace(raw: &str) -> Option<(String, u64)> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(raw.as_bytes());
    let record = rdr.records().next()?.ok()?;
    let n = record.len();
    if n < 2 {
        return None;
    }
    Some((record.get(n - 2)?.to_string(), record.get(n - 1)?.parse().ok()?))
}

/// A reader that hashes (SHA-256) every byte read through it.
struct Hashing<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: std::io::Read> Hashing<R> {
    fn new(inner: R) -> Hashing<R> {
        use sha2::Digest;
        Hashing { inner, hasher: sha2::Sha256::new() }
    }

    /// Reads what is left, and returns the hash of everything, as hex.
    fn finish(mut self) -> std::io::Result<String> {
        use sha2::Digest;
        std::io::copy(&mut self.inner, &mut self.hasher)?;
        Ok(crate::digest::sha256_hex(&self.hasher.finalize()))
    }
}

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// What an import carries from file to file.
struct State<'a, 'r> {
    req: &'r Request<'r>,
    progress: &'r crate::progress::Progress,
    columns: &'a [&'a str],
    stage: Stage<'a>,
    aside: csv::Writer<File>,
    rejected: Vec<RejectedRow>,
    set_aside_by_reason: BTreeMap<String, u64>,
    rejected_by_reason: BTreeMap<String, u64>,
}

impl State<'_, '_> {
    /// Reads one input file (every matching entry of a `.zip`).
    fn file(&mut self, path: &Path) -> anyhow::Result<Vec<FileReport>> {
        let p = self.req.profile;
        let bytes = std::fs::metadata(path)?.len();
        let shown = path.display().to_string();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let is_zip = name.to_ascii_lowercase().ends_with(".zip");
        if !is_zip {
            let date = self.file_date(&name, &shown)?;
            let mut report = FileReport { path: shown.clone(), bytes, ..FileReport::default() };
            // The file is hashed as its lines are read: one read, however large.
            let mut input = Hashing::new(File::open(path)?);
            self.lines(BufReader::with_capacity(1 << 16, &mut input), &shown, date, &mut report)?;
            report.sha256 = input.finish()?;
            return Ok(vec![report]);
        }
        // A zip's entries are read decompressed: its own bytes are hashed apart.
        let sha256 = crate::ingest::sources::sha256_file(path)?;
        let base = FileReport { path: shown.clone(), bytes, sha256, ..FileReport::default() };
        let mut archive =
            zip::ZipArchive::new(File::open(path)?).with_context(|| format!("{shown}: not a readable zip file"))?;
        let mut out = Vec::new();
        for i in 0..archive.len() {
            let entry = archive.by_index(i).with_context(|| format!("{shown}: reading entry {i}"))?;
            if entry.is_dir() {
                continue;
            }
            // Names inside Chinese zips are GBK unless the UTF-8 flag is set.
            let raw = entry.name_raw().to_vec();
            let entry_name = std::str::from_utf8(&raw)
                .map(str::to_string)
                .ok()
                .or_else(|| read::decode(profile::Encoding::Gb18030, &raw))
                .unwrap_or_else(|| String::from_utf8_lossy(&raw).into_owned());
            let wanted = match &p.zip_entry {
                Some(r) => r.is_match(&entry_name),
                None => entry_name.to_ascii_lowercase().ends_with(".csv"),
            };
            if !wanted {
                continue;
            }
            let date = self.file_date(&entry_name, &shown)?;
            let mut report = FileReport { entry: Some(entry_name.clone()), ..base.clone() };
            let label = format!("{shown}!{entry_name}");
            report.path = label.clone();
            self.lines(BufReader::with_capacity(1 << 16, entry), &label, date, &mut report)?;
            out.push(report);
        }
        if out.is_empty() {
            bail!(
                "{shown}: no entry of the zip matches the profile's zip_entry `{}`",
                p.zip_entry.as_ref().map_or("*.csv".to_string(), |r| r.to_string())
            );
        }
        Ok(out)
    }

    /// The date of a file whose times have no year: `--file-date`, else from its name.
    fn file_date(&self, name: &str, shown: &str) -> anyhow::Result<Option<NaiveDate>> {
        if self.req.file_date.is_some() {
            return Ok(self.req.file_date);
        }
        let Some(r) = &self.req.profile.file_date else { return Ok(None) };
        let date = r.captures(name).and_then(|c| {
            let y: i32 = c.name("y")?.as_str().parse().ok()?;
            let y = if y < 100 { 2000 + y } else { y };
            NaiveDate::from_ymd_opt(y, c.name("m")?.as_str().parse().ok()?, c.name("d")?.as_str().parse().ok()?)
        });
        if date.is_none() && self.needs_year() {
            bail!("{shown}: the file name does not give its date (pattern `{r}`): pass --file-date YYYY-MM-DD");
        }
        Ok(date)
    }

    fn needs_year(&self) -> bool {
        self.req.profile.columns.iter().any(|(_, e)| e.time.as_ref().is_some_and(|t| t.year_from_file))
    }

    /// Reads every line of one stream.
    fn lines(
        &mut self,
        mut input: impl BufRead,
        shown: &str,
        date: Option<NaiveDate>,
        report: &mut FileReport,
    ) -> anyhow::Result<()> {
        let p = self.req.profile;
        let mut reader = Reader::new(p);
        let no_index = BTreeMap::new();
        let mut buf = Vec::new();
        let mut line_no = 0u64;
        let mut row_no = 0u64;
        loop {
            buf.clear();
            let n = input.read_until(b'\n', &mut buf).with_context(|| format!("reading {shown}"))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            if line_no.is_multiple_of(PROGRESS_EVERY) {
                self.progress.stage(format!("{shown}: {line_no} lines read"));
            }
            let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let outcome =
                reader.line(line).map_err(|e| anyhow::anyhow!("{shown}:{line_no}: {} (profile `{}`)", e.0, p.id))?;
            let raw = || read::decode(p.encoding, line).unwrap_or_else(|| String::from_utf8_lossy(line).into_owned());
            match outcome {
                Outcome::Blank | Outcome::Header => continue,
                Outcome::SetAside(reason) => {
                    row_no += 1;
                    report.rows_read += 1;
                    report.set_aside += 1;
                    *self.set_aside_by_reason.entry(reason.clone()).or_default() += 1;
                    let raw = raw();
                    self.aside.write_record([
                        row_no.to_string().as_str(),
                        shown,
                        &line_no.to_string(),
                        &reason,
                        &crate::text::csv_cell(raw.trim_end_matches('\r')),
                    ])?;
                }
                Outcome::Rejected(reason) => {
                    row_no += 1;
                    report.rows_read += 1;
                    self.reject(report, shown, line_no, row_no, reason, raw());
                }
                Outcome::Row(fields) => {
                    row_no += 1;
                    report.rows_read += 1;
                    let index = reader.index().unwrap_or(&no_index);
                    match self.row(&fields, index, date) {
                        Ok(values) => {
                            self.stage.push(&values, shown, line_no)?;
                            report.imported += 1;
                        }
                        Err(reason) => self.reject(report, shown, line_no, row_no, reason, raw()),
                    }
                }
            }
        }
        if reader.index().is_none() && report.rows_read == 0 {
            let what = if line_no == 0 { "the file is empty" } else { "no header line found" };
            bail!("{shown}: {what} (profile `{}`)", p.id);
        }
        Ok(())
    }

    fn reject(&mut self, report: &mut FileReport, shown: &str, line: u64, record: u64, reason: String, raw: String) {
        report.rejected += 1;
        *self.rejected_by_reason.entry(category(&reason)).or_default() += 1;
        self.rejected.push(RejectedRow {
            file: shown.to_string(),
            line: Some(line),
            record,
            reason,
            raw: raw.trim_end_matches('\r').to_string(),
        });
    }

    /// The staged values of a row, in `columns` order.
    fn row(
        &self,
        fields: &[String],
        index: &BTreeMap<String, usize>,
        date: Option<NaiveDate>,
    ) -> Result<Vec<String>, String> {
        let p = self.req.profile;
        self.columns
            .iter()
            .map(|c| {
                if let Some(v) = self.req.set.get(*c) {
                    return Ok(v.clone());
                }
                let (_, e) =
                    p.columns.iter().find(|(name, _)| name == c).ok_or_else(|| format!("no mapping for {c}"))?;
                map::eval(e, fields, index, date)
                    .map(Option::unwrap_or_default)
                    .map_err(|why| format!("invalid_value:{c}: {why}"))
            })
            .collect()
    }
}
