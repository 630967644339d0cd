//! `gatehouse bench`: what Gatehouse's full path costs over the upstream alone. It starts the mock
//! upstream as an HTTP server and a Gatehouse instance whose provider is that server, then drives the same
//! requests at both (the mock directly, and through Gatehouse with a key: auth, rate limit, hold, upstream,
//! settlement) and prints latency at concurrency 1, requests/s at higher concurrency, and time to first
//! byte of streams. Afterwards it checks that every successful call has exactly one bill and the audit
//! is clean. Figures from one run are comparable with each other, not with another machine's.

use crate::server::config::Settings;
use crate::server::domain::ledger::{self, Credit, EntryKind};
use crate::server::domain::money::Money;
use crate::server::domain::{audit, keys};
use crate::server::proxy::mock_server;
use crate::server::startup::Application;
use crate::server::time::now_ms;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const USAGE: &str = "\
  gatehouse bench [--database URL] [--redis URL] [--requests 2000] [--concurrency 32] [--seconds 5]
                                 measure the proxy's added latency and throughput against the mock upstream
                                 (default database: a new SQLite file in a temporary folder)
  gatehouse mock-upstream [ADDR]   serve the mock upstream over HTTP (default 127.0.0.1:9100)
";

struct Options {
    database_url: Option<String>,
    redis_url: Option<String>,
    requests: usize,
    concurrency: usize,
    seconds: u64,
}

fn options(args: &[&str]) -> Result<Options, String> {
    let mut o = Options { database_url: None, redis_url: None, requests: 2000, concurrency: 32, seconds: 5 };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().copied().ok_or_else(|| format!("{flag} needs a value"));
        let number = |v: &str| v.parse::<usize>().map_err(|_| format!("{flag} takes a number, not {v:?}"));
        match *flag {
            "--database" => o.database_url = Some(value()?.to_string()),
            "--redis" => o.redis_url = Some(value()?.to_string()),
            "--requests" => o.requests = number(value()?)?.max(10),
            "--concurrency" => o.concurrency = number(value()?)?.max(1),
            "--seconds" => o.seconds = u64::try_from(number(value()?)?).unwrap_or(5).max(1),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok(o)
}

/// Latencies in microseconds, sorted.
struct Sample(Vec<u64>);

impl Sample {
    fn pct(&self, p: f64) -> u64 {
        if self.0.is_empty() {
            return 0;
        }
        let last = self.0.len() - 1;
        // Nearest rank: index round(p * last).
        let idx = ((last as f64) * p).round() as usize;
        self.0[idx.min(last)]
    }
}

#[derive(Clone)]
struct Target {
    url: String,
    key: Option<String>,
}

fn request(client: &reqwest::Client, t: &Target, body: &'static str) -> reqwest::RequestBuilder {
    let mut r = client.post(&t.url).header("content-type", "application/json").body(body);
    if let Some(k) = &t.key {
        r = r.header("x-api-key", k);
    }
    r
}

const JSON_BODY: &str = r#"{"model":"claude-haiku-4-5","max_tokens":64,"messages":[{"role":"user","content":"Say hello to the benchmark."}]}"#;
const STREAM_BODY: &str = r#"{"model":"claude-haiku-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Say hello to the benchmark."}]}"#;

/// `n` calls one after another; latency of each whole response (or of its first byte when `first_byte`).
async fn sequential(
    client: &reqwest::Client,
    t: &Target,
    body: &'static str,
    n: usize,
    first_byte: bool,
) -> Result<Sample, String> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let mut res = request(client, t, body).send().await.map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("{} answered {}: {}", t.url, res.status(), res.text().await.unwrap_or_default()));
        }
        if first_byte {
            res.chunk().await.map_err(|e| e.to_string())?;
            out.push(start.elapsed().as_micros() as u64);
            while res.chunk().await.map_err(|e| e.to_string())?.is_some() {}
        } else {
            res.bytes().await.map_err(|e| e.to_string())?;
            out.push(start.elapsed().as_micros() as u64);
        }
    }
    out.sort_unstable();
    Ok(Sample(out))
}

/// `workers` loops calling for `secs` seconds; successful calls per second and their latencies.
async fn load(client: &reqwest::Client, t: &Target, workers: usize, secs: u64) -> (f64, Sample, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, t, stop) = (client.clone(), t.clone(), Arc::clone(&stop));
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failed = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let s = Instant::now();
                match request(&client, &t, JSON_BODY).send().await {
                    Ok(r) if r.status().is_success() => {
                        if r.bytes().await.is_ok() {
                            lat.push(s.elapsed().as_micros() as u64);
                        } else {
                            failed += 1;
                        }
                    }
                    _ => failed += 1,
                }
            }
            (lat, failed)
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut failed = 0;
    for t in tasks {
        if let Ok((lat, f)) = t.await {
            all.extend(lat);
            failed += f;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    (all.len() as f64 / elapsed, Sample(all), failed)
}

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("gatehouse-bench-{}-{name}", std::process::id()))
}

pub async fn run(args: &[&str]) -> Result<(), String> {
    let o = options(args)?;
    // The mock upstream, over HTTP like a real provider.
    let mock_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let mock_url = format!("http://{}", mock_listener.local_addr().map_err(|e| e.to_string())?);
    tokio::spawn(mock_server::serve(mock_listener));

    let providers = temp_path("providers.conf");
    std::fs::write(&providers, format!("mock-http anthropic {mock_url} -\nmock-http-openai openai {mock_url} -\n"))
        .map_err(|e| e.to_string())?;
    let sqlite = temp_path("db.sqlite");
    let database_url = o.database_url.clone().unwrap_or_else(|| format!("sqlite://{}", sqlite.display()));
    let mut values: HashMap<String, String> = [
        ("GATEHOUSE_ADDR", "127.0.0.1:0".to_string()),
        ("DATABASE_URL", database_url.clone()),
        ("UPSTREAM_PROVIDERS_FILE", providers.display().to_string()),
        // One tier with room for the whole run: the benchmark measures the limiter, not its refusals.
        ("RATE_TIERS", "0:100000000".to_string()),
        ("WELCOME_BALANCE", "0".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Some(r) = &o.redis_url {
        values.insert("REDIS_URL".into(), r.clone());
        values.insert("REDIS_KEY_PREFIX".into(), format!("gatehouse-bench-{}", now_ms()));
    }
    let settings = Settings::from_values(&values).map_err(|e| e.to_string())?;
    let app = Application::build(settings).await.map_err(|e| e.to_string())?;
    let state = app.state().clone();
    let base = app.public_url().to_string();
    tokio::spawn(app.run_until(std::future::pending()));

    // One account with ample funds and a key.
    let pool = state.db.pool();
    let email = format!("bench-{}@example.com", now_ms());
    let (user_id,): (i64,) = sqlx::query_as(
        "INSERT INTO users (email, email_normalized, created_at, last_login_at) VALUES ($1, $1, $2, $2) RETURNING id",
    )
    .bind(&email)
    .bind(now_ms())
    .fetch_one(pool)
    .await
    .map_err(|e| e.to_string())?;
    let credit = Credit {
        user_id,
        key: &format!("bench-funds-{user_id}"),
        kind: EntryKind::Adjustment,
        amount: Money::usd(1_000_000),
        paid_minor: 0,
        memo: "benchmark funds",
        now: now_ms(),
    };
    ledger::credit_now(pool, credit).await.map_err(|e| e.to_string())?;
    let new_key = keys::NewKey {
        user_id,
        name: "bench",
        expires_at: None,
        spend_cap: None,
        models: &[],
        can_manage: false,
        now: now_ms(),
    };
    let (_, secret) = keys::create(pool, new_key).await.map_err(|e| e.to_string())?;

    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let direct = Target { url: format!("{mock_url}/v1/messages"), key: None };
    let through = Target { url: format!("{base}/v1/messages"), key: Some(secret) };
    let backend = if database_url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
    let limiter = if o.redis_url.is_some() { "Redis" } else { "memory" };
    println!("Gatehouse benchmark: {backend}, rate limits in {limiter}, mock upstream over HTTP at {mock_url}");

    // Warm both paths (connections, caches, the database's pages).
    for t in [&direct, &through] {
        sequential(&client, t, JSON_BODY, 200, false).await?;
    }
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let n = o.requests;
    let d1 = sequential(&client, &direct, JSON_BODY, n, false).await?;
    let g1 = sequential(&client, &through, JSON_BODY, n, false).await?;
    let row = |what: &str, d: u64, g: u64| {
        (what.to_string(), format!("{d} / {g}"), format!("{:+}", i128::from(g) - i128::from(d)))
    };
    rows.push(row("latency c=1 p50 (us)", d1.pct(0.5), g1.pct(0.5)));
    rows.push(row("latency c=1 p99 (us)", d1.pct(0.99), g1.pct(0.99)));
    let ds = sequential(&client, &direct, STREAM_BODY, n / 2, true).await?;
    let gs = sequential(&client, &through, STREAM_BODY, n / 2, true).await?;
    rows.push(row("stream first byte c=1 p50 (us)", ds.pct(0.5), gs.pct(0.5)));
    rows.push(row("stream first byte c=1 p99 (us)", ds.pct(0.99), gs.pct(0.99)));
    let (d_rps, d_lat, d_fail) = load(&client, &direct, o.concurrency, o.seconds).await;
    let (g_rps, g_lat, g_fail) = load(&client, &through, o.concurrency, o.seconds).await;
    let c = o.concurrency;
    rows.push((
        format!("requests/s c={c}"),
        format!("{d_rps:.0} / {g_rps:.0}"),
        format!("{:.0}% of direct", if d_rps > 0.0 { 100.0 * g_rps / d_rps } else { 0.0 }),
    ));
    rows.push(row(&format!("latency c={c} p50 (us)"), d_lat.pct(0.5), g_lat.pct(0.5)));
    rows.push(row(&format!("latency c={c} p99 (us)"), d_lat.pct(0.99), g_lat.pct(0.99)));

    println!();
    println!("{:<34} {:>22} {:>16}", "measure", "mock direct / Gatehouse", "Gatehouse adds");
    for (what, v, added) in &rows {
        println!("{what:<34} {v:>22} {added:>16}");
    }

    // Every successful call through Gatehouse has exactly one bill, and the books balance.
    let settled = state.settled(Duration::from_secs(60)).await;
    let through_ok = 200 + n + n / 2 + g_lat.0.len();
    let (bills,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM bills WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(pool)
        .await
        .map_err(|e| e.to_string())?;
    let report = audit::run(pool, now_ms()).await.map_err(|e| e.to_string())?;
    println!();
    println!(
        "successful calls through Gatehouse: {through_ok}; bills written: {bills}; failed calls: direct {d_fail}, Gatehouse {g_fail}"
    );
    println!(
        "audit: {}",
        if report.is_clean() { "clean".to_string() } else { format!("{} breaches", report.breaches.len()) }
    );
    let _ = std::fs::remove_file(&providers);
    if o.database_url.is_none() {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", sqlite.display()));
        }
    }
    if !settled || i64::try_from(through_ok).unwrap_or(-1) != bills || !report.is_clean() {
        return Err("the books do not match the calls made (see above)".into());
    }
    Ok(())
}
