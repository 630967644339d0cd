//! The database: one `sqlx::Any` pool over SQLite (embedded default, WAL) or PostgreSQL, chosen by URL.
//! Query text is shared (`$1` placeholders, `RETURNING`, `ON CONFLICT`); migrations are per backend.
//!
//! Reads on an API call's path go through [`Db::hot_read`]: bounded by `HOT_READ_TIMEOUT`, and skipped for
//! `AWAY_FOR` after one found the database away, so an outage costs one slow read a second, not one per
//! call (callers answer from what they read recently, see `proxy::admission_book`). [`is_transient`] is the
//! one rule for which failures a later try can get past.

pub mod batch_sql;

use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a read on an API call's path may take before the database counts as away.
pub const HOT_READ_TIMEOUT: Duration = Duration::from_secs(2);
/// After a hot read found the database away, hot reads fail at once for this long.
pub const AWAY_FOR: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time; the busy writers of this process queue here in order instead of
    /// sleeping in SQLite's busy handler (which waits up to 100 ms between tries).
    sqlite_writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Until when hot reads are skipped, in milliseconds since `epoch` (0: not away).
    away_until: Arc<AtomicU64>,
    epoch: Instant,
}

#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("DATABASE_URL must start with sqlite:// or postgres://")]
    UnknownScheme,
    #[error("cannot create the folder for the SQLite file: {0}")]
    Folder(std::io::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Db {
    /// A read on an API call's path: fails at once while the database is known to be away, and counts it
    /// away when the read fails for a transient reason or takes longer than `HOT_READ_TIMEOUT`.
    pub async fn hot_read<T>(
        &self,
        read: impl std::future::Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        if millis(self.epoch.elapsed()) < self.away_until.load(Ordering::Acquire) {
            return Err(sqlx::Error::PoolTimedOut);
        }
        let result = tokio::time::timeout(HOT_READ_TIMEOUT, read).await.unwrap_or(Err(sqlx::Error::PoolTimedOut));
        match &result {
            Err(e) if is_transient(e) => {
                self.away_until.store(millis(self.epoch.elapsed() + AWAY_FOR), Ordering::Release);
            }
            _ => {}
        }
        result
    }

    pub async fn connect(url: &str) -> Result<Self, DbSetupError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(DbSetupError::UnknownScheme);
        };
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_string(),
        };
        let options = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10));
        let options = if backend == Backend::Sqlite {
            // A connection to a file does not break as a network one does: no ping (a round trip to the
            // connection's own thread) before every use.
            options.test_before_acquire(false).after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                    )
                    .await?;
                    Ok(())
                })
            })
        } else {
            // Every statement planned for its own parameters and the tables' size at the time, never one
            // cached generic plan: a plan made while a table was small (a new database, or one whose
            // statistics autovacuum never gathered) would scan the whole table on every run once it grew.
            // Planning the settlement writer's few statements per batch costs far less than one such scan.
            options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("SET plan_cache_mode = force_custom_plan").await?;
                    Ok(())
                })
            })
        };
        let pool = options.connect(&url).await.map_err(DbSetupError::Connect)?;
        Ok(Self {
            pool,
            backend,
            sqlite_writer: Default::default(),
            away_until: Default::default(),
            epoch: Instant::now(),
        })
    }

    pub async fn migrate(&self) -> Result<(), DbSetupError> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.pool).await?,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Held around the hot path's write transactions on SQLite (admission, batched settlement); `None` on
    /// PostgreSQL, whose row locks let different accounts write at once.
    pub async fn hot_write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite => Some(self.sqlite_writer.lock().await),
            Backend::Postgres => None,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// True when a trivial query answers.
    pub async fn is_reachable(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Creates the file's folder and asks SQLite to create the file on first run.
fn prepare_sqlite_url(url: &str) -> Result<String, DbSetupError> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path != ":memory:" && !path.is_empty() {
        if let Some(parent) = std::path::Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(DbSetupError::Folder)?;
            }
        }
    }
    Ok(if query.contains("mode=") {
        url.to_string()
    } else if query.is_empty() {
        format!("{url}?mode=rwc")
    } else {
        format!("{url}&mode=rwc")
    })
}

/// True for a failure a later try can get past: the database is away, busy, out of resources or timed out,
/// or the transaction lost a race (PostgreSQL's classes 08, 40, 53, 57, 58 and lock timeouts; SQLite's busy,
/// locked, out-of-memory, I/O, full, cannot-open and protocol codes, extended codes matched by their primary
/// code). Anything else (a value or constraint the database refuses, an unexpected answer) fails the same way
/// again.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => transient_code(&d.code().unwrap_or_default()),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// A PostgreSQL SQLSTATE (always five characters) or SQLite result code that a later try can get past.
fn transient_code(code: &str) -> bool {
    if code.len() == 5 {
        matches!(&code[..2], "08" | "40" | "53" | "57" | "58") || matches!(code, "55P03" | "55006")
    } else {
        code.parse::<i64>().is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 7 | 10 | 13 | 14 | 15))
    }
}

/// A `LIKE ... ESCAPE '\'` pattern matching text that contains `text` literally (its `%`, `_` and `\`
/// escaped).
pub fn contains_pattern(text: &str) -> String {
    format!("%{}%", text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_get_create_mode_and_keep_their_options() {
        let dir = std::env::temp_dir().join(format!("gh-url-{}", std::process::id()));
        let url = format!("sqlite://{}/x.db", dir.display());
        assert_eq!(prepare_sqlite_url(&url).unwrap(), format!("{url}?mode=rwc"));
        assert!(dir.exists());
        assert_eq!(prepare_sqlite_url("sqlite::memory:?mode=memory").unwrap(), "sqlite::memory:?mode=memory");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn only_failures_a_later_try_can_get_past_are_transient() {
        // PostgreSQL: connection, serialization/deadlock, resources, shutdown, cancel, lock timeout.
        for code in ["08006", "40001", "40P01", "53300", "57P01", "57014", "55P03"] {
            assert!(transient_code(code), "{code}");
        }
        // PostgreSQL: a NUL byte in text, a unique or check violation, a syntax error, an internal error.
        for code in ["22021", "23505", "23514", "42601", "XX000"] {
            assert!(!transient_code(code), "{code}");
        }
        // SQLite: busy, busy-snapshot (517), locked, I/O read lock (2314), full, cannot open.
        for code in ["5", "517", "6", "262", "10", "2314", "13", "14"] {
            assert!(transient_code(code), "{code}");
        }
        // SQLite: constraint (19) and its extended codes (unique 2067, check 275, foreign key 787, datatype
        // 3091), too big, type mismatch.
        for code in ["19", "2067", "275", "787", "3091", "18", "20"] {
            assert!(!transient_code(code), "{code}");
        }
        assert!(is_transient(&sqlx::Error::PoolTimedOut) && !is_transient(&sqlx::Error::RowNotFound));
    }

    #[tokio::test]
    async fn after_a_read_finds_the_database_away_the_next_fail_at_once_for_a_second() {
        let dir = std::env::temp_dir().join(format!("gh-away-{}", std::process::id()));
        let db = Db::connect(&format!("sqlite://{}/x.db", dir.display())).await.unwrap();
        assert_eq!(db.hot_read(async { Ok(1) }).await.unwrap(), 1);
        assert!(db.hot_read(async { Err::<i32, _>(sqlx::Error::RowNotFound) }).await.is_err());
        assert_eq!(db.hot_read(async { Ok(2) }).await.unwrap(), 2, "a refusal is not an outage");
        assert!(db.hot_read(async { Err::<i32, _>(sqlx::Error::PoolTimedOut) }).await.is_err());
        let skipped = db.hot_read(async { Ok(3) }).await;
        assert!(matches!(skipped, Err(sqlx::Error::PoolTimedOut)), "skipped while away");
        tokio::time::sleep(AWAY_FOR).await;
        assert_eq!(db.hot_read(async { Ok(4) }).await.unwrap(), 4);
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
