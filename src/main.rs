//! The `driftd` binary: parse the command line, set up logging, run, map errors to
//! exit codes. Everything else lives in the library.

use clap::Parser;

/// Per-record allocations (feature names, categories, polled payloads) are freed a
/// batch at a time; mimalloc spends about half of glibc's time on them
/// (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's defaults trade memory for speed in ways `[storage] memory_budget` cannot
/// see: pages that fall empty go back to the OS only a second later, and arenas are
/// marked for transparent huge pages, so a 2 MiB page stays resident for one live
/// object. Huge pages are off at build time (the `no_thp` feature); the purge delay is
/// set here to 10 ms, mimalloc v2's default. The fleet benchmark's peak RSS: 635 MB
/// with v3's defaults, 560 MB with these (docs/benchmarks.md, "State at fleet scale").
/// `MIMALLOC_PURGE_DELAY` in the environment still wins.
fn configure_allocator() {
    // mimalloc v3's index of `mi_option_purge_delay` (include/mimalloc.h, `mi_option_e`);
    // libmimalloc-sys names only the options up to 21.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    const PURGE_DELAY_MS: std::os::raw::c_long = 10;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set stores an integer in mimalloc's option table, read at
        // each purge; the index is below `_mi_option_last` of the vendored version.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, PURGE_DELAY_MS) };
    }
}

fn main() {
    configure_allocator();
    let cli = driftd::cli::Cli::parse();
    driftd::cli::logging::init(&cli.log, cli.log_format);
    let error_code = cli.error_exit_code();
    if let Err(e) = driftd::cli::run(cli) {
        // --fail-on-drift: the report is already printed; only the status changes.
        if let Some(d) = e.downcast_ref::<driftd::cli::DriftDetected>() {
            eprintln!("drift: {d}");
            std::process::exit(1);
        }
        eprintln!("error: {e}");
        std::process::exit(error_code);
    }
}
