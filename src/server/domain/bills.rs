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
    /// How the call ended (`ledger::CallOutcome`, as stored), how long it took, its `x-request-id`.
    pub outcome: String,
    pub latency_ms: Option<i64>,
    pub request_id: Option<String>,
    /// Web searches the upstream ran for the call, billed in its official cost.
    pub web_searches: i64,
    /// Images the call made (an image model's).
    pub images: i64,
}

#[derive(sqlx::FromRow)]
struct BillRow {
    id: i64,
    created_at: i64,
    key_name: Option<String>,
    channel: String,
    model: String,
    input_tokens: i64,
    output_tokens: i64,
    cache_write_tokens: i64,
    cache_read_tokens: i64,
    official_cost: i64,
    packages_paid: i64,
    balance_paid: i64,
    multiplier: String,
    outcome: String,
    latency_ms: Option<i64>,
    request_id: Option<String>,
    web_searches: i64,
    images: i64,
}

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
         cache_write_5m_tokens + cache_write_1h_tokens AS cache_write_tokens, cache_read_tokens, official_cost, \
         packages_paid, balance_paid, multiplier, outcome, latency_ms, request_id, web_searches, images \
         FROM bills WHERE {clause} ORDER BY created_at DESC, id DESC LIMIT {} OFFSET {}",
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
        id: r.id,
        at: r.created_at,
        key_name: r.key_name,
        channel: r.channel,
        model: r.model,
        input_tokens: r.input_tokens,
        output_tokens: r.output_tokens,
        cache_write_tokens: r.cache_write_tokens,
        cache_read_tokens: r.cache_read_tokens,
        official_cost: Money::from_units(r.official_cost),
        packages_paid: Money::from_units(r.packages_paid),
        balance_paid: Money::from_units(r.balance_paid),
        multiplier: r.multiplier,
        outcome: r.outcome,
        latency_ms: r.latency_ms,
        request_id: r.request_id,
        web_searches: r.web_searches,
        images: r.images,
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

/// What the bills matching a filter add up to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BillSums {
    pub calls: i64,
    pub official_cost: Money,
    pub packages_paid: Money,
    pub balance_paid: Money,
}

pub async fn totals(pool: &AnyPool, user_id: i64, filter: &BillFilter) -> Result<BillSums, sqlx::Error> {
    let (clause, texts, numbers) = where_clause(filter);
    // SUM of a BIGINT is NUMERIC on PostgreSQL: cast back so both databases answer an integer.
    let sql = format!(
        "SELECT COUNT(*), CAST(COALESCE(SUM(official_cost), 0) AS BIGINT), \
         CAST(COALESCE(SUM(packages_paid), 0) AS BIGINT), CAST(COALESCE(SUM(balance_paid), 0) AS BIGINT) \
         FROM bills WHERE {clause}"
    );
    let mut q = sqlx::query_as::<_, (i64, i64, i64, i64)>(&sql).bind(user_id);
    for v in &numbers {
        q = q.bind(*v);
    }
    for t in &texts {
        q = q.bind(t.as_str());
    }
    let (calls, official, packages, balance) = q.fetch_one(pool).await?;
    Ok(BillSums {
        calls,
        official_cost: Money::from_units(official),
        packages_paid: Money::from_units(packages),
        balance_paid: Money::from_units(balance),
    })
}

/// What an account's calls on one UTC day, channel, model and key added up to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageGroup {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub channel: String,
    pub model: String,
    pub key_name: Option<String>,
    pub calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub official_cost: Money,
    pub packages_paid: Money,
    pub balance_paid: Money,
}

/// The account's calls since `since` (unix ms), summed per UTC day, channel, model and key.
pub async fn usage(pool: &AnyPool, user_id: i64, since: i64) -> Result<Vec<UsageGroup>, sqlx::Error> {
    type Row = (i64, String, String, Option<String>, i64, i64, i64, i64, i64, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT created_at / 86400000 AS day, channel, model, key_name, COUNT(*), \
         CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(output_tokens) AS BIGINT), CAST(SUM(official_cost) AS BIGINT), \
         CAST(SUM(packages_paid) AS BIGINT), CAST(SUM(balance_paid) AS BIGINT) \
         FROM bills WHERE user_id = $1 AND created_at >= $2 \
         GROUP BY created_at / 86400000, channel, model, key_name ORDER BY day, channel, model, key_name",
    )
    .bind(user_id)
    .bind(since)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(day, channel, model, key_name, calls, input, output, official, packages, balance)| UsageGroup {
            day,
            channel,
            model,
            key_name,
            calls,
            input_tokens: input,
            output_tokens: output,
            official_cost: Money::from_units(official),
            packages_paid: Money::from_units(packages),
            balance_paid: Money::from_units(balance),
        })
        .collect())
}

/// One line of the account's money movements: a top-up, code, grant, welcome balance, refund or
/// adjustment (`calls` is 0), or the calls charged one after another on one UTC day between two of those
/// (`calls` > 0, summed). `balance_after` is the balance after the line's last entry, so each line's
/// balance is the line before's plus its change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Movement {
    pub at: i64,
    pub kind: String,
    pub memo: String,
    pub calls: i64,
    pub balance_delta: Money,
    pub package_delta: Money,
    pub balance_after: Money,
}

/// The newest `limit` movement lines since `since` (unix ms), newest first.
pub async fn movements(pool: &AnyPool, user_id: i64, since: i64, limit: i64) -> Result<Vec<Movement>, sqlx::Error> {
    // Every entry that is not a call's starts a new run (`run` counts them in id order); a call's entries
    // join the run of the entry before them, split by day. An entry that is not a call is a line alone.
    let rows: Vec<(i64, String, String, i64, i64, i64, i64)> = sqlx::query_as(&format!(
        "SELECT g.at, g.kind, g.memo, g.calls, g.balance_delta, g.package_delta, l.balance_after FROM ( \
           SELECT MAX(id) AS last_id, MAX(created_at) AS at, MIN(kind) AS kind, MIN(memo) AS memo, \
                  COUNT(DISTINCT bill_id) AS calls, CAST(SUM(balance_delta) AS BIGINT) AS balance_delta, \
                  CAST(SUM(package_delta) AS BIGINT) AS package_delta \
           FROM ( \
             SELECT id, created_at, kind, memo, balance_delta, package_delta, bill_id, \
                    SUM(CASE WHEN bill_id IS NULL THEN 1 ELSE 0 END) OVER (ORDER BY id) AS run, \
                    CASE WHEN bill_id IS NULL THEN id ELSE 0 END AS alone, \
                    created_at / {DAY} AS day \
             FROM ledger_entries WHERE user_id = $1 AND created_at >= $2 \
           ) e GROUP BY run, day, alone \
         ) g JOIN ledger_entries l ON l.id = g.last_id ORDER BY g.last_id DESC LIMIT {}",
        limit.clamp(1, 1000),
        DAY = 86_400_000,
    ))
    .bind(user_id)
    .bind(since)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at, kind, memo, calls, b, p, after)| Movement {
            at,
            kind,
            memo: if calls > 0 { String::new() } else { memo },
            calls,
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
