//! `/billing/usage`: spend per day over the last 30 days as a chart (SVG drawn with the page, no script
//! library), and the same calls summed per channel, model and key with totals; the sums as CSV.

use super::{load_error, BillingTabs};
use crate::app::components::usd::Amount;
use crate::i18n::*;
use crate::shared::billing::{UsageDay, UsageLine, UsageView};
use crate::shared::error::AppError;
use crate::shared::numbers::thousands;
use crate::shared::text::fill;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "billing_usage")]
pub async fn get_usage() -> Result<UsageView, AppError> {
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            crate::server::usage_view::usage(&state, user.id, crate::server::fn_support::locale()).await
        }
        .await,
    )
}

#[component]
pub fn UsagePage() -> impl IntoView {
    let i18n = use_i18n();
    let data = Resource::new(|| (), |_| get_usage());
    view! {
        <Title text=tu_string!(i18n, usage.title) />
        <h1>{t!(i18n, usage.heading)}</h1>
        <BillingTabs current="usage" />
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => usage_view(v).into_any(),
                    Err(e) => load_error(e, "/billing/usage"),
                }
            })}
        </Suspense>
    }
}

fn usage_view(v: UsageView) -> impl IntoView {
    let i18n = use_i18n();
    let days = v.days.len();
    let spend_per_day = fill(tu_string!(i18n, usage.spend_per_day), &[("days", &days)]);
    // "N calls: $x from your balance, $y from packages (official price $z)."
    let total_line = {
        let calls = thousands(v.total.calls);
        let balance_paid = v.total.balance_paid.clone();
        let packages_paid = v.total.packages_paid.clone();
        let official_cost = v.total.official_cost.clone();
        let balance = move || view! { <Amount usd=balance_paid.clone() /> };
        let packages = move || view! { <Amount usd=packages_paid.clone() /> };
        let official = move || view! { <Amount usd=official_cost.clone() /> };
        if v.total.calls == 1 {
            t!(
                i18n,
                usage.total_single,
                n = move || calls.clone(),
                balance = balance,
                packages = packages,
                official = official
            )
            .into_any()
        } else {
            t!(
                i18n,
                usage.total_plural,
                n = move || calls.clone(),
                balance = balance,
                packages = packages,
                official = official
            )
            .into_any()
        }
    };
    view! {
        <section class="card" data-testid="usage-chart">
            <div class="card-head">
                <h2>{spend_per_day}</h2>
                <a href="/billing/usage.csv" rel="external" class="btn ghost small" download="gatehouse-usage.csv">{t!(i18n, usage.export_csv)}</a>
            </div>
            <p class="muted small" data-testid="usage-total">{total_line}</p>
            {chart(v.days)}
        </section>
        {usage_table("channel", tu_string!(i18n, usage.by_channel), tu_string!(i18n, usage.channel), v.by_channel, v.total.clone())}
        {usage_table("model", tu_string!(i18n, usage.by_model), tu_string!(i18n, usage.model), v.by_model, v.total.clone())}
        {usage_table("key", tu_string!(i18n, usage.by_key), tu_string!(i18n, usage.key), v.by_key, v.total)}
    }
}

/// `$1.25` at a cent and above, `$0.0042` below: an axis label from 1e-9 USD (integer arithmetic).
fn axis_label(units: i64) -> String {
    const CENT: i64 = 10_000_000;
    if units >= CENT || units == 0 {
        let cents = (units + CENT / 2) / CENT;
        format!("${}.{:02}", cents / 100, cents % 100)
    } else {
        let tenth_mills = (units + 50_000) / 100_000;
        format!("$0.{tenth_mills:04}")
    }
}

/// Bars per day, what packages paid below what the balance paid; each bar names its day and amounts.
fn chart(days: Vec<UsageDay>) -> impl IntoView {
    const W: i64 = 760;
    const H: i64 = 220;
    const LEFT: i64 = 64;
    const BOTTOM: i64 = 26;
    const TOP: i64 = 10;
    let i18n = use_i18n();
    let top = days.iter().map(|d| d.packages_units + d.balance_units).max().unwrap_or(0);
    if top == 0 {
        return view! { <p class="muted empty-state" data-testid="usage-empty">{t!(i18n, usage.no_calls)}</p> }
            .into_any();
    }
    let n = i64::try_from(days.len()).unwrap_or(1).max(1);
    let slot = (W - LEFT) * 1000 / n;
    let plot = H - BOTTOM - TOP;
    let height = |units: i64| i64::try_from(i128::from(units) * i128::from(plot) / i128::from(top)).unwrap_or(plot);
    let label_every = if n > 14 { 7 } else { 1 };
    view! {
        <svg class="usage-chart" viewBox=format!("0 0 {W} {H}") role="img" aria-labelledby="usage-chart-title">
            <title id="usage-chart-title">{t!(i18n, usage.chart_title)}</title>
            {[0, top / 2, top].into_iter().map(|tick| {
                let y = H - BOTTOM - height(tick);
                view! {
                    <line x1=LEFT x2=W y1=y y2=y class="grid" />
                    <text x=LEFT - 8 y=y + 4 text-anchor="end" class="axis">{axis_label(tick)}</text>
                }
            }).collect_view()}
            {days.into_iter().enumerate().map(|(i, d)| {
                let i = i64::try_from(i).unwrap_or(0);
                let x = LEFT + (i * slot + slot / 8) / 1000;
                let width = (slot * 3 / 4 / 1000).max(2);
                let packages = height(d.packages_units);
                let balance = height(d.balance_units);
                let base = H - BOTTOM;
                // Every week's first day and the last day, never two labels side by side.
                let shown_label = i == n - 1 || (i % label_every == 0 && n - 1 - i > label_every / 2);
                let tip = fill(
                    if d.calls == 1 { tu_string!(i18n, usage.bar_tip_single) } else { tu_string!(i18n, usage.bar_tip_plural) },
                    &[("date", &d.date), ("n", &d.calls), ("packages", &d.packages.shown), ("balance", &d.balance.shown)],
                );
                view! {
                    <g class="bar" data-date=d.date.clone()>
                        <title>{tip}</title>
                        <rect x=x width=width y=base - packages height=packages class="packages" />
                        <rect x=x width=width y=base - packages - balance height=balance class="balance" />
                        {shown_label.then(|| view! {
                            <text x=x + width / 2 y=H - 8 text-anchor="middle" class="axis">{d.date[5..].to_string()}</text>
                        })}
                    </g>
                }
            }).collect_view()}
        </svg>
        <p class="legend small">
            <span class="swatch packages"></span>" "{t!(i18n, usage.paid_by_packages)}" "
            <span class="swatch balance"></span>" "{t!(i18n, usage.paid_by_balance)}
        </p>
    }
    .into_any()
}

/// One table of sums: `id` (`channel`, `model`, `key`) names it for tests and styling; `title` and
/// `what` (its first column's header) are translated.
fn usage_table(
    id: &'static str,
    title: &'static str,
    what: &'static str,
    lines: Vec<UsageLine>,
    total: UsageLine,
) -> impl IntoView {
    let i18n = use_i18n();
    (!lines.is_empty()).then(|| view! {
        <h2>{title}</h2>
        <div class="table-wrap card flush" tabindex="0" role="region" aria-label=title>
            <table class="data cards" data-testid=format!("usage-{id}")>
                <thead>
                    <tr>
                        <th>{what}</th><th class="num">{t!(i18n, usage.calls)}</th><th class="num">{t!(i18n, usage.tokens_in_out)}</th>
                        <th class="num">{t!(i18n, usage.official_cost)}</th><th class="num">{t!(i18n, usage.packages_paid)}</th>
                        <th class="num">{t!(i18n, usage.balance_paid)}</th>
                    </tr>
                </thead>
                <tbody>
                    {lines.into_iter().map(|l| line_row(l, id, what, false)).collect_view()}
                </tbody>
                <tfoot>{line_row(total, id, what, true)}</tfoot>
            </table>
        </div>
    })
}

fn line_row(l: UsageLine, id: &'static str, what: &'static str, total: bool) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <tr>
            {if total {
                view! { <th scope="row">{l.label}</th> }.into_any()
            } else {
                view! { <td class:mono={id == "model"} class="model" data-label=what>{l.label}</td> }.into_any()
            }}
            <td class="num" data-label=tu_string!(i18n, usage.calls)>{thousands(l.calls)}</td>
            <td class="num" data-label=tu_string!(i18n, usage.tokens_in_out)>{format!("{} / {}", thousands(l.input_tokens), thousands(l.output_tokens))}</td>
            <td class="num" data-label=tu_string!(i18n, usage.official_cost)><Amount usd=l.official_cost /></td>
            <td class="num" data-label=tu_string!(i18n, usage.packages_paid)><Amount usd=l.packages_paid /></td>
            <td class="num strong" data-label=tu_string!(i18n, usage.balance_paid)><Amount usd=l.balance_paid /></td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_labels_read_in_cents_or_to_four_decimals() {
        assert_eq!(axis_label(0), "$0.00");
        assert_eq!(axis_label(2_585_603_850), "$2.59");
        assert_eq!(axis_label(10_000_000), "$0.01");
        assert_eq!(axis_label(4_200_000), "$0.0042");
    }
}
