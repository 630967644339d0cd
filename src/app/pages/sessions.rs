//! `/account/sessions` (account menu): every browser signed in to the account, with where and when it
//! signed in and was last seen; sign out one, or every browser but this one.

use crate::app::pages::billing::load_error_saying;
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
            crate::server::sessions_view::list(&state, user.id, current.as_deref()).await
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
    let revoke = ServerAction::<RevokeSession>::new();
    let others = ServerAction::<RevokeOtherSessions>::new();
    let data = Resource::new(move || (revoke.version().get(), others.version().get()), |_| list_sessions());
    view! {
        <Title text="Signed-in browsers" />
        <h1>"Signed-in browsers"</h1>
        <p class="muted">"Every browser logged in to your account. Sign out any you do not recognise."</p>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(rows) => sessions_view(rows, revoke, others).into_any(),
                    Err(e) => load_error_saying(e, "/account/sessions", "Log in to see your sessions", "Your signed-in browsers are listed once you are logged in."),
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
    let other_count = rows.iter().filter(|r| !r.current).count();
    view! {
        <div class="table-wrap card flush" tabindex="0" role="region" aria-label="Signed-in browsers">
            <table class="data cards" data-testid="sessions">
                <thead><tr>
                    <th>"Browser"</th><th>"Address"</th><th>"Signed in"</th><th>"Last seen"</th><th>"Actions"</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|r| view! {
                        <tr>
                            <td data-label="Browser">
                                {r.browser}
                                {r.current.then(|| view! { " " <span class="badge ok">"This browser"</span> })}
                            </td>
                            <td class="mono" data-label="Address">{r.address}</td>
                            <td class="nowrap" data-label="Signed in">{r.created}</td>
                            <td class="nowrap" data-label="Last seen">{r.last_seen}</td>
                            <td data-label="Actions" class="actions-cell">
                                {if r.current {
                                    view! { <span class="muted small">"Log out (top right)"</span> }.into_any()
                                } else {
                                    view! {
                                        <ActionForm action=revoke attr:class="inline-form">
                                            <input type="hidden" name="handle" value=r.handle.clone() />
                                            <button type="submit" class="btn ghost small danger">"Sign out"</button>
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
            <ActionForm action=others attr:class="stack" attr:onsubmit=crate::app::inline_handlers::CONFIRM_SIGN_OUT_OTHERS>
                <button type="submit" class="btn ghost danger">{format!("Sign out the {other_count} other browser{}", if other_count == 1 { "" } else { "s" })}</button>
            </ActionForm>
        })}
        {move || revoke.value().get().and_then(Result::err).map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })}
    }
}
