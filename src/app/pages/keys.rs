//! `/keys`: create an API key (name, optional expiry, spending cap and model allowlist), shown once with a
//! copy button; the list with prefix, created, last used, spent; rename, disable/enable and delete.

use crate::app::components::error_text::error_text;
use crate::app::components::usd::Amount;
use crate::app::pages::billing::load_error_saying;
use crate::i18n::*;
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
            crate::server::keys_view::list(&state, user.id, crate::server::fn_support::locale()).await
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
            let locale = crate::server::fn_support::locale();
            crate::server::keys_view::create(&state, user.id, &name, &days, &cap, &models, can_manage, locale).await
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
            let locale = crate::server::fn_support::locale();
            crate::server::keys_view::rename(&state, user.id, id, &name, locale).await
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
            crate::server::keys_view::set_disabled(&state, user.id, id, disabled, crate::server::fn_support::locale())
                .await
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
            crate::server::keys_view::delete(&state, user.id, id, crate::server::fn_support::locale()).await
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
    let i18n = use_i18n();
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
        <Title text=tu_string!(i18n, keys.title) />
        <h1>{t!(i18n, keys.title)}</h1>
        <Suspense fallback=move || view! { <p class="muted">{t!(i18n, common.loading)}</p> }>
            {move || Suspend::new(async move {
                let posted = posted.await;
                match data.await {
                    Ok(rows) => keys_view(rows, posted, create, rename, toggle, delete).into_any(),
                    Err(e) => load_error_saying(
                        e,
                        "/keys",
                        tu_string!(i18n, keys.login_title),
                        tu_string!(i18n, keys.login_why),
                    ),
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
    let i18n = use_i18n();
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
            {t!(i18n, keys.intro)}
        </p>
        <section class="card">
            <h2>{t!(i18n, keys.create_heading)}</h2>
            <form method="post" action="/keys" class="key-form" on:submit=move |ev| {
                // Hydrated: create through the action and stay on the page; otherwise the browser posts the form.
                if let Ok(input) = CreateKey::from_event(&ev) {
                    ev.prevent_default();
                    create.dispatch(input);
                }
            }>
                <div class="field">
                    <label for="key-name">{t!(i18n, keys.name)}</label>
                    <input id="key-name" type="text" name="name" placeholder=tu_string!(i18n, keys.name_placeholder) required />
                </div>
                <div class="field">
                    <label for="key-days">{t!(i18n, keys.expires_in_days)}</label>
                    <input id="key-days" type="text" name="days" inputmode="numeric" placeholder=tu_string!(i18n, keys.never) />
                </div>
                <div class="field">
                    <label for="key-cap">{t!(i18n, keys.cap_usd)}</label>
                    <input id="key-cap" type="text" name="cap" inputmode="decimal" placeholder=tu_string!(i18n, keys.none) />
                </div>
                <div class="field wide">
                    <label for="key-models">{t!(i18n, keys.only_models)}</label>
                    <input id="key-models" type="text" name="models" placeholder=tu_string!(i18n, keys.models_placeholder) />
                </div>
                <label class="check"><input type="checkbox" name="manage" />" "{t!(i18n, keys.may_manage)}</label>
                <button type="submit" class="btn primary" disabled=move || create.pending().get()>{t!(i18n, keys.create_button)}</button>
            </form>
            {move || created().map(|r| match r {
                Ok(k) => view! {
                    <div class="new-key" role="status" data-testid="new-key">
                        <p>
                            <strong>{crate::shared::text::fill(tu_string!(i18n, keys.new_key_named), &[("name", &k.name)])}</strong>
                            {t!(i18n, keys.copy_now)}
                        </p>
                        <div class="copy-row">
                            <input type="text" readonly value=k.secret.clone() id="new-key-secret" aria-label=tu_string!(i18n, keys.new_key_label) />
                            <button type="button" class="btn primary" data-key=k.secret node_ref=copy_button autofocus=true
                                data-copied-label=tu_string!(i18n, common.copied)
                                onclick=crate::app::inline_handlers::COPY_NEW_KEY>
                                {t!(i18n, common.copy)}
                            </button>
                        </div>
                    </div>
                }.into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{error_text(&e)}</p> }.into_any(),
            })}
        </section>
        {if rows.is_empty() {
            view! { <p class="muted" data-testid="no-keys">{t!(i18n, keys.no_keys)}</p> }.into_any()
        } else {
            view! {
                <div class="table-wrap card flush" tabindex="0" role="region" aria-label=tu_string!(i18n, keys.table_label)>
                    <table class="data cards" data-testid="keys">
                        <thead><tr>
                            <th>{t!(i18n, keys.name)}</th>
                            <th>{t!(i18n, keys.col_key)}</th>
                            <th>{t!(i18n, keys.col_created)}</th>
                            <th>{t!(i18n, keys.col_last_used)}</th>
                            <th class="num">{t!(i18n, keys.col_calls)}</th>
                            <th class="num">{t!(i18n, keys.col_spent)}</th>
                            <th>{t!(i18n, keys.col_limits)}</th>
                            <th>{t!(i18n, keys.col_actions)}</th>
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
    let i18n = use_i18n();
    let id = k.id;
    let limits = crate::shared::text::fill(
        tu_string!(i18n, keys.limits),
        &[("cap", &k.cap), ("expires", &k.expires), ("models", &k.models)],
    );
    let disabled = k.disabled;
    let name = k.name.clone();
    view! {
        <tr class:disabled=disabled>
            <td data-label=tu_string!(i18n, keys.name)>
                <ActionForm action=rename attr:class="inline-rename">
                    <input type="hidden" name="id" value=id.to_string() />
                    <input type="text" name="name" value=name aria-label=tu_string!(i18n, keys.key_name_label) />
                    <button type="submit" class="btn ghost small">{t!(i18n, keys.rename)}</button>
                </ActionForm>
                {disabled.then(|| view! { <span class="badge off">{t!(i18n, keys.disabled_badge)}</span> })}
            </td>
            <td class="mono" data-label=tu_string!(i18n, keys.col_key)>{k.prefix}</td>
            <td class="nowrap" data-label=tu_string!(i18n, keys.col_created)>{k.created}</td>
            <td class="nowrap" data-label=tu_string!(i18n, keys.col_last_used)>{k.last_used}</td>
            <td class="num" data-label=tu_string!(i18n, keys.col_calls)>{k.used_times}</td>
            <td class="num" data-label=tu_string!(i18n, keys.col_spent)><Amount usd=k.spent /></td>
            <td class="small" data-label=tu_string!(i18n, keys.col_limits)>
                {limits}
                {k.can_manage.then(|| view! { <span class="badge ok">{t!(i18n, keys.manages_keys)}</span> })}
            </td>
            <td data-label=tu_string!(i18n, keys.col_actions) class="actions-cell">
                <ActionForm action=toggle attr:class="inline-form">
                    <input type="hidden" name="id" value=id.to_string() />
                    <input type="hidden" name="disabled" value=(!disabled).to_string() />
                    <button type="submit" class="btn ghost small">
                        {if disabled { tu_string!(i18n, keys.enable) } else { tu_string!(i18n, keys.disable) }}
                    </button>
                </ActionForm>
                <ActionForm action=delete attr:class="inline-form" attr:data-confirm=tu_string!(i18n, keys.confirm_delete) attr:onsubmit=crate::app::inline_handlers::CONFIRM>
                    <input type="hidden" name="id" value=id.to_string() />
                    <button type="submit" class="btn ghost small danger">{t!(i18n, keys.delete)}</button>
                </ActionForm>
            </td>
        </tr>
    }
}
