//! The page layout every page uses: header with product name and navigation, the signed-in email with
//! Log out (or Log in), a demo-mode banner in dev mode, and the footer.

use crate::i18n::*;
use crate::shared::dto::{SignedInUser, Viewer};
use crate::shared::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

/// Who is looking; loaded once per page load and shared with the pages.
pub type ViewerResource = Resource<Result<Viewer, AppError>>;

#[server(endpoint = "viewer")]
pub async fn get_viewer() -> Result<Viewer, AppError> {
    use crate::server::fn_support::{answer, current_user, locale, state};
    use crate::server::time::date_for;
    answer(
        async {
            let state = state()?;
            let user = current_user(&state).await?;
            let admin_emails = &state.settings.operators.admin_emails;
            Ok::<_, AppError>(Viewer {
                user: user.map(|u| SignedInUser {
                    operator: u.is_operator_given(admin_emails),
                    email: u.email,
                    member_since: date_for(u.created_at, locale()),
                }),
                dev_mode: state.settings.is_dev(),
                support_email: state.settings.operators.support_email.clone(),
            })
        }
        .await,
    )
}

#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use crate::server::fn_support::{answer, session};
    answer(
        async {
            session()?.logout().await?;
            leptos_axum::redirect("/");
            Ok::<_, AppError>(())
        }
        .await,
    )
}

#[component]
pub fn Layout(children: Children) -> impl IntoView {
    let i18n = use_i18n();
    let viewer: ViewerResource = Resource::new(|| (), |_| get_viewer());
    provide_context(viewer);
    view! {
        // `rel="external"` leaves the link to the browser (the router would take it), which moves focus to
        // the page's content.
        <a class="skip-link" href="#main" rel="external">{t!(i18n, layout.skip_to_content)}</a>
        <header class="topbar">
            <div class="topbar-inner">
                <a class="brand" href="/">
                    <span class="brand-mark" aria-hidden="true">"◆"</span>
                    "Gatehouse"
                </a>
                <input type="checkbox" id="nav-toggle" class="nav-toggle" aria-label=move || t_string!(i18n, layout.show_menu) />
                <label for="nav-toggle" class="nav-toggle-label" aria-hidden="true">
                    <span></span>
                    {t!(i18n, layout.menu)}
                </label>
                <nav class="mainnav" aria-label=move || t_string!(i18n, layout.main_nav)>
                    <a href="/chat">{t!(i18n, layout.chat)}</a>
                    <a href="/i">{t!(i18n, layout.referral_program)}</a>
                    <div class="has-sub">
                        <a href="/billing/balance" class="sub-trigger">{t!(i18n, layout.billing)}</a>
                        <div class="submenu">
                            <a href="/billing/balance">{t!(i18n, layout.balance)}</a>
                            <a href="/billing/packages">{t!(i18n, layout.resource_packages)}</a>
                            <a href="/billing/usage">{t!(i18n, layout.usage)}</a>
                            <a href="/billing/bills">{t!(i18n, layout.bills)}</a>
                        </div>
                    </div>
                    <a href="/keys">{t!(i18n, layout.api_keys)}</a>
                    <a href="/docs">{t!(i18n, layout.docs)}</a>
                    <a href="/prices">{t!(i18n, layout.prices)}</a>
                    <LanguageSwitcher />
                    <div class="account">
                        <Transition fallback=|| ()>
                            {move || Suspend::new(async move {
                                match viewer.await {
                                    Ok(Viewer { user: Some(user), .. }) => account_box(user).into_any(),
                                    _ => view! { <a class="btn primary small" href="/login">{t!(i18n, layout.log_in)}</a> }.into_any(),
                                }
                            })}
                        </Transition>
                    </div>
                </nav>
            </div>
        </header>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                matches!(viewer.await, Ok(Viewer { dev_mode: true, .. }))
                    .then(|| {
                        view! {
                            <div class="demo-banner" role="note">
                                {t!(
                                    i18n,
                                    layout.demo_banner,
                                    <b> = <strong />,
                                    <a> = <a href="/dev/mailbox" />
                                )}
                            </div>
                        }
                    })
            })}
        </Transition>
        <main class="page" id="main" tabindex="-1">{children()}</main>
        <footer class="footer">
            <span>{t!(i18n, layout.footer)}</span>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    viewer.await.ok().and_then(|v| v.support_email).map(|email| view! {
                        <span data-testid="support-email">
                            {t!(i18n, layout.help)} " " <a href=format!("mailto:{email}")>{email.clone()}</a>
                        </span>
                    })
                })}
            </Transition>
        </footer>
    }
}

fn account_box(user: SignedInUser) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        {user.operator.then(|| view! { <a class="btn ghost small" href="/admin">{t!(i18n, layout.admin)}</a> })}
        <span class="account-email" title=move || t_string!(i18n, layout.signed_in)>{user.email}</span>
        <a class="btn ghost small" href="/account/sessions">{t!(i18n, layout.sessions)}</a>
        <form method="post" action=Logout::url() class="inline-form">
            <button type="submit" class="btn ghost small">{t!(i18n, layout.log_out)}</button>
        </form>
    }
}

/// 中文 / English / 日本語 as plain links to `/lang/..`, which sets the language and comes back here: it works
/// before the page hydrates and without JavaScript. Each name is written in its own language. On wide screens
/// the links open from the page's language's name (on hover or focus, like the Billing menu); in the phone
/// menu they are listed.
#[component]
fn LanguageSwitcher() -> impl IntoView {
    let i18n = use_i18n();
    let location = leptos_router::hooks::use_location();
    let here = move || {
        let (path, query) = (location.pathname.get(), location.search.get());
        let at = if query.is_empty() { path } else { format!("{path}?{}", query.trim_start_matches('?')) };
        crate::shared::billing::encode(&at)
    };
    let link = move |locale: Locale, name: &'static str| {
        view! {
            <a
                href=move || format!("/lang/{}?next={}", locale.as_str(), here())
                lang=locale.as_str()
                hreflang=locale.as_str()
                rel="external"
                aria-current=move || (i18n.get_locale() == locale).then_some("true")
            >
                {name}
            </a>
        }
    };
    let current = move || match i18n.get_locale() {
        Locale::zh => "中文",
        Locale::en => "English",
        Locale::ja => "日本語",
    };
    view! {
        <div class="has-sub lang-switch" role="group" aria-label=move || t_string!(i18n, layout.language)>
            <button type="button" class="sub-trigger" aria-haspopup="true">
                {current}
            </button>
            <div class="submenu">
                {link(Locale::zh, "中文")}
                {link(Locale::en, "English")}
                {link(Locale::ja, "日本語")}
            </div>
        </div>
    }
}
