//! Magic-link login, end to end over HTTP, on whichever database `TEST_DATABASE` names.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{session_cookie, session_set_cookie, spawn_app, spawn_app_with, token_in, TestApp};

#[tokio::test]
async fn a_login_request_answers_the_same_for_new_and_existing_emails() {
    let app = spawn_app().await;
    app.log_in("existing@example.com").await;

    let existing = app.request_login("existing@example.com", "/").await;
    let new = app.request_login("brand-new@example.com", "/").await;
    assert_eq!(existing.status(), 200);
    assert_eq!(existing.status(), new.status());
    let location = |r: &reqwest::Response| r.headers().get("location").unwrap().to_str().unwrap().to_string();
    assert_eq!(location(&existing), "/login/sent?email=existing%40example.com");
    assert_eq!(location(&new), "/login/sent?email=brand-new%40example.com");
    assert_eq!(existing.text().await.unwrap(), new.text().await.unwrap());
}

#[tokio::test]
async fn the_email_has_both_parts_a_working_link_and_the_expiry() {
    let app = spawn_app().await;
    assert_eq!(app.request_login("Reader@Example.com", "/").await.status(), 200);
    let mail = app.last_mail().expect("one email");
    assert_eq!(mail.to, "Reader@Example.com");
    assert!(mail.subject.contains("Gatehouse"));
    assert!(mail.text.contains("15 minutes") && mail.html.contains("15 minutes"));
    assert!(mail.html.contains("<a href=\"") && mail.html.contains("Log in to Gatehouse"));
    let token = token_in(&mail.text).unwrap();
    assert_eq!(token_in(&mail.html).unwrap(), token);
    assert_eq!(token.len(), 43, "256-bit token in base64url");
    assert!(mail.text.contains(&format!("{}/auth/confirm?token={token}", app.address)));

    let page = app.client.get(app.url(&format!("/auth/confirm?token={token}"))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Reader@Example.com") && html.contains("Confirm and log in"), "{html}");
}

#[tokio::test]
async fn an_invalid_email_gets_a_field_error_and_nothing_is_sent() {
    let app = spawn_app().await;
    for bad in ["", "nope", "a@b", "two@@example.com", &format!("{}@example.com", "x".repeat(300))] {
        let res = app.request_login(bad, "/").await;
        assert_eq!(res.status(), 400, "{bad}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["Invalid"]["field"], "email", "{body}");
        assert!(!body["Invalid"]["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(app.mail_count(), 0);
}

#[tokio::test]
async fn viewing_the_link_ten_times_consumes_nothing_then_one_post_logs_in_and_a_second_fails() {
    let app = spawn_app().await;
    app.request_login("scanner@example.com", "/").await;
    let token = app.last_token();
    let link = app.url(&format!("/auth/confirm?token={token}"));
    for _ in 0..5 {
        let get = app.client.get(&link).send().await.unwrap();
        assert_eq!(get.status(), 200);
        assert!(session_set_cookie(get.headers()).is_none(), "GET must not set a session");
        let head = app.client.head(&link).send().await.unwrap();
        assert!(head.status().is_success(), "HEAD {}", head.status());
        assert!(session_set_cookie(head.headers()).is_none(), "HEAD must not set a session");
    }
    let first = app.post_form("/api/confirm_login", &[("token", &token)], None).await;
    assert_eq!(first.status(), 200);
    let cookie = session_cookie(first.headers()).expect("session cookie");
    assert_eq!(app.signed_in_email(Some(&cookie)).await.as_deref(), Some("scanner@example.com"));

    let second = app.post_form("/api/confirm_login", &[("token", &token)], None).await;
    assert_eq!(second.status(), 410);
    assert!(session_cookie(second.headers()).is_none());
    assert!(second.text().await.unwrap().contains("already used"));
    let page = app.client.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("already used"), "the confirm page explains a used link");
}

#[tokio::test]
async fn a_browser_post_with_a_used_link_is_sent_back_to_the_explaining_page() {
    let app = spawn_app().await;
    app.request_login("twice@example.com", "/").await;
    let token = app.last_token();
    app.post_form("/api/confirm_login", &[("token", &token)], None).await;
    let res = app
        .client
        .post(app.url("/api/confirm_login"))
        .header("origin", &app.address)
        .header("accept", "text/html")
        .form(&[("token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], format!("/auth/confirm?token={token}").as_str());
}

#[tokio::test]
async fn expired_and_tampered_tokens_do_not_log_in() {
    let app = spawn_app().await;
    app.request_login("late@example.com", "/").await;
    let token = app.last_token();

    let mut tampered = token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let res = app.post_form("/api/confirm_login", &[("token", &tampered)], None).await;
    assert_eq!(res.status(), 410);
    assert!(res.text().await.unwrap().contains("not valid"));
    let page = app.client.get(app.url(&format!("/auth/confirm?token={tampered}"))).send().await.unwrap();
    assert!(page.text().await.unwrap().contains("Get a new login link"));

    sqlx::query("UPDATE login_tokens SET expires_at = $1").bind(1_i64).execute(app.state.db.pool()).await.unwrap();
    let res = app.post_form("/api/confirm_login", &[("token", &token)], None).await;
    assert_eq!(res.status(), 410);
    assert!(res.text().await.unwrap().contains("expired"));
    assert_eq!(app.signed_in_email(None).await, None);
}

#[tokio::test]
async fn a_new_link_invalidates_the_older_one() {
    let app = spawn_app().await;
    app.request_login("twolinks@example.com", "/").await;
    let old = app.last_token();
    app.request_login("TwoLinks@example.com", "/").await;
    let new = app.last_token();
    assert_ne!(old, new);
    let res = app.post_form("/api/confirm_login", &[("token", &old)], None).await;
    assert_eq!(res.status(), 410);
    assert!(res.text().await.unwrap().contains("newer login link"));
    let res = app.post_form("/api/confirm_login", &[("token", &new)], None).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn the_per_email_send_limit_answers_429_and_sends_nothing() {
    let app = spawn_app().await;
    for _ in 0..5 {
        assert_eq!(app.request_login("busy@example.com", "/").await.status(), 200);
    }
    let res = app.request_login("BUSY+again@example.com", "/").await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 3000 && retry <= 3600, "{retry}");
    let body: serde_json::Value = res.json().await.unwrap();
    let message = body["RateLimited"]["message"].as_str().unwrap();
    assert!(message.contains("Try again in 60 minutes"), "{message}");
    assert_eq!(app.mail_count(), 5);
    assert_eq!(app.request_login("someone-else@example.com", "/").await.status(), 200);
}

#[tokio::test]
async fn the_per_ip_send_limit_answers_429() {
    let app = spawn_app_with(&[("LOGIN_LINKS_PER_IP_PER_HOUR", "3")]).await;
    for n in 0..3 {
        assert_eq!(app.request_login(&format!("user{n}@example.com"), "/").await.status(), 200);
    }
    let res = app.request_login("user9@example.com", "/").await;
    assert_eq!(res.status(), 429);
    assert!(res.text().await.unwrap().contains("your network"));
    assert_eq!(app.mail_count(), 3);
}

/// A login-link request that reached the server through a reverse proxy on 127.0.0.1, which appended the
/// address it saw to whatever `X-Forwarded-For` the client sent.
async fn request_login_via_proxy(app: &TestApp, email: &str, forwarded_for: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/request_login"))
        .header("origin", &app.address)
        .header("x-forwarded-for", forwarded_for)
        .form(&[("email", email), ("next", "/")])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_client_is_the_rightmost_untrusted_hop() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1/32"), ("LOGIN_LINKS_PER_IP_PER_HOUR", "2")]).await;
    // The client writes a different first hop each time; the proxy appends the real address.
    for (n, spoofed) in ["1.1.1.1", "2.2.2.2"].iter().enumerate() {
        let res =
            request_login_via_proxy(&app, &format!("spoof{n}@example.com"), &format!("{spoofed}, 198.51.100.20")).await;
        assert_eq!(res.status(), 200);
    }
    let res = request_login_via_proxy(&app, "spoof9@example.com", "3.3.3.3, 198.51.100.20").await;
    assert_eq!(res.status(), 429, "a client-written hop must not buy a fresh quota");
    // Another client behind the same proxy has its own quota.
    assert_eq!(request_login_via_proxy(&app, "neighbour@example.com", "198.51.100.21").await.status(), 200);
    assert_eq!(app.mail_count(), 3);
}

#[tokio::test]
async fn without_trusted_proxies_forwarded_for_is_ignored() {
    let app = spawn_app_with(&[("LOGIN_LINKS_PER_IP_PER_HOUR", "1")]).await;
    assert_eq!(request_login_via_proxy(&app, "a@example.com", "198.51.100.1").await.status(), 200);
    assert_eq!(request_login_via_proxy(&app, "b@example.com", "198.51.100.2").await.status(), 429);
}

#[tokio::test]
async fn the_old_forwarded_for_switch_is_refused_with_what_replaces_it() {
    let mut values = std::collections::HashMap::new();
    values.insert("TRUST_FORWARDED_FOR".to_string(), "true".to_string());
    let err = gatehouse::server::config::Settings::from_values(&values).unwrap_err().to_string();
    assert!(err.contains("TRUSTED_PROXIES"), "{err}");
    values.insert("TRUST_FORWARDED_FOR".to_string(), "false".to_string());
    values.insert("TRUSTED_PROXIES".to_string(), "10.0.0.0/8, not-an-ip".to_string());
    let err = gatehouse::server::config::Settings::from_values(&values).unwrap_err().to_string();
    assert!(err.contains("TRUSTED_PROXIES") && err.contains("not-an-ip"), "{err}");
}

#[tokio::test]
async fn ipv6_clients_share_their_64s_quota() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1"), ("LOGIN_LINKS_PER_IP_PER_HOUR", "2")]).await;
    for (n, addr) in ["2001:db8:5:6::1", "2001:db8:5:6:ffff::2"].iter().enumerate() {
        assert_eq!(request_login_via_proxy(&app, &format!("v6-{n}@example.com"), addr).await.status(), 200);
    }
    let res = request_login_via_proxy(&app, "v6-9@example.com", "2001:db8:5:6:abcd::9").await;
    assert_eq!(res.status(), 429, "every address of one /64 is one network");
    assert_eq!(request_login_via_proxy(&app, "v6-other@example.com", "2001:db8:5:7::1").await.status(), 200);
}

/// A stranger asking for login links to someone else's address uses up only their own network's share:
/// the owner, from their own network, still gets a link.
#[tokio::test]
async fn a_stranger_cannot_lock_the_owner_of_an_address_out() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let owner = app.log_in("owner@example.com").await;
    let mut refused = 0;
    for _ in 0..8 {
        if request_login_via_proxy(&app, "owner@example.com", "203.0.113.66").await.status() == 429 {
            refused += 1;
        }
    }
    assert_eq!(refused, 3, "5 links an hour to one address from one network");
    let res = request_login_via_proxy(&app, "owner@example.com", "198.51.100.20").await;
    assert_eq!(res.status(), 200, "the owner was locked out by a stranger");
    assert_eq!(app.signed_in_email(Some(&owner)).await.as_deref(), Some("owner@example.com"), "sessions untouched");
    // A ceiling across networks still stops mail bombing from many networks.
    let mut sent = 0;
    for n in 0..10 {
        for _ in 0..5 {
            if request_login_via_proxy(&app, "bombed@example.com", &format!("203.0.113.{n}")).await.status() == 200 {
                sent += 1;
            }
        }
    }
    assert_eq!(sent, 20, "the per-address ceiling across networks");
    // The owner of that address, signed in before from home, still gets a link from there.
    let owner_home = "198.51.100.99";
    let user = common::insert_user(&app.state.db, "bombed@example.com").await;
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, created_at, expires_at, client_ip) VALUES ('h-home', $1, 0, $2, $3)",
    )
    .bind(user)
    .bind(gatehouse::server::time::now_ms() + 86_400_000)
    .bind(owner_home)
    .execute(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(
        request_login_via_proxy(&app, "bombed@example.com", owner_home).await.status(),
        200,
        "locked out at home"
    );
    assert_eq!(request_login_via_proxy(&app, "bombed@example.com", "203.0.113.200").await.status(), 429);
}

/// The limits hold for requests sent all at once: none slips past between counting and writing.
#[tokio::test]
async fn login_limits_hold_for_fifty_parallel_requests() {
    let app = spawn_app_with(&[("LOGIN_LINKS_PER_IP_PER_HOUR", "10")]).await;
    let statuses = futures_util::future::join_all((0..50).map(|n| {
        let app = &app;
        async move { app.request_login(&format!("parallel{n}@example.com"), "/").await.status().as_u16() }
    }))
    .await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 40, "{statuses:?}");
    assert_eq!(app.mail_count(), 10);
    let app = spawn_app().await;
    let statuses = futures_util::future::join_all((0..50).map(|_| {
        let app = &app;
        async move { app.request_login("same@example.com", "/").await.status().as_u16() }
    }))
    .await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 5, "{statuses:?}");
    assert_eq!(app.mail_count(), 5);
}

#[tokio::test]
async fn the_session_id_changes_at_login_and_the_old_one_stops_working() {
    let app = spawn_app().await;
    let first = app.log_in("rotate@example.com").await;
    app.request_login("rotate@example.com", "/").await;
    let res = app.post_form("/api/confirm_login", &[("token", &app.last_token())], Some(&first)).await;
    assert_eq!(res.status(), 200);
    let second = session_cookie(res.headers()).unwrap();
    assert_ne!(first, second);
    assert_eq!(app.signed_in_email(Some(&first)).await, None);
    assert_eq!(app.signed_in_email(Some(&second)).await.as_deref(), Some("rotate@example.com"));
}

#[tokio::test]
async fn the_session_cookie_is_httponly_lax_long_lived_and_not_secure_over_http() {
    let app = spawn_app().await;
    app.request_login("flags@example.com", "/").await;
    let res = app.post_form("/api/confirm_login", &[("token", &app.last_token())], None).await;
    let line = session_set_cookie(res.headers()).unwrap();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"] {
        assert!(line.contains(flag), "{line}");
    }
    assert!(!line.contains("Secure"), "{line}");
    let value = session_cookie(res.headers()).unwrap();
    assert_eq!(value.len(), 43, "256-bit session id");
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions WHERE id_hash = $1")
        .bind(&value)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(stored, 0, "only the hash of the session id is stored");
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_the_public_url_is_https() {
    let app = spawn_app_with(&[("PUBLIC_BASE_URL", "https://gatehouse.example.com")]).await;
    app.request_login("secure@example.com", "/").await;
    assert!(app.last_mail().unwrap().text.contains("https://gatehouse.example.com/auth/confirm?token="));
    let res = app.post_form("/api/confirm_login", &[("token", &app.last_token())], None).await;
    assert!(session_set_cookie(res.headers()).unwrap().contains("; Secure"));
}

#[tokio::test]
async fn logout_deletes_the_server_side_session() {
    let app = spawn_app().await;
    let cookie = app.log_in("bye@example.com").await;
    assert_eq!(app.signed_in_email(Some(&cookie)).await.as_deref(), Some("bye@example.com"));
    let res = app.post_form("/api/logout", &[], Some(&cookie)).await;
    assert_eq!(res.status(), 200);
    assert!(session_set_cookie(res.headers()).unwrap().contains("Max-Age=0"));
    assert_eq!(app.signed_in_email(Some(&cookie)).await, None, "the old cookie must not work any more");
}

#[tokio::test]
async fn cross_origin_posts_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let cookie = app.log_in("victim@example.com").await;
    let evil = |path: &str| app.client.post(app.url(path)).header("origin", "https://evil.example");
    let res = evil("/api/request_login").form(&[("email", "victim@example.com"), ("next", "/")]).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let res = evil("/api/logout").header("cookie", format!("gh_session={cookie}")).send().await.unwrap();
    assert_eq!(res.status(), 403);
    let no_origin =
        app.client.post(app.url("/api/logout")).header("cookie", format!("gh_session={cookie}")).send().await.unwrap();
    assert_eq!(no_origin.status(), 403, "a POST with neither Origin nor Referer is refused");
    let referer = app
        .client
        .post(app.url("/api/request_login"))
        .header("referer", format!("{}/login", app.address))
        .form(&[("email", "ok@example.com"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(referer.status(), 200, "a same-site Referer is accepted");
    assert_eq!(app.signed_in_email(Some(&cookie)).await.as_deref(), Some("victim@example.com"));
    assert_eq!(app.mail_count(), 2);
}

/// DNS rebinding: a page on evil.example, whose name now resolves to this dev server, sends requests whose
/// `Origin` equals their `Host`. Neither its form posts nor its reads of the dev mailbox (every login link)
/// may be answered; the server's own addresses still work.
#[tokio::test]
async fn a_rebound_host_name_gets_neither_the_dev_mailbox_nor_form_posts() {
    let app = spawn_app().await;
    app.request_login("owner@example.com", "/").await;
    let port = app.address.rsplit(':').next().unwrap().to_string();
    let rebound = format!("evil.example:{port}");
    let origin = format!("http://{rebound}");
    for path in ["/dev/mailbox", &format!("/dev/mailbox/{}", app.state.mailer.dev_mailbox().unwrap().list()[0].id)] {
        let res = app.client.get(app.url(path)).header("host", &rebound).send().await.unwrap();
        assert_eq!(res.status(), 421, "{path} answered a rebound host");
        let body = res.text().await.unwrap();
        assert!(!body.contains("auth/confirm"), "{path} leaked a login link");
        assert!(body.contains(&app.address), "the refusal says where the server is: {body}");
    }
    let res = app
        .client
        .post(app.url("/api/request_login"))
        .header("host", &rebound)
        .header("origin", &origin)
        .form(&[("email", "rebound@example.com"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert!(res.status() == 421 || res.status() == 403, "{}", res.status());
    assert_eq!(app.mail_count(), 1, "nothing was sent for the rebound page");
    let local = app.client.get(format!("http://localhost:{port}/dev/mailbox")).send().await.unwrap();
    assert_eq!(local.status(), 200, "localhost is the same dev server");
    let res = app
        .client
        .post(app.url("/api/request_login"))
        .header("origin", format!("http://localhost:{port}"))
        .form(&[("email", "local@example.com"), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "a form on localhost:{port} is the site's own");
}

#[tokio::test]
async fn next_is_followed_on_site_and_replaced_by_home_off_site() {
    let app = spawn_app().await;
    for (next, expected) in [("/i", "/i"), ("https://evil.example", "/"), ("//evil.example/x", "/")] {
        app.request_login("next@example.com", next).await;
        let res = app.post_form("/api/confirm_login", &[("token", &app.last_token())], None).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["location"], expected, "next={next}");
    }
}

#[tokio::test]
async fn a_plain_form_confirm_redirects_with_302_and_sets_the_cookie() {
    let app = spawn_app().await;
    app.request_login("browser@example.com", "/i").await;
    let res = app
        .client
        .post(app.url("/api/confirm_login"))
        .header("origin", &app.address)
        .header("accept", "text/html,application/xhtml+xml")
        .form(&[("token", &app.last_token())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], "/i");
    assert!(session_cookie(res.headers()).is_some());
}

#[tokio::test]
async fn the_first_login_creates_the_account_and_later_logins_reuse_it() {
    let app = spawn_app().await;
    app.log_in("A.B+first@gmail.com").await;
    app.log_in("ab@gmail.com").await;
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT email, email_normalized FROM users").fetch_all(app.state.db.pool()).await.unwrap();
    assert_eq!(rows, vec![("A.B+first@gmail.com".to_string(), "ab@gmail.com".to_string())]);
}

#[tokio::test]
async fn the_signed_in_email_appears_in_the_page_header() {
    let app = spawn_app().await;
    let cookie = app.log_in("header@example.com").await;
    let html = app
        .client
        .get(app.url("/"))
        .header("cookie", format!("gh_session={cookie}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("header@example.com") && html.contains("Log out"), "{html}");
    let anonymous = app.client.get(app.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(!anonymous.contains("Log out") && anonymous.contains("Log in"));
}

#[tokio::test]
async fn a_form_posted_before_hydration_comes_back_with_the_message_beside_the_field() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/request_login"))
        .header("origin", &app.address)
        .header("accept", "text/html")
        .form(&[("email", "nope"), ("next", "/i")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/login?email=nope&next=%2Fi&error="), "{location}");
    let page = app.client.get(app.url(&location)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("An email address needs an @"), "{page}");
    assert_eq!(app.mail_count(), 0);
}

#[tokio::test]
async fn an_active_session_slides_forward_and_an_expired_one_is_refused() {
    use gatehouse::server::time::{now_ms, DAY_MS};
    let app = spawn_app().await;
    let cookie = app.log_in("slide@example.com").await;
    let set_expiry = |at: i64| {
        let pool = app.state.db.pool().clone();
        async move { sqlx::query("UPDATE sessions SET expires_at = $1").bind(at).execute(&pool).await.unwrap() }
    };

    set_expiry(now_ms() + 10 * DAY_MS).await;
    let res = app.client.get(app.url("/")).header("cookie", format!("gh_session={cookie}")).send().await.unwrap();
    assert_eq!(session_cookie(res.headers()).as_deref(), Some(cookie.as_str()), "the cookie is sent again");
    let expires: i64 =
        sqlx::query_scalar("SELECT expires_at FROM sessions").fetch_one(app.state.db.pool()).await.unwrap();
    assert!(expires > now_ms() + 29 * DAY_MS, "the server-side expiry moved 30 days ahead");

    set_expiry(now_ms() - 1).await;
    assert_eq!(app.signed_in_email(Some(&cookie)).await, None);
}

#[tokio::test]
async fn the_login_page_carries_next_in_its_server_rendered_form() {
    let app = spawn_app().await;
    let html = app.client.get(app.url("/login?next=%2Fi%2FABC")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains(r#"name="next" value="/i/ABC""#), "{html}");
}

/// Logs in from a browser with this `User-Agent` (and, through a trusted proxy, this address).
async fn log_in_as_browser(app: &TestApp, email: &str, user_agent: &str, address: &str) -> String {
    let post = |path: &str, form: Vec<(&str, String)>| {
        app.client
            .post(app.url(path))
            .header("origin", &app.address)
            .header("user-agent", user_agent)
            .header("x-forwarded-for", address)
            .form(&form)
            .send()
    };
    assert_eq!(
        post("/api/request_login", vec![("email", email.into()), ("next", "/".into())]).await.unwrap().status(),
        200
    );
    let mail = app.last_mail().unwrap();
    assert!(mail.text.contains(&format!("from {address}")), "the email names who asked: {}", mail.text);
    let res = post("/api/confirm_login", vec![("token", app.last_token())]).await.unwrap();
    session_cookie(res.headers()).expect("a session cookie")
}

async fn sessions_seen_by(app: &TestApp, cookie: &str) -> Vec<serde_json::Value> {
    let res = app.post_form("/api/sessions", &[], Some(cookie)).await;
    assert_eq!(res.status(), 200);
    res.json::<Vec<serde_json::Value>>().await.unwrap()
}

#[tokio::test]
async fn the_sessions_page_lists_each_browser_and_signs_out_one_or_all_others() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let chrome =
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    let firefox = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
    let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
    let laptop = log_in_as_browser(&app, "many@example.com", chrome, "198.51.100.20").await;
    assert!(app.last_mail().unwrap().text.contains("Asked by: Chrome 131 on Linux, from 198.51.100.20."));
    let desktop = log_in_as_browser(&app, "many@example.com", firefox, "203.0.113.5").await;
    let phone = log_in_as_browser(&app, "many@example.com", safari, "2001:db8::7").await;

    let seen = sessions_seen_by(&app, &laptop).await;
    assert_eq!(seen.len(), 3);
    let mine: Vec<_> = seen.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(
        (mine[0]["browser"].as_str(), mine[0]["address"].as_str()),
        (Some("Chrome 131 on Linux"), Some("198.51.100.20"))
    );
    let browsers: Vec<&str> = seen.iter().map(|s| s["browser"].as_str().unwrap()).collect();
    assert!(browsers.contains(&"Firefox 133 on Windows") && browsers.contains(&"Safari 17 on iPhone"), "{browsers:?}");
    assert!(seen.iter().all(|s| s["handle"].as_str().unwrap().len() == 16), "handles, never the session ids");
    assert!(!seen.iter().any(|s| [&laptop, &desktop, &phone].iter().any(|c| s.to_string().contains(c.as_str()))));

    // Sign out the desktop from the laptop.
    let desktop_handle =
        seen.iter().find(|s| s["browser"] == "Firefox 133 on Windows").unwrap()["handle"].as_str().unwrap().to_string();
    let res = app.post_form("/api/sessions_revoke", &[("handle", &desktop_handle)], Some(&laptop)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.signed_in_email(Some(&desktop)).await, None);
    assert_eq!(app.signed_in_email(Some(&phone)).await.as_deref(), Some("many@example.com"));
    // Another account cannot sign out someone else's browser.
    let stranger = app.log_in("stranger@example.com").await;
    let phone_handle = sessions_seen_by(&app, &phone).await.iter().find(|s| s["current"] == true).unwrap()["handle"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app.post_form("/api/sessions_revoke", &[("handle", &phone_handle)], Some(&stranger)).await;
    assert_eq!(res.status(), 404);
    assert_eq!(app.signed_in_email(Some(&phone)).await.as_deref(), Some("many@example.com"));

    // Sign out every other browser.
    let res = app.post_form("/api/sessions_revoke_others", &[], Some(&laptop)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.signed_in_email(Some(&phone)).await, None);
    assert_eq!(app.signed_in_email(Some(&laptop)).await.as_deref(), Some("many@example.com"));
    assert_eq!(sessions_seen_by(&app, &laptop).await.len(), 1);
    assert_eq!(app.signed_in_email(Some(&stranger)).await.as_deref(), Some("stranger@example.com"));
    let html = app.get_page("/account/sessions", Some(&laptop)).await.text().await.unwrap();
    assert!(html.contains("Chrome 131 on Linux") && html.contains("This browser"), "the page lists it");
}
