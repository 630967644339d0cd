//! `/admin/log`: the operator log, newest first: who did what to whom, when and why. Nothing in it can be
//! changed or deleted.

use super::{admin_error, AdminTabs};
use crate::shared::admin::{LogRow, LogView};
use crate::shared::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[server(endpoint = "admin_log")]
pub async fn admin_log(before: Option<i64>, about: String) -> Result<LogView, AppError> {
    use crate::server::fn_support::{answer, require_operator, state};
    answer(
        async {
            let state = state()?;
            require_operator(&state).await?;
            crate::server::admin_view::log(&state, before, &about).await
        }
        .await,
    )
}

#[component]
pub fn AdminLogPage() -> impl IntoView {
    let query = use_query_map();
    let asked = Memo::new(move |_| {
        let q = query.read();
        (q.get("before").and_then(|b| b.parse::<i64>().ok()), q.get("about").unwrap_or_default())
    });
    let data = Resource::new(move || asked.get(), |(before, about)| admin_log(before, about));
    view! {
        <Title text="Operator log · Admin console" />
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => log_view(v, asked.get_untracked().1).into_any(),
                    Err(e) => admin_error(e),
                }
            })}
        </Suspense>
    }
}

fn log_view(v: LogView, about: String) -> impl IntoView {
    let older = v.older.map(|id| {
        let about = about.clone();
        view! { <a class="btn ghost" href=format!("/admin/log?before={id}&about={}", crate::shared::billing::encode(&about))>"Older"</a> }
    });
    view! {
        <AdminTabs current="log" />
        <h1>"Operator log"</h1>
        <form method="get" action="/admin/log" class="search-form" role="search">
            <label for="log-about" class="visually-hidden">"Account, code or operator"</label>
            <input id="log-about" type="search" name="about" value=about placeholder="Account, code or operator…" />
            <button type="submit" class="btn primary">"Filter"</button>
        </form>
        {if v.rows.is_empty() {
            view! { <p class="muted" data-testid="empty-log">"No operator action recorded."</p> }.into_any()
        } else {
            view! { <section class="card flush"><LogTable rows=v.rows /></section> }.into_any()
        }}
        <div class="pager">{older}</div>
    }
}

/// Operator-log entries as a table.
#[component]
pub fn LogTable(rows: Vec<LogRow>) -> impl IntoView {
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label="Operator log">
            <table class="data cards" data-testid="operator-log">
                <thead><tr><th>"Time (UTC)"</th><th>"Operator"</th><th>"Action"</th><th>"On"</th><th>"What"</th><th>"Why"</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|r| view! {
                        <tr>
                            <td class="nowrap" data-label="Time">{r.at}</td>
                            <td data-label="Operator">{r.actor}</td>
                            <td data-label="Action"><span class="badge">{r.action}</span></td>
                            <td data-label="On">{r.target}</td>
                            <td class="small" data-label="What">{r.detail}</td>
                            <td class="small" data-label="Why">{r.reason}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
