//! `/i/CODE`: what an invitee sees. Signed out: the notes of the promotion with a checkbox each; "I
//! Understand" is enabled once all are ticked (the server checks again and records the acknowledgement),
//! then the login page with the invitation carried along. Signed in: rewards are for new accounts only.

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
            let view = referral_view::invite_page(&state, &code, viewer, &visitor).await?;
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
    use crate::server::fn_support::{answer_form, client_network_of_request, set_cookie, state};
    use crate::server::http::invite_ack_cookie;
    use crate::server::referral_view;
    let result = async {
        let state = state()?;
        let ip = client_network_of_request(&state)?;
        let ticked = [&reward, &new_users, &credit, &balance].map(|v| v.as_deref() == Some("on"));
        let (token, next) = referral_view::acknowledge(&state, &code, ticked, &ip).await?;
        if let Some(cookie) = invite_ack_cookie::set(&token, state.settings.cookies_secure()) {
            set_cookie(cookie);
        }
        leptos_axum::redirect(&next);
        Ok::<_, AppError>(())
    }
    .await;
    answer_form(result, |e| {
        let message: String = url::form_urlencoded::byte_serialize(e.to_string().as_bytes()).collect();
        let code: String = url::form_urlencoded::byte_serialize(code.as_bytes()).collect();
        Some(format!("/i/{code}?error={message}"))
    })
}

#[component]
pub fn InvitePage() -> impl IntoView {
    let params = use_params_map();
    let code = move || params.read().get("code").unwrap_or_default();
    let data = Resource::new(code, get_invite);
    view! {
        <Title text="You're invited" />
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(InviteView::Valid { code, promotion, signed_in: false, .. }) => notes(code, promotion).into_any(),
                    Ok(InviteView::Valid { own: true, .. }) => own_link().into_any(),
                    Ok(InviteView::Valid { code, signed_in: true, can_apply: true, .. }) => can_still_apply(code).into_any(),
                    Ok(InviteView::Valid { promotion, signed_in: true, .. }) => already_member(promotion).into_any(),
                    Ok(InviteView::Unknown) => unknown().into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn notes(code: String, p: PromotionView) -> impl IntoView {
    let query = use_query_map();
    let error = move || query.read().get("error");
    let ticks: [RwSignal<bool>; 4] = std::array::from_fn(|_| RwSignal::new(false));
    let all_ticked = move || ticks.iter().all(|t| t.get());
    // Before hydration (or without JavaScript) the button stays enabled and the browser itself requires
    // every box; once hydrated, it is enabled as the last box is ticked.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let note = |name: &'static str, i: usize, text: String| {
        let tick = ticks[i];
        view! {
            <label class="note">
                <input type="checkbox" name=name required on:change=move |ev| tick.set(event_target_checked(&ev)) />
                <span>{text}</span>
            </label>
        }
    };
    view! {
        <section class="card invite-card">
            <p class="eyebrow">{format!("Invitation {code}")}</p>
            <h1>"You're invited to Gatehouse"</h1>
            <p class="lead-small">
                {format!(
                    "Sign up through this invitation and you and your friend each get a {} package ({} of credit, valid {} days).",
                    p.title, p.reward, p.days
                )}
            </p>
            {(!p.running).then(|| view! {
                <p class="notice">"The promotion is paused right now: you can sign up, but no package will be granted."</p>
            })}
            <p><strong>"Please read these notes carefully and tick each one:"</strong></p>
            <form method="post" action=AcknowledgeInvite::url() class="notes">
                <input type="hidden" name="code" value=code.clone() />
                {note("reward", 0, format!(
                    "The reward is a {} resource package worth {}, valid for {} days, for me and for the person who invited me.",
                    p.title, p.reward, p.days
                ))}
                {note("new_users", 1, "It is only for new users who sign up with a qualifying email address: no disposable \
                    addresses, one reward per person.".to_string())}
                {note("credit", 2, format!(
                    "It is Claude Code API credit: it pays for {} only, not for other APIs, and it cannot be withdrawn.",
                    p.scope.join(" and ")
                ))}
                {note("balance", 3, "Calling the API needs a positive account balance: when my balance is $0 or less, calls \
                    are refused with HTTP 402, even while the package has credit left.".to_string())}
                {move || error().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                <button type="submit" class="btn primary wide" disabled=move || hydrated.get() && !all_ticked()>"I Understand"</button>
                <p class="muted small">"Next you enter your email; we send you a link to create your account."</p>
            </form>
        </section>
    }
}

fn own_link() -> impl IntoView {
    view! {
        <section class="card narrow center" data-testid="own-invite">
            <h1>"This is your own invitation link"</h1>
            <p class="muted">
                "Share it with friends: when they sign up through it, you each get a package. Your referral page shows who joined."
            </p>
            <a class="btn primary" href="/i">"Go to your referral page"</a>
        </section>
    }
}

fn can_still_apply(code: String) -> impl IntoView {
    view! {
        <section class="card narrow center">
            <h1>"You can still join with this invitation"</h1>
            <p class="muted">
                "Your account is new and has no invitation yet. Read the notes and apply the code on your referral page."
            </p>
            <a class="btn primary" href=format!("/i?code={code}")>{format!("Apply invitation {code}")}</a>
        </section>
    }
}

fn already_member(p: PromotionView) -> impl IntoView {
    view! {
        <section class="card narrow center">
            <h1>"Rewards are for new accounts"</h1>
            <p class="muted">
                {format!(
                    "You are already signed in, so this invitation cannot be applied to your account: the {} package is for people who sign up through the link.",
                    p.title
                )}
            </p>
            <a class="btn primary" href="/i">"Invite your own friends"</a>
        </section>
    }
}

fn unknown() -> impl IntoView {
    view! {
        <section class="card narrow center">
            <h1>"This invitation link does not work"</h1>
            <p class="muted">
                "The code may be mistyped, or the invitation is no longer active. You can still create an account without a referral."
            </p>
            <a class="btn primary" href="/login">"Sign up without a referral"</a>
        </section>
    }
}
