//! Progress on stderr: one line per stage with the elapsed time, shown when
//! stderr is a terminal (or `HUTONG_PROGRESS=1`), silenced by `--quiet`.

use std::io::{IsTerminal, Write};
use std::time::Instant;

/// Reports stages of a long command.
pub struct Progress {
    enabled: bool,
    start: Instant,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let forced = std::env::var_os("HUTONG_PROGRESS").is_some_and(|v| v == "1");
        Progress { enabled: !quiet && (forced || std::io::stderr().is_terminal()), start: Instant::now() }
    }

    pub fn stage(&self, what: impl AsRef<str>) {
        if self.enabled {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "[{:>7.2}s] {}", self.start.elapsed().as_secs_f64(), what.as_ref());
        }
    }
}
