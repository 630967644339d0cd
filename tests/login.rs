//! Magic-link login, end to end over HTTP, on whichever database `TEST_DATABASE` names.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{session_cookie, session_set_cookie, spawn_app, spawn_app_with, token_in};

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
