//! `/admin/accounts`: find accounts by email (the newest when nothing is asked).

use super::{admin_error, AdminTabs};
use crate::app::components::usd::Amount;
use crate::i18n::*;
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
            crate::server::admin_view::search(&state, &q, crate::server::fn_support::locale()).await
        }
        .await,
    )
}

#[component]
pub fn AdminAccountsPage() -> impl IntoView {
    let query = use_query_map();
    let q = Memo::new(move |_| query.read().get("q").unwrap_or_default());
    let data = Resource::new(move || q.get(), admin_accounts);
    let i18n = use_i18n();
    view! {
        <Title text={tu_string!(i18n, admin.accounts.page_title)} />
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
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
    let i18n = use_i18n();
    let heading = if q.is_empty() {
        tu_string!(i18n, admin.accounts.newest).to_string()
    } else {
        crate::shared::text::fill(tu_string!(i18n, admin.accounts.matching), &[("q", &q)])
    };
    let email = tu_string!(i18n, admin.accounts.email);
    let joined = tu_string!(i18n, admin.accounts.joined);
    let last_login = tu_string!(i18n, admin.accounts.last_login);
    let balance = tu_string!(i18n, admin.accounts.balance);
    let state = tu_string!(i18n, admin.accounts.state);
    view! {
        <AdminTabs current="accounts" />
        <h1>{t!(i18n, admin.tabs.accounts)}</h1>
        <form method="get" action="/admin/accounts" class="search-form" role="search">
            <label for="account-q" class="visually-hidden">{t!(i18n, admin.accounts.email_contains)}</label>
            <input id="account-q" type="search" name="q" value=q placeholder={tu_string!(i18n, admin.accounts.email_contains_placeholder)} />
            <button type="submit" class="btn primary">{t!(i18n, admin.accounts.search)}</button>
        </form>
        <h2>{heading}</h2>
        {if rows.is_empty() {
            view! { <p class="muted" data-testid="no-accounts">{t!(i18n, admin.accounts.no_match)}</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap card flush" tabindex="0" role="region" aria-label={tu_string!(i18n, admin.tabs.accounts)}>
                    <table class="data cards" data-testid="accounts">
                        <thead><tr>
                            <th>{email}</th><th>{joined}</th><th>{last_login}</th><th class="num">{balance}</th><th>{state}</th>
                        </tr></thead>
                        <tbody>
                            {rows.into_iter().map(|a| view! {
                                <tr>
                                    <td data-label=email><a href=format!("/admin/accounts/{}", a.id)>{a.email}</a></td>
                                    <td class="nowrap" data-label=joined>{a.created}</td>
                                    <td class="nowrap" data-label=last_login>
                                        {a.last_login}
                                    </td>
                                    <td class="num" data-label=balance><Amount usd=a.balance /></td>
                                    <td data-label=state>
                                        {a.operator.then(|| view! { <span class="badge ok">{t!(i18n, admin.common.operator)}</span> })}
                                        {a.disabled.then(|| view! { <span class="badge off">{t!(i18n, admin.accounts.disabled)}</span> })}
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
