//! What each configured upstream provider did: attempts sent to it, its errors by kind, the calls that moved
//! on from it to another provider, and its last five minutes (`provider_health`). Providers are known at
//! start, so everything is indexed by the provider's place in the configuration; recording an attempt is a
//! few atomic additions. Only an error also takes a lock, to keep its message.

use super::exposition::{Exposition, Kind};
use super::provider_health::{HealthWindow, ProviderHealth};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How an upstream failed, as the proxy tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// It could not be reached (connection refused or timed out, TLS, a bad URL).
    Unreachable,
    /// It answered 429 (it is rate limiting us).
    RateLimited,
    /// It answered another 4xx: the request was refused (usually the caller's to fix).
    Refused,
    /// It answered 5xx.
    ServerError,
    /// Its whole answer could not be read (broken, too large, past the call's deadline).
    BrokenAnswer,
    /// Its stream broke after it had begun (broken, an event too long, past the call's deadline).
    BrokenStream,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; KINDS] = [
        Self::Unreachable,
        Self::RateLimited,
        Self::Refused,
        Self::ServerError,
        Self::BrokenAnswer,
        Self::BrokenStream,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::RateLimited => "status_429",
            Self::Refused => "status_4xx",
            Self::ServerError => "status_5xx",
            Self::BrokenAnswer => "broken_answer",
            Self::BrokenStream => "broken_stream",
        }
    }

    /// Counts against the provider's health: every kind but a refused request.
    pub fn is_providers_fault(self) -> bool {
        self != Self::Refused
    }

    fn index(self) -> usize {
        self as usize
    }
}

const KINDS: usize = 6;

/// The longest error message kept for the console.
const MESSAGE_CHARS: usize = 300;

#[derive(Debug)]
struct Provider {
    name: String,
    attempts: AtomicU64,
    errors: [AtomicU64; KINDS],
    failovers: AtomicU64,
    window: HealthWindow,
    last_error: Mutex<Option<(i64, String)>>,
}

/// Every configured provider's counters, in configuration order.
pub struct UpstreamStats {
    providers: Box<[Provider]>,
}

impl std::fmt::Debug for UpstreamStats {
    // The counters are read through `/metrics`; printing thousands of atomics would only bury the rest.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.providers.iter().map(|p| p.name.as_str()).collect();
        f.debug_struct("UpstreamStats").field("providers", &names).finish_non_exhaustive()
    }
}

impl UpstreamStats {
    /// Counters for providers of these names, in this order (the order calls index them by).
    pub fn new(names: impl IntoIterator<Item = String>) -> Self {
        Self {
            providers: names
                .into_iter()
                .map(|name| Provider {
                    name,
                    attempts: AtomicU64::new(0),
                    errors: std::array::from_fn(|_| AtomicU64::new(0)),
                    failovers: AtomicU64::new(0),
                    window: HealthWindow::default(),
                    last_error: Mutex::new(None),
                })
                .collect(),
        }
    }

    /// An attempt at the `provider`-th provider answered (a stream's head, or a whole answer) after `latency`.
    pub fn answered(&self, provider: usize, latency: Duration, now_ms: i64) {
        if let Some(p) = self.providers.get(provider) {
            p.attempts.fetch_add(1, Ordering::Relaxed);
            p.window.answered(now_ms, latency);
        }
    }

    /// An attempt failed before answering.
    pub fn failed(&self, provider: usize, kind: ErrorKind, message: &str, now_ms: i64) {
        let Some(p) = self.providers.get(provider) else { return };
        p.attempts.fetch_add(1, Ordering::Relaxed);
        p.error(kind, message, now_ms);
        if kind.is_providers_fault() {
            p.window.failed(now_ms);
        } else {
            // An attempt all the same; the refusal is the request's, not the provider's health.
            p.window.refused(now_ms);
        }
    }

    /// A stream that had answered broke later (its attempt is already counted).
    pub fn broke(&self, provider: usize, message: &str, now_ms: i64) {
        if let Some(p) = self.providers.get(provider) {
            p.error(ErrorKind::BrokenStream, message, now_ms);
            p.window.broke(now_ms);
        }
    }

    /// A call moved on from this provider after its attempt failed.
    pub fn failed_over(&self, provider: usize, now_ms: i64) {
        if let Some(p) = self.providers.get(provider) {
            p.failovers.fetch_add(1, Ordering::Relaxed);
            p.window.failed_over(now_ms);
        }
    }

    /// Each provider's last five minutes, in configuration order.
    pub fn health(&self, now_ms: i64) -> Vec<ProviderHealth> {
        self.providers
            .iter()
            .map(|p| {
                let s = p.window.summary(now_ms);
                ProviderHealth {
                    name: p.name.clone(),
                    calls: s.calls,
                    errors: s.errors,
                    p50_ms: s.p50_ms,
                    p99_ms: s.p99_ms,
                    last_error: p.last_error.lock().unwrap_or_else(PoisonError::into_inner).clone(),
                    failovers: s.failovers,
                }
            })
            .collect()
    }

    pub fn render(&self, out: &mut Exposition) {
        out.family(
            "gatehouse_upstream_calls_total",
            Kind::Counter,
            "Attempts sent to each upstream provider (a call that fails over counts once at each provider it \
             tries).",
        );
        for p in self.providers.iter() {
            let attempts = p.attempts.load(Ordering::Relaxed);
            out.count("gatehouse_upstream_calls_total", &[("provider", p.name.as_str())], attempts);
        }
        out.family(
            "gatehouse_upstream_errors_total",
            Kind::Counter,
            "Upstream failures by provider and kind: unreachable, status_429, status_4xx, status_5xx, \
             broken_answer, broken_stream.",
        );
        for p in self.providers.iter() {
            for (kind, n) in ErrorKind::ALL.iter().zip(p.errors.iter()) {
                let labels = [("provider", p.name.as_str()), ("kind", kind.as_str())];
                out.count("gatehouse_upstream_errors_total", &labels, n.load(Ordering::Relaxed));
            }
        }
        out.family(
            "gatehouse_upstream_failovers_total",
            Kind::Counter,
            "Calls that moved on from a provider to the next one (or tried it again) after it failed before \
             answering.",
        );
        for p in self.providers.iter() {
            let failovers = p.failovers.load(Ordering::Relaxed);
            out.count("gatehouse_upstream_failovers_total", &[("provider", p.name.as_str())], failovers);
        }
    }
}

impl Provider {
    fn error(&self, kind: ErrorKind, message: &str, now_ms: i64) {
        if let Some(n) = self.errors.get(kind.index()) {
            n.fetch_add(1, Ordering::Relaxed);
        }
        let message: String = message.chars().take(MESSAGE_CHARS).collect();
        *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some((now_ms, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;

    #[test]
    fn attempts_errors_and_failovers_are_counted_per_provider() {
        let s = UpstreamStats::new(["anthropic".to_string(), "backup".to_string()]);
        s.failed(0, ErrorKind::ServerError, "the upstream answered 529", T0);
        s.failed_over(0, T0);
        s.answered(1, Duration::from_millis(80), T0 + 5);
        s.broke(1, "the upstream connection broke: reset", T0 + 900);
        s.failed(1, ErrorKind::Refused, "the upstream answered 400", T0 + 1_000);
        // An index no provider has is ignored.
        s.answered(7, Duration::from_millis(1), T0);
        let health = s.health(T0 + 1_000);
        assert_eq!(health.len(), 2);
        let (a, b) = (&health[0], &health[1]);
        assert_eq!((a.name.as_str(), a.calls, a.errors, a.failovers), ("anthropic", 1, 1, 1));
        assert_eq!(a.last_error, Some((T0, "the upstream answered 529".to_string())));
        assert_eq!((a.p50_ms, a.p99_ms), (None, None), "no attempt answered");
        // The 400 is an attempt and its last error, but not an error of the provider's.
        assert_eq!((b.name.as_str(), b.calls, b.errors, b.failovers), ("backup", 2, 1, 0));
        assert_eq!(b.last_error, Some((T0 + 1_000, "the upstream answered 400".to_string())));

        let mut out = Exposition::default();
        s.render(&mut out);
        let text = out.finish();
        for line in [
            "gatehouse_upstream_calls_total{provider=\"anthropic\"} 1\n",
            "gatehouse_upstream_calls_total{provider=\"backup\"} 2\n",
            "gatehouse_upstream_errors_total{provider=\"anthropic\",kind=\"status_5xx\"} 1\n",
            "gatehouse_upstream_errors_total{provider=\"anthropic\",kind=\"unreachable\"} 0\n",
            "gatehouse_upstream_errors_total{provider=\"backup\",kind=\"broken_stream\"} 1\n",
            "gatehouse_upstream_errors_total{provider=\"backup\",kind=\"status_4xx\"} 1\n",
            "gatehouse_upstream_failovers_total{provider=\"anthropic\"} 1\n",
            "gatehouse_upstream_failovers_total{provider=\"backup\"} 0\n",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn long_error_messages_are_cut() {
        let s = UpstreamStats::new(["p".to_string()]);
        s.failed(0, ErrorKind::Unreachable, &"x".repeat(5_000), T0);
        let (_, message) = s.health(T0)[0].last_error.clone().unwrap();
        assert_eq!(message.chars().count(), MESSAGE_CHARS);
    }
}
