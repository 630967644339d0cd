//! Keeps a record of refused calls (402, 429) for the Bills page, bounded: at most one per account and
//! status every [`EVERY_MS`] reaches the database, written off the request path, so a client hammering a
//! refusal costs a map lookup, not a write.

use crate::server::db::Db;
use crate::server::domain::refusals::{self, Refused};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use tracing::Instrument;

pub const EVERY_MS: i64 = 10_000;
/// Past this many remembered (account, status) pairs, entries older than the window are dropped.
const PRUNE_AT: usize = 10_000;

#[derive(Default)]
pub struct RefusalLog {
    last: Mutex<HashMap<(i64, u16), i64>>,
}

impl RefusalLog {
    /// True when this refusal should be kept (none for this account and status within the window).
    pub fn admit(&self, user_id: i64, status: u16, now: i64) -> bool {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.len() > PRUNE_AT {
            last.retain(|_, at| now - *at < EVERY_MS);
        }
        match last.get(&(user_id, status)) {
            Some(at) if now - *at < EVERY_MS => false,
            _ => {
                last.insert((user_id, status), now);
                true
            }
        }
    }

    /// Records the refusal in the background when the window allows it.
    pub fn note(&self, db: &Db, refused: Refused) {
        if !self.admit(refused.user_id, refused.status, refused.at) {
            return;
        }
        let db = db.clone();
        tokio::spawn(
            async move {
                if let Err(e) = refusals::record(db.pool(), &refused).await {
                    tracing::warn!(error = %e, "a refused call could not be recorded");
                }
            }
            .in_current_span(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_refusal_per_account_and_status_is_kept_per_window() {
        let log = RefusalLog::default();
        assert!(log.admit(1, 429, 0));
        assert!(!log.admit(1, 429, EVERY_MS - 1));
        assert!(log.admit(1, 402, 5));
        assert!(log.admit(2, 429, 5));
        assert!(log.admit(1, 429, EVERY_MS));
    }
}
