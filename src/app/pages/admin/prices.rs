//! `/admin/prices`: the price table and channel multipliers in force; edit them (checked whole, in force at
//! once on every instance, no restart), and every saved version with who saved it and why (restore one).

use super::{action_outcome, admin_error, successes, AdminTabs};
use crate::shared::admin::PricesAdminView;
use crate::shared::error::AppError;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "admin_prices")]
pub async fn admin_prices() -> Result<PricesAdminView, AppError> {
    use crate::server::fn_support::{answer, require_operator, state};
    answer(
        async {
            let state = state()?;
            require_operator(&state).await?;
            crate::server::admin_view::prices(&state).await
        }
        .await,
    )
}

#[server(endpoint = "admin_save_prices")]
pub async fn admin_save_prices(table: String, multipliers: String, reason: String, base: i64) -> Result<i64, AppError> {
    use crate::server::fn_support::{answer, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            crate::server::admin_view::save_prices(&state, &operator, &table, &multipliers, &reason, ("saved", base))
                .await
        }
        .await,
    )
}

#[server(endpoint = "admin_restore_prices")]
pub async fn admin_restore_prices(id: i64, reason: String, base: i64) -> Result<i64, AppError> {
    use crate::server::fn_support::{answer, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            crate::server::admin_view::restore_prices(&state, &operator, id, &reason, base).await
        }
        .await,
    )
}

#[component]
pub fn AdminPricesPage() -> impl IntoView {
    let save = ServerAction::<AdminSavePrices>::new();
    let restore = ServerAction::<AdminRestorePrices>::new();
    let (saved, restored) = (successes(save.value()), successes(restore.value()));
    let data = Resource::new(move || (saved.get(), restored.get()), |_| admin_prices());
    view! {
        <Title text="Prices · Admin console" />
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
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
    let lines = v.table_text.lines().count().clamp(10, 30).to_string();
    let base = v.version.unwrap_or(0);
    view! {
        <AdminTabs current="prices" />
        <h1>"Prices"</h1>
        <section class="card">
            <h2>"In force"</h2>
            <p data-testid="prices-in-force">{v.in_force}</p>
            <p class="muted small">
                {format!("{} priced models and families. ", v.models)}
                {v.multipliers.iter().map(|(c, m)| format!("{c} ×{m}")).collect::<Vec<_>>().join(" · ")}
            </p>
            <p class="muted small">"A call is charged at the prices in force when it started. Every instance takes a saved version within seconds; the public " <a href="/prices">"prices page"</a> " shows it at once."</p>
        </section>
        <section class="card">
            <h2>"Edit"</h2>
            <ActionForm action=save attr:class="stack" attr:data-testid="prices-form">
                <input type="hidden" name="base" value=base.to_string() />
                <label for="prices-multipliers">"Channel multipliers (channel=multiplier, comma-separated; default applies to unlisted channels)"</label>
                <input id="prices-multipliers" type="text" name="multipliers" value=v.multipliers_text required />
                <label for="prices-table">"Price table (the format of config/prices.conf: USD per million tokens)"</label>
                <textarea id="prices-table" name="table" class="code-edit" rows=lines spellcheck="false" required>{v.table_text}</textarea>
                <label for="prices-reason">"Reason"</label>
                <input id="prices-reason" type="text" name="reason" required />
                <button type="submit" class="btn primary">"Check and save"</button>
            </ActionForm>
            {action_outcome(save.value(), "Saved and in force.")}
        </section>
        <section class="card">
            <h2>"Saved versions"</h2>
            {action_outcome(restore.value(), "Restored as a new version, in force.")}
            {if v.versions.is_empty() {
                view! { <p class="muted" data-testid="no-versions">"None yet: the configuration's prices are in force."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap" tabindex="0" role="region" aria-label="Saved price versions">
                        <table class="data" data-testid="price-versions">
                            <thead><tr><th>"Version"</th><th>"Saved (UTC)"</th><th>"By"</th><th>"Why"</th><th>"Multipliers"</th><th>"Restore"</th></tr></thead>
                            <tbody>
                                {v.versions.into_iter().map(|r| {
                                    let id = r.id.to_string();
                                    view! {
                                        <tr>
                                            <td>{r.id}{r.in_force.then(|| view! { " " <span class="badge ok">"In force"</span> })}</td>
                                            <td class="nowrap">{r.at}</td>
                                            <td>{r.actor}</td>
                                            <td>{r.reason}</td>
                                            <td class="mono small">{r.multipliers}</td>
                                            <td class="actions-cell">
                                                {(!r.in_force).then(|| view! {
                                                    <ActionForm action=restore attr:class="inline-form">
                                                        <input type="hidden" name="id" value=id />
                                                        <input type="hidden" name="base" value=base.to_string() />
                                                        <input type="text" name="reason" placeholder="Why" aria-label="Why restore" required />
                                                        <button type="submit" class="btn ghost small">"Restore"</button>
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
