//! API keys: 256-bit random secrets shown once, stored as SHA-256, with a name, optional expiry, optional
//! spending cap and optional model allowlist. Lists show only a prefix.

use super::money::Money;
use crate::server::secrets::{hash_token, random_token};
use sqlx::{AnyConnection, AnyPool};

pub const KEY_PREFIX: &str = "sk-gh-";
pub const MAX_KEYS_PER_ACCOUNT: i64 = 50;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// `sk-gh-AbCd…`: enough to recognise a key, useless to an attacker.
    pub prefix: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub spend_cap: Option<Money>,
    /// Allowed models; empty means every priced model.
    pub models: Vec<String>,
    pub disabled: bool,
    pub last_used_at: Option<i64>,
    pub used_times: i64,
    pub spent: Money,
    /// May manage the account's keys through the key-management API.
    pub can_manage: bool,
    /// Its limits were set on the keys page (it was made or last limited there): the key-management API
    /// may only tighten them (see `key_rights`).
    pub limits_from_page: bool,
}

impl ApiKey {
    pub fn allows_model(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| m.eq_ignore_ascii_case(model))
    }

    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("Give the key a name (up to 60 characters).")]
    BadName,
    #[error("The expiry must be in the future.")]
    ExpiryInPast,
    #[error("You have {MAX_KEYS_PER_ACCOUNT} keys already; delete one first.")]
    TooMany,
    #[error("No such key.")]
    NotFound,
    /// A [`Rule`] refused the change (the message says why).
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0}")]
    Db(String),
}

impl From<sqlx::Error> for KeyError {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e.to_string())
    }
}

pub struct NewKey<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub expires_at: Option<i64>,
    pub spend_cap: Option<Money>,
    pub models: &'a [String],
    pub can_manage: bool,
    /// Made on the keys page (not through the key-management API).
    pub on_page: bool,
    pub now: i64,
}

fn clean_name(name: &str) -> Result<String, KeyError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
        return Err(KeyError::BadName);
    }
    Ok(name.to_string())
}

/// What a change must respect, judged on the account's keys as they stand inside the change's transaction
/// with the account locked: parallel changes are judged one after the other, so they cannot each pass on
/// the same keys (a managing key's rights, `key_rights`). For an update or a delete, the second argument is
/// the key changed, as it is now.
pub type Rule<'a> = &'a (dyn Fn(&[ApiKey], Option<&ApiKey>) -> Result<(), String> + Send + Sync);

/// The rule of the keys page: the owner may do anything.
const OWNER: Rule<'static> = &|_, _| Ok(());

/// Locks the account (as money does) and reads its keys, for a change judged by a [`Rule`].
async fn locked_keys(conn: &mut AnyConnection, user_id: i64) -> Result<Vec<ApiKey>, sqlx::Error> {
    super::ledger::lock_account(conn, user_id).await.map_err(|e| match e {
        super::ledger::LedgerError::Db(e) => e,
        _ => sqlx::Error::RowNotFound,
    })?;
    let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY id DESC"))
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// Creates a key and returns it with its secret, the only time the secret exists outside the caller.
pub async fn create(pool: &AnyPool, k: NewKey<'_>) -> Result<(ApiKey, String), KeyError> {
    create_within(pool, k, OWNER).await
}

/// [`create`], if `rule` allows it.
pub async fn create_within(pool: &AnyPool, k: NewKey<'_>, rule: Rule<'_>) -> Result<(ApiKey, String), KeyError> {
    let name = clean_name(k.name)?;
    if k.expires_at.is_some_and(|e| e <= k.now) {
        return Err(KeyError::ExpiryInPast);
    }
    let mut tx = pool.begin().await?;
    let keys = locked_keys(&mut tx, k.user_id).await?;
    if i64::try_from(keys.len()).unwrap_or(i64::MAX) >= MAX_KEYS_PER_ACCOUNT {
        return Err(KeyError::TooMany);
    }
    rule(&keys, None).map_err(KeyError::NotAllowed)?;
    let secret = format!("{KEY_PREFIX}{}", random_token().map_err(|e| KeyError::Db(e.to_string()))?);
    let prefix = format!("{}…", &secret[..KEY_PREFIX.len() + 4]);
    let models = k.models.join(",");
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO api_keys (user_id, key_hash, prefix, name, created_at, expires_at, spend_cap, models, can_manage, \
         limits_from_page) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(k.user_id)
    .bind(hash_token(&secret))
    .bind(&prefix)
    .bind(&name)
    .bind(k.now)
    .bind(k.expires_at)
    .bind(k.spend_cap.map(Money::units))
    .bind(&models)
    .bind(i64::from(k.can_manage))
    .bind(i64::from(k.on_page))
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let key = ApiKey {
        id,
        user_id: k.user_id,
        name,
        prefix,
        created_at: k.now,
        expires_at: k.expires_at,
        spend_cap: k.spend_cap,
        models: k.models.to_vec(),
        disabled: false,
        last_used_at: None,
        used_times: 0,
        spent: Money::ZERO,
        can_manage: k.can_manage,
        limits_from_page: k.on_page,
    };
    Ok((key, secret))
}

type Row = (i64, i64, String, String, i64, Option<i64>, Option<i64>, String, i64, Option<i64>, i64, i64, i64, i64);

const COLUMNS: &str = "id, user_id, name, prefix, created_at, expires_at, spend_cap, models, disabled, last_used_at, \
     used_times, spent, can_manage, limits_from_page";

/// [`COLUMNS`], with `disabled` also true when the key's account is disabled.
const BY_HASH_COLUMNS: &str = "id, user_id, name, prefix, created_at, expires_at, spend_cap, models, \
     CAST(CASE WHEN disabled <> 0 OR EXISTS (SELECT 1 FROM users u WHERE u.id = api_keys.user_id \
     AND u.disabled_at IS NOT NULL) THEN 1 ELSE 0 END AS BIGINT), last_used_at, used_times, spent, can_manage, \
     limits_from_page";

fn from_row(r: Row) -> ApiKey {
    ApiKey {
        id: r.0,
        user_id: r.1,
        name: r.2,
        prefix: r.3,
        created_at: r.4,
        expires_at: r.5,
        spend_cap: r.6.map(Money::from_units),
        models: r.7.split(',').map(str::trim).filter(|m| !m.is_empty()).map(str::to_string).collect(),
        disabled: r.8 != 0,
        last_used_at: r.9,
        used_times: r.10,
        spent: Money::from_units(r.11),
        can_manage: r.12 != 0,
        limits_from_page: r.13 != 0,
    }
}

/// Changes a key's settings (the keys page and the key-management API); `None` leaves a setting as it is.
#[derive(Default)]
pub struct KeyUpdate<'a> {
    pub name: Option<&'a str>,
    pub expires_at: Option<Option<i64>>,
    pub spend_cap: Option<Option<Money>>,
    pub models: Option<&'a [String]>,
    pub disabled: Option<bool>,
    /// Made on the keys page: limits it sets can then only be tightened through the API.
    pub on_page: bool,
}

/// Why one attempt at [`update`] failed.
enum UpdateFail {
    Key(KeyError),
    Db(sqlx::Error),
}

impl From<sqlx::Error> for UpdateFail {
    fn from(e: sqlx::Error) -> Self {
        Self::Db(e)
    }
}

impl From<KeyError> for UpdateFail {
    fn from(e: KeyError) -> Self {
        Self::Key(e)
    }
}

/// Changes a key, in one transaction that locks the account first, as the settlement writer does before it
/// charges a key's spend. A PostgreSQL deadlock all the same is tried again, up to 3 times.
pub async fn update(pool: &AnyPool, user_id: i64, id: i64, u: KeyUpdate<'_>) -> Result<(), KeyError> {
    update_within(pool, user_id, id, u, OWNER).await
}

/// [`update`], if `rule` allows it.
pub async fn update_within(
    pool: &AnyPool,
    user_id: i64,
    id: i64,
    u: KeyUpdate<'_>,
    rule: Rule<'_>,
) -> Result<(), KeyError> {
    let mut tries = 0u64;
    loop {
        match update_once(pool, user_id, id, &u, rule).await {
            Ok(()) => return Ok(()),
            Err(UpdateFail::Key(e)) => return Err(e),
            Err(UpdateFail::Db(e)) if tries < 3 && crate::server::db::is_transient(&e) => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20 * tries)).await;
            }
            Err(UpdateFail::Db(e)) => return Err(e.into()),
        }
    }
}

async fn update_once(
    pool: &AnyPool,
    user_id: i64,
    id: i64,
    u: &KeyUpdate<'_>,
    rule: Rule<'_>,
) -> Result<(), UpdateFail> {
    let mut tx = pool.begin().await?;
    let keys = locked_keys(&mut tx, user_id).await?;
    let target = keys.iter().find(|k| k.id == id).ok_or(KeyError::NotFound)?;
    rule(&keys, Some(target)).map_err(KeyError::NotAllowed)?;
    if let Some(name) = u.name {
        sqlx::query("UPDATE api_keys SET name = $1 WHERE id = $2")
            .bind(clean_name(name)?)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(expires_at) = u.expires_at {
        sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2")
            .bind(expires_at)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(cap) = u.spend_cap {
        sqlx::query("UPDATE api_keys SET spend_cap = $1 WHERE id = $2")
            .bind(cap.map(Money::units))
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(models) = u.models {
        sqlx::query("UPDATE api_keys SET models = $1 WHERE id = $2")
            .bind(models.join(","))
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    if let Some(disabled) = u.disabled {
        sqlx::query("UPDATE api_keys SET disabled = $1 WHERE id = $2")
            .bind(i64::from(disabled))
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    let limits_changed = u.expires_at.is_some() || u.spend_cap.is_some() || u.models.is_some() || u.disabled.is_some();
    if u.on_page && limits_changed {
        sqlx::query("UPDATE api_keys SET limits_from_page = 1 WHERE id = $1").bind(id).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Finds one of the account's keys by its full secret or by the prefix lists show (with or without `…`).
pub async fn find_for_user(pool: &AnyPool, user_id: i64, given: &str) -> Result<Option<ApiKey>, sqlx::Error> {
    let given = given.trim();
    if let Some(k) = by_secret(pool, given).await? {
        return Ok((k.user_id == user_id).then_some(k));
    }
    let prefix = given.trim_end_matches('…').trim_end_matches("...");
    if prefix.len() < KEY_PREFIX.len() + 4 {
        return Ok(None);
    }
    let matches: Vec<ApiKey> =
        list(pool, user_id).await?.into_iter().filter(|k| k.prefix.starts_with(prefix)).collect();
    Ok(if matches.len() == 1 { matches.into_iter().next() } else { None })
}

/// The key a presented secret belongs to (disabled or expired keys included; the caller decides).
pub async fn by_secret(pool: &AnyPool, secret: &str) -> Result<Option<ApiKey>, sqlx::Error> {
    by_hash(pool, &hash_token(secret)).await
}

/// The key whose stored SHA-256 is `hash` (the proxy hashes once and looks in its cache first). Every key
/// of an account an operator disabled reads as disabled.
pub async fn by_hash(pool: &AnyPool, hash: &str) -> Result<Option<ApiKey>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {BY_HASH_COLUMNS} FROM api_keys WHERE key_hash = $1"))
        .bind(hash)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(from_row))
}

pub async fn list(pool: &AnyPool, user_id: i64) -> Result<Vec<ApiKey>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY id DESC"))
        .bind(user_id)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// Deletes a key; its bills keep the key's name.
pub async fn delete(pool: &AnyPool, user_id: i64, id: i64) -> Result<(), KeyError> {
    delete_within(pool, user_id, id, OWNER).await
}

/// [`delete`], if `rule` allows it.
pub async fn delete_within(pool: &AnyPool, user_id: i64, id: i64, rule: Rule<'_>) -> Result<(), KeyError> {
    let mut tx = pool.begin().await?;
    let keys = locked_keys(&mut tx, user_id).await?;
    let target = keys.iter().find(|k| k.id == id).ok_or(KeyError::NotFound)?;
    rule(&keys, Some(target)).map_err(KeyError::NotAllowed)?;
    sqlx::query("DELETE FROM api_keys WHERE id = $1 AND user_id = $2").bind(id).bind(user_id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(models: &[&str], cap: Option<i64>, spent: i64) -> ApiKey {
        ApiKey {
            id: 1,
            user_id: 1,
            name: "k".into(),
            prefix: "sk-gh-abcd…".into(),
            created_at: 0,
            expires_at: Some(100),
            spend_cap: cap.map(Money::from_units),
            models: models.iter().map(|m| m.to_string()).collect(),
            disabled: false,
            last_used_at: None,
            used_times: 0,
            spent: Money::from_units(spent),
            can_manage: false,
            limits_from_page: true,
        }
    }

    #[test]
    fn allowlists_and_expiry_are_checked() {
        assert!(key(&[], None, 0).allows_model("anything"));
        assert!(key(&["claude-haiku-4-5"], None, 0).allows_model("Claude-Haiku-4-5"));
        assert!(!key(&["claude-haiku-4-5"], None, 0).allows_model("claude-opus-4-1"));
        assert!(key(&[], None, 0).is_expired(100) && !key(&[], None, 0).is_expired(99));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(clean_name("  laptop ").unwrap(), "laptop");
        assert_eq!(clean_name(" "), Err(KeyError::BadName));
        assert_eq!(clean_name(&"x".repeat(61)), Err(KeyError::BadName));
        assert_eq!(clean_name("a\u{7}b"), Err(KeyError::BadName));
    }
}
