//! Magic-link login: issue a single-use 15-minute link (only its SHA-256 stored), show what it would do
//! without consuming it, and consume it atomically to log in.

use super::send_limits::{self, SendLimits};
use super::{session, user_agent, users};
use crate::i18n::{td_string, Locale};
use crate::server::db::Db;
use crate::server::domain::ledger::{self, Credit, EntryKind};
use crate::server::domain::money::Money;
use crate::server::domain::referral::{self, Application, EmailPolicy, InviteCode, Promotion, ReferralError, Via};
use crate::server::error::internal;
use crate::server::http::language;
use crate::server::mail::{login_email, Mailer};
use crate::server::secrets::{hash_token, random_token};
use crate::server::time::{now_ms, MINUTE_MS};
use crate::shared::dto::LoginLinkView;
use crate::shared::email::Email;
use crate::shared::error::AppError;
use crate::shared::next_path::safe_next;
use axum::http::HeaderMap;

pub const LINK_TTL_MINUTES: i64 = 15;
const LINK_TTL_MS: i64 = LINK_TTL_MINUTES * MINUTE_MS;

pub struct LinkRequest<'a> {
    pub email: &'a Email,
    pub next: &'a str,
    /// The client's network (IPv4 address or IPv6 /64): what the per-address limits count.
    pub client_ip: &'a str,
    pub public_base_url: &'a str,
    pub log_link: bool,
    /// The browser asking, named in the email ("Chrome 131 on macOS, from 198.51.100.20").
    pub asked_by: &'a session::Browser,
}

/// The headers of the request being answered (its language cookie and `Accept-Language`); empty outside
/// one, which writes in the account's language or English.
fn request_headers() -> HeaderMap {
    leptos::prelude::use_context::<axum::http::request::Parts>().map(|p| p.headers).unwrap_or_default()
}

/// Sends a login link. Answers the same whether or not an account exists. Refusals are written in the
/// page's language; the email in the language chosen in this browser, else the account's, else the
/// browser's `Accept-Language`.
pub async fn request_link(db: &Db, mailer: &Mailer, limits: SendLimits, req: LinkRequest<'_>) -> Result<(), AppError> {
    let now = now_ms();
    let headers = request_headers();
    let page_locale = language::of_request(&headers);
    let normalized = req.email.normalized();
    let token = random_token().map_err(|e| internal("no randomness for a login token", e))?;
    let expires_at = now + LINK_TTL_MS;
    let mut tx = db.pool().begin().await?;
    send_limits::take(&mut tx, limits, normalized, req.client_ip, now, page_locale).await?;
    // "Send a new link" lands where the link it replaces would have. A link carries no invitation: the
    // browser that acknowledged one holds it (its cookie) and confirming there applies it, so nobody can
    // attach an invitation to another person's links.
    let replaced: Vec<(String,)> = sqlx::query_as(
        "UPDATE login_tokens SET replaced_at = $1 WHERE email_normalized = $2 AND used_at IS NULL AND replaced_at IS NULL \
         RETURNING next_path",
    )
    .bind(now)
    .bind(normalized)
    .fetch_all(&mut *tx)
    .await?;
    let next_path = match (replaced.into_iter().next(), safe_next(req.next)) {
        (Some((old_next,)), fresh) if fresh == "/" => old_next,
        (_, fresh) => fresh,
    };
    sqlx::query(
        "INSERT INTO login_tokens (token_hash, email, email_normalized, next_path, client_ip, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(hash_token(&token))
    .bind(req.email.as_typed())
    .bind(normalized)
    .bind(&next_path)
    .bind(req.client_ip)
    .bind(now)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    let link = format!("{}/auth/confirm?token={token}", req.public_base_url.trim_end_matches('/'));
    if req.log_link {
        tracing::info!(to = %req.email, %link, "dev mode: login link");
    }
    let account_locale = users::locale_of_email(db, normalized).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "could not read the account's language; the login email follows the browser");
        None
    });
    let locale = language::for_account(&headers, account_locale.as_deref());
    let asked_by = user_agent::described_in(&req.asked_by.user_agent, &req.asked_by.address, locale);
    let email = login_email::build(req.email.as_typed(), &link, expires_at, LINK_TTL_MINUTES, &asked_by, locale);
    mailer.send(email).await.map_err(|e| {
        tracing::error!(error = %e, "login email not sent");
        AppError::Unavailable(td_string!(page_locale, login.send_failed).to_string())
    })
}

/// Deletes login tokens that expired more than a day ago (the hourly sweep): the send limits count only
/// the last hour, and the confirm page can tell "expired" from "unknown" for a day.
pub async fn purge_expired(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM login_tokens WHERE expires_at < $1")
        .bind(now - 24 * 60 * MINUTE_MS)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected())
}

/// What a link would do, for the confirm page. Never consumes the token.
pub async fn inspect(db: &Db, token: &str) -> Result<LoginLinkView, AppError> {
    /// Email, expiry, used, replaced, and whether the account is disabled.
    type Link = (String, i64, Option<i64>, Option<i64>, i64);
    let row: Option<Link> = sqlx::query_as(
        "SELECT email, expires_at, used_at, replaced_at, \
         (SELECT COUNT(*) FROM users u WHERE u.email_normalized = t.email_normalized AND u.disabled_at IS NOT NULL) \
         FROM login_tokens t WHERE token_hash = $1",
    )
    .bind(hash_token(token))
    .fetch_optional(db.pool())
    .await?;
    let now = now_ms();
    Ok(match row {
        None => LoginLinkView::Unknown,
        Some((_, _, _, _, disabled)) if disabled > 0 => LoginLinkView::AccountDisabled,
        Some((_, _, Some(_), _, _)) => LoginLinkView::Used,
        Some((_, _, None, Some(_), _)) => LoginLinkView::Replaced,
        Some((_, expires_at, None, None, _)) if expires_at <= now => LoginLinkView::Expired,
        Some((email, expires_at, None, None, _)) => {
            LoginLinkView::Valid { email, expires_in_minutes: ((expires_at - now) + MINUTE_MS - 1) / MINUTE_MS }
        }
    })
}

#[derive(Debug)]
pub struct Confirmed {
    pub user_id: i64,
    pub new_account: bool,
    /// The inviter whose invitation this sign-up applied (their packages may have changed).
    pub inviter_id: Option<i64>,
    pub next: String,
    /// The new session's cookie value.
    pub session_token: String,
}

/// What a confirmed login may set up for a new account.
pub struct NewAccountRules<'a> {
    /// The invitation acknowledgement token the confirming browser holds (its cookie), if any.
    pub browser_ack: Option<&'a str>,
    pub welcome_balance: Money,
    pub promotion: &'a Promotion,
    pub email_policy: &'a EmailPolicy,
    pub client_ip: &'a str,
}

/// Consumes the link, creates the account if new (with its welcome balance and the invite it came
/// through), and replaces the caller's session, all in one transaction.
/// Applies the acknowledged invite to a brand-new account. A code disabled since the acknowledgement
/// only means no referral; the login itself goes ahead.
async fn apply_invite(
    tx: &mut sqlx::AnyConnection,
    rules: &NewAccountRules<'_>,
    user_id: i64,
    ack_id: i64,
    now: i64,
    new_account: bool,
) -> Result<Option<i64>, AppError> {
    // Each acknowledgement serves one account: a shared link with someone else's ticks applies nothing.
    let Some(code) = referral::claim_ack(tx, ack_id, user_id).await?.as_deref().and_then(InviteCode::parse) else {
        return Ok(None);
    };
    let application = Application {
        invitee_id: user_id,
        new_account,
        code: &code,
        ack_id: Some(ack_id),
        via: Via::Link,
        ip: rules.client_ip,
        now,
    };
    match referral::apply(tx, rules.promotion, rules.email_policy, application).await {
        Ok(applied) => Ok(Some(applied.inviter_id)),
        Err(
            ReferralError::UnknownCode
            | ReferralError::OwnCode
            | ReferralError::AlreadyReferred
            | ReferralError::Mutual
            | ReferralError::WindowClosed(_),
        ) => Ok(None),
        Err(e) => Err(internal("referral at sign-up", e)),
    }
}

pub async fn confirm(
    db: &Db,
    token: &str,
    replaces_session: Option<&str>,
    browser: &session::Browser,
    rules: NewAccountRules<'_>,
) -> Result<Confirmed, AppError> {
    let welcome_balance = rules.welcome_balance;
    let now = now_ms();
    // The language of the page confirming: refusals are written in it, and a new account keeps it.
    let locale = language::of_request(&request_headers());
    let mut tx = db.pool().begin().await?;
    let row: Option<(String, String, String)> = sqlx::query_as(
        "UPDATE login_tokens SET used_at = $1 \
         WHERE token_hash = $2 AND used_at IS NULL AND replaced_at IS NULL AND expires_at > $1 \
         RETURNING email, email_normalized, next_path",
    )
    .bind(now)
    .bind(hash_token(token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((email, normalized, mut next)) = row else {
        tx.rollback().await?;
        let view = inspect(db, token).await?;
        return Err(AppError::Gone(view.refusal(locale).to_string()));
    };
    let (user_id, new_account) = users::upsert_on_login(&mut tx, &email, &normalized, now).await?;
    if users::is_disabled(&mut tx, user_id).await? {
        tx.rollback().await?;
        return Err(AppError::Gone(LoginLinkView::AccountDisabled.refusal(locale).to_string()));
    }
    if new_account && welcome_balance.is_positive() {
        let credit = Credit {
            user_id,
            key: &format!("welcome:{user_id}"),
            kind: EntryKind::Welcome,
            amount: welcome_balance,
            paid_minor: 0,
            memo: "",
            now,
        };
        ledger::credit(&mut tx, credit).await.map_err(|e| internal("welcome balance", e))?;
    }
    let mut inviter_id = None;
    // The invitation applies only in the browser that acknowledged it: the one this browser holds (its
    // cookie), whichever link it confirms. A link someone asked for another person's address, with their
    // own acknowledgement, applies nothing in that person's browser.
    let acknowledged_here = match rules.browser_ack {
        Some(token) => match referral::ack_by_token_in(&mut tx, token, now).await? {
            referral::AckState::Usable(id) => Some(id),
            _ => None,
        },
        None => None,
    };
    if let Some(ack_id) = acknowledged_here {
        // An account that already existed still gets the invitation within the sign-up window.
        inviter_id = apply_invite(&mut tx, &rules, user_id, ack_id, now, new_account).await?;
        if inviter_id.is_none() && !new_account {
            next = "/i?invite=existing".to_string();
        }
    }
    let session_token = session::create_in(&mut tx, user_id, now, replaces_session, browser).await?;
    tx.commit().await?;
    tracing::info!(user_id, new_account, "logged in");
    keep_language(db, user_id, &normalized, locale).await;
    Ok(Confirmed { user_id, new_account, inviter_id, next: safe_next(&next), session_token })
}

/// Keeps the confirming page's language on an account that has none yet, so its emails are written in it.
/// Best effort: the login has happened either way.
async fn keep_language(db: &Db, user_id: i64, normalized: &str, locale: Locale) {
    match users::locale_of_email(db, normalized).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            if let Err(e) = users::set_locale(db, user_id, crate::i18n::I18nLocaleTrait::as_str(locale)).await {
                tracing::warn!(error = %e, "could not keep the account's language");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not read the account's language"),
    }
}
