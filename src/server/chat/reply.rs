//! `GET /chat/replies/{id}/stream`: one web-chat reply as server-sent events, for the signed-in owner.
//!
//! The reply is an ordinary charged call on the `web-chat` channel: the same admission (rate tier, hold),
//! upstream routing and failover, metering and batched settlement as the API proxy (`proxy::call`), so it
//! is billed like any other call and the Bills page lists it as "Web chat". The browser gets small JSON
//! events: `{"t":"thinking","v":…}` and `{"t":"text","v":…}` pieces as they arrive, then `{"t":"done"}` or
//! `{"t":"error","v":message,"billing":bool}`.
//!
//! Ending: the whole answer is saved as `done`. When the person presses Stop (the browser closes the
//! stream), Gatehouse stops reading the upstream, bills what was generated and saves it as `stopped`.
//! A failure before any token is charged nothing; a stream that breaks after some text bills what came.

use super::models::{MAX_TOKENS, MAX_TOKENS_THINKING, THINKING_BUDGET};
use crate::i18n::{td_string, Locale};
use crate::server::auth::session::Session;
use crate::server::domain::charge::Refusal;
use crate::server::domain::chat::{self, ChatError, Finish, ReplyJob};
use crate::server::domain::ledger::CallOutcome;
use crate::server::proxy::call::CALLER_STALL;
use crate::server::proxy::call::{self, Ask};
use crate::server::proxy::chat_completions::chunk::{self, Chunk};
use crate::server::proxy::dialect::{Dialect, ProxyError};
use crate::server::proxy::messages::events::{Delta, Event, UsageReport};
use crate::server::proxy::metering::{Meter, Reported};
use crate::server::proxy::settlement_writer::CallGuard;
use crate::server::proxy::sse;
use crate::server::proxy::upstream::{Outgoing, UpstreamBody, UpstreamError};
use crate::server::state::AppState;
use crate::server::time::now_ms;
use crate::shared::text::fill;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::Instrument;

pub const CHANNEL: &str = "web-chat";

pub async fn stream(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Path(reply_id): Path<i64>,
    headers: HeaderMap,
) -> Response {
    // The reply's messages (a refusal, a failure) are written in the language of the page asking.
    let locale = crate::server::http::language::of_request(&headers);
    let user_id = match session.signed_in().await {
        Ok(id) => id,
        Err(crate::shared::error::AppError::Unauthorized) => {
            return (StatusCode::UNAUTHORIZED, td_string!(locale, chat.log_in_to_chat)).into_response()
        }
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    let rx = match begin(&state, user_id, reply_id, call::request_id_of(&headers), locale).await {
        Ok(rx) => rx,
        Err(ChatError::NotFound) => {
            return (StatusCode::NOT_FOUND, td_string!(locale, chat.no_such_reply)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "chat reply lookup failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<Bytes, std::io::Error>(b), rx))
    });
    ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], Body::from_stream(body))
        .into_response()
}

/// Starts writing the reply in a task of its own; its events arrive on the receiver, which closes when the
/// reply is saved. Dropping the receiver is the person pressing Stop.
async fn begin(
    state: &AppState,
    user_id: i64,
    reply_id: i64,
    request_id: Option<String>,
    locale: Locale,
) -> Result<mpsc::Receiver<Bytes>, ChatError> {
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    match chat::start_reply(state.db.pool(), user_id, reply_id).await {
        Ok(job) => {
            let running = state.gateway.begin_call();
            tokio::spawn(
                reply(state.clone(), Reply { user_id, reply_id, request_id, locale }, job, tx, running)
                    .in_current_span(),
            );
        }
        // A reconnecting browser, or a second tab: the reply is already being (or was) written.
        Err(ChatError::AlreadyStarted) => {
            let _ = tx.try_send(event(&json!({"t": "done"})));
        }
        Err(e) => return Err(e),
    }
    Ok(rx)
}

/// Writes the whole reply with no browser reading along (the chat form posted without JavaScript) and
/// returns once it is saved. Giving up on the wait does not stop the reply: it is read to its end by a
/// task of its own. Its messages are written in `locale`.
pub async fn write_whole(state: AppState, user_id: i64, reply_id: i64, request_id: Option<String>, locale: Locale) {
    match begin(&state, user_id, reply_id, request_id, locale).await {
        Ok(mut rx) => {
            let _ = tokio::spawn(async move { while rx.recv().await.is_some() {} }.in_current_span()).await;
        }
        Err(e) => tracing::warn!(error = %e, reply_id, "web chat: reply could not be started"),
    }
}

fn event(v: &Value) -> Bytes {
    sse::write(None, &v.to_string())
}

/// The request sent upstream, in the provider's dialect.
pub fn upstream_request(job: &ReplyJob, dialect: Dialect) -> (Value, u64) {
    let messages: Vec<Value> = job.history.iter().map(|(role, text)| json!({"role": role, "content": text})).collect();
    match dialect {
        Dialect::Anthropic => {
            let max_tokens = if job.thinking { MAX_TOKENS_THINKING } else { MAX_TOKENS };
            let mut r = json!({"model": job.model, "max_tokens": max_tokens, "stream": true, "messages": messages});
            if job.thinking {
                r["thinking"] = json!({"type": "enabled", "budget_tokens": THINKING_BUDGET});
            }
            (r, max_tokens)
        }
        Dialect::OpenAi => (
            json!({"model": job.model, "max_completion_tokens": MAX_TOKENS, "stream": true,
                   "stream_options": {"include_usage": true}, "messages": messages}),
            MAX_TOKENS,
        ),
    }
}

/// Text and thinking pieces in one upstream event, read once (also for the meter).
fn pieces(dialect: Dialect, data: &str, meter: &mut Meter) -> (Option<String>, Option<String>) {
    match dialect {
        Dialect::Anthropic => {
            let Some(e) = Event::parse(data) else { return (None, None) };
            e.meter(meter);
            match e {
                Event::BlockDelta { delta: Delta::Text(t), .. } => (Some(t.into_owned()), None),
                Event::BlockDelta { delta: Delta::Thinking(t), .. } => (None, Some(t.into_owned())),
                _ => (None, None),
            }
        }
        Dialect::OpenAi => {
            if chunk::is_done(data) {
                meter.finished = true;
            }
            let Some(c) = Chunk::parse(data) else { return (None, None) };
            c.meter(meter);
            (c.choices.first_text.map(|t| t.into_owned()), None)
        }
    }
}

/// What the person reads when a reply cannot be written (in `locale`), and whether Billing can help.
fn refusal(e: &ProxyError, locale: Locale) -> (String, bool) {
    match e {
        // Why: the balance is at or below zero, or running replies reserve what the account can pay.
        ProxyError::PaymentRequired(r) => (payment_refusal(r, locale), true),
        ProxyError::RateLimited { retry_after_secs, .. } => {
            (fill(td_string!(locale, chat.rate_limited), &[("secs", retry_after_secs)]), true)
        }
        // The proxy's own words (English, as the API answers them), introduced in the page's language.
        ProxyError::UnknownModel(m) | ProxyError::BadRequest(m) | ProxyError::Forbidden(m) => {
            (fill(td_string!(locale, chat.refused_detail), &[("detail", m)]), false)
        }
        ProxyError::Unavailable { retry_after_secs } => {
            (fill(td_string!(locale, chat.database_unavailable), &[("secs", retry_after_secs)]), false)
        }
        _ => (td_string!(locale, chat.internal_not_charged).to_string(), false),
    }
}

/// A 402's reason in `locale`. A web-chat reply has no key, so it is one of the two account refusals; any
/// other is shown in the proxy's words, introduced in `locale`.
fn payment_refusal(refusal: &Refusal, locale: Locale) -> String {
    match refusal {
        Refusal::BalanceNotPositive { balance } => {
            fill(td_string!(locale, chat.balance_not_positive), &[("balance", balance)])
        }
        Refusal::FundsReserved { balance, reserved } => {
            fill(td_string!(locale, chat.funds_reserved), &[("reserved", reserved), ("balance", balance)])
        }
        other => fill(td_string!(locale, chat.payment_refused_detail), &[("detail", &other.message())]),
    }
}

fn upstream_failure(e: &UpstreamError, locale: Locale) -> String {
    match e {
        UpstreamError::Status { status: 429, .. } => td_string!(locale, chat.provider_busy).to_string(),
        _ => td_string!(locale, chat.provider_failed_try_again).to_string(),
    }
}

/// Which reply is being written, for whom, the request id the browser's request carried, and the language
/// its messages are written in.
struct Reply {
    user_id: i64,
    reply_id: i64,
    request_id: Option<String>,
    locale: Locale,
}

async fn reply(state: AppState, r: Reply, job: ReplyJob, tx: mpsc::Sender<Bytes>, _running: CallGuard) {
    let Reply { user_id, reply_id, request_id, locale } = r;
    let dialect = call::provider_dialect(&job.model);
    let (request, max_tokens) = upstream_request(&job, dialect);
    let ask = Ask {
        user_id,
        key: None,
        channel: CHANNEL,
        model: job.model.clone(),
        kind: crate::server::domain::pricing::ModelKind::Chat,
        max_tokens: Some(max_tokens),
        choices: None,
        prompts: 1,
        request_bytes: request.to_string().len(),
        web_searches: 0,
        image: None,
        request_id,
    };
    let admitted = match call::admit(&state, ask).await {
        Ok(a) => a,
        Err(e) => {
            let (message, billing) = refusal(&e, locale);
            fail(&state, reply_id, &tx, &message, billing).await;
            return;
        }
    };
    let path = match dialect {
        Dialect::Anthropic => "/v1/messages",
        Dialect::OpenAi => "/v1/chat/completions",
    };
    let outgoing = Outgoing::json(&request);
    let answer = match state.gateway.upstreams().send(dialect, &job.model, path, &outgoing, &HeaderMap::new()).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, model = %job.model, "web chat: upstream failed before answering");
            call::release(&state, &admitted).await;
            fail(&state, reply_id, &tx, &upstream_failure(&e, locale), false).await;
            return;
        }
    };
    let mut meter = Meter::default();
    let (mut text, mut thinking) = (String::new(), String::new());
    let mut ending = Ending::Done;
    match answer.body {
        UpstreamBody::Json(bytes) => {
            // A provider that ignored `stream`: take the whole answer at once.
            let v: Value = serde_json::from_slice(&bytes).unwrap_or_default();
            match dialect {
                Dialect::Anthropic => {
                    if v["usage"].is_object() {
                        meter.report(UsageReport::of(&v["usage"]).usage());
                    }
                    for block in v["content"].as_array().into_iter().flatten() {
                        text.push_str(block["text"].as_str().unwrap_or(""));
                        thinking.push_str(block["thinking"].as_str().unwrap_or(""));
                    }
                }
                Dialect::OpenAi => {
                    if let Ok(u) = chunk::UsageReport::deserialize(&v["usage"]) {
                        meter.report(u.usage());
                    }
                    text.push_str(v["choices"][0]["message"]["content"].as_str().unwrap_or(""));
                }
            }
            // What the answer holds, should the provider report no usage (billed by the estimate).
            meter.output_chars = text.len() + thinking.len();
            let _ = send(&tx, event(&json!({"t": "thinking", "v": thinking}))).await;
            let _ = send(&tx, event(&json!({"t": "text", "v": text}))).await;
        }
        UpstreamBody::Stream(mut upstream) => {
            let mut parser = sse::Parser::default();
            'read: while let Some(chunk) = upstream.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "web chat: upstream stream broke");
                        ending = Ending::Broke;
                        break;
                    }
                };
                for ev in parser.push(&chunk) {
                    let (t, th) = pieces(dialect, &ev.data, &mut meter);
                    for (kind, piece, into) in [("thinking", th, &mut thinking), ("text", t, &mut text)] {
                        if let Some(piece) = piece.filter(|p| !p.is_empty()) {
                            into.push_str(&piece);
                            if !send(&tx, event(&json!({"t": kind, "v": piece}))).await {
                                // The person pressed Stop (or the page stopped reading): stop the upstream and
                                // bill what was made.
                                ending = Ending::Stopped;
                                break 'read;
                            }
                        }
                    }
                }
            }
        }
    }
    // Nothing came back (the stream broke or ended before any token, or the answer was not JSON): no charge.
    if text.is_empty() && thinking.is_empty() && !(meter.reported && matches!(ending, Ending::Done | Ending::Stopped)) {
        call::release(&state, &admitted).await;
        fail(&state, reply_id, &tx, td_string!(locale, chat.provider_failed), false).await;
        return;
    }
    let usage = meter.usage_for_billing(admitted.estimated_input);
    let outcome = match ending {
        Ending::Done => CallOutcome::Complete,
        Ending::Stopped => CallOutcome::Stopped,
        Ending::Broke => CallOutcome::UpstreamBroke,
    };
    call::settle(&state, &admitted, usage, outcome).await;
    let (status, error) = match ending {
        Ending::Done => ("done", None),
        Ending::Stopped => ("stopped", None),
        Ending::Broke => ("failed", Some((td_string!(locale, chat.connection_broke), false))),
    };
    save(&state, reply_id, &text, &thinking, status, error).await;
    let last = match error {
        Some((e, _)) => json!({"t": "error", "v": e, "billing": false}),
        None => json!({"t": "done"}),
    };
    let _ = send(&tx, event(&last)).await;
}

/// Sends one event to the page; false when it is gone or has not read for [`CALLER_STALL`] (a page that
/// stops reading never holds the reply, its upstream or its hold).
async fn send(tx: &mpsc::Sender<Bytes>, event: Bytes) -> bool {
    matches!(tokio::time::timeout(CALLER_STALL, tx.send(event)).await, Ok(Ok(())))
}

enum Ending {
    Done,
    Stopped,
    Broke,
}

async fn save(state: &AppState, reply_id: i64, text: &str, thinking: &str, status: &str, error: Option<(&str, bool)>) {
    let finish = Finish {
        reply_id,
        content: text,
        thinking,
        status,
        error: error.map(|e| e.0),
        error_billing: error.is_some_and(|e| e.1),
        now: now_ms(),
    };
    if let Err(e) = chat::finish_reply(state.db.pool(), finish).await {
        tracing::error!(error = %e, reply_id, "web chat: reply not saved");
    }
}

/// A reply that could not be written: saved with its error (shown in the conversation) and sent.
async fn fail(state: &AppState, reply_id: i64, tx: &mpsc::Sender<Bytes>, message: &str, billing: bool) {
    save(state, reply_id, "", "", "failed", Some((message, billing))).await;
    let _ = send(tx, event(&json!({"t": "error", "v": message, "billing": billing}))).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::domain::money::Money;

    #[test]
    fn account_refusals_read_as_the_proxy_words_them_in_english_and_are_translated() {
        let (five, two) = (Money::parse_usd("5").unwrap(), Money::parse_usd("2.50").unwrap());
        for r in [
            Refusal::BalanceNotPositive { balance: Money::ZERO },
            Refusal::BalanceNotPositive { balance: two.negated() },
            Refusal::FundsReserved { balance: two, reserved: five },
        ] {
            assert_eq!(payment_refusal(&r, Locale::en), r.message());
            let zh = payment_refusal(&r, Locale::zh);
            assert!(!zh.contains("Your balance") && !zh.contains("Calls you have"), "{zh}");
            assert!(zh.contains("$2.50") || zh.contains("$0.00"), "{zh}");
        }
    }

    #[test]
    fn refusals_and_failures_read_as_before_in_english() {
        let (m, billing) =
            refusal(&ProxyError::RateLimited { message: String::new(), retry_after_secs: 12 }, Locale::en);
        assert_eq!(m, "You have reached your requests-per-minute limit; try again in 12 s. Top-ups raise the limit.");
        assert!(billing);
        let (m, _) = refusal(&ProxyError::Unavailable { retry_after_secs: 3 }, Locale::en);
        assert_eq!(m, "Gatehouse cannot reach its database right now; you were not charged. Try again in 3 s.");
        let (m, _) = refusal(&ProxyError::BadRequest("No.".into()), Locale::en);
        assert_eq!(m, "No.");
        let (m, _) = refusal(&ProxyError::Internal, Locale::en);
        assert_eq!(m, "Something went wrong on our side; you were not charged. Please try again.");
    }
}
