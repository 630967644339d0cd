//! The prices in force, replaced while the server runs: the newest version operators saved in the admin
//! console (`domain::price_versions`), or without one the configuration's `PRICE_TABLE` and
//! `CHANNEL_MULTIPLIERS`. Every instance looks for a newer version every few seconds, so an edit reaches them
//! all without a restart. A call is charged at the prices in force when it was admitted (it keeps them).

use crate::server::db::Db;
use crate::server::domain::price_versions;
use crate::server::domain::pricing::Pricing;
use std::sync::atomic::{AtomicI64, Ordering};
/// How many of the newest saved versions start-up looks through for one that reads.
const VERSIONS_TRIED: i64 = 20;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often each instance asks the database for a newer version.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(5);

pub struct LivePricing {
    current: RwLock<Arc<Pricing>>,
    /// The version in force; 0 for the configuration's prices.
    version: AtomicI64,
    /// The configuration's prices, for telling versions apart from them and for their channel rules.
    configured: Arc<Pricing>,
    /// The newest saved version that did not read (logged once, not re-read every few seconds).
    unreadable: AtomicI64,
}

impl LivePricing {
    /// Starts with the newest saved version that reads (one that no longer does, after an upgrade, is logged
    /// and passed over for the one before), or the configuration's prices when none was saved.
    pub async fn load(db: &Db, configured: Pricing) -> Result<Self, sqlx::Error> {
        let configured = Arc::new(configured);
        let live = Self {
            current: RwLock::new(Arc::clone(&configured)),
            version: AtomicI64::new(0),
            configured,
            unreadable: AtomicI64::new(0),
        };
        for v in price_versions::list(db.pool(), VERSIONS_TRIED).await? {
            if live.install_version(&v) {
                break;
            }
        }
        Ok(live)
    }

    /// The prices in force now (one reference count; keep it for the whole call).
    pub fn current(&self) -> Arc<Pricing> {
        match self.current.read() {
            Ok(p) => Arc::clone(&p),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The saved version in force, or `None` for the configuration's prices.
    pub fn version(&self) -> Option<i64> {
        Some(self.version.load(Ordering::Acquire)).filter(|v| *v > 0)
    }

    /// The configuration's prices (what applies before any version is saved).
    pub fn configured(&self) -> &Pricing {
        &self.configured
    }

    /// Puts a version in force unless a newer one already is; false when it was not newer.
    pub fn install(&self, pricing: Pricing, version: i64) -> bool {
        let mut current = match self.current.write() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if version <= self.version.load(Ordering::Acquire) {
            return false;
        }
        *current = Arc::new(pricing);
        self.version.store(version, Ordering::Release);
        true
    }

    /// Puts a saved version in force when it reads and is newer; false when it does not read.
    fn install_version(&self, v: &price_versions::PriceVersion) -> bool {
        let charged = crate::server::proxy::charged_channels();
        match price_versions::build(&v.table_text, &v.multipliers_text, &self.configured.channels, &charged) {
            Ok(pricing) => {
                if self.install(pricing, v.id) {
                    tracing::info!(version = v.id, "prices: version {} in force", v.id);
                }
                true
            }
            Err(e) => {
                if self.unreadable.swap(v.id, Ordering::AcqRel) != v.id {
                    tracing::error!(version = v.id, error = %e, "prices: a saved version does not read; the prices in force stay");
                }
                false
            }
        }
    }

    /// Looks for a newer saved version every [`FOLLOW_EVERY`] and puts it in force.
    pub async fn follow(self: Arc<Self>, db: Db) {
        let mut tick = tokio::time::interval(FOLLOW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let newest = match price_versions::newest_id(db.pool()).await {
                Ok(id) => id.unwrap_or(0),
                Err(e) => {
                    tracing::warn!(error = %e, "prices: could not look for a newer version; trying again");
                    continue;
                }
            };
            if newest > self.version.load(Ordering::Acquire) && newest != self.unreadable.load(Ordering::Acquire) {
                match price_versions::by_id(db.pool(), newest).await {
                    Ok(Some(v)) => {
                        self.install_version(&v);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "prices: could not read version {newest}; trying again"),
                }
            }
        }
    }
}
