//! The page layout every page uses: header with product name and navigation, the signed-in email with
//! Log out (or Log in), a demo-mode banner in dev mode, and the footer.

use crate::shared::dto::{SignedInUser, Viewer};
use crate::shared::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

/// Who is looking; loaded once per page load and shared with the pages.
pub type ViewerResource = Resource<Result<Viewer, AppError>>;

#[server(endpoint = "viewer")]
pub async fn get_viewer() -> Result<Viewer, AppError> {
    use crate::server::fn_support::{answer, current_user, state};
    use crate::server::time::format_date;
    answer(
        async {
            let state = state()?;
            let user = current_user(&state).await?;
            let admin_emails = &state.settings.operators.admin_emails;
            Ok::<_, AppError>(Viewer {
                user: user.map(|u| SignedInUser {
                    operator: u.is_operator_given(admin_emails),
                    email: u.email,
                    member_since: format_date(u.created_at),
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
    let viewer: ViewerResource = Resource::new(|| (), |_| get_viewer());
    provide_context(viewer);
    view! {
        // `rel="external"` leaves the link to the browser (the router would take it), which moves focus to
        // the page's content.
        <a class="skip-link" href="#main" rel="external">"Skip to content"</a>
        <header class="topbar">
            <div class="topbar-inner">
                <a class="brand" href="/">
                    <span class="brand-mark" aria-hidden="true">"◆"</span>
                    "Gatehouse"
                </a>
                <input type="checkbox" id="nav-toggle" class="nav-toggle" aria-label="Show menu" />
                <label for="nav-toggle" class="nav-toggle-label" aria-hidden="true">
                    <span></span>
                    "Menu"
                </label>
                <nav class="mainnav" aria-label="Main">
                    <a href="/chat">"Chat"</a>
                    <a href="/i">"Referral program"</a>
                    <div class="has-sub">
                        <a href="/billing/balance" class="sub-trigger">"Billing"</a>
                        <div class="submenu">
                            <a href="/billing/balance">"Balance"</a>
                            <a href="/billing/packages">"Resource packages"</a>
                            <a href="/billing/usage">"Usage"</a>
                            <a href="/billing/bills">"Bills"</a>
                        </div>
                    </div>
                    <a href="/keys">"API keys"</a>
                    <a href="/docs">"Docs"</a>
                    <a href="/prices">"Prices"</a>
                    <div class="account">
                        <Transition fallback=|| ()>
                            {move || Suspend::new(async move {
                                match viewer.await {
                                    Ok(Viewer { user: Some(user), .. }) => account_box(user).into_any(),
                                    _ => view! { <a class="btn primary small" href="/login">"Log in"</a> }.into_any(),
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
                                <strong>"Demo mode."</strong>
                                " Login emails are not sent; they land in the "
                                <a href="/dev/mailbox">"dev mailbox"</a>
                                "."
                            </div>
                        }
                    })
            })}
        </Transition>
        <main class="page" id="main" tabindex="-1">{children()}</main>
        <footer class="footer">
            <span>"Gatehouse · self-hosted LLM API platform"</span>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    viewer.await.ok().and_then(|v| v.support_email).map(|email| view! {
                        <span data-testid="support-email">
                            "Help: " <a href=format!("mailto:{email}")>{email.clone()}</a>
                        </span>
                    })
                })}
            </Transition>
        </footer>
    }
}

fn account_box(user: SignedInUser) -> impl IntoView {
    view! {
        {user.operator.then(|| view! { <a class="btn ghost small" href="/admin">"Admin"</a> })}
        <span class="account-email" title="Signed in">{user.email}</span>
        <a class="btn ghost small" href="/account/sessions">"Sessions"</a>
        <form method="post" action=Logout::url() class="inline-form">
            <button type="submit" class="btn ghost small">"Log out"</button>
        </form>
    }
}
