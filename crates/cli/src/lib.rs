//! What the `rosetta` binaries share: serving the dialects over one store.

pub mod server;

use std::process::ExitCode;

/// What every `rosetta` binary's `main` does around its work: logs to stderr (filter from
/// `ROSETTA_LOG`, default `info`), and turns a failure into one `error:` line and exit code 1.
pub fn run_main(work: impl FnOnce() -> Result<(), String>) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("ROSETTA_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    match work() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
