//! Health, modes, the dev mailbox, unknown pages and request ids.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spawn_app, spawn_app_with};

#[tokio::test]
async fn healthz_reports_a_reachable_database() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["database"], "ok");
}

#[tokio::test]
async fn healthz_reports_an_unreachable_database_with_503() {
    let app = spawn_app().await;
    app.state.db.close().await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["database"], "unreachable");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let a = app.client.get(app.url("/healthz")).send().await.unwrap();
    let b = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(id(&a), id(&b));
}

#[tokio::test]
async fn the_dev_mailbox_lists_sent_mail_and_opens_each_message() {
    let app = spawn_app().await;
    app.request_login("mailbox@example.com", "/").await;
    let page = app.client.get(app.url("/dev/mailbox")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("mailbox@example.com") && html.contains("Your Gatehouse login link"), "{html}");
    let id = app.state.mailer.dev_mailbox().unwrap().list()[0].id;
    let message = app.client.get(app.url(&format!("/dev/mailbox/{id}"))).send().await.unwrap();
    assert_eq!(message.status(), 200);
    assert!(message.text().await.unwrap().contains("/auth/confirm?token="));
}

#[tokio::test]
async fn production_mode_has_no_dev_mailbox() {
    let app = spawn_app_with(&[
        ("GATEHOUSE_MODE", "production"),
        ("PUBLIC_BASE_URL", "https://gatehouse.example.com"),
        ("SMTP_URL", "smtp://127.0.0.1:9"),
    ])
    .await;
    assert!(app.state.mailer.dev_mailbox().is_none());
    assert_eq!(app.client.get(app.url("/dev/mailbox")).send().await.unwrap().status(), 404);
    assert_eq!(app.client.get(app.url("/dev/mailbox/1")).send().await.unwrap().status(), 404);
    let html = app.client.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains("Demo mode"));
}

#[tokio::test]
async fn dev_mode_says_so_on_every_page() {
    let app = spawn_app().await;
    let html = app.client.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Demo mode") && html.contains("/dev/mailbox"));
}

#[tokio::test]
async fn an_unknown_page_is_a_404_with_the_page_shell() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let html = res.text().await.unwrap();
    assert!(html.contains("Page not found") && html.contains("Gatehouse"));
}

#[tokio::test]
async fn a_failing_mail_server_gives_a_clear_503() {
    let app = spawn_app_with(&[("SMTP_URL", "smtp://127.0.0.1:9")]).await;
    let res = app.request_login("nobody@example.com", "/").await;
    assert_eq!(res.status(), 503);
    assert!(res.text().await.unwrap().contains("could not send the email"));
}

#[tokio::test]
async fn sqlite_databases_run_in_wal_mode() {
    let app = spawn_app().await;
    if app.state.db.backend() != gatehouse::server::db::Backend::Sqlite {
        return; // a PostgreSQL run: nothing to check here
    }
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(app.state.db.pool()).await.unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish_then_refuses_new_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut app = spawn_app().await;
    let addr = app.address.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    app.stop();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    conn.write_all(b"Connection: close\r\n\r\n").await.unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(tokio::net::TcpStream::connect(&addr).await.is_err(), "the listener is closed");
}

#[tokio::test]
async fn pages_travel_compressed_and_api_calls_do_not() {
    let app = spawn_app().await;
    let page = |encoding: &'static str| app.client.get(app.url("/login")).header("accept-encoding", encoding).send();
    let br = page("br, gzip").await.unwrap();
    assert_eq!(br.status(), 200);
    assert_eq!(br.headers().get("content-encoding").map(|v| v.to_str().unwrap()), Some("br"));
    let gzip = page("gzip").await.unwrap();
    assert_eq!(gzip.headers().get("content-encoding").map(|v| v.to_str().unwrap()), Some("gzip"));
    let plain = page("identity").await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert!(plain.text().await.unwrap().contains("<html"));

    // An API call (key-authenticated, the hot path) is answered as it is, whatever the client accepts.
    app.log_in("compression@example.com").await;
    let key = app.create_key(app.user_id("compression@example.com").await, false).await;
    let call = app
        .client
        .post(app.url("/v1/messages"))
        .header("x-api-key", key)
        .header("accept-encoding", "br, gzip")
        .header("content-type", "application/json")
        .body(r#"{"model":"claude-haiku-4-5","max_tokens":16,"messages":[{"role":"user","content":"Hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), 200);
    assert!(call.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn pages_carry_a_content_security_policy_whose_nonce_is_on_their_inline_scripts() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(h.get("strict-transport-security").is_none(), "no HSTS over plain http");
    let csp = h["content-security-policy"].to_str().unwrap().to_string();
    for part in ["default-src 'self'", "'wasm-unsafe-eval'", "frame-ancestors 'none'", "object-src 'none'"] {
        assert!(csp.contains(part), "{csp}");
    }
    let scripts = csp.split(';').find(|d| d.trim_start().starts_with("script-src")).expect("a script-src");
    assert!(!scripts.contains("'unsafe-inline'") && !scripts.contains('*'), "{scripts}");
    let html = res.text().await.unwrap();
    // Every inline script (hydration, resources) carries the policy's nonce.
    let nonce = csp.split("'nonce-").nth(1).and_then(|r| r.split('\'').next()).expect("a nonce in the policy");
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert!(!scripts.is_empty());
    for script in scripts {
        let tag = script.split('>').next().unwrap();
        assert!(tag.contains("src=") || tag.contains(&format!("nonce=\"{nonce}\"")), "<script{tag}> lacks the nonce");
    }
    let again = app.client.get(app.url("/login")).send().await.unwrap();
    assert_ne!(again.headers()["content-security-policy"].to_str().unwrap(), csp, "a fresh nonce per page");

    // The API gets nosniff, never a page's policy.
    let api = app.client.get(app.url("/v1/models")).send().await.unwrap();
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");
    assert!(api.headers().get("content-security-policy").is_none());
}

#[tokio::test]
async fn over_https_responses_ask_for_https_only() {
    let app = spawn_app_with(&[("PUBLIC_BASE_URL", "https://gatehouse.example.com")]).await;
    let res = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.headers()["strict-transport-security"], "max-age=31536000");
}

/// Slow and idle clients: connections that never send a request, that send headers a byte at a time, or
/// whose body stalls are closed by the server within its timeouts, while other callers are served.
#[tokio::test]
async fn idle_slow_and_stalled_connections_are_closed_while_others_are_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    let app = spawn_app_with(&[
        ("HTTP_HEADER_TIMEOUT_SECS", "1"),
        ("HTTP_BODY_TIMEOUT_SECS", "1"),
        ("HTTP_IDLE_TIMEOUT_SECS", "2"),
    ])
    .await;
    let addr = app.address.trim_start_matches("http://").to_string();
    let mut sockets = Vec::new();
    for _ in 0..30 {
        sockets.push(TcpStream::connect(&addr).await.unwrap());
    }
    let mut trickling = Vec::new();
    for _ in 0..10 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        trickling.push(tokio::spawn(async move {
            // A header byte every 200 ms, never finishing; returns once the server has closed it.
            let mut buf = [0u8; 256];
            for _ in 0..100 {
                if s.write_all(b"X").await.is_err() {
                    return true;
                }
                match tokio::time::timeout(std::time::Duration::from_millis(200), s.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => return true,
                    _ => {}
                }
            }
            false
        }));
    }
    for _ in 0..10 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\":")
            .await
            .unwrap();
        sockets.push(s);
    }
    // Others keep being served meanwhile.
    for _ in 0..10 {
        let res = app.client.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    // Within the timeouts (2 s idle, plus a second for a stalled body to fail), every one is closed.
    for mut s in sockets {
        let closed = tokio::time::timeout(std::time::Duration::from_secs(6), async {
            let mut buf = [0u8; 1024];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a connection was left open");
    }
    for t in trickling {
        assert!(t.await.unwrap(), "a trickling connection was left open");
    }
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
}
