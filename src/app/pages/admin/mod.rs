//! The admin console, for operators only (everyone else gets the 404 page, and 404 from its server
//! functions): Dashboard, Accounts, Referrals, Codes, Prices, Providers and the operator Log. Shared pieces:
//! the section tabs, what a console page shows when loading failed, what an action answered, how often it
//! succeeded, and a card holding a table.
pub mod account;
pub mod accounts;
pub mod codes;
pub mod dashboard;
pub mod log;
pub mod prices;
pub mod providers;
pub mod referrals;

use crate::app::components::error_text::{error_text, error_text_in};
use crate::app::pages::not_found::NotFound;
use crate::i18n::*;
use crate::shared::error::AppError;
use leptos::prelude::*;

/// The tabs above every console page.
#[component]
pub fn AdminTabs(current: &'static str) -> impl IntoView {
    let i18n = use_i18n();
    let tab = |href: &'static str, id: &'static str, label: &'static str| {
        let class = if id == current { "tab active" } else { "tab" };
        view! { <a class=class href=href aria-current=(id == current).then_some("page")>{label}</a> }
    };
    view! {
        <p class="eyebrow">{t!(i18n, admin.common.console)}</p>
        <nav class="tabs" aria-label={tu_string!(i18n, admin.common.console)}>
            {tab("/admin", "dashboard", tu_string!(i18n, admin.tabs.dashboard))}
            {tab("/admin/accounts", "accounts", tu_string!(i18n, admin.tabs.accounts))}
            {tab("/admin/referrals", "referrals", tu_string!(i18n, admin.tabs.referrals))}
            {tab("/admin/codes", "codes", tu_string!(i18n, admin.tabs.codes))}
            {tab("/admin/prices", "prices", tu_string!(i18n, admin.tabs.prices))}
            {tab("/admin/providers", "providers", tu_string!(i18n, admin.tabs.providers))}
            {tab("/admin/log", "log", tu_string!(i18n, admin.tabs.log))}
        </nav>
    }
}

/// A console page that could not load: the 404 page for everyone but operators (the console does not say
/// it exists), else the error.
pub fn admin_error(error: AppError) -> AnyView {
    match error {
        AppError::NotFound | AppError::Unauthorized => view! { <NotFound /> }.into_any(),
        other => view! { <p class="form-error" role="alert">{error_text(&other)}</p> }.into_any(),
    }
}

/// What an action answered: nothing yet, done, or its error. `done` is already in the page's language
/// (callers pass `tu_string!(i18n, ..)`).
pub fn action_outcome<T, S>(value: S, done: &'static str) -> impl IntoView
where
    T: 'static,
    S: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    let i18n = use_i18n();
    move || {
        value.get().map(|r| match r {
            Ok(_) => view! { <p class="notice success" role="status">{done}</p> }.into_any(),
            Err(e) => view! { <p class="form-error" role="alert">{error_text_in(&e, i18n.get_locale_untracked())}</p> }
                .into_any(),
        })
    }
}

/// How many times an action succeeded. Pages reload their data on it (not on every completion), so a form
/// the server refused keeps what was typed beside its error. Counted in the browser, where actions run.
pub fn successes<T, S>(value: S) -> RwSignal<u32>
where
    T: 'static,
    S: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    let count = RwSignal::new(0u32);
    Effect::new(move |_| {
        if matches!(value.get(), Some(Ok(_))) {
            count.update(|n| *n += 1);
        }
    });
    count
}

/// A card with a heading and a table of `rows` under the column headings `head`, or `empty` when there are no
/// rows. Both texts come in the page's language (callers pass `tu_string!` / `fill` values).
pub fn table_card(
    title: String,
    empty: &'static str,
    testid: Option<&'static str>,
    head: AnyView,
    rows: Vec<AnyView>,
) -> impl IntoView {
    view! {
        <section class="card">
            <h2>{title.clone()}</h2>
            {if rows.is_empty() {
                view! { <p class="muted">{empty}</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap" tabindex="0" role="region" aria-label=title>
                        <table class="data" data-testid=testid>
                            <thead><tr>{head}</tr></thead>
                            <tbody>{rows}</tbody>
                        </table>
                    </div>
                }
                .into_any()
            }}
        </section>
    }
}
