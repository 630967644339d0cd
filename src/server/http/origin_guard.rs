//! Where Gatehouse's own pages live ([`SiteOrigins`]: `PUBLIC_BASE_URL`'s origin, and in dev the bound
//! address), and the two checks that keep other sites out:
//! - a state-changing browser request (POST/PUT/PATCH/DELETE, server functions included) must carry an
//!   `Origin` (or `Referer`) that is one of those origins (CSRF). The request's own `Host` header is never
//!   trusted for this: through DNS rebinding an attacker's name can point at this server, and its page's
//!   origin then equals the Host its requests carry.
//! - in dev, every page request must be addressed to one of those hosts, so a rebound name cannot read the
//!   dev mailbox (which holds every login link) or any other page.
//!
//! API routes authenticated by key or signature, never by the session cookie, are exempt from both.

use crate::server::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// Paths whose callers authenticate with an API key or a signature, never with the session cookie.
const KEY_AUTH_PREFIXES: &[&str] = &["/v1/", "/api/v1/", "/webhooks/"];

/// The origins Gatehouse's pages are served from, and (in dev) the hosts requests may be addressed to.
#[derive(Clone, Debug)]
pub struct SiteOrigins {
    /// `scheme://host[:port]`, lower case, as browsers send `Origin`.
    origins: Vec<String>,
    /// `host[:port]` as in a `Host` header, lower case; checked only when `check_host` is set.
    hosts: Vec<String>,
    check_host: bool,
}

impl SiteOrigins {
    /// The public origin, plus in dev the address the server is bound to (on loopback or every interface,
    /// its loopback names: `127.0.0.1`, `localhost` and `[::1]` with the bound port).
    pub fn new(public_base_url: &str, bound: SocketAddr, dev: bool) -> Self {
        let mut site = Self { origins: Vec::new(), hosts: Vec::new(), check_host: dev };
        if let Ok(url) = url::Url::parse(public_base_url) {
            let host = url.host_str().unwrap_or_default();
            match url.port() {
                Some(port) => site.add(url.scheme(), &format!("{host}:{port}")),
                None => site.add(url.scheme(), host),
            }
        }
        if dev {
            let ip = bound.ip();
            if ip.is_loopback() || ip.is_unspecified() {
                for name in ["127.0.0.1", "localhost", "[::1]"] {
                    site.add("http", &format!("{name}:{}", bound.port()));
                }
            } else {
                site.add("http", &bound.to_string());
            }
        }
        site
    }

    /// Adds `scheme://authority`, where `authority` is `host[:port]` as a `Host` header carries it.
    fn add(&mut self, scheme: &str, authority: &str) {
        let host = authority.to_ascii_lowercase();
        let origin = format!("{scheme}://{host}");
        if !self.origins.contains(&origin) {
            self.origins.push(origin);
        }
        if !self.hosts.contains(&host) {
            self.hosts.push(host);
        }
    }

    /// Whether a claimed `Origin` (or a `Referer`'s origin) is one of the site's.
    pub fn is_own_origin(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }

    /// Whether a request addressed to `host` may be answered (always, outside dev).
    pub fn serves_host(&self, host: Option<&str>) -> bool {
        !self.check_host || host.is_some_and(|h| self.hosts.iter().any(|o| o.eq_ignore_ascii_case(h)))
    }

    /// The address people should use (the first origin: the public one).
    pub fn public(&self) -> &str {
        self.origins.first().map(String::as_str).unwrap_or_default()
    }
}

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if KEY_AUTH_PREFIXES.iter().any(|p| request.uri().path().starts_with(p)) {
        return next.run(request).await;
    }
    let site = &state.site_origins;
    let headers = request.headers();
    // Health checks come from load balancers under any name, and reveal nothing; metrics scrapers come
    // under any name too, and `/metrics` answers only its bearer token.
    let health = matches!(request.uri().path(), "/healthz" | "/metrics");
    if !health && !site.serves_host(headers.get(header::HOST).and_then(|v| v.to_str().ok())) {
        tracing::warn!(path = %request.uri().path(), "request for another host refused (dev mode answers only its own)");
        let message = format!(
            "This development server answers only at {}. Open it there, or set PUBLIC_BASE_URL to the address you use.",
            site.public()
        );
        return (StatusCode::MISDIRECTED_REQUEST, message).into_response();
    }
    if is_safe_method(request.method()) {
        return next.run(request).await;
    }
    let claimed = claimed_origin(headers);
    if claimed.as_deref().is_some_and(|origin| site.is_own_origin(origin)) {
        return next.run(request).await;
    }
    tracing::warn!(origin = ?claimed, path = %request.uri().path(), "cross-origin request refused");
    (StatusCode::FORBIDDEN, "Cross-origin request refused: this form must be sent from Gatehouse's own pages.")
        .into_response()
}

fn claimed_origin(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|v| *v != "null")
        .map(str::to_string)
        .or_else(|| headers.get(header::REFERER).and_then(|v| v.to_str().ok()).and_then(origin_of))
}

fn is_safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    Some(u.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_public_origin_is_the_site() {
        let site = SiteOrigins::new("https://gh.example.com", addr("127.0.0.1:3000"), false);
        assert!(site.is_own_origin("https://gh.example.com"));
        assert!(site.is_own_origin("https://GH.example.com/"));
        assert!(!site.is_own_origin("http://gh.example.com"), "another scheme is another origin");
        assert!(!site.is_own_origin("http://127.0.0.1:3000"), "outside dev the bound address is not the site");
        assert!(site.serves_host(Some("anything")), "hosts are checked in dev only");
    }

    #[test]
    fn in_dev_the_loopback_names_of_the_bound_port_are_the_site_too() {
        let site = SiteOrigins::new("http://127.0.0.1:3000", addr("127.0.0.1:3000"), true);
        for o in ["http://127.0.0.1:3000", "http://localhost:3000", "http://[::1]:3000"] {
            assert!(site.is_own_origin(o), "{o}");
        }
        assert!(site.serves_host(Some("localhost:3000")));
        assert!(site.serves_host(Some("127.0.0.1:3000")));
        assert!(!site.is_own_origin("http://127.0.0.1:3001"));
        let public = SiteOrigins::new("https://dev.example.com:8443", addr("0.0.0.0:3000"), true);
        assert!(public.is_own_origin("https://dev.example.com:8443"));
        assert!(public.serves_host(Some("dev.example.com:8443")));
        assert!(public.serves_host(Some("localhost:3000")));
        let lan = SiteOrigins::new("http://192.168.1.5:3000", addr("192.168.1.5:3000"), true);
        assert!(lan.is_own_origin("http://192.168.1.5:3000"));
        assert!(!lan.serves_host(Some("localhost:3000")));
    }

    #[test]
    fn a_rebound_name_is_neither_the_site_nor_served_in_dev() {
        // DNS rebinding: evil.example resolves to 127.0.0.1, so its page's requests carry
        // `Host: evil.example:3000` and `Origin: http://evil.example:3000`.
        let site = SiteOrigins::new("http://127.0.0.1:3000", addr("127.0.0.1:3000"), true);
        assert!(!site.is_own_origin("http://evil.example:3000"));
        assert!(!site.serves_host(Some("evil.example:3000")));
        assert!(!site.serves_host(None));
        assert!(!site.is_own_origin("https://gh.example.com.evil.example"));
    }

    #[test]
    fn a_referer_gives_its_origin() {
        assert_eq!(origin_of("https://gh.example.com/login?x=1").as_deref(), Some("https://gh.example.com"));
        assert_eq!(origin_of("not a url"), None);
    }
}
