//! Ids remembered with their accounts, written behind the call: Responses API responses, conversations and
//! stored chat completions. A call hands an id's owner over as soon as the id is known (before the caller
//! can read it); from then on lookups find it in memory until a writer task has committed it, many rows a
//! statement, so remembering an id costs a map insert on the call's path instead of a database write.
//! Changing or deleting waits for the writes queued before it ([`Owners::flush`]), so a row never comes
//! back after it was deleted. On another instance an id becomes visible when its row is committed
//! (milliseconds).

use crate::server::db::Db;
use crate::server::domain::owned_ids::{self, OwnedId};
use crate::server::domain::responses;
use sqlx::AnyPool;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Owners waiting to be written, at most; a full queue makes calls wait for the writer.
const QUEUE: usize = 65_536;
/// Rows written in one statement, at most.
const BATCH: usize = 500;

/// A row that says whose an id is.
pub trait OwnerRow: Clone + Send + Sync + 'static {
    fn id(&self) -> &str;
    fn user_id(&self) -> i64;
    /// Writes rows in one statement (an id already there keeps its first owner).
    fn write<'a>(pool: &'a AnyPool, rows: &'a [Self]) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;
}

impl OwnerRow for responses::Owned {
    fn id(&self) -> &str {
        &self.id
    }
    fn user_id(&self) -> i64 {
        self.user_id
    }
    fn write<'a>(pool: &'a AnyPool, rows: &'a [Self]) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a {
        responses::remember(pool, rows)
    }
}

impl OwnerRow for OwnedId {
    fn id(&self) -> &str {
        &self.id
    }
    fn user_id(&self) -> i64 {
        self.user_id
    }
    fn write<'a>(pool: &'a AnyPool, rows: &'a [Self]) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a {
        owned_ids::remember(pool, rows)
    }
}

enum Job<R> {
    Remember(R),
    Flush(oneshot::Sender<()>),
}

type Pending<R> = Arc<Mutex<HashMap<String, R>>>;

/// The writer of one kind of owner rows, and the rows handed over and not yet committed.
pub struct Owners<R: OwnerRow> {
    jobs: mpsc::Sender<Job<R>>,
    pending: Pending<R>,
    /// Rows handed over while the queue was full, still waiting to join it (a flush waits for them).
    joining: Arc<std::sync::atomic::AtomicUsize>,
}

impl<R: OwnerRow> Owners<R> {
    /// Starts the writer task on the current runtime.
    pub fn start(db: Db) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let pending = Pending::default();
        tokio::spawn(run(db, Arc::clone(&pending), rx));
        Self { jobs, pending, joining: Arc::default() }
    }

    /// Remembers an id for its account; lookups find it from now on.
    pub async fn remember(&self, row: R) {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).insert(row.id().to_string(), row.clone());
        if self.jobs.send(Job::Remember(row)).await.is_err() {
            tracing::error!("id owner writer stopped; an id cannot be reached later");
        }
    }

    /// [`Owners::remember`] for code that cannot wait (a stream's relay): the id is found at once, and queued
    /// now, or by a task of its own when the queue is full.
    pub fn hand_over(&self, row: R) {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).insert(row.id().to_string(), row.clone());
        match self.jobs.try_send(Job::Remember(row)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(job)) => {
                let (jobs, joining) = (self.jobs.clone(), Arc::clone(&self.joining));
                joining.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let _ = jobs.send(job).await;
                    joining.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("id owner writer stopped; an id cannot be reached later");
            }
        }
    }

    /// An id handed over and not committed yet: `Some(Some(row))` when it is the caller's, `Some(None)`
    /// when it is another account's, `None` when it is not waiting (read the database).
    pub fn pending(&self, user_id: i64, id: &str) -> Option<Option<R>> {
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.get(id).map(|r| (r.user_id() == user_id).then(|| r.clone()))
    }

    /// Waits until every row handed over so far is committed (or given up).
    pub async fn flush(&self) {
        // Rows handed over while the queue was full join it first, so none is written after the flush.
        while self.joining.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let (done, wait) = oneshot::channel();
        if self.jobs.send(Job::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run<R: OwnerRow>(db: Db, pending: Pending<R>, mut rx: mpsc::Receiver<Job<R>>) {
    while let Some(first) = rx.recv().await {
        let mut batch = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Remember(r) => batch.push(r),
                Job::Flush(done) => flushes.push(done),
            }
            if batch.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            write(&db, &batch).await;
            let mut p = pending.lock().unwrap_or_else(PoisonError::into_inner);
            for r in &batch {
                p.remove(r.id());
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Writes a batch, trying again (up to 5 s apart) until it is committed: an owner given up would leave its
/// id unreachable to the account that made it.
async fn write<R: OwnerRow>(db: &Db, batch: &[R]) {
    let mut attempt: u32 = 0;
    loop {
        let result = {
            let _turn = db.hot_write_turn().await;
            R::write(db.pool(), batch).await
        };
        match result {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, rows = batch.len(), attempt, "id owners not written; trying again");
                tokio::time::sleep(Duration::from_millis((100u64 << attempt.min(6)).min(5_000))).await;
                attempt += 1;
            }
        }
    }
}
