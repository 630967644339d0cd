//! `/billing/bills`: one row per call (time, key, channel and rate, model, tokens, how it ended with its
//! latency and request id, official cost, paid by packages, paid by balance) with filters, totals, pages
//! and CSV export; the money movements (top-ups, grants, each day's calls summed) in a second tab; calls
//! refused before they ran (402, 429) in a third.

use super::{load_error, BillingTabs};
use crate::app::components::usd::Amount;
use crate::shared::billing::{BillQuery, BillsView, MovementRow, RefusedRow};
use crate::shared::error::AppError;
use crate::shared::numbers::thousands;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[server(endpoint = "billing_bills")]
pub async fn get_bills(query: BillQuery) -> Result<BillsView, AppError> {
    use crate::server::billing_view;
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            billing_view::bills(&state, user.id, &query).await
        }
        .await,
    )
}

#[server(endpoint = "billing_movements")]
pub async fn get_movements() -> Result<Vec<MovementRow>, AppError> {
    use crate::server::billing_view;
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            billing_view::movements(&state, user.id).await
        }
        .await,
    )
}

#[server(endpoint = "billing_refused")]
pub async fn get_refused() -> Result<Vec<RefusedRow>, AppError> {
    use crate::server::billing_view;
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            billing_view::refused(&state, user.id).await
        }
        .await,
    )
}

#[component]
pub fn BillsPage() -> impl IntoView {
    let map = use_query_map();
    let query = Memo::new(move |_| {
        let m = map.read();
        BillQuery {
            from: m.get("from").unwrap_or_default(),
            until: m.get("until").unwrap_or_default(),
            key: m.get("key").unwrap_or_default(),
            model: m.get("model").unwrap_or_default(),
            page: m.get("page").and_then(|p| p.parse().ok()).unwrap_or(1),
        }
    });
    let tab = Memo::new(move |_| map.read().get("tab").unwrap_or_default());
    let subtab = move |href: &'static str, id: &'static str, label: &'static str| {
        view! {
            <a href=href class=move || if tab.get() == id { "subtab active" } else { "subtab" }
                aria-current=move || (tab.get() == id).then_some("page")>{label}</a>
        }
    };
    view! {
        <Title text="Bills" />
        <h1>"Billing"</h1>
        <BillingTabs current="bills" />
        <nav class="subtabs" aria-label="Bills">
            {subtab("/billing/bills", "", "API calls")}
            {subtab("/billing/bills?tab=movements", "movements", "Money movements")}
            {subtab("/billing/bills?tab=refused", "refused", "Refused calls")}
        </nav>
        {move || match tab.get().as_str() {
            "movements" => view! { <Movements /> }.into_any(),
            "refused" => view! { <Refused /> }.into_any(),
            _ => view! { <CallBills query /> }.into_any(),
        }}
    }
}

#[component]
fn CallBills(query: Memo<BillQuery>) -> impl IntoView {
    let data = Resource::new(move || query.get(), get_bills);
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let q = query.get_untracked();
                match data.await {
                    Ok(v) => bills_view(v, q).into_any(),
                    Err(e) => load_error(e, "/billing/bills"),
                }
            })}
        </Suspense>
    }
}

fn bills_view(v: BillsView, q: BillQuery) -> impl IntoView {
    let filters = q.filter_query();
    let csv =
        if filters.is_empty() { "/billing/bills.csv".to_string() } else { format!("/billing/bills.csv?{filters}") };
    let page_link = {
        let filters = filters.clone();
        move |page: u32| {
            if filters.is_empty() {
                format!("/billing/bills?page={page}")
            } else {
                format!("/billing/bills?{filters}&page={page}")
            }
        }
    };
    let option = |value: String, selected: &str| {
        let is = value == selected;
        let label = value.clone();
        view! { <option value=value selected=is>{label}</option> }
    };
    let showing = if v.total == 0 {
        "No calls match.".to_string()
    } else {
        format!("{} call{}, page {} of {}", v.total, if v.total == 1 { "" } else { "s" }, v.page, v.pages)
    };
    view! {
        <form method="get" action="/billing/bills" class="filters card">
            <label>"From" <input type="date" name="from" value=q.from.clone() /></label>
            <label>"Until" <input type="date" name="until" value=q.until.clone() /></label>
            <label>"Key"
                <select name="key">
                    <option value="">"All keys"</option>
                    {v.keys.iter().map(|k| option(k.clone(), &q.key)).collect_view()}
                </select>
            </label>
            <label>"Model"
                <select name="model">
                    <option value="">"All models"</option>
                    {v.models.iter().map(|m| option(m.clone(), &q.model)).collect_view()}
                </select>
            </label>
            <div class="filter-actions">
                <button type="submit" class="btn primary small">"Filter"</button>
                <a href="/billing/bills" class="btn ghost small">"Clear"</a>
                <a href=csv rel="external" class="btn ghost small" download="gatehouse-bills.csv">"Export CSV"</a>
            </div>
        </form>
        {v.filter_error.clone().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
        <p class="muted small" data-testid="bills-summary">{showing}</p>
        {(!v.rows.is_empty()).then(|| view! {
            <div class="table-wrap card flush" tabindex="0" role="region" aria-label="Bills">
                <table class="data cards bills" data-testid="bills">
                    <thead>
                        <tr>
                            <th>"Time (UTC)"</th><th>"Key"</th><th>"Channel"</th><th>"Model"</th>
                            <th class="num" title="Input / output tokens; cache write / read tokens below">"Tokens"</th>
                            <th title="How the call ended, how long it took, and its request id">"Call"</th>
                            <th class="num">"Official cost"</th><th class="num">"Packages paid"</th>
                            <th class="num">"Balance paid"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {v.rows.into_iter().map(|b| view! {
                            <tr>
                                <td class="nowrap" data-label="Time (UTC)">{b.at}</td>
                                <td data-label="Key">{b.key_name}</td>
                                <td data-label="Channel">
                                    {b.channel}
                                    <span class="muted small nowrap" title="What your balance pays, times the official price">{format!(" ×{}", b.multiplier)}</span>
                                </td>
                                <td class="mono model" data-label="Model">{b.model}</td>
                                <td class="num tokens" data-label="Tokens">
                                    <span class="nowrap">{format!("{} in · {} out", thousands(b.input_tokens), thousands(b.output_tokens))}</span>
                                    {(b.cache_write_tokens + b.cache_read_tokens > 0).then(|| view! {
                                        <span class="muted small nowrap">{format!("cache {} w / {} r", thousands(b.cache_write_tokens), thousands(b.cache_read_tokens))}</span>
                                    })}
                                    {(b.web_searches > 0).then(|| view! {
                                        <span class="muted small nowrap">{format!("{} web search{}", b.web_searches, if b.web_searches == 1 { "" } else { "es" })}</span>
                                    })}
                                </td>
                                <td data-label="Call" class="call-facts">
                                    <span class="nowrap">{if b.latency.is_empty() { b.outcome.clone() } else { format!("{} · {}", b.outcome, b.latency) }}</span>
                                    {(!b.request_id.is_empty()).then(|| view! {
                                        <span class="mono muted small request-id" title=format!("Request id {}", b.request_id)>{b.request_id.clone()}</span>
                                    })}
                                </td>
                                <td class="num" data-label="Official cost"><Amount usd=b.official_cost /></td>
                                <td class="num" data-label="Packages paid"><Amount usd=b.packages_paid /></td>
                                <td class="num strong" data-label="Balance paid" data-testid="balance-paid"><Amount usd=b.balance_paid /></td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                    <tfoot>
                        <tr data-testid="bills-total">
                            <th scope="row" colspan="6">{format!("Total, {} call{} matching", v.total, if v.total == 1 { "" } else { "s" })}</th>
                            <td class="num" data-label="Official cost"><Amount usd=v.totals.official_cost.clone() /></td>
                            <td class="num" data-label="Packages paid"><Amount usd=v.totals.packages_paid.clone() /></td>
                            <td class="num strong" data-label="Balance paid"><Amount usd=v.totals.balance_paid.clone() /></td>
                        </tr>
                    </tfoot>
                </table>
            </div>
        })}
        {(v.pages > 1).then(|| view! {
            <nav class="pager" aria-label="Pages">
                {(v.page > 1).then(|| view! { <a class="btn ghost small" href=page_link(v.page - 1)>"← Newer"</a> })}
                <span class="muted small">{format!("Page {} of {}", v.page, v.pages)}</span>
                {(v.page < v.pages).then(|| view! { <a class="btn ghost small" href=page_link(v.page + 1)>"Older →"</a> })}
            </nav>
        })}
        <p class="muted small">
            "A call paid entirely by a resource package shows $0.0000 under Balance paid. ×0.2 beside a channel is what "
            "it multiplies the official price by when your balance pays; packages always pay the official price. "
            "Amounts are rounded; point at one to see it exactly, or export the CSV."
        </p>
    }
}

#[component]
fn Movements() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_movements());
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(rows) if rows.is_empty() => view! { <p class="muted">"No money has moved yet."</p> }.into_any(),
                    Ok(rows) => view! {
                        <div class="table-wrap card flush" tabindex="0" role="region" aria-label="Money movements">
                            <table class="data cards" data-testid="movements">
                                <thead>
                                    <tr>
                                        <th>"Time (UTC)"</th><th>"What"</th><th>"Details"</th>
                                        <th class="num">"Balance"</th><th class="num">"Package"</th><th class="num">"Balance after"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {rows.into_iter().map(|m| view! {
                                        <tr class:calls={m.calls > 0}>
                                            <td class="nowrap" data-label="Time (UTC)">{m.at.clone()}</td>
                                            <td data-label="What">{m.what}</td>
                                            <td data-label="Details">
                                                {if m.calls > 0 {
                                                    let day = m.at.chars().take(10).collect::<String>();
                                                    view! { <a href=format!("/billing/bills?from={day}&until={day}")>{format!("Bills of {day}")}</a> }.into_any()
                                                } else {
                                                    m.memo.into_any()
                                                }}
                                            </td>
                                            <td class="num" data-label="Balance"><Amount usd=m.balance_change signed=true /></td>
                                            <td class="num" data-label="Package"><Amount usd=m.package_change signed=true /></td>
                                            <td class="num" data-label="Balance after"><Amount usd=m.balance_after /></td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                    Err(e) => load_error(e, "/billing/bills"),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Refused() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_refused());
    view! {
        <p class="muted small">
            "Calls refused before they ran, so you can see why a tool failed. Nothing was charged for them. "
            "402: your balance cannot pay (top up, or wait for running calls to finish); 429: your requests-per-minute "
            "limit. One refusal per 10 seconds of each kind is kept, for 30 days."
        </p>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(rows) if rows.is_empty() => view! { <p class="muted" data-testid="no-refused">"No refused calls."</p> }.into_any(),
                    Ok(rows) => view! {
                        <div class="table-wrap card flush" tabindex="0" role="region" aria-label="Refused calls">
                            <table class="data cards" data-testid="refused">
                                <thead>
                                    <tr>
                                        <th>"Time (UTC)"</th><th>"Key"</th><th>"Channel"</th><th>"Model"</th>
                                        <th class="num">"Status"</th><th>"Why"</th><th>"Request id"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {rows.into_iter().map(|r| view! {
                                        <tr>
                                            <td class="nowrap" data-label="Time (UTC)">{r.at}</td>
                                            <td data-label="Key">{r.key_name}</td>
                                            <td data-label="Channel">{r.channel}</td>
                                            <td class="mono model" data-label="Model">{r.model}</td>
                                            <td class="num" data-label="Status">{r.status}</td>
                                            <td data-label="Why">{r.reason}</td>
                                            <td data-label="Request id"><span class="mono small request-id" title=r.request_id.clone()>{r.request_id.clone()}</span></td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any(),
                    Err(e) => load_error(e, "/billing/bills"),
                }
            })}
        </Suspense>
    }
}
