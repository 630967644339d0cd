//! The signed-in home page's data: balance, tier, active packages, today's spend, recent keys and the
//! first steps a new account has done.

use crate::i18n::{td_string, Locale};
use crate::server::domain::bills::{self, BillFilter};
use crate::server::domain::packages::{self, PackageStatus};
use crate::server::domain::{account, keys, referral};
use crate::server::state::AppState;
use crate::server::time::{date_time_for, now_ms, relative, DAY_MS};
use crate::server::usd_view::cents;
use crate::shared::dto::{Overview, OverviewPackage};
use crate::shared::error::AppError;
use crate::shared::text::fill;

/// The overview, its words in `locale`.
pub async fn overview(state: &AppState, user_id: i64, locale: Locale) -> Result<Overview, AppError> {
    let pool = state.db.pool();
    let now = now_ms();
    let money = account::money_of(pool, user_id).await?.ok_or(AppError::Unauthorized)?;
    let tier = state.settings.money.tiers.tier_for(money.paid_topups_minor);
    let packages = packages::list(pool, user_id, now)
        .await?
        .into_iter()
        .filter(|p| p.status == PackageStatus::Active)
        .map(|p| OverviewPackage {
            percent_left: crate::server::billing_view::percent_left(p.remaining, p.original),
            remaining: cents(p.remaining),
            original: cents(p.original),
            expires_relative: fill(td_string!(locale, home.expires), &[("when", &relative(p.expires_at, now, locale))]),
            title: p.title,
        })
        .collect();
    let today = BillFilter { from: Some(now - now.rem_euclid(DAY_MS)), ..BillFilter::default() };
    let spent_today = bills::totals(pool, user_id, &today).await?;
    let ever = bills::totals(pool, user_id, &BillFilter::default()).await?;
    let mut user_keys = keys::list(pool, user_id).await?;
    user_keys.sort_by_key(|k| std::cmp::Reverse(k.last_used_at.unwrap_or(k.created_at)));
    let (invited, _) = referral::counts(pool, user_id).await?;
    let never_used = td_string!(locale, home.never_used);
    Ok(Overview {
        balance: cents(money.balance),
        balance_positive: money.balance.is_positive(),
        rpm: tier.rpm,
        packages,
        today_calls: spent_today.calls,
        today_balance: cents(spent_today.balance_paid),
        today_packages: cents(spent_today.packages_paid),
        steps_done: [!user_keys.is_empty(), ever.calls > 0, invited > 0],
        key_count: user_keys.len(),
        recent_keys: user_keys
            .into_iter()
            .take(3)
            .map(|k| {
                (
                    k.name,
                    k.prefix,
                    k.last_used_at.map(|t| date_time_for(t, locale)).unwrap_or_else(|| never_used.to_string()),
                )
            })
            .collect(),
    })
}
