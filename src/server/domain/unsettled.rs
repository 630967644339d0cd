//! Charges set aside: a call's settlement the database refused for a reason retrying cannot fix (a value
//! it will not store, an account that is gone). Kept here as JSON so it never blocks other charges, a
//! capped key or shutdown; `gatehouse audit` lists each one, and an operator retries it (after fixing the
//! cause) or drops it with `gatehouse admin unsettled`.

use super::ledger::{CallFacts, CallOutcome, LedgerError, Settled, Settlement};
use super::money::Money;
use super::pricing::Usage;
use super::settle_batch::settle_batch;
use rust_decimal::Decimal;
use sqlx::AnyPool;

/// A settlement as stored: owned, and serialised as JSON (control characters escaped).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredCall {
    pub user_id: i64,
    pub request_key: String,
    pub api_key_id: Option<i64>,
    pub key_name: Option<String>,
    pub channel: String,
    pub model: String,
    /// Input, output, 5-minute and 1-hour cache writes, cache reads.
    pub tokens: [u64; 5],
    pub official_units: i64,
    pub multiplier: String,
    pub now: i64,
    #[serde(default)]
    pub outcome: CallOutcome,
    #[serde(default)]
    pub latency_ms: Option<i64>,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub web_searches: u64,
    #[serde(default)]
    pub images: u64,
}

impl StoredCall {
    pub fn of(s: &Settlement<'_>) -> Self {
        let u = s.usage;
        Self {
            user_id: s.user_id,
            request_key: s.request_key.to_string(),
            api_key_id: s.api_key_id,
            key_name: s.key_name.map(str::to_string),
            channel: s.channel.to_string(),
            model: s.model.to_string(),
            tokens: [u.input, u.output, u.cache_write_5m, u.cache_write_1h, u.cache_read],
            web_searches: u.web_searches,
            images: u.images,
            official_units: s.official.units(),
            multiplier: s.multiplier.normalize().to_string(),
            now: s.now,
            outcome: s.facts.outcome,
            latency_ms: s.facts.latency_ms,
            request_id: s.facts.request_id.map(str::to_string),
        }
    }

    pub fn settlement(&self) -> Result<Settlement<'_>, LedgerError> {
        let [input, output, cache_write_5m, cache_write_1h, cache_read] = self.tokens;
        Ok(Settlement {
            facts: CallFacts {
                outcome: self.outcome,
                latency_ms: self.latency_ms,
                request_id: self.request_id.as_deref(),
            },
            user_id: self.user_id,
            request_key: &self.request_key,
            api_key_id: self.api_key_id,
            key_name: self.key_name.as_deref(),
            channel: &self.channel,
            model: &self.model,
            usage: Usage {
                input,
                output,
                cache_write_5m,
                cache_write_1h,
                cache_read,
                web_searches: self.web_searches,
                images: self.images,
            },
            official: Money::from_units(self.official_units),
            multiplier: self
                .multiplier
                .parse::<Decimal>()
                .map_err(|_| LedgerError::InvalidAmount("the stored multiplier is not a number"))?,
            now: self.now,
        })
    }
}

/// One charge set aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsettled {
    pub id: i64,
    pub call: StoredCall,
    pub error: String,
    pub created_at: i64,
}

/// Sets a refused charge aside (once per request key). Any text fits: the call is stored as escaped JSON.
pub async fn set_aside(pool: &AnyPool, call: &StoredCall, error: &str, now: i64) -> Result<(), sqlx::Error> {
    let json = serde_json::to_string(call).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let error: String = error.chars().filter(|c| !c.is_control()).take(500).collect();
    sqlx::query(
        "INSERT INTO unsettled_calls (request_key, user_id, call, error, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (request_key) DO NOTHING",
    )
    .bind(json_safe(&call.request_key))
    .bind(call.user_id)
    .bind(json)
    .bind(error)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// A request key as the table keeps it: printable ASCII (request keys are made by the server, so this
/// changes nothing but a corrupt one).
fn json_safe(key: &str) -> String {
    key.chars().map(|c| if c.is_ascii_graphic() { c } else { '?' }).collect()
}

/// Every charge set aside, oldest first.
pub async fn list(pool: &AnyPool) -> Result<Vec<Unsettled>, sqlx::Error> {
    let rows: Vec<(i64, String, String, i64)> =
        sqlx::query_as("SELECT id, call, error, created_at FROM unsettled_calls ORDER BY id").fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, call, error, created_at)| {
            let call = serde_json::from_str(&call).ok()?;
            Some(Unsettled { id, call, error, created_at })
        })
        .collect())
}

/// How many charges are set aside.
pub async fn count(pool: &AnyPool) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM unsettled_calls").fetch_one(pool).await?;
    Ok(n)
}

/// Charges a set-aside call now (the operator fixed the cause); it leaves the list in the same transaction.
/// `Ok(None)`: no such entry.
pub async fn retry(pool: &AnyPool, id: i64) -> Result<Option<Settled>, LedgerError> {
    let mut tx = pool.begin().await?;
    let row: Option<(String,)> =
        sqlx::query_as("SELECT call FROM unsettled_calls WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
    let Some((json,)) = row else { return Ok(None) };
    let call: StoredCall =
        serde_json::from_str(&json).map_err(|_| LedgerError::InvalidAmount("the stored call cannot be read"))?;
    let done = settle_batch(&mut tx, &[call.settlement()?]).await?;
    sqlx::query("DELETE FROM unsettled_calls WHERE id = $1").bind(id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(done.into_iter().next())
}

/// Drops a set-aside call uncharged; true when it was there.
pub async fn drop_call(pool: &AnyPool, id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM unsettled_calls WHERE id = $1").bind(id).execute(pool).await?;
    Ok(done.rows_affected() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_call_keeps_every_field_and_escapes_control_characters() {
        let s = Settlement {
            facts: Default::default(),
            user_id: 3,
            request_key: "api:1",
            api_key_id: Some(9),
            key_name: Some("k"),
            channel: "default",
            model: "gpt-5\u{0}x",
            usage: Usage {
                input: 1,
                output: 2,
                cache_write_5m: 3,
                cache_write_1h: 4,
                cache_read: 5,
                web_searches: 6,
                images: 7,
            },
            official: Money::from_units(77),
            multiplier: Decimal::ONE,
            now: 10,
        };
        let stored = StoredCall::of(&s);
        let json = serde_json::to_string(&stored).unwrap();
        assert!(!json.contains('\u{0}') && json.contains("\\u0000"), "{json}");
        let back: StoredCall = serde_json::from_str(&json).unwrap();
        let again = back.settlement().unwrap();
        assert_eq!(
            (again.model, again.usage, again.official, again.multiplier),
            (s.model, s.usage, s.official, s.multiplier)
        );
    }
}
