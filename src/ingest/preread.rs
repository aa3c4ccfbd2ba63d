//! Remembers each input file's pre-read (its SHA-256 and, for CSV, its record
//! structure) by the file's identity, so that auditing an unchanged file again
//! does not read it again.
//!
//! A file is the same file when its path, device, inode, size, modification
//! and status-change times (to the nanosecond) all match: any write, rename
//! over it, `touch` or copy changes one of them. As git does with its index,
//! an entry is not stored while the file's times are too recent to tell a
//! later write in the same clock tick apart. The cache is an optimisation
//! only: an entry that cannot be read, parsed or written is ignored, and
//! `--no-cache` reads every file in full.
//!
//! Entries live in `HUTONG_CACHE_DIR`, else `$XDG_CACHE_HOME/hutong/preread`,
//! else `~/.cache/hutong/preread`; one small JSON file per input file.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::fileread::CsvLayout;

/// A file whose times are this close to the moment it is read may still be
/// written within the same tick of the file system's clock: not cached.
const SETTLE: Duration = Duration::from_secs(2);

/// Bumped whenever what a pre-read records changes, so that entries written
/// by an older hutong are never taken for current ones.
const FORMAT: u32 = 1;

/// Everything that identifies one file's content and how it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    format: u32,
    path: PathBuf,
    device: u64,
    inode: u64,
    size: u64,
    modified_ns: i128,
    changed_ns: i128,
    /// What the pre-read depends on besides the bytes: the CSV delimiter and
    /// the number of header fields (none for Parquet).
    read_as: Option<(u8, usize)>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    identity: Identity,
    layout: CsvLayout,
}

/// The pre-read cache of one run: a directory, or none (`--no-cache`, or no
/// cache directory can be found).
#[derive(Debug, Clone)]
pub struct Cache {
    dir: Option<PathBuf>,
    settle: Duration,
}

impl Cache {
    /// The cache in its default place, or a disabled one.
    pub fn new(enabled: bool) -> Cache {
        Cache { dir: if enabled { default_dir() } else { None }, settle: SETTLE }
    }

    /// The pre-read of a CSV file read with `delimiter` and `header_len`
    /// header fields: remembered, or computed by `scan` and remembered; and
    /// whether it was remembered.
    pub fn csv(
        &self,
        path: &Path,
        delimiter: u8,
        header_len: usize,
        scan: impl FnOnce() -> io::Result<CsvLayout>,
    ) -> io::Result<(CsvLayout, bool)> {
        self.get_or(path, Some((delimiter, header_len)), scan)
    }

    /// The SHA-256 of a file (a Parquet input): remembered, or computed by
    /// `hash` and remembered; and whether it was remembered.
    pub fn sha256(&self, path: &Path, hash: impl FnOnce() -> io::Result<String>) -> io::Result<(String, bool)> {
        let (layout, cached) = self.get_or(path, None, || Ok(CsvLayout { sha256: hash()?, ..CsvLayout::default() }))?;
        Ok((layout.sha256, cached))
    }

    fn get_or(
        &self,
        path: &Path,
        read_as: Option<(u8, usize)>,
        compute: impl FnOnce() -> io::Result<CsvLayout>,
    ) -> io::Result<(CsvLayout, bool)> {
        let known = self.dir.as_ref().and_then(|dir| Some((dir, identity(path, read_as)?)));
        let Some((dir, before)) = known else { return Ok((compute()?, false)) };
        let entry_path = dir.join(entry_name(&before));
        if let Some(layout) = load(&entry_path, &before) {
            return Ok((layout, true));
        }
        let started = SystemTime::now();
        let layout = compute()?;
        // Stored only when the file did not change while it was read and its
        // times are old enough that a change would show in them.
        if identity(path, read_as).as_ref() == Some(&before) && settled(&before, started, self.settle) {
            store(dir, &entry_path, &Entry { identity: before, layout: layout.clone() });
        }
        Ok((layout, false))
    }

    /// Whether `fact` was found to hold by an earlier run. A fact names
    /// everything its truth depends on, by content (the files' SHA-256, the
    /// options), so no file identity is needed: the same text is the same
    /// check of the same bytes.
    pub fn holds(&self, fact: &str) -> bool {
        let Some(dir) = &self.dir else { return false };
        let Ok(text) = std::fs::read(dir.join(fact_name(fact))) else { return false };
        serde_json::from_slice::<Fact>(&text).is_ok_and(|f| f.format == FORMAT && f.fact == fact)
    }

    /// Remembers that `fact` holds (see [`Cache::holds`]).
    pub fn remember(&self, fact: &str) {
        if let Some(dir) = &self.dir {
            let fact = Fact { format: FORMAT, fact: fact.to_string() };
            store(dir, &dir.join(fact_name(&fact.fact)), &fact);
        }
    }
}

/// A check's outcome, remembered: the text naming it, which holds.
#[derive(Serialize, Deserialize)]
struct Fact {
    format: u32,
    fact: String,
}

/// A fact's entry: a digest of its text (the text itself is inside).
fn fact_name(fact: &str) -> String {
    format!("fact-{}.json", short_digest(fact))
}

/// The first 16 bytes of the SHA-256 of `text`, in hex: an entry's name.
fn short_digest(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The cache directory from the environment, if any.
fn default_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("HUTONG_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("hutong").join("preread")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("hutong").join("preread")))
}

#[cfg(unix)]
fn identity(path: &Path, read_as: Option<(u8, usize)>) -> Option<Identity> {
    use std::os::unix::fs::MetadataExt;
    let canonical = std::fs::canonicalize(path).ok()?;
    let m = std::fs::metadata(&canonical).ok()?;
    let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
    Some(Identity {
        format: FORMAT,
        path: canonical,
        device: m.dev(),
        inode: m.ino(),
        size: m.len(),
        modified_ns: ns(m.mtime(), m.mtime_nsec()),
        changed_ns: ns(m.ctime(), m.ctime_nsec()),
        read_as,
    })
}

/// Without inodes and status-change times a file's identity is too weak to
/// stand for its content: no cache.
#[cfg(not(unix))]
fn identity(_: &Path, _: Option<(u8, usize)>) -> Option<Identity> {
    None
}

/// Whether the file's times are at least `settle` older than `now`.
fn settled(id: &Identity, now: SystemTime, settle: Duration) -> bool {
    let Ok(now) = now.duration_since(SystemTime::UNIX_EPOCH) else { return false };
    let latest = id.modified_ns.max(id.changed_ns);
    i128::try_from(now.as_nanos()).is_ok_and(|now| now - latest >= settle.as_nanos() as i128)
}

/// The entry's file name: a digest of the identity, so that one path's
/// entry is replaced, not added to, when the file changes.
fn entry_name(id: &Identity) -> String {
    let hex = short_digest(&id.path.to_string_lossy());
    match id.read_as {
        Some((d, n)) => format!("{hex}-{d}-{n}.json"),
        None => format!("{hex}.json"),
    }
}

fn load(path: &Path, want: &Identity) -> Option<CsvLayout> {
    let text = std::fs::read(path).ok()?;
    let entry: Entry = serde_json::from_slice(&text).ok()?;
    (entry.identity == *want).then_some(entry.layout)
}

/// Writes an entry atomically (a reader never sees half of one); failures
/// are ignored: the cache only saves time.
fn store(dir: &Path, path: &Path, entry: &impl Serialize) {
    let write = || -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer(&mut tmp, entry)?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    };
    let _ = write();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A cache that stores whatever it reads (no settling time).
    fn cache(dir: &Path) -> Cache {
        Cache { dir: Some(dir.to_path_buf()), settle: Duration::ZERO }
    }

    /// A file whose times lie an hour back, as an input delivered earlier.
    fn old_file(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("t.csv");
        std::fs::File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(hour_ago).unwrap();
        path
    }

    fn layout(sha: &str, records: u64) -> CsvLayout {
        CsvLayout { sha256: sha.into(), records, ..CsvLayout::default() }
    }

    #[test]
    fn an_unchanged_file_is_read_once() {
        let store = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let path = old_file(data.path(), "a,b\n1,2\n");
        let c = cache(store.path());
        assert_eq!(c.csv(&path, b',', 2, || Ok(layout("x", 1))).unwrap().0.sha256, "x");
        let (reread, cached) = c.csv(&path, b',', 2, || panic!("read again")).unwrap();
        assert_eq!((reread.sha256.as_str(), reread.records, cached), ("x", 1, true));
        assert_eq!(std::fs::read_dir(store.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_file_changed_just_now_is_not_cached() {
        let store = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let path = old_file(data.path(), "a,b\n1,2\n");
        // Its status-change time is now (setting the modification time
        // changed it): within the default settling time.
        let c = Cache { settle: SETTLE, ..cache(store.path()) };
        assert_eq!(c.csv(&path, b',', 2, || Ok(layout("x", 1))).unwrap().0.sha256, "x");
        assert_eq!(c.csv(&path, b',', 2, || Ok(layout("y", 1))).unwrap().0.sha256, "y");
        assert_eq!(std::fs::read_dir(store.path()).map(|d| d.count()).unwrap_or(0), 0);
    }

    #[test]
    fn entries_are_kept_by_identity_and_replaced_on_change() {
        let store = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let path = old_file(data.path(), "a,b\n1,2\n");
        let mut id = identity(&path, Some((b',', 2))).unwrap();
        // An entry of the same path whose status-change time differs from
        // the file's: computed afresh.
        id.changed_ns -= 3_600_000_000_000;
        let entry_path = store.path().join(entry_name(&id));
        store_entry(store.path(), &entry_path, &id, layout("cached", 1));
        let c = Cache { settle: SETTLE, ..cache(store.path()) };
        assert_eq!(c.csv(&path, b',', 2, || Ok(layout("fresh", 1))).unwrap().0.sha256, "fresh");
        // With the file's true identity the entry is used, not the scan...
        let id = identity(&path, Some((b',', 2))).unwrap();
        store_entry(store.path(), &entry_path, &id, layout("cached", 1));
        assert_eq!(c.csv(&path, b',', 2, || Ok(layout("fresh", 1))).unwrap().0.sha256, "cached");
        // ...but not for another delimiter or header width,
        assert_eq!(c.csv(&path, b';', 2, || Ok(layout("semi", 1))).unwrap().0.sha256, "semi");
        assert_eq!(c.csv(&path, b',', 3, || Ok(layout("wide", 1))).unwrap().0.sha256, "wide");
        // nor once the file is written again, even at the same size.
        std::fs::write(&path, "a,b\n3,4\n").unwrap();
        assert_eq!(c.csv(&path, b',', 2, || Ok(layout("new", 1))).unwrap().0.sha256, "new");
    }

    #[test]
    fn a_damaged_entry_is_ignored() {
        let store = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let path = old_file(data.path(), "a\n1\n");
        let id = identity(&path, None).unwrap();
        std::fs::write(store.path().join(entry_name(&id)), b"{not json").unwrap();
        let c = cache(store.path());
        assert_eq!(c.sha256(&path, || Ok("h".into())).unwrap(), ("h".to_string(), false));
        // Replaced by a sound entry.
        assert_eq!(c.sha256(&path, || panic!("read again")).unwrap(), ("h".to_string(), true));
        // A disabled cache always computes.
        assert_eq!(Cache::new(false).sha256(&path, || Ok("g".into())).unwrap(), ("g".to_string(), false));
    }

    #[test]
    fn settled_means_two_seconds_old() {
        let data = tempfile::tempdir().unwrap();
        let path = old_file(data.path(), "a\n");
        let mut id = identity(&path, None).unwrap();
        let now = SystemTime::now();
        let now_ns = now.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as i128;
        id.modified_ns = now_ns - 3_000_000_000;
        id.changed_ns = now_ns - 1_000_000_000;
        assert!(!settled(&id, now, SETTLE));
        id.changed_ns = now_ns - 2_000_000_000;
        assert!(settled(&id, now, SETTLE));
    }

    #[test]
    fn a_fact_holds_once_remembered_and_only_as_written() {
        let store = tempfile::tempdir().unwrap();
        let c = cache(store.path());
        assert!(!c.holds("files abc valid"));
        c.remember("files abc valid");
        assert!(c.holds("files abc valid"));
        assert!(!c.holds("files abd valid"));
        // An entry naming another fact under this fact's name does not count.
        std::fs::write(store.path().join(fact_name("x")), br#"{"format":1,"fact":"y"}"#).unwrap();
        assert!(!c.holds("x"));
        // Nor one of another format, nor a damaged one.
        std::fs::write(store.path().join(fact_name("x")), br#"{"format":0,"fact":"x"}"#).unwrap();
        assert!(!c.holds("x"));
        std::fs::write(store.path().join(fact_name("x")), b"{").unwrap();
        assert!(!c.holds("x"));
        // A disabled cache remembers nothing.
        let off = Cache::new(false);
        off.remember("z");
        assert!(!off.holds("z"));
    }

    fn store_entry(dir: &Path, path: &Path, id: &Identity, layout: CsvLayout) {
        store(dir, path, &Entry { identity: id.clone(), layout });
    }
}
