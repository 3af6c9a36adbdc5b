//! `rosetta-wacrm`: the wacrm dialect alone (with the webhook route, `/healthz` and `/readyz`).

fn main() -> std::process::ExitCode {
    rosetta::dialect_main(
        rosetta::server::ServeDialect::Wacrm,
        "rosetta-wacrm",
        "Rosetta serving the wacrm dialect (/api/v1/)",
    )
}
