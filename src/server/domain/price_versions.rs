//! The price table and channel multipliers as operators edit them: each saved version is kept (with who saved
//! it and why, also in the operator log); the newest is in force. A version is checked whole before it is
//! saved, so a saved version always reads back.

use super::channels::ChannelModels;
use super::operator_log::{self, Action, Actor, Detail};
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
    #[error("Say why: the reason is kept with the version and in the operator log.")]
    NoReason,
    #[error("The prices changed since this page was opened (version {0} is in force now). Reload it and edit again.")]
    Stale(i64),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The most a channel may multiply the official price by.
const MAX_MULTIPLIER: u32 = 100;

/// The prices a version stands for, with the configuration's channel-to-model rules. Refused when either text
/// does not read, when the multipliers name a channel that is not one of `charged` (a typo would leave the
/// real channel at the default rate) or leave one out, or when one would make calls free.
pub fn build(
    table_text: &str,
    multipliers_text: &str,
    channels: &ChannelModels,
    charged: &[&str],
) -> Result<Pricing, VersionError> {
    let table = PriceTable::parse(table_text).map_err(|e| VersionError::Table(e.to_string()))?;
    if table.model_ids().is_empty() {
        return Err(VersionError::Table("The price table prices no model, so every call would be refused.".into()));
    }
    let multipliers = ChannelMultipliers::parse(multipliers_text).map_err(VersionError::Multipliers)?;
    let listed = multipliers.all();
    if let Some((unknown, _)) = listed.iter().find(|(c, _)| !charged.contains(&c.as_str())) {
        return Err(VersionError::Multipliers(format!(
            "there is no channel {unknown:?}; the channels are {}",
            charged.join(", ")
        )));
    }
    if let Some(missing) = charged.iter().find(|c| **c != "default" && !listed.iter().any(|(l, _)| l == *c)) {
        return Err(VersionError::Multipliers(format!("give {missing} its multiplier (every channel is listed)")));
    }
    if let Some((channel, m)) =
        listed.iter().find(|(_, m)| m.is_zero() || *m > rust_decimal::Decimal::from(MAX_MULTIPLIER))
    {
        return Err(VersionError::Multipliers(format!(
            "{channel}={m}: a multiplier is above 0 (calls are never free) and at most {MAX_MULTIPLIER}"
        )));
    }
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
    /// The earlier version this one puts in force again, if it is a restore (said in the operator log).
    pub restored: Option<i64>,
    /// The version the editor started from (0: the configuration's prices). A version already followed by
    /// another is refused: someone saved in the meantime.
    pub base: i64,
    pub now: i64,
}

/// Checks and saves a version (with its operator-log entry, in one transaction); returns it with the prices
/// it stands for.
pub async fn save(
    pool: &AnyPool,
    v: NewVersion<'_>,
    channels: &ChannelModels,
    charged: &[&str],
) -> Result<(i64, Pricing), VersionError> {
    let reason = v.reason.trim();
    if reason.is_empty() {
        return Err(VersionError::NoReason);
    }
    let pricing = build(v.table_text, v.multipliers_text, channels, charged)?;
    let multipliers_text = pricing.multipliers.to_text();
    let mut tx = pool.begin().await?;
    let (newest,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM price_versions").fetch_one(&mut *tx).await?;
    let newest = newest.unwrap_or(0);
    if newest != v.base {
        return Err(VersionError::Stale(newest));
    }
    // The unique parent refuses a second successor even when two saves read the same newest at once.
    let inserted: Result<(i64,), sqlx::Error> = sqlx::query_as(
        "INSERT INTO price_versions (price_table, multipliers, actor, reason, created_at, parent) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(v.table_text)
    .bind(&multipliers_text)
    .bind(v.actor.0)
    .bind(reason)
    .bind(v.now)
    .bind(v.base)
    .fetch_one(&mut *tx)
    .await;
    let (id,) = match inserted {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Err(VersionError::Stale(v.base)),
        other => other?,
    };
    let detail = Detail::PricesSaved { version: id, restored: v.restored, multipliers: multipliers_text };
    let action = Action { actor: v.actor, target: "price table", detail: &detail, reason, now: v.now };
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

    const ALL: &str = "cc-omg=0.3,codex-omg=0.2,web-chat=1,default=1";

    #[test]
    fn a_version_is_checked_whole_and_reads_back_to_the_same_prices() {
        let channels = ChannelModels::default();
        let charged = ["default", "web-chat", "cc-omg", "codex-omg"];
        let p = build(DEFAULT_PRICE_TABLE, ALL, &channels, &charged).unwrap();
        assert_eq!(p.multipliers.for_channel("cc-omg").to_string(), "0.3");
        let again = build(&p.table_text, &p.multipliers.to_text(), &channels, &charged).unwrap();
        assert_eq!(again.multipliers, p.multipliers);
        assert_eq!(again.table.model_ids(), p.table.model_ids());
    }

    #[test]
    fn a_table_or_multipliers_that_do_not_read_are_refused_with_where() {
        let channels = ChannelModels::default();
        let charged = ["default", "web-chat", "cc-omg", "codex-omg"];
        let bad_line = format!("{DEFAULT_PRICE_TABLE}\nclaude-new  three  15  3.75  6  0.30\n");
        let e = build(&bad_line, ALL, &channels, &charged).unwrap_err().to_string();
        assert!(e.starts_with("price table line ") && e.contains("\"three\" is not a price"), "{e}");
        assert!(matches!(build("# nothing\n", ALL, &channels, &charged), Err(VersionError::Table(_))));
        for bad in [
            "cc-omg=-1,codex-omg=0.2,web-chat=1",
            "cc-omg,codex-omg=0.2,web-chat=1",
            // A typo would leave cc-omg at the default rate; a channel left out likewise.
            "cc_omg=0.2,codex-omg=0.2,web-chat=1",
            "cc-omg=0.2,web-chat=1",
            // Free, or absurd.
            "cc-omg=0,codex-omg=0.2,web-chat=1",
            "cc-omg=0.2,codex-omg=0.2,web-chat=1000",
        ] {
            assert!(
                matches!(build(DEFAULT_PRICE_TABLE, bad, &channels, &charged), Err(VersionError::Multipliers(_))),
                "{bad}"
            );
        }
    }
}
