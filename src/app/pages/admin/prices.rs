//! `/admin/prices`: the price table and channel multipliers in force; edit them (checked whole, in force at
//! once on every instance, no restart), and every saved version with who saved it and why (restore one).

use super::{action_outcome, admin_error, successes, AdminTabs};
use crate::i18n::*;
use crate::shared::admin::PricesAdminView;
use crate::shared::error::AppError;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "admin_prices")]
pub async fn admin_prices() -> Result<PricesAdminView, AppError> {
    use crate::server::fn_support::{answer, locale, require_operator, state};
    answer(
        async {
            let state = state()?;
            require_operator(&state).await?;
            crate::server::admin_view::prices(&state, locale()).await
        }
        .await,
    )
}

#[server(endpoint = "admin_save_prices")]
pub async fn admin_save_prices(table: String, multipliers: String, reason: String, base: i64) -> Result<i64, AppError> {
    use crate::server::admin_view::save_prices;
    use crate::server::fn_support::{answer, locale, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            save_prices(&state, &operator, &table, &multipliers, &reason, (None, base), locale()).await
        }
        .await,
    )
}

#[server(endpoint = "admin_restore_prices")]
pub async fn admin_restore_prices(id: i64, reason: String, base: i64) -> Result<i64, AppError> {
    use crate::server::fn_support::{answer, locale, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            crate::server::admin_view::restore_prices(&state, &operator, id, &reason, base, locale()).await
        }
        .await,
    )
}

#[component]
pub fn AdminPricesPage() -> impl IntoView {
    let i18n = use_i18n();
    let save = ServerAction::<AdminSavePrices>::new();
    let restore = ServerAction::<AdminRestorePrices>::new();
    let (saved, restored) = (successes(save.value()), successes(restore.value()));
    let data = Resource::new(move || (saved.get(), restored.get()), |_| admin_prices());
    view! {
        <Title text=tu_string!(i18n, admin_prices.page_title) />
        <Transition fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => prices_view(v, save, restore).into_any(),
                    Err(e) => admin_error(e),
                }
            })}
        </Transition>
    }
}

fn prices_view(
    v: PricesAdminView,
    save: ServerAction<AdminSavePrices>,
    restore: ServerAction<AdminRestorePrices>,
) -> impl IntoView {
    let i18n = use_i18n();
    let lines = v.table_text.lines().count().clamp(10, 30).to_string();
    let base = v.version.unwrap_or(0);
    let models = v.models;
    view! {
        <AdminTabs current="prices" />
        <h1>{t!(i18n, admin_prices.heading)}</h1>
        <section class="card">
            <h2>{t!(i18n, admin_prices.in_force)}</h2>
            <p data-testid="prices-in-force">{v.in_force}</p>
            <p class="muted small">
                {t!(i18n, admin_prices.priced_models, n = move || models)}
                " "
                {v.multipliers.iter().map(|(c, m)| format!("{c} ×{m}")).collect::<Vec<_>>().join(" · ")}
            </p>
            <p class="muted small">{t!(i18n, admin_prices.charged_note, <a> = <a href="/prices" />)}</p>
        </section>
        <section class="card">
            <h2>{t!(i18n, admin_prices.edit)}</h2>
            <ActionForm action=save attr:class="stack" attr:data-testid="prices-form">
                <input type="hidden" name="base" value=base.to_string() />
                <label for="prices-multipliers">{t!(i18n, admin_prices.multipliers_label)}</label>
                <input id="prices-multipliers" type="text" name="multipliers" value=v.multipliers_text required />
                <label for="prices-table">{t!(i18n, admin_prices.table_label)}</label>
                <textarea id="prices-table" name="table" class="code-edit" rows=lines spellcheck="false" required>{v.table_text}</textarea>
                <label for="prices-reason">{t!(i18n, admin_prices.reason)}</label>
                <input id="prices-reason" type="text" name="reason" required />
                <button type="submit" class="btn primary">{t!(i18n, admin_prices.check_and_save)}</button>
            </ActionForm>
            {action_outcome(save.value(), tu_string!(i18n, admin_prices.saved_in_force))}
        </section>
        <section class="card">
            <h2>{t!(i18n, admin_prices.saved_versions)}</h2>
            {action_outcome(restore.value(), tu_string!(i18n, admin_prices.restored))}
            {if v.versions.is_empty() {
                view! { <p class="muted" data-testid="no-versions">{t!(i18n, admin_prices.no_versions)}</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap" tabindex="0" role="region" aria-label=tu_string!(i18n, admin_prices.versions_label)>
                        <table class="data" data-testid="price-versions">
                            <thead><tr>
                                <th>{t!(i18n, admin_prices.version)}</th>
                                <th>{t!(i18n, admin_prices.saved_utc)}</th>
                                <th>{t!(i18n, admin_prices.by)}</th>
                                <th>{t!(i18n, admin_prices.why)}</th>
                                <th>{t!(i18n, admin_prices.multipliers)}</th>
                                <th>{t!(i18n, admin_prices.restore)}</th>
                            </tr></thead>
                            <tbody>
                                {v.versions.into_iter().map(|r| {
                                    let id = r.id.to_string();
                                    view! {
                                        <tr>
                                            <td>{r.id}{r.in_force.then(|| view! { " " <span class="badge ok">{t!(i18n, admin_prices.in_force_badge)}</span> })}</td>
                                            <td class="nowrap">{r.at}</td>
                                            <td>{r.actor}</td>
                                            <td translate="no">{r.reason}</td>
                                            <td class="mono small">{r.multipliers}</td>
                                            <td class="actions-cell">
                                                {(!r.in_force).then(|| view! {
                                                    <ActionForm action=restore attr:class="inline-form">
                                                        <input type="hidden" name="id" value=id />
                                                        <input type="hidden" name="base" value=base.to_string() />
                                                        <input
                                                            type="text"
                                                            name="reason"
                                                            placeholder=tu_string!(i18n, admin_prices.why)
                                                            aria-label=tu_string!(i18n, admin_prices.why_restore)
                                                            required
                                                        />
                                                        <button type="submit" class="btn ghost small">{t!(i18n, admin_prices.restore)}</button>
                                                    </ActionForm>
                                                })}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}
