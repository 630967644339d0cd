//! `/admin/accounts/:id`: one account whole (balance and tier, packages with their deductions, bills, money
//! movements, keys, referrals, sessions, what operators did to it) and the operator's actions on it: credit or
//! debit, record an offline payment, grant a package, disable or enable. Every action asks why.

use super::referrals::AdminSetInviteCode;
use super::{action_outcome, admin_error, successes, table_card, AdminTabs};
use crate::app::components::usd::Amount;
use crate::shared::admin::AccountView;
use crate::shared::error::AppError;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[server(endpoint = "admin_account")]
pub async fn admin_account(id: i64) -> Result<AccountView, AppError> {
    use crate::server::fn_support::{answer, require_operator, state};
    answer(
        async {
            let state = state()?;
            require_operator(&state).await?;
            crate::server::admin_view::account(&state, id).await
        }
        .await,
    )
}

#[server(endpoint = "admin_adjust")]
pub async fn admin_adjust(id: i64, amount: String, reason: String, key: String) -> Result<(), AppError> {
    use crate::server::fn_support::{answer, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            crate::server::admin_view::adjust(&state, &operator, id, &amount, &reason, &key).await
        }
        .await,
    )
}

#[server(endpoint = "admin_offline_payment")]
pub async fn admin_offline_payment(
    id: i64,
    amount: String,
    currency: String,
    method: String,
    reason: String,
    key: String,
) -> Result<(), AppError> {
    use crate::server::admin_view::{offline_payment, PaymentForm};
    use crate::server::fn_support::{answer, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            let form =
                PaymentForm { amount: &amount, currency: &currency, method: &method, reason: &reason, key: &key };
            offline_payment(&state, &operator, id, form).await
        }
        .await,
    )
}

#[server(endpoint = "admin_grant")]
pub async fn admin_grant(
    id: i64,
    amount: String,
    title: String,
    scope: String,
    days: String,
    reason: String,
    key: String,
) -> Result<(), AppError> {
    use crate::server::admin_view::{grant, GrantForm};
    use crate::server::fn_support::{answer, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            let form =
                GrantForm { amount: &amount, title: &title, scope: &scope, days: &days, reason: &reason, key: &key };
            grant(&state, &operator, id, form).await
        }
        .await,
    )
}

#[server(endpoint = "admin_set_disabled")]
pub async fn admin_set_disabled(id: i64, disabled: bool, reason: String) -> Result<(), AppError> {
    use crate::server::fn_support::{answer, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            crate::server::admin_view::set_disabled(&state, &operator, id, disabled, &reason).await
        }
        .await,
    )
}

#[derive(Clone, Copy)]
struct Actions {
    adjust: ServerAction<AdminAdjust>,
    payment: ServerAction<AdminOfflinePayment>,
    grant: ServerAction<AdminGrant>,
    disable: ServerAction<AdminSetDisabled>,
    invite: ServerAction<AdminSetInviteCode>,
}

#[component]
pub fn AdminAccountPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").and_then(|id| id.parse::<i64>().ok()).unwrap_or(0));
    let actions = Actions {
        adjust: ServerAction::new(),
        payment: ServerAction::new(),
        grant: ServerAction::new(),
        disable: ServerAction::new(),
        invite: ServerAction::new(),
    };
    let done = [
        successes(actions.adjust.value()),
        successes(actions.payment.value()),
        successes(actions.grant.value()),
        successes(actions.disable.value()),
        successes(actions.invite.value()),
    ];
    let data = Resource::new(move || (id.get(), done.map(|d| d.get())), |(id, _)| admin_account(id));
    view! {
        <Title text="Account · Admin console" />
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => account_view(v, actions).into_any(),
                    Err(e) => admin_error(e),
                }
            })}
        </Transition>
    }
}

fn account_view(v: AccountView, a: Actions) -> impl IntoView {
    let id = v.id;
    let currency = v.topup_currency.clone();
    let (adjust_key, payment_key, grant_key) = (v.form_key.clone(), v.form_key.clone(), v.form_key.clone());
    let disabled = v.disabled.is_some();
    view! {
        <AdminTabs current="accounts" />
        <h1 class="break">{v.email.clone()}</h1>
        <p class="muted">
            {format!("Account {} · joined {} · last login {}", v.id, v.created, v.last_login)}
            {v.operator.then(|| view! { " " <span class="badge ok">"Operator"</span> })}
            {v.disabled.clone().map(|at| view! { " " <span class="badge off" data-testid="disabled-badge">{format!("Disabled {at}")}</span> })}
        </p>
        <div class="admin-periods">
            <section class="card">
                <h2>"Money"</h2>
                <dl class="kv" data-testid="account-money">
                    <dt>"Balance"</dt><dd class="strong"><Amount usd=v.money.balance.clone() /></dd>
                    <dt>"Rate limit"</dt><dd data-testid="account-rpm">{format!("{} RPM", v.money.rpm)}</dd>
                    <dt>"Paid top-ups"</dt><dd>{v.money.paid_total.clone()}</dd>
                    <dt>"Active packages"</dt><dd>{v.money.active_packages}" ("<Amount usd=v.money.packages_remaining.clone() />" left)"</dd>
                    <dt>"Calls"</dt><dd>{v.calls}</dd>
                </dl>
            </section>
            <section class="card">
                <h2>"Referrals"</h2>
                <dl class="kv">
                    <dt>"Invite code"</dt>
                    <dd>
                        {v.invite_code.clone().unwrap_or_else(|| "none yet".into())}
                        {v.invite_code_disabled.then(|| view! { " " <span class="badge off">"Stopped"</span> })}
                    </dd>
                    <dt>"Invited"</dt><dd>{v.invitees.len()}</dd>
                    <dt>"Joined through"</dt><dd>{v.invited_by.clone().unwrap_or_else(|| "no invitation".into())}</dd>
                </dl>
                {v.invite_code.clone().map(|code| view! {
                    <ActionForm action=a.invite attr:class="stack compact-form">
                        <input type="hidden" name="code" value=code />
                        <input type="hidden" name="disabled" value=(!v.invite_code_disabled).to_string() />
                        <label for="invite-reason">"Reason"</label>
                        <input id="invite-reason" type="text" name="reason" required />
                        <button type="submit" class="btn ghost small">
                            {if v.invite_code_disabled { "Restart the invite link" } else { "Stop the invite link" }}
                        </button>
                    </ActionForm>
                    {action_outcome(a.invite.value(), "Invite link changed.")}
                })}
            </section>
        </div>

        <div class="admin-actions">
            <section class="card">
                <h2>"Credit or debit"</h2>
                <ActionForm action=a.adjust attr:class="stack" attr:data-testid="adjust-form">
                    <input type="hidden" name="id" value=id.to_string() />
                    <input type="hidden" name="key" value=adjust_key />
                    <label for="adjust-amount">"USD (a leading - takes)"</label>
                    <input id="adjust-amount" type="text" name="amount" inputmode="decimal" placeholder="5 or -2.50" required />
                    <label for="adjust-reason">"Reason (shown to the person)"</label>
                    <input id="adjust-reason" type="text" name="reason" required />
                    <button type="submit" class="btn primary">"Apply"</button>
                </ActionForm>
                {action_outcome(a.adjust.value(), "Balance changed.")}
            </section>
            <section class="card">
                <h2>"Record an offline payment"</h2>
                <p class="muted small">"A bank transfer, Alipay or WeChat Pay payment: credited at the top-up rate and counted toward the rate-limit tier."</p>
                <ActionForm action=a.payment attr:class="stack" attr:data-testid="payment-form">
                    <input type="hidden" name="id" value=id.to_string() />
                    <input type="hidden" name="key" value=payment_key />
                    <label for="payment-amount">"Amount received"</label>
                    <input id="payment-amount" type="text" name="amount" inputmode="decimal" placeholder="20" required />
                    <label for="payment-currency">"Currency"</label>
                    <select id="payment-currency" name="currency">
                        <option value=currency.clone() selected>{currency.clone()}</option>
                        {(currency != "USD").then(|| view! { <option value="USD">"USD"</option> })}
                    </select>
                    <label for="payment-method">"Paid by"</label>
                    <input id="payment-method" type="text" name="method" placeholder="bank transfer, Alipay, WeChat Pay" required />
                    <label for="payment-reason">"Reason or reference"</label>
                    <input id="payment-reason" type="text" name="reason" required />
                    <button type="submit" class="btn primary">"Record payment"</button>
                </ActionForm>
                {action_outcome(a.payment.value(), "Payment recorded.")}
            </section>
            <section class="card">
                <h2>"Grant a package"</h2>
                <ActionForm action=a.grant attr:class="stack" attr:data-testid="grant-form">
                    <input type="hidden" name="id" value=id.to_string() />
                    <input type="hidden" name="key" value=grant_key />
                    <label for="grant-amount">"USD"</label>
                    <input id="grant-amount" type="text" name="amount" inputmode="decimal" placeholder="20" required />
                    <label for="grant-title">"Title"</label>
                    <input id="grant-title" type="text" name="title" placeholder="Claude Code API $20" />
                    <label for="grant-scope">"Pays for"</label>
                    <input id="grant-scope" type="text" name="scope" value="cc-omg,web-chat:claude-*" required />
                    <label for="grant-days">"Days"</label>
                    <input id="grant-days" type="text" name="days" inputmode="numeric" value="30" required />
                    <label for="grant-reason">"Reason"</label>
                    <input id="grant-reason" type="text" name="reason" required />
                    <button type="submit" class="btn primary">"Grant"</button>
                </ActionForm>
                {action_outcome(a.grant.value(), "Package granted.")}
            </section>
            <section class="card">
                <h2>{if disabled { "Enable the account" } else { "Disable the account" }}</h2>
                <p class="muted small">
                    {if disabled {
                        "Its keys work again and it can log in."
                    } else {
                        "Its API keys are refused at once and every browser it is signed in with is signed out. Its money is kept."
                    }}
                </p>
                <ActionForm action=a.disable attr:class="stack" attr:data-testid="disable-form">
                    <input type="hidden" name="id" value=id.to_string() />
                    <input type="hidden" name="disabled" value=(!disabled).to_string() />
                    <label for="disable-reason">"Reason"</label>
                    <input id="disable-reason" type="text" name="reason" required />
                    <button type="submit" class=if disabled { "btn primary" } else { "btn danger" }>
                        {if disabled { "Enable" } else { "Disable" }}
                    </button>
                </ActionForm>
                {action_outcome(a.disable.value(), "Done.")}
            </section>
        </div>

        {packages(&v)}
        {bills(&v)}
        {movements(&v)}
        {keys(&v)}
        {invitees(&v)}
        {sessions(&v)}
        {log(&v)}
    }
}

fn packages(v: &AccountView) -> impl IntoView {
    let head = view! {
        <th>"Package"</th><th>"Pays for"</th><th class="num">"Left"</th><th>"Expires"</th><th>"Source"</th><th>"Deductions"</th>
    };
    let rows = v.packages.iter().cloned().map(|p| view! {
        <tr>
            <td>{p.title}" "<span class="badge">{p.status}</span></td>
            <td class="small">{p.scope.join(", ")}</td>
            <td class="num"><Amount usd=p.remaining />" of "<Amount usd=p.original /></td>
            <td class="nowrap">{p.expires}</td>
            <td>{p.source}</td>
            <td class="small">
                {if p.deductions.is_empty() {
                    view! { "none" }.into_any()
                } else {
                    let n = p.deductions.len();
                    view! {
                        <details>
                            <summary>{format!("{n} deduction{}", if n == 1 { "" } else { "s" })}</summary>
                            <ul class="plain-list">
                                {p.deductions.into_iter().map(|d| view! {
                                    <li>{format!("{} · {} · {} · {}", d.at, d.channel, d.model, d.key_name)}" "<Amount usd=d.amount /></li>
                                }).collect_view()}
                            </ul>
                        </details>
                    }.into_any()
                }}
            </td>
        </tr>
    }.into_any()).collect();
    table_card("Resource packages".into(), "None.", Some("account-packages"), head.into_any(), rows)
}

fn bills(v: &AccountView) -> impl IntoView {
    let head = view! {
        <th>"Time (UTC)"</th><th>"Key"</th><th>"Channel"</th><th>"Model"</th><th class="num">"Tokens in/out"</th>
        <th class="num">"Packages"</th><th class="num">"Balance"</th><th>"Outcome"</th>
    };
    let rows = v
        .bills
        .iter()
        .cloned()
        .map(|b| {
            view! {
                <tr>
                    <td class="nowrap">{b.at}</td>
                    <td>{b.key_name}</td>
                    <td>{b.channel}</td>
                    <td class="mono">{b.model}</td>
                    <td class="num">{format!("{} / {}", b.input_tokens, b.output_tokens)}</td>
                    <td class="num"><Amount usd=b.packages_paid /></td>
                    <td class="num"><Amount usd=b.balance_paid /></td>
                    <td>{b.outcome}</td>
                </tr>
            }
            .into_any()
        })
        .collect();
    table_card(format!("Newest calls ({} in all)", v.calls), "No calls yet.", None, head.into_any(), rows)
}

fn movements(v: &AccountView) -> impl IntoView {
    let head = view! {
        <th>"Time (UTC)"</th><th>"What"</th><th>"Memo"</th><th class="num">"Balance change"</th><th class="num">"Balance after"</th>
    };
    let rows = v
        .movements
        .iter()
        .cloned()
        .map(|m| {
            view! {
                <tr>
                    <td class="nowrap">{m.at}</td>
                    <td>{m.what}</td>
                    <td>{m.memo}</td>
                    <td class="num"><Amount usd=m.balance_change signed=true /></td>
                    <td class="num"><Amount usd=m.balance_after /></td>
                </tr>
            }
            .into_any()
        })
        .collect();
    table_card("Money movements".into(), "None in the last 90 days.", Some("account-movements"), head.into_any(), rows)
}

fn keys(v: &AccountView) -> impl IntoView {
    let head = view! {
        <th>"Name"</th><th>"Key"</th><th>"Last used"</th><th class="num">"Calls"</th><th class="num">"Spent"</th><th>"Limits"</th>
    };
    let rows = v
        .keys
        .iter()
        .cloned()
        .map(|k| {
            view! {
                <tr>
                    <td>{k.name}{k.disabled.then(|| view! { " " <span class="badge off">"Disabled"</span> })}</td>
                    <td class="mono">{k.prefix}</td>
                    <td class="nowrap">{k.last_used}</td>
                    <td class="num">{k.used_times}</td>
                    <td class="num"><Amount usd=k.spent /></td>
                    <td class="small">{format!("cap {}, expires {}, models {}", k.cap, k.expires, k.models)}</td>
                </tr>
            }
            .into_any()
        })
        .collect();
    table_card("API keys".into(), "None.", None, head.into_any(), rows)
}

fn invitees(v: &AccountView) -> impl IntoView {
    let head = view! { <th>"Invitee"</th><th>"Date"</th><th>"Status"</th><th>"Reason"</th> };
    let rows = v
        .invitees
        .iter()
        .cloned()
        .map(|r| {
            view! {
                <tr><td>{r.invitee}</td><td class="nowrap">{r.date}</td><td>{r.status}</td><td>{r.reason}</td></tr>
            }
            .into_any()
        })
        .collect();
    table_card("People this account invited".into(), "None.", None, head.into_any(), rows)
}

fn sessions(v: &AccountView) -> impl IntoView {
    let head = view! { <th>"Browser"</th><th>"Address"</th><th>"Signed in"</th><th>"Last seen"</th> };
    let rows = v.sessions.iter().cloned().map(|s| view! {
        <tr><td>{s.browser}</td><td class="mono">{s.address}</td><td class="nowrap">{s.created}</td><td class="nowrap">{s.last_seen}</td></tr>
    }.into_any()).collect();
    table_card("Signed-in browsers".into(), "None.", Some("account-sessions"), head.into_any(), rows)
}

fn log(v: &AccountView) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Operator actions on this account"</h2>
            {if v.log.is_empty() {
                view! { <p class="muted">"None."</p> }.into_any()
            } else {
                view! { <super::log::LogTable rows=v.log.clone() /> }.into_any()
            }}
        </section>
    }
}
