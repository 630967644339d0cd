//! `/i/CODE`: what an invitee sees. Signed out: the notes of the promotion with a checkbox each; "I
//! Understand" is enabled once all are ticked (the server checks again and records the acknowledgement),
//! then the login page with the invitation carried along. Signed in: rewards are for new accounts only.
//! The notes are written per language, each language's with its own version (`invite.notes_version`),
//! shown under them and recorded with the acknowledgement together with the language.

use crate::app::components::error_text::error_text;
use crate::i18n::*;
use crate::shared::error::AppError;
use crate::shared::referral::{InviteView, PromotionView};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

#[server(endpoint = "invite")]
pub async fn get_invite(code: String) -> Result<InviteView, AppError> {
    use crate::server::fn_support::{answer, client_network_of_request, current_user, state, user_agent};
    use crate::server::referral_view;
    answer(
        async {
            let state = state()?;
            let viewer = current_user(&state).await?.map(|u| (u.id, u.created_at));
            let visitor = format!("{}|{}", client_network_of_request(&state)?, user_agent());
            let view = referral_view::invite_page(&state, &code, viewer, &visitor, crate::server::fn_support::locale())
                .await?;
            if view == InviteView::Unknown {
                if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
                    options.set_status(axum::http::StatusCode::NOT_FOUND);
                }
            }
            Ok(view)
        }
        .await,
    )
}

/// "I Understand". Each note arrives as `on` only when its box was ticked.
#[server(endpoint = "invite_ack")]
pub async fn acknowledge_invite(
    code: String,
    reward: Option<String>,
    new_users: Option<String>,
    credit: Option<String>,
    balance: Option<String>,
) -> Result<(), AppError> {
    use crate::app::components::error_text::error_text_in;
    use crate::server::fn_support::{answer_form, client_network_of_request, locale, set_cookie, state};
    use crate::server::http::invite_ack_cookie;
    use crate::server::referral_view;
    // The notes were shown in the request's language; that language's version is what is acknowledged.
    let locale = locale();
    let result = async {
        let state = state()?;
        let ip = client_network_of_request(&state)?;
        let ticked = [&reward, &new_users, &credit, &balance].map(|v| v.as_deref() == Some("on"));
        let (token, next) = referral_view::acknowledge(&state, &code, ticked, &ip, locale).await?;
        if let Some(cookie) = invite_ack_cookie::set(&token, state.settings.cookies_secure()) {
            set_cookie(cookie);
        }
        leptos_axum::redirect(&next);
        Ok::<_, AppError>(())
    }
    .await;
    answer_form(result, |e| {
        let message: String = url::form_urlencoded::byte_serialize(error_text_in(e, locale).as_bytes()).collect();
        let code: String = url::form_urlencoded::byte_serialize(code.as_bytes()).collect();
        Some(format!("/i/{code}?error={message}"))
    })
}

#[component]
pub fn InvitePage() -> impl IntoView {
    let i18n = use_i18n();
    let params = use_params_map();
    let code = move || params.read().get("code").unwrap_or_default();
    let data = Resource::new(code, get_invite);
    view! {
        <Title text=tu_string!(i18n, invite.title) />
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(InviteView::Valid { code, promotion, signed_in: false, .. }) => notes(code, promotion).into_any(),
                    Ok(InviteView::Valid { own: true, .. }) => own_link().into_any(),
                    Ok(InviteView::Valid { code, signed_in: true, can_apply: true, .. }) => can_still_apply(code).into_any(),
                    Ok(InviteView::Valid { promotion, signed_in: true, .. }) => already_member(promotion).into_any(),
                    Ok(InviteView::Unknown) => unknown().into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn notes(code: String, p: PromotionView) -> impl IntoView {
    let i18n = use_i18n();
    let PromotionView { running, reward, title, days, scope, .. } = p;
    let scope = crate::app::pages::referral::scope_list(&scope);
    let notes_version = tu_string!(i18n, invite.notes_version);
    let query = use_query_map();
    let error = move || query.read().get("error");
    let ticks: [RwSignal<bool>; 4] = std::array::from_fn(|_| RwSignal::new(false));
    let all_ticked = move || ticks.iter().all(|t| t.get());
    // Before hydration (or without JavaScript) the button stays enabled and the browser itself requires
    // every box; once hydrated, it is enabled as the last box is ticked.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let note = |name: &'static str, i: usize, text: AnyView| {
        let tick = ticks[i];
        view! {
            <label class="note">
                <input type="checkbox" name=name required on:change=move |ev| tick.set(event_target_checked(&ev)) />
                <span>{text}</span>
            </label>
        }
    };
    let eyebrow_code = code.clone();
    let (lead_title, lead_reward) = (title.clone(), reward.clone());
    view! {
        <section class="card invite-card">
            <p class="eyebrow">{t!(i18n, invite.eyebrow, code = move || eyebrow_code.clone())}</p>
            <h1>{t!(i18n, invite.heading)}</h1>
            <p class="lead-small">
                {t!(
                    i18n,
                    invite.lead,
                    title = move || lead_title.clone(),
                    reward = move || lead_reward.clone(),
                    days = move || days
                )}
            </p>
            {(!running).then(|| view! {
                <p class="notice">{t!(i18n, invite.paused)}</p>
            })}
            <p><strong>{t!(i18n, invite.read_carefully)}</strong></p>
            <form method="post" action=AcknowledgeInvite::url() class="notes">
                <input type="hidden" name="code" value=code.clone() />
                {note("reward", 0, t!(
                    i18n,
                    invite.note_reward,
                    title = move || title.clone(),
                    reward = move || reward.clone(),
                    days = move || days
                ).into_any())}
                {note("new_users", 1, t!(i18n, invite.note_new_users).into_any())}
                {note("credit", 2, t!(i18n, invite.note_credit, scope = move || scope.clone()).into_any())}
                {note("balance", 3, t!(i18n, invite.note_balance).into_any())}
                {move || error().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                <p class="muted small" data-testid="notes-version">
                    {t!(i18n, invite.notes_version_shown, version = move || notes_version)}
                </p>
                <button type="submit" class="btn primary wide" disabled=move || hydrated.get() && !all_ticked()>
                    {t!(i18n, invite.understand)}
                </button>
                <p class="muted small">{t!(i18n, invite.next_email)}</p>
            </form>
        </section>
    }
}

fn own_link() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <section class="card narrow center" data-testid="own-invite">
            <h1>{t!(i18n, invite.own_title)}</h1>
            <p class="muted">{t!(i18n, invite.own_text)}</p>
            <a class="btn primary" href="/i">{t!(i18n, invite.own_button)}</a>
        </section>
    }
}

fn can_still_apply(code: String) -> impl IntoView {
    let i18n = use_i18n();
    let href = format!("/i?code={code}");
    view! {
        <section class="card narrow center">
            <h1>{t!(i18n, invite.can_apply_title)}</h1>
            <p class="muted">{t!(i18n, invite.can_apply_text)}</p>
            <a class="btn primary" href=href>{t!(i18n, invite.can_apply_button, code = move || code.clone())}</a>
        </section>
    }
}

fn already_member(p: PromotionView) -> impl IntoView {
    let i18n = use_i18n();
    let title = p.title;
    view! {
        <section class="card narrow center">
            <h1>{t!(i18n, invite.member_title)}</h1>
            <p class="muted">{t!(i18n, invite.member_text, title = move || title.clone())}</p>
            <a class="btn primary" href="/i">{t!(i18n, invite.member_button)}</a>
        </section>
    }
}

fn unknown() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <section class="card narrow center">
            <h1>{t!(i18n, invite.unknown_title)}</h1>
            <p class="muted">{t!(i18n, invite.unknown_text)}</p>
            <a class="btn primary" href="/login">{t!(i18n, invite.unknown_button)}</a>
        </section>
    }
}
