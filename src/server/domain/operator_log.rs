//! The operator log: every operator action (who, when, what, why), append-only. The tables refuse updates
//! and deletes (triggers in the migration); entries are written in the same transaction as the action.
//!
//! What an action changed is kept as data ([`Detail`], stored as JSON), never as a sentence: the console
//! words it in the reader's language. Entries written before that hold an English sentence, shown as written.

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, AnyPool};

/// Who acted: an operator's email, or [`Actor::CLI`] for the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Actor<'a>(pub &'a str);

impl Actor<'static> {
    pub const CLI: Actor<'static> = Actor("cli");
}

/// What exactly an action changed. Amounts are in [`super::money::Money`] units, paid amounts in minor units
/// of their currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "is", rename_all = "snake_case")]
pub enum Detail {
    /// The balance credited (`amount` above zero) or debited, by ledger entry `entry`.
    Adjusted {
        amount: i64,
        entry: i64,
    },
    /// A payment made outside the payment provider: `received` in `currency`, how, what it credited and what it
    /// counted toward the tier (in the top-up currency).
    OfflinePayment {
        received: i64,
        currency: String,
        method: String,
        credited: i64,
        counted: i64,
        tier_currency: String,
    },
    PackageGranted {
        package: i64,
        title: String,
        amount: i64,
        scope: String,
        days: i64,
    },
    /// Disabled: its API keys refused, its browsers signed out.
    AccountDisabled,
    AccountEnabled,
    OperatorGiven,
    OperatorTaken,
    /// A held referral approved or rejected; `status` is what it became.
    ReferralDecided {
        referral: i64,
        status: String,
    },
    InviteStopped,
    InviteRestarted,
    CodesMade {
        count: usize,
        amount: i64,
        uses: i64,
    },
    CodeWithdrawn {
        code: i64,
    },
    /// A new price version; `restored` when it puts an earlier version in force again.
    PricesSaved {
        version: i64,
        restored: Option<i64>,
        multipliers: String,
    },
}

impl Detail {
    /// The short verb the log files the action under (and the console's filter shows).
    pub fn action(&self) -> &'static str {
        match self {
            Self::Adjusted { amount, .. } if *amount < 0 => "debit",
            Self::Adjusted { .. } => "credit",
            Self::OfflinePayment { .. } => "offline-payment",
            Self::PackageGranted { .. } => "grant-package",
            Self::AccountDisabled => "disable-account",
            Self::AccountEnabled => "enable-account",
            Self::OperatorGiven => "promote",
            Self::OperatorTaken => "demote",
            Self::ReferralDecided { status, .. } if status == "rejected" => "reject-referral",
            Self::ReferralDecided { .. } => "approve-referral",
            Self::InviteStopped => "disable-invite-code",
            Self::InviteRestarted => "enable-invite-code",
            Self::CodesMade { .. } => "create-codes",
            Self::CodeWithdrawn { .. } => "disable-code",
            Self::PricesSaved { .. } => "edit-prices",
        }
    }

    /// Reads a stored detail; `None` for an entry written as a sentence before details were data.
    pub fn read(stored: &str) -> Option<Self> {
        serde_json::from_str(stored).ok()
    }

    fn stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One action to record.
#[derive(Clone, Copy, Debug)]
pub struct Action<'a> {
    pub actor: Actor<'a>,
    /// What it was done to: an account's email, `referral 12`, an invite code ...
    pub target: &'a str,
    pub detail: &'a Detail,
    pub reason: &'a str,
    pub now: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub reason: String,
    pub created_at: i64,
}

/// Records an action inside the caller's transaction.
pub async fn record(conn: &mut AnyConnection, a: Action<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO operator_log (actor, action, target, detail, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(a.actor.0)
    .bind(a.detail.action())
    .bind(a.target)
    .bind(a.detail.stored())
    .bind(a.reason)
    .bind(a.now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What was done to one target (an account's email, exactly), newest first.
pub async fn about_target(pool: &AnyPool, target: &str, limit: i64) -> Result<Vec<Entry>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, actor, action, target, detail, reason, created_at FROM operator_log WHERE target = $1 \
         ORDER BY id DESC LIMIT $2",
    )
    .bind(target)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(entry).collect())
}

type Row = (i64, String, String, String, String, String, i64);

fn entry(r: Row) -> Entry {
    Entry { id: r.0, actor: r.1, action: r.2, target: r.3, detail: r.4, reason: r.5, created_at: r.6 }
}

/// Newest first: up to `limit` entries older than `before` (an entry id), optionally only those whose target
/// or actor contains `about`.
pub async fn page(
    pool: &AnyPool,
    before: Option<i64>,
    about: Option<&str>,
    limit: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    let like = about.map(|a| crate::server::db::contains_pattern(&a.trim().to_lowercase()));
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, actor, action, target, detail, reason, created_at FROM operator_log \
         WHERE id < $1 AND ($2 = '' OR LOWER(target) LIKE $2 ESCAPE '\\' OR LOWER(actor) LIKE $2 ESCAPE '\\') \
         ORDER BY id DESC LIMIT $3",
    )
    .bind(before.unwrap_or(i64::MAX))
    .bind(like.unwrap_or_default())
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(entry).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_detail_reads_back_as_stored_and_names_its_action() {
        let d = Detail::OfflinePayment {
            received: 2000,
            currency: "CNY".into(),
            method: "WeChat Pay".into(),
            credited: 28_000_000,
            counted: 2000,
            tier_currency: "CNY".into(),
        };
        assert_eq!(Detail::read(&d.stored()), Some(d.clone()));
        assert_eq!(d.action(), "offline-payment");
        assert_eq!(Detail::Adjusted { amount: -5, entry: 1 }.action(), "debit");
        assert_eq!(Detail::Adjusted { amount: 5, entry: 1 }.action(), "credit");
        assert_eq!(Detail::ReferralDecided { referral: 3, status: "rejected".into() }.action(), "reject-referral");
        assert_eq!(Detail::ReferralDecided { referral: 3, status: "rewarded".into() }.action(), "approve-referral");
    }

    #[test]
    fn a_sentence_from_before_is_not_a_detail() {
        assert_eq!(Detail::read("offline payment CNY 20.00 by WeChat Pay: $2.80 credited"), None);
        assert_eq!(Detail::read("operator role given"), None);
    }
}
