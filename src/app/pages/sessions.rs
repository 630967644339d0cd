//! `/account/sessions` (account menu): every browser signed in to the account, with where and when it
//! signed in and was last seen; sign out one, or every browser but this one.

use crate::app::components::error_text::error_text_in;
use crate::app::pages::billing::load_error_saying;
use crate::i18n::*;
use crate::shared::dto::SessionRow;
use crate::shared::error::AppError;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "sessions")]
pub async fn list_sessions() -> Result<Vec<SessionRow>, AppError> {
    use crate::server::fn_support::{answer, require_user, session as this_session, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            let current = this_session()?.presented_hash();
            crate::server::sessions_view::list(&state, user.id, current.as_deref(), crate::server::fn_support::locale())
                .await
        }
        .await,
    )
}

#[server(endpoint = "sessions_revoke")]
pub async fn revoke_session(handle: String) -> Result<(), AppError> {
    use crate::server::auth::session;
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            if !session::revoke(&state.db, user.id, &handle).await? {
                return Err(AppError::NotFound);
            }
            Ok(())
        }
        .await,
    )
}

#[server(endpoint = "sessions_revoke_others")]
pub async fn revoke_other_sessions() -> Result<u64, AppError> {
    use crate::server::auth::session;
    use crate::server::fn_support::{answer, require_user, session as this_session, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            let current = this_session()?.presented_hash().ok_or(AppError::Unauthorized)?;
            Ok(session::revoke_others(&state.db, user.id, &current).await?)
        }
        .await,
    )
}

#[component]
pub fn SessionsPage() -> impl IntoView {
    let i18n = use_i18n();
    let revoke = ServerAction::<RevokeSession>::new();
    let others = ServerAction::<RevokeOtherSessions>::new();
    let data = Resource::new(move || (revoke.version().get(), others.version().get()), |_| list_sessions());
    view! {
        <Title text=tu_string!(i18n, sessions.title) />
        <h1>{t!(i18n, sessions.title)}</h1>
        <p class="muted">{t!(i18n, sessions.intro)}</p>
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(rows) => sessions_view(rows, revoke, others).into_any(),
                    Err(e) => load_error_saying(
                        e,
                        "/account/sessions",
                        tu_string!(i18n, sessions.log_in_title),
                        tu_string!(i18n, sessions.log_in_why),
                    ),
                }
            })}
        </Suspense>
    }
}

fn sessions_view(
    rows: Vec<SessionRow>,
    revoke: ServerAction<RevokeSession>,
    others: ServerAction<RevokeOtherSessions>,
) -> impl IntoView {
    let i18n = use_i18n();
    let other_count = rows.iter().filter(|r| !r.current).count();
    let (browser, address) = (tu_string!(i18n, sessions.col_browser), tu_string!(i18n, sessions.col_address));
    let (signed_in, last_seen) = (tu_string!(i18n, sessions.col_signed_in), tu_string!(i18n, sessions.col_last_seen));
    let actions = tu_string!(i18n, sessions.col_actions);
    view! {
        <div class="table-wrap card flush" tabindex="0" role="region" aria-label=tu_string!(i18n, sessions.title)>
            <table class="data cards" data-testid="sessions">
                <thead><tr>
                    <th>{browser}</th><th>{address}</th><th>{signed_in}</th><th>{last_seen}</th><th>{actions}</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|r| view! {
                        <tr>
                            <td data-label=browser>
                                {r.browser}
                                {r.current.then(|| view! { " " <span class="badge ok">{t!(i18n, sessions.this_browser)}</span> })}
                            </td>
                            <td class="mono" data-label=address>{r.address}</td>
                            <td class="nowrap" data-label=signed_in>{r.created}</td>
                            <td class="nowrap" data-label=last_seen>{r.last_seen}</td>
                            <td data-label=actions class="actions-cell">
                                {if r.current {
                                    view! { <span class="muted small">{t!(i18n, sessions.log_out_hint)}</span> }.into_any()
                                } else {
                                    view! {
                                        <ActionForm action=revoke attr:class="inline-form">
                                            <input type="hidden" name="handle" value=r.handle.clone() />
                                            <button type="submit" class="btn ghost small danger">{t!(i18n, sessions.sign_out)}</button>
                                        </ActionForm>
                                    }.into_any()
                                }}
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        {(other_count > 0).then(|| view! {
            <ActionForm action=others attr:class="stack" attr:data-confirm=tu_string!(i18n, sessions.confirm_sign_out_others) attr:onsubmit=crate::app::inline_handlers::CONFIRM>
                <button type="submit" class="btn ghost danger">
                    {if other_count == 1 {
                        t!(i18n, sessions.sign_out_another).into_any()
                    } else {
                        t!(i18n, sessions.sign_out_others, n = other_count).into_any()
                    }}
                </button>
            </ActionForm>
        })}
        {move || {
            revoke.value().get().and_then(Result::err).map(|e| {
                view! { <p class="form-error" role="alert">{error_text_in(&e, i18n.get_locale_untracked())}</p> }
            })
        }}
    }
}
