//! HTTP glue around the app: request ids, the cross-origin guard, the session layer, health, client IPs,
//! the dev mailbox's raw message view, and Stripe's webhook.
pub mod bills_csv;
pub mod client_ip;
pub mod dev_mail_view;
pub mod health;
pub mod origin_guard;
pub mod request_id;
pub mod session_layer;
pub mod stripe_webhook;
