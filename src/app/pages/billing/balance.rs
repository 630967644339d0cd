//! `/billing/balance`: the balance (red and explained when it blocks the API), rate-limit tier and the
//! next one, channel rates, a Top up button, and the FAQ.

use super::faq::Faq;
use super::{load_error, BillingTabs};
use crate::app::components::usd::Amount;
use crate::shared::billing::BalanceView;
use crate::shared::error::AppError;
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
            billing_view::balance(&state, user.id).await
        }
        .await,
    )
}

#[component]
pub fn BalancePage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_balance());
    let query = use_query_map();
    let notice = move || {
        let q = query.read();
        match q.get("topup").as_deref() {
            Some("paid") => Some(
                "Thank you! Stripe is confirming your payment; your balance updates as soon as it does.".to_string(),
            ),
            Some("test") => Some(format!(
                "Test payment: {} was added to your balance. Demo mode, no money moved.",
                q.get("credited").unwrap_or_default()
            )),
            _ => None,
        }
    };
    view! {
        <Title text="Balance" />
        <h1>"Billing"</h1>
        <BillingTabs current="balance" />
        {move || notice().map(|n| view! { <p class="notice success" role="status">{n}</p> })}
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
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
    let faq = v.clone();
    let balance_class = if v.balance_positive { "stat-value" } else { "stat-value negative" };
    view! {
        <div class="grid-2">
            <section class="card" data-testid="balance-card">
                <p class="eyebrow">"Balance"</p>
                <p class=balance_class data-testid="balance"><Amount usd=v.balance.clone() /></p>
                {(!v.balance_positive).then(|| view! {
                    <p class="blocked" role="alert">
                        <strong>"API access is blocked until your balance is positive."</strong>
                        " Calls answer HTTP 402 whatever resource packages remain. Top up to restore service."
                    </p>
                })}
                {v.reserved.clone().map(|r| view! {
                    <p class="muted small"><Amount usd=r />" is reserved by calls still running."</p>
                })}
                <p class="muted small">
                    {format!("Resource packages: {} active, ", v.active_packages)}<Amount usd=v.packages_remaining.clone() />" left. "
                    <a href="/billing/packages">"See packages"</a>
                </p>
                <a class="btn primary" href="/billing/topup">"Top up"</a>
            </section>
            <section class="card" data-testid="tier-card">
                <p class="eyebrow">"Rate limit"</p>
                <p class="stat-value" data-testid="rpm">{format!("{} RPM", v.rpm)}</p>
                <p class="muted small">{format!("Paid top-ups so far: {}", v.paid_total)}</p>
                {v.next_tier.clone().map(|n| view! {
                    <div class="progress" aria-hidden="true">
                        <span style=format!("width: {}%", n.percent)></span>
                    </div>
                    <p class="small">
                        {format!("Top up {} more to reach {} RPM (at {} in total).", n.still_needed, n.rpm, n.threshold)}
                    </p>
                })}
                {v.next_tier.is_none().then(|| view! { <p class="small">"You are on the highest tier."</p> })}
                <table class="mini">
                    <thead><tr><th>"Paid top-ups"</th><th>"Limit"</th></tr></thead>
                    <tbody>
                        {v.tiers.iter().map(|(t, rpm)| view! { <tr><td>{format!("from {t}")}</td><td>{format!("{rpm} RPM")}</td></tr> }).collect_view()}
                    </tbody>
                </table>
            </section>
        </div>
        <section class="card">
            <h2>"How calls are charged"</h2>
            <p class="muted">
                "A call is paid first from active resource packages that cover its channel (soonest expiry first) at the "
                "official price. Whatever they cannot cover is charged to your balance at the official price times the "
                "channel's rate."
            </p>
            <table class="mini">
                <thead><tr><th>"Channel"</th><th>"Balance rate"</th></tr></thead>
                <tbody>
                    {v.multipliers.iter().map(|(c, m)| view! { <tr><td>{c.clone()}</td><td>{format!("x {m}")}</td></tr> }).collect_view()}
                </tbody>
            </table>
        </section>
        <Faq v=faq />
    }
}
