//! Builds the referral pages' data and runs their actions: the inviter's `/i`, the invitee's `/i/CODE`
//! with its acknowledgement, and the manual code box. Their words are in the request's language, the reasons
//! a referral did not qualify included (`why_text`).

use crate::i18n::*;
use crate::server::billing_view::scope_labels;
use crate::server::domain::money::Shown;
use crate::server::domain::packages::{self, PackageStatus};
use crate::server::domain::referral::{self, Application, InviteCode, ReferralError, Via, Why};
use crate::server::error::internal;
use crate::server::secrets::random_token;
use crate::server::state::AppState;
use crate::server::time::{date_for, now_ms, DAY_MS};
use crate::shared::error::AppError;
use crate::shared::referral::*;
use crate::shared::text::fill;

/// The version of the invite notes in `locale`: each language's notes carry their own (bumped in
/// `locales/*.json` (`invite.notes_version`) whenever that language's notes change), and it is recorded with each
/// acknowledgement together with the language.
pub fn notes_version(locale: Locale) -> &'static str {
    td_string!(locale, invite.notes_version)
}

/// A referral error in the person's language (the domain's `Display` stays English, for logs).
pub fn error_text(e: &ReferralError, locale: Locale) -> String {
    match e {
        ReferralError::UnknownCode => td_string!(locale, referral.err_unknown_code).to_string(),
        ReferralError::OwnCode => td_string!(locale, referral.err_own_code).to_string(),
        ReferralError::AlreadyReferred => td_string!(locale, referral.err_already_referred).to_string(),
        ReferralError::WindowClosed(days) => fill(td_string!(locale, referral.err_window_closed), &[("days", days)]),
        ReferralError::Mutual => td_string!(locale, referral.err_mutual).to_string(),
        ReferralError::NoCode => td_string!(locale, referral.err_no_code).to_string(),
        ReferralError::Ledger(_) => td_string!(locale, errors.internal).to_string(),
    }
}

pub fn promotion(state: &AppState, locale: Locale) -> PromotionView {
    let p = &state.settings.referral.promotion;
    PromotionView {
        running: p.is_running(now_ms()),
        reward: p.reward.to_string().replace(".00", ""),
        title: p.title.clone(),
        days: p.lifetime_days,
        scope: scope_labels(&p.scope, locale),
        ends: p.ends_at.map(|e| date_for(e - DAY_MS, locale)),
        apply_window_days: p.apply_window_ms / DAY_MS,
        ip_daily_cap: p.ip_daily_cap,
    }
}

/// Why a referral was not rewarded or waits, in `locale`; an operator's own words as written.
pub fn why_text(why: &Why, locale: Locale) -> String {
    match why {
        Why::PromotionOff => td_string!(locale, referral.why_promotion_off).into(),
        Why::SamePerson => td_string!(locale, referral.why_same_person).into(),
        Why::DisposableDomain(d) => fill(td_string!(locale, referral.why_disposable), &[("domain", d)]),
        Why::RelayDomain(d) => fill(td_string!(locale, referral.why_relay), &[("domain", d)]),
        Why::NotOnList(d) => fill(td_string!(locale, referral.why_not_on_list), &[("domain", d)]),
        Why::InviterCap(n) => fill(td_string!(locale, referral.why_inviter_cap), &[("n", n)]),
        Why::NetworkCap(n) => fill(td_string!(locale, referral.why_network_cap), &[("n", n)]),
        Why::Written(text) => text.clone(),
    }
}

/// A stored reason (see [`Why`]), in `locale`.
pub fn reason_text(stored: &str, locale: Locale) -> String {
    why_text(&Why::read(stored), locale)
}

/// A referral's status (`rewarded`, `held`, `rejected`, `not_qualified`) as people read it.
pub fn status_label(status: &str, locale: Locale) -> &'static str {
    match status {
        "rewarded" => td_string!(locale, referral.status_rewarded),
        "held" => td_string!(locale, referral.status_held),
        "rejected" => td_string!(locale, referral.status_rejected),
        _ => td_string!(locale, referral.status_not_qualified),
    }
}

pub async fn referral_page(
    state: &AppState,
    user_id: i64,
    created_at: i64,
    locale: Locale,
) -> Result<ReferralView, AppError> {
    let pool = state.db.pool();
    let now = now_ms();
    let code = referral::code_for(pool, user_id, now).await.map_err(|e| internal("invite code", e))?;
    let invitees = referral::invitees_of(pool, user_id).await?;
    let (signed_up, qualified) = referral::counts(pool, user_id).await?;
    let rewards = referral::reward_packages(pool, user_id).await?;
    let earned = packages::list(pool, user_id, now)
        .await?
        .into_iter()
        .filter_map(|p| rewards.iter().find(|r| r.0 == p.id).map(|r| (p, r.1)))
        .map(|(p, as_inviter)| EarnedPackage {
            why: if as_inviter {
                td_string!(locale, referral.why_inviter).into()
            } else {
                td_string!(locale, referral.why_invitee).into()
            },
            title: p.title,
            remaining: p.remaining.shown(Shown::Cents),
            original: p.original.shown(Shown::Cents),
            expires: date_for(p.expires_at, locale),
            active: p.status == PackageStatus::Active,
        })
        .collect();
    let own = referral::referral_of(pool, user_id).await?;
    let window = state.settings.referral.promotion.apply_window_ms;
    let (can_enter_code, cannot_enter_code) = match &own {
        Some(_) => (false, None),
        None if now - created_at > window => {
            (false, Some(fill(td_string!(locale, referral.window_passed), &[("days", &(window / DAY_MS))])))
        }
        None => (true, None),
    };
    Ok(ReferralView {
        link: format!("{}/i/{code}", state.public_base_url),
        opened: referral::visitors(pool, &code).await?,
        code,
        promotion: promotion(state, locale),
        signed_up,
        qualified,
        invitees: invitees
            .into_iter()
            .map(|r| InviteeRow {
                email: referral::mask_email(&r.invitee_email),
                date: date_for(r.created_at, locale),
                status: status_label(&r.status, locale).to_string(),
                reason: reason_text(&r.reason, locale),
                rewarded: r.status == "rewarded",
            })
            .collect(),
        earned,
        own_referral: own.map(|(code, status, reason)| (code, status, reason_text(&reason, locale))).map(
            |(code, status, reason)| match status.as_str() {
                "rewarded" => fill(
                    td_string!(locale, referral.own_rewarded),
                    &[("code", &code), ("title", &state.settings.referral.promotion.title)],
                ),
                "held" => fill(td_string!(locale, referral.own_held), &[("code", &code), ("reason", &reason)]),
                _ if reason.is_empty() => fill(
                    td_string!(locale, referral.own_misc_plain),
                    &[("code", &code), ("status", &status_label(&status, locale))],
                ),
                _ => fill(
                    td_string!(locale, referral.own_misc),
                    &[("code", &code), ("status", &status_label(&status, locale)), ("reason", &reason)],
                ),
            },
        ),
        can_enter_code,
        cannot_enter_code,
    })
}

/// True when the code belongs to an account and is not disabled.
async fn is_enabled(state: &AppState, code: &InviteCode) -> Result<bool, AppError> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(referral::inviter_of(&mut conn, code).await?.is_some())
}

/// `/i/CODE`: counts the visit (signed-out visitors, once a day each) and describes the invitation.
pub async fn invite_page(
    state: &AppState,
    code: &str,
    viewer: Option<(i64, i64)>,
    visitor: &str,
    locale: Locale,
) -> Result<InviteView, AppError> {
    let signed_in = viewer.is_some();
    let Some(code) = InviteCode::parse(code) else {
        return Ok(InviteView::Unknown);
    };
    let inviter = {
        let mut conn = state.db.pool().acquire().await?;
        referral::inviter_of(&mut conn, &code).await?
    };
    let Some(inviter) = inviter else {
        return Ok(InviteView::Unknown);
    };
    let own = viewer.is_some_and(|(user_id, _)| user_id == inviter);
    if !signed_in {
        referral::record_visit(state.db.pool(), &code, visitor, now_ms()).await?;
    }
    // A signed-in account can still take the invitation by hand while it is new and has none.
    let can_apply = match viewer {
        Some(_) if own => false,
        Some((user_id, created_at)) => {
            now_ms() - created_at <= state.settings.referral.promotion.apply_window_ms
                && referral::referral_of(state.db.pool(), user_id).await?.is_none()
        }
        None => false,
    };
    Ok(InviteView::Valid {
        code: code.as_str().to_string(),
        promotion: promotion(state, locale),
        signed_in,
        can_apply,
        own,
    })
}

/// "I Understand": every note must be ticked; records the acknowledgement (with the version and language
/// of the notes shown, `locale`'s) and returns its token (for this browser's cookie, see
/// `http::invite_ack_cookie`) and where to go next.
pub async fn acknowledge(
    state: &AppState,
    code: &str,
    ticked: [bool; 4],
    ip: &str,
    locale: Locale,
) -> Result<(String, String), AppError> {
    let code = InviteCode::parse(code).ok_or(AppError::NotFound)?;
    if !is_enabled(state, &code).await? {
        return Err(AppError::NotFound);
    }
    if !ticked.iter().all(|t| *t) {
        return Err(AppError::invalid("notes", td_string!(locale, invite.tick_every_note)));
    }
    let token = random_token().map_err(|e| internal("invite acknowledgement", e))?;
    let (version, language) = (notes_version(locale), locale.as_str());
    referral::record_ack(state.db.pool(), &code, &token, version, language, ip, now_ms()).await?;
    let next = format!("/login?next=/i&invite={}", code.as_str());
    Ok((token, next))
}

/// The code box on `/i`: the same notes must be ticked, and are recorded (in `locale`'s version), as on
/// `/i/CODE`.
pub async fn apply_code(
    state: &AppState,
    user_id: i64,
    code: &str,
    ticked: [bool; 4],
    ip: &str,
    locale: Locale,
) -> Result<String, AppError> {
    let code = InviteCode::parse(code)
        .ok_or_else(|| AppError::invalid("code", td_string!(locale, referral.bad_code_format)))?;
    if !ticked.iter().all(|t| *t) {
        return Err(AppError::invalid("code", td_string!(locale, referral.tick_before_applying)));
    }
    if !is_enabled(state, &code).await? {
        return Err(AppError::invalid("code", error_text(&ReferralError::UnknownCode, locale)));
    }
    let token = random_token().map_err(|e| internal("invite acknowledgement", e))?;
    let (version, language) = (notes_version(locale), locale.as_str());
    let ack_id = referral::record_ack(state.db.pool(), &code, &token, version, language, ip, now_ms()).await?;
    let mut tx = state.db.pool().begin().await?;
    let application = Application {
        invitee_id: user_id,
        new_account: false,
        code: &code,
        ack_id: Some(ack_id),
        via: Via::Manual,
        ip,
        now: now_ms(),
    };
    let applied = referral::apply(&mut tx, &state.settings.referral.promotion, &state.email_policy, application)
        .await
        .map_err(|e| match e {
            ReferralError::Ledger(inner) => internal("apply invite code", inner),
            other => AppError::invalid("code", error_text(&other, locale)),
        })?;
    tx.commit().await?;
    // Both sides may have a new package: their next API calls see it.
    state.gateway.money_moved(user_id);
    state.gateway.money_moved(applied.inviter_id);
    Ok(match applied.verdict {
        referral::Verdict::Rewarded => td_string!(locale, referral.applied_rewarded).to_string(),
        referral::Verdict::Held(_) => td_string!(locale, referral.applied_held).to_string(),
        referral::Verdict::NotQualified(why) => {
            fill(td_string!(locale, referral.applied_not_qualified), &[("why", &why_text(&why, locale))])
        }
    })
}
