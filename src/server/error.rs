//! Turning server-side failures into `AppError`: details go to the log, the browser gets a plain sentence.

use crate::shared::error::AppError;

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        tracing::error!(error = %e, "database error");
        AppError::Internal
    }
}

/// Logs `e` with `context` and returns the opaque internal error.
pub fn internal(context: &'static str, e: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %e, "{context}");
    AppError::Internal
}
