//! What the `rosetta` binaries share: serving the dialects over one store.

pub mod server;
