//! `/admin/accounts/:id`: one account whole (balance and tier, packages with their deductions, bills, money
//! movements, keys, referrals, sessions, what operators did to it) and the operator's actions on it: credit or
//! debit, record an offline payment, grant a package, disable or enable. Every action asks why.

use super::referrals::AdminSetInviteCode;
use super::{action_outcome, admin_error, successes, table_card, AdminTabs};
use crate::app::components::usd::Amount;
use crate::i18n::*;
use crate::shared::admin::AccountView;
use crate::shared::error::AppError;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

#[server(endpoint = "admin_account")]
pub async fn admin_account(id: i64) -> Result<AccountView, AppError> {
    use crate::server::fn_support::{answer, locale, require_operator, state};
    answer(
        async {
            let state = state()?;
            require_operator(&state).await?;
            crate::server::admin_view::account(&state, id, locale()).await
        }
        .await,
    )
}

#[server(endpoint = "admin_adjust")]
pub async fn admin_adjust(id: i64, amount: String, reason: String, key: String) -> Result<(), AppError> {
    use crate::server::fn_support::{answer, locale, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            crate::server::admin_view::adjust(&state, &operator, id, &amount, &reason, &key, locale()).await
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
    use crate::server::fn_support::{answer, locale, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            let form =
                PaymentForm { amount: &amount, currency: &currency, method: &method, reason: &reason, key: &key };
            offline_payment(&state, &operator, id, form, locale()).await
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
    use crate::server::fn_support::{answer, locale, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            let form =
                GrantForm { amount: &amount, title: &title, scope: &scope, days: &days, reason: &reason, key: &key };
            grant(&state, &operator, id, form, locale()).await
        }
        .await,
    )
}

#[server(endpoint = "admin_set_disabled")]
pub async fn admin_set_disabled(id: i64, disabled: bool, reason: String) -> Result<(), AppError> {
    use crate::server::fn_support::{answer, locale, require_operator, state};
    answer(
        async {
            let state = state()?;
            let operator = require_operator(&state).await?;
            crate::server::admin_view::set_disabled(&state, &operator, id, disabled, &reason, locale()).await
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
    let i18n = use_i18n();
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
        <Title text=tu_string!(i18n, admin_account.page_title) />
        <Transition fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
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
    let i18n = use_i18n();
    let id = v.id;
    let currency = v.topup_currency.clone();
    let (adjust_key, payment_key, grant_key) = (v.form_key.clone(), v.form_key.clone(), v.form_key.clone());
    let disabled = v.disabled.is_some();
    let (created, last_login) = (v.created.clone(), v.last_login.clone());
    let active_packages = v.money.active_packages;
    let packages_left = v.money.packages_remaining.clone();
    view! {
        <AdminTabs current="accounts" />
        <h1 class="break">{v.email.clone()}</h1>
        <p class="muted">
            {t!(
                i18n,
                admin_account.summary,
                id = move || id,
                created = move || created.clone(),
                last_login = move || last_login.clone()
            )}
            {v.operator.then(|| view! { " " <span class="badge ok">{t!(i18n, admin_account.operator_badge)}</span> })}
            {v.disabled.clone().map(|at| view! {
                " "
                <span class="badge off" data-testid="disabled-badge">
                    {t!(i18n, admin_account.disabled_since, at = move || at.clone())}
                </span>
            })}
        </p>
        <div class="admin-periods">
            <section class="card">
                <h2>{t!(i18n, admin_account.money)}</h2>
                <dl class="kv" data-testid="account-money">
                    <dt>{t!(i18n, admin_account.balance)}</dt><dd class="strong"><Amount usd=v.money.balance.clone() /></dd>
                    <dt>{t!(i18n, admin_account.rate_limit)}</dt><dd data-testid="account-rpm">{format!("{} RPM", v.money.rpm)}</dd>
                    <dt>{t!(i18n, admin_account.paid_topups)}</dt><dd>{v.money.paid_total.clone()}</dd>
                    <dt>{t!(i18n, admin_account.active_packages)}</dt>
                    <dd>
                        {t!(
                            i18n,
                            admin_account.active_packages_left,
                            count = move || active_packages,
                            left = move || view! { <Amount usd=packages_left.clone() /> }
                        )}
                    </dd>
                    <dt>{t!(i18n, admin_account.calls)}</dt><dd>{v.calls}</dd>
                </dl>
            </section>
            <section class="card">
                <h2>{t!(i18n, admin_account.referrals)}</h2>
                <dl class="kv">
                    <dt>{t!(i18n, admin_account.invite_code)}</dt>
                    <dd>
                        {v.invite_code.clone().unwrap_or_else(|| tu_string!(i18n, admin_account.no_invite_code_yet).into())}
                        {v.invite_code_disabled.then(|| view! { " " <span class="badge off">{t!(i18n, admin_account.stopped)}</span> })}
                    </dd>
                    <dt>{t!(i18n, admin_account.invited)}</dt><dd>{v.invitees.len()}</dd>
                    <dt>{t!(i18n, admin_account.joined_through)}</dt>
                    <dd>{v.invited_by.clone().unwrap_or_else(|| tu_string!(i18n, admin_account.no_invitation).into())}</dd>
                </dl>
                {v.invite_code.clone().map(|code| view! {
                    <ActionForm action=a.invite attr:class="stack compact-form">
                        <input type="hidden" name="code" value=code />
                        <input type="hidden" name="disabled" value=(!v.invite_code_disabled).to_string() />
                        <label for="invite-reason">{t!(i18n, admin_account.reason)}</label>
                        <input id="invite-reason" type="text" name="reason" required />
                        <button type="submit" class="btn ghost small">
                            {if v.invite_code_disabled {
                                tu_string!(i18n, admin_account.restart_invite_link)
                            } else {
                                tu_string!(i18n, admin_account.stop_invite_link)
                            }}
                        </button>
                    </ActionForm>
                    {action_outcome(a.invite.value(), tu_string!(i18n, admin_account.invite_link_changed))}
                })}
            </section>
        </div>

        <div class="admin-actions">
            <section class="card">
                <h2>{t!(i18n, admin_account.credit_or_debit)}</h2>
                <ActionForm action=a.adjust attr:class="stack" attr:data-testid="adjust-form">
                    <input type="hidden" name="id" value=id.to_string() />
                    <input type="hidden" name="key" value=adjust_key />
                    <label for="adjust-amount">{t!(i18n, admin_account.adjust_amount)}</label>
                    <input
                        id="adjust-amount"
                        type="text"
                        name="amount"
                        inputmode="decimal"
                        placeholder=tu_string!(i18n, admin_account.adjust_amount_placeholder)
                        required
                    />
                    <label for="adjust-reason">{t!(i18n, admin_account.adjust_reason)}</label>
                    <input id="adjust-reason" type="text" name="reason" required />
                    <button type="submit" class="btn primary">{t!(i18n, admin_account.apply)}</button>
                </ActionForm>
                {action_outcome(a.adjust.value(), tu_string!(i18n, admin_account.balance_changed))}
            </section>
            <section class="card">
                <h2>{t!(i18n, admin_account.offline_payment)}</h2>
                <p class="muted small">{t!(i18n, admin_account.offline_payment_help)}</p>
                <ActionForm action=a.payment attr:class="stack" attr:data-testid="payment-form">
                    <input type="hidden" name="id" value=id.to_string() />
                    <input type="hidden" name="key" value=payment_key />
                    <label for="payment-amount">{t!(i18n, admin_account.amount_received)}</label>
                    <input id="payment-amount" type="text" name="amount" inputmode="decimal" placeholder="20" required />
                    <label for="payment-currency">{t!(i18n, admin_account.currency)}</label>
                    <select id="payment-currency" name="currency">
                        <option value=currency.clone() selected>{currency.clone()}</option>
                        {(currency != "USD").then(|| view! { <option value="USD">"USD"</option> })}
                    </select>
                    <label for="payment-method">{t!(i18n, admin_account.paid_by)}</label>
                    <input
                        id="payment-method"
                        type="text"
                        name="method"
                        placeholder=tu_string!(i18n, admin_account.paid_by_placeholder)
                        required
                    />
                    <label for="payment-reason">{t!(i18n, admin_account.reason_or_reference)}</label>
                    <input id="payment-reason" type="text" name="reason" required />
                    <button type="submit" class="btn primary">{t!(i18n, admin_account.record_payment)}</button>
                </ActionForm>
                {action_outcome(a.payment.value(), tu_string!(i18n, admin_account.payment_recorded))}
            </section>
            <section class="card">
                <h2>{t!(i18n, admin_account.grant_package)}</h2>
                <ActionForm action=a.grant attr:class="stack" attr:data-testid="grant-form">
                    <input type="hidden" name="id" value=id.to_string() />
                    <input type="hidden" name="key" value=grant_key />
                    <label for="grant-amount">"USD"</label>
                    <input id="grant-amount" type="text" name="amount" inputmode="decimal" placeholder="20" required />
                    <label for="grant-title">{t!(i18n, admin_account.package_title)}</label>
                    <input id="grant-title" type="text" name="title" placeholder="Claude Code API $20" />
                    <label for="grant-scope">{t!(i18n, admin_account.pays_for)}</label>
                    <input id="grant-scope" type="text" name="scope" value="cc-omg,web-chat:claude-*" required />
                    <label for="grant-days">{t!(i18n, admin_account.days)}</label>
                    <input id="grant-days" type="text" name="days" inputmode="numeric" value="30" required />
                    <label for="grant-reason">{t!(i18n, admin_account.reason)}</label>
                    <input id="grant-reason" type="text" name="reason" required />
                    <button type="submit" class="btn primary">{t!(i18n, admin_account.grant)}</button>
                </ActionForm>
                {action_outcome(a.grant.value(), tu_string!(i18n, admin_account.package_granted))}
            </section>
            <section class="card">
                <h2>
                    {if disabled {
                        tu_string!(i18n, admin_account.enable_account)
                    } else {
                        tu_string!(i18n, admin_account.disable_account)
                    }}
                </h2>
                <p class="muted small">
                    {if disabled {
                        tu_string!(i18n, admin_account.enable_help)
                    } else {
                        tu_string!(i18n, admin_account.disable_help)
                    }}
                </p>
                <ActionForm action=a.disable attr:class="stack" attr:data-testid="disable-form">
                    <input type="hidden" name="id" value=id.to_string() />
                    <input type="hidden" name="disabled" value=(!disabled).to_string() />
                    <label for="disable-reason">{t!(i18n, admin_account.reason)}</label>
                    <input id="disable-reason" type="text" name="reason" required />
                    <button type="submit" class=if disabled { "btn primary" } else { "btn danger" }>
                        {if disabled { tu_string!(i18n, admin_account.enable) } else { tu_string!(i18n, admin_account.disable) }}
                    </button>
                </ActionForm>
                {action_outcome(a.disable.value(), tu_string!(i18n, admin_account.done))}
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
    let i18n = use_i18n();
    let head = view! {
        <th>{t!(i18n, admin_account.package)}</th>
        <th>{t!(i18n, admin_account.pays_for)}</th>
        <th class="num">{t!(i18n, admin_account.left)}</th>
        <th>{t!(i18n, admin_account.expires)}</th>
        <th>{t!(i18n, admin_account.source)}</th>
        <th>{t!(i18n, admin_account.deductions)}</th>
    };
    let rows = v.packages.iter().cloned().map(|p| {
        let (remaining, original) = (p.remaining, p.original);
        view! {
            <tr>
                <td><span translate="no">{p.title}</span>" "<span class="badge">{p.status}</span></td>
                <td class="small">{p.scope.join(", ")}</td>
                <td class="num">
                    {t!(
                        i18n,
                        admin_account.remaining_of,
                        remaining = move || view! { <Amount usd=remaining.clone() /> },
                        original = move || view! { <Amount usd=original.clone() /> }
                    )}
                </td>
                <td class="nowrap">{p.expires}</td>
                <td>{p.source}</td>
                <td class="small">
                    {if p.deductions.is_empty() {
                        view! { {t!(i18n, admin_account.no_deductions)} }.into_any()
                    } else {
                        let n = p.deductions.len();
                        view! {
                            <details>
                                <summary>
                                    {if n == 1 {
                                        t!(i18n, admin_account.deduction_single).into_any()
                                    } else {
                                        t!(i18n, admin_account.deductions_plural, n = move || n).into_any()
                                    }}
                                </summary>
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
        }
        .into_any()
    }).collect();
    table_card(
        tu_string!(i18n, admin_account.resource_packages).into(),
        tu_string!(i18n, admin_account.none),
        Some("account-packages"),
        head.into_any(),
        rows,
    )
}

fn bills(v: &AccountView) -> impl IntoView {
    let i18n = use_i18n();
    let head = view! {
        <th>{t!(i18n, admin_account.time_utc)}</th>
        <th>{t!(i18n, admin_account.key)}</th>
        <th>{t!(i18n, admin_account.channel)}</th>
        <th>{t!(i18n, admin_account.model)}</th>
        <th class="num">{t!(i18n, admin_account.tokens_in_out)}</th>
        <th class="num">{t!(i18n, admin_account.packages)}</th>
        <th class="num">{t!(i18n, admin_account.balance)}</th>
        <th>{t!(i18n, admin_account.outcome)}</th>
    };
    let rows = v
        .bills
        .iter()
        .cloned()
        .map(|b| {
            view! {
                <tr>
                    <td class="nowrap">{b.at}</td>
                    <td translate="no">{b.key_name}</td>
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
    let title = crate::shared::text::fill(tu_string!(i18n, admin_account.newest_calls), &[("calls", &v.calls)]);
    table_card(title, tu_string!(i18n, admin_account.no_calls), None, head.into_any(), rows)
}

fn movements(v: &AccountView) -> impl IntoView {
    let i18n = use_i18n();
    let head = view! {
        <th>{t!(i18n, admin_account.time_utc)}</th>
        <th>{t!(i18n, admin_account.what)}</th>
        <th>{t!(i18n, admin_account.memo)}</th>
        <th class="num">{t!(i18n, admin_account.balance_change)}</th>
        <th class="num">{t!(i18n, admin_account.balance_after)}</th>
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
                    <td translate="no">{m.memo}</td>
                    <td class="num"><Amount usd=m.balance_change signed=true /></td>
                    <td class="num"><Amount usd=m.balance_after /></td>
                </tr>
            }
            .into_any()
        })
        .collect();
    table_card(
        tu_string!(i18n, admin_account.money_movements).into(),
        tu_string!(i18n, admin_account.none_in_90_days),
        Some("account-movements"),
        head.into_any(),
        rows,
    )
}

fn keys(v: &AccountView) -> impl IntoView {
    let i18n = use_i18n();
    let head = view! {
        <th>{t!(i18n, admin_account.name)}</th>
        <th>{t!(i18n, admin_account.key)}</th>
        <th>{t!(i18n, admin_account.last_used)}</th>
        <th class="num">{t!(i18n, admin_account.calls)}</th>
        <th class="num">{t!(i18n, admin_account.spent)}</th>
        <th>{t!(i18n, admin_account.limits)}</th>
    };
    let rows = v
        .keys
        .iter()
        .cloned()
        .map(|k| {
            let (cap, expires, models) = (k.cap, k.expires, k.models);
            view! {
                <tr>
                    <td><span translate="no">{k.name}</span>{k.disabled.then(|| view! { " " <span class="badge off">{t!(i18n, admin_account.key_disabled)}</span> })}</td>
                    <td class="mono">{k.prefix}</td>
                    <td class="nowrap">{k.last_used}</td>
                    <td class="num">{k.used_times}</td>
                    <td class="num"><Amount usd=k.spent /></td>
                    <td class="small">
                        {t!(
                            i18n,
                            admin_account.key_limits,
                            cap = move || cap.clone(),
                            expires = move || expires.clone(),
                            models = move || models.clone()
                        )}
                    </td>
                </tr>
            }
            .into_any()
        })
        .collect();
    table_card(
        tu_string!(i18n, admin_account.api_keys).into(),
        tu_string!(i18n, admin_account.none),
        None,
        head.into_any(),
        rows,
    )
}

fn invitees(v: &AccountView) -> impl IntoView {
    let i18n = use_i18n();
    let head = view! {
        <th>{t!(i18n, admin_account.invitee)}</th>
        <th>{t!(i18n, admin_account.date)}</th>
        <th>{t!(i18n, admin_account.status)}</th>
        <th>{t!(i18n, admin_account.reason)}</th>
    };
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
    table_card(
        tu_string!(i18n, admin_account.people_invited).into(),
        tu_string!(i18n, admin_account.none),
        None,
        head.into_any(),
        rows,
    )
}

fn sessions(v: &AccountView) -> impl IntoView {
    let i18n = use_i18n();
    let head = view! {
        <th>{t!(i18n, admin_account.browser)}</th>
        <th>{t!(i18n, admin_account.address)}</th>
        <th>{t!(i18n, admin_account.signed_in)}</th>
        <th>{t!(i18n, admin_account.last_seen)}</th>
    };
    let rows = v.sessions.iter().cloned().map(|s| view! {
        <tr><td>{s.browser}</td><td class="mono">{s.address}</td><td class="nowrap">{s.created}</td><td class="nowrap">{s.last_seen}</td></tr>
    }.into_any()).collect();
    table_card(
        tu_string!(i18n, admin_account.signed_in_browsers).into(),
        tu_string!(i18n, admin_account.none),
        Some("account-sessions"),
        head.into_any(),
        rows,
    )
}

fn log(v: &AccountView) -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <section class="card">
            <h2>{t!(i18n, admin_account.operator_actions)}</h2>
            {if v.log.is_empty() {
                view! { <p class="muted">{t!(i18n, admin_account.none)}</p> }.into_any()
            } else {
                view! { <super::log::LogTable rows=v.log.clone() /> }.into_any()
            }}
        </section>
    }
}
