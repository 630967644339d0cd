//! `/prices` (public): every model of the price table with its official prices per million tokens, the
//! channels and their multipliers, and what the balance pays for each model on each channel serving it.

use crate::shared::error::AppError;
use crate::shared::prices::{ModelPriceRow, PricesView};
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "prices")]
pub async fn get_prices() -> Result<PricesView, AppError> {
    use crate::server::fn_support::{answer, state};
    answer(state().map(|state| crate::server::prices_view::prices(&state.pricing.current())))
}

#[component]
pub fn PricesPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_prices());
    view! {
        <Title text="Prices" />
        <h1>"Prices"</h1>
        <p class="lead-small">
            "Official list prices in USD per million tokens. Resource packages pay the official price; your balance "
            "pays the official price times the channel's multiplier. Every call's cost is on your Bills page."
        </p>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => prices_view(v).into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn prices_view(v: PricesView) -> impl IntoView {
    let (anthropic, openai): (Vec<ModelPriceRow>, Vec<ModelPriceRow>) =
        v.models.into_iter().partition(|m| m.provider == "Anthropic");
    view! {
        <section class="card">
            <h2>"Channels"</h2>
            <ul class="channel-list" data-testid="channels">
                {v.channels.into_iter().map(|c| view! {
                    <li>
                        <strong>{c.label}</strong>
                        {format!(": balance pays the official price ×{}", c.multiplier)}
                        <span class="muted">{match c.serves {
                            Some(s) => format!(" · serves {s}"),
                            None => " · serves every model below".to_string(),
                        }}</span>
                    </li>
                }).collect_view()}
            </ul>
        </section>
        {model_table("Anthropic models", anthropic, true)}
        {model_table("OpenAI models", openai, false)}
    }
}

fn model_table(title: &'static str, rows: Vec<ModelPriceRow>, cache_writes: bool) -> impl IntoView {
    (!rows.is_empty()).then(|| view! {
        <h2>{title}</h2>
        <div class="table-wrap card flush" tabindex="0" role="region" aria-label=title>
            <table class="data cards prices" data-testid="prices">
                <thead>
                    <tr>
                        <th>"Model"</th><th class="num">"Input"</th><th class="num">"Output"</th>
                        {cache_writes.then(|| view! { <th class="num">"Cache write 5 m / 1 h"</th> })}
                        <th class="num">{if cache_writes { "Cache read" } else { "Cached input" }}</th>
                        <th>"Your balance pays (input / output)"</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|m| view! {
                        <tr>
                            <td class="mono" data-label="Model">
                                {m.id}
                                {m.long_prompt.map(|l| view! { <span class="muted small block">{l}</span> })}
                            </td>
                            <td class="num" data-label="Input">{m.input}</td>
                            <td class="num" data-label="Output">{m.output}</td>
                            {cache_writes.then(|| view! {
                                <td class="num" data-label="Cache write 5 m / 1 h">{format!("{} / {}", m.cache_write_5m, m.cache_write_1h)}</td>
                            })}
                            <td class="num" data-label=if cache_writes { "Cache read" } else { "Cached input" }>{m.cache_read}</td>
                            <td data-label="Your balance pays">
                                {m.balance_pays.into_iter().map(|(channel, input, output)| view! {
                                    <span class="block small"><span class="nowrap">{channel}</span>": "<span class="nowrap">{format!("{input} / {output}")}</span></span>
                                }).collect_view()}
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    })
}
