//! The benchmark's load driver: one request at a time (latency, time to first byte), a fixed number of
//! concurrent workers for a fixed time (requests/s), and many streams held open at once (stalls).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const JSON_BODY: &str = r#"{"model":"claude-haiku-4-5","max_tokens":64,"messages":[{"role":"user","content":"Say hello to the benchmark."}]}"#;
pub const STREAM_BODY: &str = r#"{"model":"claude-haiku-4-5","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Say hello to the benchmark."}]}"#;
/// The other API surfaces, each as `(name, path, body, streamed)`: OpenAI chat completions (JSON, streamed
/// with and without `include_usage`), the Responses API (JSON and streamed), and the translated paths (a
/// Claude model asked for in the OpenAI dialects).
pub const SURFACES: &[(&str, &str, &str, bool)] = &[
    (
        "chat completions, JSON",
        "/v1/chat/completions",
        r#"{"model":"gpt-4o-mini","max_tokens":64,"messages":[{"role":"user","content":"Say hello to the benchmark."}]}"#,
        false,
    ),
    (
        "chat completions, streamed with include_usage",
        "/v1/chat/completions",
        r#"{"model":"gpt-4o-mini","max_tokens":64,"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Say hello to the benchmark."}]}"#,
        true,
    ),
    (
        "chat completions, streamed without include_usage",
        "/v1/chat/completions",
        r#"{"model":"gpt-4o-mini","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Say hello to the benchmark."}]}"#,
        true,
    ),
    (
        "responses, JSON",
        "/v1/responses",
        r#"{"model":"gpt-5-mini","max_output_tokens":64,"input":"Say hello to the benchmark."}"#,
        false,
    ),
    (
        "responses, streamed",
        "/v1/responses",
        r#"{"model":"gpt-5-mini","max_output_tokens":64,"stream":true,"input":"Say hello to the benchmark."}"#,
        true,
    ),
    (
        "Claude via chat completions (translated)",
        "/v1/chat/completions",
        r#"{"model":"claude-haiku-4-5","max_tokens":64,"messages":[{"role":"user","content":"Say hello to the benchmark."}]}"#,
        false,
    ),
    (
        "Claude via responses (translated)",
        "/v1/responses",
        r#"{"model":"claude-haiku-4-5","max_output_tokens":64,"input":"Say hello to the benchmark."}"#,
        false,
    ),
];
/// A stream the mock paces (400 ms to the first byte, then a piece every 40 ms): held open about 1.4 s.
pub const SLOW_STREAM_BODY: &str = r#"{"model":"claude-haiku-4-5-slow","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Say hello to the benchmark."}]}"#;

/// Where requests go, and the keys to present (rotated; none for the mock and the bare proxy).
#[derive(Clone)]
pub struct Target {
    pub url: String,
    pub keys: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
}

impl Target {
    pub fn new(url: String, keys: Vec<String>) -> Self {
        Self { url, keys: Arc::new(keys), next: Arc::new(AtomicUsize::new(0)) }
    }

    fn request(&self, client: &reqwest::Client, body: &'static str) -> reqwest::RequestBuilder {
        let mut r = client.post(&self.url).header("content-type", "application/json").body(body);
        if !self.keys.is_empty() {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.keys.len();
            r = r.header("x-api-key", &self.keys[i]);
        }
        r
    }
}

/// Latencies in microseconds, sorted.
pub struct Sample(pub Vec<u64>);

impl Sample {
    pub fn pct(&self, p: f64) -> u64 {
        if self.0.is_empty() {
            return 0;
        }
        let last = self.0.len() - 1;
        let idx = ((last as f64) * p).round() as usize;
        self.0[idx.min(last)]
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// `n` calls one after another: the latency of each whole answer, or of its first byte (`first_byte`).
pub async fn sequential(
    client: &reqwest::Client,
    t: &Target,
    body: &'static str,
    n: usize,
    first_byte: bool,
) -> Result<Sample, String> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let mut res = t.request(client, body).send().await.map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("{} answered {}: {}", t.url, res.status(), res.text().await.unwrap_or_default()));
        }
        if first_byte {
            res.chunk().await.map_err(|e| e.to_string())?;
            out.push(micros(start.elapsed()));
            while res.chunk().await.map_err(|e| e.to_string())?.is_some() {}
        } else {
            res.bytes().await.map_err(|e| e.to_string())?;
            out.push(micros(start.elapsed()));
        }
    }
    out.sort_unstable();
    Ok(Sample(out))
}

pub struct Load {
    pub per_second: f64,
    pub latency: Sample,
    pub ok: usize,
    pub failed: usize,
}

/// `workers` loops calling with `body` for `secs` seconds.
pub async fn load(client: &reqwest::Client, t: &Target, body: &'static str, workers: usize, secs: f64) -> Load {
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
                match t.request(&client, body).send().await {
                    Ok(r) if r.status().is_success() => match r.bytes().await {
                        Ok(_) => lat.push(micros(s.elapsed())),
                        Err(_) => failed += 1,
                    },
                    _ => failed += 1,
                }
            }
            (lat, failed)
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut failed = 0;
    for task in tasks {
        if let Ok((lat, f)) = task.await {
            all.extend(lat);
            failed += f;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    Load { per_second: all.len() as f64 / elapsed, ok: all.len(), latency: Sample(all), failed }
}

/// Calls each key once (`workers` at a time): how many succeeded.
pub async fn each_key_once(client: &reqwest::Client, t: &Target, workers: usize) -> usize {
    let ok = Arc::new(AtomicUsize::new(0));
    let remaining = Arc::new(AtomicUsize::new(t.keys.len()));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (client, t, ok, remaining) = (client.clone(), t.clone(), Arc::clone(&ok), Arc::clone(&remaining));
        tasks.push(tokio::spawn(async move {
            while remaining.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1)).is_ok() {
                if let Ok(r) = t.request(&client, JSON_BODY).send().await {
                    if r.status().is_success() && r.bytes().await.is_ok() {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    ok.load(Ordering::Relaxed)
}

pub struct Streams {
    pub completed: usize,
    pub failed: usize,
    /// The longest wait between two pieces of one stream, over all streams, in ms.
    pub worst_gap_ms: u64,
}

/// Opens `n` slow streams at once and reads them to the end.
pub async fn streams(client: &reqwest::Client, t: &Target, n: usize) -> Streams {
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (client, t) = (client.clone(), t.clone());
        tasks.push(tokio::spawn(async move {
            let mut res = match t.request(&client, SLOW_STREAM_BODY).send().await {
                Ok(r) if r.status().is_success() => r,
                _ => return None,
            };
            let mut last = Instant::now();
            let mut worst = Duration::ZERO;
            let mut text = Vec::new();
            loop {
                match res.chunk().await {
                    Ok(Some(c)) => {
                        // The first wait includes the mock's 400 ms to its first byte.
                        if !text.is_empty() {
                            worst = worst.max(last.elapsed());
                        }
                        last = Instant::now();
                        text.extend_from_slice(&c);
                    }
                    Ok(None) => break,
                    Err(_) => return None,
                }
            }
            String::from_utf8_lossy(&text).contains("message_stop").then_some(worst)
        }));
    }
    let (mut completed, mut failed, mut worst) = (0, 0, Duration::ZERO);
    for task in tasks {
        match task.await.ok().flatten() {
            Some(w) => {
                completed += 1;
                worst = worst.max(w);
            }
            None => failed += 1,
        }
    }
    Streams { completed, failed, worst_gap_ms: u64::try_from(worst.as_millis()).unwrap_or(u64::MAX) }
}

/// What wrk measured: requests/s, p50 and p99 latency (us), and the successful responses it counted.
#[derive(Clone, Copy)]
pub struct Wrk {
    pub per_second: f64,
    pub p50: u64,
    pub p99: u64,
    pub ok: usize,
}

/// Runs `wrk` at `connections` for `secs` against the target, when wrk is installed.
pub fn wrk(t: &Target, connections: usize, secs: u64, dir: &std::path::Path) -> Option<Wrk> {
    let keys: Vec<String> = t.keys.iter().map(|k| format!("\"{k}\"")).collect();
    let script = format!(
        "local keys = {{{}}}\nlocal i = 0\nwrk.method = \"POST\"\nwrk.body = '{}'\n\
         wrk.headers[\"content-type\"] = \"application/json\"\n\
         request = function()\n  if #keys > 0 then\n    i = i % #keys + 1\n    wrk.headers[\"x-api-key\"] = keys[i]\n  end\n  \
         return wrk.format()\nend\n",
        keys.join(", "),
        JSON_BODY
    );
    let path = dir.join("wrk.lua");
    std::fs::write(&path, script).ok()?;
    let out = std::process::Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{secs}s"), "--latency", "-s"])
        .arg(&path)
        .arg(&t.url)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text.lines().find_map(|l| l.trim().strip_prefix("Requests/sec:")?.trim().parse::<f64>().ok())?;
    let pct = |p: &str| {
        text.lines().find_map(|l| {
            let l = l.trim();
            let v = l.strip_prefix(p)?.trim();
            let (n, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
            let n: f64 = n.parse().ok()?;
            Some(match unit {
                "us" => n,
                "ms" => n * 1000.0,
                "s" => n * 1_000_000.0,
                _ => return None,
            } as u64)
        })
    };
    // "123456 requests in 5.00s, …" and, when some failed, "Non-2xx or 3xx responses: 12".
    let total = text.lines().find_map(|l| l.trim().split_once(" requests in ")?.0.trim().parse::<usize>().ok())?;
    let bad = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:")?.trim().parse::<usize>().ok())
        .unwrap_or(0);
    Some(Wrk { per_second: rps, p50: pct("50%")?, p99: pct("99%")?, ok: total.saturating_sub(bad) })
}

/// Runs `oha` (the load tool a new user reaches for) at `connections` for `secs` against the target with its
/// first key, when oha is installed: requests/s, p50 and p99 latency (us), and the successful responses.
pub fn oha(t: &Target, connections: usize, secs: u64) -> Option<Wrk> {
    let mut cmd = std::process::Command::new("oha");
    cmd.args(["--no-tui", "--output-format", "json", "-z", &format!("{secs}s"), "-c", &connections.to_string()])
        .args(["-m", "POST", "-H", "content-type: application/json", "-d", JSON_BODY]);
    if let Some(key) = t.keys.first() {
        cmd.args(["-H", &format!("x-api-key: {key}")]);
    }
    let out = cmd.arg(&t.url).output().ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let us = |p: &str| (v["latencyPercentiles"][p].as_f64().unwrap_or(0.0) * 1_000_000.0) as u64;
    let ok = v["statusCodeDistribution"]["200"].as_u64().unwrap_or(0);
    Some(Wrk {
        per_second: v["summary"]["requestsPerSec"].as_f64()?,
        p50: us("p50"),
        p99: us("p99"),
        ok: usize::try_from(ok).unwrap_or(usize::MAX),
    })
}
