//! `rosetta-kirim`: the kirim dialect alone (with the webhook route, `/healthz` and `/readyz`).

fn main() -> std::process::ExitCode {
    rosetta::dialect_main(
        rosetta::server::ServeDialect::Kirim,
        "rosetta-kirim",
        "Rosetta serving the kirim dialect (/v1/)",
    )
}
