//! `/billing/topup`: choose CNY 20 / 100 / 300 or your own amount and pay with Stripe Checkout (or, in
//! dev mode, a labelled test payment), or redeem a code.

use super::{load_error, BillingTabs};
use crate::app::components::usd::Amount;
use crate::shared::billing::TopupView;
use crate::shared::error::AppError;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[server(endpoint = "billing_topup_view")]
pub async fn get_topup() -> Result<TopupView, AppError> {
    use crate::server::billing_view;
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            billing_view::topup(&state, user.id).await
        }
        .await,
    )
}

/// Starts a top-up: `method` is `card` (Stripe Checkout) or `test` (dev mode's test payment).
#[server(endpoint = "billing_topup")]
pub async fn start_topup(amount: String, custom: String, method: String) -> Result<(), AppError> {
    use crate::server::fn_support::{answer_form, require_user, state};
    use crate::server::payments::topup_flow;
    let result = async {
        let state = state()?;
        let user = require_user(&state).await?;
        let minor = topup_flow::chosen_amount(&state, &amount, &custom)?;
        match method.as_str() {
            "card" => {
                let url = topup_flow::start_card_payment(&state, &user, minor).await?;
                leptos_axum::redirect(&url);
            }
            "test" => {
                let credited = topup_flow::test_payment(&state, &user, minor).await?;
                let credited: String = url::form_urlencoded::byte_serialize(credited.to_string().as_bytes()).collect();
                leptos_axum::redirect(&format!("/billing/balance?topup=test&credited={credited}"));
            }
            _ => return Err(AppError::invalid("method", "Choose how to pay.")),
        }
        Ok::<_, AppError>(())
    }
    .await;
    answer_form(result, |e| Some(back("error", &e.to_string(), &[("custom", &custom)])))
}

#[server(endpoint = "billing_redeem")]
pub async fn redeem_code(code: String) -> Result<(), AppError> {
    use crate::server::domain::redemption;
    use crate::server::fn_support::{answer_form, require_user, state};
    use crate::server::time::now_ms;
    let result = async {
        let state = state()?;
        let user = require_user(&state).await?;
        let amount = redemption::redeem(state.db.pool(), user.id, &code, now_ms()).await.map_err(|e| match e {
            redemption::RedeemError::Ledger(detail) => crate::server::error::internal("redeem", detail),
            other => AppError::invalid("code", other.to_string()),
        })?;
        state.gateway.money_moved(user.id);
        let amount: String = url::form_urlencoded::byte_serialize(amount.to_string().as_bytes()).collect();
        leptos_axum::redirect(&format!("/billing/topup?redeemed={amount}"));
        Ok::<_, AppError>(())
    }
    .await;
    answer_form(result, |e| Some(back("code_error", &e.to_string(), &[("code", &code)])))
}

#[cfg(feature = "ssr")]
fn back(name: &str, message: &str, keep: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair(name, message);
    for (k, v) in keep {
        q.append_pair(k, v);
    }
    format!("/billing/topup?{}", q.finish())
}

#[component]
pub fn TopupPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_topup());
    let query = use_query_map();
    let q = move |name: &str| query.read().get(name).filter(|v| !v.is_empty());
    view! {
        <Title text="Top up" />
        <h1>"Billing"</h1>
        <BillingTabs current="topup" />
        {move || q("redeemed").map(|a| view! {
            <p class="notice success" role="status">{format!("Code redeemed: {a} was added to your balance.")}</p>
        })}
        {move || q("cancelled").map(|_| view! {
            <p class="notice" role="status">"The payment was cancelled. Nothing was charged."</p>
        })}
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => topup_view(v, q("error"), q("custom"), q("code_error"), q("code")).into_any(),
                    Err(e) => load_error(e, "/billing/topup"),
                }
            })}
        </Suspense>
    }
}

fn topup_view(
    v: TopupView,
    error: Option<String>,
    custom: Option<String>,
    code_error: Option<String>,
    code: Option<String>,
) -> impl IntoView {
    let first = v.options.first().map(|o| o.0.clone()).unwrap_or_default();
    let custom_checked = custom.is_some();
    let no_method = !v.card_payments && !v.test_payments;
    let code_invalid = code_error.is_some().to_string();
    view! {
        <div class="grid-2">
            <section class="card">
                <h2>"Top up your balance"</h2>
                <p class="muted small">"Your balance: "<Amount usd=v.balance.clone() />{format!(". 1 {} = ${} of balance.", v.currency, v.usd_per_unit)}</p>
                <form method="post" action=StartTopup::url() class="stack">
                    <fieldset class="amounts">
                        <legend>"Amount"</legend>
                        {v.options.iter().map(|(value, label, credit)| {
                            let checked = !custom_checked && *value == first;
                            view! {
                                <label class="amount">
                                    <input type="radio" name="amount" value=value.clone() checked=checked />
                                    <span class="amount-label">{label.clone()}</span>
                                    <span class="muted small">{format!("adds {credit}")}</span>
                                </label>
                            }
                        }).collect_view()}
                        <label class="amount">
                            <input type="radio" name="amount" value="custom" checked=custom_checked />
                            <span class="amount-label">"Other amount"</span>
                            <input
                                type="text"
                                name="custom"
                                inputmode="decimal"
                                placeholder=format!("{} to {}", v.min_custom, v.max_custom)
                                value=custom.clone().unwrap_or_default()
                                aria-label=format!("Other amount in {}", v.currency)
                            />
                        </label>
                    </fieldset>
                    {error.map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                    {v.card_payments.then(|| view! {
                        <button type="submit" name="method" value="card" class="btn primary wide">"Pay with card (Stripe)"</button>
                    })}
                    {v.test_payments.then(|| view! {
                        <button type="submit" name="method" value="test" class="btn demo wide">"Test payment (demo: no money moves)"</button>
                        <p class="muted small">
                            "Demo mode: the test payment is signed on this server and goes through the same webhook code as a "
                            "real Stripe payment. It is not available in production."
                        </p>
                    })}
                    {no_method.then(|| view! {
                        <p class="notice">"Card payments are not set up on this server yet. Use a redemption code, or ask the operator."</p>
                    })}
                </form>
                <p class="muted small">"Paid top-ups raise your rate limit at once. Redemption codes do not."</p>
            </section>
            <section class="card">
                <h2>"Redeem a code"</h2>
                <p class="muted small">"Codes look like GH-ABCD-EFGH-JKMN-PQRS. Each works once per account."</p>
                <form method="post" action=RedeemCode::url() class="stack">
                    <label for="code">"Code"</label>
                    <input
                        id="code"
                        type="text"
                        name="code"
                        autocomplete="off"
                        spellcheck="false"
                        placeholder="GH-XXXX-XXXX-XXXX-XXXX"
                        value=code.unwrap_or_default()
                        aria-invalid=code_invalid
                    />
                    <p class="field-error" role="alert">{code_error}</p>
                    <button type="submit" class="btn primary">"Redeem"</button>
                </form>
            </section>
        </div>
    }
}
