//! `/`: what Gatehouse is (signed out), or where the account stands (signed in): balance and tier, packages
//! with bars, today's spend, recent keys, and for a new account three first steps.

use crate::app::components::error_text::error_text;
use crate::app::components::layout::ViewerResource;
use crate::app::components::usd::Amount;
use crate::i18n::*;
use crate::shared::dto::{Overview, OverviewPackage, SignedInUser, Viewer};
use crate::shared::error::AppError;
use crate::shared::text::fill;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "overview")]
pub async fn get_overview() -> Result<Overview, AppError> {
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let locale = crate::server::fn_support::locale();
            let user = require_user(&state).await?;
            crate::server::home_view::overview(&state, user.id, locale).await
        }
        .await,
    )
}

#[component]
pub fn HomePage() -> impl IntoView {
    let i18n = use_i18n();
    let viewer = expect_context::<ViewerResource>();
    view! {
        <Title text="" />
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(Viewer { user: Some(user), .. }) => view! { <SignedIn user /> }.into_any(),
                    _ => landing().into_any(),
                }
            })}
        </Suspense>
    }
}

fn landing() -> impl IntoView {
    let i18n = use_i18n();
    view! {
        <section class="hero">
            <h1>{t!(i18n, home.hero_title)}</h1>
            <p class="lead">{t!(i18n, home.hero_lead)}</p>
            <div class="actions">
                <a class="btn primary" href="/login">{t!(i18n, home.log_in_or_sign_up)}</a>
                <a class="btn ghost" href="/prices">{t!(i18n, home.see_prices)}</a>
            </div>
        </section>
        <section class="features">
            <div class="card">
                <h2>{t!(i18n, home.no_passwords)}</h2>
                <p class="muted">{t!(i18n, home.no_passwords_text)}</p>
            </div>
            <div class="card">
                <h2>{t!(i18n, home.compatible_apis)}</h2>
                <p class="muted">{t!(i18n, home.compatible_apis_text)}</p>
            </div>
            <div class="card">
                <h2>{t!(i18n, home.clear_billing)}</h2>
                <p class="muted">{t!(i18n, home.clear_billing_text)}</p>
            </div>
        </section>
    }
}

#[component]
fn SignedIn(user: SignedInUser) -> impl IntoView {
    let i18n = use_i18n();
    let data = Resource::new(|| (), |_| get_overview());
    let SignedInUser { email, member_since, .. } = user;
    view! {
        <p class="eyebrow">
            {t!(i18n, home.member_since, email = move || email.clone(), date = move || member_since.clone())}
        </p>
        <h1 class="welcome">{t!(i18n, home.your_account)}</h1>
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(o) => overview(o).into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn overview(o: Overview) -> impl IntoView {
    let i18n = use_i18n();
    let new_account = !o.steps_done.iter().all(|d| *d);
    let rpm = o.rpm;
    let calls = o.today_calls;
    let key_count = o.key_count;
    let today_balance = o.today_balance.clone();
    let today_packages = o.today_packages.clone();
    view! {
        {new_account.then(|| first_steps(o.steps_done))}
        <div class="overview" data-testid="overview">
            <section class="card">
                <h2>{t!(i18n, home.balance)}</h2>
                <p class=if o.balance_positive { "stat-value" } else { "stat-value negative" } data-testid="home-balance">
                    <Amount usd=o.balance.clone() />
                </p>
                {(!o.balance_positive).then(|| view! {
                    <p class="notice">{t!(i18n, home.balance_not_positive)}</p>
                })}
                <p class="muted small">
                    {t!(i18n, home.rate_limit, rpm = move || rpm)} " " <a href="/billing/balance">{t!(i18n, home.tiers)}</a>
                </p>
                <a class="btn primary small" href="/billing/topup">{t!(i18n, home.top_up)}</a>
            </section>
            <section class="card">
                <h2>{t!(i18n, home.today)}</h2>
                <p class="stat-value" data-testid="today-calls">
                    {if calls == 1 {
                        t!(i18n, home.calls_single, n = move || calls).into_any()
                    } else {
                        t!(i18n, home.calls_plural, n = move || calls).into_any()
                    }}
                </p>
                <p class="muted small">
                    {t!(
                        i18n,
                        home.today_paid,
                        balance = move || view! { <Amount usd=today_balance.clone() /> },
                        packages = move || view! { <Amount usd=today_packages.clone() /> }
                    )}
                </p>
                <a class="btn ghost small" href="/billing/bills">{t!(i18n, home.bills)}</a>
            </section>
            <section class="card">
                <h2>{t!(i18n, home.resource_packages)}</h2>
                {if o.packages.is_empty() {
                    view! { <p class="muted small">{t!(i18n, home.no_packages)}</p> }.into_any()
                } else {
                    o.packages.into_iter().map(mini_package).collect_view().into_any()
                }}
                <a class="btn ghost small" href="/billing/packages">{t!(i18n, home.packages)}</a>
            </section>
            <section class="card">
                <h2>{t!(i18n, home.api_keys)}</h2>
                {if o.recent_keys.is_empty() {
                    view! { <p class="muted small">{t!(i18n, home.no_keys)}</p> }.into_any()
                } else {
                    view! {
                        <ul class="plain-list small">
                            {o.recent_keys.into_iter().map(|(name, prefix, used)| view! {
                                <li><strong>{name}</strong>" "<span class="mono muted">{prefix}</span><span class="muted">{format!(" · {used}")}</span></li>
                            }).collect_view()}
                        </ul>
                    }.into_any()
                }}
                <a class="btn ghost small" href="/keys">{t!(i18n, home.manage_keys, count = move || key_count)}</a>
            </section>
        </div>
    }
}

/// One active package: its title, a bar of what is left, and the amounts with when it expires.
fn mini_package(p: OverviewPackage) -> impl IntoView {
    let i18n = use_i18n();
    let OverviewPackage { title, remaining, original, percent_left, expires_relative } = p;
    let left = fill(tu_string!(i18n, home.percent_left), &[("percent", &percent_left)]);
    view! {
        <div class="mini-package">
            <p class="small"><strong>{title}</strong></p>
            <div class="progress" role="img" aria-label=left>
                <span style=format!("width: {}%", percent_left)></span>
            </div>
            <p class="muted small">
                {t!(
                    i18n,
                    home.package_left,
                    remaining = move || view! { <Amount usd=remaining.clone() /> },
                    original = move || view! { <Amount usd=original.clone() /> },
                    expires = move || expires_relative.clone()
                )}
            </p>
        </div>
    }
}

fn first_steps(done: [bool; 3]) -> impl IntoView {
    let i18n = use_i18n();
    let done_mark = tu_string!(i18n, home.step_done);
    let step = |i: usize, title: &'static str, text: &'static str, href: &'static str, action: &'static str| {
        view! {
            <li class:done=done[i]>
                <span class="step-mark" aria-hidden="true">{if done[i] { "✓".to_string() } else { (i + 1).to_string() }}</span>
                <div>
                    <strong>{title}</strong>{done[i].then_some(done_mark)}
                    <p class="muted small">{text}</p>
                    <a class="btn small" class:primary=!done[i] class:ghost=done[i] href=href>{action}</a>
                </div>
            </li>
        }
    };
    view! {
        <section class="card first-steps" data-testid="first-steps">
            <h2>{t!(i18n, home.get_started)}</h2>
            <ol class="steps">
                {step(
                    0,
                    tu_string!(i18n, home.step_key_title),
                    tu_string!(i18n, home.step_key_text),
                    "/keys",
                    tu_string!(i18n, home.step_key_action),
                )}
                {step(
                    1,
                    tu_string!(i18n, home.step_use_title),
                    tu_string!(i18n, home.step_use_text),
                    "/docs",
                    tu_string!(i18n, home.step_use_action),
                )}
                {step(
                    2,
                    tu_string!(i18n, home.step_invite_title),
                    tu_string!(i18n, home.step_invite_text),
                    "/i",
                    tu_string!(i18n, home.step_invite_action),
                )}
            </ol>
        </section>
    }
}
