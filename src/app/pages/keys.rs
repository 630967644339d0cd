//! `/keys`: create an API key (name, optional expiry, spending cap and model allowlist), shown once with a
//! copy button; the list with prefix, created, last used, spent; rename, disable/enable and delete.

use crate::app::components::usd::Amount;
use crate::app::pages::billing::load_error_saying;
use crate::shared::dto::{KeyRow, NewKeyShown};
use crate::shared::error::AppError;
use leptos::form::{ActionForm, FromFormData};
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "keys")]
pub async fn list_keys() -> Result<Vec<KeyRow>, AppError> {
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            crate::server::keys_view::list(&state, user.id).await
        }
        .await,
    )
}

#[server(endpoint = "keys_create")]
pub async fn create_key(
    name: String,
    days: String,
    cap: String,
    models: String,
    manage: Option<String>,
) -> Result<NewKeyShown, AppError> {
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            let can_manage = manage.as_deref() == Some("on");
            crate::server::keys_view::create(&state, user.id, &name, &days, &cap, &models, can_manage).await
        }
        .await,
    )
}

#[server(endpoint = "keys_rename")]
pub async fn rename_key(id: i64, name: String) -> Result<(), AppError> {
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            crate::server::keys_view::rename(&state, user.id, id, &name).await
        }
        .await,
    )
}

#[server(endpoint = "keys_disable")]
pub async fn set_key_disabled(id: i64, disabled: bool) -> Result<(), AppError> {
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            crate::server::keys_view::set_disabled(&state, user.id, id, disabled).await
        }
        .await,
    )
}

#[server(endpoint = "keys_delete")]
pub async fn delete_key(id: i64) -> Result<(), AppError> {
    use crate::server::fn_support::{answer, require_user, state};
    answer(
        async {
            let state = state()?;
            let user = require_user(&state).await?;
            crate::server::keys_view::delete(&state, user.id, id).await
        }
        .await,
    )
}

/// The outcome of the create form posted without JavaScript (`POST /keys`, see `server::http::form_posts`):
/// the server renders this page with it, so the new secret is shown on the page the form lands on.
#[derive(Clone)]
pub struct PostedKey(pub Result<NewKeyShown, AppError>);

#[component]
pub fn KeysPage() -> impl IntoView {
    let create = ServerAction::<CreateKey>::new();
    let rename = ServerAction::<RenameKey>::new();
    let toggle = ServerAction::<SetKeyDisabled>::new();
    let delete = ServerAction::<DeleteKey>::new();
    let data = Resource::new(
        move || (create.version().get(), rename.version().get(), toggle.version().get(), delete.version().get()),
        |_| list_keys(),
    );
    // Carried to the browser with the page, so the hydrated page shows what the server rendered.
    let posted_outcome = use_context::<PostedKey>().map(|p| p.0);
    let posted = Resource::new(|| (), move |_| std::future::ready(posted_outcome.clone()));
    view! {
        <Title text="API keys" />
        <h1>"API keys"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let posted = posted.await;
                match data.await {
                    Ok(rows) => keys_view(rows, posted, create, rename, toggle, delete).into_any(),
                    Err(e) => load_error_saying(e, "/keys", "Log in to manage API keys", "Your API keys are shown once you are logged in."),
                }
            })}
        </Suspense>
    }
}

fn keys_view(
    rows: Vec<KeyRow>,
    posted: Option<Result<NewKeyShown, AppError>>,
    create: ServerAction<CreateKey>,
    rename: ServerAction<RenameKey>,
    toggle: ServerAction<SetKeyDisabled>,
    delete: ServerAction<DeleteKey>,
) -> impl IntoView {
    // The hydrated form's result, or else the plain post's the page was rendered with.
    let created = move || create.value().get().or_else(|| posted.clone());
    let copy_button = NodeRef::<leptos::html::Button>::new();
    // Focus goes to the new key's Copy button, so keyboard users reach it at once.
    Effect::new(move |_| {
        if let (Some(Ok(_)), Some(button)) = (create.value().get(), copy_button.get()) {
            let _ = button.focus();
        }
    });
    view! {
        <p class="muted">
            "Use a key as Authorization: Bearer sk-gh-… or as x-api-key. Each key is shown once; we keep only a fingerprint."
        </p>
        <section class="card">
            <h2>"Create a key"</h2>
            <form method="post" action="/keys" class="key-form" on:submit=move |ev| {
                // Hydrated: create through the action and stay on the page; otherwise the browser posts the form.
                if let Ok(input) = CreateKey::from_event(&ev) {
                    ev.prevent_default();
                    create.dispatch(input);
                }
            }>
                <div class="field">
                    <label for="key-name">"Name"</label>
                    <input id="key-name" type="text" name="name" placeholder="Laptop, Claude Code, Immersive Translate" required />
                </div>
                <div class="field">
                    <label for="key-days">"Expires in (days)"</label>
                    <input id="key-days" type="text" name="days" inputmode="numeric" placeholder="never" />
                </div>
                <div class="field">
                    <label for="key-cap">"Spending cap (USD)"</label>
                    <input id="key-cap" type="text" name="cap" inputmode="decimal" placeholder="none" />
                </div>
                <div class="field wide">
                    <label for="key-models">"Only these models"</label>
                    <input id="key-models" type="text" name="models" placeholder="all models (or e.g. claude-haiku-4-5, claude-sonnet-4-5)" />
                </div>
                <label class="check"><input type="checkbox" name="manage" />" May manage keys through the key API"</label>
                <button type="submit" class="btn primary" disabled=move || create.pending().get()>"Create key"</button>
            </form>
            {move || created().map(|r| match r {
                Ok(k) => view! {
                    <div class="new-key" role="status" data-testid="new-key">
                        <p><strong>{format!("Your new key \"{}\"", k.name)}</strong>" — copy it now: it will not be shown again."</p>
                        <div class="copy-row">
                            <input type="text" readonly value=k.secret.clone() id="new-key-secret" aria-label="New API key" />
                            <button type="button" class="btn primary" data-key=k.secret node_ref=copy_button autofocus=true
                                onclick=crate::app::inline_handlers::COPY_NEW_KEY>
                                "Copy"
                            </button>
                        </div>
                    </div>
                }.into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
            })}
        </section>
        {if rows.is_empty() {
            view! { <p class="muted" data-testid="no-keys">"No keys yet."</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap card flush" tabindex="0" role="region" aria-label="Your API keys">
                    <table class="data cards" data-testid="keys">
                        <thead><tr>
                            <th>"Name"</th><th>"Key"</th><th>"Created"</th><th>"Last used"</th>
                            <th class="num">"Calls"</th><th class="num">"Spent"</th><th>"Limits"</th><th>"Actions"</th>
                        </tr></thead>
                        <tbody>{rows.into_iter().map(|k| key_row(k, rename, toggle, delete)).collect_view()}</tbody>
                    </table>
                </div>
            }.into_any()
        }}
    }
}

fn key_row(
    k: KeyRow,
    rename: ServerAction<RenameKey>,
    toggle: ServerAction<SetKeyDisabled>,
    delete: ServerAction<DeleteKey>,
) -> impl IntoView {
    let id = k.id;
    let disabled = k.disabled;
    let name = k.name.clone();
    view! {
        <tr class:disabled=disabled>
            <td data-label="Name">
                <ActionForm action=rename attr:class="inline-rename">
                    <input type="hidden" name="id" value=id.to_string() />
                    <input type="text" name="name" value=name aria-label="Key name" />
                    <button type="submit" class="btn ghost small">"Rename"</button>
                </ActionForm>
                {disabled.then(|| view! { <span class="badge off">"Disabled"</span> })}
            </td>
            <td class="mono" data-label="Key">{k.prefix}</td>
            <td class="nowrap" data-label="Created">{k.created}</td>
            <td class="nowrap" data-label="Last used">{k.last_used}</td>
            <td class="num" data-label="Calls">{k.used_times}</td>
            <td class="num" data-label="Spent"><Amount usd=k.spent /></td>
            <td class="small" data-label="Limits">
                {format!("cap {}, expires {}, models {}", k.cap, k.expires, k.models)}
                {k.can_manage.then(|| view! { <span class="badge ok">"manages keys"</span> })}
            </td>
            <td data-label="Actions" class="actions-cell">
                <ActionForm action=toggle attr:class="inline-form">
                    <input type="hidden" name="id" value=id.to_string() />
                    <input type="hidden" name="disabled" value=(!disabled).to_string() />
                    <button type="submit" class="btn ghost small">{if disabled { "Enable" } else { "Disable" }}</button>
                </ActionForm>
                <ActionForm action=delete attr:class="inline-form" attr:onsubmit=crate::app::inline_handlers::CONFIRM_DELETE_KEY>
                    <input type="hidden" name="id" value=id.to_string() />
                    <button type="submit" class="btn ghost small danger">"Delete"</button>
                </ActionForm>
            </td>
        </tr>
    }
}
