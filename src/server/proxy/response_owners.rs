//! Response ids of the Responses API remembered with their accounts, written behind the call (the
//! [`Owners`] writer), and the background responses being followed until they end (they may not be
//! deleted meanwhile).

use super::owners::Owners;
use crate::server::db::Db;
use crate::server::domain::responses::{self, Owned};
use std::sync::{Arc, Mutex, PoisonError};

pub struct ResponseOwners {
    owners: Owners<Owned>,
    /// Background responses being followed until they end (they may not be deleted meanwhile).
    following: Arc<Mutex<std::collections::HashSet<String>>>,
}

/// A background response followed while this lives.
pub struct Following {
    id: String,
    set: Arc<Mutex<std::collections::HashSet<String>>>,
}

impl Drop for Following {
    fn drop(&mut self) {
        self.set.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.id);
    }
}

impl ResponseOwners {
    /// Starts the writer task on the current runtime.
    pub fn start(db: Db) -> Self {
        Self { owners: Owners::start(db), following: Arc::default() }
    }

    /// Marks a background response as followed until the guard is dropped.
    pub fn follow(&self, id: &str) -> Following {
        self.following.lock().unwrap_or_else(PoisonError::into_inner).insert(id.to_string());
        Following { id: id.to_string(), set: Arc::clone(&self.following) }
    }

    /// True while a background response is followed.
    pub fn followed(&self, id: &str) -> bool {
        self.following.lock().unwrap_or_else(PoisonError::into_inner).contains(id)
    }

    /// Remembers a response for its account; lookups find it from now on.
    pub async fn remember(&self, owned: Owned) {
        self.owners.remember(owned).await;
    }

    /// The caller's response with this id; `None` when there is none or it is another account's.
    pub async fn find(&self, db: &Db, user_id: i64, id: &str) -> Result<Option<Owned>, sqlx::Error> {
        if let Some(o) = self.owners.pending(user_id, id) {
            return Ok(o);
        }
        db.hot_read(responses::find(db.pool(), user_id, id)).await
    }

    /// Forgets the caller's response (after the writes queued before); false when it was not theirs.
    pub async fn forget(&self, db: &Db, user_id: i64, id: &str) -> Result<bool, sqlx::Error> {
        self.owners.flush().await;
        responses::forget(db.pool(), user_id, id).await
    }

    /// Waits until every owner handed over so far is committed (or given up).
    pub async fn flush(&self) {
        self.owners.flush().await;
    }
}
