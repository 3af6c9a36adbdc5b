//! What the `rosetta` binaries share: serving the dialects over one store.

pub mod demo;
pub mod server;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};
use server::{ServeDialect, ServeOptions};

/// glibc malloc fragments under many small, short-lived allocations (rows, JSON); mimalloc does
/// not. Declared once here, for every binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What a single-dialect binary (`rosetta-wacrm`, `rosetta-kirim`, ...) takes.
#[derive(Parser, Debug)]
#[command(version)]
struct DialectCli {
    /// sqlite://PATH (embedded, the default) or postgres://USER@HOST:PORT/DB.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://rosetta.db",
        hide_env_values = true
    )]
    database_url: String,
    #[command(flatten)]
    serve: ServeOptions,
}

/// The `main` of a single-dialect binary: its options, then `serve` with that dialect alone
/// (plus the webhook route, `/healthz` and `/readyz`).
pub fn dialect_main(dialect: ServeDialect, name: &'static str, about: &'static str) -> ExitCode {
    let matches = DialectCli::command().name(name).about(about).get_matches();
    let cli = DialectCli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    run_main(|| server::serve(&cli.database_url, dialect, cli.serve))
}

/// What every `rosetta` binary's `main` does around its work: logs to stderr (filter from
/// `ROSETTA_LOG`, default `info`; `ROSETTA_LOG_FORMAT=json` writes one JSON object a line, text
/// otherwise), and turns a failure into one `error:` line and exit code 1.
pub fn run_main(work: impl FnOnce() -> Result<(), String>) -> ExitCode {
    let filter = || tracing_subscriber::EnvFilter::try_from_env("ROSETTA_LOG").unwrap_or_else(|_| "info".into());
    match std::env::var("ROSETTA_LOG_FORMAT").as_deref() {
        // {"timestamp", "level", "target", "message" and the event's fields at the top level}: a
        // request's access line carries request_id, dialect, method, route, status, duration_ms.
        Ok("json") => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .init(),
        // Colours only on a terminal: a log file or a collector gets plain text.
        Ok("text") | Err(_) => tracing_subscriber::fmt()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .init(),
        Ok(other) => {
            eprintln!("error: ROSETTA_LOG_FORMAT must be text or json, not {other:?}");
            return ExitCode::FAILURE;
        }
    }
    match work() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `30d`, `12h`, `90m`, `3600s` (or bare seconds) as a duration.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30d, 12h, 90m or 3600s"))?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?} is not a duration like 30d, 12h, 90m or 3600s")),
    };
    Ok(std::time::Duration::from_secs(n.saturating_mul(seconds)))
}
