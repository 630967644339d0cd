//! The money audit: checks the ledger's invariants over the whole database and lists every breach.
//! Used by `gatehouse audit` (non-zero exit on any breach) and by the tests after every step.

use super::money::Money;
use sqlx::AnyPool;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breach(pub String);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub accounts: i64,
    pub packages: i64,
    pub bills: i64,
    pub entries: i64,
    pub breaches: Vec<Breach>,
}

impl AuditReport {
    pub fn is_clean(&self) -> bool {
        self.breaches.is_empty()
    }
}

/// id, request key, official, packages paid, balance paid, package entries, balance entries, balance charges.
type BillCheck = (i64, String, i64, i64, i64, i64, i64, i64);

pub async fn run(pool: &AnyPool, now: i64) -> Result<AuditReport, sqlx::Error> {
    let mut report = AuditReport::default();
    let count = |table: &'static str| async move {
        let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(pool).await?;
        Ok::<i64, sqlx::Error>(n)
    };
    report.accounts = count("users").await?;
    report.packages = count("packages").await?;
    report.bills = count("bills").await?;
    report.entries = count("ledger_entries").await?;

    let balances: Vec<(i64, String, i64, i64)> = sqlx::query_as(
        "SELECT u.id, u.email, u.balance, CAST(COALESCE(SUM(e.balance_delta), 0) AS BIGINT) FROM users u \
         LEFT JOIN ledger_entries e ON e.user_id = u.id GROUP BY u.id, u.email, u.balance \
         HAVING u.balance <> CAST(COALESCE(SUM(e.balance_delta), 0) AS BIGINT)",
    )
    .fetch_all(pool)
    .await?;
    for (id, email, stored, summed) in balances {
        report.breaches.push(Breach(format!(
            "account {id} ({email}): stored balance {} but its ledger entries sum to {}",
            Money::from_units(stored),
            Money::from_units(summed)
        )));
    }

    let packages: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT p.id, p.remaining, p.original, CAST(COALESCE(SUM(e.package_delta), 0) AS BIGINT) FROM packages p \
         LEFT JOIN ledger_entries e ON e.package_id = p.id GROUP BY p.id, p.remaining, p.original \
         HAVING p.remaining < 0 OR p.remaining > p.original OR p.remaining <> CAST(COALESCE(SUM(e.package_delta), 0) AS BIGINT)",
    )
    .fetch_all(pool)
    .await?;
    for (id, remaining, original, summed) in packages {
        report.breaches.push(Breach(format!(
            "package {id}: remaining {} of {} but its ledger entries sum to {}",
            Money::from_units(remaining),
            Money::from_units(original),
            Money::from_units(summed)
        )));
    }

    let bills: Vec<BillCheck> = sqlx::query_as(
        "SELECT b.id, b.request_key, b.official_cost, b.packages_paid, b.balance_paid, \
         CAST(COALESCE(SUM(-e.package_delta), 0) AS BIGINT), CAST(COALESCE(SUM(-e.balance_delta), 0) AS BIGINT), \
         CAST(SUM(CASE WHEN e.kind = 'balance_charge' THEN 1 ELSE 0 END) AS BIGINT) \
         FROM bills b LEFT JOIN ledger_entries e ON e.bill_id = b.id \
         GROUP BY b.id, b.request_key, b.official_cost, b.packages_paid, b.balance_paid \
         HAVING b.packages_paid <> CAST(COALESCE(SUM(-e.package_delta), 0) AS BIGINT) \
            OR b.balance_paid <> CAST(COALESCE(SUM(-e.balance_delta), 0) AS BIGINT) \
            OR SUM(CASE WHEN e.kind = 'balance_charge' THEN 1 ELSE 0 END) > 1 \
            OR b.packages_paid > b.official_cost OR b.packages_paid < 0 OR b.balance_paid < 0",
    )
    .fetch_all(pool)
    .await?;
    for (id, key, official, p, b, p_entries, b_entries, charges) in bills {
        report.breaches.push(Breach(format!(
            "bill {id} ({key}): official {}, packages paid {} (entries {}), balance paid {} (entries {}), {charges} balance charges",
            Money::from_units(official),
            Money::from_units(p),
            Money::from_units(p_entries),
            Money::from_units(b),
            Money::from_units(b_entries),
        )));
    }

    // A charge set aside is a call not yet billed: the books are not whole until an operator settles or
    // drops it.
    for u in super::unsettled::list(pool).await? {
        report.breaches.push(Breach(format!(
            "unsettled call {} (request {}, account {}, {} on {}, official {}) set aside {} s ago: {}; \
             `gatehouse admin unsettled retry {}` or `drop {}`",
            u.id,
            u.call.request_key,
            u.call.user_id,
            u.call.model.escape_debug(),
            u.call.channel,
            Money::from_units(u.call.official_units),
            (now - u.created_at).max(0) / 1000,
            u.error,
            u.id,
            u.id
        )));
    }
    Ok(report)
}
