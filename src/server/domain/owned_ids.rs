//! Ids the OpenAI upstream keeps for an account, made through Gatehouse: conversations and stored chat
//! completions. An id is only ever looked up together with the caller's account, so another account's id
//! reads as unknown (404) and is never forwarded; the account's lists are read from here, since the
//! upstream's hold every account's.

use sqlx::AnyPool;

/// Stored chat completions are forgotten after this long (as the upstream's own retention); conversations
/// are kept until deleted.
pub const COMPLETIONS_KEEP_MS: i64 = 30 * 86_400_000;

/// Whether an id (the upstream's, or a caller's item id) may be kept and put into an upstream path: 1 to
/// 200 letters, digits, `_` or `-`.
pub fn plain_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 200 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// What an id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdKind {
    Conversation,
    ChatCompletion,
}

impl IdKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Conversation => "conversation",
            Self::ChatCompletion => "chat_completion",
        }
    }

    /// What a person calls it (in "No conversation found with id …").
    pub fn noun(self) -> &'static str {
        match self {
            Self::Conversation => "conversation",
            Self::ChatCompletion => "chat completion",
        }
    }
}

/// An id and whose it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedId {
    pub id: String,
    pub kind: IdKind,
    pub user_id: i64,
    /// The model a stored completion was made with (it routes later calls); empty for a conversation.
    pub model: String,
    /// Its metadata, a JSON object (what the Store's list filters on).
    pub metadata: String,
    pub created_at: i64,
}

/// Remembers ids for their accounts, all in one statement. An id seen before keeps its first owner (ids
/// are the upstream's: a second row for one id would mean an upstream reusing ids).
pub async fn remember(pool: &AnyPool, rows: &[OwnedId]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut conn = pool.acquire().await?;
    let positional = crate::server::db::batch_sql::positional(conn.backend_name());
    let sql = format!(
        "INSERT INTO owned_ids (id, kind, user_id, model, metadata, created_at) VALUES {} ON CONFLICT (id) DO NOTHING",
        crate::server::db::batch_sql::rows(rows.len(), 6, positional)
    );
    let mut q = sqlx::query(&sql);
    for r in rows {
        q = q.bind(&r.id).bind(r.kind.as_str()).bind(r.user_id).bind(&r.model).bind(&r.metadata).bind(r.created_at);
    }
    q.execute(&mut *conn).await.map(|_| ())
}

type Row = (String, String, String, i64);

fn owned(kind: IdKind, user_id: i64, (id, model, metadata, created_at): Row) -> OwnedId {
    OwnedId { id, kind, user_id, model, metadata, created_at }
}

/// The caller's id of this kind; `None` when there is none or it is another account's.
pub async fn find(pool: &AnyPool, user_id: i64, kind: IdKind, id: &str) -> Result<Option<OwnedId>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, model, metadata, created_at FROM owned_ids WHERE id = $1 AND user_id = $2 AND kind = $3",
    )
    .bind(id)
    .bind(user_id)
    .bind(kind.as_str())
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| owned(kind, user_id, r)))
}

/// Replaces the metadata kept for the caller's id; false when it was not theirs.
pub async fn set_metadata(
    pool: &AnyPool,
    user_id: i64,
    kind: IdKind,
    id: &str,
    metadata: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE owned_ids SET metadata = $1 WHERE id = $2 AND user_id = $3 AND kind = $4")
        .bind(metadata)
        .bind(id)
        .bind(user_id)
        .bind(kind.as_str())
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Forgets the caller's id; false when it was not theirs (or not there).
pub async fn forget(pool: &AnyPool, user_id: i64, kind: IdKind, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM owned_ids WHERE id = $1 AND user_id = $2 AND kind = $3")
        .bind(id)
        .bind(user_id)
        .bind(kind.as_str())
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// What a list asks for: the model (stored completions), metadata pairs that must all match, the id to
/// start after, how many, and the order (oldest first unless `newest_first`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub model: Option<String>,
    pub metadata: Vec<(String, String)>,
    pub after: Option<String>,
    pub limit: usize,
    pub newest_first: bool,
}

/// Rows read a page while filtering a list by metadata.
const SCAN: i64 = 200;

/// A page of the caller's ids of this kind, and whether more follow.
pub async fn list(
    pool: &AnyPool,
    user_id: i64,
    kind: IdKind,
    q: &ListQuery,
) -> Result<(Vec<OwnedId>, bool), sqlx::Error> {
    // The cursor: the row the list starts after. One that is not (or no longer) the caller's ends the list
    // (starting over would page the same rows again).
    let mut cursor = match &q.after {
        Some(after) => match find(pool, user_id, kind, after).await? {
            Some(o) => Some((o.created_at, o.id)),
            None => return Ok((Vec::new(), false)),
        },
        None => None,
    };
    let (cmp, order) = if q.newest_first { ("<", "DESC") } else { (">", "ASC") };
    let limit = q.limit.max(1);
    let mut found = Vec::new();
    loop {
        let mut sql =
            String::from("SELECT id, model, metadata, created_at FROM owned_ids WHERE user_id = $1 AND kind = $2");
        let mut n = 2;
        if cursor.is_some() {
            sql.push_str(&format!(" AND (created_at {cmp} $3 OR (created_at = $3 AND id {cmp} $4))"));
            n = 4;
        }
        if q.model.is_some() {
            sql.push_str(&format!(" AND model = ${}", n + 1));
        }
        sql.push_str(&format!(" ORDER BY created_at {order}, id {order} LIMIT {SCAN}"));
        let mut query = sqlx::query_as::<_, Row>(&sql).bind(user_id).bind(kind.as_str());
        if let Some((at, id)) = cursor.clone() {
            query = query.bind(at).bind(id);
        }
        if let Some(model) = &q.model {
            query = query.bind(model.clone());
        }
        let rows: Vec<Row> = query.fetch_all(pool).await?;
        let read = rows.len();
        for row in rows {
            cursor = Some((row.3, row.0.clone()));
            let o = owned(kind, user_id, row);
            if metadata_matches(&o.metadata, &q.metadata) {
                found.push(o);
                if found.len() > limit {
                    found.truncate(limit);
                    return Ok((found, true));
                }
            }
        }
        if read < SCAN as usize {
            return Ok((found, false));
        }
    }
}

/// Whether a metadata object (JSON text) has every pair asked for.
pub fn metadata_matches(metadata: &str, pairs: &[(String, String)]) -> bool {
    if pairs.is_empty() {
        return true;
    }
    let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(metadata) else { return false };
    pairs.iter().all(|(k, v)| m.get(k).and_then(|x| x.as_str()) == Some(v.as_str()))
}

/// Forgets stored chat completions older than [`COMPLETIONS_KEEP_MS`].
pub async fn purge(pool: &AnyPool, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM owned_ids WHERE kind = $1 AND created_at < $2")
        .bind(IdKind::ChatCompletion.as_str())
        .bind(now - COMPLETIONS_KEEP_MS)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_are_kept_or_put_into_paths() {
        assert!(plain_id("chatcmpl-abc_123") && plain_id("conv_68a1"));
        for bad in ["", "../x", "a/b", "a?b", "a%2Fb", "a b", &"x".repeat(201)] {
            assert!(!plain_id(bad), "{bad}");
        }
    }

    #[test]
    fn metadata_filters_need_every_pair() {
        let m = r#"{"project": "kite", "stage": "draft"}"#;
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert!(metadata_matches(m, &[]));
        assert!(metadata_matches(m, &[pair("project", "kite")]));
        assert!(metadata_matches(m, &[pair("project", "kite"), pair("stage", "draft")]));
        assert!(!metadata_matches(m, &[pair("project", "kite"), pair("stage", "final")]));
        assert!(!metadata_matches("not json", &[pair("a", "b")]));
    }
}
