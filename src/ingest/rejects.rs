//! Rejected rows: where they are in their files, and `<out>/rejected/<dataset>.csv`.
//!
//! Polars tells which records were rejected; this module goes back to the
//! files that had any (and only those) to find each record's line number and
//! raw text, since a rejected row must be traceable to its source.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use polars::prelude::*;
use serde::Serialize;

use super::csvscan::Record;
use super::fileread::Start;
use super::validate::{FILE, REASON, ROW};
use super::{DatasetInput, Format, IngestError};

/// One rejected row, located in its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedRow {
    pub file: String,
    /// 1-based physical line where the record starts (CSV); None for Parquet.
    pub line: Option<u64>,
    /// 1-based data record (row) number, header excluded.
    pub record: u64,
    pub reason: String,
    /// The record's raw text (CSV); empty for Parquet.
    pub raw: String,
}

/// The plan that lists rejected rows.
pub fn rejected_plan(input: &DatasetInput) -> LazyFrame {
    input.frame.clone().filter(col(REASON).is_not_null()).select([
        col(FILE),
        col(ROW).cast(DataType::UInt64),
        col(REASON),
    ])
}

/// Locates every rejected row of the collected `rejected_plan`, in file and line order.
pub fn locate(input: &DatasetInput, rejected: &DataFrame, delimiter: u8) -> Result<Vec<RejectedRow>, IngestError> {
    let err = |cause| IngestError::Polars { context: format!("{}: rejected rows", input.dataset), cause };
    let files = rejected.column(FILE).and_then(|c| c.u32().cloned()).map_err(err)?;
    let rows = rejected.column(ROW).and_then(|c| c.u64().cloned()).map_err(err)?;
    let reasons = rejected.column(REASON).and_then(|c| c.u16().cloned()).map_err(err)?;
    let table = super::validate::reason_table(input.dataset);
    let mut by_file: BTreeMap<u32, Vec<(u64, String)>> = BTreeMap::new();
    for ((f, r), reason) in files.iter().zip(rows.iter()).zip(reasons.iter()) {
        if let (Some(f), Some(r), Some(reason)) = (f, r, reason) {
            let text = table.get(usize::from(reason)).cloned().unwrap_or_else(|| format!("reason {reason}"));
            by_file.entry(f).or_default().push((r, text));
        }
    }
    let mut out = Vec::new();
    for (f, mut rows) in by_file {
        rows.sort();
        let Some(file) = input.files.get(f as usize) else { continue };
        let name = file.path.display().to_string();
        match file.format {
            Format::Csv => {
                let wanted: Vec<u64> = rows.iter().map(|(r, _)| *r).collect();
                // Marks are offsets in the file staging read.
                let marks = if file.raw_path == file.read_path { &file.marks[..] } else { &[] };
                let located = locate_csv(&file.raw_path, delimiter, &wanted, marks).map_err(|cause| {
                    IngestError::Unreadable { dataset: input.dataset, path: file.path.clone(), cause }
                })?;
                for ((record, reason), (line, raw)) in rows.into_iter().zip(located) {
                    let line = line + file.line_offset;
                    out.push(RejectedRow { file: name.clone(), line: Some(line), record: record + 1, reason, raw });
                }
            }
            Format::Parquet => {
                for (record, reason) in rows {
                    out.push(RejectedRow {
                        file: name.clone(),
                        line: None,
                        record: record + 1,
                        reason,
                        raw: String::new(),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// For each wanted 0-based data record (sorted), its 1-based start line and raw text.
///
/// `marks` (0-based data record, byte offset of its first byte; in order,
/// [`super::InputFile::marks`]) let each wanted record be looked for from
/// the last mark at or before it instead of from the file's start; the line
/// of a mark is counted from line ends alone, much faster than the scanner.
/// With no marks, or when a record is not found from its mark, the file is
/// scanned from its start as far as the last wanted record.
pub fn locate_csv(path: &Path, delimiter: u8, wanted: &[u64], marks: &[(u64, u64)]) -> io::Result<Vec<(u64, String)>> {
    match spans_from_marks(path, delimiter, wanted, marks)? {
        Some(spans) => read_spans(path, spans),
        None => read_spans(path, spans_from(path, delimiter, Start::FILE, wanted)?),
    }
}

/// (line, first byte, end) of each wanted record, scanning from `start` no
/// further than the last of them: fewer when the file ends first.
fn spans_from(path: &Path, delimiter: u8, start: Start, wanted: &[u64]) -> io::Result<Vec<(u64, u64, u64)>> {
    // The same scanner the pre-read used, so record numbers agree with polars'.
    let mut spans: Vec<(u64, u64, u64)> = Vec::with_capacity(wanted.len());
    let on_record = |r: Record| {
        if r.index > 0 && wanted.get(spans.len()) == Some(&(r.index - 1)) {
            spans.push((r.line, r.start, r.end));
        }
        spans.len() < wanted.len()
    };
    super::fileread::records_while(path, delimiter, start, |_| {}, on_record)?;
    Ok(spans)
}

/// [`spans_from`] for each group of wanted records that share their last
/// mark, from that mark; `None` when a group is not all found there.
fn spans_from_marks(
    path: &Path,
    delimiter: u8,
    wanted: &[u64],
    marks: &[(u64, u64)],
) -> io::Result<Option<Vec<(u64, u64, u64)>>> {
    let mut file = File::open(path)?;
    // Line ends counted so far: the line at byte `counted.0` is `counted.1`.
    let mut counted = (0u64, 1u64);
    let mut spans = Vec::with_capacity(wanted.len());
    let mark_of = |record: u64| marks.partition_point(|(r, _)| *r <= record);
    let mut i = 0;
    while i < wanted.len() {
        let k = mark_of(wanted[i]);
        let group = wanted[i..].iter().take_while(|r| mark_of(**r) == k).count();
        let start = match k.checked_sub(1).map(|m| marks[m]) {
            Some((record, offset)) if offset >= counted.0 => {
                counted = (offset, counted.1 + super::fileread::line_ends(&mut file, counted.0, offset)?);
                Start { offset, line: counted.1, index: record + 1 }
            }
            Some(_) => return Ok(None),
            None => Start::FILE,
        };
        let found = spans_from(path, delimiter, start, &wanted[i..i + group])?;
        if found.len() < group {
            return Ok(None);
        }
        spans.extend(found);
        i += group;
    }
    Ok(Some(spans))
}

/// The raw text of each (line, first byte, end) span, with its line.
fn read_spans(path: &Path, spans: Vec<(u64, u64, u64)>) -> io::Result<Vec<(u64, String)>> {
    let mut file = File::open(path)?;
    let mut out = Vec::with_capacity(spans.len());
    for (line, from, to) in spans {
        let mut raw = vec![0u8; (to - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut raw)?;
        let text = String::from_utf8_lossy(&raw);
        out.push((line, text.trim_end_matches(['\r', '\n']).to_string()));
    }
    Ok(out)
}

/// Writes `<dir>/<dataset>.csv` with one line per rejected row.
pub fn write(dir: &Path, dataset: &str, rows: &[RejectedRow]) -> io::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{dataset}.csv"));
    write_to(&path, rows)?;
    Ok(path)
}

/// Writes rejected rows as CSV: source_file, line, record, reason, raw.
pub fn write_to(path: &Path, rows: &[RejectedRow]) -> io::Result<()> {
    let mut w = csv::Writer::from_path(path).map_err(io::Error::other)?;
    w.write_record(["source_file", "line", "record", "reason", "raw"]).map_err(io::Error::other)?;
    for r in rows {
        let line = r.line.map(|l| l.to_string()).unwrap_or_default();
        let raw = crate::text::csv_cell(&r.raw);
        w.write_record([r.file.as_str(), &line, &r.record.to_string(), &r.reason, &raw]).map_err(io::Error::other)?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn locates_records_across_multiline_fields() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"a,b\n1,2\n\"x\ny\",3\n4,5\r\n6,7").unwrap();
        let got = locate_csv(f.path(), b',', &[1, 2, 3], &[]).unwrap();
        assert_eq!(got, vec![(3, "\"x\ny\",3".to_string()), (5, "4,5".to_string()), (6, "6,7".to_string())]);
    }

    #[test]
    fn marks_locate_as_a_scan_from_the_start_does() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"a,b\n1,2\n\"x\ny\",3\n\n4,5\r\n\"p\nq\nr\",6\n7,8\n9,10").unwrap();
        let mut starts = Vec::new();
        crate::ingest::fileread::records(f.path(), b',', |_| {}, |r| starts.push(r.start)).unwrap();
        let all: Vec<u64> = (0..7).collect();
        let whole = locate_csv(f.path(), b',', &all, &[]).unwrap();
        let lines: Vec<u64> = whole.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2, 3, 5, 6, 7, 10, 11]);
        assert_eq!(whole[4].1, "\"p\nq\nr\",6");
        for every in 1..=4 {
            let marks: Vec<(u64, u64)> = (0..7).step_by(every).map(|r| (r as u64, starts[r + 1])).collect();
            for wanted in [&all[..], &[6], &[1, 5], &[0, 3, 4]] {
                let want: Vec<(u64, String)> = wanted.iter().map(|r| whole[*r as usize].clone()).collect();
                assert_eq!(
                    locate_csv(f.path(), b',', wanted, &marks).unwrap(),
                    want,
                    "marks every {every}, {wanted:?}"
                );
            }
        }
        // A mark past the end of the file finds nothing there: the scan from
        // the start answers.
        assert_eq!(locate_csv(f.path(), b',', &[6], &[(6, 1000)]).unwrap(), [whole[6].clone()]);
    }
}
