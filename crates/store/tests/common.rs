//! Test databases: a fresh SQLite file always, and a fresh PostgreSQL database whenever
//! `ROSETTA_TEST_DATABASE_URL` names a server (e.g. postgres://postgres@127.0.0.1:5432/postgres).

#![allow(dead_code)]

use rosetta_core::{Id, Store};
use rosetta_store::DieselStore;

pub use rosetta_store::testing::TestDb;

/// Runs `test` on a fresh SQLite database, then on a fresh PostgreSQL one when configured.
pub fn each_backend(test: impl Fn(&TestDb)) {
    let sqlite = TestDb::sqlite();
    test(&sqlite);
    drop(sqlite);
    if let Some(pg) = TestDb::postgres() {
        test(&pg);
    }
}

/// An organization with one account, two agents and a contact.
#[derive(Debug)]
pub struct World {
    pub org: Id,
    pub account: Id,
    pub agent: Id,
    pub agent2: Id,
}

pub fn world(store: &DieselStore, name: &str, phone_number_id: &str) -> World {
    let org = store.create_organization(name).unwrap().id;
    let account = store
        .create_account(org, phone_number_id, "+15550783881", Some("Support"))
        .unwrap()
        .id;
    let agent = store
        .create_user(org, "Support Agent", "agent@yourcompany.com")
        .unwrap()
        .id;
    let agent2 = store
        .create_user(org, "Second Agent", "second@yourcompany.com")
        .unwrap()
        .id;
    World {
        org,
        account,
        agent,
        agent2,
    }
}
