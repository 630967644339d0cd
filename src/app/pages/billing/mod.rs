//! Billing: Balance (with tier and FAQ), Top up (card, test payment, redemption codes), Resource packages,
//! Usage and Bills. Shared pieces: the section tabs, the signed-out prompt and the FAQ.
pub mod balance;
pub mod bills;
pub mod faq;
pub mod packages;
pub mod topup;
pub mod usage;

use crate::app::components::error_text::error_text;
use crate::app::components::support::ContactSupport;
use crate::i18n::*;
use crate::shared::error::AppError;
use leptos::prelude::*;

/// The tabs above every Billing page.
#[component]
pub fn BillingTabs(current: &'static str) -> impl IntoView {
    let i18n = use_i18n();
    // (wide label, phone label): five tabs fit a phone's width with the shorter names.
    let tab = |href: &'static str, id: &'static str, label: (&'static str, &'static str)| {
        let class = if id == current { "tab active" } else { "tab" };
        let phone = (label.0 != label.1).then(|| view! { <span class="narrow-only">{label.1}</span> });
        view! {
            <a class=class href=href aria-current=(id == current).then_some("page")>
                <span class:wide-only=label.0 != label.1>{label.0}</span>
                {phone}
            </a>
        }
    };
    view! {
        <nav class="tabs" aria-label=tu_string!(i18n, billing.title)>
            {tab("/billing/balance", "balance", (tu_string!(i18n, billing.tab_balance), tu_string!(i18n, billing.tab_balance)))}
            {tab("/billing/topup", "topup", (tu_string!(i18n, billing.tab_topup), tu_string!(i18n, billing.tab_topup)))}
            {tab(
                "/billing/packages",
                "packages",
                (tu_string!(i18n, billing.tab_packages), tu_string!(i18n, billing.tab_packages_short)),
            )}
            {tab("/billing/usage", "usage", (tu_string!(i18n, billing.tab_usage), tu_string!(i18n, billing.tab_usage)))}
            {tab("/billing/bills", "bills", (tu_string!(i18n, billing.tab_bills), tu_string!(i18n, billing.tab_bills)))}
        </nav>
    }
}

/// What a Billing page shows instead of its content when loading failed.
pub fn load_error(error: AppError, here: &'static str) -> AnyView {
    let i18n = use_i18n();
    load_error_saying(error, here, tu_string!(i18n, billing.login_title), tu_string!(i18n, billing.login_why))
}

/// What a page for signed-in people shows when loading failed: a way to log in, or the error.
pub fn load_error_saying(error: AppError, here: &'static str, title: &'static str, why: &'static str) -> AnyView {
    let i18n = use_i18n();
    match error {
        AppError::Unauthorized => view! {
            <section class="card narrow center">
                <h1>{title}</h1>
                <p class="muted">{why}</p>
                <a class="btn primary" href=format!("/login?next={here}")>{t!(i18n, common.log_in)}</a>
            </section>
        }
        .into_any(),
        other => {
            let lead = match other {
                AppError::Internal | AppError::Unavailable(_) => tu_string!(i18n, common.keeps_happening_write_to),
                _ => tu_string!(i18n, common.questions_write_to),
            };
            view! {
                <p class="form-error" role="alert">{error_text(&other)}</p>
                <ContactSupport lead=lead />
            }
            .into_any()
        }
    }
}
