//! `POST /v1/messages/count_tokens`: free, but needs a valid key and a priced model.

use super::D;
use crate::server::metrics::Surface;
use crate::server::proxy::call;
use crate::server::proxy::dialect::{Dialect, ProxyError};
use crate::server::proxy::upstream::{Outgoing, Target, UpstreamBody, UpstreamResponse};
use crate::server::proxy::{AnthropicBody, AnthropicChannel, CallBody, OnChannel};
use crate::server::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Instant;

/// A count, counted for the metrics with whatever it was answered.
pub async fn count(
    State(state): State<AppState>,
    OnChannel(channel): AnthropicChannel,
    headers: HeaderMap,
    body: Result<AnthropicBody, Response>,
) -> Response {
    let started = Instant::now();
    let response = match body {
        Ok(CallBody(body)) => answer(&state, &headers, body).await,
        Err(refused) => refused,
    };
    call::answered(&state, Surface::CountTokens, channel, started, &response);
    response
}

async fn answer(state: &AppState, headers: &HeaderMap, body: Bytes) -> Response {
    if let Err(e) = call::authenticate(state, headers).await {
        return e.into_response(D);
    }
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return ProxyError::BadRequest("The request body is not valid JSON.".into()).into_response(D);
    };
    let model = request["model"].as_str().unwrap_or("");
    match state.pricing.current().table.lookup(model) {
        None => return ProxyError::UnknownModel(format!("The model `{model}` is not offered here.")).into_response(D),
        Some(price) => {
            if let Err(e) = price.check_kind(model, crate::server::domain::pricing::ModelKind::Chat) {
                return ProxyError::BadRequest(e.to_string()).into_response(D);
            }
        }
    }
    let route = state.gateway.upstreams.route(Dialect::Anthropic, model);
    match route.first().map(|p| &p.target) {
        None => ProxyError::UnknownModel(format!("No upstream provider is configured for `{model}`.")).into_response(D),
        Some(Target::Mock) => {
            // The mock's estimate: about four characters per token of the request's messages and system.
            let text = format!("{}{}{}", request["system"], request["messages"], request["tools"]);
            let tokens = text.chars().count().div_ceil(4);
            axum::Json(json!({ "input_tokens": tokens })).into_response()
        }
        Some(Target::Remote { .. }) => {
            let outgoing = Outgoing::body(body.clone(), false);
            match state
                .gateway
                .upstreams
                .send(Dialect::Anthropic, model, "/v1/messages/count_tokens", &outgoing, headers)
                .await
            {
                Ok(UpstreamResponse { body: UpstreamBody::Json(bytes) }) => {
                    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
                }
                _ => ProxyError::Upstream { status: 502, message: "The upstream could not count tokens.".into() }
                    .into_response(D),
            }
        }
    }
}
