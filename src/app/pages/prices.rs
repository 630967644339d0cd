//! `/prices` (public): every model of the price table with its official prices per million tokens, the
//! channels and their multipliers, and what the balance pays for each model on each channel serving it.

use crate::app::components::error_text::error_text;
use crate::i18n::*;
use crate::shared::error::AppError;
use crate::shared::prices::{ModelPriceRow, PricesView};
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "prices")]
pub async fn get_prices() -> Result<PricesView, AppError> {
    use crate::server::fn_support::{answer, state};
    let locale = crate::server::fn_support::locale();
    answer(state().map(|state| crate::server::prices_view::prices(&state.pricing.current(), locale)))
}

#[component]
pub fn PricesPage() -> impl IntoView {
    let i18n = use_i18n();
    let data = Resource::new(|| (), |_| get_prices());
    view! {
        <Title text=tu_string!(i18n, prices.title) />
        <h1>{t!(i18n, prices.title)}</h1>
        <p class="lead-small">{t!(i18n, prices.lead)}</p>
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => prices_view(v).into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn prices_view(v: PricesView) -> impl IntoView {
    let i18n = use_i18n();
    let (anthropic, openai): (Vec<ModelPriceRow>, Vec<ModelPriceRow>) =
        v.models.into_iter().partition(|m| m.provider == "Anthropic");
    view! {
        <section class="card">
            <h2>{t!(i18n, prices.channels)}</h2>
            <ul class="channel-list" data-testid="channels">
                {v.channels.into_iter().map(|c| {
                    let multiplier = c.multiplier;
                    view! {
                        <li>
                            <strong>{c.label}</strong>
                            {t!(i18n, prices.balance_pays_times, multiplier = move || multiplier.clone())}
                            <span class="muted">{match c.serves {
                                Some(s) => t!(i18n, prices.serves, models = move || s.clone()).into_any(),
                                None => t!(i18n, prices.serves_every_model).into_any(),
                            }}</span>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
        {model_table(tu_string!(i18n, prices.anthropic_models), anthropic, true)}
        {model_table(tu_string!(i18n, prices.openai_models), openai, false)}
    }
}

fn model_table(title: &'static str, rows: Vec<ModelPriceRow>, cache_writes: bool) -> impl IntoView {
    let i18n = use_i18n();
    let model = tu_string!(i18n, prices.model);
    let input = tu_string!(i18n, prices.input);
    let output = tu_string!(i18n, prices.output);
    let cache_write = tu_string!(i18n, prices.cache_write);
    let cache_read =
        if cache_writes { tu_string!(i18n, prices.cache_read) } else { tu_string!(i18n, prices.cached_input) };
    let balance_pays = tu_string!(i18n, prices.balance_pays);
    let balance_pays_head = tu_string!(i18n, prices.balance_pays_head);
    let colon = tu_string!(i18n, prices.colon);
    (!rows.is_empty()).then(|| view! {
        <h2>{title}</h2>
        <div class="table-wrap card flush" tabindex="0" role="region" aria-label=title>
            <table class="data cards prices" data-testid="prices">
                <thead>
                    <tr>
                        <th>{model}</th><th class="num">{input}</th><th class="num">{output}</th>
                        {cache_writes.then(|| view! { <th class="num">{cache_write}</th> })}
                        <th class="num">{cache_read}</th>
                        <th>{balance_pays_head}</th>
                    </tr>
                </thead>
                <tbody>
                    {rows.into_iter().map(|m| view! {
                        <tr>
                            <td class="mono" data-label=model>
                                {m.id}
                                {m.long_prompt.map(|l| view! { <span class="muted small block">{l}</span> })}
                                {m.unit_note.map(|l| view! { <span class="muted small block">{l}</span> })}
                            </td>
                            <td class="num" data-label=input>{m.input}</td>
                            <td class="num" data-label=output>{m.output}</td>
                            {cache_writes.then(|| view! {
                                <td class="num" data-label=cache_write>{format!("{} / {}", m.cache_write_5m, m.cache_write_1h)}</td>
                            })}
                            <td class="num" data-label=cache_read>{m.cache_read}</td>
                            <td data-label=balance_pays>
                                {m.balance_pays.into_iter().map(|(channel, pays_in, pays_out)| view! {
                                    <span class="block small"><span class="nowrap">{channel}</span>{colon}<span class="nowrap">{format!("{pays_in} / {pays_out}")}</span></span>
                                }).collect_view()}
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    })
}
