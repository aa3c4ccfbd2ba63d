//! One sequential read of each input file before the audit: its SHA-256 and,
//! for CSV, the records that are blank or have the wrong number of fields.
//!
//! Hashing has to read every byte anyway, so the structural check rides along
//! at little extra cost; polars' own CSV reader cannot report ragged rows when
//! it only parses the projected columns.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::Path;

use polars::prelude::IdxSize;
use sha2::{Digest, Sha256};

use super::csvscan::{Record, Scanner};

/// A structural problem of one CSV record, found by the pre-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Structural {
    /// An empty line: polars reads it as a row of nulls.
    BlankLine,
    /// More or fewer fields than the header has.
    FieldCount,
    /// A quote inside an unquoted field, or text after a closing quote.
    Quoting,
}

impl Structural {
    pub fn reason(self) -> &'static str {
        match self {
            Structural::BlankLine => "blank_line",
            Structural::FieldCount => "wrong_field_count",
            Structural::Quoting => "malformed_quoting",
        }
    }
}

/// What the read found in a CSV file (remembered by `preread::Cache`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct CsvLayout {
    /// Data records (header excluded), blank lines included.
    pub records: u64,
    /// 0-based data record indices with a structural problem, in order.
    pub problems: Vec<(IdxSize, Structural)>,
    pub sha256: String,
    /// The file is not valid UTF-8 (byte offset of the first bad sequence).
    pub invalid_utf8_at: Option<u64>,
    /// Byte spans (start, end) of records with irregular quoting: replaced
    /// in a fixed copy, since polars' reader cannot resynchronise after them.
    pub irregular: Vec<(u64, u64)>,
}

/// Reads the header of a CSV file (the first record; a UTF-8 BOM is dropped).
pub fn csv_header(path: &Path, delimiter: u8) -> io::Result<Option<Vec<String>>> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .map_err(csv_to_io)?;
    let mut record = csv::ByteRecord::new();
    if !rdr.read_byte_record(&mut record).map_err(csv_to_io)? {
        return Ok(None);
    }
    let names = record
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let f = if i == 0 { f.strip_prefix(b"\xef\xbb\xbf").unwrap_or(f) } else { f };
            String::from_utf8_lossy(f).trim().to_string()
        })
        .collect();
    Ok(Some(names))
}

fn csv_to_io(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, format!("{other:?}")),
    }
}

/// Every record of a CSV file, in order, with `on_bytes` seeing each byte of
/// the file once. A stray quote can open a quoted field that runs over the
/// following lines: when such a record is irregular (text after its closing
/// quote), or its quote is still open at the end of the file, the line it
/// opens on becomes an irregular record of its own and scanning resumes on
/// the next line, so one stray quote costs one record, never the lines after
/// it. A regular multi-line quoted field (a name with a line break) is kept.
pub fn records(
    path: &Path,
    delimiter: u8,
    on_bytes: impl FnMut(&[u8]),
    mut on_record: impl FnMut(Record),
) -> io::Result<()> {
    records_while(path, delimiter, Start::FILE, on_bytes, |r| {
        on_record(r);
        true
    })
}

/// Where a scan of a CSV file starts: a record's first byte, the line it
/// starts on and its index (header included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    pub offset: u64,
    pub line: u64,
    pub index: u64,
}

impl Start {
    /// The file's first byte: line 1, the header.
    pub const FILE: Start = Start { offset: 0, line: 1, index: 0 };
}

/// [`records`] from `start` until `on_record` returns false: the file is
/// read no further than the buffer that holds the record it returned false
/// on, and `on_bytes` sees the bytes from `start` to there.
pub fn records_while(
    path: &Path,
    delimiter: u8,
    start: Start,
    mut on_bytes: impl FnMut(&[u8]),
    mut on_record: impl FnMut(Record) -> bool,
) -> io::Result<()> {
    let mut more = true;
    let mut file = File::open(path)?;
    file.seek(io::SeekFrom::Start(start.offset))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut scanner = Scanner::resume(delimiter, start.offset, start.line, start.index);
    let mut seen = start.offset;
    let mut pos = start.offset;
    loop {
        let n = file.read(&mut buf)?;
        // A record to cut to its first line: (start byte, start line, index).
        let mut cut: Option<(u64, u64, u64)> = None;
        let mut take = |r: Record| {
            if cut.is_some() {
                // Re-read after the cut.
            } else if r.irregular && r.spans > 0 {
                cut = Some((r.start, r.line, r.index));
            } else if more {
                more = on_record(r);
            }
        };
        if n > 0 {
            let chunk = &buf[..n];
            // Bytes read again after a cut were already seen.
            let fresh = (pos + n as u64).saturating_sub(seen.max(pos)) as usize;
            on_bytes(&chunk[n - fresh..]);
            seen = seen.max(pos + n as u64);
            pos += n as u64;
            scanner.feed(chunk, &mut take);
        } else if let Some(open) = scanner.unclosed() {
            cut = Some(open);
        } else {
            scanner.finish(&mut take);
            if cut.is_none() {
                return Ok(());
            }
        }
        // Records come in order: the cut one, if any, comes after every
        // record taken so far.
        if !more {
            return Ok(());
        }
        if let Some((start, line, index)) = cut {
            // The opening line alone is the irregular record.
            file.seek(io::SeekFrom::Start(start))?;
            let mut first = Vec::new();
            io::BufRead::read_until(&mut io::BufReader::new(&mut file), b'\n', &mut first)?;
            let end = start + first.len() as u64;
            let fields = first.iter().filter(|b| **b == delimiter).count() + 1;
            more = on_record(Record { index, start, end, line, spans: 0, fields, blank: false, irregular: true });
            scanner = Scanner::resume(delimiter, end, line + 1, index + 1);
            file.seek(io::SeekFrom::Start(end))?;
            pos = end;
        }
    }
}

/// The line ends in bytes `from..to` of `file`: the lines a record at `to`
/// starts below one at `from`, whatever the quoting.
pub fn line_ends(file: &mut File, from: u64, to: u64) -> io::Result<u64> {
    file.seek(io::SeekFrom::Start(from))?;
    let mut left = to.saturating_sub(from);
    let mut buf = vec![0u8; (1 << 20).min(left as usize)];
    let mut ends = 0u64;
    while left > 0 {
        let n = file.read(&mut buf[..(left.min(1 << 20) as usize)])?;
        if n == 0 {
            break;
        }
        ends += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        left -= n as u64;
    }
    Ok(ends)
}

/// Hashes a CSV file and checks the structure of every record.
pub fn scan_csv(path: &Path, delimiter: u8, header_len: usize) -> io::Result<CsvLayout> {
    let mut hasher = Sha256::new();
    let mut layout = CsvLayout::default();
    let mut utf8 = Utf8Check::default();
    let mut records = 0u64;
    let mut irregular = Vec::new();
    let mut check = |r: Record| {
        records += 1;
        if r.index == 0 {
            return;
        }
        let problem = if r.irregular {
            irregular.push((r.start, r.end));
            Structural::Quoting
        } else if r.blank {
            Structural::BlankLine
        } else if r.fields != header_len {
            Structural::FieldCount
        } else {
            return;
        };
        layout.problems.push(((r.index - 1) as IdxSize, problem));
    };
    self::records(
        path,
        delimiter,
        |chunk| {
            hasher.update(chunk);
            utf8.feed(chunk);
        },
        &mut check,
    )?;
    layout.irregular = irregular;
    layout.records = records.saturating_sub(1);
    layout.sha256 = super::sources::sha256_hex(&hasher.finalize());
    layout.invalid_utf8_at = utf8.finish();
    Ok(layout)
}

/// What must be fixed at the start of a CSV file before it can be read as
/// one: line ends of a lone CR (old Mac exports), and blank lines before the
/// header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StartFix {
    pub cr_only: bool,
    pub blank_lines: u64,
}

impl StartFix {
    pub fn needed(self) -> bool {
        self.cr_only || self.blank_lines > 0
    }
}

/// Looks at the first 64 KiB of a file for what [`StartFix`] describes.
pub fn start_fix(path: &Path) -> io::Result<StartFix> {
    let buf = head(path)?;
    let cr_only = memchr::memchr(b'\r', &buf).is_some() && memchr::memchr(b'\n', &buf).is_none();
    let sep = if cr_only { b'\r' } else { b'\n' };
    let mut blank_lines = 0;
    let mut rest = &buf[..];
    while let Some(end) = memchr::memchr(sep, rest) {
        let line = &rest[..end];
        let line = if blank_lines == 0 { line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(line) } else { line };
        if !line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            break;
        }
        blank_lines += 1;
        rest = &rest[end + 1..];
    }
    // Nothing but blank lines in the first 64 KiB: leave it to the empty-file check.
    if memchr::memchr(sep, rest).is_none() && rest.iter().all(|b| b.is_ascii_whitespace()) {
        blank_lines = 0;
    }
    Ok(StartFix { cr_only, blank_lines })
}

/// Writes `src` to `dst` with `fix` applied: lone CRs become line feeds, and
/// the leading blank lines are dropped (the caller adds them back to line
/// numbers).
pub fn normalise(src: &Path, dst: &Path, fix: StartFix) -> io::Result<()> {
    let mut input = File::open(src)?;
    let mut out = io::BufWriter::new(File::create(dst)?);
    let mut buf = vec![0u8; 1 << 20];
    let mut to_skip = fix.blank_lines;
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = &mut buf[..n];
        if fix.cr_only {
            chunk.iter_mut().filter(|b| **b == b'\r').for_each(|b| *b = b'\n');
        }
        let mut start = 0;
        while to_skip > 0 {
            match memchr::memchr(b'\n', &chunk[start..]) {
                Some(i) => {
                    start += i + 1;
                    to_skip -= 1;
                }
                None => {
                    start = chunk.len();
                    break;
                }
            }
        }
        io::Write::write_all(&mut out, &chunk[start..])?;
    }
    io::Write::flush(&mut out)
}

/// The first 64 KiB of a file (less if it is shorter).
fn head(path: &Path) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; 1 << 16];
    let mut file = File::open(path)?;
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(buf)
}

/// Writes `src` to `dst` with each irregular record replaced by one with
/// `fields` empty fields and the same line breaks (inside a quoted first
/// field), so every later record keeps its index and line.
pub fn replace_records(src: &Path, dst: &Path, spans: &[(u64, u64)], fields: usize, delimiter: u8) -> io::Result<()> {
    let mut input = io::BufReader::new(File::open(src)?);
    let mut out = io::BufWriter::new(File::create(dst)?);
    let mut pos = 0u64;
    for &(start, end) in spans {
        io::copy(&mut (&mut input).take(start - pos), &mut out)?;
        let mut record = vec![0u8; (end - start) as usize];
        input.read_exact(&mut record)?;
        pos = end;
        let breaks = record.iter().filter(|b| **b == b'\n').count();
        let ends_line = record.ends_with(b"\n");
        let inner = breaks - usize::from(ends_line);
        let mut placeholder = Vec::new();
        if inner > 0 {
            placeholder.push(b'"');
            placeholder.extend(std::iter::repeat_n(b'\n', inner));
            placeholder.push(b'"');
        }
        placeholder.extend(std::iter::repeat_n(delimiter, fields.saturating_sub(1)));
        if ends_line {
            placeholder.push(b'\n');
        }
        io::Write::write_all(&mut out, &placeholder)?;
    }
    io::copy(&mut input, &mut out)?;
    io::Write::flush(&mut out)
}

/// The offset of a NUL byte in the first 64 KiB, which no CSV text holds.
pub fn first_nul(path: &Path) -> io::Result<Option<u64>> {
    Ok(memchr::memchr(0, &head(path)?).map(|i| i as u64))
}

/// Streaming UTF-8 validation across chunk boundaries.
#[derive(Default)]
struct Utf8Check {
    carry: Vec<u8>,
    offset: u64,
    bad: Option<u64>,
}

impl Utf8Check {
    fn feed(&mut self, chunk: &[u8]) {
        if self.bad.is_some() || chunk.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(chunk);
        match std::str::from_utf8(&data) {
            Ok(_) => self.offset += data.len() as u64,
            Err(e) => {
                let valid = e.valid_up_to();
                if e.error_len().is_some() {
                    self.bad = Some(self.offset + valid as u64);
                } else {
                    // An incomplete sequence at the end: keep it for the next chunk.
                    self.offset += valid as u64;
                    self.carry = data[valid..].to_vec();
                }
            }
        }
    }

    fn finish(self) -> Option<u64> {
        self.bad.or_else(|| (!self.carry.is_empty()).then_some(self.offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text).unwrap();
        f
    }

    #[test]
    fn records_while_reads_no_further_than_the_buffer_it_stopped_in() {
        // 300,000 records of 10 bytes: 3 MB, three buffers of 1 MiB.
        let mut text = b"id,v\n".to_vec();
        for i in 0..300_000u32 {
            text.extend_from_slice(format!("{i:06},abc\n").as_bytes());
        }
        let f = file(&text);
        let (mut bytes, mut seen) = (0usize, Vec::new());
        records_while(
            f.path(),
            b',',
            Start::FILE,
            |b| bytes += b.len(),
            |r| {
                seen.push(r.index);
                r.index < 3
            },
        )
        .unwrap();
        // Header and records 1 to 3: the one it stopped on is the last seen.
        assert_eq!(seen, [0, 1, 2, 3]);
        assert_eq!(bytes, 1 << 20);
        // All of it when it never stops.
        let mut all = 0u64;
        records(f.path(), b',', |_| {}, |_| all += 1).unwrap();
        assert_eq!(all, 300_001);
    }

    #[test]
    fn counts_records_and_finds_ragged_ones() {
        let f = file(b"a,b,c\n1,2,3\n1,2\n\"x\ny\",2,3\n\n1,2,3,4\n1,2,3");
        let layout = scan_csv(f.path(), b',', 3).unwrap();
        assert_eq!(layout.records, 6);
        assert_eq!(
            layout.problems,
            vec![(1, Structural::FieldCount), (3, Structural::BlankLine), (4, Structural::FieldCount)]
        );
        assert_eq!(layout.invalid_utf8_at, None);
    }

    #[test]
    fn header_drops_bom_and_whitespace() {
        let f = file(b"\xef\xbb\xbftxn_id, ts ,amount\n1,2,3\n");
        assert_eq!(csv_header(f.path(), b',').unwrap().unwrap(), ["txn_id", "ts", "amount"]);
        let empty = file(b"");
        assert_eq!(csv_header(empty.path(), b',').unwrap(), None);
    }

    #[test]
    fn finds_lone_crs_and_blank_lines_before_the_header() {
        let f = file(b"a,b\r1,2\r3,4\r");
        assert_eq!(start_fix(f.path()).unwrap(), StartFix { cr_only: true, blank_lines: 0 });
        let f = file(b"\n \r\n\xef\xbb\xbfa,b\n1,2\n");
        assert_eq!(start_fix(f.path()).unwrap(), StartFix { cr_only: false, blank_lines: 2 });
        let f = file(b"a,b\r\n1,2\r\n");
        assert!(!start_fix(f.path()).unwrap().needed());
        let out = tempfile::NamedTempFile::new().unwrap();
        let f = file(b"\r\ra,b\r1,2\r");
        normalise(f.path(), out.path(), start_fix(f.path()).unwrap()).unwrap();
        assert_eq!(std::fs::read(out.path()).unwrap(), b"a,b\n1,2\n");
    }

    #[test]
    fn finds_invalid_utf8() {
        // "支付宝" in GBK: d6 a7 happens to be a valid UTF-8 pair, b8 is not.
        let f = file(b"m\n\xd6\xa7\xb8\xb6\xb1\xa6\n");
        assert_eq!(scan_csv(f.path(), b',', 1).unwrap().invalid_utf8_at, Some(4));
    }
}
