//! Everything that runs only in the axum process: configuration, startup, database, auth, mail, HTTP glue.
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod fn_support;
pub mod http;
pub mod mail;
pub mod secrets;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod time;
