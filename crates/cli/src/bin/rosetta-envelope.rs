//! `rosetta-envelope`: the envelope dialect alone (with the webhook route, `/healthz` and `/readyz`).

fn main() -> std::process::ExitCode {
    rosetta::dialect_main(
        rosetta::server::ServeDialect::Envelope,
        "rosetta-envelope",
        "Rosetta serving the envelope dialect (/api/whatsapp/)",
    )
}
