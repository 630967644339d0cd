//! Reading the bills of calls (filtered, paged, exported) and the account's other money movements.

use super::money::Money;
use sqlx::AnyPool;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BillFilter {
    /// Inclusive lower and exclusive upper bounds, unix ms.
    pub from: Option<i64>,
    pub until: Option<i64>,
    pub key_name: Option<String>,
    pub model: Option<String>,
    /// Only bills up to this id (an export started at a fixed point does not shift as calls arrive).
    pub up_to_id: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bill {
    pub id: i64,
    pub at: i64,
    pub key_name: Option<String>,
    pub channel: String,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_write_tokens: i64,
    pub cache_read_tokens: i64,
    pub official_cost: Money,
    pub packages_paid: Money,
    pub balance_paid: Money,
    pub multiplier: String,
}

type BillRow = (i64, i64, Option<String>, String, String, i64, i64, i64, i64, i64, i64, i64, String);

/// The WHERE clause and its text parameters; parameters are numbered from `$2` (`$1` is the user).
fn where_clause(f: &BillFilter) -> (String, Vec<String>, Vec<i64>) {
    let mut sql = String::from("user_id = $1");
    let mut texts = Vec::new();
    let mut numbers = Vec::new();
    let mut n = 1;
    if let Some(from) = f.from {
        n += 1;
        sql.push_str(&format!(" AND created_at >= ${n}"));
        numbers.push((n, from));
    }
    if let Some(until) = f.until {
        n += 1;
        sql.push_str(&format!(" AND created_at < ${n}"));
        numbers.push((n, until));
    }
    if let Some(id) = f.up_to_id {
        n += 1;
        sql.push_str(&format!(" AND id <= ${n}"));
        numbers.push((n, id));
    }
    let mut text_params = Vec::new();
    if let Some(k) = &f.key_name {
        n += 1;
        sql.push_str(&format!(" AND key_name = ${n}"));
        text_params.push((n, k.clone()));
    }
    if let Some(m) = &f.model {
        n += 1;
        sql.push_str(&format!(" AND model = ${n}"));
        text_params.push((n, m.clone()));
    }
    // Numbers come first in parameter order, then texts, matching the order above.
    texts.extend(text_params.into_iter().map(|(_, t)| t));
    (sql, texts, numbers.into_iter().map(|(_, v)| v).collect())
}

/// One page of bills, newest first, and the number of bills matching.
pub async fn page(
    pool: &AnyPool,
    user_id: i64,
    filter: &BillFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Bill>, i64), sqlx::Error> {
    let (clause, texts, numbers) = where_clause(filter);
    let count_sql = format!("SELECT COUNT(*) FROM bills WHERE {clause}");
    let mut count = sqlx::query_as::<_, (i64,)>(&count_sql).bind(user_id);
    for v in &numbers {
        count = count.bind(*v);
    }
    for t in &texts {
        count = count.bind(t.as_str());
    }
    let (total,) = count.fetch_one(pool).await?;
    let list_sql = format!(
        "SELECT id, created_at, key_name, channel, model, input_tokens, output_tokens, \
         cache_write_5m_tokens + cache_write_1h_tokens, cache_read_tokens, official_cost, packages_paid, balance_paid, \
         multiplier FROM bills WHERE {clause} ORDER BY created_at DESC, id DESC LIMIT {} OFFSET {}",
        limit.clamp(1, 10_000),
        offset.max(0)
    );
    let mut list = sqlx::query_as::<_, BillRow>(&list_sql).bind(user_id);
    for v in &numbers {
        list = list.bind(*v);
    }
    for t in &texts {
        list = list.bind(t.as_str());
    }
    let rows = list.fetch_all(pool).await?;
    Ok((rows.into_iter().map(bill_from_row).collect(), total))
}

fn bill_from_row(r: BillRow) -> Bill {
    Bill {
        id: r.0,
        at: r.1,
        key_name: r.2,
        channel: r.3,
        model: r.4,
        input_tokens: r.5,
        output_tokens: r.6,
        cache_write_tokens: r.7,
        cache_read_tokens: r.8,
        official_cost: Money::from_units(r.9),
        packages_paid: Money::from_units(r.10),
        balance_paid: Money::from_units(r.11),
        multiplier: r.12,
    }
}

/// The newest bill id of an account, to fix the end of an export.
pub async fn newest_id(pool: &AnyPool, user_id: i64) -> Result<Option<i64>, sqlx::Error> {
    let (id,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(id) FROM bills WHERE user_id = $1").bind(user_id).fetch_one(pool).await?;
    Ok(id)
}

/// The key names and models that appear in an account's bills, for the filter menus.
pub async fn filter_choices(pool: &AnyPool, user_id: i64) -> Result<(Vec<String>, Vec<String>), sqlx::Error> {
    let keys: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT key_name FROM bills WHERE user_id = $1 AND key_name IS NOT NULL ORDER BY key_name",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    let models: Vec<(String,)> = sqlx::query_as("SELECT DISTINCT model FROM bills WHERE user_id = $1 ORDER BY model")
        .bind(user_id)
        .fetch_all(pool)
        .await?;
    Ok((keys.into_iter().map(|k| k.0).collect(), models.into_iter().map(|m| m.0).collect()))
}

/// A money movement that is not a call: top-ups, codes, grants, welcome balance, refunds, adjustments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Movement {
    pub at: i64,
    pub kind: String,
    pub memo: String,
    pub balance_delta: Money,
    pub package_delta: Money,
    pub balance_after: Money,
}

pub async fn movements(pool: &AnyPool, user_id: i64, limit: i64) -> Result<Vec<Movement>, sqlx::Error> {
    let rows: Vec<(i64, String, String, i64, i64, i64)> = sqlx::query_as(&format!(
        "SELECT created_at, kind, memo, balance_delta, package_delta, balance_after FROM ledger_entries \
         WHERE user_id = $1 AND bill_id IS NULL ORDER BY id DESC LIMIT {}",
        limit.clamp(1, 1000)
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at, kind, memo, b, p, after)| Movement {
            at,
            kind,
            memo,
            balance_delta: Money::from_units(b),
            package_delta: Money::from_units(p),
            balance_after: Money::from_units(after),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_number_their_parameters_in_binding_order() {
        let f = BillFilter {
            from: Some(1),
            until: Some(2),
            key_name: Some("k".into()),
            model: Some("m".into()),
            up_to_id: None,
        };
        let (sql, texts, numbers) = where_clause(&f);
        assert_eq!(sql, "user_id = $1 AND created_at >= $2 AND created_at < $3 AND key_name = $4 AND model = $5");
        assert_eq!(texts, vec!["k", "m"]);
        assert_eq!(numbers, vec![1, 2]);
        let (sql, _, _) = where_clause(&BillFilter { model: Some("m".into()), ..BillFilter::default() });
        assert_eq!(sql, "user_id = $1 AND model = $2");
    }
}
