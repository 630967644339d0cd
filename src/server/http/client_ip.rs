//! The client's IP address. Behind reverse proxies the operator lists in `TRUSTED_PROXIES` (CIDRs), the
//! client is the rightmost `X-Forwarded-For` address that is not one of them: every proxy appends the
//! address it was reached from, so hops left of the first untrusted one were written by the client and
//! prove nothing. With nothing trusted (the default) the header is ignored and the TCP peer is the client.

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

/// One CIDR block, such as `10.0.0.0/8` or `fd00::/8` (a bare address is a block of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| format!("{text:?} is not an IP address or CIDR block"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be a number from 0 to {max}"))?,
        };
        // An IPv4-mapped block (`::ffff:10.0.0.0/104`) is the IPv4 block it maps (`10.0.0.0/8`).
        match (network, canonical(network)) {
            (IpAddr::V6(_), IpAddr::V4(v4)) => {
                let prefix = prefix
                    .checked_sub(96)
                    .ok_or_else(|| format!("{text:?}: an IPv4-mapped block needs a prefix length from 96 to 128"))?;
                Ok(Self { network: IpAddr::V4(v4), prefix })
            }
            _ => Ok(Self { network, prefix }),
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The reverse proxies whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// A comma- or space-separated list of CIDR blocks.
    pub fn parse(text: &str) -> Result<Self, String> {
        text.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(Cidr::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client behind a request from `peer` carrying `forwarded_for` (every `X-Forwarded-For` header's
    /// value, in order): walking right to left from the peer, the first address not trusted. When every
    /// hop is trusted, the leftmost; a hop that is not an address ends the walk at the proxy that wrote it.
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        let hops = forwarded_for.iter().rev().flat_map(|v| v.rsplit(',')).map(str::trim);
        for hop in hops {
            // Some load balancers write `address:port` (`[v6]:port` for IPv6).
            let parsed = hop.parse::<IpAddr>().or_else(|_| hop.parse::<std::net::SocketAddr>().map(|a| a.ip()));
            match parsed {
                Ok(ip) => {
                    client = canonical(ip);
                    if !self.trusts(client) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        client
    }
}

/// IPv4 addresses that reach a dual-stack socket as `::ffff:a.b.c.d` are the IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// What per-address limits count: an IPv4 address, or an IPv6 address's /64 (one subscriber's network:
/// its owner can use any of its 2^64 addresses).
pub fn network_of(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let net = Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64));
            format!("{net}/64")
        }
    }
}

/// The request's client address (see the module), or `None` without a TCP peer (never in a served
/// request).
pub fn from_parts(parts: &Parts, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip())?;
    let forwarded: Vec<&str> =
        parts.headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
    Some(trusted.client(peer, &forwarded))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_blocks_contain_their_addresses_only() {
        let lan = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(lan.contains(ip("10.200.3.4")));
        assert!(!lan.contains(ip("11.0.0.1")));
        assert!(lan.contains(ip("::ffff:10.1.2.3")), "an IPv4-mapped address is its IPv4 address");
        let one = Cidr::parse("192.0.2.7").unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(!Cidr::parse("0.0.0.0/0").unwrap().contains(ip("::1")), "families never mix");
        for bad in ["10.0.0.0/33", "fd00::/129", "proxy.local", "10.0.0.0/x", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(TrustedProxies::parse("10.0.0.0/8, 127.0.0.1 ::1").unwrap().0.len(), 3);
        let mapped = Cidr::parse("::ffff:10.0.0.0/104").unwrap();
        assert!(mapped.contains(ip("10.9.9.9")) && !mapped.contains(ip("11.0.0.1")), "the IPv4 block it maps");
        assert!(!Cidr::parse("::ffff:127.0.0.1").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("::ffff:10.0.0.0/64").is_err());
        assert!(TrustedProxies::parse("10.0.0.0/8,nope").is_err());
    }

    #[test]
    fn with_nothing_trusted_the_header_is_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("203.0.113.9"), &["1.2.3.4"]), ip("203.0.113.9"));
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop() {
        let proxies = TrustedProxies::parse("127.0.0.1/32, 10.0.0.0/8").unwrap();
        // nginx's `proxy_add_x_forwarded_for` appends the address it saw to whatever the client sent.
        assert_eq!(proxies.client(ip("127.0.0.1"), &["6.6.6.6, 198.51.100.20"]), ip("198.51.100.20"));
        // Two proxies: the CDN's edge (trusted) appended the client, the local nginx appended the edge.
        assert_eq!(proxies.client(ip("127.0.0.1"), &["6.6.6.6, 198.51.100.20, 10.1.1.1"]), ip("198.51.100.20"));
        // Split over two headers, in order.
        assert_eq!(proxies.client(ip("127.0.0.1"), &["6.6.6.6", "198.51.100.20"]), ip("198.51.100.20"));
        // A peer that is not a trusted proxy is the client, whatever it claims.
        assert_eq!(proxies.client(ip("198.51.100.20"), &["1.1.1.1"]), ip("198.51.100.20"));
        // No header from a trusted proxy: the proxy itself.
        assert_eq!(proxies.client(ip("127.0.0.1"), &[]), ip("127.0.0.1"));
        // Every hop trusted: the leftmost.
        assert_eq!(proxies.client(ip("127.0.0.1"), &["10.0.0.5, 10.0.0.6"]), ip("10.0.0.5"));
        // Garbage written where a trusted proxy's hop should be ends the walk at that proxy.
        assert_eq!(proxies.client(ip("127.0.0.1"), &["198.51.100.20, garbage, 10.0.0.6"]), ip("10.0.0.6"));
        assert_eq!(proxies.client(ip("::ffff:127.0.0.1"), &["198.51.100.20"]), ip("198.51.100.20"));
        // Hops with ports.
        assert_eq!(proxies.client(ip("127.0.0.1"), &["6.6.6.6, 198.51.100.20:51234"]), ip("198.51.100.20"));
        assert_eq!(proxies.client(ip("127.0.0.1"), &["[2001:db8::5]:443"]), ip("2001:db8::5"));
    }

    #[test]
    fn ipv6_addresses_count_per_64() {
        assert_eq!(network_of(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(network_of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")), "2001:db8:1:2::/64");
        assert_ne!(network_of(ip("2001:db8:1:3::1")), "2001:db8:1:2::/64");
        assert_eq!(network_of(ip("198.51.100.20")), "198.51.100.20");
        assert_eq!(network_of(ip("::ffff:198.51.100.20")), "198.51.100.20");
    }
}
