//! `/admin`: calls, spend by channel and model, error rate and active accounts, today and over 7 days,
//! with a bar per day.

use super::{admin_error, AdminTabs};
use crate::app::components::usd::Amount;
use crate::shared::admin::{DashboardView, SpendShare};
use crate::shared::error::AppError;
use crate::shared::numbers::thousands;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "admin_dashboard")]
pub async fn admin_dashboard() -> Result<DashboardView, AppError> {
    use crate::server::fn_support::{answer, require_operator, state};
    answer(
        async {
            let state = state()?;
            require_operator(&state).await?;
            crate::server::admin_view::dashboard(&state).await
        }
        .await,
    )
}

#[component]
pub fn AdminDashboardPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| admin_dashboard());
    view! {
        <Title text="Admin console" />
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => dashboard_view(v).into_any(),
                    Err(e) => admin_error(e),
                }
            })}
        </Suspense>
    }
}

fn dashboard_view(v: DashboardView) -> impl IntoView {
    view! {
        <AdminTabs current="dashboard" />
        <h1>"Dashboard"</h1>
        {v.uses_mock.then(|| view! {
            <p class="notice" role="note">"Calls are answered by the built-in demo upstream (mock provider), not a real model."</p>
        })}
        <div class="admin-periods">
            {v.periods.into_iter().map(|p| view! {
                <section class="card" data-testid="period">
                    <h2>{p.label}</h2>
                    <dl class="kv">
                        <dt>"Calls"</dt><dd class="strong">{thousands(p.calls)}</dd>
                        <dt>"Spend"</dt><dd class="strong"><Amount usd=p.spend /></dd>
                        <dt>"Errors"</dt><dd>{format!("{} ({})", thousands(p.errors), p.error_rate)}</dd>
                        <dt>"Active accounts"</dt><dd>{thousands(p.active_accounts)}</dd>
                    </dl>
                </section>
            }).collect_view()}
            <section class="card">
                <h2>"Accounts"</h2>
                <dl class="kv">
                    <dt>"In all"</dt><dd class="strong">{thousands(v.accounts)}</dd>
                    <dt>"New, last 7 days"</dt><dd>{thousands(v.new_accounts)}</dd>
                    <dt>"Referrals held for review"</dt>
                    <dd><a href="/admin/referrals">{thousands(v.held_referrals)}</a></dd>
                </dl>
            </section>
        </div>
        <section class="card">
            <h2>"Last 7 days (UTC)"</h2>
            <div class="table-wrap" tabindex="0" role="region" aria-label="Calls and spend per day">
                <table class="data bars" data-testid="days">
                    <thead><tr><th>"Day"</th><th>"Calls"</th><th class="num">"Errors"</th><th>"Spend"</th></tr></thead>
                    <tbody>
                        {v.days.into_iter().map(|d| view! {
                            <tr>
                                <td class="nowrap">{d.day}</td>
                                <td><Bar percent=d.calls_percent label=thousands(d.calls) /></td>
                                <td class="num">{thousands(d.errors)}</td>
                                <td><Bar percent=d.spend_percent label=d.spend.shown.clone() /></td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
        {shares("Spend by channel, last 7 days", "Channel", v.by_channel)}
        {shares("Spend by model, last 7 days", "Model", v.by_model)}
    }
}

/// A horizontal bar with its figure.
#[component]
fn Bar(percent: u8, label: String) -> impl IntoView {
    view! {
        <span class="hbar">
            <span class="hbar-fill" style=format!("width: {percent}%")></span>
            <span class="hbar-label">{label}</span>
        </span>
    }
}

fn shares(title: &'static str, what: &'static str, rows: Vec<SpendShare>) -> impl IntoView {
    view! {
        <section class="card">
            <h2>{title}</h2>
            {if rows.is_empty() {
                view! { <p class="muted">"No calls in these days."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap" tabindex="0" role="region" aria-label=title>
                        <table class="data bars">
                            <thead><tr><th>{what}</th><th class="num">"Calls"</th><th>"Spend"</th></tr></thead>
                            <tbody>
                                {rows.into_iter().map(|s| view! {
                                    <tr>
                                        <td>{s.name}</td>
                                        <td class="num">{thousands(s.calls)}</td>
                                        <td><Bar percent=s.percent label=format!("{} ({}%)", s.spend.shown, s.percent) /></td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}
