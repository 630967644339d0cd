//! `/admin/referrals`: referrals held for review (approve grants both packages; reject says why), the
//! latest decided ones, and stopping or restarting an invite code.

use super::{action_outcome, admin_error, successes, AdminTabs};
use crate::i18n::*;
use crate::shared::admin::{ReferralRowView, ReferralsView};
use crate::shared::error::AppError;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "admin_referrals")]
pub async fn admin_referrals() -> Result<ReferralsView, AppError> {
    use crate::server::fn_support::{answer, require_operator, state};
    answer(
        async {
            let state = state()?;
            require_operator(&state).await?;
            crate::server::admin_view::referrals(&state, crate::server::fn_support::locale()).await
        }
        .await,
    )
}

#[server(endpoint = "admin_decide_referral")]
pub async fn admin_decide_referral(id: i64, approve: bool, reason: String) -> Result<(), AppError> {
    use crate::server::fn_support::{answer, locale, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            crate::server::admin_view::decide(&state, &operator, id, approve, &reason, locale()).await
        }
        .await,
    )
}

#[server(endpoint = "admin_set_invite_code")]
pub async fn admin_set_invite_code(code: String, disabled: bool, reason: String) -> Result<(), AppError> {
    use crate::server::fn_support::{answer, locale, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            crate::server::admin_view::set_invite_code(&state, &operator, &code, disabled, &reason, locale()).await
        }
        .await,
    )
}

#[component]
pub fn AdminReferralsPage() -> impl IntoView {
    let i18n = use_i18n();
    let decide = ServerAction::<AdminDecideReferral>::new();
    let invite = ServerAction::<AdminSetInviteCode>::new();
    let decided = successes(decide.value());
    let data = Resource::new(move || decided.get(), |_| admin_referrals());
    view! {
        <Title text=tu_string!(i18n, admin_referrals.page_title) />
        <Transition fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => referrals_view(v, decide, invite).into_any(),
                    Err(e) => admin_error(e),
                }
            })}
        </Transition>
    }
}

fn referrals_view(
    v: ReferralsView,
    decide: ServerAction<AdminDecideReferral>,
    invite: ServerAction<AdminSetInviteCode>,
) -> impl IntoView {
    let i18n = use_i18n();
    let held = v.held.len();
    view! {
        <AdminTabs current="referrals" />
        <h1>{t!(i18n, admin_referrals.heading)}</h1>
        <section class="card">
            <h2>{t!(i18n, admin_referrals.held_count, n = move || held)}</h2>
            {action_outcome(decide.value(), tu_string!(i18n, admin_referrals.decided))}
            {if v.held.is_empty() {
                view! { <p class="muted" data-testid="no-held">{t!(i18n, admin_referrals.nothing_held)}</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap" tabindex="0" role="region" aria-label=tu_string!(i18n, admin_referrals.held_for_review)>
                        <table class="data" data-testid="held-referrals">
                            <thead><tr>
                                <th>{t!(i18n, admin_referrals.inviter)}</th>
                                <th>{t!(i18n, admin_referrals.invitee)}</th>
                                <th>{t!(i18n, admin_referrals.date)}</th>
                                <th>{t!(i18n, admin_referrals.why_held)}</th>
                                <th>{t!(i18n, admin_referrals.decision)}</th>
                            </tr></thead>
                            <tbody>
                                {v.held.into_iter().map(|r| held_row(r, decide)).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
        <section class="card">
            <h2>{t!(i18n, admin_referrals.stop_or_restart)}</h2>
            <ActionForm action=invite attr:class="stack compact-form">
                <label for="code">{t!(i18n, admin_referrals.invite_code)}</label>
                <input id="code" type="text" name="code" required autocomplete="off" />
                <label for="code-action">{t!(i18n, admin_referrals.action)}</label>
                <select id="code-action" name="disabled">
                    <option value="true">{t!(i18n, admin_referrals.stop_it)}</option>
                    <option value="false">{t!(i18n, admin_referrals.restart_it)}</option>
                </select>
                <label for="code-reason">{t!(i18n, admin_referrals.reason)}</label>
                <input id="code-reason" type="text" name="reason" required />
                <button type="submit" class="btn primary">{t!(i18n, admin_referrals.apply)}</button>
            </ActionForm>
            {action_outcome(invite.value(), tu_string!(i18n, admin_referrals.invite_link_changed))}
        </section>
        <section class="card">
            <h2>{t!(i18n, admin_referrals.latest_decided)}</h2>
            {if v.recent.is_empty() {
                view! { <p class="muted">{t!(i18n, admin_referrals.none_yet)}</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap" tabindex="0" role="region" aria-label=tu_string!(i18n, admin_referrals.latest_decided_referrals)>
                        <table class="data">
                            <thead><tr>
                                <th>{t!(i18n, admin_referrals.inviter)}</th>
                                <th>{t!(i18n, admin_referrals.invitee)}</th>
                                <th>{t!(i18n, admin_referrals.date)}</th>
                                <th>{t!(i18n, admin_referrals.status)}</th>
                                <th>{t!(i18n, admin_referrals.reason)}</th>
                            </tr></thead>
                            <tbody>
                                {v.recent.into_iter().map(|r| view! {
                                    <tr><td>{r.inviter}</td><td>{r.invitee}</td><td class="nowrap">{r.date}</td><td>{r.status}</td><td>{r.reason}</td></tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
    }
}

fn held_row(r: ReferralRowView, decide: ServerAction<AdminDecideReferral>) -> impl IntoView {
    let i18n = use_i18n();
    let (approve_id, reject_id) = (r.id.to_string(), r.id.to_string());
    view! {
        <tr>
            <td>{r.inviter}</td>
            <td>{r.invitee}</td>
            <td class="nowrap">{r.date}</td>
            <td class="small">{r.reason}</td>
            <td class="actions-cell">
                <ActionForm action=decide attr:class="inline-form">
                    <input type="hidden" name="id" value=approve_id />
                    <input type="hidden" name="approve" value="true" />
                    <input type="hidden" name="reason" value="" />
                    <button type="submit" class="btn primary small">{t!(i18n, admin_referrals.approve)}</button>
                </ActionForm>
                <ActionForm action=decide attr:class="inline-form">
                    <input type="hidden" name="id" value=reject_id />
                    <input type="hidden" name="approve" value="false" />
                    <input
                        type="text"
                        name="reason"
                        placeholder=tu_string!(i18n, admin_referrals.why_reject)
                        aria-label=tu_string!(i18n, admin_referrals.why_reject)
                        required
                    />
                    <button type="submit" class="btn ghost small danger">{t!(i18n, admin_referrals.reject)}</button>
                </ActionForm>
            </td>
        </tr>
    }
}
