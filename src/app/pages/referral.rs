//! `/i`: the inviter's referral program page (exclusive link with a copy button, the promotion's rules,
//! counts, invitees, packages earned) and, for a new account without a referral, the invite-code box.

use crate::app::pages::billing::load_error_saying;
use crate::shared::error::AppError;
use crate::shared::referral::{PromotionView, ReferralView};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[server(endpoint = "referral")]
pub async fn get_referral() -> Result<ReferralView, AppError> {
    use crate::server::fn_support::{answer, require_user, state};
    use crate::server::referral_view;
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            referral_view::referral_page(&state, user.id, user.created_at).await
        }
        .await,
    )
}

/// The code box; each note arrives as `on` only when its box was ticked.
#[server(endpoint = "referral_apply")]
pub async fn apply_invite_code(
    code: String,
    reward: Option<String>,
    new_users: Option<String>,
    credit: Option<String>,
    balance: Option<String>,
) -> Result<String, AppError> {
    use crate::server::fn_support::{answer, client_network_of_request, require_user, state};
    use crate::server::referral_view;
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            let ip = client_network_of_request(&state)?;
            let ticked = [&reward, &new_users, &credit, &balance].map(|v| v.as_deref() == Some("on"));
            referral_view::apply_code(&state, user.id, &code, ticked, &ip).await
        }
        .await,
    )
}

#[component]
pub fn ReferralPage() -> impl IntoView {
    let apply = ServerAction::<ApplyInviteCode>::new();
    let data = Resource::new(move || apply.version().get(), |_| get_referral());
    let query = use_query_map();
    let existing = move || query.read().get("invite").as_deref() == Some("existing");
    view! {
        <Title text="Referral program" />
        <h1>"Referral program"</h1>
        {move || existing().then(|| view! {
            <p class="notice" role="status">
                "You already had an account, so that invitation does not apply: referral rewards are for new accounts only."
            </p>
        })}
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => referral_view(v, apply).into_any(),
                    Err(e) => load_error_saying(
                        e,
                        "/i",
                        "Log in to invite friends",
                        "Your invitation link and the rewards you earned are shown once you are logged in.",
                    ),
                }
            })}
        </Suspense>
    }
}

fn referral_view(v: ReferralView, apply: ServerAction<ApplyInviteCode>) -> impl IntoView {
    let link = v.link.clone();
    view! {
        {v.own_referral.clone().map(|text| view! { <p class="notice success" data-testid="own-referral">{text}</p> })}
        <section class="card invite-link-card">
            <h2>"Your exclusive invitation link"</h2>
            <div class="copy-row">
                <input type="text" readonly value=link.clone() id="invite-link" aria-label="Your invitation link" />
                <button
                    type="button"
                    class="btn primary"
                    data-link=link
                    onclick=crate::app::inline_handlers::COPY_INVITE_LINK
                >
                    "Copy link"
                </button>
            </div>
            <p class="muted small">{format!("Your code: {}. Share the link with friends and colleagues.", v.code)}</p>
        </section>
        {code_box(v.can_enter_code, apply)}
        <div class="stats">
            <div class="card stat"><p class="eyebrow">"Opened your link"</p><p class="stat-value" data-testid="opened">{v.opened}</p></div>
            <div class="card stat"><p class="eyebrow">"Signed up"</p><p class="stat-value" data-testid="signed-up">{v.signed_up}</p></div>
            <div class="card stat"><p class="eyebrow">"Qualified"</p><p class="stat-value" data-testid="qualified">{v.qualified}</p></div>
        </div>
        {rules(v.promotion.clone())}
        <section class="card">
            <h2>"Your referral packages"</h2>
            {if v.earned.is_empty() {
                view! { <p class="muted">"None yet. When a friend qualifies, you both get the package."</p> }.into_any()
            } else {
                view! {
                    <ul class="earned">
                        {v.earned.iter().map(|p| view! {
                            <li data-testid="earned-package">
                                <strong>{p.title.clone()}</strong>
                                <span class="muted small">{format!(" {}: {} left of {}, expires {}", p.why, p.remaining, p.original, p.expires)}</span>
                                {(!p.active).then(|| view! { <span class="badge off">"Inactive"</span> })}
                            </li>
                        }).collect_view()}
                    </ul>
                    <a href="/billing/packages">"See them in Billing → Resource packages"</a>
                }.into_any()
            }}
        </section>
        <section class="card">
            <h2>"People you invited"</h2>
            {if v.invitees.is_empty() {
                view! { <p class="muted">"Nobody has signed up through your link yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap" tabindex="0" role="region" aria-label="Your referrals">
                        <table class="data cards" data-testid="invitees">
                            <thead><tr><th>"Email"</th><th>"Signed up"</th><th>"Status"</th></tr></thead>
                            <tbody>
                                {v.invitees.iter().map(|r| {
                                    let class = if r.rewarded { "badge ok" } else { "badge off" };
                                    let reason = (!r.reason.is_empty()).then(|| format!(" — {}", r.reason));
                                    view! {
                                        <tr>
                                            <td data-label="Email">{r.email.clone()}</td>
                                            <td data-label="Signed up">{r.date.clone()}</td>
                                            <td data-label="Status"><span class=class>{r.status.clone()}</span><span class="muted small">{reason}</span></td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
        {v.cannot_enter_code.clone().map(|why| view! { <p class="muted small">{why}</p> })}
    }
}

fn rules(p: PromotionView) -> impl IntoView {
    let until = p
        .ends
        .clone()
        .map(|e| format!("The promotion runs until {e}."))
        .unwrap_or_else(|| "No end date has been announced.".into());
    view! {
        <section class="card">
            <h2>"How it works"</h2>
            {(!p.running).then(|| view! {
                <p class="notice">"The promotion is paused: new sign-ups are recorded, but no packages are granted."</p>
            })}
            <ul class="rules">
                <li>{format!("You and each friend who qualifies both get a {} package: {} of credit, valid {} days.", p.title, p.reward, p.days)}</li>
                <li>{format!("It pays for {} at the official price, before your balance.", p.scope.join(" and "))}</li>
                <li>{format!(
                    "Who qualifies: a new account created through your link (or entering your code within {} days of signing up), \
                     with a real email address (no disposable domains), not your own, and never invited before.",
                    p.apply_window_days
                )}</li>
                <li>{format!("At most {} rewarded sign-ups per network per day; more are held for review.", p.ip_daily_cap)}</li>
                <li>"Calling the API still needs a positive balance: at $0 or below, calls are refused with HTTP 402."</li>
                <li>{until}</li>
            </ul>
        </section>
    }
}

fn code_box(can_enter: bool, apply: ServerAction<ApplyInviteCode>) -> impl IntoView {
    let result = move || apply.value().get();
    let query = use_query_map();
    let prefilled = move || query.read().get("code").unwrap_or_default();
    let note = |name: &'static str, text: &'static str| {
        view! {
            <label class="note small">
                <input type="checkbox" name=name />
                <span>{text}</span>
            </label>
        }
    };
    can_enter.then(|| view! {
        <section class="card narrow-left" data-testid="code-box">
            <h2>"Were you invited?"</h2>
            <p class="muted small">"If your invitation was not applied when you signed up, enter the code here."</p>
            <ActionForm action=apply attr:class="stack">
                <label for="invite-code">"Invitation code"</label>
                <input id="invite-code" type="text" name="code" autocomplete="off" spellcheck="false" placeholder="F8GTE3SR" value=prefilled />
                {note("reward", "The reward is a Claude Code API resource package for me and for the person who invited me.")}
                {note("new_users", "It is only for new users with a qualifying email address, one reward per person.")}
                {note("credit", "It pays for Claude Code API calls and web chat only, and cannot be withdrawn.")}
                {note("balance", "Calling the API needs a positive balance: at $0 or less calls are refused with HTTP 402.")}
                <button type="submit" class="btn primary" disabled=move || apply.pending().get()>"Apply code"</button>
            </ActionForm>
            {move || result().map(|r| match r {
                Ok(message) => view! { <p class="notice success" role="status">{message}</p> }.into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
        </section>
    })
}
