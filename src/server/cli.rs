//! The operator's command line: `gatehouse audit` and `gatehouse admin ...` (promote, credit, record-payment,
//! disable, grant-package, create-codes, referrals, record-call). Each runs against the configured database
//! and exits; what changes anything is written to the operator log as done by `cli`.

use crate::server::config::Settings;
use crate::server::db::Db;
use crate::server::domain::account;
use crate::server::domain::audit;
use crate::server::domain::channels::{Scope, CLAUDE_CODE_SCOPE};
use crate::server::domain::ledger::{self, Grant, Settlement};
use crate::server::domain::money::Money;
use crate::server::domain::operator_actions::{self, OfflinePayment, Target};
use crate::server::domain::operator_log::Actor;
use crate::server::domain::packages::PackageSource;
use crate::server::domain::pricing::Usage;
use crate::server::domain::redemption::NewCodes;
use crate::server::domain::referral;
use crate::server::domain::referral::Decision;
use crate::server::domain::topups;
use crate::server::domain::unsettled;
use crate::server::live_pricing::LivePricing;
use crate::server::secrets::random_token;
use crate::server::time::{format_utc, now_ms, DAY_MS};
use crate::shared::email::Email;
use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

pub const USAGE: &str = "\
Usage:
  gatehouse                      serve (the default)
  gatehouse audit                check the money invariants; exit 1 on any breach
  gatehouse admin promote EMAIL | demote EMAIL
                                 give (or take) the operator role: the admin console at /admin
  gatehouse admin credit EMAIL AMOUNT --reason TEXT [--key IDEMPOTENCY_KEY]
                                 add (or with a leading - take) USD to a balance
  gatehouse admin record-payment EMAIL AMOUNT CURRENCY --method TEXT --reason TEXT [--key IDEMPOTENCY_KEY]
                                 record a payment made outside Stripe (bank transfer, Alipay ...): credited
                                 and counted toward the rate-limit tier; CURRENCY is the top-up currency or USD
  gatehouse admin disable EMAIL --reason TEXT | enable EMAIL --reason TEXT
                                 stop an account (its keys refused, its browsers signed out), or restart it
  gatehouse admin grant-package EMAIL AMOUNT [--title TEXT] [--scope cc-omg,web-chat:claude-*] [--days 30]
                                 [--source admin|promotion|referral|purchase] [--key IDEMPOTENCY_KEY]
  gatehouse admin create-codes AMOUNT [--count 1] [--uses 1] [--days N] [--note TEXT] [--reason TEXT]
                                 print new redemption codes worth AMOUNT USD each
  gatehouse admin referrals [--status held|rewarded|not_qualified|rejected]
                                 list referrals, newest first
  gatehouse admin referrals approve ID [--reason TEXT] | reject ID --reason TEXT
                                 decide a referral held for review (approve grants both packages)
  gatehouse admin invite-code disable CODE | enable CODE [--reason TEXT]
                                 stop (or restart) an account's invitation link
  gatehouse admin unsettled      list charges the database refused (set aside; also in `audit`)
  gatehouse admin unsettled retry ID | drop ID --reason TEXT
                                 charge a set-aside call now (after fixing its cause), or drop it uncharged
  gatehouse admin record-call EMAIL MODEL [--channel cc-omg] [--input N] [--output N] [--cache-read N]
                                 [--cache-write N] [--web-searches N]   dev mode only: charge a call as the proxy would
";

/// The whole help text: operator commands, then the benchmark's.
pub fn usage() -> String {
    format!("{USAGE}{}", crate::server::bench::USAGE)
}

/// True when the arguments name a command rather than serving.
pub fn is_command(args: &[String]) -> bool {
    !args.is_empty()
}

pub async fn run(args: Vec<String>, settings: Settings) -> ExitCode {
    if matches!(args.first().map(String::as_str), Some("help" | "--help" | "-h")) {
        print!("{}", usage());
        return ExitCode::SUCCESS;
    }
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["bench", rest @ ..] => return finish(crate::server::bench::run(rest).await),
        ["mock-upstream", rest @ ..] => return finish(mock_upstream(rest).await),
        ["bare-proxy", "--upstream", upstream, rest @ ..] => {
            return finish(bare_proxy(upstream, rest.first().copied()).await)
        }
        _ => {}
    }
    let db = match Db::connect(settings.database_url.expose()).await {
        Ok(db) => db,
        Err(e) => return fail(&format!("database: {e}")),
    };
    if let Err(e) = db.migrate().await {
        return fail(&format!("database: {e}"));
    }
    let result = match words.as_slice() {
        ["audit"] => return run_audit(&db).await,
        ["admin", verb @ ("promote" | "demote"), email] => promote(&db, email, *verb == "promote").await,
        ["admin", "credit", rest @ ..] => credit(&db, rest).await,
        ["admin", "record-payment", rest @ ..] => record_payment(&db, &settings, rest).await,
        ["admin", verb @ ("disable" | "enable"), rest @ ..] => disable(&db, rest, *verb == "disable").await,
        ["admin", "grant-package", rest @ ..] => grant(&db, rest).await,
        ["admin", "create-codes", rest @ ..] => create_codes(&db, rest).await,
        ["admin", "record-call", rest @ ..] => record_call(&db, &settings, rest).await,
        ["admin", "referrals", rest @ ..] => referrals(&db, &settings, rest).await,
        ["admin", "invite-code", verb @ ("disable" | "enable"), rest @ ..] => invite_code(&db, verb, rest).await,
        ["admin", "unsettled", rest @ ..] => unsettled_calls(&db, rest).await,
        _ => Err(format!("unknown command: {}\n\n{}", args.join(" "), usage())),
    };
    db.close().await;
    finish(result)
}

fn finish(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

async fn bare_proxy(upstream: &str, addr: Option<&str>) -> Result<(), String> {
    let addr = addr.unwrap_or("127.0.0.1:9200");
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    println!("bare proxy listening on http://{addr}, forwarding to {upstream}");
    tokio::select! {
        served = crate::server::bench::bare_proxy::serve(listener, upstream) => served.map_err(|e| e.to_string()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// `gatehouse mock-upstream [ADDR] [--latency-ms N] [--pace-ms N] [--chunks N]`.
async fn mock_upstream(args: &[&str]) -> Result<(), String> {
    let mut addr = "127.0.0.1:9100";
    let mut shape = crate::server::proxy::mock::Shape::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut number = || {
            let value = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
            value.parse::<u64>().map_err(|_| format!("{arg} takes a number, not {value:?}"))
        };
        match *arg {
            "--latency-ms" => shape.latency = Duration::from_millis(number()?),
            "--pace-ms" => shape.pace = Duration::from_millis(number()?),
            "--chunks" => shape.pieces = Some(usize::try_from(number()?.max(1)).unwrap_or(1)),
            other if !other.starts_with("--") => addr = other,
            other => {
                return Err(format!(
                    "unknown option {other} (mock-upstream takes ADDR, --latency-ms, --pace-ms, --chunks)"
                ))
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    println!("mock upstream listening on http://{bound} (POST /v1/messages, /v1/chat/completions), {shape:?}");
    tokio::select! {
        served = crate::server::proxy::mock::server::serve(listener, shape) => served.map_err(|e| e.to_string()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// `gatehouse admin unsettled [retry ID | drop ID --reason TEXT]`.
async fn unsettled_calls(db: &Db, words: &[&str]) -> Result<(), String> {
    let id = |text: &str| {
        text.parse::<i64>().map_err(|_| format!("{text:?} is not an id (see `gatehouse admin unsettled`)"))
    };
    match words {
        [] => {
            let calls = unsettled::list(db.pool()).await.map_err(|e| e.to_string())?;
            if calls.is_empty() {
                println!("no unsettled calls");
            }
            for u in calls {
                let c = &u.call;
                println!(
                    "{}  {}  account {}  {} on {}  official {}  request {}  refused: {}",
                    u.id,
                    format_utc(u.created_at),
                    c.user_id,
                    c.model.escape_debug(),
                    c.channel,
                    Money::from_units(c.official_units),
                    c.request_key,
                    u.error
                );
            }
            Ok(())
        }
        ["retry", n] => match unsettled::retry(db.pool(), id(n)?).await.map_err(|e| format!("still refused: {e}"))? {
            Some(done) => {
                println!(
                    "settled: bill {}, packages paid {}, balance paid {}",
                    done.bill_id, done.packages_paid, done.balance_paid
                );
                Ok(())
            }
            None => Err(format!("no unsettled call {n}")),
        },
        ["drop", n, rest @ ..] => {
            let a = parse_args(rest, &["reason"])?;
            let reason = a.options.get("reason").ok_or("drop needs --reason TEXT (it goes to the log)")?;
            if !unsettled::drop_call(db.pool(), id(n)?).await.map_err(|e| e.to_string())? {
                return Err(format!("no unsettled call {n}"));
            }
            tracing::warn!(id = %n, reason = %reason, "unsettled call dropped uncharged by an operator");
            println!("dropped unsettled call {n} uncharged: {reason}");
            Ok(())
        }
        _ => Err("usage: gatehouse admin unsettled [retry ID | drop ID --reason TEXT]".into()),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("gatehouse: {message}");
    ExitCode::from(2)
}

async fn run_audit(db: &Db) -> ExitCode {
    match audit::run(db.pool(), now_ms()).await {
        Ok(report) => {
            println!(
                "audited {} accounts, {} packages, {} bills, {} ledger entries",
                report.accounts, report.packages, report.bills, report.entries
            );
            for breach in &report.breaches {
                println!("BREACH: {}", breach.0);
            }
            if report.is_clean() {
                println!("clean: every invariant holds");
                ExitCode::SUCCESS
            } else {
                println!("{} breach(es)", report.breaches.len());
                ExitCode::from(1)
            }
        }
        Err(e) => fail(&format!("audit failed: {e}")),
    }
}

/// Positional arguments and `--name value` options.
struct Args<'a> {
    positional: Vec<&'a str>,
    options: HashMap<&'a str, &'a str>,
}

fn parse_args<'a>(words: &[&'a str], known: &[&str]) -> Result<Args<'a>, String> {
    let mut positional = Vec::new();
    let mut options = HashMap::new();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        if let Some(name) = w.strip_prefix("--") {
            if !known.contains(&name) {
                return Err(format!("unknown option --{name}"));
            }
            let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            options.insert(name, *value);
        } else {
            positional.push(*w);
        }
    }
    Ok(Args { positional, options })
}

async fn user_of(db: &Db, email: &str) -> Result<Target, String> {
    let email = Email::parse(email).map_err(|e| format!("{email}: {e}"))?;
    let user_id = account::user_id_by_email(db.pool(), email.normalized())
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no account for {email}; they must log in once first"))?;
    Ok(Target { user_id, email: email.normalized().to_string() })
}

fn money_arg(text: &str) -> Result<Money, String> {
    Money::parse_usd(text).map_err(|e| format!("{text}: {e}"))
}

/// The `--key` given, or a random one (a retry with the same key applies once).
fn key_option(a: &Args<'_>) -> Result<String, String> {
    match a.options.get("key") {
        Some(k) => Ok((*k).to_string()),
        None => random_token().map(|t| t.get(..22).unwrap_or_default().to_string()).map_err(|e| e.to_string()),
    }
}

async fn promote(db: &Db, email: &str, operator: bool) -> Result<(), String> {
    let target = user_of(db, email).await?;
    let changed =
        operator_actions::set_operator(db.pool(), &target, operator, now_ms()).await.map_err(|e| e.to_string())?;
    let state = if operator { "an operator" } else { "not an operator" };
    println!("{} is {state}{}", target.email, if changed { "" } else { " (unchanged)" });
    Ok(())
}

async fn credit(db: &Db, words: &[&str]) -> Result<(), String> {
    let a = parse_args(words, &["reason", "key"])?;
    let [email, amount] = a.positional.as_slice() else {
        return Err("usage: gatehouse admin credit EMAIL AMOUNT --reason TEXT".into());
    };
    let reason = a.options.get("reason").ok_or("--reason is required: say why, it is shown to the person")?;
    let amount = Money::parse_signed_usd(amount).map_err(|e| format!("{amount}: {e}"))?;
    let target = user_of(db, email).await?;
    let key = key_option(&a)?;
    let done = operator_actions::adjust_balance(db.pool(), Actor::CLI, &target, amount, reason, &key, now_ms())
        .await
        .map_err(|e| e.to_string())?;
    let balance = account::money_of(db.pool(), target.user_id).await.map_err(|e| e.to_string())?.map(|m| m.balance);
    let verb = if done.replayed { "already applied" } else { "applied" };
    println!("{verb}: {amount} to {email} (entry {}); balance now {}", done.entry_id, balance.unwrap_or_default());
    Ok(())
}

async fn record_payment(db: &Db, settings: &Settings, words: &[&str]) -> Result<(), String> {
    let a = parse_args(words, &["method", "reason", "key"])?;
    let [email, amount, currency] = a.positional.as_slice() else {
        return Err("usage: gatehouse admin record-payment EMAIL AMOUNT CURRENCY --method TEXT --reason TEXT".into());
    };
    let method = a.options.get("method").ok_or("--method is required: how it was paid, e.g. \"bank transfer\"")?;
    let reason = a.options.get("reason").ok_or("--reason is required: say why (e.g. the transfer's reference)")?;
    let amount_minor = topups::parse_minor(amount).map_err(|e| format!("{amount}: {e}"))?;
    let target = user_of(db, email).await?;
    let key = key_option(&a)?;
    let money = &settings.money;
    let done = operator_actions::record_offline_payment(
        db.pool(),
        Actor::CLI,
        &target,
        OfflinePayment { currency, amount_minor, method },
        (&money.topup_currency, money.usd_per_topup_unit),
        reason,
        &key,
        now_ms(),
    )
    .await
    .map_err(|e| e.to_string())?;
    let verb = if done.replayed { "already recorded" } else { "recorded" };
    let now = account::money_of(db.pool(), target.user_id).await.map_err(|e| e.to_string())?;
    let tier = now.map(|m| money.tiers.tier_for(m.paid_topups_minor).rpm).unwrap_or_default();
    println!("{verb}: {currency} {amount} for {email} (entry {}); tier now {tier} RPM", done.entry_id);
    Ok(())
}

async fn disable(db: &Db, words: &[&str], disabled: bool) -> Result<(), String> {
    let a = parse_args(words, &["reason"])?;
    let [email] = a.positional.as_slice() else {
        return Err("usage: gatehouse admin disable EMAIL --reason TEXT | enable EMAIL --reason TEXT".into());
    };
    let reason = a.options.get("reason").ok_or("--reason is required: say why, it is kept in the operator log")?;
    let target = user_of(db, email).await?;
    let changed = operator_actions::set_disabled(db.pool(), Actor::CLI, &target, disabled, reason, now_ms())
        .await
        .map_err(|e| e.to_string())?;
    let state = if disabled { "disabled" } else { "enabled" };
    println!("{} {state}{}", target.email, if changed { "" } else { " (it already was)" });
    if changed && disabled {
        println!(
            "running servers refuse its keys within a minute (their key caches expire); its browsers are signed out"
        );
    }
    Ok(())
}

async fn grant(db: &Db, words: &[&str]) -> Result<(), String> {
    let a = parse_args(words, &["title", "scope", "days", "source", "key", "reason"])?;
    let [email, amount] = a.positional.as_slice() else {
        return Err("usage: gatehouse admin grant-package EMAIL AMOUNT [--title T] [--scope ...] [--days N]".into());
    };
    let amount = money_arg(amount)?;
    let default_title = format!("Claude Code API {amount}");
    let title = a.options.get("title").copied().unwrap_or(&default_title);
    let scope = Scope::parse(a.options.get("scope").copied().unwrap_or(CLAUDE_CODE_SCOPE))
        .map_err(|e| format!("--scope: {e}"))?;
    let days: i64 =
        a.options.get("days").map(|d| d.parse()).transpose().map_err(|_| "--days must be a number")?.unwrap_or(30);
    let source = match a.options.get("source") {
        Some(s) => PackageSource::parse(s).ok_or("--source is one of admin, promotion, referral, purchase")?,
        None => PackageSource::Admin,
    };
    let target = user_of(db, email).await?;
    let key = format!("admin-grant:{}", key_option(&a)?);
    let reason = a.options.get("reason").copied().unwrap_or("granted from the command line");
    let grant = Grant {
        user_id: target.user_id,
        key: &key,
        title,
        scope: &scope,
        amount,
        lifetime_ms: days * DAY_MS,
        source,
        now: now_ms(),
    };
    let done = operator_actions::grant_package(db.pool(), Actor::CLI, &target, grant, reason)
        .await
        .map_err(|e| e.to_string())?;
    let verb = if done.replayed { "already granted" } else { "granted" };
    println!("{verb}: package {} \"{title}\" ({amount}, {}, {days} days) to {email}", done.package_id, scope.to_text());
    Ok(())
}

async fn create_codes(db: &Db, words: &[&str]) -> Result<(), String> {
    let a = parse_args(words, &["count", "uses", "days", "note", "reason"])?;
    let [amount] = a.positional.as_slice() else {
        return Err("usage: gatehouse admin create-codes AMOUNT [--count N] [--uses N] [--days N] [--note T]".into());
    };
    let amount = money_arg(amount)?;
    let number = |name: &str, default: i64| -> Result<i64, String> {
        a.options
            .get(name)
            .map(|v| v.parse::<i64>())
            .transpose()
            .map_err(|_| format!("--{name} must be a number"))
            .map(|v| v.unwrap_or(default))
    };
    let count = usize::try_from(number("count", 1)?).map_err(|_| "--count must be positive")?;
    let uses = number("uses", 1)?;
    let now = now_ms();
    let expires_at = a
        .options
        .get("days")
        .map(|d| d.parse::<i64>().map(|d| now + d * DAY_MS))
        .transpose()
        .map_err(|_| "--days must be a number")?;
    let note = a.options.get("note").copied().unwrap_or("");
    let reason = a.options.get("reason").copied().unwrap_or("created from the command line");
    let batch = NewCodes { count, amount, max_uses: uses, expires_at, note, now };
    let key = format!("cli:{}", random_token().map_err(|e| e.to_string())?);
    let codes =
        operator_actions::create_codes(db.pool(), Actor::CLI, batch, reason, &key).await.map_err(|e| e.to_string())?;
    let until = expires_at.map(|e| format!(", valid until {}", format_utc(e))).unwrap_or_default();
    eprintln!("{count} code(s) worth {amount}, {uses} use(s) each{until}. They are shown only now:");
    for code in codes {
        println!("{code}");
    }
    Ok(())
}

async fn referrals(db: &Db, settings: &Settings, words: &[&str]) -> Result<(), String> {
    let promotion = &settings.referral.promotion;
    match words {
        [verb @ ("approve" | "reject"), id, options @ ..] => {
            let a = parse_args(options, &["reason"])?;
            let id: i64 = id.parse().map_err(|_| format!("{id} is not a referral id"))?;
            let approve = *verb == "approve";
            let reason = match a.options.get("reason").copied() {
                Some(reason) => reason,
                None if approve => "",
                None => return Err("reject needs --reason TEXT (the inviter reads it)".into()),
            };
            let decision =
                operator_actions::decide_referral(db.pool(), Actor::CLI, promotion, id, approve, reason, now_ms())
                    .await
                    .map_err(|e| e.to_string())?;
            match decision {
                Decision::NoSuchReferral => Err(format!("no referral {id}")),
                Decision::NotHeld(status) => {
                    println!("referral {id} is {status}, not held; nothing changed");
                    Ok(())
                }
                Decision::Decided { status, .. } => {
                    println!("referral {id}: {status}");
                    Ok(())
                }
            }
        }
        rest => {
            let a = parse_args(rest, &["status"])?;
            if !a.positional.is_empty() {
                return Err("usage: gatehouse admin referrals [--status S] | approve ID | reject ID".into());
            }
            let rows = referral::all(db.pool(), a.options.get("status").copied()).await.map_err(|e| e.to_string())?;
            println!(
                "{:>6}  {:<16}  {:<13}  {:<30}  {:<30}  reason",
                "id", "date (UTC)", "status", "inviter", "invitee"
            );
            for r in &rows {
                println!(
                    "{:>6}  {:<16}  {:<13}  {:<30}  {:<30}  {}",
                    r.id,
                    format_utc(r.created_at).trim_end_matches(" UTC"),
                    r.status,
                    r.inviter_email,
                    r.invitee_email,
                    crate::server::referral_view::reason_text(&r.reason, crate::i18n::Locale::en)
                );
            }
            eprintln!("{} referral(s)", rows.len());
            Ok(())
        }
    }
}

async fn invite_code(db: &Db, verb: &str, words: &[&str]) -> Result<(), String> {
    let a = parse_args(words, &["reason"])?;
    let [code] = a.positional.as_slice() else {
        return Err("usage: gatehouse admin invite-code disable CODE | enable CODE [--reason TEXT]".into());
    };
    let disabled = verb == "disable";
    let reason = a.options.get("reason").copied().unwrap_or("changed from the command line");
    operator_actions::set_invite_code_disabled(db.pool(), Actor::CLI, code, disabled, reason, now_ms())
        .await
        .map_err(|e| e.to_string())?;
    println!("invite code {} {}", code.to_ascii_uppercase(), if disabled { "disabled" } else { "enabled" });
    Ok(())
}

async fn record_call(db: &Db, settings: &Settings, words: &[&str]) -> Result<(), String> {
    if !settings.is_dev() {
        return Err("record-call is a demo tool and runs in dev mode only".into());
    }
    let a = parse_args(words, &["channel", "input", "output", "cache-read", "cache-write", "web-searches"])?;
    let [email, model] = a.positional.as_slice() else {
        return Err("usage: gatehouse admin record-call EMAIL MODEL [--channel C] [--input N] [--output N]".into());
    };
    let tokens = |name: &str| -> Result<u64, String> {
        a.options
            .get(name)
            .map(|v| v.parse::<u64>())
            .transpose()
            .map_err(|_| format!("--{name} must be a token count"))
            .map(|v| v.unwrap_or(0))
    };
    let usage = Usage {
        input: tokens("input")?,
        output: tokens("output")?,
        cache_write_5m: tokens("cache-write")?,
        cache_write_1h: 0,
        cache_read: tokens("cache-read")?,
        web_searches: tokens("web-searches")?,
        images: 0,
    };
    let channel = a.options.get("channel").copied().unwrap_or("cc-omg");
    // The prices in force, as the server charges: the newest saved version, or the configuration's.
    let configured = crate::server::startup::load_pricing(settings).map_err(|e| e.to_string())?;
    let prices = LivePricing::load(db, configured).await.map_err(|e| e.to_string())?.current();
    let official =
        prices.table.cost(model, &usage).ok_or_else(|| format!("{model} has no price in the price table"))?;
    let multiplier = prices.multipliers.for_channel(channel);
    let user_id = user_of(db, email).await?.user_id;
    let request_key = format!("cli:{}", random_token().map_err(|e| e.to_string())?.get(..22).unwrap_or_default());
    let done = ledger::settle(
        db.pool(),
        Settlement {
            facts: Default::default(),
            user_id,
            request_key: &request_key,
            api_key_id: None,
            key_name: Some("record-call"),
            channel,
            model,
            usage,
            official,
            multiplier,
            now: now_ms(),
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    println!(
        "bill {}: {model} on {channel}, official {official}, packages paid {}, balance paid {}",
        done.bill_id, done.packages_paid, done.balance_paid
    );
    Ok(())
}
