//! A small Redis client for the one thing Gatehouse asks of Redis: running a Lua script (SCRIPT LOAD once,
//! then EVALSHA, loading again when Redis forgot it). RESP2 over one TCP connection, pipelined: commands
//! from concurrent calls queue while the previous round trip is out and then go in one write, their replies
//! read back in order, so 32 calls at once cost a few round trips and syscalls instead of 32. `AUTH` and
//! `SELECT` from the URL, and a short timeout so a slow Redis never stalls API calls; a connection that
//! failed is dropped and the next command connects again.

use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

const TIMEOUT: Duration = Duration::from_millis(500);
/// Commands waiting for the connection; a caller beyond this waits for room.
const QUEUE: usize = 4096;
/// Commands written in one go at most.
const MAX_PIPELINE: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
}

type Conn = BufReader<TcpStream>;

/// One command on its way: its RESP bytes and where its reply goes.
struct Job {
    bytes: Vec<u8>,
    reply: oneshot::Sender<Result<Reply, String>>,
}

#[derive(Clone)]
struct Endpoint {
    addr: String,
    password: Option<String>,
    db: u32,
}

pub struct RedisClient {
    endpoint: Endpoint,
    /// The queue of the connection task, started by the first command (inside the runtime) and again if
    /// the task ever ended.
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    /// The id Redis gave the script (one script per client).
    script_sha: Mutex<Option<String>>,
}

impl RedisClient {
    /// `redis://[:password@]host[:port][/db]`.
    pub fn new(url: &str) -> Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("REDIS_URL is not a URL: {e}"))?;
        if parsed.scheme() != "redis" {
            return Err("REDIS_URL must start with redis://".into());
        }
        let host = parsed.host_str().filter(|h| !h.is_empty()).ok_or("REDIS_URL has no host")?;
        let port = parsed.port().unwrap_or(6379);
        let db = match parsed.path().trim_start_matches('/') {
            "" => 0,
            n => n.parse().map_err(|_| format!("REDIS_URL's database must be a number, got {n:?}"))?,
        };
        Ok(Self {
            endpoint: Endpoint { addr: format!("{host}:{port}"), password: parsed.password().map(str::to_string), db },
            queue: Mutex::new(None),
            script_sha: Mutex::new(None),
        })
    }

    /// Sends one command through the pipelined connection and waits for its reply: an error after
    /// [`TIMEOUT`] at most, however full the queue (a caller that gave up is skipped by the task).
    pub async fn command(&self, args: &[&[u8]]) -> Result<Reply, String> {
        let queue = self.queue()?;
        let (reply, answer) = oneshot::channel();
        let job = Job { bytes: encode(args), reply };
        let waited = tokio::time::timeout(TIMEOUT, async {
            queue.send(job).await.map_err(|_| "the Redis connection task ended".to_string())?;
            answer.await.map_err(|_| "Redis timed out or its connection broke".to_string())?
        })
        .await;
        waited.unwrap_or_else(|_| Err("Redis timed out".into()))
    }

    /// The connection task's queue, starting the task when there is none (or it ended).
    fn queue(&self) -> Result<mpsc::Sender<Job>, String> {
        let mut queue = self.queue.lock().map_err(|_| "the Redis client is poisoned")?;
        match queue.as_ref() {
            Some(q) if !q.is_closed() => Ok(q.clone()),
            _ => {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(run_connection(self.endpoint.clone(), rx));
                *queue = Some(tx.clone());
                Ok(tx)
            }
        }
    }

    /// Runs a Lua script by the SHA-1 Redis gave it, loading it first (and again after Redis restarts).
    pub async fn eval_script(&self, script: &str, keys: &[&str], args: &[&str]) -> Result<Reply, String> {
        let known = self.script_sha.lock().ok().and_then(|s| s.clone());
        let sha = match known {
            Some(sha) => sha,
            None => self.load_script(script).await?,
        };
        let n = keys.len().to_string();
        let mut parts: Vec<&[u8]> = vec![b"EVALSHA", sha.as_bytes(), n.as_bytes()];
        parts.extend(keys.iter().map(|k| k.as_bytes()));
        parts.extend(args.iter().map(|a| a.as_bytes()));
        match self.command(&parts).await? {
            Reply::Error(e) if e.starts_with("NOSCRIPT") => {
                let sha = self.load_script(script).await?;
                parts[1] = sha.as_bytes();
                match self.command(&parts).await? {
                    Reply::Error(e) => Err(format!("Redis refused the script: {e}")),
                    other => Ok(other),
                }
            }
            Reply::Error(e) => Err(format!("Redis refused the script: {e}")),
            other => Ok(other),
        }
    }

    async fn load_script(&self, script: &str) -> Result<String, String> {
        match self.command(&[b"SCRIPT", b"LOAD", script.as_bytes()]).await? {
            Reply::Bulk(Some(sha)) => {
                let sha = String::from_utf8(sha).map_err(|_| "Redis gave a script id that is not text")?;
                if let Ok(mut known) = self.script_sha.lock() {
                    *known = Some(sha.clone());
                }
                Ok(sha)
            }
            other => Err(format!("Redis did not load the script: {other:?}")),
        }
    }
}

/// The connection task: takes every queued command (up to [`MAX_PIPELINE`]), writes them in one go, and
/// answers each as its reply arrives. Ends when the client is dropped.
async fn run_connection(endpoint: Endpoint, mut queue: mpsc::Receiver<Job>) {
    let mut conn: Option<Conn> = None;
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_PIPELINE);
    let mut out: Vec<u8> = Vec::new();
    while queue.recv_many(&mut jobs, MAX_PIPELINE).await > 0 {
        // Callers that gave up (timed out) are not sent: their commands would still count in Redis.
        jobs.retain(|job| !job.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        let connected = match conn.take() {
            Some(c) => Ok(c),
            None => tokio::time::timeout(TIMEOUT, connect(&endpoint))
                .await
                .unwrap_or_else(|_| Err("Redis connect timed out".into())),
        };
        let mut c = match connected {
            Ok(c) => c,
            Err(e) => {
                fail(jobs.drain(..), &e);
                continue;
            }
        };
        out.clear();
        for job in &jobs {
            out.extend_from_slice(&job.bytes);
        }
        let mut waiting = jobs.drain(..);
        let round_trip = tokio::time::timeout(TIMEOUT, async {
            c.get_mut().write_all(&out).await.map_err(|e| format!("Redis write failed: {e}"))?;
            for job in waiting.by_ref() {
                match read_reply(&mut c).await {
                    Ok(reply) => {
                        let _ = job.reply.send(Ok(reply));
                    }
                    Err(e) => {
                        let _ = job.reply.send(Err(e.clone()));
                        return Err(e);
                    }
                }
            }
            Ok::<(), String>(())
        })
        .await
        .unwrap_or_else(|_| Err("Redis timed out".into()));
        match round_trip {
            Ok(()) => conn = Some(c),
            // The connection is dropped: replies still owed on it would answer the wrong commands.
            Err(e) => fail(waiting, &e),
        }
    }
}

fn fail(jobs: impl IntoIterator<Item = Job>, error: &str) {
    for job in jobs {
        let _ = job.reply.send(Err(error.to_string()));
    }
}

async fn connect(endpoint: &Endpoint) -> Result<Conn, String> {
    let stream = TcpStream::connect(&endpoint.addr).await.map_err(|e| format!("cannot reach Redis: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut conn = BufReader::new(stream);
    if let Some(pw) = &endpoint.password {
        expect_ok(call(&mut conn, &[b"AUTH", pw.as_bytes()]).await?)?;
    }
    if endpoint.db != 0 {
        expect_ok(call(&mut conn, &[b"SELECT", endpoint.db.to_string().as_bytes()]).await?)?;
    }
    Ok(conn)
}

fn expect_ok(reply: Reply) -> Result<(), String> {
    match reply {
        Reply::Simple(_) => Ok(()),
        Reply::Error(e) => Err(format!("Redis refused: {e}")),
        other => Err(format!("unexpected Redis reply {other:?}")),
    }
}

async fn call(conn: &mut Conn, args: &[&[u8]]) -> Result<Reply, String> {
    conn.get_mut().write_all(&encode(args)).await.map_err(|e| format!("Redis write failed: {e}"))?;
    read_reply(conn).await
}

/// A command as a RESP array of bulk strings.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

async fn read_line(conn: &mut Conn) -> Result<String, String> {
    let mut line = String::new();
    let n = conn.read_line(&mut line).await.map_err(|e| format!("Redis read failed: {e}"))?;
    if n == 0 {
        return Err("Redis closed the connection".into());
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn read_reply(
    conn: &mut Conn,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Reply, String>> + Send + '_>> {
    Box::pin(async move {
        let line = read_line(conn).await?;
        let (kind, rest) = line.split_at(line.chars().next().map_or(0, char::len_utf8));
        let number = || rest.parse::<i64>().map_err(|_| format!("bad Redis reply {line:?}"));
        match kind {
            "+" => Ok(Reply::Simple(rest.to_string())),
            "-" => Ok(Reply::Error(rest.to_string())),
            ":" => Ok(Reply::Integer(number()?)),
            "$" => {
                let len = number()?;
                if len < 0 {
                    return Ok(Reply::Bulk(None));
                }
                let mut buf = vec![0u8; usize::try_from(len).unwrap_or(0) + 2];
                conn.read_exact(&mut buf).await.map_err(|e| format!("Redis read failed: {e}"))?;
                buf.truncate(buf.len() - 2);
                Ok(Reply::Bulk(Some(buf)))
            }
            "*" => {
                let len = number()?;
                let mut items = Vec::new();
                for _ in 0..len.max(0) {
                    items.push(read_reply(conn).await?);
                }
                Ok(Reply::Array(items))
            }
            _ => Err(format!("bad Redis reply {line:?}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_resp_arrays_of_bulk_strings() {
        assert_eq!(encode(&[b"GET", b"k"]), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }

    #[test]
    fn urls_give_address_password_and_database() {
        let c = RedisClient::new("redis://:pw@127.0.0.1:6380/2").unwrap();
        let e = &c.endpoint;
        assert_eq!((e.addr.as_str(), e.password.as_deref(), e.db), ("127.0.0.1:6380", Some("pw"), 2));
        assert!(RedisClient::new("http://x").is_err());
        assert!(RedisClient::new("redis://h/x").is_err());
    }
}
