//! `/admin/codes`: make a batch of redemption codes (shown once, to copy), list codes with their uses,
//! withdraw one, and export the list as CSV.

use super::{action_outcome, admin_error, successes, AdminTabs};
use crate::app::components::usd::Amount;
use crate::shared::admin::{CodeRow, CodesView};
use crate::shared::error::AppError;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[server(endpoint = "admin_codes")]
pub async fn admin_codes(before: Option<i64>, note: String) -> Result<CodesView, AppError> {
    use crate::server::fn_support::{answer, require_operator, state};
    answer(
        async {
            let state = state()?;
            require_operator(&state).await?;
            crate::server::admin_view::codes(&state, before, &note).await
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
    use crate::server::fn_support::{answer, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            let (amount, count, uses, days, note) = (&amount, &count, &uses, &days, &note);
            let form = CodesForm { amount, count, uses, days, note, reason: &reason, key: &key };
            create_codes(&state, &operator, form).await
        }
        .await,
    )
}

#[server(endpoint = "admin_disable_code")]
pub async fn admin_disable_code(id: i64, reason: String) -> Result<(), AppError> {
    use crate::server::fn_support::{answer, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            crate::server::admin_view::disable_code(&state, &operator, id, &reason).await
        }
        .await,
    )
}

#[component]
pub fn AdminCodesPage() -> impl IntoView {
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
        <Title text="Redemption codes · Admin console" />
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
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
    let older = v.older.map(|id| {
        let href = format!("/admin/codes?before={id}&note={}", crate::shared::billing::encode(&note));
        view! { <a class="btn ghost" href=href>"Older"</a> }
    });
    view! {
        <AdminTabs current="codes" />
        <h1>"Redemption codes"</h1>
        <section class="card">
            <h2>"Make a batch"</h2>
            <ActionForm action=create attr:class="key-form" attr:data-testid="codes-form">
                <input type="hidden" name="key" value=v.form_key />
                <div class="field"><label for="codes-amount">"USD each"</label>
                    <input id="codes-amount" type="text" name="amount" inputmode="decimal" required /></div>
                <div class="field"><label for="codes-count">"How many"</label>
                    <input id="codes-count" type="text" name="count" inputmode="numeric" value="1" required /></div>
                <div class="field"><label for="codes-uses">"Uses each"</label>
                    <input id="codes-uses" type="text" name="uses" inputmode="numeric" value="1" required /></div>
                <div class="field"><label for="codes-days">"Valid for (days)"</label>
                    <input id="codes-days" type="text" name="days" inputmode="numeric" placeholder="no expiry" /></div>
                <div class="field"><label for="codes-note">"Note"</label>
                    <input id="codes-note" type="text" name="note" placeholder="conference, giveaway…" /></div>
                <div class="field"><label for="codes-reason">"Reason"</label>
                    <input id="codes-reason" type="text" name="reason" required /></div>
                <button type="submit" class="btn primary" disabled=move || create.pending().get()>"Make codes"</button>
            </ActionForm>
            {move || create.value().get().map(|r| match r {
                Ok(codes) => view! {
                    <div class="new-key" role="status" data-testid="new-codes">
                        <p><strong>{format!("{} code{} made", codes.len(), if codes.len() == 1 { "" } else { "s" })}</strong>
                            " — copy them now: they are stored hashed and will not be shown again."</p>
                        <label for="made-codes" class="visually-hidden">"The new codes"</label>
                        <textarea id="made-codes" readonly rows=codes.len().clamp(1, 12).to_string()>{codes.join("\n")}</textarea>
                    </div>
                }.into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
        </section>
        {action_outcome(disable.value(), "Code withdrawn.")}
        <div class="card-head">
            <form method="get" action="/admin/codes" class="search-form" role="search">
                <label for="codes-filter" class="visually-hidden">"Note contains"</label>
                <input id="codes-filter" type="search" name="note" value=note placeholder="Note contains…" />
                <button type="submit" class="btn primary">"Filter"</button>
            </form>
            <a href="/admin/codes.csv" rel="external" class="btn ghost small" download="gatehouse-redemption-codes.csv">"Export CSV"</a>
        </div>
        {if v.rows.is_empty() {
            view! { <p class="muted" data-testid="no-codes">"No codes."</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap card flush" tabindex="0" role="region" aria-label="Redemption codes">
                    <table class="data cards" data-testid="codes">
                        <thead><tr>
                            <th>"Code"</th><th class="num">"Amount"</th><th>"Uses"</th><th>"Expires"</th><th>"Note"</th>
                            <th>"Made"</th><th>"State"</th><th>"Withdraw"</th>
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
    let id = c.id.to_string();
    view! {
        <tr class:disabled=!c.usable>
            <td class="mono" data-label="Code">{c.hint}</td>
            <td class="num" data-label="Amount"><Amount usd=c.amount /></td>
            <td data-label="Uses">{c.uses}</td>
            <td class="nowrap" data-label="Expires">{c.expires}</td>
            <td data-label="Note">{c.note}</td>
            <td class="nowrap" data-label="Made">{c.created}</td>
            <td data-label="State"><span class="badge">{c.state}</span></td>
            <td data-label="Withdraw" class="actions-cell">
                {c.usable.then(|| view! {
                    <ActionForm action=disable attr:class="inline-form">
                        <input type="hidden" name="id" value=id.clone() />
                        <input type="text" name="reason" placeholder="Why" aria-label="Why withdraw" required />
                        <button type="submit" class="btn ghost small danger">"Withdraw"</button>
                    </ActionForm>
                })}
            </td>
        </tr>
    }
}
