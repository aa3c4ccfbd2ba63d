//! Ingestion: finds the input files, checks their headers before any work,
//! and builds one lazy, validated frame per dataset.
//!
//! Nothing here collects data: the frames are executed together with the
//! rules, so each file is parsed by polars once (a bounded audit stages its
//! CSV input with hutong's own reader first, `fused`). Row problems become a
//! `__reason` on the row; only file-level problems are errors.

pub mod accounting;
pub mod convert;
pub mod csvscan;
pub mod encoding;
pub mod fileread;
mod fused;
pub mod order;
pub mod parse;
pub mod period;
pub mod preread;
pub mod rejects;
pub mod sortmeta;
pub mod sources;
pub mod timefmt;
mod typed;
pub use typed::Remembered;
pub mod validate;
pub mod window;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use polars::prelude::*;
use serde::Serialize;

use crate::contract::Dataset;
pub use parse::Offset;
pub use sources::{Format, InputSpec};

/// A problem that stops ingestion before any row is read.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{}no such file or directory: {}", prefix(.dataset), .path.display())]
    NoSuchPath { dataset: Option<Dataset>, path: PathBuf },
    #[error("--data must be a directory: {}", .path.display())]
    NotADirectory { path: PathBuf },
    #[error("{dataset}: {} {what}; name a regular file", .path.display())]
    NotRegular { dataset: Dataset, path: PathBuf, what: String },
    #[error(
        "{dataset}: {} holds more than one of {dataset}.csv, {dataset}.parquet and {dataset}/; \
         name the one to read with --{dataset}",
        .dir.display()
    )]
    Ambiguous { dataset: Dataset, dir: PathBuf },
    #[error("{dataset}: no files match the pattern `{pattern}`")]
    EmptyGlob { dataset: Dataset, pattern: String },
    #[error("{dataset}: invalid glob pattern `{pattern}`: {message}")]
    BadGlob { dataset: Dataset, pattern: String, message: String },
    #[error("{dataset}: no .csv or .parquet files in directory {}", .path.display())]
    EmptyDirectory { dataset: Dataset, path: PathBuf },
    #[error("{dataset}: {}: not a .csv or .parquet file", .path.display())]
    UnknownFormat { dataset: Dataset, path: PathBuf },
    #[error("{dataset}: cannot read {}: {cause}", .path.display())]
    Unreadable { dataset: Dataset, path: PathBuf, cause: std::io::Error },
    #[error("{dataset}: {} is empty: expected a header row naming the columns", .path.display())]
    EmptyFile { dataset: Dataset, path: PathBuf },
    #[error(
        "{dataset}: {} lacks required column{} {}\n  columns found: {}{hint}",
        .path.display(),
        if .missing.len() == 1 { "" } else { "s" },
        .missing.join(", "),
        .found.join(", ")
    )]
    MissingColumns { dataset: Dataset, path: PathBuf, missing: Vec<String>, found: Vec<String>, hint: String },
    #[error(
        "{dataset}: {} is not a text file (NUL byte at offset {offset}); expected CSV or a .parquet file",
        .path.display()
    )]
    NotText { dataset: Dataset, path: PathBuf, offset: u64 },
    #[error("{dataset}: {} is not valid {encoding} (first bad byte at offset {offset})", .path.display())]
    BadEncoding { dataset: Dataset, path: PathBuf, encoding: &'static str, offset: u64 },
    #[error("{dataset}: {}: column `{column}` appears more than once in the header", .path.display())]
    DuplicateColumn { dataset: Dataset, path: PathBuf, column: String },
    #[error("{dataset}: {}: column `{column}` has type {found}, which cannot hold {expected}", .path.display())]
    WrongType { dataset: Dataset, path: PathBuf, column: String, found: String, expected: String },
    #[error(
        "{dataset}: {} is not valid UTF-8 (first bad byte at offset {offset}); \
         if it is a GBK or GB18030 export, add --encoding gbk (or gb18030)",
        .path.display()
    )]
    NotUtf8 { dataset: Dataset, path: PathBuf, offset: u64 },
    #[error(
        "{dataset}: {} is neither UTF-8 (bad byte at offset {utf8_at}) nor GB18030 (bad byte at offset \
         {gb18030_at}); name its encoding with --encoding, or check that it is a text export",
        .path.display()
    )]
    UnknownEncoding { dataset: Dataset, path: PathBuf, utf8_at: u64, gb18030_at: u64 },
    #[error("{dataset}: no input given (use --data DIR or --{dataset} PATH)")]
    MissingDataset { dataset: Dataset },
    #[error("{context}: {cause}")]
    Polars { context: String, cause: PolarsError },
    #[error(
        "{dataset}: {} was not written by `hutong convert` ({why}); this engine reads the typed Parquet \
         that `hutong convert --data DIR --out DIR` writes",
        .path.display()
    )]
    NotConverted { dataset: Dataset, path: PathBuf, why: String },
}

fn prefix(ds: &Option<Dataset>) -> String {
    ds.map(|d| format!("{d}: ")).unwrap_or_default()
}

/// How raw files are read.
#[derive(Debug, Clone, Copy)]
pub struct IngestOptions {
    /// Offset for timestamps written without one.
    pub timezone: Offset,
    pub delimiter: u8,
    /// Encoding of CSV files, per dataset; non-UTF-8 input is transcoded once
    /// before reading.
    pub encoding: encoding::Encodings,
    /// Amounts (amount, discount, surcharge) are written in fen, not yuan.
    pub amounts_in_fen: bool,
    /// `--from` (inclusive) and `--to` (exclusive), UTC microseconds: valid
    /// rows outside are counted as outside the window, not audited.
    pub window: (Option<i64>, Option<i64>),
    /// Reuse the pre-read of files unchanged since an earlier run
    /// (`preread::Cache`; off with `--no-cache`).
    pub preread_cache: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            timezone: Offset::CHINA,
            delimiter: b',',
            encoding: encoding::Encodings::default(),
            amounts_in_fen: false,
            window: (None, None),
            // Library callers opt in; the command line has it on by default.
            preread_cache: false,
        }
    }
}

/// One input file, after its pre-read.
#[derive(Debug, Clone, Serialize)]
pub struct InputFile {
    pub path: PathBuf,
    /// The file actually scanned: `path`, or its UTF-8 transcoding.
    #[serde(skip)]
    pub read_path: PathBuf,
    /// Where rejected rows are located: `read_path`, or the file before
    /// records with irregular quoting were replaced in it.
    #[serde(skip)]
    pub raw_path: PathBuf,
    /// Lines of `path` before the first line of `read_path` (blank lines
    /// before the header): added to reported line numbers.
    #[serde(skip)]
    pub line_offset: u64,
    pub format: Format,
    pub bytes: u64,
    pub sha256: String,
    /// The text encoding a CSV file was read in (`UTF-8`, `GBK`, `GB18030`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<&'static str>,
    /// Header names as found (CSV) or schema names (Parquet).
    #[serde(skip)]
    pub columns: Vec<String>,
    /// Data records counted by the pre-read (CSV only).
    #[serde(skip)]
    pub records: Option<u64>,
    /// Its pre-read came from the cache (`preread::Cache`): said on stderr,
    /// never in findings.json, which stays the same either way.
    #[serde(skip)]
    pub cached: bool,
    /// Records with a structural problem (CSV only), as the pre-read found them.
    #[serde(skip)]
    pub problems: Vec<(IdxSize, fileread::Structural)>,
    /// Where some records start in `read_path`: (0-based data record, byte
    /// offset), in order, as staging CSV cut its batches; empty when hutong's
    /// reader did not stage the file. Rejected rows are looked for from the
    /// nearest one instead of the file's start ([`rejects::locate`]).
    #[serde(skip)]
    pub marks: Vec<(u64, u64)>,
}

/// Marks a valid row outside `--from` / `--to`.
pub const OUTSIDE: &str = "__outside";

/// A dataset ready to execute: its files and the validated lazy frame.
pub struct DatasetInput {
    pub dataset: Dataset,
    pub files: Vec<InputFile>,
    /// Contract columns present in at least one file.
    pub present: Vec<&'static str>,
    /// Columns outside the contract, ignored by the audit.
    pub extra_columns: Vec<String>,
    /// Every row: `__file`, `__row`, the typed contract columns, `__reason`.
    pub frame: LazyFrame,
    /// The frame is the files as `hutong convert` wrote them, read without
    /// validating again ([`Inputs::read_converted`]).
    pub converted: bool,
    /// What a pass over every accepted row proved of their order: staging
    /// CSV, or `hutong convert` as its footer records ([`order`]).
    pub order: order::RowOrder,
    /// Each file's rows, known without a scan to be every one accepted and
    /// inside the window: a converted dataset that `--from` / `--to` do not
    /// cut, its counts from the files' footers. The accounting then runs no
    /// plan for it.
    pub known_rows: Option<Vec<u64>>,
}

impl InputFile {
    /// Its data rows, known before any scan: the pre-read's count (CSV) or
    /// the footer's (Parquet).
    pub fn rows(&self) -> std::io::Result<u64> {
        match self.records {
            Some(n) => Ok(n),
            None => {
                let f = std::fs::File::open(&self.read_path)?;
                let n = ParquetReader::new(f)
                    .num_rows()
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
                Ok(n as u64)
            }
        }
    }
}

impl DatasetInput {
    pub fn has_column(&self, name: &str) -> bool {
        self.present.contains(&name)
    }

    /// The rows that passed validation, inside `--from` / `--to`.
    pub fn accepted(&self) -> LazyFrame {
        self.frame.clone().filter(col(validate::REASON).is_null().and(col(OUTSIDE).not()))
    }
}

/// All datasets of one audit.
pub struct Inputs {
    pub datasets: BTreeMap<Dataset, DatasetInput>,
    pub options: IngestOptions,
    /// Data written by `hutong import`: the profile and what its export lacks.
    pub imported: Option<Imported>,
    /// Holds transcoded copies of non-UTF-8 inputs for as long as the inputs live.
    _scratch: Option<tempfile::TempDir>,
    /// Removes the scratch directory if the run is interrupted.
    _scratch_guard: Option<crate::cleanup::Registered>,
}

/// What the `import.json` beside imported data says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub profile: String,
    /// Contract columns the export cannot supply.
    pub lacks: Vec<String>,
}

impl Imported {
    /// Reads `import.json` in `dir`, if there is one.
    fn read(dir: &std::path::Path) -> Option<Imported> {
        let text = std::fs::read_to_string(dir.join("import.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        let profile = v["profile"]["id"].as_str()?.to_string();
        let lacks = v["lacks"].as_array()?.iter().filter_map(|c| c.as_str().map(str::to_string)).collect();
        Some(Imported { profile, lacks })
    }

    /// Why a column is missing, when the export could not have it.
    pub fn lacks_note(&self, column: &str) -> Option<String> {
        self.lacks.iter().any(|c| c == column).then(|| format!("the `{}` export does not provide it", self.profile))
    }
}

impl Inputs {
    pub fn get(&self, ds: Dataset) -> Option<&DatasetInput> {
        self.datasets.get(&ds)
    }

    /// Writes every dataset, validated (accepted and rejected rows, each
    /// with its reason and place), to a Parquet file in the scratch
    /// directory, and reads it from there from then on; a dataset read as
    /// converted is read from its own files instead. A bounded audit
    /// reads its input once per plan: reading the validated columns is
    /// several times cheaper than parsing text, or validating typed Parquet,
    /// again for each plan; and the one write streams, with no other plan
    /// sharing its scan.
    pub fn stage(&mut self) -> Result<(), IngestError> {
        let Some(dir) = self._scratch.as_ref().map(|d| d.path().to_path_buf()) else { return Ok(()) };
        // Converted files are already the typed columns a stage would write.
        for input in self.datasets.values_mut().filter(|i| !i.converted) {
            let ds = input.dataset;
            let parts = dir.join(format!("{}.staged", ds.name()));
            std::fs::create_dir_all(&parts).map_err(|cause| IngestError::Unreadable {
                dataset: ds,
                path: parts.clone(),
                cause,
            })?;
            // CSV is staged by hutong's own reader when it takes the files
            // (`fused`); else, and for Parquet, by polars.
            let whole = parts.join("fused.parquet");
            // HUTONG_POLARS_STAGING=1 stages with polars only: for comparing the two.
            let fused = match std::env::var_os("HUTONG_POLARS_STAGING").is_some() {
                true => Err(fused::Declined::Fallback),
                false => fused::stage(input, self.options, &whole),
            };
            let staged = match fused {
                Ok(fused::Staged { order, marks }) => {
                    input.order = order;
                    for (file, marks) in input.files.iter_mut().zip(marks) {
                        file.marks = marks;
                    }
                    crate::exec::release_memory();
                    vec![path_arg(&whole)]
                }
                Err(fused::Declined::Failed(e)) => return Err(e),
                Err(fused::Declined::Fallback) => {
                    let _ = std::fs::remove_file(&whole);
                    polars_stage(input, &parts)?
                }
            };
            // The slices in order, as one scan (named, not globbed: the
            // temporary directory's name may hold glob characters).
            let args = ScanArgsParquet { glob: false, ..Default::default() };
            input.frame =
                LazyFrame::scan_parquet_files(staged.into_iter().collect(), args).map_err(staging_failed(ds))?;
        }
        Ok(())
    }
}

/// What a polars error while staging dataset `ds` is reported as.
fn staging_failed(ds: Dataset) -> impl Fn(PolarsError) -> IngestError + Copy {
    move |cause| IngestError::Polars { context: format!("{ds}: staging as Parquet"), cause }
}

/// Stages a dataset with polars' sink, to files in `parts`.
fn polars_stage(input: &DatasetInput, parts: &std::path::Path) -> Result<Vec<PlRefPath>, IngestError> {
    let err = staging_failed(input.dataset);
    // Parquet is staged in slices of rows: polars reads a Parquet file
    // ahead of a slower writer and holds what it has read, so one slice at a
    // time bounds that. A slice of CSV would parse the file from its start
    // again; CSV is staged whole (it stays flat).
    let mut staged = Vec::new();
    // An empty input is staged whole: no slice would write its schema.
    for (i, frame) in slices(input)?.into_iter().enumerate() {
        let path = parts.join(format!("{i:06}.parquet"));
        staged.push(path_arg(&path));
        let target = SinkTarget::Path(PlRefPath::new(path.to_string_lossy().as_ref()));
        let sink = frame
            .sink(
                SinkDestination::File { target },
                FileWriteFormat::Parquet(std::sync::Arc::new(ParquetWriteOptions::default())),
                UnifiedSinkArgs::default(),
            )
            .map_err(err)?;
        crate::exec::collect_all(vec![sink]).map_err(err)?;
        crate::exec::release_memory();
    }
    Ok(staged)
}

/// Rows per slice when staging a Parquet input. Measured on 10M
/// transactions from Parquet (bounded, 7 partitions): staged whole, the
/// audit peaked at 584 MB of heap, in slices of 2M rows at 492 MB, in slices
/// of 512K rows at 287 MB (the plans' peak, no longer the staging's), in the
/// same time.
const STAGE_SLICE_ROWS: u64 = 1 << 19;

/// A dataset's frame in the slices that a read which must not run ahead
/// takes one at a time: [`STAGE_SLICE_ROWS`] rows each when the dataset is
/// read from Parquet (polars reads a Parquet file ahead of a slower consumer
/// and holds what it has read); the whole frame for CSV, which a slice would
/// parse from its start again, and for an empty dataset.
pub(crate) fn slices(input: &DatasetInput) -> Result<Vec<LazyFrame>, IngestError> {
    Ok(match parquet_rows(input)? {
        Some(rows) if rows > 0 => (0..rows.div_ceil(STAGE_SLICE_ROWS))
            .map(|i| input.frame.clone().slice((i * STAGE_SLICE_ROWS) as i64, STAGE_SLICE_ROWS as u32))
            .collect(),
        _ => vec![input.frame.clone()],
    })
}

/// The rows of a dataset read from Parquet only, from the footers.
fn parquet_rows(input: &DatasetInput) -> Result<Option<u64>, IngestError> {
    let mut rows = 0u64;
    for f in &input.files {
        if f.format != Format::Parquet {
            return Ok(None);
        }
        rows += f.rows().map_err(|cause| IngestError::Unreadable {
            dataset: input.dataset,
            path: f.path.clone(),
            cause,
        })?;
    }
    Ok(Some(rows))
}

/// Finds, pre-reads and checks every input file; builds the lazy frames.
pub fn open(spec: &InputSpec, options: IngestOptions) -> Result<Inputs, IngestError> {
    let found = sources::resolve(spec)?;
    // For transcoded copies and files whose start needs fixing.
    let scratch = Some(tempfile::Builder::new().prefix("hutong-").tempdir().map_err(|cause| {
        IngestError::Unreadable { dataset: Dataset::Transactions, path: std::env::temp_dir(), cause }
    })?);
    // Registered before any copy is written into it.
    let _scratch_guard = scratch.as_ref().map(|d| crate::cleanup::register(d.path()));
    let mut datasets = BTreeMap::new();
    for (ds, files) in found {
        datasets.insert(ds, open_dataset(ds, files, options, scratch.as_ref().map(|t| t.path()))?);
    }
    // An imported delivery says what its export format lacks.
    let dir = spec.data.clone().or_else(|| {
        let t = std::path::PathBuf::from(spec.transactions.as_deref()?);
        if t.is_dir() {
            Some(t)
        } else {
            t.parent().map(std::path::Path::to_path_buf)
        }
    });
    let imported = dir.as_deref().and_then(Imported::read);
    Ok(Inputs { datasets, options, imported, _scratch: scratch, _scratch_guard })
}

fn open_dataset(
    ds: Dataset,
    files: Vec<sources::SourceFile>,
    options: IngestOptions,
    scratch: Option<&std::path::Path>,
) -> Result<DatasetInput, IngestError> {
    let prepared = prepare_files(ds, &files, options, scratch)?;
    let mut frames = Vec::with_capacity(prepared.len());
    let mut present: Vec<&'static str> = Vec::new();
    let mut extra: Vec<String> = Vec::new();
    let mut inputs = Vec::with_capacity(prepared.len());
    for (file, layout) in files.iter().zip(prepared) {
        let columns = layout.columns.clone();
        check_columns(ds, &file.path, &columns, options.delimiter)?;
        for c in &columns {
            match ds.column(c) {
                Some(spec) if !present.contains(&spec.name) => present.push(spec.name),
                Some(_) => {}
                None if !extra.contains(c) => extra.push(c.clone()),
                None => {}
            }
        }
        inputs.push(InputFile {
            problems: layout.problems,
            path: file.path.clone(),
            read_path: layout.read_path.clone(),
            raw_path: layout.raw_path.clone(),
            line_offset: layout.line_offset,
            encoding: layout.encoding,
            format: file.format,
            bytes: file.bytes,
            sha256: layout.sha256,
            columns,
            records: layout.records,
            cached: layout.cached,
            marks: Vec::new(),
        });
    }
    // Consecutive CSV files with the same header are read in one scan: the
    // cost of a delivery of many small files follows its bytes, not its
    // file count. Any other file is scanned on its own.
    let mut start = 0;
    while start < files.len() {
        let same = |j: usize| {
            files[j].format == Format::Csv
                && files[start].format == Format::Csv
                && inputs[j].columns == inputs[start].columns
        };
        let mut end = start + 1;
        while end < files.len() && same(end) {
            end += 1;
        }
        if end - start >= 2 {
            frames.push(csv_run(ds, &inputs[start..end], start, options)?);
        } else {
            let (lf, schema) = scan_file(ds, &files[start], &inputs[start].read_path, &inputs[start].columns, options)?;
            let raw = validate::RawFile {
                dataset: ds,
                index: Some(start as u32),
                path: &files[start].path,
                schema: &schema,
                problems: Arc::new(inputs[start].problems.clone()),
                problem_rows: validate::ROW,
            };
            frames.push(validate::validated(lf, &raw, options)?);
        }
        start = end;
    }
    present.sort_by_key(|name| ds.columns().iter().position(|c| c.name == *name));
    extra.sort();
    let frame = if frames.len() == 1 {
        frames.remove(0)
    } else {
        concat(frames, UnionArgs::default())
            .map_err(|cause| IngestError::Polars { context: format!("{ds}: combining input files"), cause })?
    };
    // One explicit cache: every plan of an audit (accounting, rejected rows,
    // each rule) reads this node, so the files are scanned once, with the
    // union of the columns the plans need.
    // Valid rows outside --from / --to are marked, not rejected.
    let frame = frame.with_column(outside(ds, &present, options).alias(OUTSIDE));
    let frame = if std::env::var_os("HUTONG_NO_CACHE").is_some() { frame } else { frame.cache() };
    Ok(DatasetInput {
        dataset: ds,
        files: inputs,
        present,
        extra_columns: extra,
        frame,
        converted: false,
        known_rows: None,
        order: order::RowOrder::Unknown,
    })
}

/// Whether a valid row lies outside `--from` / `--to`.
fn outside(ds: Dataset, present: &[&str], options: IngestOptions) -> Expr {
    let (from, to) = options.window;
    match windowed(ds, present, options) {
        Some(t) => {
            let ts = || col(t);
            let before = from.map_or(lit(false), |f| ts().lt(lit(f)));
            let after = to.map_or(lit(false), |t| ts().gt_eq(lit(t)));
            col(validate::REASON).is_null().and(before.or(after))
        }
        None => lit(false),
    }
}

/// The time column, when `--from` / `--to` can leave some of the dataset's
/// rows out.
fn windowed(ds: Dataset, present: &[&str], options: IngestOptions) -> Option<&'static str> {
    let time = ds.time_column().filter(|t| present.contains(t))?;
    let (from, to) = options.window;
    (from.is_some() || to.is_some()).then_some(time)
}

/// What the pre-read learnt about one file.
struct Prepared {
    /// The file to scan: the original, or its UTF-8 transcoding.
    read_path: PathBuf,
    /// Where rejected rows' raw text is read: `read_path` before records with
    /// irregular quoting were replaced.
    raw_path: PathBuf,
    /// Blank lines dropped before the header in `read_path`.
    line_offset: u64,
    /// The text encoding a CSV file was read in.
    encoding: Option<&'static str>,
    columns: Vec<String>,
    records: Option<u64>,
    problems: Vec<(IdxSize, fileread::Structural)>,
    sha256: String,
    /// The pre-read came from the cache (the file was not read again).
    cached: bool,
}

/// Pre-reads the files on as many threads as there are cores: hashing is
/// I/O and CPU bound alike.
fn prepare_files(
    ds: Dataset,
    files: &[sources::SourceFile],
    options: IngestOptions,
    scratch: Option<&std::path::Path>,
) -> Result<Vec<Prepared>, IngestError> {
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, files.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, Result<Prepared, IngestError>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(file) = files.get(i) else { break mine };
                        mine.push((i, prepare_file(ds, file, i, options, scratch)));
                    }
                })
            })
            .collect();
        // A worker only panics on a bug; its files are then simply missing
        // and reported below.
        handles.into_iter().filter_map(|h| h.join().ok()).flatten().collect()
    });
    done.sort_by_key(|(i, _)| *i);
    if done.len() != files.len() {
        return Err(IngestError::Polars {
            context: format!("{ds}: pre-reading files"),
            cause: PolarsError::ComputeError("a pre-read worker stopped unexpectedly".into()),
        });
    }
    done.into_iter().map(|(_, r)| r).collect()
}

fn prepare_file(
    ds: Dataset,
    file: &sources::SourceFile,
    index: usize,
    options: IngestOptions,
    scratch: Option<&std::path::Path>,
) -> Result<Prepared, IngestError> {
    match options.encoding.of(ds) {
        // UTF-8 when valid; else GB18030 when it decodes cleanly (GB18030 is a
        // superset of GBK); else say both failed.
        encoding::TextEncoding::Auto => {
            match prepare_as(ds, file, index, options, scratch, encoding::TextEncoding::Utf8) {
                Err(IngestError::NotUtf8 { offset, .. }) => {
                    match prepare_as(ds, file, index, options, scratch, encoding::TextEncoding::Gb18030) {
                        Err(IngestError::BadEncoding { offset: gb, .. }) => Err(IngestError::UnknownEncoding {
                            dataset: ds,
                            path: file.path.clone(),
                            utf8_at: offset,
                            gb18030_at: gb,
                        }),
                        other => other,
                    }
                }
                other => other,
            }
        }
        explicit => prepare_as(ds, file, index, options, scratch, explicit),
    }
}

/// The SHA-256 of the file as given, when a copy is read in its place:
/// the one known already (from transcoding), else computed.
fn own_sha(known: Option<String>, path: &std::path::Path) -> std::io::Result<String> {
    match known {
        Some(s) => Ok(s),
        None => sources::sha256_file(path),
    }
}

fn prepare_as(
    ds: Dataset,
    file: &sources::SourceFile,
    index: usize,
    options: IngestOptions,
    scratch: Option<&std::path::Path>,
    text_encoding: encoding::TextEncoding,
) -> Result<Prepared, IngestError> {
    let unreadable = |cause| IngestError::Unreadable { dataset: ds, path: file.path.clone(), cause };
    match file.format {
        Format::Csv => {
            if let Some(offset) = fileread::first_nul(&file.path).map_err(unreadable)? {
                return Err(IngestError::NotText { dataset: ds, path: file.path.clone(), offset });
            }
            // Non-UTF-8 input is transcoded once; everything after reads the copy.
            let (read_path, original_sha) = match scratch {
                Some(dir) if text_encoding != encoding::TextEncoding::Utf8 => {
                    let copy = dir.join(format!("{}-{index}.csv", ds.name()));
                    match encoding::transcode(&file.path, &copy, text_encoding).map_err(unreadable)? {
                        encoding::Transcoded::Done { sha256 } => (copy, Some(sha256)),
                        encoding::Transcoded::Malformed { offset } => {
                            return Err(IngestError::BadEncoding {
                                dataset: ds,
                                path: file.path.clone(),
                                encoding: text_encoding.name(),
                                offset,
                            });
                        }
                    }
                }
                _ => (file.path.clone(), None),
            };
            // Lone-CR line ends and blank lines before the header: read a fixed copy.
            let fix = fileread::start_fix(&read_path).map_err(unreadable)?;
            let (read_path, original_sha, line_offset) = match scratch {
                Some(dir) if fix.needed() => {
                    let copy = dir.join(format!("{}-{index}-fixed.csv", ds.name()));
                    fileread::normalise(&read_path, &copy, fix).map_err(unreadable)?;
                    (copy, Some(own_sha(original_sha, &file.path).map_err(unreadable)?), fix.blank_lines)
                }
                _ => (read_path, original_sha, 0),
            };
            let header = fileread::csv_header(&read_path, options.delimiter)
                .map_err(unreadable)?
                .ok_or_else(|| IngestError::EmptyFile { dataset: ds, path: file.path.clone() })?;
            if header.iter().all(String::is_empty) {
                return Err(IngestError::EmptyFile { dataset: ds, path: file.path.clone() });
            }
            let scan = || fileread::scan_csv(&read_path, options.delimiter, header.len());
            // Only the file as given is remembered: a transcoded or fixed
            // copy is new on every run.
            let (layout, cached) = if read_path == file.path {
                preread::Cache::new(options.preread_cache).csv(&file.path, options.delimiter, header.len(), scan)
            } else {
                scan().map(|l| (l, false))
            }
            .map_err(unreadable)?;
            if let Some(offset) = layout.invalid_utf8_at {
                return Err(IngestError::NotUtf8 { dataset: ds, path: file.path.clone(), offset });
            }
            // Records with irregular quoting are rejected; polars reads a copy
            // with each replaced by an empty record of the same lines, and the
            // rejected rows are located in the file as it was.
            let raw_path = read_path.clone();
            let (read_path, original_sha) = match scratch {
                Some(dir) if !layout.irregular.is_empty() => {
                    let copy = dir.join(format!("{}-{index}-quoting.csv", ds.name()));
                    fileread::replace_records(&read_path, &copy, &layout.irregular, header.len(), options.delimiter)
                        .map_err(unreadable)?;
                    (copy, Some(own_sha(original_sha, &file.path).map_err(unreadable)?))
                }
                _ => (read_path, original_sha),
            };
            Ok(Prepared {
                read_path,
                raw_path,
                line_offset,
                encoding: Some(text_encoding.name()),
                columns: header,
                records: Some(layout.records),
                problems: layout.problems,
                sha256: original_sha.unwrap_or(layout.sha256),
                cached,
            })
        }
        Format::Parquet => {
            let (sha256, cached) = preread::Cache::new(options.preread_cache)
                .sha256(&file.path, || sources::sha256_file(&file.path))
                .map_err(unreadable)?;
            let schema = parquet_scan(&file.path).and_then(|mut lf| lf.collect_schema()).map_err(|e| {
                IngestError::Unreadable {
                    dataset: ds,
                    path: file.path.clone(),
                    cause: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
                }
            })?;
            let columns = schema.iter_names().map(|n| n.to_string()).collect();
            Ok(Prepared {
                read_path: file.path.clone(),
                raw_path: file.path.clone(),
                line_offset: 0,
                encoding: None,
                columns,
                records: None,
                problems: Vec::new(),
                sha256,
                cached,
            })
        }
    }
}

fn check_columns(ds: Dataset, path: &std::path::Path, columns: &[String], delimiter: u8) -> Result<(), IngestError> {
    for (i, c) in columns.iter().enumerate() {
        if columns[..i].contains(c) {
            return Err(IngestError::DuplicateColumn { dataset: ds, path: path.to_path_buf(), column: c.clone() });
        }
    }
    let missing: Vec<String> = ds
        .columns()
        .iter()
        .filter(|c| c.required && !columns.iter().any(|h| h == c.name))
        .map(|c| c.name.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(IngestError::MissingColumns {
            dataset: ds,
            path: path.to_path_buf(),
            missing,
            found: columns.to_vec(),
            hint: delimiter_hint(columns, delimiter),
        });
    }
    Ok(())
}

/// When a header reads as one column holding another likely separator, the
/// file is probably not comma-separated: say which `--delimiter` to try.
fn delimiter_hint(columns: &[String], delimiter: u8) -> String {
    let [only] = columns else { return String::new() };
    for (c, name) in [(';', ";"), ('\t', "tab"), ('|', "|")] {
        if c as u8 != delimiter && only.contains(c) {
            let arg = if c == '\t' { "'\\t'".to_string() } else { format!("'{name}'") };
            return format!("\n  hint: the header looks {name}-separated; try --delimiter {arg}");
        }
    }
    String::new()
}

fn path_arg(path: &std::path::Path) -> PlRefPath {
    PlRefPath::new(path.to_string_lossy().as_ref())
}

fn parquet_scan(path: &std::path::Path) -> PolarsResult<LazyFrame> {
    let args = ScanArgsParquet {
        row_index: Some(RowIndex { name: validate::ROW.into(), offset: 0 }),
        glob: false,
        ..Default::default()
    };
    LazyFrame::scan_parquet(path_arg(path), args)
}

/// The global row index of a multi-file scan.
const GLOBAL_ROW: &str = "__global_row";

/// One scan of several CSV files with the same header (files `first..` of
/// the dataset), validated: each row's file and record within it come from
/// the global row index and the pre-read's record counts.
fn csv_run(ds: Dataset, files: &[InputFile], first: usize, options: IngestOptions) -> Result<LazyFrame, IngestError> {
    let polars_err = |cause| IngestError::Polars { context: format!("{ds}: {} files", files.len()), cause };
    let columns = &files[0].columns;
    let schema: Schema = columns.iter().map(|c| Field::new(c.as_str().into(), DataType::String)).collect();
    let paths: Vec<PlRefPath> = files.iter().map(|f| path_arg(&f.read_path)).collect();
    let lf = LazyCsvReader::new_paths(paths.into())
        .with_has_header(true)
        .with_schema(Some(Arc::new(schema.clone())))
        .with_separator(options.delimiter)
        .with_missing_is_null(true)
        .with_truncate_ragged_lines(true)
        .with_glob(false)
        .with_row_index(Some(RowIndex { name: GLOBAL_ROW.into(), offset: 0 }))
        .finish()
        .map_err(polars_err)?;
    // starts[k]: the global index of file k's first record.
    let mut starts = Vec::with_capacity(files.len());
    let mut total: u64 = 0;
    for f in files {
        starts.push(total);
        total += f.records.unwrap_or(0);
    }
    let starts = Arc::new(starts);
    let which = {
        let starts = starts.clone();
        move |g: u64| starts.partition_point(|s| *s <= g).saturating_sub(1)
    };
    let (which_file, which_row) = (which.clone(), which);
    let (starts_row, first) = (starts.clone(), first as u32);
    let file = col(GLOBAL_ROW).map(
        move |c: Column| {
            let g = c.cast(&DataType::UInt64)?;
            let out: UInt32Chunked = g.u64()?.iter().map(|v| v.map(|v| first + which_file(v) as u32)).collect();
            Ok(out.with_name(validate::FILE.into()).into_column())
        },
        |_, f| Ok(Field::new(f.name().clone(), DataType::UInt32)),
    );
    let row = col(GLOBAL_ROW).map(
        move |c: Column| {
            let g = c.cast(&DataType::UInt64)?;
            let out: UInt64Chunked = g.u64()?.iter().map(|v| v.map(|v| v - starts_row[which_row(v)])).collect();
            Ok(out.with_name(validate::ROW.into()).into_column())
        },
        |_, f| Ok(Field::new(f.name().clone(), DataType::UInt64)),
    );
    let lf = lf.with_columns([file.alias(validate::FILE), row.cast(IDX_DTYPE).alias(validate::ROW)]);
    // The files' structural problems, in global numbering.
    let mut global: Vec<(IdxSize, fileread::Structural)> = Vec::new();
    for (k, f) in files.iter().enumerate() {
        global.extend(f.problems.iter().map(|(r, s)| ((starts[k] + u64::from(*r)) as IdxSize, *s)));
    }
    let raw = validate::RawFile {
        dataset: ds,
        index: None,
        path: &files[0].path,
        schema: &schema,
        problems: Arc::new(global),
        problem_rows: GLOBAL_ROW,
    };
    validate::validated(lf, &raw, options)
}

/// The raw lazy scan of one file, with its source schema.
fn scan_file(
    ds: Dataset,
    file: &sources::SourceFile,
    read_path: &std::path::Path,
    columns: &[String],
    options: IngestOptions,
) -> Result<(LazyFrame, Schema), IngestError> {
    let polars_err = |cause| IngestError::Polars { context: format!("{ds}: {}", file.path.display()), cause };
    match file.format {
        Format::Csv => {
            // Every column is read as text; validation does the typing so that a
            // bad value rejects its row instead of failing the scan.
            let schema: Schema = columns.iter().map(|c| Field::new(c.as_str().into(), DataType::String)).collect();
            let lf = LazyCsvReader::new(path_arg(read_path))
                .with_has_header(true)
                .with_schema(Some(Arc::new(schema.clone())))
                .with_separator(options.delimiter)
                .with_missing_is_null(true)
                .with_truncate_ragged_lines(true)
                .with_glob(false)
                .with_row_index(Some(RowIndex { name: validate::ROW.into(), offset: 0 }))
                .finish()
                .map_err(polars_err)?;
            Ok((lf, schema))
        }
        Format::Parquet => {
            let mut lf = parquet_scan(&file.path).map_err(polars_err)?;
            let schema = lf.collect_schema().map_err(polars_err)?;
            Ok((lf, schema.as_ref().clone()))
        }
    }
}
