//! Stripe Checkout: create a Checkout Session for a pending top-up through Stripe's HTTP API, and credit
//! it when the signed `checkout.session.completed` webhook arrives, once per event and once per order.

use super::stripe_signature::{self, SignatureError};
use crate::server::config::StripeSettings;
use crate::server::db::Db;
use crate::server::domain::ledger::LedgerError;
use crate::server::domain::topups::{self, Completion, Payment};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    #[error("Stripe could not be reached: {0}")]
    Unreachable(String),
    #[error("Stripe refused the checkout session ({status}): {message}")]
    Refused { status: u16, message: String },
}

pub struct CheckoutRequest<'a> {
    pub topup_id: i64,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub product_name: &'a str,
    pub customer_email: &'a str,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
}

#[derive(Clone, Debug, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    pub url: String,
}

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap_or_default()
}

/// `POST /v1/checkout/sessions` for one line item of the top-up amount.
pub async fn create_checkout_session(
    http: &reqwest::Client,
    stripe: &StripeSettings,
    req: CheckoutRequest<'_>,
) -> Result<CheckoutSession, StripeError> {
    let topup_id = req.topup_id.to_string();
    let amount = req.amount_minor.to_string();
    // Unique per attempt even when two installations (or a reset database) share a Stripe account.
    let nonce = crate::server::secrets::random_token().map_err(|e| StripeError::Unreachable(e.to_string()))?;
    let currency = req.currency.to_ascii_lowercase();
    let form: Vec<(&str, &str)> = vec![
        ("mode", "payment"),
        ("success_url", req.success_url),
        ("cancel_url", req.cancel_url),
        ("client_reference_id", &topup_id),
        ("customer_email", req.customer_email),
        ("metadata[topup_id]", &topup_id),
        ("line_items[0][quantity]", "1"),
        ("line_items[0][price_data][currency]", &currency),
        ("line_items[0][price_data][unit_amount]", &amount),
        ("line_items[0][price_data][product_data][name]", req.product_name),
    ];
    let url = format!("{}/v1/checkout/sessions", stripe.api_base.trim_end_matches('/'));
    let response = http
        .post(url)
        .bearer_auth(stripe.secret_key.expose())
        .header("Idempotency-Key", format!("gatehouse-topup-{topup_id}-{}", &nonce[..16]))
        .form(&form)
        .send()
        .await
        .map_err(|e| StripeError::Unreachable(e.without_url().to_string()))?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let message = body["error"]["message"].as_str().unwrap_or("no message").to_string();
        return Err(StripeError::Refused { status, message });
    }
    response.json::<CheckoutSession>().await.map_err(|e| StripeError::Unreachable(e.to_string()))
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("bad signature: {0}")]
    Signature(#[from] SignatureError),
    #[error("the event is not valid JSON of a Stripe event")]
    BadPayload,
    #[error("could not record the event: {0}")]
    Ledger(#[from] LedgerError),
}

impl From<sqlx::Error> for WebhookError {
    fn from(e: sqlx::Error) -> Self {
        Self::Ledger(LedgerError::Db(e))
    }
}

impl WebhookError {
    /// 400 for deliveries that are not Stripe's (bad signature) or not JSON; 500 makes Stripe retry later.
    pub fn status(&self) -> u16 {
        match self {
            Self::Signature(_) | Self::BadPayload => 400,
            Self::Ledger(_) => 500,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// The account's paid total (and so maybe its rate tier) went up.
    Credited { user_id: i64 },
    /// This event id was handled before.
    Duplicate,
    /// Recorded, nothing to credit (other event types, unpaid sessions, unknown or mismatched orders).
    Ignored(String),
}

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: serde_json::Value,
}

/// Verifies and applies one webhook delivery.
pub async fn handle_webhook(
    db: &Db,
    secret: &str,
    payload: &[u8],
    signature: &str,
    now_ms: i64,
) -> Result<WebhookOutcome, WebhookError> {
    stripe_signature::verify(signature, payload, secret, now_ms / 1000, stripe_signature::TOLERANCE_SECS)?;
    let event: Event = serde_json::from_slice(payload).map_err(|_| WebhookError::BadPayload)?;
    let mut tx = db.pool().begin().await?;
    let fresh: Option<(String,)> = sqlx::query_as(
        "INSERT INTO stripe_events (event_id, event_type, received_at) VALUES ($1, $2, $3) \
         ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
    )
    .bind(&event.id)
    .bind(&event.kind)
    .bind(now_ms)
    .fetch_optional(&mut *tx)
    .await?;
    if fresh.is_none() {
        return Ok(WebhookOutcome::Duplicate);
    }
    let outcome = apply(&mut tx, &event, now_ms).await?;
    tx.commit().await?;
    match &outcome {
        WebhookOutcome::Credited { .. } => tracing::info!(event = %event.id, "top-up credited"),
        WebhookOutcome::Ignored(why) => {
            tracing::info!(event = %event.id, kind = %event.kind, %why, "stripe event recorded")
        }
        WebhookOutcome::Duplicate => {}
    }
    Ok(outcome)
}

async fn apply(tx: &mut sqlx::AnyConnection, event: &Event, now_ms: i64) -> Result<WebhookOutcome, WebhookError> {
    if !matches!(event.kind.as_str(), "checkout.session.completed" | "checkout.session.async_payment_succeeded") {
        return Ok(WebhookOutcome::Ignored("not a completed checkout".into()));
    }
    let o = &event.data.object;
    if o["payment_status"].as_str() != Some("paid") {
        return Ok(WebhookOutcome::Ignored("the session is not paid yet".into()));
    }
    let topup_id = o["metadata"]["topup_id"]
        .as_str()
        .or_else(|| o["client_reference_id"].as_str())
        .and_then(|s| s.parse::<i64>().ok());
    // A signed event of another integration on the same Stripe account (a Payment Link, say): record it
    // and answer 200, or Stripe would retry it for days.
    let (Some(topup_id), Some(session_id), Some(amount), Some(currency)) =
        (topup_id, o["id"].as_str(), o["amount_total"].as_i64(), o["currency"].as_str())
    else {
        tracing::warn!(event = %event.id, "paid checkout session without a Gatehouse order; not credited");
        return Ok(WebhookOutcome::Ignored("not a Gatehouse top-up".into()));
    };
    let done =
        topups::complete(tx, Payment { topup_id, session_id, amount_minor: amount, currency, now: now_ms }).await?;
    Ok(match done {
        Completion::Credited { user_id, .. } => WebhookOutcome::Credited { user_id },
        Completion::AlreadyCredited => WebhookOutcome::Ignored("the order was already credited".into()),
        Completion::Unknown => {
            tracing::warn!(topup_id, "paid checkout session for an unknown order");
            WebhookOutcome::Ignored("unknown order".into())
        }
        Completion::Mismatch(why) => {
            tracing::error!(%why, "paid amount does not match the order; not credited");
            WebhookOutcome::Ignored(why)
        }
    })
}

/// A `checkout.session.completed` event as Stripe sends it (dev-mode test payments and tests).
pub fn completed_event(event_id: &str, session_id: &str, topup_id: i64, amount_minor: i64, currency: &str) -> Vec<u8> {
    serde_json::json!({
        "id": event_id,
        "object": "event",
        "type": "checkout.session.completed",
        "data": { "object": {
            "id": session_id,
            "object": "checkout.session",
            "client_reference_id": topup_id.to_string(),
            "metadata": { "topup_id": topup_id.to_string() },
            "amount_total": amount_minor,
            "currency": currency.to_ascii_lowercase(),
            "payment_status": "paid",
            "status": "complete"
        }}
    })
    .to_string()
    .into_bytes()
}
