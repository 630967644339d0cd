//! Charges for finished calls, written off the request path and in batches: a call hands its settlement to
//! the writer and answers at once; the writer sleeps 10 ms after the first arrives (rather than being woken
//! by each one), takes everything that arrived, and commits it in one transaction with `settle_batch` (one
//! bill per call, its ledger entries, its key's usage, with multi-row statements), so a busy instance makes
//! a few commits and statements per batch instead of ten per call. A flush (tests, shutdown) cuts the sleep
//! short. No call waits for its commit: its hold in the admission book (on the balance, the packages and its
//! key's cap) stands until the commit, and goes only after the commit is reflected in the book and key cache.
//!
//! Each settlement keeps its own idempotency key, so a settlement that already landed is never charged
//! twice. A batch that failed because the database is away or busy keeps its holds and is tried again whole,
//! with a growing pause, until it lands. A batch the database refused is settled call by call, and a call it
//! refuses for a reason retrying cannot fix (a value it will not store, an account that is gone) is set
//! aside in `unsettled_calls` for an operator: it never holds up other charges, a flush or shutdown.
//! On graceful shutdown the server waits for running calls ([`CallTracker`]) and then for the writer
//! ([`SettlementWriter::flush`]).
//!
//! The writer counts, off the calls' path, the size of each batch and the money each committed charge took
//! per channel (`metrics::settlements`).

use super::admission_book::AdmissionBook;
use super::hot_cache::KeyCache;
use crate::server::db::Db;
use crate::server::domain::ledger::{self, CallFacts, CallOutcome, LedgerError, Settled, Settlement};
use crate::server::domain::money::Money;
use crate::server::domain::pricing::Usage;
use crate::server::domain::settle_batch::settle_batch;
use crate::server::domain::unsettled::{self, StoredCall};
use crate::server::metrics::settlements::SettlementStats;
use rust_decimal::Decimal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify};

/// Settlements committed together at most.
const MAX_BATCH: usize = 512;
/// How long the writer waits for more settlements before committing a batch.
const GATHER: Duration = Duration::from_millis(10);
/// Pauses before settlements the database refused are tried again.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// Settlements waiting at most before callers wait for the writer (back-pressure when the database lags).
const QUEUE: usize = 65_536;

/// A finished call's charge, owned so it can wait for the writer.
#[derive(Clone, Debug)]
pub struct PendingSettlement {
    pub user_id: i64,
    pub request_key: String,
    pub api_key_id: Option<i64>,
    pub key_name: Option<String>,
    pub channel: &'static str,
    pub model: String,
    pub usage: Usage,
    pub official: Money,
    pub multiplier: Decimal,
    pub now: i64,
    pub outcome: CallOutcome,
    pub latency_ms: Option<i64>,
    pub request_id: Option<String>,
}

impl PendingSettlement {
    fn as_settlement(&self) -> Settlement<'_> {
        Settlement {
            facts: CallFacts {
                outcome: self.outcome,
                latency_ms: self.latency_ms,
                request_id: self.request_id.as_deref(),
            },
            user_id: self.user_id,
            request_key: &self.request_key,
            api_key_id: self.api_key_id,
            key_name: self.key_name.as_deref(),
            channel: self.channel,
            model: &self.model,
            usage: self.usage,
            official: self.official,
            multiplier: self.multiplier,
            now: self.now,
        }
    }
}

// Nearly every job is a settlement, so boxing it would only add an allocation per call.
#[allow(clippy::large_enum_variant)]
enum Job {
    Settle(PendingSettlement),
    /// Answered once every settlement sent before it is committed.
    Flush(oneshot::Sender<()>),
}

pub struct SettlementWriter {
    jobs: mpsc::Sender<Job>,
    /// Settlements submitted and not yet written (queued, in the batch being written, or kept to retry).
    unwritten: Arc<AtomicUsize>,
    /// Cuts the writer's gathering pause short: someone waits for a flush.
    urgent: Arc<Notify>,
    /// Batch sizes and the money charged, as the writer committed them.
    stats: Arc<SettlementStats>,
}

impl SettlementWriter {
    /// Starts the writer task on the current runtime.
    pub fn start(db: Db, keys: Arc<KeyCache>, book: Arc<AdmissionBook>) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let urgent = Arc::new(Notify::new());
        let unwritten = Arc::new(AtomicUsize::new(0));
        let stats = Arc::new(SettlementStats::default());
        let writer = Writer { db, keys, book, stats: Arc::clone(&stats) };
        tokio::spawn(run(writer, rx, Arc::clone(&urgent), Arc::clone(&unwritten)));
        Self { jobs, unwritten, urgent, stats }
    }

    /// Batch sizes and the money charged per channel so far.
    pub fn stats(&self) -> &SettlementStats {
        &self.stats
    }

    /// Queues a charge; it is committed within milliseconds.
    pub async fn submit(&self, s: PendingSettlement) {
        self.unwritten.fetch_add(1, Ordering::AcqRel);
        if let Err(mpsc::error::SendError(Job::Settle(s))) = self.jobs.send(Job::Settle(s)).await {
            self.unwritten.fetch_sub(1, Ordering::AcqRel);
            tracing::error!(request = %s.request_key, "settlement writer stopped; the call is not charged");
        }
    }

    /// Settlements submitted and not yet written: queued, being written, or waiting to be tried again.
    pub fn unwritten(&self) -> usize {
        self.unwritten.load(Ordering::Acquire)
    }

    /// Waits until everything queued so far is committed.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.jobs.send(Job::Flush(done)).await.is_ok() {
            self.urgent.notify_one();
            let _ = wait.await;
        }
    }
}

/// What the writer task writes with and tells about its commits.
struct Writer {
    db: Db,
    keys: Arc<KeyCache>,
    book: Arc<AdmissionBook>,
    stats: Arc<SettlementStats>,
}

async fn run(w: Writer, mut rx: mpsc::Receiver<Job>, urgent: Arc<Notify>, unwritten: Arc<AtomicUsize>) {
    let mut batch: Vec<PendingSettlement> = Vec::new();
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    // Settlements the database could not take (it was down or busy): kept, with their holds, and tried
    // again before anything newer, after a pause that grows while the failures last.
    let mut retry: Vec<PendingSettlement> = Vec::new();
    let mut backoff = RETRY_FIRST;
    loop {
        let first = if retry.is_empty() {
            match rx.recv().await {
                Some(job) => Some(job),
                None => break,
            }
        } else {
            // The pause holds however much keeps arriving: the database is given time to come back.
            tokio::time::sleep(backoff).await;
            rx.try_recv().ok()
        };
        batch.append(&mut retry);
        let mut next = first;
        let mut gathered = false;
        loop {
            while let Some(job) = next {
                match job {
                    Job::Settle(s) => batch.push(s),
                    Job::Flush(f) => flushes.push(f),
                }
                next = if batch.len() < MAX_BATCH { rx.try_recv().ok() } else { None };
            }
            if gathered || !flushes.is_empty() || batch.len() >= MAX_BATCH {
                break;
            }
            // Let more arrive for a moment: one commit for many calls even at low concurrency. Asleep, not
            // woken by each arrival; a caller waiting for its commit (or a flush) cuts the pause short.
            tokio::select! {
                () = tokio::time::sleep(GATHER) => {}
                () = urgent.notified() => {}
            }
            gathered = true;
            next = rx.try_recv().ok();
        }
        if !batch.is_empty() {
            let batch_len = batch.len();
            w.stats.batch(batch_len);
            retry = write(&w, &mut batch).await;
            unwritten.fetch_sub(batch_len - retry.len(), Ordering::AcqRel);
        }
        if retry.is_empty() {
            backoff = RETRY_FIRST;
            for f in flushes.drain(..) {
                let _ = f.send(());
            }
        } else {
            tracing::warn!(calls = retry.len(), retry_in_ms = backoff.as_millis(), "settlements kept for another try");
            backoff = (backoff * 2).min(RETRY_MAX);
        }
    }
}

/// Writes a batch; returns the settlements to try again (the database failed for them).
async fn write(w: &Writer, batch: &mut Vec<PendingSettlement>) -> Vec<PendingSettlement> {
    let (db, keys, book) = (&w.db, &*w.keys, &*w.book);
    // One account's settlements keep their order; accounts in id order, so two instances' writers lock
    // accounts in the same order and cannot deadlock each other.
    batch.sort_by_key(|s| s.user_id);
    let mut again = Vec::new();
    let results = match together(db, batch).await {
        Ok(results) => results,
        // The database is away or busy: the whole batch waits for the next try, holds kept.
        Err(e) if worth_retrying(&e) => {
            tracing::warn!(error = %e, calls = batch.len(), "batched settlement failed; it will be tried again");
            batch.iter().map(|_| Outcome::Again).collect()
        }
        // Something in the batch is refused: one by one, so only that charge is set aside.
        Err(e) => {
            tracing::warn!(error = %e, calls = batch.len(), "batched settlement refused; settling one by one");
            let mut results = Vec::with_capacity(batch.len());
            for s in batch.iter() {
                let turn = db.hot_write_turn().await;
                let done = ledger::settle(db.pool(), s.as_settlement()).await;
                drop(turn);
                results.push(match done {
                    Ok(done) => Outcome::Done(done),
                    Err(e) if worth_retrying(&e) => {
                        tracing::error!(error = %e, request = %s.request_key, "settlement failed; it will be tried again");
                        Outcome::Again
                    }
                    Err(e) => set_aside(db, s, &e).await,
                });
            }
            results
        }
    };
    // What each committed charge took (packages plus balance), told to the metrics once for the batch.
    let mut charged: Vec<(&'static str, i64)> = Vec::new();
    for (s, outcome) in batch.drain(..).zip(results) {
        match outcome {
            Outcome::Done(done) => {
                if !done.replayed {
                    charged.push((s.channel, done.packages_paid.saturating_add(done.balance_paid).units()));
                }
                // Committed: the key's spend grows before its hold goes (a capped key's next call always
                // sees one of them), and the book follows the charge. A replay (an earlier try landed though
                // it was reported failed) has its spend read again from the database.
                match (s.api_key_id, done.replayed) {
                    (Some(key_id), false) => {
                        keys.add_spend(key_id, done.packages_paid.saturating_add(done.balance_paid), s.now)
                    }
                    (Some(_), true) => keys.invalidate_user(s.user_id),
                    (None, _) => {}
                }
                let charge = (!done.replayed).then_some((done.balance_paid, done.deductions.as_slice()));
                book.settled(s.user_id, &s.request_key, charge);
            }
            Outcome::SetAside => book.settled(s.user_id, &s.request_key, None),
            // The hold stays: the money is still reserved until the charge lands.
            Outcome::Again => again.push(s),
        }
    }
    w.stats.charged(charged);
    again
}

enum Outcome {
    Done(Settled),
    /// Refused for good: kept in `unsettled_calls` (or, if even that failed, in the log) for an operator.
    SetAside,
    Again,
}

/// True for a failure worth trying again (`db::is_transient`); the ledger's own refusals (a reused key, a
/// bad amount, no such account) never are.
pub fn worth_retrying(e: &LedgerError) -> bool {
    matches!(e, LedgerError::Db(db_error) if crate::server::db::is_transient(db_error))
}

/// Keeps a charge the database refused for good out of the way of every other, for an operator.
async fn set_aside(db: &Db, s: &PendingSettlement, e: &LedgerError) -> Outcome {
    let call = StoredCall::of(&s.as_settlement());
    match unsettled::set_aside(db.pool(), &call, &e.to_string(), crate::server::time::now_ms()).await {
        Ok(()) => {
            tracing::error!(error = %e, request = %s.request_key, "settlement refused; set aside for an operator (gatehouse audit)");
            Outcome::SetAside
        }
        Err(failed) => {
            if worth_retrying(&LedgerError::Db(failed)) {
                return Outcome::Again;
            }
            let json = serde_json::to_string(&call).unwrap_or_default();
            tracing::error!(error = %e, request = %s.request_key, call = %json, "settlement refused and could not be set aside; the call is not charged");
            Outcome::SetAside
        }
    }
}

async fn together(db: &Db, batch: &[PendingSettlement]) -> Result<Vec<Outcome>, LedgerError> {
    let _turn = db.hot_write_turn().await;
    let mut tx = db.pool().begin().await?;
    let settlements: Vec<Settlement<'_>> = batch.iter().map(PendingSettlement::as_settlement).collect();
    let results = settle_batch(&mut tx, &settlements).await?;
    tx.commit().await?;
    Ok(results.into_iter().map(Outcome::Done).collect())
}

/// Counts calls still running (a streaming call runs after its handler returned), so shutdown can wait.
#[derive(Clone, Default)]
pub struct CallTracker {
    inner: Arc<TrackerInner>,
}

#[derive(Default)]
struct TrackerInner {
    running: AtomicUsize,
    idle: Notify,
}

/// Held for as long as a call runs.
pub struct CallGuard {
    inner: Arc<TrackerInner>,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if self.inner.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

impl CallTracker {
    pub fn begin(&self) -> CallGuard {
        self.inner.running.fetch_add(1, Ordering::AcqRel);
        CallGuard { inner: Arc::clone(&self.inner) }
    }

    pub fn running(&self) -> usize {
        self.inner.running.load(Ordering::Acquire)
    }

    /// Waits until no call runs, at most `limit`; true when none does.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let idle = self.inner.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.running() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.running() == 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_a_later_try_can_get_past_are_retried() {
        assert!(worth_retrying(&LedgerError::Db(sqlx::Error::PoolTimedOut)));
        assert!(!worth_retrying(&LedgerError::Db(sqlx::Error::RowNotFound)));
        assert!(!worth_retrying(&LedgerError::NoSuchAccount));
        assert!(!worth_retrying(&LedgerError::KeyReused("k".into())));
    }

    #[tokio::test]
    async fn the_tracker_waits_for_running_calls() {
        let tracker = CallTracker::default();
        assert!(tracker.wait_idle(Duration::from_millis(1)).await);
        let guard = tracker.begin();
        assert!(!tracker.wait_idle(Duration::from_millis(20)).await, "a call is running");
        let t = tracker.clone();
        let waiter = tokio::spawn(async move { t.wait_idle(Duration::from_secs(5)).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(guard);
        assert!(waiter.await.unwrap());
    }
}
