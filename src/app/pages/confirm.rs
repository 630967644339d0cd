//! `/auth/confirm?token=…`: shows who is logging in and a "Confirm and log in" button. Viewing (GET, HEAD)
//! never consumes the link, so mail scanners that prefetch it do no harm; only the button's POST logs in.

use crate::app::components::error_text::error_text_in;
use crate::i18n::*;
use crate::shared::dto::LoginLinkView;
use crate::shared::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[server(endpoint = "login_link")]
pub async fn inspect_login_link(token: String) -> Result<LoginLinkView, AppError> {
    use crate::server::auth::magic_link;
    use crate::server::fn_support::{answer, state};
    answer(async { magic_link::inspect(&state()?.db, &token).await }.await)
}

#[server(endpoint = "confirm_login")]
pub async fn confirm_login(token: String) -> Result<(), AppError> {
    use crate::server::auth::magic_link;
    use crate::server::fn_support::{
        answer_form, browser_of_request, client_network_of_request, invite_ack_of_browser, session, state,
    };
    let result = async {
        let state = state()?;
        let session = session()?;
        let client_ip = client_network_of_request(&state)?;
        let browser_ack = invite_ack_of_browser();
        let rules = magic_link::NewAccountRules {
            browser_ack: browser_ack.as_deref(),
            welcome_balance: state.settings.money.welcome_balance,
            promotion: &state.settings.referral.promotion,
            email_policy: &state.email_policy,
            client_ip: &client_ip,
        };
        let browser = browser_of_request(&state)?;
        let confirmed =
            magic_link::confirm(&state.db, &token, session.presented_hash().as_deref(), &browser, rules).await?;
        // A referral applied here may have given both sides a package: their next API calls see it.
        for account in [Some(confirmed.user_id), confirmed.inviter_id].into_iter().flatten() {
            state.gateway.money_moved(account);
        }
        session.logged_in(confirmed.session_token);
        leptos_axum::redirect(&confirmed.next);
        Ok::<_, AppError>(())
    }
    .await;
    // A browser without JS goes back to the confirm page, which explains what is wrong with the link.
    answer_form(result, |e| {
        matches!(e, AppError::Gone(_)).then(|| {
            let token: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
            format!("/auth/confirm?token={token}")
        })
    })
}

#[component]
pub fn ConfirmPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let link = Resource::new(token, inspect_login_link);
    view! {
        <Title text=tu_string!(i18n, confirm.title) />
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, confirm.checking)}</p> }>
            {move || Suspend::new(async move {
                let locale = i18n.get_locale_untracked();
                match link.await {
                    Ok(LoginLinkView::Valid { email, expires_in_minutes }) => {
                        view! {
                            <section class="card narrow">
                                <h1>{t!(i18n, confirm.title)}</h1>
                                <p>{t!(i18n, confirm.logging_in_as)}</p>
                                <p class="big-email">{email}</p>
                                <form method="post" action=ConfirmLogin::url() class="stack">
                                    <input type="hidden" name="token" value=token() />
                                    <button type="submit" class="btn primary wide">{t!(i18n, confirm.confirm_button)}</button>
                                </form>
                                <p class="muted small">
                                    {t!(i18n, confirm.expires_in, minutes = expires_in_minutes)}
                                </p>
                            </section>
                        }
                            .into_any()
                    }
                    Ok(other) => refused(other.refusal(locale).to_string()).into_any(),
                    Err(e) => refused(error_text_in(&e, locale)).into_any(),
                }
            })}
        </Suspense>
    }
}

fn refused(message: String) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <section class="card narrow">
            <h1>{t!(i18n, confirm.refused_title)}</h1>
            <p>{message}</p>
            <a class="btn primary" href="/login">{t!(i18n, confirm.new_link)}</a>
            <crate::app::components::support::ContactSupport lead=tu_string!(i18n, confirm.need_help) />
        </section>
    }
}
