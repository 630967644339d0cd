//! The referral program end to end over HTTP, and its rules against the database: the invite notes and
//! their acknowledgement, qualification, rewards for both sides exactly once, the per-IP cap, the
//! promotion switch, manual code entry, and the operator's review.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{cli, session_cookie, spawn_app, spawn_app_with, TestApp};
use gatehouse::server::domain::money::Money;
use gatehouse::server::domain::operator_actions;
use gatehouse::server::domain::operator_log::{self, Actor};
use gatehouse::server::domain::packages;
use gatehouse::server::domain::referral::{self, Application, Decision, InviteCode, ReferralError, Via};
use gatehouse::server::time::now_ms;

const ALL_NOTES: [(&str, &str); 4] = [("reward", "on"), ("new_users", "on"), ("credit", "on"), ("balance", "on")];

/// The inviter's code, as `/i` shows it.
async fn code_of(app: &TestApp, cookie: &str) -> String {
    let res = app.post_form("/api/referral", &[], Some(cookie)).await;
    assert_eq!(res.status(), 200);
    let v: serde_json::Value = res.json().await.unwrap();
    v["code"].as_str().unwrap().to_string()
}

/// The code box on `/i`, with every note ticked.
async fn apply_by_hand(app: &TestApp, cookie: &str, code: &str) -> reqwest::Response {
    let mut form = vec![("code", code)];
    form.extend_from_slice(&ALL_NOTES);
    app.post_form("/api/referral_apply", &form, Some(cookie)).await
}

async fn referral_view(app: &TestApp, cookie: &str) -> serde_json::Value {
    app.post_form("/api/referral", &[], Some(cookie)).await.json().await.unwrap()
}

/// Ticks the notes on `/i/CODE` and clicks "I Understand"; returns where the browser is sent.
async fn acknowledge(app: &TestApp, code: &str, notes: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![("code", code)];
    form.extend_from_slice(notes);
    app.client
        .post(app.url("/api/invite_ack"))
        .header("origin", &app.address)
        .header("accept", "text/html")
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Asks for a login link from the browser holding the invitation acknowledgement `ack` (its cookie).
async fn request_login_with_ack(app: &TestApp, email: &str, next: &str, ack: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/request_login"))
        .header("origin", &app.address)
        .header("cookie", format!("gh_invite_ack={ack}"))
        .form(&[("email", email), ("next", next)])
        .send()
        .await
        .unwrap()
}

/// Logs in from the browser holding an invitation acknowledgement; returns the session cookie and where
/// confirm sent the browser.
async fn log_in_with_ack(app: &TestApp, email: &str, ack: &str) -> (String, String) {
    let res = request_login_with_ack(app, email, "/i", ack).await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    confirm_last_in(app, Some(ack)).await
}

/// The acknowledgement token "I Understand" put in the browser's cookie.
fn ack_cookie(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("gh_invite_ack="))
        .and_then(|v| v.split(';').next())
        .filter(|v| !v.is_empty())
        .expect("an invitation cookie")
        .to_string()
}

/// Confirms the newest login link from a browser without an invitation cookie.
async fn confirm_last(app: &TestApp) -> (String, String) {
    confirm_last_in(app, None).await
}

/// Confirms the newest login link from the browser holding invitation acknowledgement `ack`, if any.
async fn confirm_last_in(app: &TestApp, ack: Option<&str>) -> (String, String) {
    let mut confirm = app.client.post(app.url("/api/confirm_login"));
    if let Some(ack) = ack {
        confirm = confirm.header("cookie", format!("gh_invite_ack={ack}"));
    }
    let confirm = confirm
        .header("origin", &app.address)
        .header("accept", "text/html")
        .form(&[("token", app.last_token())])
        .send()
        .await
        .unwrap();
    assert_eq!(confirm.status(), 302);
    let cookie = session_cookie(confirm.headers()).unwrap();
    (cookie, confirm.headers()["location"].to_str().unwrap().to_string())
}

/// Ticks the notes and clicks "I Understand"; returns the acknowledgement token of the browser's cookie.
async fn ack_token(app: &TestApp, code: &str) -> String {
    let ack = acknowledge(app, code, &ALL_NOTES).await;
    assert_eq!(ack.status(), 302);
    ack_cookie(&ack)
}

/// The whole invitee journey: notes, I Understand, login page, email link, confirm. Returns the new
/// session cookie and where confirm sent the browser.
async fn sign_up_through(app: &TestApp, code: &str, email: &str) -> (String, String) {
    let page = app.get_page(&format!("/i/{code}"), None).await;
    assert_eq!(page.status(), 200);
    let ack = acknowledge(app, code, &ALL_NOTES).await;
    assert_eq!(ack.status(), 302);
    let login = ack.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(login, format!("/login?next=/i&invite={code}"), "the token is in the cookie, never in the URL");
    let cookie = ack
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("gh_invite_ack="))
        .unwrap();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=86400"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    let ack_token = ack_cookie(&ack);
    let html = app.get_page(&login, None).await.text().await.unwrap();
    assert!(html.contains(&format!("Invitation <strong>{code}</strong>")), "the login page names the invitation");
    let res = request_login_with_ack(app, email, "/i", &ack_token).await;
    assert_eq!(res.status(), 200);
    confirm_last_in(app, Some(&ack_token)).await
}

async fn referral_packages(app: &TestApp, email: &str) -> Vec<packages::Package> {
    let user = app.user_id(email).await;
    packages::list(app.state.db.pool(), user, now_ms())
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.source == "referral")
        .collect()
}

#[tokio::test]
async fn the_seed_journey_gives_both_sides_the_twenty_dollar_package() {
    let app = spawn_app().await;
    let inviter = app.log_in("inviter@example.com").await;
    let code = code_of(&app, &inviter).await;
    assert_eq!(code.len(), 8);
    assert_eq!(code_of(&app, &inviter).await, code, "the code is stable");
    let html = app.get_page("/i", Some(&inviter)).await.text().await.unwrap();
    assert!(html.contains(&format!("{}/i/{code}", app.address)), "the exclusive link is on /i");

    let (invitee, landed) = sign_up_through(&app, &code, "friend@gmail.com").await;
    assert_eq!(landed, "/i");
    for email in ["friend@gmail.com", "inviter@example.com"] {
        let pkgs = referral_packages(&app, email).await;
        assert_eq!(pkgs.len(), 1, "{email}");
        assert_eq!(pkgs[0].title, "Claude Code API $20");
        assert_eq!(pkgs[0].original, Money::usd(20));
        assert_eq!(pkgs[0].scope.to_text(), "cc-omg,web-chat:claude-*");
        assert!((pkgs[0].expires_at - pkgs[0].granted_at - 30 * 86_400_000).abs() < 1000);
    }
    let v = referral_view(&app, &inviter).await;
    assert_eq!((v["opened"].as_i64(), v["signed_up"].as_i64(), v["qualified"].as_i64()), (Some(1), Some(1), Some(1)));
    assert_eq!(v["invitees"][0]["email"], "f***@gmail.com");
    assert_eq!(v["invitees"][0]["status"], "Rewarded");
    let v = referral_view(&app, &invitee).await;
    assert!(v["own_referral"].as_str().unwrap().contains(&code));
    assert_eq!(v["can_enter_code"], false);
    let html = app.get_page("/billing/packages", Some(&invitee)).await.text().await.unwrap();
    assert!(html.contains("Claude Code API $20") && html.contains("Referral"));
    let report = gatehouse::server::domain::audit::run(app.state.db.pool(), now_ms()).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.breaches);
}

#[tokio::test]
async fn skipping_the_checkboxes_is_refused_by_the_server_and_records_nothing() {
    let app = spawn_app().await;
    let inviter = app.log_in("boxes@example.com").await;
    let code = code_of(&app, &inviter).await;
    let res = acknowledge(&app, &code, &ALL_NOTES[..3]).await;
    assert_eq!(res.status(), 302);
    let back = res.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with(&format!("/i/{code}?error=")), "{back}");
    let html = app.get_page(&back, None).await.text().await.unwrap();
    assert!(html.contains("tick every note"));
    // With JavaScript the server function answers 400 the same way.
    let res = app.post_form("/api/invite_ack", &[("code", &code), ("reward", "on")], None).await;
    assert_eq!(res.status(), 400);
    let (acks,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM invite_acks").fetch_one(app.state.db.pool()).await.unwrap();
    assert_eq!(acks, 0);
}

#[tokio::test]
async fn self_referral_through_a_gmail_alias_is_refused() {
    let app = spawn_app().await;
    let inviter = app.log_in("ab@gmail.com").await;
    let code = code_of(&app, &inviter).await;
    // a.b+x@gmail.com is the same Gmail inbox, so the same account: not new, nothing granted.
    let (_, landed) = sign_up_through(&app, &code, "a.b+x@gmail.com").await;
    assert_eq!(landed, "/i?invite=existing");
    assert!(referral_packages(&app, "ab@gmail.com").await.is_empty());
    // Typing one's own code is refused too.
    let res = apply_by_hand(&app, &inviter, &code).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("your own invitation code"));
    assert!(referral_packages(&app, "ab@gmail.com").await.is_empty());
}

#[tokio::test]
async fn disposable_domains_and_their_subdomains_are_recorded_but_not_rewarded() {
    let app = spawn_app().await;
    let inviter = app.log_in("host@example.com").await;
    let code = code_of(&app, &inviter).await;
    sign_up_through(&app, &code, "temp@mailinator.com").await;
    sign_up_through(&app, &code, "temp@inbox.mailinator.com").await;
    assert!(referral_packages(&app, "host@example.com").await.is_empty());
    assert!(referral_packages(&app, "temp@mailinator.com").await.is_empty());
    let v = referral_view(&app, &inviter).await;
    assert_eq!((v["signed_up"].as_i64(), v["qualified"].as_i64()), (Some(2), Some(0)));
    assert_eq!(v["invitees"][0]["status"], "Not qualified");
    assert!(v["invitees"][0]["reason"].as_str().unwrap().contains("disposable"));
}

#[tokio::test]
async fn concurrent_applications_for_one_invitee_grant_exactly_once_per_side() {
    let app = spawn_app().await;
    let inviter = app.log_in("race-host@example.com").await;
    let code = InviteCode::parse(&code_of(&app, &inviter).await).unwrap();
    app.log_in("race-guest@example.com").await;
    let invitee = app.user_id("race-guest@example.com").await;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let state = app.state.clone();
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = state.db.pool().begin().await.unwrap();
            let application = Application {
                invitee_id: invitee,
                new_account: false,
                code: &code,
                ack_id: None,
                via: Via::Manual,
                ip: "10.0.0.9",
                now: now_ms(),
            };
            match referral::apply(&mut tx, &state.settings.referral.promotion, &state.email_policy, application).await {
                Ok(applied) => {
                    tx.commit().await.unwrap();
                    Some(applied.referral_id)
                }
                Err(ReferralError::AlreadyReferred) => None,
                Err(e) => panic!("{e}"),
            }
        }));
    }
    let mut applied = 0;
    for t in tasks {
        applied += usize::from(t.await.unwrap().is_some());
    }
    assert_eq!(applied, 1);
    assert_eq!(referral_packages(&app, "race-host@example.com").await.len(), 1);
    assert_eq!(referral_packages(&app, "race-guest@example.com").await.len(), 1);
}

#[tokio::test]
async fn the_per_ip_cap_holds_extra_referrals_for_review_and_the_operator_approves() {
    let app = spawn_app_with(&[("REFERRAL_IP_DAILY_CAP", "3")]).await;
    let inviter = app.log_in("popular@example.com").await;
    let code = code_of(&app, &inviter).await;
    for i in 0..4 {
        sign_up_through(&app, &code, &format!("guest{i}@example.org")).await;
    }
    // Every test request comes from 127.0.0.1: the fourth is held.
    assert_eq!(referral_packages(&app, "popular@example.com").await.len(), 3);
    assert!(referral_packages(&app, "guest3@example.org").await.is_empty());
    let held = referral::all(app.state.db.pool(), Some("held")).await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(referral::Why::read(&held[0].reason), referral::Why::NetworkCap(3));
    let v = referral_view(&app, &inviter).await;
    assert_eq!(v["invitees"][0]["status"], "Held for review");
    let reasons = |v: &serde_json::Value| -> Vec<String> {
        v["invitees"].as_array().unwrap().iter().map(|i| i["reason"].as_str().unwrap_or("").to_string()).collect()
    };
    let english = "more than 3 rewarded sign-ups from one network that day; held for review";
    assert!(reasons(&v).iter().any(|r| r == english), "{v}");
    // The reason is worded in the reader's language.
    let zh = referral_view(&app, &format!("{inviter}; i18n_pref_locale=zh")).await;
    assert!(reasons(&zh).iter().any(|r| r == "当天来自同一网络、获得奖励的注册已超过 3 个，等待审核"), "{zh}");

    let decide = || {
        operator_actions::decide_referral(
            app.state.db.pool(),
            Actor("ops@example.com"),
            &app.state.settings.referral.promotion,
            held[0].id,
            true,
            "",
            now_ms(),
        )
    };
    assert!(matches!(decide().await.unwrap(), Decision::Decided { status: "rewarded", .. }));
    assert_eq!(referral_packages(&app, "guest3@example.org").await.len(), 1);
    assert_eq!(referral_packages(&app, "popular@example.com").await.len(), 4);
    // Deciding again changes nothing.
    assert_eq!(decide().await.unwrap(), Decision::NotHeld("rewarded".into()));
    // The decision is in the operator log once.
    let log = operator_log::page(app.state.db.pool(), None, None, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].actor.as_str(), log[0].action.as_str()), ("ops@example.com", "approve-referral"));
    assert_eq!(referral_packages(&app, "popular@example.com").await.len(), 4);
    // Total granted is two packages per qualified pair.
    let (granted,): (i64,) =
        sqlx::query_as("SELECT CAST(COALESCE(SUM(original), 0) AS BIGINT) FROM packages WHERE source = 'referral'")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    let (pairs,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM referrals WHERE status = 'rewarded'")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(pairs, 4);
    assert_eq!(Money::from_units(granted), Money::usd(20 * 2 * pairs));
}

#[tokio::test]
async fn a_promotion_turned_off_or_ended_grants_nothing() {
    for settings in [[("REFERRAL_PROMOTION", "false")], [("REFERRAL_ENDS", "2020-01-31")]] {
        let app = spawn_app_with(&settings).await;
        let inviter = app.log_in("off@example.com").await;
        let code = code_of(&app, &inviter).await;
        let html = app.get_page(&format!("/i/{code}"), None).await.text().await.unwrap();
        assert!(html.contains("The promotion is paused"), "{settings:?}");
        sign_up_through(&app, &code, "late@example.org").await;
        assert!(referral_packages(&app, "off@example.com").await.is_empty(), "{settings:?}");
        assert!(referral_packages(&app, "late@example.org").await.is_empty(), "{settings:?}");
        let v = referral_view(&app, &inviter).await;
        assert_eq!(v["invitees"][0]["status"], "Not qualified");
    }
}

#[tokio::test]
async fn unknown_codes_and_signed_in_visitors_get_clear_pages() {
    let app = spawn_app().await;
    let res = app.get_page("/i/NOPENOPE", None).await;
    assert_eq!(res.status(), 404);
    let html = res.text().await.unwrap();
    assert!(html.contains("This invitation link does not work"));
    assert!(html.contains("Sign up without a referral"));
    let res = acknowledge(&app, "NOPENOPE", &ALL_NOTES).await;
    assert_eq!(res.status(), 302, "a plain form goes back to the page that explains");

    let inviter = app.log_in("member-host@example.com").await;
    let code = code_of(&app, &inviter).await;
    let member = app.log_in("member@example.com").await;
    // A member for longer than the sign-up window.
    sqlx::query("UPDATE users SET created_at = created_at - $1 WHERE email = 'member@example.com'")
        .bind(8 * 86_400_000_i64)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let html = app.get_page(&format!("/i/{code}"), Some(&member)).await.text().await.unwrap();
    assert!(html.contains("Rewards are for new accounts"));
    assert!(referral_packages(&app, "member@example.com").await.is_empty());
    // Signed-out visits count once per visitor.
    app.get_page(&format!("/i/{code}"), None).await;
    app.get_page(&format!("/i/{code}"), None).await;
    assert_eq!(referral_view(&app, &inviter).await["opened"], 1);
}

#[tokio::test]
async fn a_new_account_can_enter_a_code_by_hand_once_within_the_window() {
    let app = spawn_app().await;
    let inviter = app.log_in("manual-host@example.com").await;
    let code = code_of(&app, &inviter).await;
    let guest = app.log_in("manual-guest@example.org").await;
    let v = referral_view(&app, &guest).await;
    assert_eq!(v["can_enter_code"], true);
    let html = app.get_page("/i", Some(&guest)).await.text().await.unwrap();
    assert!(html.contains("Were you invited?"));

    let unticked = app.post_form("/api/referral_apply", &[("code", &code)], Some(&guest)).await;
    assert_eq!(unticked.status(), 400);
    assert!(unticked.text().await.unwrap().contains("tick every note"));
    let wrong = apply_by_hand(&app, &guest, "ZZZZZZZZ").await;
    assert_eq!(wrong.status(), 400);
    assert!(wrong.text().await.unwrap().contains("no invitation with that code"));
    let malformed = apply_by_hand(&app, &guest, "hi").await;
    assert!(malformed.text().await.unwrap().contains("8 letters and digits"));

    let ok = apply_by_hand(&app, &guest, &code.to_lowercase()).await;
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("each received the package"));
    assert_eq!(referral_packages(&app, "manual-guest@example.org").await.len(), 1);
    let again = apply_by_hand(&app, &guest, &code).await;
    assert!(again.text().await.unwrap().contains("already been applied"));
    assert_eq!(referral_packages(&app, "manual-host@example.com").await.len(), 1);

    // An account older than the window is told why it cannot enter a code.
    let old = app.log_in("old-timer@example.org").await;
    sqlx::query("UPDATE users SET created_at = created_at - $1 WHERE email = 'old-timer@example.org'")
        .bind(8 * 86_400_000_i64)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let v = referral_view(&app, &old).await;
    assert_eq!(v["can_enter_code"], false);
    assert!(v["cannot_enter_code"].as_str().unwrap().contains("within 7 days"));
    let late = apply_by_hand(&app, &old, &code).await;
    assert!(late.text().await.unwrap().contains("within 7 days"));
}

#[tokio::test]
async fn the_operator_lists_and_decides_held_referrals_from_the_command_line() {
    let url = common::fresh_database_url().await;
    let app = spawn_app_with(&[("DATABASE_URL", url.as_str()), ("REFERRAL_IP_DAILY_CAP", "0")]).await;
    let inviter = app.log_in("cli-host@example.com").await;
    let code = code_of(&app, &inviter).await;
    sign_up_through(&app, &code, "cli-guest-1@example.org").await;
    sign_up_through(&app, &code, "cli-guest-2@example.org").await;
    let out = cli(&url, &["admin", "referrals", "--status", "held"]);
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{out:?}");
    assert!(listing.contains("cli-guest-1@example.org") && listing.contains("cli-guest-2@example.org"), "{listing}");
    let ids: Vec<String> =
        listing.lines().skip(1).filter_map(|l| l.split_whitespace().next().map(str::to_string)).collect();
    assert_eq!(ids.len(), 2);
    let approve = cli(&url, &["admin", "referrals", "approve", &ids[0]]);
    assert!(String::from_utf8_lossy(&approve.stdout).contains("rewarded"), "{approve:?}");
    let unexplained = cli(&url, &["admin", "referrals", "reject", &ids[1]]);
    assert_eq!(unexplained.status.code(), Some(2), "a rejection says why: the inviter reads it");
    let reject = cli(&url, &["admin", "referrals", "reject", &ids[1], "--reason", "the same person twice"]);
    assert!(String::from_utf8_lossy(&reject.stdout).contains("rejected"), "{reject:?}");
    assert_eq!(referral_packages(&app, "cli-host@example.com").await.len(), 1);
    let v = referral_view(&app, &inviter).await;
    let statuses: Vec<&str> = v["invitees"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert!(statuses.contains(&"Rewarded") && statuses.contains(&"Rejected"), "{statuses:?}");
    let reasons: Vec<&str> = v["invitees"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert!(reasons.contains(&"the same person twice"), "{reasons:?}");
    assert_eq!(cli(&url, &["admin", "referrals", "approve", "999999"]).status.code(), Some(2));
}

#[tokio::test]
async fn an_acknowledgement_serves_one_account_only() {
    let app = spawn_app().await;
    let inviter = app.log_in("sharer@example.com").await;
    let code = code_of(&app, &inviter).await;
    let token = ack_token(&app, &code).await;
    log_in_with_ack(&app, "first@example.org", &token).await;
    assert_eq!(referral_packages(&app, "first@example.org").await.len(), 1);
    // The same browser signs up a second account: its acknowledgement served the first one, so the
    // second login is a plain one (and the spent cookie is cleared).
    let res = request_login_with_ack(&app, "second@example.org", "/i", &token).await;
    assert_eq!(res.status(), 200);
    let cleared = res.headers().get_all("set-cookie").iter().any(|v| {
        let v = v.to_str().unwrap();
        v.starts_with("gh_invite_ack=;") && v.contains("Max-Age=0")
    });
    assert!(cleared, "the spent acknowledgement's cookie is cleared");
    confirm_last(&app).await;
    assert!(referral_packages(&app, "second@example.org").await.is_empty());
    assert_eq!(referral_view(&app, &inviter).await["signed_up"], 1);
}

/// Invitation hijack: someone who acknowledged their own code asks for a login link for another person's
/// address, with their acknowledgement. Links that person later asks for from their own browser must not
/// carry the invitation, and an acknowledgement named in the form (as the login URL once carried it) is
/// ignored.
#[tokio::test]
async fn an_invitation_cannot_be_attached_to_another_persons_login() {
    let app = spawn_app().await;
    let attacker = app.log_in("hijacker@example.com").await;
    let code = code_of(&app, &attacker).await;
    let token = ack_token(&app, &code).await;
    assert_eq!(request_login_with_ack(&app, "victim@example.org", "/i", &token).await.status(), 200);
    // The owner of the address opens that unexpected link in their own browser: no invitation applies.
    let (victim, _) = confirm_last(&app).await;
    assert!(referral_packages(&app, "victim@example.org").await.is_empty(), "the attacker's link applied");
    app.post_form("/api/logout", &[], Some(&victim)).await;
    // Later they log in again from their own browser (the form naming the attacker's acknowledgement).
    let res = app
        .post_form("/api/request_login", &[("email", "victim@example.org"), ("next", "/"), ("ack", &token)], None)
        .await;
    assert_eq!(res.status(), 200);
    confirm_last(&app).await;
    assert!(referral_packages(&app, "victim@example.org").await.is_empty(), "the attacker's invitation applied");
    assert_eq!(referral_view(&app, &attacker).await["signed_up"], 0);
}

#[tokio::test]
async fn asking_for_a_new_login_link_keeps_the_invitation() {
    let app = spawn_app().await;
    let inviter = app.log_in("keeper@example.com").await;
    let code = code_of(&app, &inviter).await;
    let token = ack_token(&app, &code).await;
    let res = request_login_with_ack(&app, "twice@example.org", "/i", &token).await;
    assert_eq!(res.status(), 200);
    // "Send a new link" from /login/sent posts a plain login for the same address, from the same browser.
    assert_eq!(request_login_with_ack(&app, "twice@example.org", "/", &token).await.status(), 200);
    let (_, landed) = confirm_last_in(&app, Some(&token)).await;
    assert_eq!(landed, "/i");
    assert_eq!(referral_packages(&app, "twice@example.org").await.len(), 1);
}

#[tokio::test]
async fn a_recent_account_arriving_through_a_link_still_gets_the_invitation() {
    let app = spawn_app().await;
    let inviter = app.log_in("late-host@example.com").await;
    let code = code_of(&app, &inviter).await;
    let guest = app.log_in("signed-up-yesterday@example.org").await;
    // Signed in, the invite page offers to apply it on /i.
    let html = app.get_page(&format!("/i/{code}"), Some(&guest)).await.text().await.unwrap();
    assert!(html.contains("You can still join with this invitation"), "{html}");
    // Through the link and a fresh login, it is applied at confirm.
    let (_, landed) = sign_up_through(&app, &code, "signed-up-yesterday@example.org").await;
    assert_eq!(landed, "/i");
    assert_eq!(referral_packages(&app, "signed-up-yesterday@example.org").await.len(), 1);
}

#[tokio::test]
async fn two_people_cannot_invite_each_other() {
    let app = spawn_app().await;
    let a = app.log_in("mutual-a@example.com").await;
    let a_code = code_of(&app, &a).await;
    let (b, _) = sign_up_through(&app, &a_code, "mutual-b@example.org").await;
    let b_code = code_of(&app, &b).await;
    let res = apply_by_hand(&app, &a, &b_code).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("cannot also join through their invitation"));
    assert_eq!(referral_packages(&app, "mutual-a@example.com").await.len(), 1);
}

#[tokio::test]
async fn concurrent_sign_ups_from_one_network_respect_the_cap() {
    let app = spawn_app_with(&[("REFERRAL_IP_DAILY_CAP", "3")]).await;
    let inviter = app.log_in("crowd@example.com").await;
    let code = InviteCode::parse(&code_of(&app, &inviter).await).unwrap();
    let mut invitees = Vec::new();
    for i in 0..8 {
        app.log_in(&format!("crowd{i}@example.org")).await;
        invitees.push(app.user_id(&format!("crowd{i}@example.org")).await);
    }
    let mut tasks = Vec::new();
    for invitee in invitees {
        let state = app.state.clone();
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = state.db.pool().begin().await.unwrap();
            let application = Application {
                invitee_id: invitee,
                new_account: false,
                code: &code,
                ack_id: None,
                via: Via::Manual,
                ip: "203.0.113.7",
                now: now_ms(),
            };
            let applied =
                referral::apply(&mut tx, &state.settings.referral.promotion, &state.email_policy, application)
                    .await
                    .unwrap();
            tx.commit().await.unwrap();
            applied.verdict
        }));
    }
    let mut rewarded = 0;
    for t in tasks {
        rewarded += usize::from(t.await.unwrap() == referral::Verdict::Rewarded);
    }
    assert_eq!(rewarded, 3);
    assert_eq!(referral::all(app.state.db.pool(), Some("held")).await.unwrap().len(), 5);
}

#[tokio::test]
async fn a_disabled_code_stops_working_and_can_be_enabled_again() {
    let url = common::fresh_database_url().await;
    let app = spawn_app_with(&[("DATABASE_URL", url.as_str())]).await;
    let inviter = app.log_in("paused@example.com").await;
    let code = code_of(&app, &inviter).await;
    let out = cli(&url, &["admin", "invite-code", "disable", &code.to_lowercase()]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("disabled"), "{out:?}");
    assert_eq!(app.get_page(&format!("/i/{code}"), None).await.status(), 404);
    cli(&url, &["admin", "invite-code", "enable", &code]);
    assert_eq!(app.get_page(&format!("/i/{code}"), None).await.status(), 200);
}

#[tokio::test]
async fn an_inviter_already_calling_the_api_holds_the_next_call_on_the_new_package_at_once() {
    let app = spawn_app().await;
    let inviter = app.log_in("busy-inviter@example.com").await;
    let code = code_of(&app, &inviter).await;
    let inviter_id = app.user_id("busy-inviter@example.com").await;
    let key = app.create_key(inviter_id, false).await;
    let call = |model: &'static str| {
        app.client
            .post(app.url("/api/v1/ai/anthropic/cc-omg/v1/messages"))
            .header("content-type", "application/json")
            .header("x-api-key", &key)
            .body(format!(r#"{{"model":"{model}","max_tokens":16,"messages":[{{"role":"user","content":"Hi"}}]}}"#))
            .send()
    };
    // A first call puts the inviter's account (no package yet) in the admission book.
    assert_eq!(call("claude-haiku-4-5").await.unwrap().status(), 200);
    app.settled().await;

    sign_up_through(&app, &code, "new-friend@example.com").await;
    assert_eq!(referral_packages(&app, "busy-inviter@example.com").await.len(), 1);
    // While the next call runs, the new package holds it, not the balance: the book read the account again.
    let running = call("claude-haiku-4-5-slow");
    let watch = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        app.state.gateway.admissions().balance_held(inviter_id)
    };
    let (res, held) = tokio::join!(running, watch);
    assert_eq!(res.unwrap().status(), 200);
    assert_eq!(held, Money::ZERO);
}

/// Relay and alias services (Hide My Email, duck.com, Firefox Relay, addy.io and its subdomains…) hand out
/// any number of addresses to one person: they do not qualify, and the invitee is told why.
#[tokio::test]
async fn relay_and_alias_addresses_do_not_qualify_and_the_invitee_is_told_why() {
    let app = spawn_app().await;
    let inviter = app.log_in("relayhost@example.com").await;
    let code = code_of(&app, &inviter).await;
    for (n, email) in ["fresh@duck.com", "me@privaterelay.appleid.com", "x@someone.addy.io"].iter().enumerate() {
        let (invitee, _) = sign_up_through(&app, &code, email).await;
        assert!(referral_packages(&app, email).await.is_empty(), "{email}");
        let v = referral_view(&app, &invitee).await;
        let own = v["own_referral"].as_str().unwrap();
        assert!(own.contains("relay or alias service") && own.contains("forwards to"), "{email}: {own}");
        assert_eq!(referral_view(&app, &inviter).await["invitees"].as_array().unwrap().len(), n + 1);
    }
    assert!(referral_packages(&app, "relayhost@example.com").await.is_empty());
    // The operator may let them qualify.
    let open = spawn_app_with(&[("REFERRAL_ALLOW_RELAYS", "true")]).await;
    let host = open.log_in("openhost@example.com").await;
    let code = code_of(&open, &host).await;
    sign_up_through(&open, &code, "fresh@duck.com").await;
    assert_eq!(referral_packages(&open, "fresh@duck.com").await.len(), 1);
}

/// The whole sign-up, with the confirm coming through a trusted proxy from `client`.
async fn sign_up_from(app: &TestApp, code: &str, email: &str, client: &str) {
    let token = ack_token(app, code).await;
    assert_eq!(request_login_with_ack(app, email, "/i", &token).await.status(), 200);
    let confirm = app
        .client
        .post(app.url("/api/confirm_login"))
        .header("origin", &app.address)
        .header("cookie", format!("gh_invite_ack={token}"))
        .header("x-forwarded-for", client)
        .form(&[("token", app.last_token())])
        .send()
        .await
        .unwrap();
    assert_eq!(confirm.status(), 200);
}

#[tokio::test]
async fn rewarded_sign_ups_count_per_ipv6_64_and_per_inviter_per_day() {
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("REFERRAL_IP_DAILY_CAP", "1"),
        ("REFERRAL_INVITER_DAILY_CAP", "2"),
    ])
    .await;
    let inviter = app.log_in("v6host@example.com").await;
    let code = code_of(&app, &inviter).await;
    sign_up_from(&app, &code, "v6-a@example.org", "2001:db8:7:8::1").await;
    sign_up_from(&app, &code, "v6-b@example.org", "2001:db8:7:8:ffff::2").await;
    assert_eq!(referral_packages(&app, "v6-a@example.org").await.len(), 1);
    assert!(referral_packages(&app, "v6-b@example.org").await.is_empty(), "the same /64 is one network");
    let held = referral::all(app.state.db.pool(), Some("held")).await.unwrap();
    assert!(matches!(referral::Why::read(&held[0].reason), referral::Why::NetworkCap(_)), "{}", held[0].reason);
    // Other networks: the inviter's second rewarded referral today, then the cap holds the third.
    sign_up_from(&app, &code, "v4-c@example.org", "198.51.100.7").await;
    sign_up_from(&app, &code, "v4-d@example.org", "198.51.100.8").await;
    assert_eq!(referral_packages(&app, "v4-c@example.org").await.len(), 1);
    assert!(referral_packages(&app, "v4-d@example.org").await.is_empty());
    let held = referral::all(app.state.db.pool(), Some("held")).await.unwrap();
    assert_eq!(held.len(), 2);
    let reasons: Vec<referral::Why> = held.iter().map(|r| referral::Why::read(&r.reason)).collect();
    assert!(reasons.iter().any(|r| matches!(r, referral::Why::InviterCap(2))), "{reasons:?}");
    assert_eq!(referral_packages(&app, "v6host@example.com").await.len(), 2);
}

/// What unauthenticated requests write is bounded and swept: visits per code and day are capped, visits
/// older than a week are folded into the code's count, unused acknowledgements and expired login tokens go.
#[tokio::test]
async fn visits_acknowledgements_and_login_tokens_do_not_pile_up() {
    let app = spawn_app().await;
    let inviter = app.log_in("busy-link@example.com").await;
    let code_text = code_of(&app, &inviter).await;
    let code = InviteCode::parse(&code_text).unwrap();
    let pool = app.state.db.pool();
    let now = now_ms();
    let week_ago = now - 10 * 86_400_000;
    for n in 0..3 {
        referral::record_visit(pool, &code, &format!("old visitor {n}"), week_ago).await.unwrap();
    }
    for n in 0..(referral::MAX_VISITORS_PER_DAY + 5) {
        referral::record_visit(pool, &code, &format!("visitor {n}"), now).await.unwrap();
    }
    let rows = || async {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM invite_visits").fetch_one(pool).await.unwrap();
        n
    };
    assert_eq!(rows().await, 3 + referral::MAX_VISITORS_PER_DAY, "a day's visitors are capped");
    let before = referral::visitors(pool, &code_text).await.unwrap();
    assert_eq!(referral::fold_old_visits(pool, now).await.unwrap(), 3);
    assert_eq!(rows().await, referral::MAX_VISITORS_PER_DAY);
    assert_eq!(referral::visitors(pool, &code_text).await.unwrap(), before, "folding keeps the count");

    // An acknowledgement nobody used, two days old, and one used: only the unused one goes.
    let unused = ack_token(&app, &code_text).await;
    let used = ack_token(&app, &code_text).await;
    log_in_with_ack(&app, "used-ack@example.org", &used).await;
    sqlx::query("UPDATE invite_acks SET created_at = $1").bind(now - 3 * 86_400_000).execute(pool).await.unwrap();
    assert_eq!(referral::purge_unused_acks(pool, now).await.unwrap(), 1);
    assert_eq!(request_login_with_ack(&app, "late@example.org", "/i", &unused).await.status(), 400, "gone: expired");
    assert_eq!(referral_packages(&app, "used-ack@example.org").await.len(), 1);

    // Login tokens a day past their expiry go; recent ones stay (the send limits count them).
    app.request_login("fresh@example.org", "/").await;
    sqlx::query("UPDATE login_tokens SET expires_at = $1 WHERE email_normalized <> 'fresh@example.org'")
        .bind(now - 2 * 86_400_000)
        .execute(pool)
        .await
        .unwrap();
    let purged = gatehouse::server::auth::magic_link::purge_expired(&app.state.db, now).await.unwrap();
    assert_eq!(purged, 2, "the inviter's and the invitee's used links");
    let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM login_tokens").fetch_one(pool).await.unwrap();
    assert_eq!(left, 1);
}
