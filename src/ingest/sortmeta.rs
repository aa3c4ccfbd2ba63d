//! The order of a Parquet file's rows, recorded in its footer by `hutong
//! convert` and read back by `audit`: which key columns the rows are sorted
//! by, so the sorted path is taken without looking at the rows first.
//!
//! `convert` also marks every Parquet file it writes with [`CONVERTED`]
//! (the dataset's name), so engines that read the files themselves
//! (`audit --engine datafusion`) know the rows were validated.
//!
//! The order is written twice: as hutong's own key-value entry
//! ([`SORTED_BY`], which `audit` reads) and as the Parquet standard's
//! `sorting_columns` of every row group, which other readers understand.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use polars_parquet_format::thrift::protocol::{TCompactInputProtocol, TCompactOutputProtocol};
use polars_parquet_format::{FileMetaData, KeyValue, SortingColumn};

/// The key-value entry of the footer: the sorted key columns, each with its
/// direction, as `session_id asc` (several separated by commas).
pub const SORTED_BY: &str = "hutong.sorted_by";

/// The key-value entry of the footer beside [`SORTED_BY`]: the columns that
/// hold one value within each run of the first sorted key, as `platform,
/// merchant_id` (see [`super::order`]).
pub const CONSTANT_WITHIN: &str = "hutong.constant_within";

/// The key-value entry `convert` writes in every Parquet file: the dataset
/// whose validated rows the file holds.
pub const CONVERTED: &str = "hutong.converted";

/// A Parquet file ends with its footer, the footer's length (4 bytes, little
/// endian) and this magic.
const MAGIC: &[u8; 4] = b"PAR1";

/// The largest footer read: far above any footer hutong writes, and a bound
/// on what a damaged length could make it allocate.
const MAX_FOOTER: u64 = 64 << 20;

/// A key column the rows are sorted by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortedKey {
    pub column: String,
    pub descending: bool,
}

impl SortedKey {
    /// `session_id asc`: the key as the footer entry writes it.
    pub fn text(&self) -> String {
        format!("{} {}", self.column, if self.descending { "desc" } else { "asc" })
    }

    fn parse(s: &str) -> Option<SortedKey> {
        let (column, direction) = s.trim().rsplit_once(' ')?;
        let descending = match direction {
            "asc" => false,
            "desc" => true,
            _ => return None,
        };
        (!column.is_empty()).then(|| SortedKey { column: column.to_string(), descending })
    }
}

/// Records in the footer of the Parquet file at `path` that its rows are
/// sorted by `keys`, and that the columns `constant` hold one value within
/// each run of the first key, rewriting the footer only (the data stays in
/// place).
pub fn record(path: &Path, keys: &[SortedKey], constant: &[String]) -> std::io::Result<()> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let (start, mut meta) = read_footer(&mut file)?;
    let value = keys.iter().map(SortedKey::text).collect::<Vec<_>>().join(", ");
    let mut entries: Vec<KeyValue> = meta
        .key_value_metadata
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|kv| kv.key != SORTED_BY && kv.key != CONSTANT_WITHIN)
        .collect();
    entries.push(KeyValue { key: SORTED_BY.to_string(), value: Some(value) });
    if !constant.is_empty() {
        entries.push(KeyValue { key: CONSTANT_WITHIN.to_string(), value: Some(constant.join(", ")) });
    }
    meta.key_value_metadata = Some(entries);
    // The standard's form names each key by its position among the leaf
    // columns; a key that is not a leaf column is recorded in hutong's entry only.
    let leaves: Vec<&str> =
        meta.schema.iter().skip(1).filter(|e| e.num_children.unwrap_or(0) == 0).map(|e| e.name.as_str()).collect();
    let sorting: Vec<SortingColumn> = keys
        .iter()
        .filter_map(|k| {
            let index = leaves.iter().position(|l| *l == k.column)?;
            Some(SortingColumn { column_idx: index as i32, descending: k.descending, nulls_first: false })
        })
        .collect();
    if sorting.len() == keys.len() {
        for group in &mut meta.row_groups {
            group.sorting_columns = Some(sorting.clone());
        }
    }
    let mut footer = Vec::new();
    let mut protocol = TCompactOutputProtocol::new(&mut footer);
    meta.write_to_out_protocol(&mut protocol).map_err(thrift_error)?;
    let length = u32::try_from(footer.len()).map_err(|_| invalid("the new footer is too large"))?;
    file.set_len(start)?;
    file.seek(SeekFrom::Start(start))?;
    file.write_all(&footer)?;
    file.write_all(&length.to_le_bytes())?;
    file.write_all(MAGIC)?;
    file.sync_all()
}

/// The keys the footer of the Parquet file at `path` records its rows as
/// sorted by: empty when it records none (any file not written by `hutong
/// convert`).
pub fn recorded(path: &Path) -> std::io::Result<Vec<SortedKey>> {
    let mut file = File::open(path)?;
    let (_, meta) = read_footer(&mut file)?;
    let value =
        meta.key_value_metadata.unwrap_or_default().into_iter().find(|kv| kv.key == SORTED_BY).and_then(|kv| kv.value);
    // An entry hutong cannot read records nothing: the rows are then looked at.
    Ok(value
        .map(|v| v.split(',').map(SortedKey::parse).collect::<Option<Vec<_>>>().unwrap_or_default())
        .unwrap_or_default())
}

/// What the footer of a dataset's one Parquet file records of its rows'
/// order ([`recorded_for`]): the first sorted key, with the columns
/// recorded as constant within its runs.
pub fn order_for(files: &[super::InputFile]) -> super::order::RowOrder {
    let [file] = files else { return super::order::RowOrder::Unknown };
    let Some(key) = recorded_for(files).into_iter().next() else { return super::order::RowOrder::Unknown };
    let constant = entry(&file.path, CONSTANT_WITHIN)
        .ok()
        .flatten()
        .map(|v| v.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect())
        .unwrap_or_default();
    super::order::RowOrder::Sorted(super::order::Proven { key, constant })
}

/// The value of the footer's key-value entry `key`, if it has one.
pub fn entry(path: &Path, key: &str) -> std::io::Result<Option<String>> {
    let mut file = File::open(path)?;
    let (_, meta) = read_footer(&mut file)?;
    Ok(meta.key_value_metadata.unwrap_or_default().into_iter().find(|kv| kv.key == key).and_then(|kv| kv.value))
}

/// The keys a dataset's rows are recorded as sorted by: those of its
/// footer when the dataset is one Parquet file. Several files are never
/// taken as sorted (each may be, and their sequence not), and a footer that
/// cannot be read records nothing (the scan reports the file).
pub fn recorded_for(files: &[super::InputFile]) -> Vec<SortedKey> {
    match files {
        [file] if file.format == super::Format::Parquet => recorded(&file.path).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The footer of a Parquet file: where it starts, and what it says.
fn read_footer(file: &mut File) -> std::io::Result<(u64, FileMetaData)> {
    let size = file.seek(SeekFrom::End(0))?;
    if size < 12 {
        return Err(invalid("too short to be a Parquet file"));
    }
    let mut tail = [0u8; 8];
    file.seek(SeekFrom::End(-8))?;
    file.read_exact(&mut tail)?;
    if &tail[4..] != MAGIC {
        return Err(invalid("no Parquet footer (the file does not end in PAR1)"));
    }
    let length = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if length > MAX_FOOTER || length + 12 > size {
        return Err(invalid("the Parquet footer's length is past the file's start"));
    }
    let start = size - 8 - length;
    let mut footer = vec![0u8; length as usize];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut footer)?;
    let mut protocol = TCompactInputProtocol::new(footer.as_slice(), footer.len() * 2);
    let meta =
        <FileMetaData as polars_parquet_format::thrift::protocol::ReadThrift>::read_from_in_protocol(&mut protocol)
            .map_err(thrift_error)?;
    Ok((start, meta))
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

fn thrift_error(e: polars_parquet_format::thrift::Error) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("the Parquet footer: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    fn write(path: &Path, df: &mut DataFrame) {
        let file = File::create(path).unwrap();
        ParquetWriter::new(file).with_row_group_size(Some(2)).finish(df).unwrap();
    }

    #[test]
    fn the_order_is_recorded_in_the_footer_and_the_data_stays_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkout.parquet");
        let mut df =
            df!("platform" => ["a", "a", "b", "b", "c"], "session_id" => ["s1", "s1", "s2", "s3", "s3"]).unwrap();
        write(&path, &mut df);
        assert_eq!(recorded(&path).unwrap(), Vec::new());

        let key = SortedKey { column: "session_id".into(), descending: false };
        record(&path, std::slice::from_ref(&key), &["platform".to_string()]).unwrap();
        assert_eq!(recorded(&path).unwrap(), vec![key.clone()]);
        assert_eq!(entry(&path, CONSTANT_WITHIN).unwrap().as_deref(), Some("platform"));
        // Recording again replaces the entry rather than adding one.
        let desc = SortedKey { column: "session_id".into(), descending: true };
        record(&path, std::slice::from_ref(&desc), &[]).unwrap();
        assert_eq!(recorded(&path).unwrap(), vec![desc]);
        assert_eq!(entry(&path, CONSTANT_WITHIN).unwrap(), None);

        let mut file = File::open(&path).unwrap();
        let (_, meta) = read_footer(&mut file).unwrap();
        let entries = meta.key_value_metadata.unwrap();
        assert_eq!(entries.iter().filter(|kv| kv.key == SORTED_BY).count(), 1);
        // polars' own schema entry is kept.
        assert!(entries.iter().any(|kv| kv.key == "ARROW:schema"));
        // Several row groups (polars sizes them from the hint), each naming
        // the second leaf column.
        assert!(meta.row_groups.len() >= 2, "{} row groups", meta.row_groups.len());
        for group in &meta.row_groups {
            let sorting = group.sorting_columns.as_ref().unwrap();
            assert_eq!((sorting[0].column_idx, sorting[0].descending, sorting[0].nulls_first), (1, true, false));
        }

        let back = LazyFrame::scan_parquet(PlRefPath::new(path.to_string_lossy().as_ref()), Default::default())
            .unwrap()
            .collect()
            .unwrap();
        assert!(back.equals(&df));
    }

    #[test]
    fn what_is_not_a_parquet_footer_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        std::fs::write(&path, b"PAR1").unwrap();
        assert!(recorded(&path).unwrap_err().to_string().contains("too short"));
        std::fs::write(&path, b"session_id\ns1\ns2\n").unwrap();
        assert!(recorded(&path).unwrap_err().to_string().contains("does not end in PAR1"));
        let mut bytes = b"PAR1xxxx".to_vec();
        bytes.extend_from_slice(&1000u32.to_le_bytes());
        bytes.extend_from_slice(b"PAR1");
        std::fs::write(&path, &bytes).unwrap();
        assert!(recorded(&path).unwrap_err().to_string().contains("past the file's start"));
        let mut bytes = b"PAR1".to_vec();
        bytes.extend_from_slice(&[0xff; 6]);
        bytes.extend_from_slice(&6u32.to_le_bytes());
        bytes.extend_from_slice(b"PAR1");
        std::fs::write(&path, &bytes).unwrap();
        assert!(recorded(&path).unwrap_err().to_string().contains("the Parquet footer"));
    }

    #[test]
    fn an_entry_hutong_cannot_read_records_nothing() {
        assert_eq!(
            SortedKey::parse("session_id asc"),
            Some(SortedKey { column: "session_id".into(), descending: false })
        );
        assert_eq!(SortedKey::parse("session_id sideways"), None);
        assert_eq!(SortedKey::parse("session_id"), None);
        assert_eq!(SortedKey::parse(" desc"), None);
    }
}
