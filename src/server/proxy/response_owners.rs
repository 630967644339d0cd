//! Response ids remembered with their accounts, written behind the call. A call hands its response's
//! owner over as soon as the id is known (before the caller can read it); from then on lookups find it in
//! memory until a writer task has committed it, many rows a statement, so the Responses API costs a map
//! insert on the call's path instead of a database write. Deleting waits for the writes queued before it,
//! so a row never comes back after it was deleted. On another instance a response becomes visible when
//! its row is committed (milliseconds).

use crate::server::db::Db;
use crate::server::domain::responses::{self, Owned};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Owners waiting to be written, at most; a full queue makes calls wait for the writer.
const QUEUE: usize = 65_536;
/// Rows written in one statement, at most.
const BATCH: usize = 500;

enum Job {
    Remember(Owned),
    Flush(oneshot::Sender<()>),
}

type Pending = Arc<Mutex<HashMap<String, Owned>>>;

pub struct ResponseOwners {
    jobs: mpsc::Sender<Job>,
    /// Handed over and not yet committed.
    pending: Pending,
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
        let (jobs, rx) = mpsc::channel(QUEUE);
        let pending = Pending::default();
        tokio::spawn(run(db, Arc::clone(&pending), rx));
        Self { jobs, pending, following: Arc::default() }
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
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).insert(owned.id.clone(), owned.clone());
        if self.jobs.send(Job::Remember(owned)).await.is_err() {
            tracing::error!("response owner writer stopped; a response cannot be retrieved later");
        }
    }

    /// The caller's response with this id; `None` when there is none or it is another account's.
    pub async fn find(&self, db: &Db, user_id: i64, id: &str) -> Result<Option<Owned>, sqlx::Error> {
        if let Some(o) = self.pending.lock().unwrap_or_else(PoisonError::into_inner).get(id) {
            return Ok((o.user_id == user_id).then(|| o.clone()));
        }
        db.hot_read(responses::find(db.pool(), user_id, id)).await
    }

    /// Forgets the caller's response (after the writes queued before); false when it was not theirs.
    pub async fn forget(&self, db: &Db, user_id: i64, id: &str) -> Result<bool, sqlx::Error> {
        self.flush().await;
        responses::forget(db.pool(), user_id, id).await
    }

    /// Waits until every owner handed over so far is committed (or given up).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.jobs.send(Job::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run(db: Db, pending: Pending, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Remember(o) => batch.push(o),
                Job::Flush(done) => flushes.push(done),
            }
            if batch.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            write(&db, &batch).await;
            let mut p = pending.lock().unwrap_or_else(PoisonError::into_inner);
            for o in &batch {
                p.remove(&o.id);
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Writes a batch, trying again (up to 5 s apart) until it is committed: an owner given up would leave its
/// response unreachable to the account that made it.
async fn write(db: &Db, batch: &[Owned]) {
    let mut attempt: u32 = 0;
    loop {
        let result = {
            let _turn = db.hot_write_turn().await;
            responses::remember(db.pool(), batch).await
        };
        match result {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, rows = batch.len(), attempt, "response owners not written; trying again");
                tokio::time::sleep(Duration::from_millis((100u64 << attempt.min(6)).min(5_000))).await;
                attempt += 1;
            }
        }
    }
}
