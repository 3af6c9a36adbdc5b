//! Organizations, WhatsApp accounts, users and API keys.

use diesel::prelude::*;
use rosetta_core::key::{hash_secret, hashes_equal};
use rosetta_core::store::{CreatedApiKey, NewApiKey};
use rosetta_core::*;

use crate::db::{map_error, DbConnection};
use crate::rows::*;
use crate::schema::*;

pub fn create_organization(c: &mut DbConnection, name: &str) -> Result<Organization> {
    let row = OrganizationRow {
        id: b(Id::new()),
        name: name.to_owned(),
        created_at: Timestamp::now().millis(),
    };
    diesel::insert_into(organizations::table)
        .values(&row)
        .execute(c)
        .map_err(map_error)?;
    row.try_into()
}

pub fn get_organization(c: &mut DbConnection, org: Id) -> Result<Organization> {
    crate::per_backend!(c, |conn| organizations::table
        .find(b(org))
        .select(OrganizationRow::as_select())
        .first(conn)
        .optional()
        .map_err(map_error))?
    .ok_or(Error::NotFound(EntityKind::Organization))?
    .try_into()
}

pub fn require_organization(c: &mut DbConnection, org: Id) -> Result<()> {
    get_organization(c, org).map(|_| ())
}

pub fn create_account(
    c: &mut DbConnection,
    org: Id,
    phone_number_id: &str,
    phone_number: &str,
    name: Option<String>,
) -> Result<WhatsAppAccount> {
    require_organization(c, org)?;
    let taken = whatsapp_accounts::table
        .filter(whatsapp_accounts::phone_number_id.eq(phone_number_id))
        .count()
        .get_result::<i64>(c)
        .map_err(map_error)?;
    if taken > 0 {
        return Err(Error::Conflict(format!(
            "phone_number_id {phone_number_id} is already connected"
        )));
    }
    let row = AccountRow {
        id: b(Id::new()),
        org_id: b(org),
        phone_number_id: phone_number_id.to_owned(),
        phone_number: phone_number.to_owned(),
        name,
        connected: true,
        created_at: Timestamp::now().millis(),
    };
    diesel::insert_into(whatsapp_accounts::table)
        .values(&row)
        .execute(c)
        .map_err(map_error)?;
    row.try_into()
}

pub fn list_accounts(c: &mut DbConnection, org: Id, connected_only: bool) -> Result<Vec<WhatsAppAccount>> {
    let mut q = whatsapp_accounts::table
        .filter(whatsapp_accounts::org_id.eq(b(org)))
        .into_boxed();
    if connected_only {
        q = q.filter(whatsapp_accounts::connected.eq(true));
    }
    let rows = q
        .order_by((whatsapp_accounts::created_at.asc(), whatsapp_accounts::id.asc()))
        .select(AccountRow::as_select())
        .load(c)
        .map_err(map_error)?;
    rows.into_iter().map(TryInto::try_into).collect()
}

pub fn find_account(c: &mut DbConnection, org: Id, phone_number_id: &str) -> Result<WhatsAppAccount> {
    whatsapp_accounts::table
        .filter(whatsapp_accounts::org_id.eq(b(org)))
        .filter(whatsapp_accounts::phone_number_id.eq(phone_number_id))
        .select(AccountRow::as_select())
        .first(c)
        .optional()
        .map_err(map_error)?
        .ok_or(Error::NotFound(EntityKind::Account))?
        .try_into()
}

pub fn load_account(c: &mut DbConnection, org: Id, account: Id) -> Result<WhatsAppAccount> {
    whatsapp_accounts::table
        .find(b(account))
        .filter(whatsapp_accounts::org_id.eq(b(org)))
        .select(AccountRow::as_select())
        .first(c)
        .optional()
        .map_err(map_error)?
        .ok_or(Error::NotFound(EntityKind::Account))?
        .try_into()
}

/// Accounts by id, for a page of conversations: a page names few, each on many rows, so they are
/// read once each rather than joined to every row.
pub fn accounts_by_id(c: &mut DbConnection, ids: &[Vec<u8>]) -> Result<Vec<WhatsAppAccount>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = crate::sql::rows_by_id!(c, whatsapp_accounts::table, whatsapp_accounts::id, AccountRow, ids)?;
    rows.into_iter().map(TryInto::try_into).collect()
}

/// Users by id, for a page of conversations' assignees (as `accounts_by_id`).
pub fn users_by_id(c: &mut DbConnection, ids: &[Vec<u8>]) -> Result<Vec<User>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = crate::sql::rows_by_id!(c, users::table, users::id, UserRow, ids)?;
    rows.into_iter().map(TryInto::try_into).collect()
}

pub fn create_user(c: &mut DbConnection, org: Id, name: &str, email: &str) -> Result<User> {
    require_organization(c, org)?;
    let taken = users::table
        .filter(users::org_id.eq(b(org)))
        .filter(users::email.eq(email))
        .count()
        .get_result::<i64>(c)
        .map_err(map_error)?;
    if taken > 0 {
        return Err(Error::Conflict(format!(
            "a user with email {email} already exists in this organization"
        )));
    }
    let row = UserRow {
        id: b(Id::new()),
        org_id: b(org),
        name: name.to_owned(),
        email: email.to_owned(),
        created_at: Timestamp::now().millis(),
    };
    diesel::insert_into(users::table)
        .values(&row)
        .execute(c)
        .map_err(map_error)?;
    row.try_into()
}

pub fn get_user(c: &mut DbConnection, org: Id, user: Id) -> Result<User> {
    users::table
        .find(b(user))
        .filter(users::org_id.eq(b(org)))
        .select(UserRow::as_select())
        .first(c)
        .optional()
        .map_err(map_error)?
        .ok_or(Error::NotFound(EntityKind::User))?
        .try_into()
}

/// The user, who must belong to `org`; anyone else (unknown or foreign) is `NotMember`.
pub fn member(c: &mut DbConnection, org: Id, user: Id) -> Result<User> {
    match get_user(c, org, user) {
        Err(Error::NotFound(_)) => Err(Error::NotMember),
        other => other,
    }
}

pub fn create_api_key(c: &mut DbConnection, org: Id, name: Option<String>, key: &NewApiKey) -> Result<CreatedApiKey> {
    require_organization(c, org)?;
    if key.scopes.is_empty() {
        return Err(Error::invalid("scopes", "a key needs at least one scope"));
    }
    let secret = key.style.generate_secret();
    let last4: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let row = ApiKeyRow {
        id: b(Id::new()),
        org_id: b(org),
        name,
        style: key.style.as_str().to_owned(),
        scopes: key.scopes.join(","),
        secret_hash: hash_secret(&secret).to_vec(),
        last4,
        created_at: Timestamp::now().millis(),
        expires_at: key.expires_at.map(Timestamp::millis),
        revoked_at: None,
        last_used_at: None,
    };
    diesel::insert_into(api_keys::table)
        .values(&row)
        .execute(c)
        .map_err(map_error)?;
    Ok(CreatedApiKey {
        key: row.try_into()?,
        secret,
    })
}

pub fn revoke_api_key(c: &mut DbConnection, key: Id) -> Result<ApiKey> {
    let row: ApiKeyRow = api_keys::table
        .find(b(key))
        .select(ApiKeyRow::as_select())
        .first(c)
        .optional()
        .map_err(map_error)?
        .ok_or(Error::NotFound(EntityKind::ApiKey))?;
    if row.revoked_at.is_none() {
        let now = Timestamp::now().millis();
        diesel::update(api_keys::table.find(b(key)))
            .set(api_keys::revoked_at.eq(now))
            .execute(c)
            .map_err(map_error)?;
        return ApiKeyRow {
            revoked_at: Some(now),
            ..row
        }
        .try_into();
    }
    row.try_into()
}

pub fn authenticate(c: &mut DbConnection, secret: &str) -> Result<Option<ApiKey>> {
    let hash = hash_secret(secret);
    let row: Option<ApiKeyRow> = crate::per_backend!(c, |conn| api_keys::table
        .filter(api_keys::secret_hash.eq(hash.to_vec()))
        .select(ApiKeyRow::as_select())
        .first(conn)
        .optional())
    .map_err(map_error)?;
    Ok(row
        .filter(|r| hashes_equal(&r.secret_hash, &hash))
        .map(ApiKey::try_from)
        .transpose()?
        .filter(|k| k.is_usable_at(Timestamp::now())))
}

pub fn touch_api_keys(c: &mut DbConnection, used: &[(Id, Timestamp)]) -> Result<()> {
    for (key, at) in used {
        diesel::update(api_keys::table.find(b(*key)))
            .set(api_keys::last_used_at.eq(at.millis()))
            .execute(c)
            .map_err(map_error)?;
    }
    Ok(())
}

pub fn account_org(c: &mut DbConnection, account: Id) -> Result<Id> {
    let org: Option<Vec<u8>> = whatsapp_accounts::table
        .find(b(account))
        .select(whatsapp_accounts::org_id)
        .first(c)
        .optional()
        .map_err(map_error)?;
    id(&org.ok_or(Error::NotFound(EntityKind::Account))?)
}

/// Replaces the account's sealed token.
pub fn set_account_token(c: &mut DbConnection, org: Id, account: Id, sealed: &[u8]) -> Result<()> {
    let updated = diesel::update(
        whatsapp_accounts::table
            .find(b(account))
            .filter(whatsapp_accounts::org_id.eq(b(org))),
    )
    .set((
        whatsapp_accounts::access_token.eq(Some(sealed)),
        whatsapp_accounts::token_set_at.eq(Some(Timestamp::now().millis())),
        whatsapp_accounts::token_invalid_at.eq(None::<i64>),
    ))
    .execute(c)
    .map_err(map_error)?;
    if updated == 0 {
        return Err(Error::NotFound(EntityKind::Account));
    }
    Ok(())
}

/// Meta refused the account's token: flagged until a new one is set.
pub fn flag_account_token(c: &mut DbConnection, org: Id, account: Id) -> Result<()> {
    let updated = diesel::update(
        whatsapp_accounts::table
            .find(b(account))
            .filter(whatsapp_accounts::org_id.eq(b(org))),
    )
    .set(whatsapp_accounts::token_invalid_at.eq(Some(Timestamp::now().millis())))
    .execute(c)
    .map_err(map_error)?;
    if updated == 0 {
        return Err(Error::NotFound(EntityKind::Account));
    }
    Ok(())
}

/// Whether the account can send: it has a token Meta has not refused.
pub fn can_send(c: &mut DbConnection, org: Id, account: Id) -> Result<bool> {
    let found: Option<(bool, bool)> = whatsapp_accounts::table
        .find(b(account))
        .filter(whatsapp_accounts::org_id.eq(b(org)))
        .select((
            whatsapp_accounts::access_token.is_not_null(),
            whatsapp_accounts::token_invalid_at.is_null(),
        ))
        .first(c)
        .optional()
        .map_err(map_error)?;
    let (has_token, valid) = found.ok_or(Error::NotFound(EntityKind::Account))?;
    Ok(has_token && valid)
}

/// The account's sealed token, if one was set.
pub fn account_token(c: &mut DbConnection, org: Id, account: Id) -> Result<Option<Vec<u8>>> {
    let found: Option<Option<Vec<u8>>> = whatsapp_accounts::table
        .find(b(account))
        .filter(whatsapp_accounts::org_id.eq(b(org)))
        .select(whatsapp_accounts::access_token)
        .first(c)
        .optional()
        .map_err(map_error)?;
    found.ok_or(Error::NotFound(EntityKind::Account))
}
