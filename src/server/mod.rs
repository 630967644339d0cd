//! Everything that runs only in the axum process: configuration, startup, database, auth, mail, HTTP glue.
pub mod auth;
pub mod billing_view;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod fn_support;
pub mod http;
pub mod mail;
pub mod payments;
pub mod referral_view;
pub mod secrets;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod time;
