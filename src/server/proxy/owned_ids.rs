//! Conversations and stored chat completions remembered with their accounts (written behind the call by
//! the [`Owners`] writer): found, changed, forgotten and listed for the caller's account only.

use super::dialect::ProxyError;
use super::owners::Owners;
use crate::server::db::Db;
use crate::server::domain::owned_ids::{self, IdKind, ListQuery, OwnedId};

pub struct IdOwners {
    owners: Owners<OwnedId>,
}

impl IdOwners {
    /// Starts the writer task on the current runtime.
    pub fn start(db: Db) -> Self {
        Self { owners: Owners::start(db) }
    }

    /// Remembers an id for its account; lookups find it from now on.
    pub async fn remember(&self, owned: OwnedId) {
        self.owners.remember(owned).await;
    }

    /// [`IdOwners::remember`] for code that cannot wait (a stream's relay).
    pub fn hand_over(&self, owned: OwnedId) {
        self.owners.hand_over(owned);
    }

    /// The caller's id of this kind; `None` when there is none or it is another account's.
    pub async fn find(&self, db: &Db, user_id: i64, kind: IdKind, id: &str) -> Result<Option<OwnedId>, sqlx::Error> {
        if let Some(o) = self.owners.pending(user_id, id) {
            return Ok(o.filter(|o| o.kind == kind));
        }
        db.hot_read(owned_ids::find(db.pool(), user_id, kind, id)).await
    }

    /// The caller's id of this kind, or the error to answer: 404 in OpenAI's shape (another account's id
    /// reads as unknown), 503 when it cannot be looked up.
    pub async fn require(&self, db: &Db, user_id: i64, kind: IdKind, id: &str) -> Result<OwnedId, ProxyError> {
        match self.find(db, user_id, kind, id).await {
            Ok(Some(o)) => Ok(o),
            Ok(None) => Err(ProxyError::NotFound(format!("No {} found with id '{id}'.", kind.noun()))),
            Err(e) => Err(super::call::unavailable("id lookup", e)),
        }
    }

    /// Keeps an id's new metadata (after the writes queued before); false when it was not theirs.
    pub async fn set_metadata(
        &self,
        db: &Db,
        (user_id, kind, id): (i64, IdKind, &str),
        metadata: &str,
    ) -> Result<bool, sqlx::Error> {
        self.owners.flush().await;
        owned_ids::set_metadata(db.pool(), user_id, kind, id, metadata).await
    }

    /// Forgets the caller's id (after the writes queued before); false when it was not theirs.
    pub async fn forget(&self, db: &Db, user_id: i64, kind: IdKind, id: &str) -> Result<bool, sqlx::Error> {
        self.owners.flush().await;
        owned_ids::forget(db.pool(), user_id, kind, id).await
    }

    /// A page of the caller's ids (after the writes queued before), and whether more follow.
    pub async fn list(
        &self,
        db: &Db,
        user_id: i64,
        kind: IdKind,
        q: &ListQuery,
    ) -> Result<(Vec<OwnedId>, bool), sqlx::Error> {
        self.owners.flush().await;
        owned_ids::list(db.pool(), user_id, kind, q).await
    }

    /// Waits until every id handed over so far is committed (or given up).
    pub async fn flush(&self) {
        self.owners.flush().await;
    }
}
