//! `/admin`: calls, spend by channel and model, error rate and active accounts, today and over 7 days,
//! with a bar per day.

use super::{admin_error, AdminTabs};
use crate::app::components::usd::Amount;
use crate::i18n::*;
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
            crate::server::admin_view::dashboard(&state, crate::server::fn_support::locale()).await
        }
        .await,
    )
}

#[component]
pub fn AdminDashboardPage() -> impl IntoView {
    let i18n = use_i18n();
    let data = Resource::new(|| (), |_| admin_dashboard());
    view! {
        <Title text={tu_string!(i18n, admin.common.console)} />
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
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
    let i18n = use_i18n();
    view! {
        <AdminTabs current="dashboard" />
        <h1>{t!(i18n, admin.tabs.dashboard)}</h1>
        {v.uses_mock.then(|| view! {
            <p class="notice" role="note">{t!(i18n, admin.dashboard.mock_notice)}</p>
        })}
        <div class="admin-periods">
            {v.periods.into_iter().map(|p| view! {
                <section class="card" data-testid="period">
                    <h2>{p.label}</h2>
                    <dl class="kv">
                        <dt>{t!(i18n, admin.common.calls)}</dt><dd class="strong">{thousands(p.calls)}</dd>
                        <dt>{t!(i18n, admin.common.spend)}</dt><dd class="strong"><Amount usd=p.spend /></dd>
                        <dt>{t!(i18n, admin.common.errors)}</dt><dd>{format!("{} ({})", thousands(p.errors), p.error_rate)}</dd>
                        <dt>{t!(i18n, admin.dashboard.active_accounts)}</dt><dd>{thousands(p.active_accounts)}</dd>
                    </dl>
                </section>
            }).collect_view()}
            <section class="card">
                <h2>{t!(i18n, admin.tabs.accounts)}</h2>
                <dl class="kv">
                    <dt>{t!(i18n, admin.dashboard.in_all)}</dt><dd class="strong">{thousands(v.accounts)}</dd>
                    <dt>{t!(i18n, admin.dashboard.new_last_7_days)}</dt><dd>{thousands(v.new_accounts)}</dd>
                    <dt>{t!(i18n, admin.dashboard.held_referrals)}</dt>
                    <dd><a href="/admin/referrals">{thousands(v.held_referrals)}</a></dd>
                </dl>
            </section>
        </div>
        <section class="card">
            <h2>{t!(i18n, admin.dashboard.last_7_days_utc)}</h2>
            <div class="table-wrap" tabindex="0" role="region" aria-label={tu_string!(i18n, admin.dashboard.per_day)}>
                <table class="data bars" data-testid="days">
                    <thead><tr>
                        <th>{t!(i18n, admin.dashboard.day)}</th><th>{t!(i18n, admin.common.calls)}</th>
                        <th class="num">{t!(i18n, admin.common.errors)}</th><th>{t!(i18n, admin.common.spend)}</th>
                    </tr></thead>
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
        {shares(tu_string!(i18n, admin.dashboard.by_channel), tu_string!(i18n, admin.dashboard.channel), v.by_channel)}
        {shares(tu_string!(i18n, admin.dashboard.by_model), tu_string!(i18n, admin.dashboard.model), v.by_model)}
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
    let i18n = use_i18n();
    view! {
        <section class="card">
            <h2>{title}</h2>
            {if rows.is_empty() {
                view! { <p class="muted">{t!(i18n, admin.dashboard.no_calls)}</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap" tabindex="0" role="region" aria-label=title>
                        <table class="data bars">
                            <thead><tr><th>{what}</th><th class="num">{t!(i18n, admin.common.calls)}</th><th>{t!(i18n, admin.common.spend)}</th></tr></thead>
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
