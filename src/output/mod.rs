//! Output-directory safety: where outputs may go, how single files are
//! written (temporary file renamed into place), how an audit's outputs are
//! published all at once (`publish`), and which files are hutong's (only
//! those a run's manifest lists).

mod publish;

use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context as _};

pub use publish::Staging;

use crate::ingest::Inputs;

/// Refuses an output directory that is, or lies inside, a directory holding
/// inputs, unless the user asked for it: outputs written among inputs could be
/// read back as inputs, or mistaken for them.
pub fn check_out_dir(out: &Path, inputs: &Inputs, allow: bool) -> anyhow::Result<()> {
    if allow {
        return Ok(());
    }
    let out_abs = absolute(out);
    for input in inputs.datasets.values() {
        for f in &input.files {
            if let Some(dir) = absolute(&f.path).parent() {
                if out_abs.starts_with(dir) {
                    bail!(
                        "--out {} is inside {}, which holds the input {}; choose another output directory \
                         (or pass --out-inside-inputs)",
                        out.display(),
                        dir.display(),
                        f.path.display()
                    );
                }
            }
        }
    }
    Ok(())
}

/// Checks before any input is read that `out` is, or can be made, a
/// directory hutong can write in: a bad `--out` should not cost a whole run.
pub fn ensure_writable(out: &Path) -> anyhow::Result<()> {
    // The directory, or the nearest existing one it would be created in:
    // nothing is created by the check.
    let mut dir = absolute(out);
    while !dir.exists() {
        match dir.parent() {
            Some(p) => dir = p.to_path_buf(),
            None => break,
        }
    }
    if !dir.is_dir() {
        bail!("--out {}: {} exists and is not a directory", out.display(), dir.display());
    }
    tempfile::Builder::new()
        .prefix(".hutong-write-check-")
        .tempfile_in(&dir)
        .with_context(|| format!("--out {}: cannot write in {}", out.display(), dir.display()))?;
    Ok(())
}

/// An absolute, symlink-resolved path, also for paths that do not exist yet.
fn absolute(p: &Path) -> PathBuf {
    if let Ok(c) = std::fs::canonicalize(p) {
        return c;
    }
    match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) if !parent.as_os_str().is_empty() => absolute(parent).join(name),
        _ => std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf()),
    }
}

/// The file listing what the previous run wrote into an output directory:
/// only those files are ever removed as stale.
pub const MANIFEST: &str = ".hutong-outputs";

/// `out` joined with a relative output path, refused when the path could
/// leave `out` (absolute, `..`, a root or drive): output names come from
/// rule ids and from the manifest on disk, which are user data.
pub fn inside(out: &Path, rel: &str) -> anyhow::Result<PathBuf> {
    let p = Path::new(rel);
    if rel.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        bail!("refusing output path `{rel}`: it would leave the output directory {}", out.display());
    }
    Ok(out.join(p))
}

/// The outputs an earlier run listed in its manifest. The manifest is data
/// on disk, not trusted: an entry that would leave `out` (absolute, `..`) is
/// ignored with a warning, so it can never name a file to delete.
pub fn read_manifest(out: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(out.join(MANIFEST)).unwrap_or_default();
    let mut entries = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if inside(out, line).is_ok() {
            entries.push(line.to_string());
        } else {
            eprintln!(
                "warning: ignoring `{}` in {}: it would leave the output directory",
                crate::text::terminal(line),
                out.join(MANIFEST).display()
            );
        }
    }
    entries
}

/// Writes through a temporary file renamed into place, so an interrupted run
/// never leaves a complete-looking but partial file. The temporary name is
/// unique (two runs never write the same one) and removed if writing fails.
pub fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> std::io::Result<()>) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let _guard = crate::cleanup::register(tmp.path());
    write(tmp.path()).with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.persist(path).with_context(|| format!("moving {} into place", path.display()))?;
    Ok(())
}

/// The lock file that serialises runs writing to one output directory.
pub const LOCK: &str = ".hutong-lock";

/// Takes the exclusive lock on an output directory (creating it), waiting
/// while another hutong run holds it: concurrent runs into one `--out` then
/// leave exactly one run's complete output, never a mix. Held until the
/// returned file is dropped.
pub fn lock(out: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join(LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening the lock {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!("waiting: another hutong run is writing to {}", out.display());
            file.lock().with_context(|| format!("locking {}", path.display()))?;
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("locking {}", path.display()));
        }
    }
    Ok(file)
}

pub fn write_evidence(path: &Path, table: &crate::findings::EvidenceTable) -> std::io::Result<()> {
    std::fs::write(path, evidence_csv(table)?)
}

/// An evidence table as the CSV file `evidence/<RULE-ID>.csv` holds it.
pub fn evidence_csv(table: &crate::findings::EvidenceTable) -> std::io::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&table.header).map_err(std::io::Error::other)?;
    for row in &table.rows {
        let cells: Vec<std::borrow::Cow<str>> = row.iter().map(|c| crate::text::csv_cell(c)).collect();
        w.write_record(cells.iter().map(|c| c.as_bytes())).map_err(std::io::Error::other)?;
    }
    w.into_inner().map_err(|e| std::io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_cannot_leave_the_output_directory() {
        let out = Path::new("/audits/out");
        assert_eq!(inside(out, "evidence/CN-PL-01.csv").unwrap(), Path::new("/audits/out/evidence/CN-PL-01.csv"));
        for bad in ["", "../x.csv", "evidence/../../x.csv", "/etc/x.csv", "evidence/../.."] {
            assert!(inside(out, bad).is_err(), "{bad}");
        }
    }
}
