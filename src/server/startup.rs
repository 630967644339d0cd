//! Builds the application (database, migrations, mailer, router) and serves it until SIGTERM or ctrl-c,
//! letting in-flight requests finish.

use crate::app::{shell, App};
use crate::server::config::{Secret, Settings};
use crate::server::db::{Db, DbSetupError};
use crate::server::domain::pricing::{PriceTable, Pricing, DEFAULT_PRICE_TABLE};
use crate::server::domain::referral::{EmailPolicy, SHIPPED_DISPOSABLE_DOMAINS, SHIPPED_RELAY_DOMAINS};
use crate::server::http::{
    billing_csv,
    connection_cap::ConnectionCap,
    dev_mail_view,
    edge::EdgeLayer,
    form_posts, health,
    origin_guard::{self, SiteOrigins},
    security_headers, serve, session_layer, site_cache, stripe_webhook,
};
use crate::server::live_pricing::LivePricing;
use crate::server::mail::{MailError, Mailer};
use crate::server::payments::stripe;
use crate::server::proxy::gateway::Gateway;
use crate::server::proxy::rate_limit::RateLimiter;
use crate::server::proxy::upstream::Upstreams;
use crate::server::secrets::random_token;
use crate::server::state::{AppState, Services};
use crate::server::telemetry;
use axum::routing::{get, post};
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] DbSetupError),
    #[error("mail: {0}")]
    Mail(#[from] MailError),
    #[error("{0}")]
    Prices(String),
    #[error("REDIS_URL: {0}")]
    Redis(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let db = Db::connect(settings.database_url.expose()).await?;
        db.migrate().await?;
        let mailer = Mailer::from_settings(&settings)?;
        let pricing = LivePricing::load(&db, load_pricing(&settings)?)
            .await
            .map_err(|e| StartupError::Prices(format!("cannot read the saved price versions: {e}")))?;
        if let (Some(path), Some(version)) = (&settings.money.price_table_path, pricing.version()) {
            tracing::warn!(version, "prices: version {version} saved in the admin console is in force; PRICE_TABLE {path} and CHANNEL_MULTIPLIERS apply only until a version is saved");
        }
        let pricing = Arc::new(pricing);
        let listener = TcpListener::bind(settings.bind_addr)
            .await
            .map_err(|source| StartupError::Bind { addr: settings.bind_addr, source })?;
        let local = listener.local_addr().map_err(|source| StartupError::Bind { addr: settings.bind_addr, source })?;
        let public_base_url: Arc<str> = match &settings.public_base_url {
            Some(url) => url.as_str().trim_end_matches('/').into(),
            None => format!("http://{local}").into(),
        };
        let leptos = LeptosOptions::builder()
            .output_name("gatehouse")
            .site_root(settings.site_root.as_str())
            .site_pkg_dir("pkg")
            .site_addr(local)
            .hash_files(site_files_hashed())
            .build();
        let test_payment_secret =
            Secret::new(random_token().map_err(|e| StartupError::Prices(format!("no randomness: {e}")))?);
        let email_policy = EmailPolicy::new(
            &[SHIPPED_DISPOSABLE_DOMAINS, &settings.referral.extra_disposable_domains],
            settings.referral.email_allowlist.as_deref(),
        );
        let email_policy = match &settings.referral.extra_relay_domains {
            Some(extra) => email_policy.with_relays(&[SHIPPED_RELAY_DOMAINS, extra]),
            None => email_policy,
        };
        let upstreams = Upstreams::new(
            &settings.upstream.providers,
            Duration::from_secs(settings.upstream.connect_timeout_secs),
            Duration::from_secs(settings.upstream.read_timeout_secs),
            Duration::from_secs(settings.upstream.call_deadline_secs),
            Duration::from_millis(settings.upstream.mock_stream_pace_ms),
        );
        let rate_limiter = match &settings.upstream.redis_url {
            None => RateLimiter::default(),
            Some(url) => {
                RateLimiter::redis(url.expose(), &settings.upstream.redis_key_prefix).map_err(StartupError::Redis)?
            }
        };
        let gateway = Arc::new(Gateway::start(&db, upstreams, rate_limiter));
        let site_origins = Arc::new(SiteOrigins::new(&public_base_url, local, settings.is_dev()));
        let state = AppState::new(Services {
            settings: Arc::new(settings),
            db,
            mailer: Arc::new(mailer),
            leptos,
            site_origins,
            public_base_url,
            pricing,
            email_policy: Arc::new(email_policy),
            gateway,
            http: stripe::http_client(),
            test_payment_secret: Arc::new(test_payment_secret),
        });
        let router = router(state.clone());
        Ok(Self { listener, router, state })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn public_url(&self) -> &str {
        &self.state.public_base_url
    }

    /// Serves until SIGTERM or ctrl-c.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` resolves, then finishes in-flight requests and closes the database.
    pub async fn run_until(self, stop: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let Self { listener, router, state } = self;
        let sweeper = tokio::spawn(sweep_expired(state.db.clone()));
        let hold_sweeper = tokio::spawn(sweep_stale_holds(Arc::clone(&state.gateway)));
        let price_follower = tokio::spawn(Arc::clone(&state.pricing).follow(state.db.clone()));
        // Background responses a stopped server was following are followed again, and billed when they end.
        let resumer = tokio::spawn(crate::server::proxy::responses::background::resume_abandoned(state.clone()));
        let grace = Duration::from_secs(state.settings.upstream.shutdown_grace_secs);
        let gateway = Arc::clone(&state.gateway);
        let stop = async move {
            stop.await;
            // Streams still running when the grace ends are cut and settle what they carried, so their
            // connections close and the server can stop (see `proxy::upstream_guard`).
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                gateway.cut_streams();
            });
        };
        // Streams are cut when the grace ends (above) and settle within seconds; a connection still open
        // well after that is closed.
        let drain = grace + Duration::from_secs(15);
        let trusted = state.settings.trusted_proxies.clone();
        let cap = ConnectionCap::new(state.settings.connections.per_address, move |ip| {
            ip.is_loopback() || trusted.trusts(ip)
        });
        let served = serve::serve(listener, router, state.settings.connections, cap, stop, drain).await;
        sweeper.abort();
        hold_sweeper.abort();
        price_follower.abort();
        resumer.abort();
        // Streams the caller left may still be metering; their charges are queued when they end.
        if !state.gateway.finish_calls(grace).await {
            tracing::warn!(
                calls = state.gateway.running_calls(),
                "calls still running after the shutdown grace; their holds stay until swept"
            );
        }
        // Every charge already queued is written before the process ends, however long the database takes:
        // ending sooner would give those calls away. Progress is logged while it lasts.
        let flushed = state.gateway.flush();
        tokio::pin!(flushed);
        loop {
            tokio::select! {
                () = &mut flushed => break,
                () = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!(
                    unwritten = state.gateway.unwritten(),
                    "still writing the charges of finished calls before stopping"
                ),
            }
        }
        tracing::info!("stopped accepting requests and settled every finished call; closing the database");
        state.db.close().await;
        served
    }
}

/// cargo-leptos (`hash-files` in Cargo.toml) names the site's files after their content and writes those
/// names to `hash.txt` beside the server binary, where Leptos reads them to link the files.
fn site_files_hashed() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("hash.txt")))
        .is_some_and(|p| p.exists())
}

/// The app's routes never change, so they are listed once per process (listing renders the app).
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

fn router(state: AppState) -> Router {
    let routes = route_list();
    let context_state = state.clone();
    let provide_state = move || provide_context(context_state.clone());
    let leptos_options = state.leptos.clone();
    let mut router: Router<AppState> = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/lang/{locale}", get(crate::server::http::language::switch))
        .route("/metrics", get(crate::server::http::metrics_route::metrics))
        .route("/webhooks/stripe", post(stripe_webhook::receive))
        .route("/billing/bills.csv", get(billing_csv::bills))
        .route("/billing/usage.csv", get(billing_csv::usage))
        .route("/admin/codes.csv", get(crate::server::http::admin_csv::codes))
        .route("/chat/replies/{id}/stream", get(crate::server::chat::reply::stream))
        // The pages' plain form posts (before hydration, or without JavaScript); their GETs are the pages.
        .route("/keys", post(form_posts::create_key))
        .route("/chat", post(form_posts::send_chat));
    if state.settings.is_dev() {
        router = router.route("/dev/mailbox/{id}", get(dev_mail_view::show));
    }
    router
        .leptos_routes_with_context(&state, routes, provide_state.clone(), {
            let options = leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(provide_state, shell))
        .layer(axum::middleware::from_fn_with_state(state.clone(), session_layer::attach))
        .layer(axum::middleware::from_fn_with_state(state.clone(), origin_guard::guard))
        // Pages, server functions and the site's files (the WebAssembly above all) travel compressed when
        // the browser accepts it; event streams are left as they are (tower-http's default predicate), and
        // the API below is not compressed: its calls are small, and the hot path stays free of that work.
        .layer(CompressionLayer::new())
        .layer(axum::middleware::from_fn(site_cache::headers))
        // The API authenticates by key, never by the session cookie (and is exempt from the origin guard):
        // its routes skip those two layers, which would only cost every call (a cookie sent along would
        // even cost a session read).
        .merge(crate::server::proxy::routes())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(telemetry::request_span)
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        // Outermost: the request's id before the trace span reads it; the id and security headers on the
        // way out.
        .layer(EdgeLayer::new(security_headers::Hsts(state.settings.cookies_secure())))
        .with_state(state)
}

/// Hourly: deletes what has outlived its use: expired sessions and login tokens, the send limits' lock
/// rows, unused invitation acknowledgements, invitation visits past a week (folded into their code's
/// count), refused-call records and stored responses past their keeping time. Rows written by unauthenticated requests never pile up.
async fn sweep_expired(db: Db) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let now = crate::server::time::now_ms();
        let sweeps = [
            ("expired sessions", crate::server::auth::session::delete_expired(&db).await),
            ("expired login tokens", crate::server::auth::magic_link::purge_expired(&db, now).await),
            ("login limit locks", crate::server::auth::send_limits::purge(db.pool(), now).await),
            (
                "unused invitation acknowledgements",
                crate::server::domain::referral::purge_unused_acks(db.pool(), now).await,
            ),
            ("old invitation visits", crate::server::domain::referral::fold_old_visits(db.pool(), now).await),
            ("refused calls", crate::server::domain::refusals::purge(db.pool(), now).await),
            ("stored responses", crate::server::domain::responses::purge(db.pool(), now).await),
            ("stored chat completions", crate::server::domain::owned_ids::purge(db.pool(), now).await),
        ];
        for (what, result) in sweeps {
            if let Err(e) = result {
                tracing::warn!(error = %e, "sweep of {what} failed");
            }
        }
    }
}

/// The configuration's prices: the shipped price table, or the operator's copy named by `PRICE_TABLE`, and
/// `CHANNEL_MULTIPLIERS` (saved versions from the admin console replace them; see `live_pricing`).
pub fn load_pricing(settings: &Settings) -> Result<Pricing, StartupError> {
    let table_text = match &settings.money.price_table_path {
        None => DEFAULT_PRICE_TABLE.to_string(),
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| StartupError::Prices(format!("cannot read PRICE_TABLE {path}: {e}")))?,
    };
    let table = PriceTable::parse(&table_text).map_err(|e| StartupError::Prices(e.to_string()))?;
    Ok(Pricing {
        table,
        multipliers: settings.money.channel_multipliers.clone(),
        channels: settings.money.channel_models.clone(),
        table_text,
    })
}

/// Frees the admission book's holds of calls that never settled nor released (their task died), once a
/// minute.
async fn sweep_stale_holds(gateway: Arc<Gateway>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let now = crate::server::time::now_ms();
        let swept = gateway.sweep_stale_holds(now, crate::server::proxy::call::STALE_HOLD_MS);
        if swept > 0 {
            tracing::warn!(holds = swept, "released admission holds of calls that never settled");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
