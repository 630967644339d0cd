//! Plain form posts for the pages where work could otherwise be lost: a page posted before it hydrated, or in
//! a browser without JavaScript, still does what the person asked. Hydrated pages never reach these routes:
//! their forms call the same server functions' logic through the page's action instead.
//!
//! - `POST /keys` creates the key and answers with the keys page itself, rendered with the new secret: the
//!   secret exists only in that one response (a redirect would have to keep it somewhere to show it later).
//! - `POST /chat` stores the message, writes the whole reply (billed as usual), then redirects to the
//!   conversation (post/redirect/get), so a reload never sends the message twice.
//!
//! Both routes sit behind the session layer and the origin guard like every page.

use crate::app::components::error_text::error_text_in;
use crate::app::pages::keys::{CreateKey, PostedKey};
use crate::app::shell;
use crate::i18n::td_string;
use crate::server::auth::session::Session;
use crate::server::state::AppState;
use crate::shared::error::AppError;
use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use leptos::prelude::provide_context;
use std::time::Duration;

/// How long `POST /chat` waits for the reply before showing the conversation anyway (the reply goes on
/// being written and billed; the page says so and a reload shows it).
const CHAT_REPLY_WAIT: Duration = Duration::from_secs(90);

/// `POST /keys`: creates the key, then renders `/keys` showing its secret once (or the form's error).
pub async fn create_key(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let locale = crate::server::http::language::of_request(&parts.headers);
    let outcome = match Form::<CreateKey>::from_request(Request::from_parts(parts.clone(), body), &state).await {
        Err(rejection) => Err(AppError::invalid(
            "name",
            crate::shared::text::fill(td_string!(locale, keys.form_unreadable), &[("detail", &rejection.body_text())]),
        )),
        Ok(Form(f)) => match session.signed_in().await {
            Ok(user) => {
                let can_manage = f.manage.as_deref() == Some("on");
                let (name, days, cap, models) = (&f.name, &f.days, &f.cap, &f.models);
                crate::server::keys_view::create(&state, user, name, days, cap, models, can_manage, locale).await
            }
            Err(e) => Err(e),
        },
    };
    let status = match &outcome {
        Ok(_) => StatusCode::OK,
        Err(e) => StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
    };
    let mut response = render_page(&state, Request::from_parts(parts, Body::empty()), move || {
        provide_context(PostedKey(outcome.clone()))
    })
    .await;
    *response.status_mut() = status;
    // The page holds a secret: never kept by the browser's cache or a proxy.
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

/// The chat page's compose form, as a browser posts it (a ticked box arrives as `on`).
#[derive(serde::Deserialize)]
pub struct ChatForm {
    conversation_id: Option<i64>,
    text: String,
    model: String,
    thinking: Option<String>,
}

/// `POST /chat`: sends the message, waits for the reply, and shows the conversation.
pub async fn send_chat(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    headers: axum::http::HeaderMap,
    Form(f): Form<ChatForm>,
) -> Response {
    let locale = crate::server::http::language::of_request(&headers);
    let back = |conversation: Option<i64>, error: Option<&AppError>| {
        let mut to = match conversation {
            Some(id) => format!("/chat?c={id}"),
            None => "/chat".to_string(),
        };
        if let Some(e) = error {
            let message: String = url::form_urlencoded::byte_serialize(error_text_in(e, locale).as_bytes()).collect();
            to.push_str(if conversation.is_some() { "&error=" } else { "?error=" });
            to.push_str(&message);
        }
        Redirect::to(&to).into_response()
    };
    let user = match session.signed_in().await {
        Ok(user) => user,
        Err(AppError::Unauthorized) => return Redirect::to("/login?next=/chat").into_response(),
        Err(e) => return back(f.conversation_id, Some(&e)),
    };
    let thinking = f.thinking.as_deref() == Some("on");
    match crate::server::chat::ask(&state, user, f.conversation_id, &f.text, &f.model, thinking, locale).await {
        Err(e) => back(f.conversation_id, Some(&e)),
        Ok(asked) => {
            let request_id = crate::server::proxy::call::request_id_of(&headers);
            let written =
                crate::server::chat::reply::write_whole(state.clone(), user, asked.reply_id, request_id, locale);
            if tokio::time::timeout(CHAT_REPLY_WAIT, written).await.is_err() {
                tracing::info!(reply_id = asked.reply_id, "reply still being written; showing the conversation");
            }
            back(Some(asked.conversation_id), None)
        }
    }
}

/// Renders the app for this request's path, with `extra` context beside the app state.
async fn render_page(state: &AppState, request: Request, extra: impl Fn() + Clone + Send + Sync + 'static) -> Response {
    let app_state = state.clone();
    let options = state.leptos.clone();
    let render = leptos_axum::render_app_async_with_context(
        move || {
            provide_context(app_state.clone());
            extra();
        },
        move || shell(options.clone()),
    );
    render(request).await
}
