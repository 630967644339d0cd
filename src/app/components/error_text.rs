//! What a person reads for a server function's error. Errors that carry a message were written by the
//! server in the page's language; the fixed ones are worded here.

use crate::i18n::*;
use crate::shared::error::AppError;

/// The error's text in the page's language (inside a view).
pub fn error_text(e: &AppError) -> String {
    error_text_in(e, use_i18n().get_locale_untracked())
}

/// The error's text in `locale` (where there is no page, such as a plain form post's answer).
pub fn error_text_in(e: &AppError, locale: Locale) -> String {
    match e {
        AppError::Invalid { message, .. } | AppError::RateLimited { message, .. } => message.clone(),
        AppError::Gone(message) | AppError::Unavailable(message) => message.clone(),
        AppError::Unauthorized => td_string!(locale, errors.unauthorized).to_string(),
        AppError::Forbidden => td_string!(locale, errors.forbidden).to_string(),
        AppError::NotFound => td_string!(locale, errors.not_found).to_string(),
        AppError::Internal => td_string!(locale, errors.internal).to_string(),
        AppError::Transport(_) => td_string!(locale, errors.transport).to_string(),
    }
}
