//! What the settlement writer committed: how many charges each batch carried, and the money charged per
//! channel. Both are recorded by the writer's own task after a commit, never on a call's path, so the
//! spend can sit behind a plain lock keyed by channel name.

use super::exposition::{Exposition, Kind};
use super::histogram::Histogram;
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// Batch sizes up to the writer's largest batch (512).
static BATCH_BOUNDS: [u64; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

#[derive(Debug)]
pub struct SettlementStats {
    batch_sizes: Histogram,
    /// Money units charged (packages plus balances), by channel; in name order for a steady exposition.
    spend: Mutex<BTreeMap<&'static str, u64>>,
}

impl Default for SettlementStats {
    fn default() -> Self {
        Self { batch_sizes: Histogram::new(&BATCH_BOUNDS), spend: Mutex::new(BTreeMap::new()) }
    }
}

impl SettlementStats {
    /// The writer took a batch of `size` charges to commit (again, when it is retried).
    pub fn batch(&self, size: usize) {
        self.batch_sizes.observe(u64::try_from(size).unwrap_or(u64::MAX));
    }

    /// Charges committed, as (channel, money units) pairs: one lock for a whole batch.
    pub fn charged(&self, charges: impl IntoIterator<Item = (&'static str, i64)>) {
        let mut spend = self.spend.lock().unwrap_or_else(PoisonError::into_inner);
        for (channel, units) in charges {
            let units = u64::try_from(units).unwrap_or(0);
            if units > 0 {
                let total = spend.entry(channel).or_insert(0);
                *total = total.saturating_add(units);
            }
        }
    }

    /// Money units charged on a channel so far (tests, diagnostics).
    pub fn spent(&self, channel: &str) -> u64 {
        self.spend.lock().unwrap_or_else(PoisonError::into_inner).get(channel).copied().unwrap_or(0)
    }

    /// The batch sizes, and the spend in dollars (`units_per_usd` money units to the dollar).
    pub fn render(&self, out: &mut Exposition, units_per_usd: f64) {
        out.family(
            "gatehouse_settlement_batch_size",
            Kind::Histogram,
            "Charges the settlement writer took into one transaction (a batch tried again counts again).",
        );
        out.histogram("gatehouse_settlement_batch_size", &[], &self.batch_sizes.snapshot(), 1.0);
        out.family(
            "gatehouse_spend_usd_total",
            Kind::Counter,
            "USD charged for API calls and web chat, by channel, counted when the charge is committed: what \
             packages paid (at the official price) plus what balances paid (the official price times the \
             channel's multiplier).",
        );
        let spend = self.spend.lock().unwrap_or_else(PoisonError::into_inner).clone();
        for (channel, units) in spend {
            out.value("gatehouse_spend_usd_total", &[("channel", channel)], units as f64 / units_per_usd);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spend_adds_up_by_channel_and_batches_are_a_histogram() {
        let s = SettlementStats::default();
        s.batch(1);
        s.batch(3);
        s.charged([("cc-omg", 250_000_000), ("default", 1_000_000_000), ("cc-omg", 250_000_000), ("default", 0)]);
        assert_eq!(s.spent("cc-omg"), 500_000_000);
        assert_eq!(s.spent("web-chat"), 0);
        let mut out = Exposition::default();
        s.render(&mut out, 1e9);
        let text = out.finish();
        assert!(text.contains("gatehouse_settlement_batch_size_bucket{le=\"2\"} 1\n"), "{text}");
        assert!(text.contains("gatehouse_settlement_batch_size_bucket{le=\"4\"} 2\n"), "{text}");
        assert!(text.contains("gatehouse_settlement_batch_size_sum 4\n"), "{text}");
        assert!(text.contains("gatehouse_spend_usd_total{channel=\"cc-omg\"} 0.5\n"), "{text}");
        assert!(text.contains("gatehouse_spend_usd_total{channel=\"default\"} 1\n"), "{text}");
    }
}
