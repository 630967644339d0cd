//! `/admin/accounts`: find accounts by email (the newest when nothing is asked).

use super::{admin_error, AdminTabs};
use crate::app::components::usd::Amount;
use crate::shared::admin::AccountRow;
use crate::shared::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[server(endpoint = "admin_accounts")]
pub async fn admin_accounts(q: String) -> Result<Vec<AccountRow>, AppError> {
    use crate::server::fn_support::{answer, require_operator, state};
    answer(
        async {
            let state = state()?;
            require_operator(&state).await?;
            crate::server::admin_view::search(&state, &q).await
        }
        .await,
    )
}

#[component]
pub fn AdminAccountsPage() -> impl IntoView {
    let query = use_query_map();
    let q = Memo::new(move |_| query.read().get("q").unwrap_or_default());
    let data = Resource::new(move || q.get(), admin_accounts);
    view! {
        <Title text="Accounts · Admin console" />
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(rows) => accounts_view(q.get_untracked(), rows).into_any(),
                    Err(e) => admin_error(e),
                }
            })}
        </Suspense>
    }
}

fn accounts_view(q: String, rows: Vec<AccountRow>) -> impl IntoView {
    let heading = if q.is_empty() { "Newest accounts".to_string() } else { format!("Accounts matching \"{q}\"") };
    view! {
        <AdminTabs current="accounts" />
        <h1>"Accounts"</h1>
        <form method="get" action="/admin/accounts" class="search-form" role="search">
            <label for="account-q" class="visually-hidden">"Email contains"</label>
            <input id="account-q" type="search" name="q" value=q placeholder="Email contains…" />
            <button type="submit" class="btn primary">"Search"</button>
        </form>
        <h2>{heading}</h2>
        {if rows.is_empty() {
            view! { <p class="muted" data-testid="no-accounts">"No account matches."</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap card flush" tabindex="0" role="region" aria-label="Accounts">
                    <table class="data cards" data-testid="accounts">
                        <thead><tr>
                            <th>"Email"</th><th>"Joined"</th><th>"Last login"</th><th class="num">"Balance"</th><th>"State"</th>
                        </tr></thead>
                        <tbody>
                            {rows.into_iter().map(|a| view! {
                                <tr>
                                    <td data-label="Email"><a href=format!("/admin/accounts/{}", a.id)>{a.email}</a></td>
                                    <td class="nowrap" data-label="Joined">{a.created}</td>
                                    <td class="nowrap" data-label="Last login">{a.last_login}</td>
                                    <td class="num" data-label="Balance"><Amount usd=a.balance /></td>
                                    <td data-label="State">
                                        {a.operator.then(|| view! { <span class="badge ok">"Operator"</span> })}
                                        {a.disabled.then(|| view! { <span class="badge off">"Disabled"</span> })}
                                    </td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any()
        }}
    }
}
