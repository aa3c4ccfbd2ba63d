//! All-or-nothing publication of an audit's outputs: every file is written
//! into a staging directory, sealed as a generation, and made current by one
//! atomic rename of a symbolic link. The names readers open (`findings.json`,
//! `evidence/`, …) are fixed links through it, so a kill at any moment leaves
//! either the old or the new complete output, never a mix.
//!
//! ```text
//! OUT/findings.json -> .hutong/current/findings.json   (likewise the others)
//! OUT/.hutong/current -> gen-<digest>                   (the commit point)
//! OUT/.hutong/gen-<digest>/{findings.json, report.html, evidence/, rejected/, .hutong-outputs}
//! ```

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use anyhow::{bail, Context as _};
use sha2::{Digest, Sha256};

use super::{inside, read_manifest, MANIFEST};
use crate::cleanup::Registered;

/// hutong's own store inside `--out`.
pub const STORE: &str = ".hutong";
const CURRENT: &str = "current";
/// The entries an audit publishes at the top of `--out`, each a link into the
/// current generation. `findings.json` is last: when an old plain directory
/// is converted, it is the entry readers start from.
pub const PUBLISHED: [&str; 5] = ["evidence", "rejected", "report.html", MANIFEST, "findings.json"];
/// Directories every generation has (possibly empty), so no link dangles.
const DIRS: [&str; 2] = ["evidence", "rejected"];

/// Test hook: `HUTONG_FAULT_AT=N` ends the process abruptly (exit 86, no
/// clean-up, as a kill would) at the N-th step of publication, so tests can
/// prove that every step leaves a complete output.
fn step(what: &str) {
    static AT: OnceLock<Option<u32>> = OnceLock::new();
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let at = *AT.get_or_init(|| std::env::var("HUTONG_FAULT_AT").ok().and_then(|v| v.parse().ok()));
    let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
    if at == Some(n) {
        eprintln!("HUTONG_FAULT_AT={n}: stopping abruptly after: {what}");
        std::process::exit(86);
    }
}

/// One audit's outputs being written. Dropped unpublished (an error, a full
/// disk), the staging directory is removed and the old output stands.
pub struct Staging {
    out: PathBuf,
    store: PathBuf,
    dir: PathBuf,
    written: Vec<String>,
    guard: Option<Registered>,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.guard.is_some() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Staging {
    /// Opens the store under `out` (the caller holds the output lock),
    /// clears what a killed run left behind, and creates a staging directory.
    pub fn begin(out: &Path) -> anyhow::Result<Staging> {
        let store = out.join(STORE);
        match std::fs::symlink_metadata(&store) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!(
                "{} is not hutong's store directory (a file or a link): remove it or choose another --out",
                store.display()
            ),
            Err(_) => std::fs::create_dir_all(&store).with_context(|| format!("creating {}", store.display()))?,
        }
        recover(&store)?;
        let dir = tempfile::Builder::new()
            .prefix("staging-")
            .tempdir_in(&store)
            .with_context(|| format!("creating a staging directory in {}", store.display()))?
            .keep();
        let guard = Some(crate::cleanup::register(&dir));
        for d in DIRS {
            std::fs::create_dir(dir.join(d)).with_context(|| format!("creating {}", dir.join(d).display()))?;
        }
        Ok(Staging { out: out.to_path_buf(), store, dir, written: Vec::new(), guard })
    }

    /// Writes one output (a path relative to `--out`) into the staging directory.
    pub fn write(&mut self, rel: &str, write: impl FnOnce(&Path) -> std::io::Result<()>) -> anyhow::Result<()> {
        let path = inside(&self.dir, rel)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        write(&path).with_context(|| format!("writing {}", path.display()))?;
        std::fs::File::open(&path).and_then(|f| f.sync_all()).with_context(|| format!("syncing {}", path.display()))?;
        self.written.push(rel.to_string());
        step(rel);
        Ok(())
    }

    /// Seals the staged outputs as a generation and makes it current in one
    /// rename. Files of the user's own inside the old `evidence/` and
    /// `rejected/` (not in the old manifest) are carried into the new one.
    pub fn publish(mut self) -> anyhow::Result<()> {
        self.written.sort();
        let listing = self.written.join("\n") + "\n";
        std::fs::write(self.dir.join(MANIFEST), &listing).context("writing the output manifest")?;
        if !links_work(&self.store) {
            eprintln!(
                "warning: {} cannot hold symbolic links (a FAT or network file system?): the outputs are \
                 published file by file, so an interruption can leave old and new outputs mixed",
                self.out.display()
            );
            return self.publish_plain();
        }
        let previous = Previous::find(&self.out, &self.store);
        let mut keep: BTreeSet<String> = self.written.iter().cloned().collect();
        keep.extend(previous.manifest.iter().cloned());
        for d in DIRS {
            let from = previous.root.join(d);
            if std::fs::symlink_metadata(&from).is_ok_and(|m| m.is_dir()) {
                carry(&from, &self.dir.join(d), d, &keep)?;
            }
        }
        let name = format!("gen-{}", self.digest()?);
        sync_dir(&self.dir.join("evidence"))?;
        sync_dir(&self.dir.join("rejected"))?;
        sync_dir(&self.dir)?;
        let old = current_target(&self.store);
        if old.as_deref() == Some(name.as_str()) {
            // The same outputs as the current generation (a rerun).
            std::fs::remove_dir_all(&self.dir).with_context(|| format!("removing {}", self.dir.display()))?;
            self.guard = None;
            return link_entries(&self.out, &previous);
        }
        let sealed = self.store.join(&name);
        if sealed.exists() {
            std::fs::remove_dir_all(&sealed).with_context(|| format!("removing {}", sealed.display()))?;
        }
        std::fs::rename(&self.dir, &sealed).with_context(|| format!("sealing {}", sealed.display()))?;
        self.guard = None;
        step("sealed");
        // Missing top-level links are made before the commit: until then
        // they lead to the old generation, or to nothing.
        for entry in PUBLISHED {
            if std::fs::symlink_metadata(self.out.join(entry)).is_err() {
                replace_with_link(&self.out, entry, &self.store)?;
                step(entry);
            }
        }
        let tmp = self.store.join(format!("{CURRENT}.tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        symlink(Path::new(&name), &tmp)?;
        step("linked");
        std::fs::rename(&tmp, self.store.join(CURRENT)).with_context(|| format!("making {name} current"))?;
        sync_dir(&self.store)?;
        step("committed");
        link_entries(&self.out, &previous)?;
        if let Some(old) = old {
            std::fs::remove_dir_all(self.store.join(&old)).with_context(|| format!("removing the old {old}"))?;
            step("collected");
        }
        Ok(())
    }

    /// Where links cannot be made: each staged file renamed into place, the
    /// previous run's outputs this run does not produce removed (only those
    /// its manifest lists), the manifest last. Not all-or-nothing.
    fn publish_plain(mut self) -> anyhow::Result<()> {
        let previous = read_manifest(&self.out);
        for rel in self.written.iter().map(String::as_str).chain([MANIFEST]) {
            let to = inside(&self.out, rel)?;
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::rename(self.dir.join(rel), &to).with_context(|| format!("moving {} into place", to.display()))?;
        }
        for old in previous.iter().filter(|p| !self.written.contains(p)) {
            match std::fs::remove_file(inside(&self.out, old)?) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("removing the stale {old}"));
                }
                _ => {}
            }
        }
        std::fs::remove_dir_all(&self.dir).with_context(|| format!("removing {}", self.dir.display()))?;
        self.guard = None;
        Ok(())
    }

    /// A name for the generation from its content, so equal outputs (same
    /// inputs, same `SOURCE_DATE_EPOCH`) give byte-identical directories.
    fn digest(&self) -> anyhow::Result<String> {
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        for rel in self.written.iter().map(String::as_str).chain([MANIFEST]) {
            h.update(rel.as_bytes());
            h.update([0]);
            let path = self.dir.join(rel);
            let mut f = std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?;
            loop {
                let n = f.read(&mut buf).with_context(|| format!("reading {}", path.display()))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            h.update([0]);
        }
        Ok(crate::digest::sha256_hex(&h.finalize()[..8]))
    }
}

/// What the last run left: a generation, or (written by hutong before
/// generations) plain files at the top of `--out`.
struct Previous {
    root: PathBuf,
    manifest: Vec<String>,
    plain: bool,
}

impl Previous {
    fn find(out: &Path, store: &Path) -> Previous {
        match current_target(store) {
            Some(gen) => {
                let root = store.join(gen);
                Previous { manifest: read_manifest(&root), root, plain: false }
            }
            None => Previous { manifest: read_manifest(out), root: out.to_path_buf(), plain: true },
        }
    }
}

/// The generation `current` names, if it is a link to one.
fn current_target(store: &Path) -> Option<String> {
    let target = std::fs::read_link(store.join(CURRENT)).ok()?;
    let name = target.to_str()?;
    (name.starts_with("gen-") && !name.contains(['/', '\\'])).then(|| name.to_string())
}

/// Removes what an interrupted run left in the store: staging directories,
/// sealed generations never made current, half-made links, retired
/// directories. Unknown entries are left alone.
fn recover(store: &Path) -> anyhow::Result<()> {
    let current = current_target(store);
    let entries = std::fs::read_dir(store).with_context(|| format!("reading {}", store.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", store.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let leftover = name.starts_with("staging-")
            || name.starts_with("retired-")
            || name.starts_with("probe-")
            || name.starts_with(&format!("{CURRENT}.tmp-"))
            || (name.starts_with("gen-") && current.as_deref() != Some(name.as_str()));
        if !leftover {
            continue;
        }
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let removed = if is_dir { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        removed.with_context(|| format!("removing {} left by an interrupted run", path.display()))?;
    }
    Ok(())
}

/// Hard-links (or copies) into `to` the files under `from` that are not in
/// `skip` (paths relative to `--out`): the user's own files beside outputs.
fn carry(from: &Path, to: &Path, prefix: &str, skip: &BTreeSet<String>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", from.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{prefix}/{name}");
        if skip.contains(&rel) || (name.starts_with('.') && name.ends_with(".tmp")) {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        let kind = entry.file_type().with_context(|| format!("reading {}", src.display()))?;
        let done = if kind.is_dir() {
            std::fs::create_dir_all(&dst).map_err(anyhow::Error::from).and_then(|_| carry(&src, &dst, &rel, skip))
        } else if kind.is_symlink() {
            std::fs::read_link(&src).and_then(|t| symlink(&t, &dst)).map_err(anyhow::Error::from)
        } else {
            std::fs::hard_link(&src, &dst)
                .or_else(|_| std::fs::copy(&src, &dst).map(|_| ()))
                .map_err(anyhow::Error::from)
        };
        done.with_context(|| format!("keeping your file {} in the new output", src.display()))?;
    }
    Ok(())
}

/// Makes every published entry a link into the current generation,
/// converting plain files and directories an older hutong wrote.
fn link_entries(out: &Path, previous: &Previous) -> anyhow::Result<()> {
    let store = out.join(STORE);
    for entry in PUBLISHED {
        let path = out.join(entry);
        let want = Path::new(STORE).join(CURRENT).join(entry);
        let ok = std::fs::read_link(&path).is_ok_and(|t| t == want);
        if !ok {
            replace_with_link(out, entry, &store)?;
            step(entry);
        }
    }
    if previous.plain {
        // The old plain directories were moved aside by `replace_with_link`.
        recover(&store)?;
    }
    Ok(())
}

/// Puts the link for `entry` in place with one rename; a plain directory
/// there (written by an older hutong, its user files already carried) is
/// first moved into the store to be removed.
fn replace_with_link(out: &Path, entry: &str, store: &Path) -> anyhow::Result<()> {
    let path = out.join(entry);
    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
        let retired = store.join(format!("retired-{entry}-{}", std::process::id()));
        std::fs::rename(&path, &retired).with_context(|| format!("moving {} aside", path.display()))?;
    }
    let tmp = out.join(format!(".{entry}.link-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    symlink(&Path::new(STORE).join(CURRENT).join(entry), &tmp)?;
    std::fs::rename(&tmp, &path).with_context(|| format!("linking {}", path.display()))?;
    Ok(())
}

/// Whether the store's file system holds symbolic links. `HUTONG_NO_SYMLINKS`
/// makes it answer no, for tests of the fallback.
fn links_work(store: &Path) -> bool {
    if std::env::var_os("HUTONG_NO_SYMLINKS").is_some() {
        return false;
    }
    let probe = store.join(format!("probe-{}", std::process::id()));
    let _ = std::fs::remove_file(&probe);
    let ok = symlink(Path::new("probe"), &probe).is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

#[cfg(unix)]
fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

#[cfg(not(unix))]
fn symlink(_target: &Path, link: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        format!("{}: publishing outputs needs symbolic links (a Unix file system)", link.display()),
    ))
}

/// Flushes a directory's entries to disk, so a crash after the commit
/// cannot lose the renames before it.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir).and_then(|f| f.sync_all()).with_context(|| format!("syncing {}", dir.display()))?;
    let _ = dir;
    Ok(())
}
