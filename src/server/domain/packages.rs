//! Resource packages: prepaid amounts that pay for calls on the channels in their scope, at the official
//! price, until they run out or expire. Granted and deducted only through the ledger.

use super::channels::Scope;
use super::charge::PackageFunds;
use super::money::Money;
use sqlx::{AnyConnection, AnyPool};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackageSource {
    Referral,
    Promotion,
    Admin,
    Purchase,
}

impl PackageSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Referral => "referral",
            Self::Promotion => "promotion",
            Self::Admin => "admin",
            Self::Purchase => "purchase",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "referral" => Some(Self::Referral),
            "promotion" => Some(Self::Promotion),
            "admin" => Some(Self::Admin),
            "purchase" => Some(Self::Purchase),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackageStatus {
    Active,
    UsedUp,
    Expired,
}

impl PackageStatus {
    pub fn of(remaining: Money, expires_at: i64, now: i64) -> Self {
        if !remaining.is_positive() {
            Self::UsedUp
        } else if expires_at <= now {
            Self::Expired
        } else {
            Self::Active
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    pub id: i64,
    pub title: String,
    pub scope: Scope,
    pub original: Money,
    pub remaining: Money,
    pub granted_at: i64,
    pub expires_at: i64,
    pub source: String,
    pub status: PackageStatus,
}

type PackageRow = (i64, String, String, i64, i64, i64, i64, String);

const PACKAGE_COLUMNS: &str = "id, title, scope, original, remaining, granted_at, expires_at, source";

fn from_row(r: PackageRow, now: i64) -> Package {
    let remaining = Money::from_units(r.4);
    Package {
        id: r.0,
        title: r.1,
        scope: Scope::lenient(&r.2),
        original: Money::from_units(r.3),
        remaining,
        granted_at: r.5,
        expires_at: r.6,
        source: r.7,
        status: PackageStatus::of(remaining, r.6, now),
    }
}

/// Active packages with something left, as the charge planner needs them.
pub async fn funds(conn: &mut AnyConnection, user_id: i64, now: i64) -> Result<Vec<PackageFunds>, sqlx::Error> {
    let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(
        "SELECT id, remaining, expires_at, scope FROM packages \
         WHERE user_id = $1 AND remaining > 0 AND expires_at > $2 ORDER BY expires_at, id",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, remaining, expires_at, scope)| PackageFunds {
            id,
            remaining: Money::from_units(remaining),
            expires_at,
            scope: Scope::lenient(&scope),
        })
        .collect())
}

/// Every package of an account: active ones first (soonest expiry first), then the rest, newest first.
pub async fn list(pool: &AnyPool, user_id: i64, now: i64) -> Result<Vec<Package>, sqlx::Error> {
    let rows: Vec<PackageRow> = sqlx::query_as(&format!(
        "SELECT {PACKAGE_COLUMNS} FROM packages WHERE user_id = $1 ORDER BY granted_at DESC, id DESC"
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    let mut packages: Vec<Package> = rows.into_iter().map(|r| from_row(r, now)).collect();
    packages.sort_by_key(|p| {
        (
            p.status != PackageStatus::Active,
            if p.status == PackageStatus::Active { p.expires_at } else { -p.granted_at },
        )
    });
    Ok(packages)
}

/// One deduction from a package, with the call that caused it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deduction {
    pub at: i64,
    pub amount: Money,
    pub model: String,
    pub channel: String,
    pub key_name: Option<String>,
}

/// A package's deductions, newest first; `None` when the package is not this account's.
pub async fn deductions(pool: &AnyPool, user_id: i64, package_id: i64) -> Result<Option<Vec<Deduction>>, sqlx::Error> {
    let owner: Option<(i64,)> =
        sqlx::query_as("SELECT user_id FROM packages WHERE id = $1").bind(package_id).fetch_optional(pool).await?;
    if owner.map(|o| o.0) != Some(user_id) {
        return Ok(None);
    }
    let rows: Vec<(i64, i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT e.created_at, e.package_delta, b.model, b.channel, b.key_name FROM ledger_entries e \
         JOIN bills b ON b.id = e.bill_id WHERE e.package_id = $1 AND e.kind = 'package_deduction' \
         ORDER BY e.id DESC LIMIT 200",
    )
    .bind(package_id)
    .fetch_all(pool)
    .await?;
    Ok(Some(
        rows.into_iter()
            .map(|(at, delta, model, channel, key_name)| Deduction {
                at,
                amount: Money::from_units(-delta),
                model,
                channel,
                key_name,
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_remaining_and_expiry() {
        assert_eq!(PackageStatus::of(Money::usd(1), 10, 5), PackageStatus::Active);
        assert_eq!(PackageStatus::of(Money::usd(1), 10, 10), PackageStatus::Expired);
        assert_eq!(PackageStatus::of(Money::ZERO, 10, 5), PackageStatus::UsedUp);
    }

    #[test]
    fn sources_parse_from_their_stored_names() {
        assert_eq!(PackageSource::parse("referral"), Some(PackageSource::Referral));
        assert_eq!(PackageSource::parse("gift"), None);
    }
}
