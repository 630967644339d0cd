//! `/billing/bills`: one row per call (time, key, channel and rate, model, tokens, how it ended with its
//! latency and request id, official cost, paid by packages, paid by balance) with filters, totals, pages
//! and CSV export; the money movements (top-ups, grants, each day's calls summed) in a second tab; calls
//! refused before they ran (402, 429) in a third.

use super::{load_error, BillingTabs};
use crate::app::components::usd::Amount;
use crate::i18n::*;
use crate::shared::billing::{BillQuery, BillsView, MovementRow, RefusedRow};
use crate::shared::error::AppError;
use crate::shared::numbers::thousands;
use crate::shared::text::fill;
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
            billing_view::bills(&state, user.id, &query, crate::server::fn_support::locale()).await
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
            billing_view::movements(&state, user.id, crate::server::fn_support::locale()).await
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
            billing_view::refused(&state, user.id, crate::server::fn_support::locale()).await
        }
        .await,
    )
}

#[component]
pub fn BillsPage() -> impl IntoView {
    let i18n = use_i18n();
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
        <Title text=tu_string!(i18n, bills.title) />
        <h1>{t!(i18n, bills.heading)}</h1>
        <BillingTabs current="bills" />
        <nav class="subtabs" aria-label=tu_string!(i18n, bills.title)>
            {subtab("/billing/bills", "", tu_string!(i18n, bills.tab_calls))}
            {subtab("/billing/bills?tab=movements", "movements", tu_string!(i18n, bills.tab_movements))}
            {subtab("/billing/bills?tab=refused", "refused", tu_string!(i18n, bills.tab_refused))}
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
    let i18n = use_i18n();
    let data = Resource::new(move || query.get(), get_bills);
    view! {
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
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
    let i18n = use_i18n();
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
        tu_string!(i18n, bills.no_match).to_string()
    } else {
        let template =
            if v.total == 1 { tu_string!(i18n, bills.showing_single) } else { tu_string!(i18n, bills.showing_plural) };
        fill(template, &[("total", &v.total), ("page", &v.page), ("pages", &v.pages)])
    };
    let total_matching = fill(
        if v.total == 1 { tu_string!(i18n, bills.total_single) } else { tu_string!(i18n, bills.total_plural) },
        &[("n", &v.total)],
    );
    let page_of = fill(tu_string!(i18n, bills.page_of), &[("page", &v.page), ("pages", &v.pages)]);
    view! {
        <form method="get" action="/billing/bills" class="filters card">
            <label>{t!(i18n, bills.from_date)} <input type="date" name="from" value=q.from.clone() /></label>
            <label>{t!(i18n, bills.until_date)} <input type="date" name="until" value=q.until.clone() /></label>
            <label>{t!(i18n, bills.key)}
                <select name="key">
                    <option value="">{t!(i18n, bills.all_keys)}</option>
                    {v.keys.iter().map(|k| option(k.clone(), &q.key)).collect_view()}
                </select>
            </label>
            <label>{t!(i18n, bills.model)}
                <select name="model">
                    <option value="">{t!(i18n, bills.all_models)}</option>
                    {v.models.iter().map(|m| option(m.clone(), &q.model)).collect_view()}
                </select>
            </label>
            <div class="filter-actions">
                <button type="submit" class="btn primary small">{t!(i18n, bills.apply_filter)}</button>
                <a href="/billing/bills" class="btn ghost small">{t!(i18n, bills.clear_filter)}</a>
                <a href=csv rel="external" class="btn ghost small" download="gatehouse-bills.csv">{t!(i18n, bills.export_csv)}</a>
            </div>
        </form>
        {v.filter_error.clone().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
        <p class="muted small" data-testid="bills-summary">{showing}</p>
        {(!v.rows.is_empty()).then(|| view! {
            <div class="table-wrap card flush" tabindex="0" role="region" aria-label=tu_string!(i18n, bills.title)>
                <table class="data cards bills" data-testid="bills">
                    <thead>
                        <tr>
                            <th>{t!(i18n, bills.time_utc)}</th><th>{t!(i18n, bills.key)}</th>
                            <th>{t!(i18n, bills.channel)}</th><th>{t!(i18n, bills.model)}</th>
                            <th class="num" title=tu_string!(i18n, bills.tokens_hint)>{t!(i18n, bills.tokens)}</th>
                            <th title=tu_string!(i18n, bills.call_hint)>{t!(i18n, bills.call)}</th>
                            <th class="num">{t!(i18n, bills.official_cost)}</th><th class="num">{t!(i18n, bills.packages_paid)}</th>
                            <th class="num">{t!(i18n, bills.balance_paid)}</th>
                        </tr>
                    </thead>
                    <tbody>
                        {v.rows.into_iter().map(|b| view! {
                            <tr>
                                <td class="nowrap" data-label=tu_string!(i18n, bills.time_utc)>{b.at}</td>
                                <td data-label=tu_string!(i18n, bills.key) translate="no">{b.key_name}</td>
                                <td data-label=tu_string!(i18n, bills.channel)>
                                    {b.channel}
                                    <span class="muted small nowrap" title=tu_string!(i18n, bills.multiplier_hint)>{format!(" ×{}", b.multiplier)}</span>
                                </td>
                                <td class="mono model" data-label=tu_string!(i18n, bills.model)>{b.model}</td>
                                <td class="num tokens" data-label=tu_string!(i18n, bills.tokens)>
                                    <span class="nowrap">{if b.made_images {
                                        let template = if b.images == 1 { tu_string!(i18n, bills.images_single) } else { tu_string!(i18n, bills.images_plural) };
                                        fill(template, &[("n", &thousands(b.images))])
                                    } else if b.read_characters {
                                        fill(tu_string!(i18n, bills.characters_read), &[("count", &thousands(b.input_tokens))])
                                    } else {
                                        fill(tu_string!(i18n, bills.tokens_in_out), &[("input", &thousands(b.input_tokens)), ("output", &thousands(b.output_tokens))])
                                    }}</span>
                                    // An image model's tokens (text and images in, image out), when it is priced by them.
                                    {(b.made_images && b.input_tokens + b.output_tokens + b.cache_write_tokens + b.cache_read_tokens > 0).then(|| view! {
                                        <span class="muted small nowrap">{fill(tu_string!(i18n, bills.tokens_in_out), &[("input", &thousands(b.input_tokens + b.cache_write_tokens + b.cache_read_tokens)), ("output", &thousands(b.output_tokens))])}</span>
                                    })}
                                    {(!b.made_images && b.cache_write_tokens + b.cache_read_tokens > 0).then(|| view! {
                                        <span class="muted small nowrap">{fill(tu_string!(i18n, bills.cache_tokens), &[("write", &thousands(b.cache_write_tokens)), ("read", &thousands(b.cache_read_tokens))])}</span>
                                    })}
                                    {(b.web_searches > 0).then(|| {
                                        let template = if b.web_searches == 1 {
                                            tu_string!(i18n, bills.web_searches_single)
                                        } else {
                                            tu_string!(i18n, bills.web_searches_plural)
                                        };
                                        view! { <span class="muted small nowrap">{fill(template, &[("n", &b.web_searches)])}</span> }
                                    })}
                                </td>
                                <td data-label=tu_string!(i18n, bills.call) class="call-facts">
                                    <span class="nowrap">{if b.latency.is_empty() { b.outcome.clone() } else { format!("{} · {}", b.outcome, b.latency) }}</span>
                                    {(!b.request_id.is_empty()).then(|| view! {
                                        <span class="mono muted small request-id" title=fill(tu_string!(i18n, bills.request_id_named), &[("id", &b.request_id)])>{b.request_id.clone()}</span>
                                    })}
                                </td>
                                <td class="num" data-label=tu_string!(i18n, bills.official_cost)><Amount usd=b.official_cost /></td>
                                <td class="num" data-label=tu_string!(i18n, bills.packages_paid)><Amount usd=b.packages_paid /></td>
                                <td class="num strong" data-label=tu_string!(i18n, bills.balance_paid) data-testid="balance-paid"><Amount usd=b.balance_paid /></td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                    <tfoot>
                        <tr data-testid="bills-total">
                            <th scope="row" colspan="6">{total_matching}</th>
                            <td class="num" data-label=tu_string!(i18n, bills.official_cost)><Amount usd=v.totals.official_cost.clone() /></td>
                            <td class="num" data-label=tu_string!(i18n, bills.packages_paid)><Amount usd=v.totals.packages_paid.clone() /></td>
                            <td class="num strong" data-label=tu_string!(i18n, bills.balance_paid)><Amount usd=v.totals.balance_paid.clone() /></td>
                        </tr>
                    </tfoot>
                </table>
            </div>
        })}
        {(v.pages > 1).then(|| view! {
            <nav class="pager" aria-label=tu_string!(i18n, bills.pages)>
                {(v.page > 1).then(|| view! { <a class="btn ghost small" href=page_link(v.page - 1)>{t!(i18n, bills.newer)}</a> })}
                <span class="muted small">{page_of}</span>
                {(v.page < v.pages).then(|| view! { <a class="btn ghost small" href=page_link(v.page + 1)>{t!(i18n, bills.older)}</a> })}
            </nav>
        })}
        <p class="muted small">{t!(i18n, bills.note)}</p>
    }
}

#[component]
fn Movements() -> impl IntoView {
    let i18n = use_i18n();
    let data = Resource::new(|| (), |_| get_movements());
    view! {
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(rows) if rows.is_empty() => view! { <p class="muted">{t!(i18n, bills.no_movements)}</p> }.into_any(),
                    Ok(rows) => view! {
                        <div class="table-wrap card flush" tabindex="0" role="region" aria-label=tu_string!(i18n, bills.tab_movements)>
                            <table class="data cards" data-testid="movements">
                                <thead>
                                    <tr>
                                        <th>{t!(i18n, bills.time_utc)}</th><th>{t!(i18n, bills.what)}</th><th>{t!(i18n, bills.details)}</th>
                                        <th class="num">{t!(i18n, bills.balance)}</th><th class="num">{t!(i18n, bills.package)}</th>
                                        <th class="num">{t!(i18n, bills.balance_after)}</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {rows.into_iter().map(|m| view! {
                                        <tr class:calls={m.calls > 0}>
                                            <td class="nowrap" data-label=tu_string!(i18n, bills.time_utc)>{m.at.clone()}</td>
                                            <td data-label=tu_string!(i18n, bills.what)>{m.what}</td>
                                            <td data-label=tu_string!(i18n, bills.details) translate={(m.calls == 0).then_some("no")}>
                                                {if m.calls > 0 {
                                                    let day = m.day;
                                                    view! { <a href=format!("/billing/bills?from={day}&until={day}")>{fill(tu_string!(i18n, bills.bills_of_day), &[("day", &m.day_shown)])}</a> }.into_any()
                                                } else {
                                                    m.memo.into_any()
                                                }}
                                            </td>
                                            <td class="num" data-label=tu_string!(i18n, bills.balance)><Amount usd=m.balance_change signed=true /></td>
                                            <td class="num" data-label=tu_string!(i18n, bills.package)><Amount usd=m.package_change signed=true /></td>
                                            <td class="num" data-label=tu_string!(i18n, bills.balance_after)><Amount usd=m.balance_after /></td>
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
    let i18n = use_i18n();
    let data = Resource::new(|| (), |_| get_refused());
    view! {
        <p class="muted small">{t!(i18n, bills.refused_intro)}</p>
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(rows) if rows.is_empty() => view! { <p class="muted" data-testid="no-refused">{t!(i18n, bills.no_refused)}</p> }.into_any(),
                    Ok(rows) => view! {
                        <div class="table-wrap card flush" tabindex="0" role="region" aria-label=tu_string!(i18n, bills.tab_refused)>
                            <table class="data cards" data-testid="refused">
                                <thead>
                                    <tr>
                                        <th>{t!(i18n, bills.time_utc)}</th><th>{t!(i18n, bills.key)}</th>
                                        <th>{t!(i18n, bills.channel)}</th><th>{t!(i18n, bills.model)}</th>
                                        <th class="num">{t!(i18n, bills.status)}</th><th>{t!(i18n, bills.why)}</th>
                                        <th>{t!(i18n, bills.request_id)}</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {rows.into_iter().map(|r| view! {
                                        <tr>
                                            <td class="nowrap" data-label=tu_string!(i18n, bills.time_utc)>{r.at}</td>
                                            <td data-label=tu_string!(i18n, bills.key)>{r.key_name}</td>
                                            <td data-label=tu_string!(i18n, bills.channel)>{r.channel}</td>
                                            <td class="mono model" data-label=tu_string!(i18n, bills.model)>{r.model}</td>
                                            <td class="num" data-label=tu_string!(i18n, bills.status)>{r.status}</td>
                                            <td data-label=tu_string!(i18n, bills.why)>{r.reason}</td>
                                            <td data-label=tu_string!(i18n, bills.request_id)><span class="mono small request-id" title=r.request_id.clone()>{r.request_id.clone()}</span></td>
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
