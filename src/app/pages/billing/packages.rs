//! `/billing/packages`: each resource package with a bar of what is left, its scope, expiry and source,
//! expanding to its deduction records.

use super::{load_error, BillingTabs};
use crate::app::components::usd::Amount;
use crate::shared::billing::PackageView;
use crate::shared::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "billing_packages")]
pub async fn get_packages() -> Result<Vec<PackageView>, AppError> {
    use crate::server::billing_view;
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            billing_view::packages(&state, user.id).await
        }
        .await,
    )
}

#[component]
pub fn PackagesPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_packages());
    view! {
        <Title text="Resource packages" />
        <h1>"Billing"</h1>
        <BillingTabs current="packages" />
        <p class="muted">
            "Packages pay for calls on the channels they cover, at the official price, before your balance. "
            "The one expiring soonest pays first. Expired packages pay nothing."
        </p>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(list) if list.is_empty() => view! {
                        <section class="card empty-state">
                            <h2>"No resource packages yet"</h2>
                            <p class="muted">
                                "Invite a friend from the " <a href="/i">"referral program"</a>
                                ": when they qualify, you both get a Claude Code API package."
                            </p>
                        </section>
                    }.into_any(),
                    Ok(list) => view! {
                        <div class="package-list">{list.into_iter().map(package_card).collect_view()}</div>
                    }.into_any(),
                    Err(e) => load_error(e, "/billing/packages"),
                }
            })}
        </Suspense>
    }
}

fn package_card(p: PackageView) -> impl IntoView {
    let status_class = if p.active { "badge ok" } else { "badge off" };
    let bar_class = if p.percent_left <= 10 { "progress low" } else { "progress" };
    let count = p.deductions.len();
    view! {
        <section class="card package" data-testid="package">
            <div class="card-head">
                <div>
                    <h2 class="package-title">{p.title.clone()}</h2>
                    <p class="muted small">{p.scope.join(" · ")}</p>
                </div>
                <span class=status_class>{p.status.clone()}</span>
            </div>
            <p class="package-amounts">
                <strong data-testid="package-remaining"><Amount usd=p.remaining.clone() /></strong>
                <span class="muted">" left of "<Amount usd=p.original.clone() /></span>
            </p>
            <div class=bar_class role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=p.percent_left.to_string()
                aria-label="Share left">
                <span style=format!("width: {}%", p.percent_left)></span>
            </div>
            <dl class="facts compact">
                <div><dt>"Used"</dt><dd><Amount usd=p.used.clone() /></dd></div>
                <div><dt>"Granted"</dt><dd>{p.granted.clone()}</dd></div>
                <div><dt>"Expires"</dt><dd>{p.expires.clone()} <span class="muted small">{format!(" ({})", p.expires_relative)}</span></dd></div>
                <div><dt>"Source"</dt><dd>{p.source.clone()}</dd></div>
            </dl>
            <details class="deductions">
                <summary>{format!("Deduction records ({count})")}</summary>
                {if count == 0 {
                    view! { <p class="muted small">"Nothing has been deducted from this package yet."</p> }.into_any()
                } else {
                    view! {
                        <div class="table-wrap" tabindex="0" role="region" aria-label="Deductions">
                            <table class="data cards">
                                <thead><tr><th>"Time (UTC)"</th><th>"Model"</th><th>"Channel"</th><th>"Key"</th><th class="num">"Amount"</th></tr></thead>
                                <tbody>
                                    {p.deductions.into_iter().map(|d| view! {
                                        <tr>
                                            <td data-label="Time (UTC)">{d.at}</td>
                                            <td class="mono" data-label="Model">{d.model}</td>
                                            <td data-label="Channel">{d.channel}</td>
                                            <td data-label="Key">{d.key_name}</td>
                                            <td class="num" data-label="Amount"><Amount usd=d.amount /></td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any()
                }}
            </details>
        </section>
    }
}
