//! Temporary files and directories removed when the run is interrupted:
//! SIGINT and SIGTERM would otherwise end the process without the
//! destructors that remove them (a transcoded GBK copy can be hundreds of MB
//! in the temporary directory; a half-written output has a `.tmp` name).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, Once};

/// Paths to remove on SIGINT / SIGTERM, registered while they exist.
static PATHS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();

/// A registered temporary path; unregistered when dropped (the owner
/// removes the path itself in the normal course).
pub struct Registered(PathBuf);

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut paths) = PATHS.lock() {
            if let Some(i) = paths.iter().position(|p| *p == self.0) {
                paths.swap_remove(i);
            }
        }
    }
}

/// Registers `path` for removal if the process is interrupted, and installs
/// the signal handler on first use.
pub fn register(path: &Path) -> Registered {
    INSTALL.call_once(install);
    if let Ok(mut paths) = PATHS.lock() {
        paths.push(path.to_path_buf());
    }
    Registered(path.to_path_buf())
}

fn install() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else { return };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let paths = PATHS.lock().map(|p| p.clone()).unwrap_or_default();
            for p in paths {
                let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            }
            eprintln!("interrupted: temporary files removed");
            std::process::exit(128 + signal);
        }
    });
}
