//! The referral program: invite codes, the rules of the current promotion, who qualifies, and the
//! rewards both sides get (a resource package each, granted once through the ledger).

use super::channels::Scope;
use super::ledger::{self, Grant, LedgerError};
use super::money::Money;
use super::packages::PackageSource;
use crate::server::secrets::hash_token;
use sqlx::{AnyConnection, AnyPool};
use std::collections::HashSet;

/// No 0/O and no 1/I/L: codes are read and typed by people.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
pub const CODE_LEN: usize = 8;

/// An invite code as typed: upper-cased, spaces removed, checked against the alphabet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InviteCode(String);

impl InviteCode {
    pub fn parse(text: &str) -> Option<Self> {
        let code: String = text.trim().chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
        (code.len() == CODE_LEN && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(Self(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; CODE_LEN];
        getrandom::fill(&mut bytes)?;
        // Rejection-free mapping: the small modulo bias does not matter for a public, non-secret code.
        Ok(Self(bytes.iter().map(|b| char::from(CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()])).collect()))
    }
}

/// The promotion in force (from settings).
#[derive(Clone, Debug)]
pub struct Promotion {
    pub enabled: bool,
    pub reward: Money,
    pub title: String,
    pub scope: Scope,
    pub lifetime_days: i64,
    pub starts_at: Option<i64>,
    pub ends_at: Option<i64>,
    /// How long after sign-up a code can still be entered by hand.
    pub apply_window_ms: i64,
    /// Rewarded sign-ups per network (IPv4 address or IPv6 /64) per day; beyond it referrals are held for
    /// review.
    pub ip_daily_cap: u32,
    /// Rewarded referrals per inviter per day; beyond it they are held for review.
    pub inviter_daily_cap: u32,
}

impl Promotion {
    pub fn is_running(&self, now: i64) -> bool {
        self.enabled && self.starts_at.is_none_or(|s| now >= s) && self.ends_at.is_none_or(|e| now < e)
    }
}

/// Which email addresses qualify: not at a disposable domain, nor at a relay, alias or catch-all service
/// (unless the operator allows those), each with its subdomains; and at an allowed provider when the
/// operator keeps an allowlist.
#[derive(Clone, Debug, Default)]
pub struct EmailPolicy {
    disposable: HashSet<String>,
    /// Relay and alias services; empty when the operator lets them qualify.
    relays: HashSet<String>,
    allowlist: Option<HashSet<String>>,
}

pub const SHIPPED_DISPOSABLE_DOMAINS: &str = include_str!("../../../config/disposable-domains.txt");
pub const SHIPPED_RELAY_DOMAINS: &str = include_str!("../../../config/relay-domains.txt");

/// The domains of a list: one per line, `#` comments.
fn domains(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().trim_start_matches('@').to_ascii_lowercase())
        .filter(|l| !l.is_empty())
        .collect()
}

/// `domain` or a domain it is under (`x.addy.io` is under `addy.io`), if `set` holds one.
fn listed(set: &HashSet<String>, domain: &str) -> bool {
    let mut suffix = domain;
    loop {
        if set.contains(suffix) {
            return true;
        }
        match suffix.split_once('.') {
            Some((_, rest)) if rest.contains('.') => suffix = rest,
            _ => return false,
        }
    }
}

impl EmailPolicy {
    pub fn new(disposable_lists: &[&str], allowlist: Option<&str>) -> Self {
        let disposable = disposable_lists.iter().flat_map(|t| domains(t)).collect();
        let allowlist =
            allowlist.map(|a| a.split(',').flat_map(domains).collect::<HashSet<String>>()).filter(|a| !a.is_empty());
        Self { disposable, relays: HashSet::new(), allowlist }
    }

    /// Relay and alias services whose addresses do not qualify.
    pub fn with_relays(mut self, relay_lists: &[&str]) -> Self {
        self.relays = relay_lists.iter().flat_map(|t| domains(t)).collect();
        self
    }

    /// Why an address at `domain` does not qualify, if it does not.
    pub fn refusal(&self, domain: &str) -> Option<Why> {
        let domain = domain.to_ascii_lowercase();
        if listed(&self.disposable, &domain) {
            return Some(Why::DisposableDomain(domain));
        }
        if listed(&self.relays, &domain) {
            return Some(Why::RelayDomain(domain));
        }
        match &self.allowlist {
            Some(allowed) if !allowed.contains(&domain) => Some(Why::NotOnList(domain)),
            _ => None,
        }
    }
}

/// Why a referral was not rewarded, or waits for an operator. Stored as a short code with its data
/// (`disposable:mailinator.com`, `network_cap:3`) and worded by the pages in the reader's language.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    PromotionOff,
    /// The invitee is the inviter under another address.
    SamePerson,
    DisposableDomain(String),
    /// A relay or alias service: the person should sign up with the address it forwards to.
    RelayDomain(String),
    /// The promotion lists the providers that qualify, and this one is not among them.
    NotOnList(String),
    /// More rewarded referrals by one inviter today than the promotion allows.
    InviterCap(u32),
    /// More rewarded sign-ups from one network today than the promotion allows.
    NetworkCap(u32),
    /// An operator's own words (a rejection), or a reason written as a sentence before reasons were data.
    Written(String),
}

impl Why {
    pub fn stored(&self) -> String {
        match self {
            Self::PromotionOff => "promotion_off".into(),
            Self::SamePerson => "same_person".into(),
            Self::DisposableDomain(d) => format!("disposable:{d}"),
            Self::RelayDomain(d) => format!("relay:{d}"),
            Self::NotOnList(d) => format!("not_on_list:{d}"),
            Self::InviterCap(n) => format!("inviter_cap:{n}"),
            Self::NetworkCap(n) => format!("network_cap:{n}"),
            Self::Written(t) => t.clone(),
        }
    }

    pub fn read(stored: &str) -> Self {
        let domain = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b));
        match stored.split_once(':').unwrap_or((stored, "")) {
            ("promotion_off", "") => Self::PromotionOff,
            ("same_person", "") => Self::SamePerson,
            ("disposable", d) if domain(d) => Self::DisposableDomain(d.into()),
            ("relay", d) if domain(d) => Self::RelayDomain(d.into()),
            ("not_on_list", d) if domain(d) => Self::NotOnList(d.into()),
            ("inviter_cap", n) if n.parse::<u32>().is_ok() => Self::InviterCap(n.parse().unwrap_or(0)),
            ("network_cap", n) if n.parse::<u32>().is_ok() => Self::NetworkCap(n.parse().unwrap_or(0)),
            _ => Self::Written(stored.into()),
        }
    }
}

/// What happens to one referral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Rewarded,
    /// Recorded, but waits for an operator (e.g. too many sign-ups from one IP today).
    Held(Why),
    NotQualified(Why),
}

impl Verdict {
    pub fn status(&self) -> &'static str {
        match self {
            Self::Rewarded => "rewarded",
            Self::Held(_) => "held",
            Self::NotQualified(_) => "not_qualified",
        }
    }

    /// The stored reason: empty when rewarded.
    pub fn reason(&self) -> String {
        match self {
            Self::Rewarded => String::new(),
            Self::Held(why) | Self::NotQualified(why) => why.stored(),
        }
    }
}

/// The facts a verdict rests on.
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    pub promotion_running: bool,
    pub invitee_domain: &'a str,
    pub invitee_email: &'a str,
    pub inviter_email: &'a str,
}

pub fn judge(policy: &EmailPolicy, f: &Facts<'_>) -> Verdict {
    if !f.promotion_running {
        return Verdict::NotQualified(Why::PromotionOff);
    }
    if f.invitee_email.eq_ignore_ascii_case(f.inviter_email) {
        return Verdict::NotQualified(Why::SamePerson);
    }
    if let Some(why) = policy.refusal(f.invitee_domain) {
        return Verdict::NotQualified(why);
    }
    Verdict::Rewarded
}

fn over_inviter_cap(promotion: &Promotion) -> Verdict {
    Verdict::Held(Why::InviterCap(promotion.inviter_daily_cap))
}

/// Referrals of `inviter_id` rewarded today (UTC). Read while the inviter's account row is locked, so two
/// sign-ups at once cannot both see room for one.
async fn rewarded_today(conn: &mut AnyConnection, inviter_id: i64, now: i64) -> Result<i64, sqlx::Error> {
    let day_start = now - now.rem_euclid(86_400_000);
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM referrals WHERE inviter_id = $1 AND status = 'rewarded' AND created_at >= $2",
    )
    .bind(inviter_id)
    .bind(day_start)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n)
}

fn over_ip_cap(promotion: &Promotion) -> Verdict {
    Verdict::Held(Why::NetworkCap(promotion.ip_daily_cap))
}

/// Takes one of the IP's rewarded sign-ups for today, atomically; false when the cap is reached.
async fn take_ip_slot(conn: &mut AnyConnection, ip: &str, cap: u32, now: i64) -> Result<bool, sqlx::Error> {
    if cap == 0 {
        return Ok(false);
    }
    let taken: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO referral_ip_days (ip, day, rewarded) VALUES ($1, $2, 1) ON CONFLICT (ip, day) \
         DO UPDATE SET rewarded = referral_ip_days.rewarded + 1 WHERE referral_ip_days.rewarded < $3 RETURNING rewarded",
    )
    .bind(ip)
    .bind(now.div_euclid(86_400_000))
    .bind(i64::from(cap))
    .fetch_optional(&mut *conn)
    .await?;
    Ok(taken.is_some())
}

#[derive(Debug, thiserror::Error)]
pub enum ReferralError {
    #[error("There is no invitation with that code. Check it and try again.")]
    UnknownCode,
    #[error("That is your own invitation code. Share it with friends instead.")]
    OwnCode,
    #[error("An invitation has already been applied to your account.")]
    AlreadyReferred,
    #[error("Invitation codes can only be entered within {0} days of signing up.")]
    WindowClosed(i64),
    #[error("You invited this person, so you cannot also join through their invitation.")]
    Mutual,
    #[error("An invite code could not be created just now. Please try again.")]
    NoCode,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl From<sqlx::Error> for ReferralError {
    fn from(e: sqlx::Error) -> Self {
        Self::Ledger(LedgerError::Db(e))
    }
}

/// The account's invite code, created on first use (random, so it never reveals the account id).
pub async fn code_for(pool: &AnyPool, user_id: i64, now: i64) -> Result<String, ReferralError> {
    for _ in 0..8 {
        let existing: Option<(String,)> = sqlx::query_as("SELECT code FROM invite_codes WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
        if let Some((code,)) = existing {
            return Ok(code);
        }
        let candidate = InviteCode::random().map_err(|_| ReferralError::NoCode)?;
        // A clash with another account's code (or a concurrent first visit) inserts nothing; look again.
        sqlx::query("INSERT INTO invite_codes (user_id, code, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(user_id)
            .bind(candidate.as_str())
            .bind(now)
            .execute(pool)
            .await?;
    }
    Err(ReferralError::NoCode)
}

/// The owner of an enabled code.
pub async fn inviter_of(conn: &mut AnyConnection, code: &InviteCode) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT user_id FROM invite_codes WHERE code = $1 AND disabled = 0")
        .bind(code.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.map(|r| r.0))
}

/// Visitors recorded per code and day at most: beyond it a code's page still opens, uncounted (a script
/// changing its user agent cannot grow the table without bound).
pub const MAX_VISITORS_PER_DAY: i64 = 1000;
/// Days of visits kept row by row; older days are folded into the code's count and deleted.
pub const VISIT_DAYS_KEPT: i64 = 7;

/// Counts a visit to `/i/CODE` once per visitor per day.
pub async fn record_visit(pool: &AnyPool, code: &InviteCode, visitor: &str, now: i64) -> Result<(), sqlx::Error> {
    let day = now.div_euclid(86_400_000);
    sqlx::query(
        "INSERT INTO invite_visits (code, visitor_hash, day) SELECT $1, $2, $3 \
         WHERE (SELECT COUNT(*) FROM invite_visits WHERE code = $1 AND day = $3) < $4 ON CONFLICT DO NOTHING",
    )
    .bind(code.as_str())
    .bind(hash_token(visitor))
    .bind(day)
    .bind(MAX_VISITORS_PER_DAY)
    .execute(pool)
    .await?;
    Ok(())
}

/// Folds visits older than [`VISIT_DAYS_KEPT`] days into each code's count and deletes their rows (the
/// hourly sweep), in one transaction.
pub async fn fold_old_visits(pool: &AnyPool, now: i64) -> Result<u64, sqlx::Error> {
    let cut = now.div_euclid(86_400_000) - VISIT_DAYS_KEPT;
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE invite_codes SET visits_folded = visits_folded + \
         (SELECT COUNT(*) FROM invite_visits v WHERE v.code = invite_codes.code AND v.day < $1) \
         WHERE code IN (SELECT code FROM invite_visits WHERE day < $1)",
    )
    .bind(cut)
    .execute(&mut *tx)
    .await?;
    let done = sqlx::query("DELETE FROM invite_visits WHERE day < $1").bind(cut).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(done.rows_affected())
}

/// Records "I Understand" for the notes the person was shown; `token` (random, from the caller) travels
/// through login. The notes are written per language, each with its own version: `notes_version` and
/// `notes_locale` (`en`, `zh`, `ja`) say which text was acknowledged.
pub async fn record_ack(
    pool: &AnyPool,
    code: &InviteCode,
    token: &str,
    notes_version: &str,
    notes_locale: &str,
    ip: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO invite_acks (token_hash, code, notes_version, notes_locale, client_ip, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(hash_token(token))
    .bind(code.as_str())
    .bind(notes_version)
    .bind(notes_locale)
    .bind(ip)
    .bind(now)
    .fetch_one(pool)
    .await?;
    Ok(id)
}

/// How long an acknowledgement stays good for a login link.
pub const ACK_TTL_MS: i64 = 86_400_000;

/// What an acknowledgement token stands for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckState {
    /// Recent (a day) and unused: its id.
    Usable(i64),
    /// An account already signed up with it.
    Used,
    /// Unknown, or older than a day.
    Gone,
}

pub async fn ack_by_token(pool: &AnyPool, token: &str, now: i64) -> Result<AckState, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    ack_by_token_in(&mut conn, token, now).await
}

/// [`ack_by_token`] inside a transaction.
pub async fn ack_by_token_in(conn: &mut AnyConnection, token: &str, now: i64) -> Result<AckState, sqlx::Error> {
    let row: Option<(i64, i64, Option<i64>)> =
        sqlx::query_as("SELECT id, created_at, used_by FROM invite_acks WHERE token_hash = $1")
            .bind(hash_token(token))
            .fetch_optional(&mut *conn)
            .await?;
    Ok(match row {
        Some((_, _, Some(_))) => AckState::Used,
        Some((id, created_at, None)) if created_at > now - ACK_TTL_MS => AckState::Usable(id),
        _ => AckState::Gone,
    })
}

/// Deletes acknowledgements nobody signed up with that are past their day (the hourly sweep); used ones
/// stay with the referral they explain.
pub async fn purge_unused_acks(pool: &AnyPool, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM invite_acks WHERE used_by IS NULL AND created_at < $1")
        .bind(now - 2 * ACK_TTL_MS)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// Claims an acknowledgement for one account and returns its code; `None` when another account used it.
pub async fn claim_ack(conn: &mut AnyConnection, ack_id: i64, user_id: i64) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("UPDATE invite_acks SET used_by = $1 WHERE id = $2 AND used_by IS NULL RETURNING code")
            .bind(user_id)
            .bind(ack_id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(|r| r.0))
}

/// How the code reached the invitee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// Through `/i/CODE` and the login flow.
    Link,
    /// Typed into the box on `/i`.
    Manual,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Self::Link => "link",
            Self::Manual => "manual",
        }
    }
}

pub struct Application<'a> {
    pub invitee_id: i64,
    /// Created by this very login (then the sign-up window does not apply).
    pub new_account: bool,
    pub code: &'a InviteCode,
    pub ack_id: Option<i64>,
    pub via: Via,
    pub ip: &'a str,
    pub now: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub referral_id: i64,
    pub inviter_id: i64,
    pub verdict: Verdict,
}

/// Applies an invite code to an account inside the caller's transaction: records the referral with its
/// verdict, and when it qualifies grants both packages. A second application for the same invitee (a
/// repeat or a concurrent one) is refused and grants nothing.
pub async fn apply(
    conn: &mut AnyConnection,
    promotion: &Promotion,
    policy: &EmailPolicy,
    a: Application<'_>,
) -> Result<Applied, ReferralError> {
    // Lock the invitee's account row before reading anything, so concurrent applications for one invitee
    // queue up (and SQLite takes its write lock up front instead of failing to upgrade a read).
    ledger::lock_account(conn, a.invitee_id).await?;
    let inviter_id = inviter_of(conn, a.code).await?.ok_or(ReferralError::UnknownCode)?;
    if inviter_id == a.invitee_id {
        return Err(ReferralError::OwnCode);
    }
    ledger::lock_account(conn, inviter_id).await?;
    let mutual: Option<(i64,)> = sqlx::query_as("SELECT id FROM referrals WHERE inviter_id = $1 AND invitee_id = $2")
        .bind(a.invitee_id)
        .bind(inviter_id)
        .fetch_optional(&mut *conn)
        .await?;
    if mutual.is_some() {
        return Err(ReferralError::Mutual);
    }
    let (invitee_email, invitee_created): (String, i64) =
        sqlx::query_as("SELECT email_normalized, created_at FROM users WHERE id = $1")
            .bind(a.invitee_id)
            .fetch_one(&mut *conn)
            .await?;
    let (inviter_email,): (String,) = sqlx::query_as("SELECT email_normalized FROM users WHERE id = $1")
        .bind(inviter_id)
        .fetch_one(&mut *conn)
        .await?;
    if !a.new_account && a.now - invitee_created > promotion.apply_window_ms {
        return Err(ReferralError::WindowClosed(promotion.apply_window_ms / 86_400_000));
    }
    let already: Option<(i64,)> = sqlx::query_as("SELECT id FROM referrals WHERE invitee_id = $1")
        .bind(a.invitee_id)
        .fetch_optional(&mut *conn)
        .await?;
    if already.is_some() {
        return Err(ReferralError::AlreadyReferred);
    }
    let domain = invitee_email.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    let facts = Facts {
        promotion_running: promotion.is_running(a.now),
        invitee_domain: domain,
        invitee_email: &invitee_email,
        inviter_email: &inviter_email,
    };
    let mut verdict = judge(policy, &facts);
    if verdict == Verdict::Rewarded
        && rewarded_today(conn, inviter_id, a.now).await? >= i64::from(promotion.inviter_daily_cap)
    {
        verdict = over_inviter_cap(promotion);
    }
    if verdict == Verdict::Rewarded && !take_ip_slot(conn, a.ip, promotion.ip_daily_cap, a.now).await? {
        verdict = over_ip_cap(promotion);
    }
    let inserted: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO referrals (inviter_id, invitee_id, code, ack_id, via, status, reason, invitee_ip, created_at, decided_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (invitee_id) DO NOTHING RETURNING id",
    )
    .bind(inviter_id)
    .bind(a.invitee_id)
    .bind(a.code.as_str())
    .bind(a.ack_id)
    .bind(a.via.as_str())
    .bind(verdict.status())
    .bind(verdict.reason())
    .bind(a.ip)
    .bind(a.now)
    .bind((verdict == Verdict::Rewarded).then_some(a.now))
    .fetch_optional(&mut *conn)
    .await?;
    let referral_id = inserted.ok_or(ReferralError::AlreadyReferred)?.0;
    if verdict == Verdict::Rewarded {
        reward(conn, promotion, referral_id, inviter_id, a.invitee_id, a.now).await?;
    }
    tracing::info!(referral_id, status = verdict.status(), "referral recorded");
    Ok(Applied { referral_id, inviter_id, verdict })
}

/// Grants the promotion's package to both sides, once each (idempotency keys per referral and side).
async fn reward(
    conn: &mut AnyConnection,
    promotion: &Promotion,
    referral_id: i64,
    inviter_id: i64,
    invitee_id: i64,
    now: i64,
) -> Result<(), ReferralError> {
    for (user_id, side) in [(invitee_id, "invitee"), (inviter_id, "inviter")] {
        ledger::grant_package(
            conn,
            Grant {
                user_id,
                key: &format!("referral:{referral_id}:{side}"),
                title: &promotion.title,
                scope: &promotion.scope,
                amount: promotion.reward,
                lifetime_ms: promotion.lifetime_days * 86_400_000,
                source: PackageSource::Referral,
                now,
            },
        )
        .await?;
    }
    Ok(())
}

/// What an operator's decision on a referral did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    NoSuchReferral,
    /// The referral was already decided (its status); nothing changed.
    NotHeld(String),
    /// Approved (both packages granted) or rejected; the two accounts whose packages may have changed.
    Decided {
        status: &'static str,
        inviter_id: i64,
        invitee_id: i64,
    },
}

/// Operator decision on a held referral, inside the caller's transaction: approve grants both packages,
/// reject records why (`reason`, shown to the inviter).
pub async fn decide(
    conn: &mut AnyConnection,
    promotion: &Promotion,
    referral_id: i64,
    approve: bool,
    reason: &str,
    now: i64,
) -> Result<Decision, ReferralError> {
    // A no-op write first: it takes the row (PostgreSQL) or database (SQLite) write lock before reading.
    let row: Option<(i64, i64, String)> =
        sqlx::query_as("UPDATE referrals SET status = status WHERE id = $1 RETURNING inviter_id, invitee_id, status")
            .bind(referral_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((inviter_id, invitee_id, status)) = row else {
        return Ok(Decision::NoSuchReferral);
    };
    if status != "held" {
        return Ok(Decision::NotHeld(status));
    }
    let new_status = if approve { "rewarded" } else { "rejected" };
    // The status says approved or rejected; an operator's reason (a rejection's) is kept as written.
    let reason = if approve { "" } else { reason.trim() };
    sqlx::query("UPDATE referrals SET status = $1, reason = $2, decided_at = $3 WHERE id = $4 AND status = 'held'")
        .bind(new_status)
        .bind(reason)
        .bind(now)
        .bind(referral_id)
        .execute(&mut *conn)
        .await?;
    if approve {
        reward(conn, promotion, referral_id, inviter_id, invitee_id, now).await?;
    }
    Ok(Decision::Decided { status: new_status, inviter_id, invitee_id })
}

/// One referral as the inviter (or the operator) sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferralRow {
    pub id: i64,
    pub inviter_email: String,
    pub invitee_email: String,
    pub created_at: i64,
    pub status: String,
    pub reason: String,
    pub via: String,
}

type Row = (i64, String, String, i64, String, String, String);

const ROW_SQL: &str = "SELECT r.id, a.email, b.email, r.created_at, r.status, r.reason, r.via FROM referrals r \
    JOIN users a ON a.id = r.inviter_id JOIN users b ON b.id = r.invitee_id";

fn to_row(r: Row) -> ReferralRow {
    ReferralRow { id: r.0, inviter_email: r.1, invitee_email: r.2, created_at: r.3, status: r.4, reason: r.5, via: r.6 }
}

pub async fn invitees_of(pool: &AnyPool, inviter_id: i64) -> Result<Vec<ReferralRow>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!("{ROW_SQL} WHERE r.inviter_id = $1 ORDER BY r.id DESC LIMIT 500"))
        .bind(inviter_id)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(to_row).collect())
}

/// Every referral, optionally of one status, newest first (for the operator).
pub async fn all(pool: &AnyPool, status: Option<&str>) -> Result<Vec<ReferralRow>, sqlx::Error> {
    let rows: Vec<Row> = match status {
        Some(s) => {
            sqlx::query_as(&format!("{ROW_SQL} WHERE r.status = $1 ORDER BY r.id DESC")).bind(s).fetch_all(pool).await?
        }
        None => sqlx::query_as(&format!("{ROW_SQL} ORDER BY r.id DESC")).fetch_all(pool).await?,
    };
    Ok(rows.into_iter().map(to_row).collect())
}

/// The latest decided referrals (any status but held), newest first.
pub async fn decided(pool: &AnyPool, limit: i64) -> Result<Vec<ReferralRow>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!("{ROW_SQL} WHERE r.status <> 'held' ORDER BY r.id DESC LIMIT $1"))
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(to_row).collect())
}

/// The referral applied to an account, if any: (inviter's code, status).
pub async fn referral_of(pool: &AnyPool, invitee_id: i64) -> Result<Option<(String, String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT code, status, reason FROM referrals WHERE invitee_id = $1")
        .bind(invitee_id)
        .fetch_optional(pool)
        .await
}

/// (signed up, qualified) through an inviter's code.
pub async fn counts(pool: &AnyPool, inviter_id: i64) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN status = 'rewarded' THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM referrals WHERE inviter_id = $1",
    )
    .bind(inviter_id)
    .fetch_one(pool)
    .await
}

/// The packages an account got from the referral program: (package id, true when earned as the inviter).
pub async fn reward_packages(pool: &AnyPool, user_id: i64) -> Result<Vec<(i64, bool)>, sqlx::Error> {
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, operation_key FROM packages WHERE user_id = $1 AND operation_key LIKE 'referral:%'")
            .bind(user_id)
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().map(|(id, key)| (id, key.ends_with(":inviter"))).collect())
}

/// What turning an invite code off (or on) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeChange {
    NoSuchCode,
    /// It already was that way.
    Unchanged,
    Changed,
}

/// Turns an account's invite code off (or on again).
pub async fn set_code_disabled(
    conn: &mut AnyConnection,
    code: &InviteCode,
    disabled: bool,
) -> Result<CodeChange, sqlx::Error> {
    let done = sqlx::query("UPDATE invite_codes SET disabled = $1 WHERE code = $2 AND disabled <> $1")
        .bind(i64::from(disabled))
        .bind(code.as_str())
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 1 {
        return Ok(CodeChange::Changed);
    }
    let found: Option<(i64,)> = sqlx::query_as("SELECT disabled FROM invite_codes WHERE code = $1")
        .bind(code.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(if found.is_some() { CodeChange::Unchanged } else { CodeChange::NoSuchCode })
}

/// People who opened the inviter's link: distinct visitors of the last [`VISIT_DAYS_KEPT`] days, plus the
/// daily visitors of older days (folded).
pub async fn visitors(pool: &AnyPool, code: &str) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COALESCE((SELECT visits_folded FROM invite_codes WHERE code = $1), 0) + \
         (SELECT COUNT(DISTINCT visitor_hash) FROM invite_visits WHERE code = $1)",
    )
    .bind(code)
    .fetch_one(pool)
    .await?;
    Ok(n)
}

/// `a***@gmail.com`: enough for the inviter to recognise a friend, not enough to harvest addresses.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn promotion() -> Promotion {
        Promotion {
            enabled: true,
            reward: Money::usd(20),
            title: "Claude Code API $20".into(),
            scope: Scope::parse(super::super::channels::CLAUDE_CODE_SCOPE).unwrap(),
            lifetime_days: 30,
            starts_at: None,
            ends_at: None,
            apply_window_ms: 7 * 86_400_000,
            ip_daily_cap: 3,
            inviter_daily_cap: 10,
        }
    }

    fn facts<'a>(domain: &'a str, email: &'a str) -> Facts<'a> {
        Facts {
            promotion_running: true,
            invitee_domain: domain,
            invitee_email: email,
            inviter_email: "inviter@example.com",
        }
    }

    #[test]
    fn codes_are_eight_unambiguous_symbols_and_parse_case_insensitively() {
        let code = InviteCode::random().unwrap();
        assert_eq!(code.as_str().len(), CODE_LEN);
        assert!(!code.as_str().contains(['0', 'O', '1', 'I', 'L']));
        assert_eq!(InviteCode::parse(&code.as_str().to_lowercase()), Some(code));
        assert_eq!(InviteCode::parse(" abcd efgh ").unwrap().as_str(), "ABCDEFGH");
        for bad in ["", "ABC", "ABCDEFG0", "ABCDEFGHJ", "ABCD-EFG", "ABCDEFGl"] {
            assert!(InviteCode::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn disposable_domains_and_their_subdomains_do_not_qualify() {
        let policy = EmailPolicy::new(&[SHIPPED_DISPOSABLE_DOMAINS, "extra-temp.example\n"], None);
        assert!(policy.refusal("mailinator.com").is_some());
        assert!(policy.refusal("x.mailinator.com").is_some());
        assert!(policy.refusal("a.b.yopmail.com").is_some());
        assert!(policy.refusal("extra-temp.example").is_some());
        assert!(policy.refusal("gmail.com").is_none());
        assert!(policy.refusal("notmailinator.com").is_none());
        let strict = EmailPolicy::new(&[], Some("gmail.com, outlook.com"));
        assert!(strict.refusal("gmail.com").is_none());
        assert_eq!(strict.refusal("example.org"), Some(Why::NotOnList("example.org".into())));
    }

    #[test]
    fn relay_and_alias_services_do_not_qualify_unless_allowed() {
        let policy = EmailPolicy::new(&[SHIPPED_DISPOSABLE_DOMAINS], None)
            .with_relays(&[SHIPPED_RELAY_DOMAINS, "relay.example\n"]);
        for domain in [
            "duck.com",
            "mozmail.com",
            "simplelogin.com",
            "aleeas.com",
            "addy.io",
            "someone.addy.io",
            "anonaddy.me",
            "privaterelay.appleid.com",
            "passmail.net",
            "relay.example",
        ] {
            let why = policy.refusal(domain);
            assert_eq!(why, Some(Why::RelayDomain(domain.into())), "{domain}");
        }
        assert_eq!(policy.refusal("33mail.com"), Some(Why::DisposableDomain("33mail.com".into())));
        assert!(policy.refusal("gmail.com").is_none());
        assert!(policy.refusal("ducks.com").is_none());
        let allowed = EmailPolicy::new(&[SHIPPED_DISPOSABLE_DOMAINS], None);
        assert!(allowed.refusal("duck.com").is_none(), "REFERRAL_ALLOW_RELAYS=true lets them qualify");
    }

    #[test]
    fn the_verdict_follows_promotion_email_person_and_ip_cap() {
        let p = promotion();
        let policy = EmailPolicy::new(&[SHIPPED_DISPOSABLE_DOMAINS], None);
        assert_eq!(judge(&policy, &facts("gmail.com", "friend@gmail.com")), Verdict::Rewarded);
        assert_eq!(
            judge(&policy, &facts("yopmail.com", "x@yopmail.com")),
            Verdict::NotQualified(Why::DisposableDomain("yopmail.com".into()))
        );
        let same = Facts { inviter_email: "friend@gmail.com", ..facts("gmail.com", "friend@gmail.com") };
        assert_eq!(judge(&policy, &same), Verdict::NotQualified(Why::SamePerson));
        assert_eq!(over_ip_cap(&p), Verdict::Held(Why::NetworkCap(3)));
        assert_eq!(over_inviter_cap(&p), Verdict::Held(Why::InviterCap(10)));
        let off = Facts { promotion_running: false, ..facts("gmail.com", "f@gmail.com") };
        assert_eq!(judge(&policy, &off), Verdict::NotQualified(Why::PromotionOff));
    }

    #[test]
    fn a_reason_reads_back_as_stored_and_anything_else_as_written() {
        for why in [
            Why::PromotionOff,
            Why::SamePerson,
            Why::DisposableDomain("yopmail.com".into()),
            Why::RelayDomain("duck.com".into()),
            Why::NotOnList("qq.com".into()),
            Why::InviterCap(10),
            Why::NetworkCap(3),
            Why::Written("the same card paid both accounts".into()),
        ] {
            assert_eq!(Why::read(&why.stored()), why);
        }
        for written in ["", "disposable email domain (yopmail.com)", "network_cap:many", "relay: spaced out"] {
            assert_eq!(Why::read(written), Why::Written(written.into()));
        }
    }

    #[test]
    fn promotions_run_between_their_dates_and_only_when_on() {
        let mut p = promotion();
        p.starts_at = Some(100);
        p.ends_at = Some(200);
        assert!(!p.is_running(99) && p.is_running(100) && p.is_running(199) && !p.is_running(200));
        p.enabled = false;
        assert!(!p.is_running(150));
    }

    #[test]
    fn masked_emails_keep_the_first_letter_and_the_domain() {
        assert_eq!(mask_email("alice@gmail.com"), "a***@gmail.com");
        assert_eq!(mask_email("nonsense"), "***");
    }
}
