//! `/billing/balance`: the balance (red and explained when it blocks the API), rate-limit tier and the
//! next one, channel rates, a Top up button, and the FAQ.

use super::faq::Faq;
use super::{load_error, BillingTabs};
use crate::app::components::usd::Amount;
use crate::i18n::*;
use crate::shared::billing::BalanceView;
use crate::shared::error::AppError;
use crate::shared::text::fill;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[server(endpoint = "billing_balance")]
pub async fn get_balance() -> Result<BalanceView, AppError> {
    use crate::server::billing_view;
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            billing_view::balance(&state, user.id, crate::server::fn_support::locale()).await
        }
        .await,
    )
}

#[component]
pub fn BalancePage() -> impl IntoView {
    let i18n = use_i18n();
    let data = Resource::new(|| (), |_| get_balance());
    let query = use_query_map();
    let notice = move || {
        let q = query.read();
        match q.get("topup").as_deref() {
            Some("paid") => Some(tu_string!(i18n, balance.paid_notice).to_string()),
            Some("test") => Some(fill(
                tu_string!(i18n, balance.test_payment_notice),
                &[("credited", &q.get("credited").unwrap_or_default())],
            )),
            _ => None,
        }
    };
    view! {
        <Title text=tu_string!(i18n, balance.title) />
        <h1>{t!(i18n, billing.title)}</h1>
        <BillingTabs current="balance" />
        {move || notice().map(|n| view! { <p class="notice success" role="status">{n}</p> })}
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => balance_view(v).into_any(),
                    Err(e) => load_error(e, "/billing/balance"),
                }
            })}
        </Suspense>
    }
}

fn balance_view(v: BalanceView) -> impl IntoView {
    let i18n = use_i18n();
    let faq = v.clone();
    let balance_class = if v.balance_positive { "stat-value" } else { "stat-value negative" };
    let active_packages = v.active_packages;
    let packages_remaining = v.packages_remaining.clone();
    view! {
        <div class="grid-2">
            <section class="card" data-testid="balance-card">
                <p class="eyebrow">{t!(i18n, balance.title)}</p>
                <p class=balance_class data-testid="balance"><Amount usd=v.balance.clone() /></p>
                {(!v.balance_positive).then(|| view! {
                    <p class="blocked" role="alert">
                        {t!(i18n, balance.blocked, <b> = <strong />)}
                    </p>
                })}
                {v.reserved.clone().map(|r| view! {
                    <p class="muted small">
                        {t!(i18n, balance.reserved, amount = move || view! { <Amount usd=r.clone() /> })}
                    </p>
                })}
                <p class="muted small">
                    {t!(
                        i18n,
                        balance.packages_summary,
                        active = move || active_packages,
                        amount = move || view! { <Amount usd=packages_remaining.clone() /> }
                    )}
                    " "
                    <a href="/billing/packages">{t!(i18n, balance.see_packages)}</a>
                </p>
                <a class="btn primary" href="/billing/topup">{t!(i18n, balance.top_up)}</a>
            </section>
            <section class="card" data-testid="tier-card">
                <p class="eyebrow">{t!(i18n, balance.rate_limit)}</p>
                <p class="stat-value" data-testid="rpm">{format!("{} RPM", v.rpm)}</p>
                <p class="muted small">{fill(tu_string!(i18n, balance.paid_so_far), &[("amount", &v.paid_total)])}</p>
                {v.next_tier.clone().map(|n| view! {
                    <div class="progress" aria-hidden="true">
                        <span style=format!("width: {}%", n.percent)></span>
                    </div>
                    <p class="small">
                        {fill(
                            tu_string!(i18n, balance.next_tier),
                            &[("needed", &n.still_needed), ("rpm", &n.rpm), ("threshold", &n.threshold)],
                        )}
                    </p>
                })}
                {v.next_tier.is_none().then(|| view! { <p class="small">{t!(i18n, balance.highest_tier)}</p> })}
                <table class="mini">
                    <thead><tr><th>{t!(i18n, balance.paid_topups)}</th><th>{t!(i18n, balance.limit)}</th></tr></thead>
                    <tbody>
                        {v.tiers.iter().map(|(t, rpm)| view! {
                            <tr>
                                <td>{fill(tu_string!(i18n, balance.tier_from), &[("amount", t)])}</td>
                                <td>{format!("{rpm} RPM")}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </section>
        </div>
        <section class="card">
            <h2>{t!(i18n, balance.how_charged)}</h2>
            <p class="muted">{t!(i18n, balance.how_charged_text)}</p>
            <table class="mini">
                <thead><tr><th>{t!(i18n, balance.channel)}</th><th>{t!(i18n, balance.balance_rate)}</th></tr></thead>
                <tbody>
                    {v.multipliers.iter().map(|(c, m)| view! { <tr><td>{c.clone()}</td><td>{format!("x {m}")}</td></tr> }).collect_view()}
                </tbody>
            </table>
        </section>
        <Faq v=faq />
    }
}
