//! HTTP glue around the app: the language of a request and its switcher, the admin console's CSV export, the server loop and its per-address connection cap, request ids, the cross-origin guard, the session layer, health, client IPs,
//! the dev mailbox's raw message view, Stripe's webhook, the pages' plain form posts, and the site files' cache headers.
pub mod admin_csv;
pub mod billing_csv;
pub mod client_ip;
pub mod connection_cap;
pub mod dev_mail_view;
pub mod edge;
pub mod form_posts;
pub mod health;
pub mod invite_ack_cookie;
pub mod language;
pub mod metrics_route;
pub mod origin_guard;
pub mod request_id;
pub mod security_headers;
pub mod serve;
pub mod session_layer;
pub mod site_cache;
pub mod stripe_webhook;
