//! At most so many connections open at once from one client network (an IPv4 address, an IPv6 /64;
//! `HTTP_MAX_CONNECTIONS_PER_ADDRESS`, 256 by default): one client opening sockets by the thousand cannot
//! use up the server's file descriptors and lock everyone else out. Addresses that speak for many people
//! are not capped: the trusted reverse proxies (`TRUSTED_PROXIES`) and this machine's loopback (a proxy on
//! the same host before `TRUSTED_PROXIES` is set). A connection over the cap is answered 503 and closed. Behind a
//! proxy that is neither (on another host, or Docker's userland proxy), list it in `TRUSTED_PROXIES`, or every
//! client shares its cap.

use super::client_ip::{canonical, network_of};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

/// What a connection over the cap is told before it is closed.
pub const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\n\
Content-Length: 57\r\nRetry-After: 5\r\n\r\nToo many connections from your address; close some first.";

pub struct ConnectionCap {
    per_network: usize,
    exempt: Box<dyn Fn(IpAddr) -> bool + Send + Sync>,
    open: Mutex<HashMap<String, usize>>,
    /// When a refusal was last logged (unix ms), so a flood is logged once every few seconds.
    logged_at: AtomicI64,
}

/// One admitted connection; its network's count goes down when it is dropped.
pub struct Admitted {
    cap: Arc<ConnectionCap>,
    network: Option<String>,
}

impl ConnectionCap {
    /// `per_network` 0: no cap.
    pub fn new(per_network: usize, exempt: impl Fn(IpAddr) -> bool + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            per_network,
            exempt: Box::new(exempt),
            open: Mutex::new(HashMap::new()),
            logged_at: AtomicI64::new(0),
        })
    }

    /// Counts a connection from `peer`, or `None` when its network has the most it may have open.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Admitted> {
        let peer = canonical(peer);
        if self.per_network == 0 || (self.exempt)(peer) {
            return Some(Admitted { cap: Arc::clone(self), network: None });
        }
        let network = network_of(peer);
        let mut open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = open.entry(network.clone()).or_insert(0);
        if *count >= self.per_network {
            drop(open);
            let now = crate::server::time::monotonic_ms();
            let last = self.logged_at.load(Ordering::Relaxed);
            if (last == 0 || now - last >= 10_000)
                && self.logged_at.compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed).is_ok()
            {
                tracing::warn!(network = %network, limit = self.per_network, "connections refused: too many from one address");
            }
            return None;
        }
        *count += 1;
        Some(Admitted { cap: Arc::clone(self), network: Some(network) })
    }

    /// Connections open from `peer`'s network (0 when exempt).
    pub fn open_from(&self, peer: IpAddr) -> usize {
        let open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        open.get(&network_of(peer)).copied().unwrap_or(0)
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let Some(network) = self.network.take() else { return };
        let mut open = self.cap.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = open.get_mut(&network) {
            *count -= 1;
            if *count == 0 {
                open.remove(&network);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_network_has_at_most_its_share_and_gets_it_back_as_connections_close() {
        let cap = ConnectionCap::new(2, |ip| ip.is_loopback());
        let a = cap.admit(ip("203.0.113.7")).unwrap();
        let _b = cap.admit(ip("::ffff:203.0.113.7")).unwrap();
        assert!(cap.admit(ip("203.0.113.7")).is_none(), "a mapped IPv4 address is the same client");
        assert!(cap.admit(ip("203.0.113.8")).is_some(), "another address has its own share");
        drop(a);
        assert!(cap.admit(ip("203.0.113.7")).is_some());
        // An IPv6 /64 is one client, whatever addresses of it connect.
        let _c = cap.admit(ip("2001:db8:1:2::1")).unwrap();
        let _d = cap.admit(ip("2001:db8:1:2::ffff")).unwrap();
        assert!(cap.admit(ip("2001:db8:1:2:abcd::9")).is_none());
        assert!(cap.admit(ip("2001:db8:1:3::1")).is_some());
    }

    #[test]
    fn exempt_addresses_and_a_zero_cap_are_never_counted() {
        let cap = ConnectionCap::new(1, |ip| ip.is_loopback());
        let held: Vec<_> = (0..10).map(|_| cap.admit(ip("::ffff:127.0.0.1")).unwrap()).collect();
        assert_eq!(cap.open_from(ip("127.0.0.1")), 0);
        drop(held);
        let none = ConnectionCap::new(0, |_| false);
        let held: Vec<_> = (0..10).map(|_| none.admit(ip("198.51.100.1")).unwrap()).collect();
        assert_eq!(held.len(), 10);
    }

    #[test]
    fn the_refusal_is_a_whole_http_response() {
        let text = std::str::from_utf8(REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())), "{head}");
    }
}
