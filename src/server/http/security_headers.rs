//! Headers that keep browsers from being turned against the site: every response gets `nosniff` and
//! `Referrer-Policy: same-origin` (and HSTS when the public address is https); every HTML page gets a
//! Content Security Policy that allows the app's own scripts and WebAssembly (and inline scripts only with
//! the page's nonce), and may not be framed (`frame-ancestors 'none'`, `X-Frame-Options: DENY`).
//!
//! Pages rendered by Leptos set their own policy with the nonce of their inline scripts ([`policy`],
//! from the shell); any other HTML gets the policy without a nonce here.

use axum::http::{header, HeaderMap, HeaderValue};

/// `'unsafe-hashes'` and the SHA-256 of each of the pages' inline event handlers (`app::inline_handlers`).
fn handler_hashes() -> &'static str {
    static HASHES: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASHES.get_or_init(|| {
        use base64::Engine;
        use sha2::Digest;
        let mut out = String::from(" 'unsafe-hashes'");
        for handler in crate::app::inline_handlers::ALL {
            let digest = sha2::Sha256::digest(handler.as_bytes());
            out.push_str(&format!(" 'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest)));
        }
        out
    })
}

/// The Content Security Policy of a page whose inline scripts carry `nonce` (none: no inline script runs).
/// Besides them only the app's own inline event handlers run, by their hashes.
pub fn policy(nonce: Option<&str>) -> String {
    let inline = nonce.map(|n| format!(" 'nonce-{n}'")).unwrap_or_default();
    let handlers = handler_hashes();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{inline}{handlers}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; \
         form-action 'self' https://checkout.stripe.com; frame-ancestors 'none'"
    )
}

/// Whether responses carry `Strict-Transport-Security` (the public address is https).
#[derive(Clone, Copy)]
pub struct Hsts(pub bool);

/// Adds the headers to a response's (applied by `edge` to every response).
pub fn add_to(headers: &mut HeaderMap, Hsts(hsts): Hsts) {
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    }
    let html =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/html"));
    if html {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
            if let Ok(v) = HeaderValue::from_str(&policy(None)) {
                headers.insert(header::CONTENT_SECURITY_POLICY, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_own_scripts_and_wasm_and_inline_only_with_the_nonce() {
        let p = policy(Some("abc123"));
        assert!(p.contains("script-src 'self' 'wasm-unsafe-eval' 'nonce-abc123' 'unsafe-hashes' 'sha256-"), "{p}");
        assert_eq!(p.matches("'sha256-").count(), crate::app::inline_handlers::ALL.len());
        assert!(p.contains("frame-ancestors 'none'") && p.contains("object-src 'none'"), "{p}");
        let scripts = p.split(';').find(|d| d.trim_start().starts_with("script-src")).unwrap();
        assert!(!scripts.contains("'unsafe-inline'"), "inline scripts run only by nonce or hash: {scripts}");
        let strict = policy(None);
        assert!(
            strict.contains("script-src 'self' 'wasm-unsafe-eval' 'unsafe-hashes'") && !strict.contains("nonce"),
            "{strict}"
        );
    }
}
