//! `/billing/packages`: each resource package with a bar of what is left, its scope, expiry and source,
//! expanding to its deduction records.

use super::{load_error, BillingTabs};
use crate::app::components::usd::Amount;
use crate::i18n::*;
use crate::shared::billing::PackageView;
use crate::shared::error::AppError;
use crate::shared::text::fill;
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
            billing_view::packages(&state, user.id, crate::server::fn_support::locale()).await
        }
        .await,
    )
}

#[component]
pub fn PackagesPage() -> impl IntoView {
    let i18n = use_i18n();
    let data = Resource::new(|| (), |_| get_packages());
    view! {
        <Title text=tu_string!(i18n, packages.title) />
        <h1>{t!(i18n, billing.title)}</h1>
        <BillingTabs current="packages" />
        <p class="muted">{t!(i18n, packages.intro)}</p>
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(list) if list.is_empty() => view! {
                        <section class="card empty-state">
                            <h2>{t!(i18n, packages.none_yet)}</h2>
                            <p class="muted">{t!(i18n, packages.none_yet_hint, <a> = <a href="/i" />)}</p>
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
    let i18n = use_i18n();
    let status_class = if p.active { "badge ok" } else { "badge off" };
    let bar_class = if p.percent_left <= 10 { "progress low" } else { "progress" };
    let count = p.deductions.len();
    let original = p.original.clone();
    view! {
        <section class="card package" data-testid="package">
            <div class="card-head">
                <div>
                    <h2 class="package-title" translate="no">{p.title.clone()}</h2>
                    <p class="muted small">{p.scope.join(" · ")}</p>
                </div>
                <span class=status_class>{p.status.clone()}</span>
            </div>
            <p class="package-amounts">
                <strong data-testid="package-remaining"><Amount usd=p.remaining.clone() /></strong>
                <span class="muted">
                    {t!(i18n, packages.left_of, amount = move || view! { <Amount usd=original.clone() /> })}
                </span>
            </p>
            <div class=bar_class role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=p.percent_left.to_string()
                aria-label=tu_string!(i18n, packages.share_left)>
                <span style=format!("width: {}%", p.percent_left)></span>
            </div>
            <dl class="facts compact">
                <div><dt>{t!(i18n, packages.used)}</dt><dd><Amount usd=p.used.clone() /></dd></div>
                <div><dt>{t!(i18n, packages.granted)}</dt><dd>{p.granted.clone()}</dd></div>
                <div>
                    <dt>{t!(i18n, packages.expires)}</dt>
                    <dd>
                        {p.expires.clone()}
                        <span class="muted small">{fill(tu_string!(i18n, packages.in_parens), &[("text", &p.expires_relative)])}</span>
                    </dd>
                </div>
                <div><dt>{t!(i18n, packages.source)}</dt><dd>{p.source.clone()}</dd></div>
            </dl>
            <details class="deductions">
                <summary>{fill(tu_string!(i18n, packages.deduction_records), &[("count", &count)])}</summary>
                {if count == 0 {
                    view! { <p class="muted small">{t!(i18n, packages.nothing_deducted)}</p> }.into_any()
                } else {
                    view! {
                        <div class="table-wrap" tabindex="0" role="region" aria-label=tu_string!(i18n, packages.deductions)>
                            <table class="data cards">
                                <thead>
                                    <tr>
                                        <th>{t!(i18n, packages.col_time)}</th>
                                        <th>{t!(i18n, packages.col_model)}</th>
                                        <th>{t!(i18n, packages.col_channel)}</th>
                                        <th>{t!(i18n, packages.col_key)}</th>
                                        <th class="num">{t!(i18n, packages.col_amount)}</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {p.deductions.into_iter().map(|d| view! {
                                        <tr>
                                            <td data-label=tu_string!(i18n, packages.col_time)>{d.at}</td>
                                            <td class="mono" data-label=tu_string!(i18n, packages.col_model)>{d.model}</td>
                                            <td data-label=tu_string!(i18n, packages.col_channel)>{d.channel}</td>
                                            <td data-label=tu_string!(i18n, packages.col_key) translate="no">{d.key_name}</td>
                                            <td class="num" data-label=tu_string!(i18n, packages.col_amount)><Amount usd=d.amount /></td>
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
