//! The `hutong` binary: parses arguments, runs a command, maps the outcome
//! to an exit code (0 pass, 1 failing findings, 2 usage / rulebook / input
//! error). Running out of memory and internal errors (panics) exit with 2
//! and say so, so a pipeline never sees 101 or 134.

use std::alloc::{GlobalAlloc, Layout};
use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use hutong::cli::{Cli, Command};
use tikv_jemallocator::Jemalloc;

/// jemalloc (faster than glibc malloc here, and it gives memory back between
/// the passes of a bounded audit: `hutong::exec`), with allocation failure
/// turned into a clear message and exit code 2 instead of an abort.
struct Guarded;

// SAFETY: every method forwards to `Jemalloc` with the same arguments; a null
// result never returns (the process exits).
unsafe impl GlobalAlloc for Guarded {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        checked(unsafe { Jemalloc.alloc(layout) }, layout.size())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        checked(unsafe { Jemalloc.alloc_zeroed(layout) }, layout.size())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { Jemalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        checked(unsafe { Jemalloc.realloc(ptr, layout, new_size) }, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Guarded = Guarded;

/// jemalloc's options, read before `main`: background threads return freed
/// pages to the system after 200 ms instead of the allocating threads after
/// 10 s. Freed but unreturned pages count as the process's memory; with the
/// default, the 10M-transaction Parquet audit peaked at 605 MB of heap, with
/// these at 470 MB, in the same time (docs/performance.md). The environment
/// (`_RJEM_MALLOC_CONF`) still overrides them.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: Option<&'static std::ffi::c_char> =
    // SAFETY: the pointer of a static C string, valid for the whole program.
    Some(unsafe { &*c"background_thread:true,dirty_decay_ms:200,muzzy_decay_ms:0".as_ptr() });

fn checked(ptr: *mut u8, size: usize) -> *mut u8 {
    if ptr.is_null() {
        out_of_memory(size);
    }
    ptr
}

/// Reports an allocation failure without allocating, and exits with 2.
fn out_of_memory(size: usize) -> ! {
    let mut digits = [0u8; 20];
    let mut n = size;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(b"error: out of memory (an allocation of ");
    let _ = err.write_all(&digits[i..]);
    let _ = err.write_all(
        b" bytes failed): the audit needs more memory than this process may use; \
          audit converted Parquet (hutong convert), fewer files at once, or raise the limit\n",
    );
    std::process::exit(2)
}

/// The least address space (`ulimit -v`) hutong runs with. Below it, the
/// engine's worker threads can fail to start where no error can be reported
/// (the runtime aborts); refusing up front gives a clear message instead.
const MIN_ADDRESS_SPACE: u64 = 2 << 30;

/// The process's address-space limit in bytes (Linux), if it has one.
fn address_space_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max address space"))?;
    line["Max address space".len()..].split_whitespace().next()?.parse().ok()
}

/// Whether the command opens network connections.
fn talks_over_sockets(command: &Command) -> bool {
    match command {
        Command::Cluster(_) => true,
        Command::Audit(a) => a.engine != hutong::cli::EngineArg::Polars,
        _ => false,
    }
}

/// polars' setting for the groups its streaming group-by keeps per thread.
const HOT_TABLE: &str = "POLARS_HOT_TABLE_SIZE";

fn main() -> ExitCode {
    // polars' streaming group-by keeps its groups in a table per thread and
    // sets aside every row whose group misses it, aggregating those at the
    // end: memory grows with the rows once a plan has more groups than the
    // table holds (4,096 by default). The plans per merchant and provider
    // have tens of thousands (7 platforms × 1,000 merchants × 5 providers on
    // the 10M set): with 65,536 their peak fell from 419 to 286 MB
    // (docs/performance.md). Set before polars starts its threads, and only
    // if the user has not set it.
    if std::env::var_os(HOT_TABLE).is_none() {
        std::env::set_var(HOT_TABLE, "65536");
    }
    let cli = Cli::parse();
    // Rust ignores SIGPIPE, so printing to a closed pipe (`| head`) would
    // fail as an error; the default action ends the process quietly, as
    // any Unix tool does when its reader has had enough. Except where
    // hutong talks over sockets (the distributed engines and `cluster`): a
    // peer closing a connection is an error to handle there, not the end
    // of the process.
    #[cfg(unix)]
    if !talks_over_sockets(&cli.command) {
        // SAFETY: `signal` only sets the process-wide disposition to the
        // default action (no handler of ours ever runs); it is safe from any
        // thread, including with the allocator's background threads started.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    if let Some(limit) = address_space_limit().filter(|l| *l < MIN_ADDRESS_SPACE) {
        eprintln!(
            "error: this process may use {} MiB of address space (ulimit -v); hutong needs at least {} MiB: \
             raise the limit",
            limit >> 20,
            MIN_ADDRESS_SPACE >> 20
        );
        return ExitCode::from(2);
    }
    match std::panic::catch_unwind(|| hutong::commands::run(&cli.command)) {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        // The panic message is printed above by the default hook.
        Err(_) => {
            eprintln!("error: internal error (a bug in hutong; the message above says where): please report it");
            ExitCode::from(2)
        }
    }
}
