//! CSV staging in one pass of hutong's own: records split, fields parsed into
//! the contract types and each row's reject reason found together, written
//! as the staged Parquet that a bounded audit's plans read.
//!
//! It produces exactly the rows of the polars path (`validate::validated`
//! over polars' CSV reader, then `outside`); a test compares the two on
//! malformed files. It exists for speed: polars' reader builds a string for
//! every field and counts lines byte by byte, and the validation then
//! parses those strings again column by column (`perf` on the 10M CSV audit
//! put 37% of staging's CPU time in the reader alone). Files the pre-read
//! has proven valid UTF-8, with irregular quoting already replaced, are all
//! it takes; anything unexpected (a record count that disagrees with the
//! pre-read's) declines, and the polars path stages the dataset instead.

use std::io::Read;

use polars::prelude::*;

use super::fileread::Structural;
use super::order::{Order, RowOrder};
use super::parse::{self, Offset};
use super::validate::{self, Check, MAX_MONEY};
use super::{DatasetInput, Format, IngestError, IngestOptions, OUTSIDE};
use crate::contract::{Dataset, Kind};

/// Rows per batch, and so per Parquet row group. The plans read a row group
/// at a time: measured on the 10M CSV audit, row groups of 92K-122K rows
/// (polars' sink aims at 122,880) raised the plans' peak heap from 372 to
/// 441-480 MB; polars' sink, splitting at its morsels, wrote 46K-86K.
const BATCH_ROWS: u64 = 65_536;

/// How one contract column is filled from a file's fields.
struct Slot {
    name: &'static str,
    kind: Kind,
    /// The field it comes from; `None` when the file lacks the column.
    field: Option<usize>,
    /// Money scaled from fen to yuan.
    fen: bool,
    /// Reason codes, in the order the checks apply.
    missing: Option<u16>,
    invalid: Option<u16>,
    range: Option<u16>,
    magnitude: Option<u16>,
}

/// How the fields of one file become typed columns and reasons.
struct Plan {
    slots: Vec<Slot>,
    /// Field index to slot index, for the fields the contract uses.
    by_field: Vec<Option<usize>>,
    delimiter: u8,
    tz: Offset,
}

impl Plan {
    fn new(dataset: Dataset, header: &[String], options: IngestOptions) -> Plan {
        let table = validate::reason_table(dataset);
        let code = |text: &str| table.iter().position(|t| t == text).unwrap_or(0) as u16;
        let mut by_field = vec![None; header.len()];
        let slots: Vec<Slot> = dataset
            .columns()
            .iter()
            .enumerate()
            .map(|(k, column)| {
                let field = header.iter().position(|h| h == column.name);
                if let Some(f) = field {
                    by_field[f] = Some(k);
                }
                let mut slot = Slot {
                    name: column.name,
                    kind: column.kind,
                    field,
                    fen: options.amounts_in_fen && validate::is_amount(column.name),
                    missing: None,
                    invalid: None,
                    range: None,
                    magnitude: None,
                };
                for (check, text) in validate::column_reasons(column) {
                    let c = Some(code(&text));
                    match check {
                        Check::Missing => slot.missing = c,
                        Check::Invalid => slot.invalid = c,
                        Check::Range => slot.range = c,
                        Check::Magnitude => slot.magnitude = c,
                    }
                }
                slot
            })
            .collect();
        Plan { slots, by_field, delimiter: options.delimiter, tz: options.timezone }
    }

    /// Whether the typed columns this plan builds are the polars path's:
    /// money scaled from fen must be a decimal (the division makes one).
    fn supported(&self) -> bool {
        self.slots.iter().all(|s| !s.fen || matches!(s.kind, Kind::Decimal { .. }))
    }
}

/// One column being built.
enum Builder {
    Text(StringChunkedBuilder),
    Int(PrimitiveChunkedBuilder<Int64Type>),
    Float(PrimitiveChunkedBuilder<Float64Type>),
    Bool(BooleanChunkedBuilder),
    Absent(DataType),
}

/// The typed columns and reasons of a run of whole records.
struct Parsed {
    records: u64,
    columns: Vec<Builder>,
    reasons: Vec<Option<u16>>,
}

impl Parsed {
    fn new(plan: &Plan, capacity: usize) -> Parsed {
        let columns = plan
            .slots
            .iter()
            .map(|s| {
                let name = PlSmallStr::from_static(s.name);
                match (s.field, s.kind) {
                    (None, kind) => Builder::Absent(validate::typed_dtype(kind)),
                    (Some(_), Kind::Text | Kind::Enum(_)) => Builder::Text(StringChunkedBuilder::new(name, capacity)),
                    (Some(_), Kind::Timestamp | Kind::Integer { .. }) => {
                        Builder::Int(PrimitiveChunkedBuilder::new(name, capacity))
                    }
                    (Some(_), Kind::Decimal { .. }) => Builder::Float(PrimitiveChunkedBuilder::new(name, capacity)),
                    (Some(_), Kind::Bool) => Builder::Bool(BooleanChunkedBuilder::new(name, capacity)),
                }
            })
            .collect();
        Parsed { records: 0, columns, reasons: Vec::with_capacity(capacity) }
    }

    /// Appends one record: `values[k]` is slot `k`'s field, `None` when the
    /// record has no such field or it is empty (a missing value).
    fn push(&mut self, plan: &Plan, values: &[Option<&str>]) {
        let mut reason: Option<u16> = None;
        let mut first = |code: Option<u16>| {
            if reason.is_none() {
                reason = code;
            }
        };
        for ((slot, builder), value) in plan.slots.iter().zip(&mut self.columns).zip(values) {
            if slot.field.is_none() {
                continue;
            }
            if value.is_none() {
                first(slot.missing);
            }
            match (builder, slot.kind) {
                (Builder::Text(b), Kind::Enum(allowed)) => {
                    let v = value.and_then(|s| parse::enumeration(s, allowed));
                    if value.is_some() && v.is_none() {
                        first(slot.invalid);
                    }
                    b.append_option(v);
                }
                (Builder::Text(b), _) => b.append_option(*value),
                (Builder::Int(b), kind) => {
                    let v = match kind {
                        Kind::Timestamp => value.and_then(|s| parse::timestamp_micros(s, plan.tz)),
                        _ => value.and_then(parse::integer),
                    };
                    match (v, kind) {
                        (None, _) if value.is_some() => first(slot.invalid),
                        (Some(t), Kind::Integer { min }) if t < min => first(slot.range),
                        _ => {}
                    }
                    b.append_option(v);
                }
                (Builder::Float(b), kind) => {
                    let v = value.and_then(parse::decimal).map(|x| if slot.fen { x / 100.0 } else { x });
                    match v {
                        None if value.is_some() => first(slot.invalid),
                        Some(t) if !t.is_finite() => first(slot.invalid),
                        Some(t) => {
                            if matches!(kind, Kind::Decimal { non_negative: true }) && t < 0.0 {
                                first(slot.range);
                            }
                            if t.abs() > MAX_MONEY {
                                first(slot.magnitude);
                            }
                        }
                        None => {}
                    }
                    b.append_option(v);
                }
                (Builder::Bool(b), _) => {
                    let v = value.and_then(parse::boolean);
                    if value.is_some() && v.is_none() {
                        first(slot.invalid);
                    }
                    b.append_option(v);
                }
                (Builder::Absent(_), _) => {}
            }
        }
        self.reasons.push(reason);
        self.records += 1;
    }

    /// The frame of these records, numbered from `row0` in file `file`, with
    /// the structural problems (which come before any other reason).
    fn finish(self, plan: &Plan, file: u32, row0: u64, problems: &[(IdxSize, Structural)]) -> PolarsResult<DataFrame> {
        let n = self.records as usize;
        let mut reasons = self.reasons;
        let from = problems.partition_point(|p| u64::from(p.0) < row0);
        for (row, s) in problems[from..].iter().take_while(|p| u64::from(p.0) < row0 + self.records) {
            reasons[(u64::from(*row) - row0) as usize] = Some(validate::structural_code(*s));
        }
        let rows: Vec<IdxSize> = (row0..row0 + self.records).map(|r| r as IdxSize).collect();
        let mut columns = vec![
            UInt32Chunked::full(validate::FILE.into(), file, n).into_column(),
            IdxCa::from_vec(validate::ROW.into(), rows).into_column(),
        ];
        for (slot, builder) in plan.slots.iter().zip(self.columns) {
            columns.push(match builder {
                Builder::Text(b) => b.finish().into_column(),
                Builder::Int(b) => b.finish().into_column(),
                Builder::Float(b) => b.finish().into_column(),
                Builder::Bool(b) => b.finish().into_column(),
                Builder::Absent(dtype) => Column::full_null(slot.name.into(), n, &dtype),
            });
        }
        columns.push(UInt16Chunked::from_iter_options(validate::REASON.into(), reasons.into_iter()).into_column());
        DataFrame::new(n, columns)
    }
}

/// Where the record starting at `start` ends: the offset of the line end
/// outside quotes that closes it, or `None` when `text` ends first.
fn record_end(text: &[u8], start: usize) -> Option<usize> {
    let mut quoted = false;
    let mut at = start;
    loop {
        let i = at + memchr::memchr2(b'\n', b'"', &text[at..])?;
        if text[i] == b'"' {
            quoted = !quoted;
        } else if !quoted {
            return Some(i);
        }
        at = i + 1;
    }
}

/// Splits one record (line end excluded) into fields and hands slot `k`
/// its field in `values[k]`. Quoted fields lose their quotes and `""`
/// becomes `"`; the unquoted copies live in `owned`. False when the record
/// holds a carriage return outside quotes other than its line end's, which
/// polars reads in ways of its own (it drops one before a delimiter, keeps
/// one inside a field): such a file is staged by polars.
fn fields<'a>(
    plan: &Plan,
    record: &'a str,
    values: &mut [Option<&'a str>],
    owned: &mut Vec<(usize, String)>,
    has_cr: bool,
) -> bool {
    values.iter_mut().for_each(|v| *v = None);
    owned.clear();
    let record = record.strip_suffix('\r').unwrap_or(record);
    // A blank line is a row of nulls.
    if record.is_empty() {
        return true;
    }
    let bytes = record.as_bytes();
    let d = plan.delimiter;
    let plain = |part: &[u8]| !has_cr || memchr::memchr(b'\r', part).is_none();
    if memchr::memchr(b'"', bytes).is_none() {
        if !plain(bytes) {
            return false;
        }
        let mut start = 0;
        let mut f = 0;
        for end in memchr::memchr_iter(d, bytes).chain(std::iter::once(bytes.len())) {
            if let Some(Some(k)) = plan.by_field.get(f) {
                let v = &record[start..end];
                values[*k] = (!v.is_empty()).then_some(v);
            }
            start = end + 1;
            f += 1;
            if f >= plan.by_field.len() {
                break;
            }
        }
        return true;
    }
    let mut i = 0;
    let mut f = 0;
    while f < plan.by_field.len() {
        let slot = plan.by_field[f];
        let end;
        if bytes.get(i) == Some(&b'"') {
            // A quoted field: up to the quote not doubled.
            let mut text = String::new();
            let mut at = i + 1;
            loop {
                match memchr::memchr(b'"', &bytes[at..]) {
                    Some(q) if bytes.get(at + q + 1) == Some(&b'"') => {
                        text.push_str(&record[at..at + q + 1]);
                        at += q + 2;
                    }
                    Some(q) => {
                        text.push_str(&record[at..at + q]);
                        at += q + 1;
                        break;
                    }
                    None => {
                        text.push_str(&record[at..]);
                        at = bytes.len();
                        break;
                    }
                }
            }
            // Anything between the closing quote and the delimiter (an
            // irregular record, which the pre-read replaced) is dropped.
            end = memchr::memchr(d, &bytes[at..]).map_or(bytes.len(), |p| at + p);
            if !plain(&bytes[at..end]) {
                return false;
            }
            if let Some(k) = slot {
                if !text.is_empty() {
                    owned.push((k, text));
                }
            }
        } else {
            end = memchr::memchr(d, &bytes[i..]).map_or(bytes.len(), |p| i + p);
            if !plain(&bytes[i..end]) {
                return false;
            }
            if let Some(k) = slot {
                let v = &record[i..end];
                values[k] = (!v.is_empty()).then_some(v);
            }
        }
        f += 1;
        if end >= bytes.len() {
            break;
        }
        i = end + 1;
    }
    true
}

/// Parses the whole records of `text` (it starts at a record and ends at
/// one, or at the end of the file when `last`); `None` when a record is one
/// that `fields` leaves to polars.
fn parse_records(plan: &Plan, text: &str, last: bool) -> Option<Parsed> {
    let bytes = text.as_bytes();
    let has_cr = memchr::memchr(b'\r', bytes).is_some();
    let mut parsed = Parsed::new(plan, BATCH_ROWS as usize);
    let mut values: Vec<Option<&str>> = vec![None; plan.slots.len()];
    let mut owned: Vec<(usize, String)> = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let end = match record_end(bytes, start) {
            Some(e) => e,
            // The last record without a line end counts if it is not empty.
            None if last && bytes[start..].iter().any(|&b| b != b'\r') => bytes.len(),
            None => break,
        };
        let record = &text[start..end];
        if !fields(plan, record, &mut values, &mut owned, has_cr) {
            return None;
        }
        if owned.is_empty() {
            parsed.push(plan, &values);
        } else {
            let mut with_owned = values.clone();
            for (k, s) in owned.iter() {
                with_owned[*k] = Some(s.as_str());
            }
            parsed.push(plan, &with_owned);
        }
        start = end + 1;
    }
    Some(parsed)
}

/// Offsets in `buf` (from `from`) where batches of about `step` bytes
/// end: each just past a line end outside quotes. With `eof`, the buffer's
/// end closes the last batch.
fn cuts(buf: &[u8], from: usize, step: usize, eof: bool) -> Vec<usize> {
    let mut out = Vec::new();
    let mut pos = from;
    while pos < buf.len() {
        let target = pos + step;
        if target >= buf.len() {
            if eof {
                out.push(buf.len());
            }
            break;
        }
        // Quote parity from the batch's start decides whether the line end
        // found after the target is inside a quoted field.
        let quoted = memchr::memchr_iter(b'"', &buf[pos..target]).count() % 2 == 1;
        let mut at = target;
        let mut inside = quoted;
        let end = loop {
            match memchr::memchr2(b'\n', b'"', &buf[at..]) {
                Some(i) if buf[at + i] == b'"' => {
                    inside = !inside;
                    at += i + 1;
                }
                Some(i) if inside => at += i + 1,
                Some(i) => break Some(at + i + 1),
                None => break None,
            }
        };
        match end {
            Some(e) => {
                out.push(e);
                pos = e;
            }
            None => {
                if eof {
                    out.push(buf.len());
                }
                break;
            }
        }
    }
    out
}

/// Why the fused staging did not stage a dataset.
pub(crate) enum Declined {
    /// The polars path stages it instead (an input this reader does not
    /// take, or a disagreement with the pre-read).
    Fallback,
    Failed(IngestError),
}

impl From<IngestError> for Declined {
    fn from(e: IngestError) -> Self {
        Declined::Failed(e)
    }
}

/// What a polars error while staging dataset `ds` ends the staging with.
fn polars_failed(ds: Dataset) -> impl Fn(PolarsError) -> Declined + Copy {
    move |cause| Declined::Failed(super::staging_failed(ds)(cause))
}

/// What an error reading or writing `path` while staging dataset `ds` ends
/// the staging with.
fn io_failed(ds: Dataset, path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Declined {
    let path = path.to_path_buf();
    move |cause| Declined::Failed(IngestError::Unreadable { dataset: ds, path, cause })
}

/// What staging learnt on the way besides the rows.
#[derive(Debug, Default)]
pub(crate) struct Staged {
    /// What the accepted rows proved of their order.
    pub order: RowOrder,
    /// Per file, where some records start: (0-based data record, byte offset
    /// in its `read_path`), one per batch, in order
    /// ([`super::InputFile::marks`]).
    pub marks: Vec<Vec<(u64, u64)>>,
}

/// Stages a dataset read from CSV files to the Parquet file `out`.
pub(crate) fn stage(input: &DatasetInput, options: IngestOptions, out: &std::path::Path) -> Result<Staged, Declined> {
    stage_in(input, options, out, None)
}

/// [`stage`], in batches of `step` bytes when given (tests cut tiny files
/// into many batches, at every kind of place).
fn stage_in(
    input: &DatasetInput,
    options: IngestOptions,
    out: &std::path::Path,
    step: Option<usize>,
) -> Result<Staged, Declined> {
    let ds = input.dataset;
    if input.converted || input.files.iter().any(|f| f.format != Format::Csv || f.records.is_none()) {
        return Err(Declined::Fallback);
    }
    // Fields are cut at the delimiter's byte inside UTF-8 text: only an ASCII
    // delimiter (all the command line takes) cuts between characters.
    if !options.delimiter.is_ascii() || matches!(options.delimiter, b'"' | b'\n' | b'\r') {
        return Err(Declined::Fallback);
    }
    if input.files.iter().map(|f| f.records.unwrap_or(0)).sum::<u64>() == 0 {
        // An empty dataset is staged whole by polars, which writes its schema.
        return Err(Declined::Fallback);
    }
    let polars_err = polars_failed(ds);
    let mut frame = input.frame.clone();
    let schema = frame.collect_schema().map_err(polars_err)?;
    let file = std::fs::File::create(out).map_err(io_failed(ds, out))?;
    let mut writer = ParquetWriter::new(file).batched(&schema).map_err(polars_err)?;
    // The writer encodes one batch while the next ones are parsed.
    let (send, batches) = std::sync::mpsc::sync_channel::<DataFrame>(2);
    std::thread::scope(|scope| {
        let written = scope.spawn(move || -> PolarsResult<()> {
            for df in batches {
                writer.write_batch(&df)?;
            }
            writer.finish().map(|_| ())
        });
        // Followed here, in row order, while the writer encodes.
        let mut order = Order::of(ds, &input.present);
        let mut seen = Ok(());
        let mut marks = Vec::new();
        let read = read(input, options, &schema, step, &mut marks, |df| {
            if let (Some(order), Ok(())) = (order.as_mut(), &seen) {
                seen = accepted(&df).and_then(|a| order.see(&df, Some(&a)));
            }
            send.send(df).is_ok()
        });
        drop(send);
        let written = written.join().unwrap_or_else(|_| Err(PolarsError::ComputeError("the writer stopped".into())));
        // A failed write ends the reading early: its error is the one to report.
        written.map_err(polars_err)?;
        read?;
        seen.map_err(polars_err)?;
        Ok(Staged { order: order.map(|o| o.proven()).unwrap_or_default(), marks })
    })
}

/// A staged batch's accepted rows, as [`DatasetInput::accepted`] takes
/// them: no reject reason, inside the window.
fn accepted(df: &DataFrame) -> PolarsResult<BooleanChunked> {
    let valid = df.column(validate::REASON)?.is_null();
    let inside = !df.column(OUTSIDE)?.bool()?;
    Ok(&valid & &inside)
}

/// Reads every file of `input` and hands each batch to `send`, in order;
/// `send` returns false when the batch cannot be taken. Each batch's start
/// goes to `marks` ([`Staged::marks`]).
fn read(
    input: &DatasetInput,
    options: IngestOptions,
    schema: &Schema,
    step: Option<usize>,
    marks: &mut Vec<Vec<(u64, u64)>>,
    mut send: impl FnMut(DataFrame) -> bool,
) -> Result<(), Declined> {
    let ds = input.dataset;
    let polars_err = polars_failed(ds);
    let outside = super::outside(ds, &input.present, options).alias(OUTSIDE);
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 8);
    for (index, f) in input.files.iter().enumerate() {
        let plan = Plan::new(ds, &f.columns, options);
        if !plan.supported() {
            return Err(Declined::Fallback);
        }
        let records = f.records.unwrap_or(0);
        let per_record = (f.bytes / (records + 1)).max(1) as usize;
        let step = step.unwrap_or((per_record * BATCH_ROWS as usize).clamp(1 << 16, 1 << 26));
        let mut reader = std::fs::File::open(&f.read_path).map_err(io_failed(ds, &f.read_path))?;
        let mut buf: Vec<u8> = Vec::new();
        let mut eof = false;
        let mut header = true;
        let mut row0 = 0u64;
        // The file offset of `buf`'s first byte.
        let mut base = 0u64;
        let mut starts = Vec::new();
        // Two batches per thread, read ahead; more when no record ends in them.
        let mut want = 2 * threads * step;
        loop {
            while !eof && buf.len() < want {
                let at = buf.len();
                buf.resize(want, 0);
                let n = reader.read(&mut buf[at..]).map_err(io_failed(ds, &f.read_path))?;
                buf.truncate(at + n);
                eof = n == 0;
            }
            let mut from = 0;
            if header {
                match record_end(&buf, 0) {
                    Some(e) => from = e + 1,
                    None if eof => break,
                    None => {
                        want = buf.len() + step;
                        continue;
                    }
                }
                header = false;
            }
            let ends = cuts(&buf, from, step, eof);
            let Some(&s) = ends.last() else {
                if eof {
                    break;
                }
                buf.drain(..from);
                base += from as u64;
                want = buf.len() + step;
                continue;
            };
            // The pre-read proved the file UTF-8, and batches start and end
            // at line ends: each batch is whole characters.
            let text = std::str::from_utf8(&buf[..s]).map_err(|_| Declined::Fallback)?;
            let bounds: Vec<(usize, usize)> =
                std::iter::once(from).chain(ends.iter().copied()).zip(ends.iter().copied()).collect();
            let at_end = eof && s == buf.len();
            let parsed = parse_batches(&plan, text, &bounds, at_end, threads);
            if parsed.len() != bounds.len() {
                return Err(Declined::Fallback);
            }
            for (p, (a, _)) in parsed.into_iter().zip(&bounds) {
                let n = p.records;
                if n == 0 {
                    continue;
                }
                starts.push((row0, base + *a as u64));
                let df = p.finish(&plan, index as u32, row0, &f.problems).map_err(polars_err)?;
                row0 += n;
                let df = df.lazy().with_column(outside.clone()).collect().map_err(polars_err)?;
                if df.schema().as_ref() != schema {
                    return Err(Declined::Fallback);
                }
                if !send(df) {
                    return Ok(());
                }
            }
            if at_end {
                break;
            }
            buf.drain(..s);
            base += s as u64;
            want = 2 * threads * step;
        }
        if row0 != records {
            return Err(Declined::Fallback);
        }
        marks.push(starts);
    }
    Ok(())
}

/// Parses the batches `bounds` of `text` on `threads` threads, each taking
/// the next batch left; the results in order (fewer only if a thread failed
/// or a batch was left to polars).
fn parse_batches(plan: &Plan, text: &str, bounds: &[(usize, usize)], at_end: bool, threads: usize) -> Vec<Parsed> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let last = bounds.len() - 1;
    let mut done: Vec<(usize, Parsed)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(bounds.len()))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((a, b)) = bounds.get(i) else { break mine };
                        match parse_records(plan, &text[*a..*b], at_end && i == last) {
                            Some(p) => mine.push((i, p)),
                            None => break mine,
                        }
                    }
                })
            })
            .collect();
        workers.into_iter().filter_map(|w| w.join().ok()).flatten().collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{open, InputSpec};

    /// Transactions with every kind of trouble a CSV file can hold: quoted
    /// fields (delimiters, doubled quotes, line breaks, empty), blank and
    /// carriage-return lines, ragged and irregular records, bad values of
    /// every type, spaces, CRLF, a BOM, a column outside the contract and no
    /// last line end.
    const TRANSACTIONS: &str = concat!(
        "\u{feff}txn_id,ts,platform,channel,scene,merchant_id,region,method,amount,status,latency_ms,discount,discount_funder,note\n",
        "T1,2021-10-01T10:00:00+08:00,taobao,online,checkout,M1,110000,alipay,10.50,success,120,,,plain\n",
        "\"T2\",\"2021-10-01 10:00:00\",taobao,ONLINE,\"check, out\",M1,110000,\"wechat \"\"pay\"\"\",5,failed,0,1.5,platform,\"multi\nline\"\n",
        "T3,,taobao,online,,M1,110000,alipay,1,success,,,,\n",
        "T4,2021-10-01T10:00:00Z,\"\",online,,M1,110000,alipay,1,success,,,,\n",
        "T5,notatime,taobao,somewhere,,M1,110000,alipay,-3,maybe,-1,NaN,nobody,x\n",
        "T6,20211001100000,taobao,offline,,M1,110000,alipay,1e13,success,5,inf,merchant,\n",
        "\n",
        "T8,2021-10-01T10:00:00+08:00,taobao\n",
        "T9,2021-10-01T10:00:00+08:00,taobao,online,,M1,110000,alipay,1,success,1,,,n,extra,extra2\n",
        "T10,2021-10-01T10:00:00+08:00,Joe 5\" TV,online,,M1,110000,alipay,1,success,,,,\n",
        "\"T11\"x,2021-10-01T10:00:00+08:00,taobao,online,,M1,110000,alipay,1,success,,,,\n",
        " T12 , 2021-10-01T10:00:00+08:00 ,taobao, online ,,M1,110000,alipay, 7 ,success, 3 ,-0.5,,\n",
        "T13,2021-10-01T10:00:00+08:00,taobao,online,,M1,110000,alipay,1,success,,,,\r\n",
        "\r\n",
        "T15,2021-10-01T23:59:59.5+08:00,jd,offline,,M2,310000,unionpay,0.01,success,7,0,provider,\"\"\"quoted\"\" start\"\n",
        ",,,,,,,,,,,,,\n",
        "T17,2021-10-08T00:00:00+08:00,jd,offline,,M2,310000,unionpay,99999999999.99,success,,,,last",
    );

    /// Checkout with CRLF line ends throughout and a missing optional column.
    const CHECKOUT: &str = concat!(
        "session_id,ts,platform,merchant_id,region,method,position,is_default,folded,surcharge,selected\r\n",
        "S1,2021-10-01T10:00:00+08:00,taobao,M1,110000,花呗,1,true,false,0.00,YES\r\n",
        "S1,2021-10-01T10:00:00+08:00,taobao,M1,110000,\"云闪付\r\n(银联)\",2,0,no,-1,\r\n",
        "S2,2021-10-01T10:00:00+08:00,taobao,M1,110000,alipay,0,maybe,1,x,false\r\n",
        "S3,2021-10-01T10:00:00+08:00,taobao,M1,110000,alipay,99999999999999999999,true,true,,true\r\n",
    );

    fn write(dir: &std::path::Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    /// Stages every dataset under `dir` with this reader, in batches of each
    /// of `steps` bytes, and checks that the rows equal polars' validated
    /// frame; returns the rows compared.
    fn same_as_polars(dir: &std::path::Path, options: IngestOptions, steps: &[Option<usize>]) -> usize {
        compare(dir, options, steps, false)
    }

    /// [`same_as_polars`], where a dataset may be left to polars when
    /// `may_decline`.
    fn compare(dir: &std::path::Path, options: IngestOptions, steps: &[Option<usize>], may_decline: bool) -> usize {
        let spec = InputSpec { data: Some(dir.to_path_buf()), ..Default::default() };
        let inputs = open(&spec, options).unwrap();
        let out = tempfile::tempdir().unwrap();
        let mut rows = 0;
        for input in inputs.datasets.values() {
            let want = input.frame.clone().collect().unwrap();
            // The order proven over polars' accepted rows, seen at once.
            let order = Order::of(input.dataset, &input.present).map(|mut o| {
                let columns: Vec<Expr> = o.columns().into_iter().map(col).collect();
                o.see(&input.accepted().select(columns).collect().unwrap(), None).unwrap();
                o.proven()
            });
            for step in steps {
                let path = out.path().join(format!("{}-{step:?}.parquet", input.dataset.name()));
                match stage_in(input, options, &path, *step) {
                    Ok(got) => {
                        assert_eq!(Some(got.order), order.clone().or(Some(RowOrder::Unknown)), "{step:?}");
                        marks_start_records(input, &got.marks, options.delimiter);
                    }
                    Err(Declined::Fallback) if may_decline => continue,
                    Err(_) => panic!("{}: declined", input.dataset),
                }
                let args = ScanArgsParquet { glob: false, ..Default::default() };
                let got = LazyFrame::scan_parquet(PlRefPath::new(path.to_string_lossy().as_ref()), args)
                    .unwrap()
                    .collect()
                    .unwrap();
                assert!(
                    got.equals_missing(&want),
                    "{} in steps of {step:?}:\npolars {want}\nfused {got}",
                    input.dataset
                );
            }
            rows += want.height();
        }
        rows
    }

    /// Every mark is where the pre-read's scanner starts that record, and
    /// each file's first mark is its first data record.
    fn marks_start_records(input: &DatasetInput, marks: &[Vec<(u64, u64)>], delimiter: u8) {
        assert_eq!(marks.len(), input.files.len());
        for (f, marks) in input.files.iter().zip(marks) {
            let mut starts = Vec::new();
            crate::ingest::fileread::records(&f.read_path, delimiter, |_| {}, |r| starts.push(r.start)).unwrap();
            let data = starts.len() as u64 - 1;
            assert_eq!(marks.first().map(|m| m.0), (data > 0).then_some(0), "{}", f.path.display());
            for (record, offset) in marks {
                assert_eq!(starts[*record as usize + 1], *offset, "{} record {record}", f.path.display());
            }
        }
    }

    const STEPS: [Option<usize>; 5] = [None, Some(1), Some(7), Some(50), Some(300)];

    #[test]
    fn malformed_files_stage_as_polars_validates_them() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "transactions.csv", TRANSACTIONS);
        write(dir.path(), "checkout.csv", CHECKOUT);
        // 17 transactions (the blank and the carriage-return lines are
        // records) and 4 checkout rows.
        assert_eq!(same_as_polars(dir.path(), IngestOptions::default(), &STEPS), 21);
    }

    #[test]
    fn options_apply_as_in_polars() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "transactions.csv", TRANSACTIONS);
        write(dir.path(), "checkout.csv", CHECKOUT);
        let options = IngestOptions {
            timezone: Offset(-5 * 3600),
            amounts_in_fen: true,
            window: (Some(1_633_000_000_000_000), Some(1_633_100_000_000_000)),
            ..IngestOptions::default()
        };
        assert_eq!(same_as_polars(dir.path(), options, &STEPS[..3]), 21);
    }

    #[test]
    fn several_files_and_a_semicolon() {
        let dir = tempfile::tempdir().unwrap();
        let semi = |t: &str| t.replace(',', ";");
        std::fs::create_dir(dir.path().join("transactions")).unwrap();
        write(&dir.path().join("transactions"), "a.csv", &semi(TRANSACTIONS));
        // The same header again (one polars scan of both), then another one.
        write(&dir.path().join("transactions"), "b.csv", &semi(&TRANSACTIONS.replace("T1,", "U1,")));
        // A text column last, on CRLF lines: its value is not `alipay\r`.
        let other = concat!(
            "txn_id;ts;platform;channel;merchant_id;region;amount;status;method\r\n",
            "V1;2021-10-01T10:00:00+08:00;jd;online;M9;310000;3;success;alipay\r\n",
            "V2;2021-10-01T10:00:00+08:00;jd;online;M9;310000;3;success;\r\n",
            "V3;2021-10-01T10:00:00+08:00;jd;online;M9;310000;3;success;\"a;b\"\r\n\r\n",
        );
        write(&dir.path().join("transactions"), "c.csv", other);
        write(dir.path(), "checkout.csv", &semi(CHECKOUT));
        let options = IngestOptions { delimiter: b';', ..IngestOptions::default() };
        assert_eq!(same_as_polars(dir.path(), options, &STEPS[..3]), 17 + 17 + 4 + 4);
    }

    #[test]
    fn a_lone_carriage_return_leaves_the_file_to_polars() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "transactions.csv", TRANSACTIONS);
        let header = "session_id,ts,platform,merchant_id,region,method,position,is_default,folded,surcharge,selected\n";
        let options = IngestOptions::default();
        for (record, declined) in [("x\r,y\n", true), ("\"x\r\",y\r\n", false), ("\"x\"\r,y\n", true), ("\r\r\n", true)]
        {
            write(dir.path(), "checkout.csv", &format!("{header}{record}"));
            let inputs =
                open(&InputSpec { data: Some(dir.path().to_path_buf()), ..Default::default() }, options).unwrap();
            let out = dir.path().join("staged.parquet");
            let staged = stage(&inputs.datasets[&Dataset::Checkout], options, &out);
            assert_eq!(matches!(staged, Err(Declined::Fallback)), declined, "{record:?}");
        }
    }

    #[test]
    fn cuts_fall_after_line_ends_outside_quotes() {
        let text = b"a,\"b\nc\",d\ne,f\n\"\"\"\n\"\n";
        // From 0 in steps of 2: the first line end (offset 4) is quoted.
        assert_eq!(cuts(text, 0, 2, false), vec![10, 14, 20]);
        assert_eq!(cuts(text, 0, 2, true), vec![10, 14, 20]);
        assert_eq!(cuts(&text[..18], 0, 2, false), vec![10, 14]);
        assert_eq!(cuts(&text[..18], 0, 2, true), vec![10, 14, 18]);
        assert_eq!(record_end(text, 0), Some(9));
        assert_eq!(record_end(text, 14), Some(19));
    }

    /// Field texts, good and bad, for any checkout column.
    const TOKENS: &[&str] = &[
        "",
        " ",
        "S1",
        "taobao",
        "2021-10-01T10:00:00+08:00",
        "20211001100000",
        "2021-13-01 10:00:00",
        "1",
        "0",
        "-2",
        "3.5",
        "1e13",
        "NaN",
        "true",
        "No",
        "maybe",
        "platform",
        "a,b",
        "say \"hi\"",
        "two\nlines",
        "x\r",
        "云闪付",
        "a\"b",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Random checkout files (any token in any column, quoted or not,
        /// ragged, blank and CRLF lines) stage as polars validates them.
        #[test]
        fn random_files_stage_as_polars_validates_them(
            rows in proptest::collection::vec(
                (proptest::collection::vec((0..TOKENS.len(), proptest::bool::ANY), 0..16), proptest::bool::ANY),
                1..40,
            ),
            step in 1usize..200,
        ) {
            let header = "session_id,ts,platform,merchant_id,region,method,position,is_default,folded,surcharge,selected";
            let mut text = format!("{header}\n");
            for (fields, crlf) in &rows {
                let line: Vec<String> = fields
                    .iter()
                    .map(|(t, quoted)| {
                        let t = TOKENS[*t];
                        if *quoted { format!("\"{}\"", t.replace('"', "\"\"")) } else { t.replace('\n', " ") }
                    })
                    .collect();
                text.push_str(&line.join(","));
                text.push_str(if *crlf { "\r\n" } else { "\n" });
            }
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "transactions.csv", TRANSACTIONS);
            write(dir.path(), "checkout.csv", &text);
            // A carriage return outside quotes, not ending a line, leaves
            // the file to polars.
            let lone_cr = text.replace("\r\n", "").contains('\r');
            compare(dir.path(), IngestOptions::default(), &[None, Some(step)], lone_cr);
        }
    }
}
