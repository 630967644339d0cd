//! Settings from environment variables and an optional `KEY=VALUE` file, with defaults that run on a fresh
//! machine. Environment variables win over the file. Secrets are wrapped so `Debug` never prints them.

use crate::server::auth::send_limits::SendLimits;
use crate::server::domain::channels::{ChannelModels, Scope, DEFAULT_CHANNEL_MODELS};
use crate::server::domain::money::Money;
use crate::server::domain::pricing::{ChannelMultipliers, DEFAULT_CHANNEL_MULTIPLIERS};
use crate::server::domain::referral::Promotion;
use crate::server::domain::tiers::{TierTable, DEFAULT_TIERS};
use crate::server::http::client_ip::TrustedProxies;
use crate::server::http::serve::ConnectionLimits;
use crate::server::provider_config::{self, ProviderSpec};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Demo-friendly: dev mailbox allowed, login links logged.
    Dev,
    /// Refuses to start with any dev-only feature on.
    Production,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A value that must never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub mode: Mode,
    pub bind_addr: SocketAddr,
    /// Where people reach this server; links in emails start with it. `None`: derived from the bound port.
    pub public_base_url: Option<url::Url>,
    pub database_url: Secret,
    pub smtp_url: Option<Secret>,
    pub mail_from: String,
    /// Keep sent mail in memory and show it at `/dev/mailbox` (dev mode only).
    pub dev_mailbox: bool,
    /// Login emails per hour: per address from one network, per address, per network.
    pub login_limits: SendLimits,
    /// `HTTP_HEADER_TIMEOUT_SECS`, `HTTP_BODY_TIMEOUT_SECS`, `HTTP_IDLE_TIMEOUT_SECS`: how long a client may
    /// take to send a request's headers, stall its body, or keep a connection with no request;
    /// `HTTP_MAX_CONNECTIONS_PER_ADDRESS`: connections one client network may have open at once.
    pub connections: ConnectionLimits,
    /// `TRUSTED_PROXIES`: the reverse proxies whose `X-Forwarded-For` is believed (none by default).
    pub trusted_proxies: TrustedProxies,
    pub log_format: LogFormat,
    /// Folder with the built site (`pkg/`, assets); cargo-leptos sets `LEPTOS_SITE_ROOT`.
    pub site_root: String,
    pub money: MoneySettings,
    pub referral: ReferralSettings,
    pub upstream: UpstreamSettings,
    pub operators: OperatorSettings,
}

/// Who runs this server: the operator role, where people write for help, and who may read `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct OperatorSettings {
    /// `ADMIN_EMAILS`: normalized emails that hold the operator role (besides `gatehouse admin promote`).
    pub admin_emails: Vec<String>,
    /// `SUPPORT_EMAIL`: shown in the footer, the FAQ and error messages that send people to support.
    pub support_email: Option<String>,
    /// `METRICS_TOKEN`: the bearer token `/metrics` asks for; without it `/metrics` is not served.
    pub metrics_token: Option<Secret>,
}

/// Where API calls go (see `provider_config`), and shared rate limits.
#[derive(Clone, Debug)]
pub struct UpstreamSettings {
    pub providers: Vec<ProviderSpec>,
    pub connect_timeout_secs: u64,
    pub read_timeout_secs: u64,
    /// `UPSTREAM_CALL_DEADLINE_SECS`: the longest one call's answer may take, start to end.
    pub call_deadline_secs: u64,
    /// `REDIS_URL`: rate limits shared by every instance using the same Redis; unset: in memory.
    pub redis_url: Option<Secret>,
    /// `REDIS_KEY_PREFIX`: the start of Gatehouse's Redis keys, so deployments can share one Redis.
    pub redis_key_prefix: String,
    /// `MOCK_STREAM_PACE_MS`: pause between the built-in mock's stream pieces (0: as fast as possible).
    pub mock_stream_pace_ms: u64,
    /// `SHUTDOWN_GRACE_SECS`: how long shutdown waits for running calls (streams) before it settles the rest.
    pub shutdown_grace_secs: u64,
    /// `MAX_REQUEST_MB_ANTHROPIC` (32, Anthropic's own limit) and `MAX_REQUEST_MB_OPENAI` (50): the largest
    /// request body a call may send, in bytes.
    pub max_request_bytes_anthropic: usize,
    pub max_request_bytes_openai: usize,
}

/// The referral promotion and who qualifies.
#[derive(Clone, Debug)]
pub struct ReferralSettings {
    pub promotion: Promotion,
    /// Extra disposable domains (`DISPOSABLE_DOMAINS_FILE`), added to the shipped list.
    pub extra_disposable_domains: String,
    /// Extra relay and alias domains (`RELAY_DOMAINS_FILE`), added to the shipped list; `None` when relay
    /// addresses qualify (`REFERRAL_ALLOW_RELAYS=true`).
    pub extra_relay_domains: Option<String>,
    /// Only these providers qualify when set (`REFERRAL_EMAIL_ALLOWLIST`, comma-separated domains).
    pub email_allowlist: Option<String>,
}

/// Everything about money an operator can set.
#[derive(Clone, Debug)]
pub struct MoneySettings {
    /// Balance a new account starts with (`WELCOME_BALANCE`, USD).
    pub welcome_balance: Money,
    /// An edited copy of `config/prices.conf` (`PRICE_TABLE`); `None`: the shipped table.
    pub price_table_path: Option<String>,
    pub channel_multipliers: ChannelMultipliers,
    /// The models each named channel serves (`CHANNEL_MODELS`); another model there is refused.
    pub channel_models: ChannelModels,
    /// The currency people pay top-ups in (`TOPUP_CURRENCY`, ISO code, upper case).
    pub topup_currency: String,
    /// USD credited per unit of the top-up currency (`USD_PER_TOPUP_UNIT`).
    pub usd_per_topup_unit: Decimal,
    /// The amounts offered on the top-up page, whole currency units (`TOPUP_OPTIONS`).
    pub topup_options: Vec<i64>,
    /// Rate-limit tiers by paid top-ups in the top-up currency (`RATE_TIERS`).
    pub tiers: TierTable,
    pub stripe: Option<StripeSettings>,
    /// Dev mode's labelled test payments, signed locally and sent through the webhook path.
    pub test_payments: bool,
}

#[derive(Clone, Debug)]
pub struct StripeSettings {
    pub secret_key: Secret,
    pub webhook_secret: Secret,
    /// `STRIPE_API_BASE`, normally https://api.stripe.com.
    pub api_base: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{key}: {problem}")]
    Invalid { key: &'static str, problem: String },
    #[error("production mode refuses to start: {0}")]
    UnsafeForProduction(String),
    #[error("cannot read config file {path}: {problem}")]
    File { path: String, problem: String },
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/gatehouse.db";

impl Settings {
    /// Reads `GATEHOUSE_CONFIG` (or `./gatehouse.env` when present), then the process environment.
    pub fn load() -> Result<Self, ConfigError> {
        let mut values = HashMap::new();
        let explicit = std::env::var("GATEHOUSE_CONFIG").ok();
        let path = explicit.clone().unwrap_or_else(|| "gatehouse.env".to_string());
        if explicit.is_some() || Path::new(&path).exists() {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| ConfigError::File { path: path.clone(), problem: e.to_string() })?;
            values.extend(parse_env_file(&text).map_err(|problem| ConfigError::File { path, problem })?);
        }
        values.extend(std::env::vars());
        Self::from_values(&values)
    }

    /// Builds settings from a key/value map (the environment, in production).
    pub fn from_values(values: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |key: &str| values.get(key).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let mode = match get("GATEHOUSE_MODE").as_deref() {
            None | Some("dev") | Some("development") => Mode::Dev,
            Some("production") | Some("prod") => Mode::Production,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    key: "GATEHOUSE_MODE",
                    problem: format!("expected dev or production, got {other:?}"),
                })
            }
        };
        let bind_addr = parse_or("GATEHOUSE_ADDR", get("GATEHOUSE_ADDR"), "127.0.0.1:3000".parse().ok())?;
        let public_base_url = match get("PUBLIC_BASE_URL") {
            None => None,
            Some(raw) => Some(parse_base_url(&raw)?),
        };
        let smtp_url = get("SMTP_URL").map(Secret::new);
        let dev_mailbox = match get("GATEHOUSE_DEV_MAILBOX") {
            Some(v) => parse_bool("GATEHOUSE_DEV_MAILBOX", &v)?,
            None => mode == Mode::Dev && smtp_url.is_none(),
        };
        let settings = Self {
            mode,
            bind_addr,
            public_base_url,
            database_url: Secret::new(get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_string())),
            smtp_url,
            mail_from: get("MAIL_FROM").unwrap_or_else(|| "Gatehouse <no-reply@gatehouse.localhost>".to_string()),
            dev_mailbox,
            login_limits: SendLimits {
                per_email_and_network: parse_or(
                    "LOGIN_LINKS_PER_EMAIL_PER_HOUR",
                    get("LOGIN_LINKS_PER_EMAIL_PER_HOUR"),
                    Some(SendLimits::default().per_email_and_network),
                )?,
                per_email: parse_or(
                    "LOGIN_LINKS_PER_EMAIL_CEILING_PER_HOUR",
                    get("LOGIN_LINKS_PER_EMAIL_CEILING_PER_HOUR"),
                    Some(SendLimits::default().per_email),
                )?,
                per_network: parse_or(
                    "LOGIN_LINKS_PER_IP_PER_HOUR",
                    get("LOGIN_LINKS_PER_IP_PER_HOUR"),
                    Some(SendLimits::default().per_network),
                )?,
            },
            trusted_proxies: trusted_proxies(&get)?,
            connections: ConnectionLimits {
                header_read: seconds("HTTP_HEADER_TIMEOUT_SECS", &get, ConnectionLimits::default().header_read)?,
                body_read: seconds("HTTP_BODY_TIMEOUT_SECS", &get, ConnectionLimits::default().body_read)?,
                idle: seconds("HTTP_IDLE_TIMEOUT_SECS", &get, ConnectionLimits::default().idle)?,
                per_address: parse_or(
                    "HTTP_MAX_CONNECTIONS_PER_ADDRESS",
                    get("HTTP_MAX_CONNECTIONS_PER_ADDRESS"),
                    Some(ConnectionLimits::default().per_address),
                )?,
            },
            log_format: match get("LOG_FORMAT").as_deref() {
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        key: "LOG_FORMAT",
                        problem: format!("expected text or json, got {other:?}"),
                    })
                }
            },
            site_root: get("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".to_string()),
            money: money_settings(&get, mode)?,
            referral: referral_settings(&get)?,
            upstream: UpstreamSettings {
                providers: match get("UPSTREAM_PROVIDERS_FILE") {
                    None => provider_config::defaults(&get),
                    Some(path) => {
                        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Invalid {
                            key: "UPSTREAM_PROVIDERS_FILE",
                            problem: format!("cannot read {path}: {e}"),
                        })?;
                        provider_config::parse(&text, &get).map_err(|problem| ConfigError::Invalid {
                            key: "UPSTREAM_PROVIDERS_FILE",
                            problem: format!("{path} {problem}"),
                        })?
                    }
                },
                connect_timeout_secs: parse_or(
                    "UPSTREAM_CONNECT_TIMEOUT_SECS",
                    get("UPSTREAM_CONNECT_TIMEOUT_SECS"),
                    Some(10),
                )?,
                read_timeout_secs: parse_or(
                    "UPSTREAM_READ_TIMEOUT_SECS",
                    get("UPSTREAM_READ_TIMEOUT_SECS"),
                    Some(600),
                )?,
                call_deadline_secs: match parse_or(
                    "UPSTREAM_CALL_DEADLINE_SECS",
                    get("UPSTREAM_CALL_DEADLINE_SECS"),
                    Some(3600),
                )? {
                    secs @ 1..=crate::server::proxy::call::MAX_CALL_DEADLINE_SECS => secs,
                    other => {
                        return Err(ConfigError::Invalid {
                            key: "UPSTREAM_CALL_DEADLINE_SECS",
                            problem: format!(
                                "{other} is not from 1 to {} seconds (a running call's hold must outlive it)",
                                crate::server::proxy::call::MAX_CALL_DEADLINE_SECS
                            ),
                        })
                    }
                },
                redis_url: match get("REDIS_URL") {
                    None => None,
                    Some(url) if url.starts_with("redis://") => Some(Secret::new(url)),
                    Some(_) => {
                        return Err(ConfigError::Invalid {
                            key: "REDIS_URL",
                            problem: "expected redis://[:password@]host[:port][/db]".into(),
                        })
                    }
                },
                redis_key_prefix: get("REDIS_KEY_PREFIX").unwrap_or_else(|| "gatehouse".to_string()),
                mock_stream_pace_ms: parse_or("MOCK_STREAM_PACE_MS", get("MOCK_STREAM_PACE_MS"), Some(0))?,
                shutdown_grace_secs: parse_or("SHUTDOWN_GRACE_SECS", get("SHUTDOWN_GRACE_SECS"), Some(30))?,
                max_request_bytes_anthropic: mebibytes(
                    "MAX_REQUEST_MB_ANTHROPIC",
                    parse_or("MAX_REQUEST_MB_ANTHROPIC", get("MAX_REQUEST_MB_ANTHROPIC"), Some(32))?,
                )?,
                max_request_bytes_openai: mebibytes(
                    "MAX_REQUEST_MB_OPENAI",
                    parse_or("MAX_REQUEST_MB_OPENAI", get("MAX_REQUEST_MB_OPENAI"), Some(50))?,
                )?,
            },
            operators: operator_settings(&get)?,
        };
        settings.check_mode()?;
        Ok(settings)
    }

    fn check_mode(&self) -> Result<(), ConfigError> {
        if self.mode == Mode::Dev {
            return Ok(());
        }
        if self.dev_mailbox {
            return Err(ConfigError::UnsafeForProduction("the dev mailbox is on (unset GATEHOUSE_DEV_MAILBOX)".into()));
        }
        if self.smtp_url.is_none() {
            return Err(ConfigError::UnsafeForProduction(
                "SMTP_URL is not set, so login emails could not be sent".into(),
            ));
        }
        if self.public_base_url.is_none() {
            return Err(ConfigError::UnsafeForProduction(
                "PUBLIC_BASE_URL is not set, so login links would be wrong".into(),
            ));
        }
        if self.money.test_payments {
            return Err(ConfigError::UnsafeForProduction("test payments are on (unset TEST_PAYMENTS)".into()));
        }
        Ok(())
    }

    pub fn is_dev(&self) -> bool {
        self.mode == Mode::Dev
    }

    /// Cookies get `Secure` when people reach us over https.
    pub fn cookies_secure(&self) -> bool {
        self.public_base_url.as_ref().is_some_and(|u| u.scheme() == "https")
    }
}

fn operator_settings(get: &impl Fn(&str) -> Option<String>) -> Result<OperatorSettings, ConfigError> {
    let mut admin_emails = Vec::new();
    for text in get("ADMIN_EMAILS").unwrap_or_default().split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let email = crate::shared::email::Email::parse(text)
            .map_err(|e| ConfigError::Invalid { key: "ADMIN_EMAILS", problem: format!("{text:?}: {e}") })?;
        admin_emails.push(email.normalized().to_string());
    }
    let support_email = match get("SUPPORT_EMAIL") {
        Some(text) if !text.trim().is_empty() => Some(
            crate::shared::email::Email::parse(text.trim())
                .map_err(|e| ConfigError::Invalid { key: "SUPPORT_EMAIL", problem: format!("{text:?}: {e}") })?
                .as_typed()
                .to_string(),
        ),
        _ => None,
    };
    let metrics_token = match get("METRICS_TOKEN") {
        Some(token) if token.trim().len() >= 16 => Some(Secret::new(token.trim())),
        Some(token) if !token.trim().is_empty() => {
            return Err(ConfigError::Invalid {
                key: "METRICS_TOKEN",
                problem: "use at least 16 characters (for example `openssl rand -hex 32`)".into(),
            })
        }
        _ => None,
    };
    Ok(OperatorSettings { admin_emails, support_email, metrics_token })
}

fn seconds(
    key: &'static str,
    get: &dyn Fn(&str) -> Option<String>,
    default: std::time::Duration,
) -> Result<std::time::Duration, ConfigError> {
    let secs: u64 = parse_or(key, get(key), Some(default.as_secs()))?;
    if secs == 0 {
        return Err(ConfigError::Invalid { key, problem: "must be at least 1 second".into() });
    }
    Ok(std::time::Duration::from_secs(secs))
}

fn mebibytes(key: &'static str, mb: usize) -> Result<usize, ConfigError> {
    if mb == 0 || mb > 1024 {
        return Err(ConfigError::Invalid { key, problem: format!("{mb} is not a size from 1 to 1024 (MiB)") });
    }
    Ok(mb * 1024 * 1024)
}

fn trusted_proxies(get: &dyn Fn(&str) -> Option<String>) -> Result<TrustedProxies, ConfigError> {
    // The old switch believed the first, client-written hop; it is refused rather than read differently.
    if get("TRUST_FORWARDED_FOR").is_some_and(|v| parse_bool("TRUST_FORWARDED_FOR", &v).unwrap_or(true)) {
        return Err(ConfigError::Invalid {
            key: "TRUST_FORWARDED_FOR",
            problem: "replaced by TRUSTED_PROXIES: list your reverse proxies' addresses (CIDRs, such as \
                      TRUSTED_PROXIES=127.0.0.1/32) and unset TRUST_FORWARDED_FOR"
                .into(),
        });
    }
    TrustedProxies::parse(&get("TRUSTED_PROXIES").unwrap_or_default())
        .map_err(|problem| ConfigError::Invalid { key: "TRUSTED_PROXIES", problem })
}

fn referral_settings(get: &dyn Fn(&str) -> Option<String>) -> Result<ReferralSettings, ConfigError> {
    let invalid = |key: &'static str, problem: String| ConfigError::Invalid { key, problem };
    let reward = match get("REFERRAL_REWARD") {
        Some(v) => Money::parse_usd(&v)
            .ok()
            .filter(|m| m.is_positive())
            .ok_or_else(|| invalid("REFERRAL_REWARD", format!("{v:?} is not a positive USD amount")))?,
        None => Money::usd(20),
    };
    let days = |key: &'static str, default: i64| -> Result<i64, ConfigError> {
        match get(key) {
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|d| *d > 0)
                .ok_or_else(|| invalid(key, format!("{v:?} is not a number of days"))),
            None => Ok(default),
        }
    };
    let date = |key: &'static str| -> Result<Option<i64>, ConfigError> {
        get(key)
            .map(|v| {
                crate::server::time::parse_date(&v)
                    .ok_or_else(|| invalid(key, format!("{v:?} is not a date like 2026-12-31")))
            })
            .transpose()
    };
    let scope = Scope::parse(
        &get("REFERRAL_SCOPE").unwrap_or_else(|| crate::server::domain::channels::CLAUDE_CODE_SCOPE.into()),
    )
    .map_err(|e| invalid("REFERRAL_SCOPE", e.to_string()))?;
    let extra_disposable_domains = match get("DISPOSABLE_DOMAINS_FILE") {
        Some(path) => std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::File { path: path.clone(), problem: e.to_string() })?,
        None => String::new(),
    };
    let promotion = Promotion {
        enabled: match get("REFERRAL_PROMOTION") {
            Some(v) => parse_bool("REFERRAL_PROMOTION", &v)?,
            None => true,
        },
        title: get("REFERRAL_TITLE").unwrap_or_else(|| format!("Claude Code API {reward}").replace(".00", "")),
        reward,
        scope,
        lifetime_days: days("REFERRAL_PACKAGE_DAYS", 30)?,
        starts_at: date("REFERRAL_STARTS")?,
        // The end date is inclusive: the promotion runs to the end of that day (UTC).
        ends_at: date("REFERRAL_ENDS")?.map(|d| d + crate::server::time::DAY_MS),
        apply_window_ms: days("REFERRAL_APPLY_WINDOW_DAYS", 7)? * crate::server::time::DAY_MS,
        ip_daily_cap: parse_or("REFERRAL_IP_DAILY_CAP", get("REFERRAL_IP_DAILY_CAP"), Some(3))?,
        inviter_daily_cap: parse_or("REFERRAL_INVITER_DAILY_CAP", get("REFERRAL_INVITER_DAILY_CAP"), Some(10))?,
    };
    // Relay and alias services do not qualify unless the operator says so.
    let relay_domains = match get("REFERRAL_ALLOW_RELAYS") {
        Some(v) if parse_bool("REFERRAL_ALLOW_RELAYS", &v)? => None,
        _ => Some(match get("RELAY_DOMAINS_FILE") {
            Some(path) => std::fs::read_to_string(&path)
                .map_err(|e| ConfigError::File { path: path.clone(), problem: e.to_string() })?,
            None => String::new(),
        }),
    };
    Ok(ReferralSettings {
        promotion,
        extra_disposable_domains,
        extra_relay_domains: relay_domains,
        email_allowlist: get("REFERRAL_EMAIL_ALLOWLIST"),
    })
}

fn money_settings(get: &dyn Fn(&str) -> Option<String>, mode: Mode) -> Result<MoneySettings, ConfigError> {
    let invalid = |key: &'static str, problem: String| ConfigError::Invalid { key, problem };
    let welcome_balance = match get("WELCOME_BALANCE") {
        Some(v) => Money::parse_usd(&v).map_err(|e| invalid("WELCOME_BALANCE", e.to_string()))?,
        None => Money::from_units(100_000_000),
    };
    let channel_multipliers =
        ChannelMultipliers::parse(get("CHANNEL_MULTIPLIERS").as_deref().unwrap_or(DEFAULT_CHANNEL_MULTIPLIERS))
            .map_err(|e| invalid("CHANNEL_MULTIPLIERS", e))?;
    let channel_models = ChannelModels::parse(get("CHANNEL_MODELS").as_deref().unwrap_or(DEFAULT_CHANNEL_MODELS))
        .map_err(|e| invalid("CHANNEL_MODELS", e))?;
    let topup_currency = get("TOPUP_CURRENCY").unwrap_or_else(|| "CNY".to_string()).to_ascii_uppercase();
    if topup_currency.len() != 3 || !topup_currency.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(invalid("TOPUP_CURRENCY", format!("{topup_currency:?} is not a three-letter currency code")));
    }
    // Amounts are kept in hundredths (cents, fen); Stripe counts these currencies in whole units.
    const ZERO_DECIMAL: &[&str] = &[
        "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
    ];
    if ZERO_DECIMAL.contains(&topup_currency.as_str()) {
        return Err(invalid("TOPUP_CURRENCY", format!("{topup_currency} has no cents; choose a two-decimal currency")));
    }
    let usd_per_topup_unit = match get("USD_PER_TOPUP_UNIT") {
        Some(v) => Money::parse_usd(&v)
            .ok()
            .filter(|m| m.is_positive())
            .map(Money::to_decimal)
            .ok_or_else(|| invalid("USD_PER_TOPUP_UNIT", format!("{v:?} is not a positive rate")))?,
        None => Decimal::new(14, 2),
    };
    let topup_options = match get("TOPUP_OPTIONS") {
        Some(v) => v
            .split(',')
            .map(|o| o.trim().parse::<i64>().ok().filter(|n| *n > 0))
            .collect::<Option<Vec<i64>>>()
            .ok_or_else(|| invalid("TOPUP_OPTIONS", format!("{v:?}: expected whole amounts such as 20,100,300")))?,
        None => vec![20, 100, 300],
    };
    let tiers = TierTable::parse(get("RATE_TIERS").as_deref().unwrap_or(DEFAULT_TIERS))
        .map_err(|e| invalid("RATE_TIERS", e))?;
    let stripe = match (get("STRIPE_SECRET_KEY"), get("STRIPE_WEBHOOK_SECRET")) {
        (Some(key), Some(webhook)) => Some(StripeSettings {
            secret_key: Secret::new(key),
            webhook_secret: Secret::new(webhook),
            api_base: get("STRIPE_API_BASE").unwrap_or_else(|| "https://api.stripe.com".to_string()),
        }),
        (None, None) => None,
        _ => {
            return Err(invalid(
                "STRIPE_SECRET_KEY",
                "set both STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET, or neither".into(),
            ))
        }
    };
    let test_payments = match get("TEST_PAYMENTS") {
        Some(v) => parse_bool("TEST_PAYMENTS", &v)?,
        // A server with real card payments set up does not offer free test money unless asked to.
        None => mode == Mode::Dev && stripe.is_none(),
    };
    Ok(MoneySettings {
        welcome_balance,
        price_table_path: get("PRICE_TABLE"),
        channel_multipliers,
        channel_models,
        topup_currency,
        usd_per_topup_unit,
        topup_options,
        tiers,
        stripe,
        test_payments,
    })
}

fn parse_base_url(raw: &str) -> Result<url::Url, ConfigError> {
    let invalid = |problem: String| ConfigError::Invalid { key: "PUBLIC_BASE_URL", problem };
    let url = url::Url::parse(raw).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid("expected an http(s) URL such as https://gatehouse.example.com".into()));
    }
    if url.path() != "/" || url.query().is_some() {
        return Err(invalid("give the origin only, without a path or query".into()));
    }
    Ok(url)
}

fn parse_or<T: std::str::FromStr>(key: &'static str, raw: Option<String>, default: Option<T>) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    match (raw, default) {
        (Some(v), _) => v.parse().map_err(|e: T::Err| ConfigError::Invalid { key, problem: format!("{v:?}: {e}") }),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(ConfigError::Invalid { key, problem: "missing".into() }),
    }
}

fn parse_bool(key: &'static str, raw: &str) -> Result<bool, ConfigError> {
    match raw.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError::Invalid { key, problem: format!("expected true or false, got {raw:?}") }),
    }
}

/// `KEY=VALUE` lines; `#` comments and blank lines ignored; values may be quoted.
pub fn parse_env_file(text: &str) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (key, value) = line.split_once('=').ok_or_else(|| format!("line {}: expected KEY=VALUE", n + 1))?;
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        out.insert(key.trim().to_string(), value.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_values(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn defaults_run_on_a_fresh_machine_in_dev_mode_with_the_dev_mailbox() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.mode, Mode::Dev);
        assert!(s.dev_mailbox);
        assert_eq!(s.database_url.expose(), DEFAULT_DATABASE_URL);
        assert_eq!(s.bind_addr.to_string(), "127.0.0.1:3000");
        assert!(!s.cookies_secure());
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let s = settings(&[
            ("DATABASE_URL", "postgres://gh:hunter2@db/gh"),
            ("SMTP_URL", "smtp://mailer:s3cret@mail.example.com:587?tls=required"),
        ])
        .unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("redacted"));
    }

    #[test]
    fn production_refuses_to_start_without_smtp() {
        let err =
            settings(&[("GATEHOUSE_MODE", "production"), ("PUBLIC_BASE_URL", "https://gh.example.com")]).unwrap_err();
        assert!(matches!(err, ConfigError::UnsafeForProduction(_)), "{err}");
    }

    #[test]
    fn production_refuses_to_start_with_the_dev_mailbox_on() {
        let err = settings(&[
            ("GATEHOUSE_MODE", "production"),
            ("PUBLIC_BASE_URL", "https://gh.example.com"),
            ("SMTP_URL", "smtp://localhost:25"),
            ("GATEHOUSE_DEV_MAILBOX", "true"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("dev mailbox"), "{err}");
    }

    #[test]
    fn production_with_smtp_and_a_public_url_starts_with_secure_cookies() {
        let s = settings(&[
            ("GATEHOUSE_MODE", "production"),
            ("PUBLIC_BASE_URL", "https://gh.example.com"),
            ("SMTP_URL", "smtp://localhost:25"),
        ])
        .unwrap();
        assert!(!s.dev_mailbox);
        assert!(s.cookies_secure());
    }

    #[test]
    fn bad_values_name_the_variable() {
        assert!(settings(&[("GATEHOUSE_MODE", "staging")]).unwrap_err().to_string().contains("GATEHOUSE_MODE"));
        assert!(settings(&[("PUBLIC_BASE_URL", "ftp://x")]).unwrap_err().to_string().contains("PUBLIC_BASE_URL"));
        assert!(settings(&[("PUBLIC_BASE_URL", "https://x.com/app")]).is_err());
        assert!(settings(&[("GATEHOUSE_ADDR", "nowhere")]).unwrap_err().to_string().contains("GATEHOUSE_ADDR"));
    }

    #[test]
    fn money_defaults_follow_the_seed_and_are_configurable() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.money.welcome_balance, Money::parse_usd("0.10").unwrap());
        assert_eq!(s.money.topup_currency, "CNY");
        assert_eq!(s.money.topup_options, vec![20, 100, 300]);
        assert!(s.money.test_payments && s.money.stripe.is_none());
        let s = settings(&[("WELCOME_BALANCE", "0"), ("RATE_TIERS", "0:5,10:50"), ("TOPUP_CURRENCY", "usd")]).unwrap();
        assert_eq!(s.money.welcome_balance, Money::ZERO);
        assert_eq!(s.money.tiers.tier_for(1000).rpm, 50);
        assert_eq!(s.money.topup_currency, "USD");
        assert!(settings(&[("WELCOME_BALANCE", "-1")]).unwrap_err().to_string().contains("WELCOME_BALANCE"));
        assert!(settings(&[("STRIPE_SECRET_KEY", "sk_test_x")]).is_err());
        assert!(settings(&[("USD_PER_TOPUP_UNIT", "0")]).is_err());
        assert!(settings(&[("TOPUP_CURRENCY", "jpy")]).unwrap_err().to_string().contains("no cents"));
        let with_stripe =
            settings(&[("STRIPE_SECRET_KEY", "sk_test_x"), ("STRIPE_WEBHOOK_SECRET", "whsec_x")]).unwrap();
        assert!(!with_stripe.money.test_payments, "real payments set up: no test payments unless asked");
    }

    #[test]
    fn production_refuses_test_payments() {
        let err = settings(&[
            ("GATEHOUSE_MODE", "production"),
            ("PUBLIC_BASE_URL", "https://gh.example.com"),
            ("SMTP_URL", "smtp://localhost:25"),
            ("TEST_PAYMENTS", "true"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("test payments"), "{err}");
    }

    #[test]
    fn env_files_allow_comments_quotes_and_export() {
        let m = parse_env_file("# c\n\nexport A=1\nB = \"two words\"\nC='x'\n").unwrap();
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "two words");
        assert_eq!(m["C"], "x");
        assert!(parse_env_file("nonsense").is_err());
    }
}
