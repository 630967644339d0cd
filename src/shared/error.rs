//! `AppError`: the error every server function returns; it crosses the wire as JSON and carries its HTTP status.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// Bad input; `field` names the form field it belongs next to.
    #[error("{message}")]
    Invalid { field: String, message: String },
    /// Too many attempts; try again after `retry_after_secs`.
    #[error("{message}")]
    RateLimited { message: String, retry_after_secs: u64 },
    #[error("Please log in first.")]
    Unauthorized,
    #[error("That request came from another site and was refused.")]
    Forbidden,
    #[error("Not found.")]
    NotFound,
    /// Something that existed is no longer usable (an expired or used link).
    #[error("{0}")]
    Gone(String),
    /// A dependency (mail server, database) is down; nothing was changed.
    #[error("{0}")]
    Unavailable(String),
    /// Details are logged on the server, never sent to the browser.
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    /// The request or response could not be carried (network, encoding).
    #[error("{0}")]
    Transport(String),
}

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.to_string(), message: message.into() }
    }

    /// The HTTP status the server answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Invalid { .. } => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::Gone(_) => 410,
            Self::RateLimited { .. } => 429,
            Self::Internal | Self::Transport(_) => 500,
            Self::Unavailable(_) => 503,
        }
    }

    /// The message to show beside a form field, when the error belongs to that field.
    pub fn for_field(&self, name: &str) -> Option<String> {
        match self {
            Self::Invalid { field, message } if field == name => Some(message.clone()),
            _ => None,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::Transport(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_are_found_only_under_their_own_field() {
        let e = AppError::invalid("email", "Enter your email address.");
        assert_eq!(e.for_field("email").as_deref(), Some("Enter your email address."));
        assert_eq!(e.for_field("name"), None);
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn internal_errors_say_nothing_about_internals() {
        assert_eq!(AppError::Internal.to_string(), "Something went wrong on our side. Please try again.");
    }
}
