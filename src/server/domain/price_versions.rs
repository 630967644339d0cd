//! The price table and channel multipliers as operators edit them: each saved version is kept (with who saved
//! it and why, also in the operator log); the newest is in force. A version is checked whole before it is
//! saved, so a saved version always reads back.

use super::channels::ChannelModels;
use super::operator_log::{self, Action, Actor};
use super::pricing::{ChannelMultipliers, PriceTable, Pricing};
use sqlx::AnyPool;

/// One saved version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceVersion {
    pub id: i64,
    pub table_text: String,
    pub multipliers_text: String,
    pub actor: String,
    pub reason: String,
    pub created_at: i64,
}

/// Why a version cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    /// Says which line of the table, and what is wrong with it.
    #[error("{0}")]
    Table(String),
    #[error("Channel multipliers: {0}")]
    Multipliers(String),
    #[error("{0}")]
    Reason(&'static str),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The prices a version stands for, with the configuration's channel-to-model rules; refused when either
/// text does not read, or when a channel the proxy serves would lose its multiplier.
pub fn build(table_text: &str, multipliers_text: &str, channels: &ChannelModels) -> Result<Pricing, VersionError> {
    let table = PriceTable::parse(table_text).map_err(|e| VersionError::Table(e.to_string()))?;
    if table.model_ids().is_empty() {
        return Err(VersionError::Table("The price table prices no model, so every call would be refused.".into()));
    }
    let multipliers = ChannelMultipliers::parse(multipliers_text).map_err(VersionError::Multipliers)?;
    Ok(Pricing { table, multipliers, channels: channels.clone(), table_text: table_text.to_string() })
}

/// The newest version, if any was ever saved.
pub async fn newest(pool: &AnyPool) -> Result<Option<PriceVersion>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM price_versions ORDER BY id DESC LIMIT 1"))
        .fetch_optional(pool)
        .await?;
    Ok(row.map(from_row))
}

/// The newest version's id: what instances poll to learn that the prices changed.
pub async fn newest_id(pool: &AnyPool) -> Result<Option<i64>, sqlx::Error> {
    let (id,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM price_versions").fetch_one(pool).await?;
    Ok(id)
}

pub async fn by_id(pool: &AnyPool, id: i64) -> Result<Option<PriceVersion>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM price_versions WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(from_row))
}

/// The newest versions, newest first.
pub async fn list(pool: &AnyPool, limit: i64) -> Result<Vec<PriceVersion>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM price_versions ORDER BY id DESC LIMIT $1"))
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// What a new version saves.
#[derive(Clone, Copy, Debug)]
pub struct NewVersion<'a> {
    pub actor: Actor<'a>,
    pub table_text: &'a str,
    pub multipliers_text: &'a str,
    pub reason: &'a str,
    /// Said in the operator log: what changed, e.g. `saved` or `restored version 3`.
    pub detail: &'a str,
    pub now: i64,
}

/// Checks and saves a version (with its operator-log entry, in one transaction); returns it with the prices
/// it stands for.
pub async fn save(pool: &AnyPool, v: NewVersion<'_>, channels: &ChannelModels) -> Result<(i64, Pricing), VersionError> {
    let reason = v.reason.trim();
    if reason.is_empty() {
        return Err(VersionError::Reason("Say why: the reason is kept with the version and in the operator log."));
    }
    let pricing = build(v.table_text, v.multipliers_text, channels)?;
    let multipliers_text = pricing.multipliers.to_text();
    let mut tx = pool.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO price_versions (price_table, multipliers, actor, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(v.table_text)
    .bind(&multipliers_text)
    .bind(v.actor.0)
    .bind(reason)
    .bind(v.now)
    .fetch_one(&mut *tx)
    .await?;
    let detail = format!("price version {id}: {}; multipliers {multipliers_text}", v.detail);
    let action =
        Action { actor: v.actor, action: "edit-prices", target: "price table", detail: &detail, reason, now: v.now };
    operator_log::record(&mut tx, action).await?;
    tx.commit().await?;
    Ok((id, pricing))
}

type Row = (i64, String, String, String, String, i64);

const COLUMNS: &str = "id, price_table, multipliers, actor, reason, created_at";

fn from_row(r: Row) -> PriceVersion {
    PriceVersion { id: r.0, table_text: r.1, multipliers_text: r.2, actor: r.3, reason: r.4, created_at: r.5 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::domain::pricing::DEFAULT_PRICE_TABLE;

    #[test]
    fn a_version_is_checked_whole_and_reads_back_to_the_same_prices() {
        let channels = ChannelModels::default();
        let p = build(DEFAULT_PRICE_TABLE, "cc-omg=0.3", &channels).unwrap();
        assert_eq!(p.multipliers.for_channel("cc-omg").to_string(), "0.3");
        let again = build(&p.table_text, &p.multipliers.to_text(), &channels).unwrap();
        assert_eq!(again.multipliers, p.multipliers);
        assert_eq!(again.table.model_ids(), p.table.model_ids());
    }

    #[test]
    fn a_table_or_multipliers_that_do_not_read_are_refused_with_where() {
        let channels = ChannelModels::default();
        let bad_line = format!("{DEFAULT_PRICE_TABLE}\nclaude-new  three  15  3.75  6  0.30\n");
        let e = build(&bad_line, "", &channels).unwrap_err().to_string();
        assert!(e.starts_with("price table line ") && e.contains("\"three\" is not a price"), "{e}");
        assert!(matches!(build("# nothing\n", "", &channels), Err(VersionError::Table(_))));
        assert!(matches!(build(DEFAULT_PRICE_TABLE, "cc-omg=-1", &channels), Err(VersionError::Multipliers(_))));
        assert!(matches!(build(DEFAULT_PRICE_TABLE, "cc-omg", &channels), Err(VersionError::Multipliers(_))));
    }
}
