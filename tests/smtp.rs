//! The SMTP path for real: a real SMTP server on loopback (aiosmtpd), Gatehouse sending through it with
//! `SMTP_URL`, and the link in the received message followed to a login.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{session_cookie, spawn_app_with, token_in};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct SmtpSink {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_sink() -> SmtpSink {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = std::env::temp_dir().join(format!("gatehouse-smtp-{port}-{}", std::process::id()));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs (the test command installs aiosmtpd)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "the SMTP sink did not start: is aiosmtpd installed? (pip install aiosmtpd)");
    SmtpSink { child, port, dir }
}

/// Undoes quoted-printable soft breaks and `=3D`, enough to read a link out of a message.
fn decode_qp(raw: &str) -> String {
    raw.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=")
}

#[tokio::test]
async fn a_login_email_goes_through_a_real_smtp_server_and_its_link_logs_in() {
    let sink = start_sink();
    let smtp_url = format!("smtp://127.0.0.1:{}", sink.port);
    let app = spawn_app_with(&[("SMTP_URL", &smtp_url), ("MAIL_FROM", "Gatehouse <login@gatehouse.test>")]).await;
    assert!(app.state.mailer.dev_mailbox().is_none(), "with SMTP_URL set the dev mailbox is off");

    let res = app.request_login("smtp-user@example.com", "/").await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);

    let deadline = Instant::now() + Duration::from_secs(10);
    let message = loop {
        let found = std::fs::read_dir(&sink.dir).ok().and_then(|entries| {
            entries.filter_map(Result::ok).map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "eml"))
        });
        if let Some(path) = found {
            break std::fs::read_to_string(path).unwrap();
        }
        assert!(Instant::now() < deadline, "no message reached the SMTP server");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let decoded = decode_qp(&message);
    assert!(decoded.contains("To: smtp-user@example.com"), "{decoded}");
    assert!(decoded.contains("From: Gatehouse <login@gatehouse.test>"), "{decoded}");
    assert!(
        decoded.contains("multipart/alternative") && decoded.contains("text/html") && decoded.contains("text/plain")
    );

    let token = token_in(&decoded).expect("a login link in the message");
    let page = app.client.get(app.url(&format!("/auth/confirm?token={token}"))).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("smtp-user@example.com"));
    let res = app.post_form("/api/confirm_login", &[("token", &token)], None).await;
    assert_eq!(res.status(), 200);
    let cookie = session_cookie(res.headers()).unwrap();
    assert_eq!(app.signed_in_email(Some(&cookie)).await.as_deref(), Some("smtp-user@example.com"));
}
