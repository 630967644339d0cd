//! Billing: Balance (with tier and FAQ), Top up (card, test payment, redemption codes), Resource packages,
//! Usage and Bills. Shared pieces: the section tabs, the signed-out prompt and the FAQ.
pub mod balance;
pub mod bills;
pub mod faq;
pub mod packages;
pub mod topup;
pub mod usage;

use crate::app::components::support::ContactSupport;
use crate::shared::error::AppError;
use leptos::prelude::*;

/// The tabs above every Billing page.
#[component]
pub fn BillingTabs(current: &'static str) -> impl IntoView {
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
        <nav class="tabs" aria-label="Billing">
            {tab("/billing/balance", "balance", ("Balance", "Balance"))}
            {tab("/billing/topup", "topup", ("Top up", "Top up"))}
            {tab("/billing/packages", "packages", ("Resource packages", "Packages"))}
            {tab("/billing/usage", "usage", ("Usage", "Usage"))}
            {tab("/billing/bills", "bills", ("Bills", "Bills"))}
        </nav>
    }
}

/// What a Billing page shows instead of its content when loading failed.
pub fn load_error(error: AppError, here: &'static str) -> AnyView {
    load_error_saying(
        error,
        here,
        "Log in to see your billing",
        "Your balance, resource packages and bills are shown once you are logged in.",
    )
}

/// What a page for signed-in people shows when loading failed: a way to log in, or the error.
pub fn load_error_saying(error: AppError, here: &'static str, title: &'static str, why: &'static str) -> AnyView {
    match error {
        AppError::Unauthorized => view! {
            <section class="card narrow center">
                <h1>{title}</h1>
                <p class="muted">{why}</p>
                <a class="btn primary" href=format!("/login?next={here}")>"Log in"</a>
            </section>
        }
        .into_any(),
        other => {
            let lead = match other {
                AppError::Internal | AppError::Unavailable(_) => "If this keeps happening, write to",
                _ => "Questions? Write to",
            };
            view! {
                <p class="form-error" role="alert">{other.to_string()}</p>
                <ContactSupport lead=lead />
            }
            .into_any()
        }
    }
}
