//! `/login` (email field, Continue) and `/login/sent` (check your inbox). The answer is the same whether or
//! not an account exists for the email.

use crate::app::components::error_text::error_text_in;
use crate::app::components::layout::ViewerResource;
use crate::i18n::*;
use crate::shared::dto::Viewer;
use crate::shared::error::AppError;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[server(endpoint = "request_login")]
pub async fn request_login(email: String, next: String) -> Result<(), AppError> {
    use crate::server::auth::magic_link::{self, LinkRequest};
    use crate::server::domain::referral::{self, AckState};
    use crate::server::fn_support::{
        answer_form, browser_of_request, client_network_of_request, invite_ack_of_browser, set_cookie, state,
    };
    use crate::server::http::invite_ack_cookie;
    use crate::server::time::now_ms;
    use crate::shared::email::{Email, EmailError};
    /// What is wrong with the typed address, in the page's language.
    fn email_error(e: &EmailError, locale: Locale) -> &'static str {
        match e {
            EmailError::Empty => td_string!(locale, login.email_empty),
            EmailError::TooLong => td_string!(locale, login.email_too_long),
            EmailError::MissingAt => td_string!(locale, login.email_missing_at),
            EmailError::TooManyAt => td_string!(locale, login.email_too_many_at),
            EmailError::BadCharacter => td_string!(locale, login.email_bad_character),
            EmailError::BadLocalPart => td_string!(locale, login.email_bad_local_part),
            EmailError::BadDomain => td_string!(locale, login.email_bad_domain),
        }
    }
    let locale = crate::server::fn_support::locale();
    let typed = email.clone();
    let back_to = next.clone();
    let result = async {
        let state = state()?;
        let email = Email::parse(&email).map_err(|e| AppError::invalid("email", email_error(&e, locale)))?;
        let client_ip = client_network_of_request(&state)?;
        // The invitation this browser acknowledged (never one named in the form) stays in its cookie until a login there applies it; an
        // expired one is cleared here with a clear message.
        if let Some(token) = invite_ack_of_browser() {
            match referral::ack_by_token(state.db.pool(), &token, now_ms()).await? {
                AckState::Usable(_) => {}
                // It served the account that signed up with it: this browser's later logins are plain.
                AckState::Used => set_cookie(invite_ack_cookie::clear(state.settings.cookies_secure())),
                AckState::Gone => {
                    set_cookie(invite_ack_cookie::clear(state.settings.cookies_secure()));
                    return Err(AppError::invalid("email", td_string!(locale, login.invite_expired)));
                }
            }
        }
        let limits = state.settings.login_limits;
        // Described in the email's language, which `request_link` picks.
        let asked_by = browser_of_request(&state)?;
        let request = LinkRequest {
            email: &email,
            next: &next,
            client_ip: &client_ip,
            public_base_url: &state.public_base_url,
            log_link: state.settings.is_dev(),
            asked_by: &asked_by,
        };
        magic_link::request_link(&state.db, &state.mailer, limits, request).await?;
        let to: String = url::form_urlencoded::byte_serialize(email.as_typed().as_bytes()).collect();
        leptos_axum::redirect(&format!("/login/sent?email={to}"));
        Ok::<_, AppError>(())
    }
    .await;
    // Before hydration the browser posts the form itself: show the form again with the message beside the field.
    answer_form(result, |e| {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("email", &typed).append_pair("next", &back_to);
        let query = query.append_pair("error", &error_text_in(e, locale)).finish();
        Some(format!("/login?{query}"))
    })
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    // Set when the person came through an invitation's "I Understand" (see the invite page); the
    // acknowledgement itself travels in this browser's cookie.
    let invited = move || query.read().get("invite").filter(|c| !c.is_empty());
    let action = ServerAction::<RequestLogin>::new();
    let typed = move || query.read().get("email").unwrap_or_default();
    let error = move || match action.value().get() {
        Some(result) => result.err(),
        // Set when the form was posted before the page hydrated (see `request_login`).
        None => query.read().get("error").map(|message| AppError::invalid("email", message)),
    };
    let email_error = move || error().and_then(|e| e.for_field("email"));
    let form_error = move || {
        error().filter(|e| e.for_field("email").is_none()).map(|e| error_text_in(&e, i18n.get_locale_untracked()))
    };
    view! {
        <Title text=tu_string!(i18n, login.title) />
        <section class="card narrow">
            <h1>{t!(i18n, login.heading)}</h1>
            <p class="muted">{t!(i18n, login.intro)}</p>
            {move || invited().map(|code| view! {
                <p class="notice success" data-testid="invite-banner">
                    {t!(i18n, login.invite_banner, code = code, <strong> = <strong />)}
                </p>
            })}
            <ActionForm action=action attr:class="stack" attr:novalidate=true>
                <label for="email">{t!(i18n, login.email_label)}</label>
                <input
                    id="email"
                    type="email"
                    name="email"
                    autocomplete="email"
                    placeholder="you@example.com"
                    value=typed
                    required
                    aria-invalid=move || email_error().is_some().to_string()
                    aria-describedby="email-error"
                />
                <p id="email-error" class="field-error" role="alert">
                    {email_error}
                </p>
                <input type="hidden" name="next" value=next />
                <button type="submit" class="btn primary wide" disabled=move || action.pending().get()>
                    {move || {
                        if action.pending().get() {
                            tu_string!(i18n, login.sending)
                        } else {
                            tu_string!(i18n, login.continue_button)
                        }
                    }}
                </button>
            </ActionForm>
            {move || form_error().map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
        </section>
    }
}

#[component]
pub fn LoginSentPage() -> impl IntoView {
    let i18n = use_i18n();
    let query = use_query_map();
    let email = move || query.read().get("email").unwrap_or_default();
    let viewer = expect_context::<ViewerResource>();
    view! {
        <Title text=tu_string!(i18n, login.sent_title) />
        <section class="card narrow">
            <div class="icon-circle" aria-hidden="true">"✉"</div>
            <h1>{t!(i18n, login.sent_title)}</h1>
            <p>{t!(i18n, login.sent_body, email = email, <strong> = <strong />, <b> = <strong />)}</p>
            <p class="muted">{t!(i18n, login.sent_expiry, <a> = <a href="/login" />)}</p>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    matches!(viewer.await, Ok(Viewer { dev_mode: true, .. }))
                        .then(|| view! {
                            <p class="notice">{t!(i18n, login.sent_demo, <a> = <a href="/dev/mailbox" />)}</p>
                        })
                })}
            </Suspense>
        </section>
    }
}
