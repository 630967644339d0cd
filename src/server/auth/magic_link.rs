//! Magic-link login: issue a single-use 15-minute link (only its SHA-256 stored), show what it would do
//! without consuming it, and consume it atomically to log in.

use super::{session, users};
use crate::server::db::Db;
use crate::server::domain::ledger::{self, Credit, EntryKind};
use crate::server::domain::money::Money;
use crate::server::domain::referral::{self, Application, EmailPolicy, InviteCode, Promotion, ReferralError, Via};
use crate::server::error::internal;
use crate::server::mail::{login_email, Mailer};
use crate::server::secrets::{hash_token, random_token};
use crate::server::time::{now_ms, HOUR_MS, MINUTE_MS};
use crate::shared::dto::LoginLinkView;
use crate::shared::email::Email;
use crate::shared::error::AppError;
use crate::shared::next_path::safe_next;

pub const LINK_TTL_MINUTES: i64 = 15;
const LINK_TTL_MS: i64 = LINK_TTL_MINUTES * MINUTE_MS;

/// Per-hour sending limits.
#[derive(Clone, Copy, Debug)]
pub struct SendLimits {
    pub per_email: u32,
    pub per_ip: u32,
}

pub struct LinkRequest<'a> {
    pub email: &'a Email,
    pub next: &'a str,
    pub client_ip: &'a str,
    pub public_base_url: &'a str,
    pub log_link: bool,
    /// The invite acknowledged on `/i/CODE` before logging in, applied when the account is new.
    pub invite_ack_id: Option<i64>,
}

/// Sends a login link. Answers the same whether or not an account exists.
pub async fn request_link(db: &Db, mailer: &Mailer, limits: SendLimits, req: LinkRequest<'_>) -> Result<(), AppError> {
    let now = now_ms();
    let normalized = req.email.normalized();
    check_limit(db, "email_normalized", normalized, limits.per_email, now, "this email address").await?;
    check_limit(db, "client_ip", req.client_ip, limits.per_ip, now, "your network").await?;

    let token = random_token().map_err(|e| internal("no randomness for a login token", e))?;
    let expires_at = now + LINK_TTL_MS;
    let mut tx = db.pool().begin().await?;
    // "Send a new link" keeps the invitation (and where to land) of the link it replaces.
    let replaced: Vec<(Option<i64>, String)> = sqlx::query_as(
        "UPDATE login_tokens SET replaced_at = $1 WHERE email_normalized = $2 AND used_at IS NULL AND replaced_at IS NULL \
         RETURNING invite_ack_id, next_path",
    )
    .bind(now)
    .bind(normalized)
    .fetch_all(&mut *tx)
    .await?;
    let inherited = replaced.into_iter().find(|(ack, _)| ack.is_some());
    let invite_ack_id = req.invite_ack_id.or_else(|| inherited.as_ref().and_then(|(ack, _)| *ack));
    let next_path = match (&inherited, safe_next(req.next)) {
        (Some((_, old_next)), fresh) if req.invite_ack_id.is_none() && fresh == "/" => old_next.clone(),
        (_, fresh) => fresh,
    };
    sqlx::query(
        "INSERT INTO login_tokens (token_hash, email, email_normalized, next_path, client_ip, created_at, expires_at, \
         invite_ack_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(hash_token(&token))
    .bind(req.email.as_typed())
    .bind(normalized)
    .bind(&next_path)
    .bind(req.client_ip)
    .bind(now)
    .bind(expires_at)
    .bind(invite_ack_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    let link = format!("{}/auth/confirm?token={token}", req.public_base_url.trim_end_matches('/'));
    if req.log_link {
        tracing::info!(to = %req.email, %link, "dev mode: login link");
    }
    let email = login_email::build(req.email.as_typed(), &link, expires_at, LINK_TTL_MINUTES);
    mailer.send(email).await.map_err(|e| {
        tracing::error!(error = %e, "login email not sent");
        AppError::Unavailable("We could not send the email just now. Please try again in a minute.".into())
    })
}

async fn check_limit(db: &Db, column: &str, value: &str, limit: u32, now: i64, what: &str) -> Result<(), AppError> {
    let sql = format!("SELECT COUNT(*), MIN(created_at) FROM login_tokens WHERE {column} = $1 AND created_at > $2");
    let (count, oldest): (i64, Option<i64>) =
        sqlx::query_as(&sql).bind(value).bind(now - HOUR_MS).fetch_one(db.pool()).await?;
    if count < i64::from(limit) {
        return Ok(());
    }
    let wait_ms = (oldest.unwrap_or(now) + HOUR_MS - now).max(1000);
    let minutes = (wait_ms + MINUTE_MS - 1) / MINUTE_MS;
    let unit = if minutes == 1 { "minute" } else { "minutes" };
    Err(AppError::RateLimited {
        message: format!("Too many login emails for {what}. Try again in {minutes} {unit}."),
        retry_after_secs: u64::try_from(wait_ms / 1000).unwrap_or(60),
    })
}

/// What a link would do, for the confirm page. Never consumes the token.
pub async fn inspect(db: &Db, token: &str) -> Result<LoginLinkView, AppError> {
    let row: Option<(String, i64, Option<i64>, Option<i64>)> =
        sqlx::query_as("SELECT email, expires_at, used_at, replaced_at FROM login_tokens WHERE token_hash = $1")
            .bind(hash_token(token))
            .fetch_optional(db.pool())
            .await?;
    let now = now_ms();
    Ok(match row {
        None => LoginLinkView::Unknown,
        Some((_, _, Some(_), _)) => LoginLinkView::Used,
        Some((_, _, None, Some(_))) => LoginLinkView::Replaced,
        Some((_, expires_at, None, None)) if expires_at <= now => LoginLinkView::Expired,
        Some((email, expires_at, None, None)) => {
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
    rules: NewAccountRules<'_>,
) -> Result<Confirmed, AppError> {
    let welcome_balance = rules.welcome_balance;
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    let row: Option<(String, String, String, Option<i64>)> = sqlx::query_as(
        "UPDATE login_tokens SET used_at = $1 \
         WHERE token_hash = $2 AND used_at IS NULL AND replaced_at IS NULL AND expires_at > $1 \
         RETURNING email, email_normalized, next_path, invite_ack_id",
    )
    .bind(now)
    .bind(hash_token(token))
    .fetch_optional(&mut *tx)
    .await?;
    let Some((email, normalized, mut next, invite_ack_id)) = row else {
        tx.rollback().await?;
        let view = inspect(db, token).await?;
        return Err(AppError::Gone(view.refusal().to_string()));
    };
    let (user_id, new_account) = users::upsert_on_login(&mut tx, &email, &normalized, now).await?;
    if new_account && welcome_balance.is_positive() {
        let credit = Credit {
            user_id,
            key: &format!("welcome:{user_id}"),
            kind: EntryKind::Welcome,
            amount: welcome_balance,
            paid_minor: 0,
            memo: "Welcome balance",
            now,
        };
        ledger::credit(&mut tx, credit).await.map_err(|e| internal("welcome balance", e))?;
    }
    let mut inviter_id = None;
    if let Some(ack_id) = invite_ack_id {
        // An account that already existed still gets the invitation within the sign-up window.
        inviter_id = apply_invite(&mut tx, &rules, user_id, ack_id, now, new_account).await?;
        if inviter_id.is_none() && !new_account {
            next = "/i?invite=existing".to_string();
        }
    }
    let session_token = session::create_in(&mut tx, user_id, now, replaces_session).await?;
    tx.commit().await?;
    tracing::info!(user_id, new_account, "logged in");
    Ok(Confirmed { user_id, new_account, inviter_id, next: safe_next(&next), session_token })
}
