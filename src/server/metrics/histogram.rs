//! A histogram with fixed bounds, recorded with atomics: an observation is a search through a dozen bounds
//! and two atomic additions, never a lock or an allocation, so the proxy's hot path can afford one per call.
//! Each bucket counts only its own values; a scrape adds them up into Prometheus' cumulative buckets.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of request durations and streams' first bytes, in microseconds (5 ms to 10 minutes: an
/// API call to a language model takes from milliseconds, `count_tokens`, to many minutes, a long stream).
pub static SECONDS_BOUNDS_US: [u64; 16] = [
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    30_000_000,
    60_000_000,
    120_000_000,
    300_000_000,
    600_000_000,
];

/// Microseconds per second, what [`SECONDS_BOUNDS_US`] histograms are divided by when exported.
pub const US_PER_SECOND: f64 = 1e6;

#[derive(Debug)]
pub struct Histogram {
    /// Ascending upper bounds, inclusive (`le`), in the unit observed.
    bounds: &'static [u64],
    /// One count per bound, then the one above every bound.
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
}

/// A histogram as read at one moment, with cumulative buckets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub bounds: &'static [u64],
    /// Observations at or below each bound.
    pub cumulative: Vec<u64>,
    /// Every observation (the `+Inf` bucket).
    pub count: u64,
    pub sum: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [u64]) -> Self {
        Self { bounds, buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(), sum: AtomicU64::new(0) }
    }

    pub fn observe(&self, value: u64) {
        // The first bound at or above the value; past the last bound, the overflow bucket.
        let at = self.bounds.partition_point(|bound| *bound < value);
        if let Some(bucket) = self.buckets.get(at) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    /// Buckets, count and sum as read now. Writers do not stop for it, so the sum may include an
    /// observation the buckets do not yet show; the count is always the buckets' total.
    pub fn snapshot(&self) -> Snapshot {
        let mut running = 0u64;
        let mut cumulative = Vec::with_capacity(self.bounds.len());
        for (i, bucket) in self.buckets.iter().enumerate() {
            running = running.saturating_add(bucket.load(Ordering::Relaxed));
            if i < self.bounds.len() {
                cumulative.push(running);
            }
        }
        Snapshot { bounds: self.bounds, cumulative, count: running, sum: self.sum.load(Ordering::Relaxed) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_the_first_bucket_whose_bound_holds_them() {
        static BOUNDS: [u64; 3] = [1, 10, 100];
        let h = Histogram::new(&BOUNDS);
        for v in [0, 1, 2, 10, 11, 100, 101, 5_000] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.cumulative, vec![2, 4, 6]);
        assert_eq!(s.count, 8);
        assert_eq!(s.sum, 1 + 2 + 10 + 11 + 100 + 101 + 5_000);
    }

    #[test]
    fn an_empty_histogram_reads_as_zeros() {
        let s = Histogram::new(&SECONDS_BOUNDS_US).snapshot();
        assert_eq!(s.cumulative, vec![0; SECONDS_BOUNDS_US.len()]);
        assert_eq!((s.count, s.sum), (0, 0));
    }

    #[test]
    fn the_bounds_ascend() {
        assert!(SECONDS_BOUNDS_US.windows(2).all(|w| w[0] < w[1]));
    }
}
