//! `/admin/referrals`: referrals held for review (approve grants both packages; reject says why), the
//! latest decided ones, and stopping or restarting an invite code.

use super::{action_outcome, admin_error, successes, AdminTabs};
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
            crate::server::admin_view::referrals(&state).await
        }
        .await,
    )
}

#[server(endpoint = "admin_decide_referral")]
pub async fn admin_decide_referral(id: i64, approve: bool, reason: String) -> Result<(), AppError> {
    use crate::server::fn_support::{answer, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            crate::server::admin_view::decide(&state, &operator, id, approve, &reason).await
        }
        .await,
    )
}

#[server(endpoint = "admin_set_invite_code")]
pub async fn admin_set_invite_code(code: String, disabled: bool, reason: String) -> Result<(), AppError> {
    use crate::server::fn_support::{answer, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            crate::server::admin_view::set_invite_code(&state, &operator, &code, disabled, &reason).await
        }
        .await,
    )
}

#[component]
pub fn AdminReferralsPage() -> impl IntoView {
    let decide = ServerAction::<AdminDecideReferral>::new();
    let invite = ServerAction::<AdminSetInviteCode>::new();
    let decided = successes(decide.value());
    let data = Resource::new(move || decided.get(), |_| admin_referrals());
    view! {
        <Title text="Referrals · Admin console" />
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
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
    view! {
        <AdminTabs current="referrals" />
        <h1>"Referrals"</h1>
        <section class="card">
            <h2>{format!("Held for review ({})", v.held.len())}</h2>
            {action_outcome(decide.value(), "Decided.")}
            {if v.held.is_empty() {
                view! { <p class="muted" data-testid="no-held">"Nothing waits for review."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap" tabindex="0" role="region" aria-label="Held for review">
                        <table class="data" data-testid="held-referrals">
                            <thead><tr><th>"Inviter"</th><th>"Invitee"</th><th>"Date"</th><th>"Why held"</th><th>"Decision"</th></tr></thead>
                            <tbody>
                                {v.held.into_iter().map(|r| held_row(r, decide)).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }.into_any()
            }}
        </section>
        <section class="card">
            <h2>"Stop or restart an invite link"</h2>
            <ActionForm action=invite attr:class="stack compact-form">
                <label for="code">"Invite code"</label>
                <input id="code" type="text" name="code" required autocomplete="off" />
                <label for="code-action">"Action"</label>
                <select id="code-action" name="disabled">
                    <option value="true">"Stop it"</option>
                    <option value="false">"Restart it"</option>
                </select>
                <label for="code-reason">"Reason"</label>
                <input id="code-reason" type="text" name="reason" required />
                <button type="submit" class="btn primary">"Apply"</button>
            </ActionForm>
            {action_outcome(invite.value(), "Invite link changed.")}
        </section>
        <section class="card">
            <h2>"Latest decided"</h2>
            {if v.recent.is_empty() {
                view! { <p class="muted">"None yet."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap" tabindex="0" role="region" aria-label="Latest decided referrals">
                        <table class="data">
                            <thead><tr><th>"Inviter"</th><th>"Invitee"</th><th>"Date"</th><th>"Status"</th><th>"Reason"</th></tr></thead>
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
                    <button type="submit" class="btn primary small">"Approve"</button>
                </ActionForm>
                <ActionForm action=decide attr:class="inline-form">
                    <input type="hidden" name="id" value=reject_id />
                    <input type="hidden" name="approve" value="false" />
                    <input type="text" name="reason" placeholder="Why reject" aria-label="Why reject" required />
                    <button type="submit" class="btn ghost small danger">"Reject"</button>
                </ActionForm>
            </td>
        </tr>
    }
}
