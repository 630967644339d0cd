//! The UI: the HTML shell, the router, the page layout, and one file per page.
pub mod components;
pub mod inline_handlers;
pub mod pages;

use crate::i18n::{I18nLocaleTrait, Locale};
use components::layout::Layout;
use leptos::prelude::*;
use leptos_i18n::context::{I18nContext, I18nContextOptions};
use leptos_meta::{provide_meta_context, HashedStylesheet, Html, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};
use pages::admin::{account::AdminAccountPage, accounts::AdminAccountsPage, dashboard::AdminDashboardPage};
use pages::admin::{codes::AdminCodesPage, log::AdminLogPage, providers::AdminProvidersPage};
use pages::admin::{prices::AdminPricesPage, referrals::AdminReferralsPage};
use pages::billing::usage::UsagePage;
use pages::billing::{balance::BalancePage, bills::BillsPage, packages::PackagesPage, topup::TopupPage};
use pages::chat::ChatPage;
use pages::{confirm::ConfirmPage, dev_mailbox::DevMailboxPage, home::HomePage, login::LoginPage};
use pages::{docs::DocsPage, invite::InvitePage, keys::KeysPage, referral::ReferralPage};
use pages::{login::LoginSentPage, not_found::NotFound, prices::PricesPage, sessions::SessionsPage};

/// The HTML document around the app (server side).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // The page's Content Security Policy allows its inline scripts by the nonce Leptos gave them.
    #[cfg(feature = "ssr")]
    if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
        let nonce = leptos::nonce::use_nonce();
        let policy = crate::server::http::security_headers::policy(nonce.as_deref());
        if let Ok(v) = axum::http::HeaderValue::from_str(&policy) {
            options.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, v);
        }
    }
    view! {
        <!DOCTYPE html>
        // `lang` is set by `App` (leptos_meta's `<Html>`), to the language the page is in.
        <html>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <AutoReload options=options.clone() />
                // The stylesheet's name carries its content hash in builds that hash the site's files.
                <HashedStylesheet id="leptos" options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The page's language is the server's choice (`server::http::language`): the cookie's, else the browser's
/// `Accept-Language`'s, else English; leptos_i18n takes it as the one language the browser accepts. In the
/// browser it reads the language the server put on `<html lang>`. The cookie is only ever written by the
/// switcher's route, so the crate's own cookie handling is off.
fn provide_language() -> I18nContext<Locale> {
    let i18n = leptos_i18n::context::init_i18n_context_with_options::<Locale>(I18nContextOptions {
        enable_cookie: false,
        ssr_lang_header_getter: language_of_request(),
        ..I18nContextOptions::default()
    });
    provide_context(i18n);
    i18n
}

fn language_of_request() -> leptos_use::UseLocalesOptions {
    let options = leptos_use::UseLocalesOptions::default();
    #[cfg(feature = "ssr")]
    {
        let chosen = use_context::<axum::http::request::Parts>()
            .map(|p| crate::server::http::language::of_request(&p.headers).as_str().to_string());
        options.ssr_lang_header_getter(move || chosen.clone())
    }
    #[cfg(not(feature = "ssr"))]
    options
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Marks the page as hydrated (browser only), so browser tests interact only once handlers are attached.
    #[cfg(feature = "hydrate")]
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    let i18n = provide_language();
    view! {
        <Html attr:lang=move || i18n.get_locale().as_str() attr:dir="ltr" />
        <Title formatter=|page: String| if page.is_empty() { "Gatehouse".to_string() } else { format!("{page} · Gatehouse") } />
        <Router>
            <Layout>
                <Routes fallback=|| view! { <NotFound /> }>
                    <Route path=path!("/") view=HomePage ssr=SsrMode::Async />
                    <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async />
                    <Route path=path!("/login/sent") view=LoginSentPage ssr=SsrMode::Async />
                    <Route path=path!("/auth/confirm") view=ConfirmPage ssr=SsrMode::Async />
                    <Route path=path!("/dev/mailbox") view=DevMailboxPage ssr=SsrMode::Async />
                    <Route path=path!("/i") view=ReferralPage ssr=SsrMode::Async />
                    <Route path=path!("/keys") view=KeysPage ssr=SsrMode::Async />
                    <Route path=path!("/account/sessions") view=SessionsPage ssr=SsrMode::Async />
                    <Route path=path!("/docs") view=DocsPage ssr=SsrMode::Async />
                    <Route path=path!("/prices") view=PricesPage ssr=SsrMode::Async />
                    <Route path=path!("/chat") view=ChatPage ssr=SsrMode::Async />
                    <Route path=path!("/i/:code") view=InvitePage ssr=SsrMode::Async />
                    <Route path=path!("/billing") view=BalancePage ssr=SsrMode::Async />
                    <Route path=path!("/billing/balance") view=BalancePage ssr=SsrMode::Async />
                    <Route path=path!("/billing/topup") view=TopupPage ssr=SsrMode::Async />
                    <Route path=path!("/billing/packages") view=PackagesPage ssr=SsrMode::Async />
                    <Route path=path!("/billing/bills") view=BillsPage ssr=SsrMode::Async />
                    <Route path=path!("/billing/usage") view=UsagePage ssr=SsrMode::Async />
                    <Route path=path!("/admin") view=AdminDashboardPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/accounts") view=AdminAccountsPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/accounts/:id") view=AdminAccountPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/referrals") view=AdminReferralsPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/codes") view=AdminCodesPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/prices") view=AdminPricesPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/providers") view=AdminProvidersPage ssr=SsrMode::Async />
                    <Route path=path!("/admin/log") view=AdminLogPage ssr=SsrMode::Async />
                </Routes>
            </Layout>
        </Router>
    }
}
