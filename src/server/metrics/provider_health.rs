//! How each upstream provider has been doing lately, for the operators' console: calls, errors, failovers
//! and latency percentiles over the last five minutes.
//!
//! A [`HealthWindow`] is a ring of 30 ten-second spans. Each span counts with atomics (calls, errors,
//! failovers, and latencies in a fixed histogram with its smallest and largest value), so recording a call
//! costs a few atomic additions and no lock. A span is reused when its ten seconds come round again: the
//! first writer to notice moves it on and clears it. A call recorded by another thread at that very instant
//! may be lost, which a five-minute view of a provider's health can afford; the Prometheus counters in
//! `upstreams` are exact. Percentiles are estimated from the histogram (linearly within a bucket, held
//! between the smallest and largest latency seen), as Prometheus' `histogram_quantile` does.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// One provider's health, as the operators' console shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ProviderHealth {
    /// The provider's name in the configuration (`anthropic`, `openai`, or a name from the providers file).
    pub name: String,
    /// Attempts sent to it in the window (a call failed over to another provider counts once at each).
    pub calls: u64,
    /// Attempts that failed for the provider's sake (unreachable, 429, 5xx, a broken answer or stream) in
    /// the window; a 4xx other than 429 is the caller's request, not the provider's health.
    pub errors: u64,
    /// Latency to the provider's answer (a stream's headers, or a whole answer) of attempts that answered.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// The most recent error (unix milliseconds, message), however old.
    pub last_error: Option<(i64, String)>,
    /// Attempts in the window after which the call moved on to the next provider (or tried again).
    pub failovers: u64,
}

/// The window's length: `SPANS` spans of `SPAN_MS`.
pub const SPAN_MS: i64 = 10_000;
pub const SPANS: usize = 30;

/// Latency bucket bounds in microseconds (1 ms to 5 minutes, about 1.5x apart).
const LATENCY_BOUNDS_US: [u64; 30] = [
    1_000,
    2_000,
    3_000,
    5_000,
    7_000,
    10_000,
    15_000,
    20_000,
    30_000,
    50_000,
    70_000,
    100_000,
    150_000,
    200_000,
    300_000,
    500_000,
    700_000,
    1_000_000,
    1_500_000,
    2_000_000,
    3_000_000,
    5_000_000,
    7_000_000,
    10_000_000,
    15_000_000,
    20_000_000,
    30_000_000,
    60_000_000,
    120_000_000,
    300_000_000,
];
/// One per bound, and one above the last.
const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_US.len() + 1;

/// The ten seconds a span counts, and its counts.
#[derive(Debug)]
struct Span {
    /// Which ten seconds (unix milliseconds / `SPAN_MS`) it holds; -1 before its first use.
    epoch: AtomicI64,
    calls: AtomicU64,
    errors: AtomicU64,
    failovers: AtomicU64,
    latency: [AtomicU64; LATENCY_BUCKETS],
    min_us: AtomicU64,
    max_us: AtomicU64,
}

impl Default for Span {
    fn default() -> Self {
        Self {
            epoch: AtomicI64::new(-1),
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            failovers: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
            min_us: AtomicU64::new(u64::MAX),
            max_us: AtomicU64::new(0),
        }
    }
}

impl Span {
    fn clear(&self) {
        for counter in [&self.calls, &self.errors, &self.failovers].into_iter().chain(self.latency.iter()) {
            counter.store(0, Ordering::Relaxed);
        }
        self.min_us.store(u64::MAX, Ordering::Relaxed);
        self.max_us.store(0, Ordering::Relaxed);
    }
}

/// The last five minutes of one provider, in ten-second spans.
#[derive(Debug)]
pub struct HealthWindow {
    spans: Box<[Span]>,
}

impl Default for HealthWindow {
    fn default() -> Self {
        Self { spans: (0..SPANS).map(|_| Span::default()).collect() }
    }
}

/// What a window holds at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub calls: u64,
    pub errors: u64,
    pub failovers: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl HealthWindow {
    /// The span counting `now_ms`, moved on (and cleared) first when it still holds an older span.
    fn span(&self, now_ms: i64) -> Option<&Span> {
        let epoch = now_ms.div_euclid(SPAN_MS);
        let span = self.spans.get(usize::try_from(epoch.rem_euclid(SPANS as i64)).ok()?)?;
        let held = span.epoch.load(Ordering::Acquire);
        // A span holding a later epoch (the clock went back) is counted into as it is: harmless.
        if held < epoch && span.epoch.compare_exchange(held, epoch, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            span.clear();
        }
        Some(span)
    }

    /// An attempt that answered after `latency`.
    pub fn answered(&self, now_ms: i64, latency: Duration) {
        let Some(span) = self.span(now_ms) else { return };
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        span.calls.fetch_add(1, Ordering::Relaxed);
        let at = LATENCY_BOUNDS_US.partition_point(|bound| *bound < us);
        if let Some(bucket) = span.latency.get(at) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        span.min_us.fetch_min(us, Ordering::Relaxed);
        span.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// An attempt that failed before answering.
    pub fn failed(&self, now_ms: i64) {
        if let Some(span) = self.span(now_ms) {
            span.calls.fetch_add(1, Ordering::Relaxed);
            span.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An attempt the provider refused for the request's sake (a 4xx other than 429): a call, not an error,
    /// and no latency worth counting.
    pub fn refused(&self, now_ms: i64) {
        if let Some(span) = self.span(now_ms) {
            span.calls.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An attempt already counted as answered failed later (its stream broke).
    pub fn broke(&self, now_ms: i64) {
        if let Some(span) = self.span(now_ms) {
            span.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The call moved on from this provider after a failed attempt.
    pub fn failed_over(&self, now_ms: i64) {
        if let Some(span) = self.span(now_ms) {
            span.failovers.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The window ending at `now_ms`: the spans of the last `SPANS` ten-second epochs.
    pub fn summary(&self, now_ms: i64) -> Summary {
        let now = now_ms.div_euclid(SPAN_MS);
        let oldest = now - (SPANS as i64 - 1);
        let mut s = Summary::default();
        let mut latency = [0u64; LATENCY_BUCKETS];
        let (mut min_us, mut max_us) = (u64::MAX, 0u64);
        for span in self.spans.iter() {
            let epoch = span.epoch.load(Ordering::Acquire);
            if epoch < oldest || epoch > now {
                continue;
            }
            s.calls += span.calls.load(Ordering::Relaxed);
            s.errors += span.errors.load(Ordering::Relaxed);
            s.failovers += span.failovers.load(Ordering::Relaxed);
            for (sum, bucket) in latency.iter_mut().zip(span.latency.iter()) {
                *sum += bucket.load(Ordering::Relaxed);
            }
            min_us = min_us.min(span.min_us.load(Ordering::Relaxed));
            max_us = max_us.max(span.max_us.load(Ordering::Relaxed));
        }
        s.p50_ms = percentile_us(&latency, 0.50, min_us, max_us).map(|us| us / 1000.0);
        s.p99_ms = percentile_us(&latency, 0.99, min_us, max_us).map(|us| us / 1000.0);
        s
    }
}

/// The `q` quantile of latencies counted in `buckets`, interpolated within its bucket and held between the
/// smallest and largest latency seen; `None` without any.
fn percentile_us(buckets: &[u64; LATENCY_BUCKETS], q: f64, min_us: u64, max_us: u64) -> Option<f64> {
    let total: u64 = buckets.iter().sum();
    if total == 0 {
        return None;
    }
    // The rank (1-based) of the observation sought.
    let rank = (q * total as f64).ceil().max(1.0);
    // Spans cleared while being written can leave min above max; then the bounds alone decide.
    let (low, high) = if min_us <= max_us { (min_us as f64, max_us as f64) } else { (0.0, f64::INFINITY) };
    let mut seen = 0u64;
    for (i, n) in buckets.iter().enumerate() {
        if *n == 0 {
            continue;
        }
        if (seen + n) as f64 >= rank {
            let lower = if i == 0 { 0.0 } else { LATENCY_BOUNDS_US.get(i - 1).map_or(0.0, |b| *b as f64) };
            // Past the last bound, the largest latency seen is the bucket's top.
            let top = if high.is_finite() { high } else { lower };
            let upper = LATENCY_BOUNDS_US.get(i).map_or(top, |b| *b as f64).max(lower);
            let within = (rank - seen as f64) / *n as f64;
            return Some((lower + (upper - lower) * within).max(low).min(high));
        }
        seen += n;
    }
    Some(high.min(low.max(0.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;

    #[test]
    fn calls_errors_and_failovers_are_counted_in_the_window() {
        let w = HealthWindow::default();
        w.answered(T0, Duration::from_millis(100));
        w.failed(T0 + 1_000);
        w.failed_over(T0 + 1_000);
        w.answered(T0 + 15_000, Duration::from_millis(300));
        w.broke(T0 + 20_000);
        let s = w.summary(T0 + 20_000);
        assert_eq!((s.calls, s.errors, s.failovers), (3, 2, 1));
        assert!(s.p50_ms.is_some() && s.p99_ms.is_some());
    }

    #[test]
    fn calls_older_than_five_minutes_leave_the_window() {
        let w = HealthWindow::default();
        let start = T0 - T0.rem_euclid(SPAN_MS);
        w.answered(start, Duration::from_millis(5));
        w.failed(start + 60_000);
        // The first span is still inside 29 spans later, and gone after 30.
        assert_eq!(w.summary(start + 290_000).calls, 2);
        let later = w.summary(start + 300_000);
        assert_eq!((later.calls, later.errors), (1, 1));
        assert_eq!(later.p50_ms, None, "the one latency left the window");
        assert_eq!(w.summary(start + 360_000), Summary::default());
        // A span reused for a later epoch starts from nothing.
        w.answered(start + 300_000, Duration::from_millis(9));
        let reused = w.summary(start + 300_000);
        assert_eq!((reused.calls, reused.errors), (2, 1));
        assert_eq!(reused.p50_ms, Some(9.0));
    }

    #[test]
    fn nothing_recorded_reads_as_nothing() {
        let s = HealthWindow::default().summary(T0);
        assert_eq!(s, Summary::default());
    }

    #[test]
    fn percentiles_follow_the_latencies() {
        let w = HealthWindow::default();
        // 1..=1000 ms, evenly: p50 near 500 ms, p99 near 990 ms.
        for ms in 1..=1000 {
            w.answered(T0, Duration::from_millis(ms));
        }
        let s = w.summary(T0);
        let (p50, p99) = (s.p50_ms.unwrap(), s.p99_ms.unwrap());
        assert!((450.0..=550.0).contains(&p50), "p50 {p50}");
        assert!((950.0..=1000.0).contains(&p99), "p99 {p99}");
        // Every call alike: the percentiles are that latency, not a bucket's bound.
        let same = HealthWindow::default();
        for _ in 0..50 {
            same.answered(T0, Duration::from_millis(120));
        }
        let s = same.summary(T0);
        assert_eq!((s.p50_ms, s.p99_ms), (Some(120.0), Some(120.0)));
        // One slow call among a hundred fast ones shows in p99 only.
        let tail = HealthWindow::default();
        for _ in 0..99 {
            tail.answered(T0, Duration::from_millis(20));
        }
        tail.answered(T0, Duration::from_secs(400));
        let s = tail.summary(T0);
        assert_eq!(s.p50_ms, Some(20.0));
        assert!(s.p99_ms.unwrap() <= 20.0 + f64::EPSILON, "rank 99 of 100 is still a fast call: {:?}", s.p99_ms);
        tail.answered(T0, Duration::from_secs(400));
        let p99 = tail.summary(T0).p99_ms.unwrap();
        assert!((300_000.0..=400_000.0).contains(&p99), "past the last bound, up to the largest seen: {p99}");
    }
}
