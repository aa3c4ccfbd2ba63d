//! Finding the input files of each dataset: `--data DIR`, or a file, directory
//! or glob per dataset, and recording each file's size and SHA-256.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::IngestError;
use crate::contract::Dataset;

/// The on-disk format of one input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    pub fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "txt" | "tsv" => Some(Format::Csv),
            "parquet" | "pq" => Some(Format::Parquet),
            _ => None,
        }
    }
}

/// One input file, as found on disk.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub format: Format,
    pub bytes: u64,
}

/// Where the user said each dataset is.
#[derive(Debug, Clone, Default)]
pub struct InputSpec {
    pub data: Option<PathBuf>,
    pub transactions: Option<String>,
    pub checkout: Option<String>,
    pub merchants: Option<String>,
    pub codes: Option<String>,
}

impl InputSpec {
    fn explicit(&self, ds: Dataset) -> Option<&str> {
        match ds {
            Dataset::Transactions => self.transactions.as_deref(),
            Dataset::Checkout => self.checkout.as_deref(),
            Dataset::Merchants => self.merchants.as_deref(),
            Dataset::Codes => self.codes.as_deref(),
        }
    }
}

/// Resolves every dataset the spec names. A dataset that `--data` does not
/// contain is simply absent from the map; a path the user typed that leads
/// nowhere is an error.
pub fn resolve(spec: &InputSpec) -> Result<BTreeMap<Dataset, Vec<SourceFile>>, IngestError> {
    if let Some(dir) = &spec.data {
        if !dir.exists() {
            return Err(IngestError::NoSuchPath { dataset: None, path: dir.clone() });
        }
        if !dir.is_dir() {
            return Err(IngestError::NotADirectory { path: dir.clone() });
        }
    }
    let mut out = BTreeMap::new();
    for ds in Dataset::ALL {
        let files = match (spec.explicit(ds), &spec.data) {
            (Some(given), _) => Some(from_argument(ds, given)?),
            (None, Some(dir)) => in_data_dir(ds, dir)?,
            (None, None) => None,
        };
        if let Some(mut files) = files {
            files.sort_by(|a, b| a.path.cmp(&b.path));
            files.dedup_by(|a, b| a.path == b.path);
            out.insert(ds, files);
        }
    }
    Ok(out)
}

/// `DIR/<dataset>.csv`, `DIR/<dataset>.parquet`, or a folder `DIR/<dataset>/`.
fn in_data_dir(ds: Dataset, dir: &Path) -> Result<Option<Vec<SourceFile>>, IngestError> {
    let mut found = Vec::new();
    for ext in ["csv", "parquet"] {
        let p = dir.join(format!("{}.{ext}", ds.name()));
        if p.is_file() {
            found.push(source_file(ds, &p)?);
        } else if let Some(what) = not_regular(&p) {
            return Err(IngestError::NotRegular { dataset: ds, path: p, what });
        }
    }
    if found.len() > 1 {
        return Err(IngestError::Ambiguous { dataset: ds, dir: dir.to_path_buf() });
    }
    let sub = dir.join(ds.name());
    if sub.is_dir() {
        if !found.is_empty() {
            return Err(IngestError::Ambiguous { dataset: ds, dir: dir.to_path_buf() });
        }
        found.extend(files_in_dir(ds, &sub)?);
    }
    Ok((!found.is_empty()).then_some(found))
}

fn from_argument(ds: Dataset, given: &str) -> Result<Vec<SourceFile>, IngestError> {
    let path = PathBuf::from(given);
    if path.is_file() {
        return Ok(vec![source_file(ds, &path)?]);
    }
    if path.is_dir() {
        return files_in_dir(ds, &path);
    }
    if let Some(what) = not_regular(&path) {
        return Err(IngestError::NotRegular { dataset: ds, path, what });
    }
    if given.contains(['*', '?', '[']) {
        let paths = glob::glob(given).map_err(|e| IngestError::BadGlob {
            dataset: ds,
            pattern: given.to_string(),
            message: e.msg.to_string(),
        })?;
        let mut files = Vec::new();
        for entry in paths {
            let p = entry.map_err(|e| IngestError::Unreadable {
                dataset: ds,
                path: e.path().to_path_buf(),
                cause: io::Error::other(e.error().to_string()),
            })?;
            if p.is_file() {
                files.push(source_file(ds, &p)?);
            }
        }
        if files.is_empty() {
            return Err(IngestError::EmptyGlob { dataset: ds, pattern: given.to_string() });
        }
        return Ok(files);
    }
    Err(IngestError::NoSuchPath { dataset: Some(ds), path })
}

fn files_in_dir(ds: Dataset, dir: &Path) -> Result<Vec<SourceFile>, IngestError> {
    let entries = std::fs::read_dir(dir).map_err(|cause| IngestError::Unreadable {
        dataset: ds,
        path: dir.to_path_buf(),
        cause,
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|cause| IngestError::Unreadable { dataset: ds, path: dir.to_path_buf(), cause })?;
        let p = entry.path();
        // In a folder only the usual extensions count; a .txt is read only when named.
        let usual = p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| ["csv", "parquet", "pq"].contains(&e.to_ascii_lowercase().as_str()));
        if p.is_file() && usual {
            files.push(source_file(ds, &p)?);
        } else if usual {
            // A data file's name that is not a readable file is an error, not a skip:
            // a dangling link would otherwise lose that file's rows in silence.
            if let Some(what) = not_regular(&p) {
                return Err(IngestError::NotRegular { dataset: ds, path: p, what });
            }
        }
    }
    if files.is_empty() {
        return Err(IngestError::EmptyDirectory { dataset: ds, path: dir.to_path_buf() });
    }
    Ok(files)
}

/// What a path that exists is when it is not a regular file (or a link to
/// one): a broken or looping link, a FIFO, a socket, a device.
fn not_regular(path: &Path) -> Option<String> {
    let link = std::fs::symlink_metadata(path).ok()?;
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() || m.is_dir() => None,
        Ok(m) => Some(special(&m).to_string()),
        Err(e) if link.file_type().is_symlink() => {
            Some(format!("is a symbolic link that leads nowhere readable ({e})"))
        }
        Err(e) => Some(format!("cannot be read ({e})")),
    }
}

/// What kind of special file `m` describes.
#[cfg(unix)]
fn special(m: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_fifo() {
        "is a FIFO (named pipe)"
    } else if t.is_socket() {
        "is a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "is a device"
    } else {
        "is not a regular file"
    }
}

#[cfg(not(unix))]
fn special(_: &std::fs::Metadata) -> &'static str {
    "is not a regular file"
}

fn source_file(ds: Dataset, path: &Path) -> Result<SourceFile, IngestError> {
    let format =
        Format::of(path).ok_or_else(|| IngestError::UnknownFormat { dataset: ds, path: path.to_path_buf() })?;
    let meta = std::fs::metadata(path).map_err(|cause| IngestError::Unreadable {
        dataset: ds,
        path: path.to_path_buf(),
        cause,
    })?;
    // Opening now turns a permission problem into an error before any work starts.
    File::open(path).map_err(|cause| IngestError::Unreadable { dataset: ds, path: path.to_path_buf(), cause })?;
    Ok(SourceFile { path: path.to_path_buf(), format, bytes: meta.len() })
}

/// The SHA-256 of a file, as lower-case hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(sha256_hex(&hasher.finalize()))
}

pub use crate::digest::{sha256_bytes, sha256_hex};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_input() {
        // FIPS 180-2 test vector for "abc".
        assert_eq!(sha256_bytes(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn formats_by_extension() {
        assert_eq!(Format::of(Path::new("a/transactions.CSV")), Some(Format::Csv));
        assert_eq!(Format::of(Path::new("x.parquet")), Some(Format::Parquet));
        assert_eq!(Format::of(Path::new("x.json")), None);
    }
}
