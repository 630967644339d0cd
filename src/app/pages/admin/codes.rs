//! `/admin/codes`: make a batch of redemption codes (shown once, to copy), list codes with their uses,
//! withdraw one, and export the list as CSV.

use super::{action_outcome, admin_error, successes, AdminTabs};
use crate::app::components::error_text::error_text;
use crate::app::components::usd::Amount;
use crate::i18n::*;
use crate::shared::admin::{CodeRow, CodesView};
use crate::shared::error::AppError;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[server(endpoint = "admin_codes")]
pub async fn admin_codes(before: Option<i64>, note: String) -> Result<CodesView, AppError> {
    use crate::server::fn_support::{answer, locale, require_operator, state};
    answer(
        async {
            let state = state()?;
            require_operator(&state).await?;
            crate::server::admin_view::codes(&state, before, &note, locale()).await
        }
        .await,
    )
}

#[server(endpoint = "admin_create_codes")]
pub async fn admin_create_codes(
    amount: String,
    count: String,
    uses: String,
    days: String,
    note: String,
    reason: String,
    key: String,
) -> Result<Vec<String>, AppError> {
    use crate::server::admin_view::{create_codes, CodesForm};
    use crate::server::fn_support::{answer, locale, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            let (amount, count, uses, days, note) = (&amount, &count, &uses, &days, &note);
            let form = CodesForm { amount, count, uses, days, note, reason: &reason, key: &key };
            create_codes(&state, &operator, form, locale()).await
        }
        .await,
    )
}

#[server(endpoint = "admin_disable_code")]
pub async fn admin_disable_code(id: i64, reason: String) -> Result<(), AppError> {
    use crate::server::fn_support::{answer, locale, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            crate::server::admin_view::disable_code(&state, &operator, id, &reason, locale()).await
        }
        .await,
    )
}

#[component]
pub fn AdminCodesPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let asked = Memo::new(move |_| {
        let q = query.read();
        (q.get("before").and_then(|b| b.parse::<i64>().ok()), q.get("note").unwrap_or_default())
    });
    let create = ServerAction::<AdminCreateCodes>::new();
    let disable = ServerAction::<AdminDisableCode>::new();
    let (made, withdrawn) = (successes(create.value()), successes(disable.value()));
    let data = Resource::new(
        move || (asked.get(), made.get(), withdrawn.get()),
        |((before, note), ..)| admin_codes(before, note),
    );
    view! {
        <Title text=tu_string!(i18n, admin_codes.page_title) />
        <Transition fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => codes_view(v, asked.get_untracked().1, create, disable).into_any(),
                    Err(e) => admin_error(e),
                }
            })}
        </Transition>
    }
}

fn codes_view(
    v: CodesView,
    note: String,
    create: ServerAction<AdminCreateCodes>,
    disable: ServerAction<AdminDisableCode>,
) -> impl IntoView {
    let i18n = use_i18n();
    let older = v.older.map(|id| {
        let href = format!("/admin/codes?before={id}&note={}", crate::shared::billing::encode(&note));
        view! { <a class="btn ghost" href=href>{t!(i18n, admin_codes.older)}</a> }
    });
    view! {
        <AdminTabs current="codes" />
        <h1>{t!(i18n, admin_codes.heading)}</h1>
        <section class="card">
            <h2>{t!(i18n, admin_codes.make_batch)}</h2>
            <ActionForm action=create attr:class="key-form" attr:data-testid="codes-form">
                <input type="hidden" name="key" value=v.form_key />
                <div class="field"><label for="codes-amount">{t!(i18n, admin_codes.usd_each)}</label>
                    <input id="codes-amount" type="text" name="amount" inputmode="decimal" required /></div>
                <div class="field"><label for="codes-count">{t!(i18n, admin_codes.how_many_codes)}</label>
                    <input id="codes-count" type="text" name="count" inputmode="numeric" value="1" required /></div>
                <div class="field"><label for="codes-uses">{t!(i18n, admin_codes.uses_each)}</label>
                    <input id="codes-uses" type="text" name="uses" inputmode="numeric" value="1" required /></div>
                <div class="field"><label for="codes-days">{t!(i18n, admin_codes.valid_for_days)}</label>
                    <input id="codes-days" type="text" name="days" inputmode="numeric" placeholder=tu_string!(i18n, admin_codes.no_expiry) /></div>
                <div class="field"><label for="codes-note">{t!(i18n, admin_codes.note)}</label>
                    <input id="codes-note" type="text" name="note" placeholder=tu_string!(i18n, admin_codes.note_placeholder) /></div>
                <div class="field"><label for="codes-reason">{t!(i18n, admin_codes.reason)}</label>
                    <input id="codes-reason" type="text" name="reason" required /></div>
                <button type="submit" class="btn primary" disabled=move || create.pending().get()>{t!(i18n, admin_codes.make_codes)}</button>
            </ActionForm>
            {move || create.value().get().map(|r| match r {
                Ok(codes) => {
                    let n = codes.len();
                    view! {
                        <div class="new-key" role="status" data-testid="new-codes">
                            <p>
                                {if n == 1 {
                                    t!(i18n, admin_codes.made_single, <b> = <strong />).into_any()
                                } else {
                                    t!(i18n, admin_codes.made_plural, n = move || n, <b> = <strong />).into_any()
                                }}
                            </p>
                            <label for="made-codes" class="visually-hidden">{t!(i18n, admin_codes.new_codes)}</label>
                            <textarea id="made-codes" readonly rows=n.clamp(1, 12).to_string()>{codes.join("\n")}</textarea>
                        </div>
                    }.into_any()
                }
                Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
            })}
        </section>
        {action_outcome(disable.value(), tu_string!(i18n, admin_codes.code_withdrawn))}
        <div class="card-head">
            <form method="get" action="/admin/codes" class="search-form" role="search">
                <label for="codes-filter" class="visually-hidden">{t!(i18n, admin_codes.note_contains)}</label>
                <input id="codes-filter" type="search" name="note" value=note placeholder=tu_string!(i18n, admin_codes.note_contains_placeholder) />
                <button type="submit" class="btn primary">{t!(i18n, admin_codes.filter)}</button>
            </form>
            <a href="/admin/codes.csv" rel="external" class="btn ghost small" download="gatehouse-redemption-codes.csv">{t!(i18n, admin_codes.export_csv)}</a>
        </div>
        {if v.rows.is_empty() {
            view! { <p class="muted" data-testid="no-codes">{t!(i18n, admin_codes.no_codes)}</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap card flush" tabindex="0" role="region" aria-label=tu_string!(i18n, admin_codes.heading)>
                    <table class="data cards" data-testid="codes">
                        <thead><tr>
                            <th>{t!(i18n, admin_codes.code)}</th>
                            <th class="num">{t!(i18n, admin_codes.amount)}</th>
                            <th>{t!(i18n, admin_codes.uses)}</th>
                            <th>{t!(i18n, admin_codes.expires)}</th>
                            <th>{t!(i18n, admin_codes.note)}</th>
                            <th>{t!(i18n, admin_codes.made)}</th>
                            <th>{t!(i18n, admin_codes.state)}</th>
                            <th>{t!(i18n, admin_codes.withdraw)}</th>
                        </tr></thead>
                        <tbody>{v.rows.into_iter().map(|c| code_row(c, disable)).collect_view()}</tbody>
                    </table>
                </div>
            }.into_any()
        }}
        <div class="pager">{older}</div>
    }
}

fn code_row(c: CodeRow, disable: ServerAction<AdminDisableCode>) -> impl IntoView {
    let i18n = use_i18n();
    let id = c.id.to_string();
    view! {
        <tr class:disabled=!c.usable>
            <td class="mono" data-label=tu_string!(i18n, admin_codes.code)>{c.hint}</td>
            <td class="num" data-label=tu_string!(i18n, admin_codes.amount)><Amount usd=c.amount /></td>
            <td data-label=tu_string!(i18n, admin_codes.uses)>{c.uses}</td>
            <td class="nowrap" data-label=tu_string!(i18n, admin_codes.expires)>{c.expires}</td>
            <td data-label=tu_string!(i18n, admin_codes.note) translate="no">{c.note}</td>
            <td class="nowrap" data-label=tu_string!(i18n, admin_codes.made)>{c.created}</td>
            <td data-label=tu_string!(i18n, admin_codes.state)><span class="badge">{c.state}</span></td>
            <td data-label=tu_string!(i18n, admin_codes.withdraw) class="actions-cell">
                {c.usable.then(|| view! {
                    <ActionForm action=disable attr:class="inline-form">
                        <input type="hidden" name="id" value=id.clone() />
                        <input
                            type="text"
                            name="reason"
                            placeholder=tu_string!(i18n, admin_codes.why)
                            aria-label=tu_string!(i18n, admin_codes.why_withdraw)
                            required
                        />
                        <button type="submit" class="btn ghost small danger">{t!(i18n, admin_codes.withdraw_button)}</button>
                    </ActionForm>
                })}
            </td>
        </tr>
    }
}
