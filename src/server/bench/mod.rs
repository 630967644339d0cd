//! `gatehouse bench`: what Gatehouse's full path costs, measured in one run against its own baselines.
//!
//! It starts three processes of this binary: the mock upstream (`gatehouse mock-upstream`), a bare
//! pass-through proxy in front of it (`gatehouse bare-proxy`: no auth, no billing, the same HTTP client),
//! and Gatehouse in production mode with accounts and keys made for the run, its provider being that mock.
//! Then it drives the same requests at all three and prints a table: latency at concurrency 1, requests/s
//! at concurrency 32, streams' time to first byte, how many streams Gatehouse holds at once without
//! stalls, resident memory (idle, per key after many distinct keys, over a soak), and whether every
//! successful call has exactly one bill and the audit is clean (after a graceful stop, which writes every
//! queued charge). The machine is shared and noisy: compare figures within one run, not across runs.

pub mod bare_proxy;
pub mod load;

use crate::server::db::Db;
use crate::server::domain::audit;
use crate::server::domain::ledger::{self, Credit, EntryKind};
use crate::server::domain::money::Money;
use crate::server::secrets::{hash_token, random_token};
use crate::server::time::now_ms;
use load::{Sample, Target, JSON_BODY, STREAM_BODY};
use std::time::Duration;
use tokio::process::{Child, Command};

pub const USAGE: &str = "\
  gatehouse bench [--database URL] [--redis URL] [--requests 2000] [--concurrency 32] [--seconds 5]
                  [--keys 1000] [--memory-keys 100000] [--streams 2000] [--soak-secs 0]
                  [--mock-latency-ms 0] [--mock-chunks N] [--wrap 'COMMAND ARGS']
                                 measure Gatehouse against the mock upstream and a bare proxy (see README);
                                 --wrap runs Gatehouse under a command, e.g. 'valgrind --tool=callgrind'
  gatehouse mock-upstream [ADDR] [--latency-ms 0] [--pace-ms 0] [--chunks N]
                                 serve the mock upstream over HTTP (default 127.0.0.1:9100); N text pieces
                                 per streamed answer (default: one every three words)
  gatehouse bare-proxy --upstream URL [ADDR]
                                 a pass-through proxy with nothing else, the benchmark's baseline
";

struct Options {
    database_url: Option<String>,
    redis_url: Option<String>,
    requests: usize,
    concurrency: usize,
    seconds: f64,
    keys: usize,
    memory_keys: usize,
    streams: usize,
    soak_secs: u64,
    mock_latency_ms: u64,
    mock_chunks: Option<usize>,
    /// A command (with its arguments) Gatehouse runs under, for a profiler: `valgrind --tool=callgrind`.
    wrap: Vec<String>,
}

fn options(args: &[&str]) -> Result<Options, String> {
    let mut o = Options {
        database_url: None,
        redis_url: None,
        requests: 2000,
        concurrency: 32,
        seconds: 5.0,
        keys: 1000,
        memory_keys: 100_000,
        streams: 2000,
        soak_secs: 0,
        mock_latency_ms: 0,
        mock_chunks: None,
        wrap: Vec::new(),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().copied().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|_| format!("{flag} takes a number, not {value:?}"));
        match *flag {
            "--database" => o.database_url = Some(value.to_string()),
            "--redis" => o.redis_url = Some(value.to_string()),
            "--requests" => o.requests = number()?.max(10),
            "--concurrency" => o.concurrency = number()?.max(1),
            "--seconds" => o.seconds = number()?.max(1) as f64,
            "--keys" => o.keys = number()?.max(1),
            "--memory-keys" => o.memory_keys = number()?,
            "--streams" => o.streams = number()?,
            "--soak-secs" => o.soak_secs = u64::try_from(number()?).unwrap_or(0),
            "--mock-latency-ms" => o.mock_latency_ms = u64::try_from(number()?).unwrap_or(0),
            "--mock-chunks" => o.mock_chunks = Some(number()?.max(1)),
            "--wrap" => o.wrap = value.split_whitespace().map(str::to_string).collect(),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    Ok(o)
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// Starts this binary with `args` and `env`, and waits until `port` accepts connections.
/// With `wrap`, this binary runs under that command (a profiler, which also starts slower).
async fn start(args: &[&str], env: &[(&str, String)], port: u16, wrap: &[String]) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cmd = match wrap.split_first() {
        Some((program, wrap_args)) => {
            let mut cmd = Command::new(program);
            cmd.args(wrap_args).arg(exe);
            cmd
        }
        None => Command::new(exe),
    };
    cmd.args(args).kill_on_drop(true).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().map_err(|e| format!("cannot start {args:?}: {e}"))?;
    let tries = if wrap.is_empty() { 300 } else { 2400 };
    for _ in 0..tries {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(child);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("{args:?} did not start listening on port {port}"))
}

/// Resident memory of a process in bytes (Linux).
fn rss(pid: Option<u32>) -> u64 {
    let Some(pid) = pid else { return 0 };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// CPU time (user + system) a process has used, in microseconds (Linux; clock ticks of 10 ms).
fn cpu_micros(pid: Option<u32>) -> u64 {
    let Some(pid) = pid else { return 0 };
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0 };
    // Fields after the command name (which may hold spaces) start at its closing parenthesis.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return 0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are the 14th and 15th fields of the line; here counted from the state (3rd).
    (ticks(11) + ticks(12)) * 10_000
}

/// CPU time of every process whose command name is `comm` (PostgreSQL's server processes, `redis-server`),
/// in microseconds: the services' share of the calls when they run on this machine.
fn cpu_micros_named(comm: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == comm))
        .map(|pid| cpu_micros(Some(pid)))
        .sum()
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_048_576.0)
}

/// Accounts and keys for the run: `keys` keys, 50 per account, each account with ample funds.
async fn make_keys(db: &Db, run: &str, keys: usize) -> Result<Vec<String>, String> {
    let mut tx = db.pool().begin().await.map_err(|e| e.to_string())?;
    let mut secrets = Vec::with_capacity(keys);
    let now = now_ms();
    for account in 0..keys.div_ceil(50) {
        let email = format!("bench-{run}-{account}@example.com");
        let (user_id,): (i64,) = sqlx::query_as(
            "INSERT INTO users (email, email_normalized, created_at, last_login_at) VALUES ($1, $1, $2, $2) RETURNING id",
        )
        .bind(&email)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
        let credit = Credit {
            user_id,
            key: &format!("bench-funds-{run}-{user_id}"),
            kind: EntryKind::Adjustment,
            amount: Money::usd(1_000_000),
            paid_minor: 0,
            memo: "benchmark funds",
            now,
        };
        ledger::credit(&mut tx, credit).await.map_err(|e| e.to_string())?;
        for _ in 0..50.min(keys - secrets.len()) {
            let secret = format!("sk-gh-{}", random_token().map_err(|e| e.to_string())?);
            sqlx::query(
                "INSERT INTO api_keys (user_id, key_hash, prefix, name, created_at, models) VALUES ($1, $2, $3, 'bench', $4, '')",
            )
            .bind(user_id)
            .bind(hash_token(&secret))
            .bind(format!("{}…", &secret[..10]))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| e.to_string())?;
            secrets.push(secret);
        }
    }
    tx.commit().await.map_err(|e| e.to_string())?;
    Ok(secrets)
}

struct Row {
    what: String,
    direct: String,
    bare: String,
    gatehouse: String,
    verdict: String,
}

/// Keys whose first call is measured (read from the database, not yet cached).
const COLD_KEYS: usize = 500;
/// Gatehouse's requests/s at the load's concurrency as a share of the bare proxy's, at least: the one
/// target of every surface and every load tool (the benchmark's driver, wrk and oha).
const SHARE_TARGET: f64 = 80.0;
/// What Gatehouse may add to the bare proxy's latency at concurrency 1 (p50, p99), in microseconds.
const ADDED_P50_US: u64 = 50;
const ADDED_P99_US: u64 = 150;

/// The verdict on a share of the bare proxy's requests/s.
fn share_verdict(ratio: f64) -> String {
    format!(
        "{ratio:.0}% of bare (target >= {SHARE_TARGET:.0}%): {}",
        if ratio >= SHARE_TARGET { "met" } else { "missed" }
    )
}

fn latency_row(what: &str, d: u64, b: u64, g: u64, budget_us: u64) -> Row {
    let added = i128::from(g) - i128::from(b);
    let met = if added <= i128::from(budget_us) { "met" } else { "missed" };
    Row {
        what: what.into(),
        direct: d.to_string(),
        bare: b.to_string(),
        gatehouse: g.to_string(),
        verdict: format!("{added:+} us vs bare (target <= {budget_us}): {met}"),
    }
}

pub async fn run(args: &[&str]) -> Result<(), String> {
    let o = options(args)?;
    let run = now_ms().to_string();
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-{run}"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (mock_port, bare_port, gh_port) = (free_port()?, free_port()?, free_port()?);
    let mock_url = format!("http://127.0.0.1:{mock_port}");
    let mut mock_args = vec![
        "mock-upstream".to_string(),
        format!("127.0.0.1:{mock_port}"),
        "--latency-ms".to_string(),
        o.mock_latency_ms.to_string(),
    ];
    if let Some(n) = o.mock_chunks {
        mock_args.extend(["--chunks".to_string(), n.to_string()]);
    }
    let mock_args: Vec<&str> = mock_args.iter().map(String::as_str).collect();
    let mock = start(&mock_args, &[], mock_port, &[]).await?;
    let bare_proxy =
        start(&["bare-proxy", "--upstream", &mock_url, &format!("127.0.0.1:{bare_port}")], &[], bare_port, &[]).await?;

    let database_url = o.database_url.clone().unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.display()));
    let db = Db::connect(&database_url).await.map_err(|e| e.to_string())?;
    db.migrate().await.map_err(|e| e.to_string())?;
    let keys = make_keys(&db, &format!("{run}-main"), o.keys).await?;
    let memory_keys = make_keys(&db, &format!("{run}-mem"), o.memory_keys).await?;
    // Keys called once each, one at a time: the latency of a key's first call (read from the database).
    let cold_keys = make_keys(&db, &format!("{run}-cold"), COLD_KEYS).await?;

    let providers = dir.join("providers.conf");
    std::fs::write(&providers, format!("mock-http anthropic {mock_url} -\nmock-http-openai openai {mock_url} -\n"))
        .map_err(|e| e.to_string())?;
    let base = format!("http://127.0.0.1:{gh_port}");
    let mut env = vec![
        ("GATEHOUSE_MODE", "production".to_string()),
        ("GATEHOUSE_ADDR", format!("127.0.0.1:{gh_port}")),
        ("PUBLIC_BASE_URL", base.clone()),
        // Production needs a mail relay configured; the benchmark sends no mail.
        ("SMTP_URL", "smtp://127.0.0.1:2525".to_string()),
        ("DATABASE_URL", database_url.clone()),
        ("UPSTREAM_PROVIDERS_FILE", providers.display().to_string()),
        // One tier with room for the whole run: the benchmark measures the limiter, not its refusals.
        ("RATE_TIERS", "0:100000000".to_string()),
        ("RUST_LOG", "warn".to_string()),
    ];
    if let Some(r) = &o.redis_url {
        env.push(("REDIS_URL", r.clone()));
        env.push(("REDIS_KEY_PREFIX", format!("gatehouse-bench-{run}")));
    }
    let mut gatehouse = start(&[], &env, gh_port, &o.wrap).await?;
    let pid = gatehouse.id();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_rss = rss(pid);

    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(4096)
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let direct = Target::new(format!("{mock_url}/v1/messages"), vec![]);
    let bare = Target::new(format!("http://127.0.0.1:{bare_port}/v1/messages"), vec![]);
    let through = Target::new(format!("{base}/v1/messages"), keys.clone());
    let backend = if database_url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
    let limiter = if o.redis_url.is_some() { "Redis" } else { "memory" };
    println!(
        "Gatehouse benchmark: {backend}, rate limits in {limiter}, {} keys over {} accounts, production mode",
        keys.len(),
        keys.len().div_ceil(50)
    );
    println!(
        "mock upstream: {} ms latency, {} text pieces per stream",
        o.mock_latency_ms,
        o.mock_chunks.map_or_else(|| "default".to_string(), |n| n.to_string())
    );

    // Every key is called once before the latency is measured, so the figures are of calls whose key is
    // cached (as a key in use stays: see `hot_cache`); a key's first call is measured on its own below.
    let mut ok_through = 0usize;
    for t in [&direct, &bare, &through] {
        let warmed = sequential_warm(&client, t).await?;
        if std::ptr::eq(t, &through) {
            ok_through += warmed;
        }
    }
    let n = o.requests;
    let lat: Vec<Sample> = {
        let mut v = Vec::new();
        for t in [&direct, &bare, &through] {
            v.push(load::sequential(&client, t, JSON_BODY, n, false).await?);
        }
        v
    };
    ok_through += n;
    let cold =
        load::sequential(&client, &Target::new(through.url.clone(), cold_keys.clone()), JSON_BODY, COLD_KEYS, false)
            .await?;
    ok_through += COLD_KEYS;
    let ttfb: Vec<Sample> = {
        let mut v = Vec::new();
        for t in [&direct, &bare, &through] {
            v.push(load::sequential(&client, t, STREAM_BODY, n / 2, true).await?);
        }
        v
    };
    ok_through += n / 2;
    // CPU each process spent per call at c=32: the mock's when called directly, and each proxy's own.
    let mut loads = Vec::new();
    let mut cpu_per_call = Vec::new();
    // PostgreSQL's and Redis's processes, when used, spend CPU on the same cores for Gatehouse's calls.
    let mut services: Vec<(&str, &str, f64)> = Vec::new();
    if database_url.starts_with("postgres") {
        services.push(("PostgreSQL", "postgres", 0.0));
    }
    if o.redis_url.is_some() {
        services.push(("Redis", "redis-server", 0.0));
    }
    for (t, busy) in [(&direct, mock.id()), (&bare, bare_proxy.id()), (&through, pid)] {
        // The services' CPU is read around Gatehouse's load only (zip below skips the others).
        let services_before: Vec<u64> = if std::ptr::eq(t, &through) {
            services.iter().map(|(_, comm, _)| cpu_micros_named(comm)).collect()
        } else {
            Vec::new()
        };
        let before = cpu_micros(busy);
        let l = load::load(&client, t, JSON_BODY, o.concurrency, o.seconds).await;
        cpu_per_call.push(cpu_micros(busy).saturating_sub(before) as f64 / l.ok.max(1) as f64);
        for ((_, comm, spent), before) in services.iter_mut().zip(services_before) {
            *spent = cpu_micros_named(comm).saturating_sub(before) as f64 / l.ok.max(1) as f64;
        }
        loads.push(l);
    }
    ok_through += loads[2].ok;
    // The same load through wrk (a C load tool), when it is installed: a second opinion on requests/s.
    let wrk: Vec<Option<load::Wrk>> =
        [&direct, &bare, &through].iter().map(|t| load::wrk(t, o.concurrency, o.seconds as u64, &dir)).collect();
    // wrk counts the answers it read; calls still running when it stopped were answered and billed too.
    let (wrk_ok, wrk_cut) = wrk[2].map_or((0, 0), |w| (w.ok, o.concurrency));
    ok_through += wrk_ok;
    // And through oha with one key, as a new user would try it, when it is installed.
    let oha: Vec<Option<load::Wrk>> =
        [&direct, &bare, &through].iter().map(|t| load::oha(t, o.concurrency, o.seconds as u64)).collect();
    let (oha_ok, oha_cut) = oha[2].map_or((0, 0), |w| (w.ok, o.concurrency));
    ok_through += oha_ok;
    let wrk_cut = wrk_cut + oha_cut;
    let busy_rss = rss(pid);

    // Every other API surface, against the bare proxy forwarding the same request: c=1 latency, and c=32
    // requests/s with the keys of many accounts and with one key (one hot account).
    let mut surfaces = Vec::new();
    for (name, path, body, streamed) in load::SURFACES {
        let bare_t = Target::new(format!("http://127.0.0.1:{bare_port}{path}"), vec![]);
        let many = Target::new(format!("{base}{path}"), keys.clone());
        let hot = Target::new(format!("{base}{path}"), keys.iter().take(1).cloned().collect());
        let n = (o.requests / 4).max(10);
        let lat_bare = load::sequential(&client, &bare_t, body, n, false).await?;
        let lat_gh = load::sequential(&client, &many, body, n, false).await?;
        let first_bare = load::sequential(&client, &bare_t, body, n, true).await?;
        let first_gh = load::sequential(&client, &many, body, n, true).await?;
        ok_through += 2 * n;
        let l_bare = load::load(&client, &bare_t, body, o.concurrency, o.seconds).await;
        let l_many = load::load(&client, &many, body, o.concurrency, o.seconds).await;
        let l_hot = load::load(&client, &hot, body, o.concurrency, o.seconds).await;
        ok_through += l_many.ok + l_hot.ok;
        surfaces.push((*name, *streamed, lat_bare, lat_gh, first_bare, first_gh, l_bare, l_many, l_hot));
    }

    // Distinct keys before the streams: memory the streams used is returned lazily, and would hide theirs.
    let before_keys = rss(pid);
    let memory_ok = if memory_keys.is_empty() {
        0
    } else {
        load::each_key_once(&client, &Target::new(through.url.clone(), memory_keys.clone()), o.concurrency).await
    };
    ok_through += memory_ok;
    let after_keys = rss(pid);

    let streams = if o.streams > 0 { Some(load::streams(&client, &through, o.streams).await) } else { None };
    ok_through += streams.as_ref().map_or(0, |s| s.completed);
    let streams_rss = rss(pid);

    // The soak runs in ten parts with the resident memory read after each, so it shows whether memory
    // levels off (caches filling) or keeps growing (a leak).
    let soak = if o.soak_secs > 0 {
        let mut samples = vec![rss(pid)];
        let mut calls = 0;
        for _ in 0..SOAK_PARTS {
            let l = load::load(&client, &through, JSON_BODY, 8, o.soak_secs as f64 / SOAK_PARTS as f64).await;
            calls += l.ok;
            samples.push(rss(pid));
        }
        ok_through += calls;
        Some((samples, calls))
    } else {
        None
    };

    // A graceful stop writes every queued charge; then the books can be checked.
    if let Some(pid) = pid {
        let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    }
    // It writes every queued charge before it ends, however long that takes: the time says whether the
    // settlement writer kept up with the load (a backlog shows here).
    let stopping = std::time::Instant::now();
    let stopped = tokio::time::timeout(Duration::from_secs(600), gatehouse.wait()).await.is_ok();
    let stop_secs = stopping.elapsed().as_secs_f64();
    let (bills,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM bills b JOIN users u ON u.id = b.user_id WHERE u.email LIKE $1")
            .bind(format!("bench-{run}-%"))
            .fetch_one(db.pool())
            .await
            .map_err(|e| e.to_string())?;
    let report = audit::run(db.pool(), now_ms()).await.map_err(|e| e.to_string())?;

    let mut rows = vec![
        latency_row("latency c=1 p50 (us)", lat[0].pct(0.5), lat[1].pct(0.5), lat[2].pct(0.5), ADDED_P50_US),
        latency_row("latency c=1 p99 (us)", lat[0].pct(0.99), lat[1].pct(0.99), lat[2].pct(0.99), ADDED_P99_US),
        Row {
            what: "a key's first call c=1 p50 / p99".into(),
            direct: "-".into(),
            bare: "-".into(),
            gatehouse: format!("{} / {}", cold.pct(0.5), cold.pct(0.99)),
            verdict: format!(
                "{:+} / {:+} us vs bare (its key, sometimes its account, read from the database; no target)",
                i128::from(cold.pct(0.5)) - i128::from(lat[1].pct(0.5)),
                i128::from(cold.pct(0.99)) - i128::from(lat[1].pct(0.99))
            ),
        },
        latency_row(
            "stream first byte c=1 p50 (us)",
            ttfb[0].pct(0.5),
            ttfb[1].pct(0.5),
            ttfb[2].pct(0.5),
            ADDED_P50_US,
        ),
        latency_row(
            "stream first byte c=1 p99 (us)",
            ttfb[0].pct(0.99),
            ttfb[1].pct(0.99),
            ttfb[2].pct(0.99),
            ADDED_P99_US,
        ),
    ];
    let ratio = if loads[1].per_second > 0.0 { 100.0 * loads[2].per_second / loads[1].per_second } else { 0.0 };
    let c = o.concurrency;
    rows.push(Row {
        what: format!("requests/s c={c}"),
        direct: format!("{:.0}", loads[0].per_second),
        bare: format!("{:.0}", loads[1].per_second),
        gatehouse: format!("{:.0}", loads[2].per_second),
        verdict: share_verdict(ratio),
    });
    rows.push(Row {
        what: format!("latency c={c} p50 / p99 (us)"),
        direct: format!("{} / {}", loads[0].latency.pct(0.5), loads[0].latency.pct(0.99)),
        bare: format!("{} / {}", loads[1].latency.pct(0.5), loads[1].latency.pct(0.99)),
        gatehouse: format!("{} / {}", loads[2].latency.pct(0.5), loads[2].latency.pct(0.99)),
        verdict: String::new(),
    });
    rows.push(Row {
        what: format!("CPU per call c={c} (us)"),
        direct: format!("{:.1}", cpu_per_call[0]),
        bare: format!("{:.1}", cpu_per_call[1]),
        gatehouse: format!("{:.1}", cpu_per_call[2]),
        verdict: format!(
            "{:+.1} us per call (the mock's own, then each proxy's own process)",
            cpu_per_call[2] - cpu_per_call[1]
        ),
    });
    for (tool, runs) in [("wrk", &wrk), ("oha (one key)", &oha)] {
        let [Some(d), Some(b), Some(g)] = [runs[0], runs[1], runs[2]] else { continue };
        let ratio = if b.per_second > 0.0 { 100.0 * g.per_second / b.per_second } else { 0.0 };
        rows.push(Row {
            what: format!("{tool} requests/s c={c}"),
            direct: format!("{:.0}", d.per_second),
            bare: format!("{:.0}", b.per_second),
            gatehouse: format!("{:.0}", g.per_second),
            verdict: share_verdict(ratio),
        });
        rows.push(Row {
            what: format!("{tool} latency c={c} p50 / p99 (us)"),
            direct: format!("{} / {}", d.p50, d.p99),
            bare: format!("{} / {}", b.p50, b.p99),
            gatehouse: format!("{} / {}", g.p50, g.p99),
            verdict: String::new(),
        });
    }
    println!();
    println!("{:<32} {:>14} {:>14} {:>14}  Gatehouse vs bare", "measure", "mock direct", "bare proxy", "Gatehouse");
    for r in &rows {
        println!("{:<32} {:>14} {:>14} {:>14}  {}", r.what, r.direct, r.bare, r.gatehouse, r.verdict);
    }
    if !services.is_empty() {
        let each: Vec<String> = services.iter().map(|(name, _, us)| format!("{name} {us:.1} us")).collect();
        println!("{:<32} + the services' own processes per Gatehouse call at c={c}: {}", "", each.join(", "));
    }
    println!();
    println!("every API surface (Gatehouse vs the bare proxy forwarding the same request; targets: c={c} >= {SHARE_TARGET:.0}% of bare, c=1 within +{ADDED_P50_US} us p50 / +{ADDED_P99_US} us p99):");
    println!(
        "{:<48} {:>19} {:>19} {:>19} {:>9} {:>9} {:>9}  verdict",
        "surface", "c=1 p50/p99 bare", "c=1 p50/p99 GH", "first byte GH-bare", "bare r/s", "GH r/s", "1 acct"
    );
    for (name, streamed, lat_bare, lat_gh, first_bare, first_gh, l_bare, l_many, l_hot) in &surfaces {
        let ratio =
            |l: &load::Load| if l_bare.per_second > 0.0 { 100.0 * l.per_second / l_bare.per_second } else { 0.0 };
        let (p50, p99) = (
            i128::from(lat_gh.pct(0.5)) - i128::from(lat_bare.pct(0.5)),
            i128::from(lat_gh.pct(0.99)) - i128::from(lat_bare.pct(0.99)),
        );
        let met = ratio(l_many) >= SHARE_TARGET
            && ratio(l_hot) >= SHARE_TARGET
            && p50 <= i128::from(ADDED_P50_US)
            && p99 <= i128::from(ADDED_P99_US);
        let first = if *streamed {
            format!(
                "{:+} / {:+}",
                i128::from(first_gh.pct(0.5)) - i128::from(first_bare.pct(0.5)),
                i128::from(first_gh.pct(0.99)) - i128::from(first_bare.pct(0.99))
            )
        } else {
            "-".to_string()
        };
        println!(
            "{:<48} {:>19} {:>19} {:>19} {:>9.0} {:>9.0} {:>9.0}  {:.0}% / {:.0}% of bare, {p50:+} / {p99:+} us: {}{}",
            name,
            format!("{} / {}", lat_bare.pct(0.5), lat_bare.pct(0.99)),
            format!("{} / {}", lat_gh.pct(0.5), lat_gh.pct(0.99)),
            first,
            l_bare.per_second,
            l_many.per_second,
            l_hot.per_second,
            ratio(l_many),
            ratio(l_hot),
            if met { "met" } else { "missed" },
            if l_many.failed + l_hot.failed > 0 {
                format!(" ({} failed)", l_many.failed + l_hot.failed)
            } else {
                String::new()
            }
        );
    }
    println!();
    if let Some(s) = &streams {
        let met = s.failed == 0 && s.completed >= 2000 && s.worst_gap_ms < 1000;
        println!(
            "concurrent streams: {} opened at once, {} completed, {} failed; longest pause inside a stream {} ms (mock paces 40 ms); target >= 2000 without stalls: {}",
            o.streams,
            s.completed,
            s.failed,
            s.worst_gap_ms,
            if met { "met" } else { "missed" }
        );
    }
    println!(
        "memory (RSS): idle {} (target <= 30 MB: {}); after the load {}; with the streams {}",
        mb(idle_rss),
        if idle_rss <= 30 * 1_048_576 { "met" } else { "missed" },
        mb(busy_rss),
        mb(streams_rss)
    );
    if !memory_keys.is_empty() {
        let per_key = after_keys.saturating_sub(before_keys) / memory_keys.len() as u64;
        println!(
            "memory per key: {} distinct keys used once ({} ok): {} -> {}, {} bytes a key (target <= 500: {})",
            memory_keys.len(),
            memory_ok,
            mb(before_keys),
            mb(after_keys),
            per_key,
            if per_key <= 500 { "met" } else { "missed" }
        );
    }
    if let Some((samples, calls)) = &soak {
        let verdict = soak_verdict(samples);
        let trace: Vec<String> = samples.iter().map(|b| format!("{:.1}", *b as f64 / 1_048_576.0)).collect();
        println!("soak: {} s, {calls} calls at c=8; RSS every tenth (MB): {}", o.soak_secs, trace.join(" "));
        println!("soak: {verdict}");
    }
    let counted = i64::try_from(ok_through).unwrap_or(-1);
    let books = bills >= counted && bills <= counted + i64::try_from(wrk_cut).unwrap_or(0) && report.is_clean();
    println!(
        "graceful stop: {} in {stop_secs:.1} s (it writes the charges still queued first)",
        if stopped { "ended" } else { "had not ended" }
    );
    println!(
        "books: {ok_through} successful calls through Gatehouse (+ up to {wrk_cut} wrk and oha stopped waiting for), {bills} bills; failed calls {}; audit {}: {}",
        loads[2].failed,
        if report.is_clean() { "clean".to_string() } else { format!("{} breaches", report.breaches.len()) },
        if books { "met" } else { "missed" }
    );
    db.close().await;
    if o.database_url.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        let _ = std::fs::remove_file(&providers);
    }
    if books {
        Ok(())
    } else {
        Err("the books do not match the calls made (see above)".into())
    }
}

const SOAK_PARTS: usize = 10;
/// Growth allowed over the soak's second half, where caches are full: noise, not a trend.
const SOAK_SETTLED_GROWTH: u64 = 2 * 1_048_576;

/// The soak's verdict from its RSS samples (start, then after each part): the first half fills caches
/// (SQLite's page cache, the allocator's pools); the second half must not grow beyond noise.
fn soak_verdict(samples: &[u64]) -> String {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else { return "no samples".into() };
    let middle = samples[samples.len() / 2];
    let settled = last.saturating_sub(middle);
    format!(
        "{} -> {} over the first half, {} -> {} over the second ({:+.1} MB; target: no growth, at most {} MB of noise): {}",
        mb(*first),
        mb(middle),
        mb(middle),
        mb(*last),
        (*last as f64 - middle as f64) / 1_048_576.0,
        SOAK_SETTLED_GROWTH / 1_048_576,
        if settled <= SOAK_SETTLED_GROWTH { "met" } else { "missed" }
    )
}

/// Calls each of the target's keys once (at least 200 calls); returns the calls made.
async fn sequential_warm(client: &reqwest::Client, t: &Target) -> Result<usize, String> {
    let n = t.keys.len().max(200);
    load::sequential(client, t, JSON_BODY, n, false).await.map(|_| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_take_a_wrapping_command_and_refuse_unknown_flags() {
        let o = options(&["--wrap", "valgrind --tool=callgrind", "--seconds", "2"]).unwrap();
        assert_eq!(o.wrap, ["valgrind", "--tool=callgrind"]);
        assert_eq!(o.seconds, 2.0);
        assert!(options(&[]).unwrap().wrap.is_empty());
        assert!(options(&["--wrap"]).is_err(), "a flag without its value");
        assert!(options(&["--nope", "1"]).is_err());
    }

    #[test]
    fn every_share_of_the_bare_proxy_is_judged_against_the_one_target() {
        assert_eq!(share_verdict(80.0), "80% of bare (target >= 80%): met");
        assert_eq!(share_verdict(79.4), "79% of bare (target >= 80%): missed");
        assert!(share_verdict(75.0).ends_with("missed"), "the 70% the Messages rows used before is not enough");
    }
}
