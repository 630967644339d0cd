//! Stripe's webhook signature: `Stripe-Signature: t=TIMESTAMP,v1=HEX(HMAC-SHA256(secret, "TIMESTAMP.PAYLOAD"))`,
//! checked in constant time and refused outside a timestamp tolerance (replay protection).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Stripe's default tolerance.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing or malformed Stripe-Signature header")]
    Malformed,
    #[error("the signature does not match the payload")]
    Mismatch,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
}

/// HMAC takes keys of any length, so this is `None` never in practice; callers treat `None` as a mismatch.
fn mac(secret: &str, timestamp: i64, payload: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    Some(mac)
}

/// The header value Stripe would send (used by dev-mode test payments and the tests).
pub fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let hex: String = mac(secret, timestamp, payload)
        .map(|m| m.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect())
        .unwrap_or_default();
    format!("t={timestamp},v1={hex}")
}

/// Accepts the payload when one `v1` signature matches and the timestamp is within `tolerance` of `now`.
pub fn verify(header: &str, payload: &[u8], secret: &str, now_secs: i64, tolerance: i64) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.push(s),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let matched = signatures.iter().any(|s| match decode_hex(s) {
        Some(bytes) => mac(secret, timestamp, payload).is_some_and(|m| m.verify_slice(&bytes).is_ok()),
        None => false,
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    if (now_secs - timestamp).abs() > tolerance {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";

    #[test]
    fn a_signed_payload_verifies() {
        let header = sign(SECRET, 1_700_000_000, b"{\"id\":\"evt_1\"}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert_eq!(verify(&header, b"{\"id\":\"evt_1\"}", SECRET, 1_700_000_100, TOLERANCE_SECS), Ok(()));
        // Stripe may send several signatures during secret rotation; one match is enough.
        let rotated = format!("t=1700000000,v1=00ff,{}", header.split(',').nth(1).unwrap());
        assert_eq!(verify(&rotated, b"{\"id\":\"evt_1\"}", SECRET, 1_700_000_000, TOLERANCE_SECS), Ok(()));
    }

    #[test]
    fn tampering_a_wrong_secret_or_a_stale_timestamp_is_refused() {
        let header = sign(SECRET, 1_700_000_000, b"payload");
        assert_eq!(verify(&header, b"payload!", SECRET, 1_700_000_000, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(&header, b"payload", "whsec_other", 1_700_000_000, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(&header, b"payload", SECRET, 1_700_000_301, 300), Err(SignatureError::Stale));
        assert_eq!(verify("v1=abcd", b"payload", SECRET, 0, 300), Err(SignatureError::Malformed));
        assert_eq!(verify("t=5", b"payload", SECRET, 5, 300), Err(SignatureError::Malformed));
        assert_eq!(verify("t=5,v1=zz", b"payload", SECRET, 5, 300), Err(SignatureError::Mismatch));
    }
}
