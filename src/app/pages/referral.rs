//! `/i`: the inviter's referral program page (exclusive link with a copy button, the promotion's rules,
//! counts, invitees, packages earned) and, for a new account without a referral, the invite-code box.

use crate::app::components::error_text::error_text;
use crate::app::pages::billing::load_error_saying;
use crate::i18n::*;
use crate::shared::error::AppError;
use crate::shared::referral::{PromotionView, ReferralView};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[server(endpoint = "referral")]
pub async fn get_referral() -> Result<ReferralView, AppError> {
    use crate::server::fn_support::{answer, locale, require_user, state};
    use crate::server::referral_view;
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            referral_view::referral_page(&state, user.id, user.created_at, locale()).await
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
    use crate::server::fn_support::{answer, client_network_of_request, locale, require_user, state};
    use crate::server::referral_view;
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            let ip = client_network_of_request(&state)?;
            let ticked = [&reward, &new_users, &credit, &balance].map(|v| v.as_deref() == Some("on"));
            referral_view::apply_code(&state, user.id, &code, ticked, &ip, locale()).await
        }
        .await,
    )
}

#[component]
pub fn ReferralPage() -> impl IntoView {
    let i18n = use_i18n();
    let apply = ServerAction::<ApplyInviteCode>::new();
    let data = Resource::new(move || apply.version().get(), |_| get_referral());
    let query = use_query_map();
    let existing = move || query.read().get("invite").as_deref() == Some("existing");
    view! {
        <Title text=tu_string!(i18n, referral.title) />
        <h1>{t!(i18n, referral.title)}</h1>
        {move || existing().then(|| view! {
            <p class="notice" role="status">{t!(i18n, referral.existing_account)}</p>
        })}
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => referral_view(v, apply).into_any(),
                    Err(e) => load_error_saying(
                        e,
                        "/i",
                        tu_string!(i18n, referral.login_title),
                        tu_string!(i18n, referral.login_why),
                    ),
                }
            })}
        </Suspense>
    }
}

fn referral_view(v: ReferralView, apply: ServerAction<ApplyInviteCode>) -> impl IntoView {
    let i18n = use_i18n();
    let link = v.link.clone();
    let code = v.code.clone();
    let col_email = tu_string!(i18n, referral.col_email);
    let col_signed_up = tu_string!(i18n, referral.col_signed_up);
    let col_status = tu_string!(i18n, referral.col_status);
    view! {
        {v.own_referral.clone().map(|text| view! { <p class="notice success" data-testid="own-referral">{text}</p> })}
        <section class="card invite-link-card">
            <h2>{t!(i18n, referral.link_heading)}</h2>
            <div class="copy-row">
                <input type="text" readonly value=link.clone() id="invite-link" aria-label=tu_string!(i18n, referral.link_label) />
                // `data-copy-label` and `data-copied-label`: the button's words in the page's language, for the
                // copy handler.
                <button
                    type="button"
                    class="btn primary"
                    data-link=link
                    data-copy-label=tu_string!(i18n, referral.copy_link)
                    data-copied-label=tu_string!(i18n, common.copied)
                    onclick=crate::app::inline_handlers::COPY_INVITE_LINK
                >
                    {t!(i18n, referral.copy_link)}
                </button>
            </div>
            <p class="muted small">{t!(i18n, referral.your_code, code = move || code.clone())}</p>
        </section>
        {code_box(v.can_enter_code, apply)}
        <div class="stats">
            <div class="card stat"><p class="eyebrow">{t!(i18n, referral.stat_opened)}</p><p class="stat-value" data-testid="opened">{v.opened}</p></div>
            <div class="card stat"><p class="eyebrow">{t!(i18n, referral.stat_signed_up)}</p><p class="stat-value" data-testid="signed-up">{v.signed_up}</p></div>
            <div class="card stat"><p class="eyebrow">{t!(i18n, referral.stat_qualified)}</p><p class="stat-value" data-testid="qualified">{v.qualified}</p></div>
        </div>
        {rules(v.promotion.clone())}
        <section class="card">
            <h2>{t!(i18n, referral.packages_heading)}</h2>
            {if v.earned.is_empty() {
                view! { <p class="muted">{t!(i18n, referral.packages_none)}</p> }.into_any()
            } else {
                view! {
                    <ul class="earned">
                        {v.earned.iter().map(|p| {
                            let line = crate::shared::text::fill(
                                tu_string!(i18n, referral.package_line),
                                &[("why", &p.why), ("remaining", &p.remaining), ("original", &p.original), ("expires", &p.expires)],
                            );
                            view! {
                                <li data-testid="earned-package">
                                    <strong translate="no">{p.title.clone()}</strong>
                                    <span class="muted small">{format!(" {line}")}</span>
                                    {(!p.active).then(|| view! { <span class="badge off">{t!(i18n, referral.inactive)}</span> })}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                    <a href="/billing/packages">{t!(i18n, referral.see_in_billing)}</a>
                }.into_any()
            }}
        </section>
        <section class="card">
            <h2>{t!(i18n, referral.invitees_heading)}</h2>
            {if v.invitees.is_empty() {
                view! { <p class="muted">{t!(i18n, referral.invitees_none)}</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap" tabindex="0" role="region" aria-label=tu_string!(i18n, referral.invitees_label)>
                        <table class="data cards" data-testid="invitees">
                            <thead><tr><th>{col_email}</th><th>{col_signed_up}</th><th>{col_status}</th></tr></thead>
                            <tbody>
                                {v.invitees.iter().map(|r| {
                                    let class = if r.rewarded { "badge ok" } else { "badge off" };
                                    let reason = (!r.reason.is_empty()).then(|| format!(" — {}", r.reason));
                                    view! {
                                        <tr>
                                            <td data-label=col_email>{r.email.clone()}</td>
                                            <td data-label=col_signed_up>{r.date.clone()}</td>
                                            <td data-label=col_status><span class=class>{r.status.clone()}</span><span class="muted small">{reason}</span></td>
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

/// The channels a promotion's package pays for, as one phrase in the page's language ("A and B").
pub fn scope_list(scope: &[String]) -> String {
    let i18n = use_i18n();
    let pair = tu_string!(i18n, referral.scope_pair);
    scope.iter().cloned().reduce(|a, b| crate::shared::text::fill(pair, &[("a", &a), ("b", &b)])).unwrap_or_default()
}

fn rules(p: PromotionView) -> impl IntoView {
    let i18n = use_i18n();
    let PromotionView { running, reward, title, days, scope, ends, apply_window_days, ip_daily_cap } = p;
    let scope = scope_list(&scope);
    let until = match ends {
        Some(date) => t!(i18n, referral.runs_until, date = move || date.clone()).into_any(),
        None => t!(i18n, referral.no_end_date).into_any(),
    };
    view! {
        <section class="card">
            <h2>{t!(i18n, referral.how_it_works)}</h2>
            {(!running).then(|| view! {
                <p class="notice">{t!(i18n, referral.paused)}</p>
            })}
            <ul class="rules">
                <li>{t!(i18n, referral.rule_reward, title = move || title.clone(), reward = move || reward.clone(), days = move || days)}</li>
                <li>{t!(i18n, referral.rule_scope, scope = move || scope.clone())}</li>
                <li>{t!(i18n, referral.rule_who, days = move || apply_window_days)}</li>
                <li>{t!(i18n, referral.rule_ip_cap, cap = move || ip_daily_cap)}</li>
                <li>{t!(i18n, referral.rule_balance)}</li>
                <li>{until}</li>
            </ul>
        </section>
    }
}

fn code_box(can_enter: bool, apply: ServerAction<ApplyInviteCode>) -> impl IntoView {
    let i18n = use_i18n();
    // These notes are acknowledged (and recorded) under the same version as the notes on `/i/CODE`: a
    // change to them in one language bumps that language's `invite.notes_version`.
    let notes_version = tu_string!(i18n, invite.notes_version);
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
            <h2>{t!(i18n, referral.code_heading)}</h2>
            <p class="muted small">{t!(i18n, referral.code_lead)}</p>
            <ActionForm action=apply attr:class="stack">
                <label for="invite-code">{t!(i18n, referral.code_label)}</label>
                <input id="invite-code" type="text" name="code" autocomplete="off" spellcheck="false" placeholder="F8GTE3SR" value=prefilled />
                {note("reward", tu_string!(i18n, referral.box_note_reward))}
                {note("new_users", tu_string!(i18n, referral.box_note_new_users))}
                {note("credit", tu_string!(i18n, referral.box_note_credit))}
                {note("balance", tu_string!(i18n, referral.box_note_balance))}
                <p class="muted small">{t!(i18n, invite.notes_version_shown, version = move || notes_version)}</p>
                <button type="submit" class="btn primary" disabled=move || apply.pending().get()>{t!(i18n, referral.apply_code)}</button>
            </ActionForm>
            {move || result().map(|r| match r {
                Ok(message) => view! { <p class="notice success" role="status">{message}</p> }.into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
            })}
        </section>
    })
}
