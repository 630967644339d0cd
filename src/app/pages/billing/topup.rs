//! `/billing/topup`: choose CNY 20 / 100 / 300 or your own amount and pay with Stripe Checkout (or, in
//! dev mode, a labelled test payment), or redeem a code.

use super::{load_error, BillingTabs};
use crate::app::components::usd::Amount;
use crate::i18n::*;
use crate::shared::billing::TopupView;
use crate::shared::error::AppError;
use crate::shared::text::fill;
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
            billing_view::topup(&state, user.id, crate::server::fn_support::locale()).await
        }
        .await,
    )
}

/// Starts a top-up: `method` is `card` (Stripe Checkout) or `test` (dev mode's test payment).
#[server(endpoint = "billing_topup")]
pub async fn start_topup(amount: String, custom: String, method: String) -> Result<(), AppError> {
    use crate::app::components::error_text::error_text_in;
    use crate::server::fn_support::{answer_form, locale, require_user, state};
    use crate::server::payments::topup_flow;
    let locale = locale();
    let result = async {
        let state = state()?;
        let user = require_user(&state).await?;
        let minor = topup_flow::chosen_amount(&state, &amount, &custom, locale)?;
        match method.as_str() {
            "card" => {
                let url = topup_flow::start_card_payment(&state, &user, minor, locale).await?;
                leptos_axum::redirect(&url);
            }
            "test" => {
                let credited = topup_flow::test_payment(&state, &user, minor, locale).await?;
                let credited: String = url::form_urlencoded::byte_serialize(credited.to_string().as_bytes()).collect();
                leptos_axum::redirect(&format!("/billing/balance?topup=test&credited={credited}"));
            }
            _ => return Err(AppError::invalid("method", td_string!(locale, topup.choose_method))),
        }
        Ok::<_, AppError>(())
    }
    .await;
    answer_form(result, |e| Some(back("error", &error_text_in(e, locale), &[("custom", &custom)])))
}

#[server(endpoint = "billing_redeem")]
pub async fn redeem_code(code: String) -> Result<(), AppError> {
    use crate::app::components::error_text::error_text_in;
    use crate::server::domain::redemption::{self, RedeemError};
    use crate::server::fn_support::{answer_form, locale, require_user, state};
    use crate::server::time::now_ms;
    let locale = locale();
    let result = async {
        let state = state()?;
        let user = require_user(&state).await?;
        let amount = redemption::redeem(state.db.pool(), user.id, &code, now_ms()).await.map_err(|e| match e {
            RedeemError::Ledger(detail) => crate::server::error::internal("redeem", detail),
            other => AppError::invalid("code", crate::server::billing_view::redeem_text(&other, locale)),
        })?;
        state.gateway.money_moved(user.id);
        let amount: String = url::form_urlencoded::byte_serialize(amount.to_string().as_bytes()).collect();
        leptos_axum::redirect(&format!("/billing/topup?redeemed={amount}"));
        Ok::<_, AppError>(())
    }
    .await;
    answer_form(result, |e| Some(back("code_error", &error_text_in(e, locale), &[("code", &code)])))
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
    let i18n = use_i18n();
    let data = Resource::new(|| (), |_| get_topup());
    let query = use_query_map();
    let q = move |name: &str| query.read().get(name).filter(|v| !v.is_empty());
    view! {
        <Title text=tu_string!(i18n, topup.title) />
        <h1>{t!(i18n, billing.title)}</h1>
        <BillingTabs current="topup" />
        {move || q("redeemed").map(|a| view! {
            <p class="notice success" role="status">{fill(tu_string!(i18n, topup.code_redeemed), &[("amount", &a)])}</p>
        })}
        {move || q("cancelled").map(|_| view! {
            <p class="notice" role="status">{t!(i18n, topup.cancelled)}</p>
        })}
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
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
    let i18n = use_i18n();
    let first = v.options.first().map(|o| o.0.clone()).unwrap_or_default();
    let custom_checked = custom.is_some();
    let no_method = !v.card_payments && !v.test_payments;
    let code_invalid = code_error.is_some().to_string();
    let balance = v.balance.clone();
    let currency = v.currency.clone();
    let usd_per_unit = v.usd_per_unit.clone();
    view! {
        <div class="grid-2">
            <section class="card">
                <h2>{t!(i18n, topup.heading)}</h2>
                <p class="muted small">
                    {t!(
                        i18n,
                        topup.your_balance,
                        balance = move || view! { <Amount usd=balance.clone() /> },
                        currency = move || currency.clone(),
                        usd = move || usd_per_unit.clone()
                    )}
                </p>
                <form method="post" action=StartTopup::url() class="stack">
                    <fieldset class="amounts">
                        <legend>{t!(i18n, topup.amount)}</legend>
                        {v.options.iter().map(|(value, label, credit)| {
                            let checked = !custom_checked && *value == first;
                            view! {
                                <label class="amount">
                                    <input type="radio" name="amount" value=value.clone() checked=checked />
                                    <span class="amount-label">{label.clone()}</span>
                                    <span class="muted small">{fill(tu_string!(i18n, topup.adds), &[("credit", credit)])}</span>
                                </label>
                            }
                        }).collect_view()}
                        <label class="amount">
                            <input type="radio" name="amount" value="custom" checked=custom_checked />
                            <span class="amount-label">{t!(i18n, topup.other_amount)}</span>
                            <input
                                type="text"
                                name="custom"
                                inputmode="decimal"
                                placeholder=fill(tu_string!(i18n, topup.range), &[("min", &v.min_custom), ("max", &v.max_custom)])
                                value=custom.clone().unwrap_or_default()
                                aria-label=fill(tu_string!(i18n, topup.other_amount_in), &[("currency", &v.currency)])
                            />
                        </label>
                    </fieldset>
                    {error.map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                    {v.card_payments.then(|| view! {
                        <button type="submit" name="method" value="card" class="btn primary wide">{t!(i18n, topup.pay_card)}</button>
                    })}
                    {v.test_payments.then(|| view! {
                        <button type="submit" name="method" value="test" class="btn demo wide">{t!(i18n, topup.pay_test)}</button>
                        <p class="muted small">{t!(i18n, topup.test_explained)}</p>
                    })}
                    {no_method.then(|| view! {
                        <p class="notice">{t!(i18n, topup.no_card_payments)}</p>
                    })}
                </form>
                <p class="muted small">{t!(i18n, topup.raises_rate_limit)}</p>
            </section>
            <section class="card">
                <h2>{t!(i18n, topup.redeem_heading)}</h2>
                <p class="muted small">{t!(i18n, topup.code_format)}</p>
                <form method="post" action=RedeemCode::url() class="stack">
                    <label for="code">{t!(i18n, topup.code)}</label>
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
                    <button type="submit" class="btn primary">{t!(i18n, topup.redeem)}</button>
                </form>
            </section>
        </div>
    }
}
