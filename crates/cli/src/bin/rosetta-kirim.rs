//! `rosetta-kirim`: the kirim dialect alone (with the webhook route, `/healthz` and `/readyz`).

use std::process::ExitCode;

use clap::Parser;
use rosetta::server::{serve, ServeDialect, ServeOptions};

#[derive(Parser, Debug)]
#[command(name = "rosetta-kirim", version, about = "Rosetta serving the kirim dialect (/v1/)")]
struct Cli {
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

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    rosetta::run_main(|| serve(&cli.database_url, ServeDialect::Kirim, cli.serve))
}
