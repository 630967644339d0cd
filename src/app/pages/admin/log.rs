//! `/admin/log`: the operator log, newest first: who did what to whom, when and why. Nothing in it can be
//! changed or deleted.

use super::{admin_error, AdminTabs};
use crate::i18n::*;
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
            crate::server::admin_view::log(&state, before, &about, crate::server::fn_support::locale()).await
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
    let i18n = use_i18n();
    view! {
        <Title text={tu_string!(i18n, admin.log.page_title)} />
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
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
    let i18n = use_i18n();
    let older = v.older.map(|id| {
        let about = about.clone();
        view! { <a class="btn ghost" href=format!("/admin/log?before={id}&about={}", crate::shared::billing::encode(&about))>{t!(i18n, admin.log.older)}</a> }
    });
    view! {
        <AdminTabs current="log" />
        <h1>{t!(i18n, admin.tabs.log)}</h1>
        <form method="get" action="/admin/log" class="search-form" role="search">
            <label for="log-about" class="visually-hidden">{t!(i18n, admin.log.about_label)}</label>
            <input id="log-about" type="search" name="about" value=about placeholder={tu_string!(i18n, admin.log.about_placeholder)} />
            <button type="submit" class="btn primary">{t!(i18n, admin.log.filter)}</button>
        </form>
        {if v.rows.is_empty() {
            view! { <p class="muted" data-testid="empty-log">{t!(i18n, admin.log.empty)}</p> }.into_any()
        } else {
            view! { <section class="card flush"><LogTable rows=v.rows /></section> }.into_any()
        }}
        <div class="pager">{older}</div>
    }
}

/// Operator-log entries as a table.
#[component]
pub fn LogTable(rows: Vec<LogRow>) -> impl IntoView {
    let i18n = use_i18n();
    let operator = tu_string!(i18n, admin.common.operator);
    let action = tu_string!(i18n, admin.log.action);
    let on_label = tu_string!(i18n, admin.log.on);
    let what = tu_string!(i18n, admin.log.what);
    let why = tu_string!(i18n, admin.log.why);
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label={tu_string!(i18n, admin.tabs.log)}>
            <table class="data cards" data-testid="operator-log">
                <thead><tr>
                    <th>{t!(i18n, admin.log.time_utc)}</th><th>{operator}</th><th>{action}</th><th>{on_label}</th><th>{what}</th>
                    <th>{why}</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|r| view! {
                        <tr>
                            <td class="nowrap" data-label={tu_string!(i18n, admin.log.time)}>{r.at}</td>
                            <td data-label=operator>{r.actor}</td>
                            <td class="nowrap" data-label=action><span class="badge">{r.action}</span></td>
                            // What operators wrote stays as written: browsers' translators leave it alone.
                            <td data-label=on_label translate={r.target_as_written.then_some("no")}>{r.target}</td>
                            <td class="small" data-label=what>{r.detail}</td>
                            <td class="small" data-label=why translate="no">{r.reason}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
