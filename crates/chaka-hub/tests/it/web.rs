//! The web app in a real browser: a real hub with real bank nodes (the kit), driven by
//! Playwright (`playwright-core`, npm) in Debian's headless Chromium. The browser tests live in
//! `e2e/tests/*.test.mjs` and run under node's test runner; this test starts the world, runs
//! them, and passes only if every one of them passed. The browser tests reach the test through
//! a small control server (port 0): move the clock, read the SMS a phone received, pause the
//! fan-out, and read a person's expected cards from the population export. Screenshots go to
//! `target/e2e-artifacts/`. `bash .ci/run` installs Chromium and the npm packages.

use crate::kit::{BANKS, TestApp, person, population, spawn_hub};
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chaka_core::{CardNumber, Phone};
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use time::Duration;

/// The world the browser tests drive.
struct World {
    app: TestApp,
    paused: AtomicBool,
}

impl World {
    /// One turn of the background work a running hub does: fan-out, SMS, retention sweep.
    async fn turn(&self) {
        if !self.paused.load(Ordering::SeqCst) {
            let _ = self.app.fanout.tick(self.app.now()).await;
        }
        self.app.notifier.tick().await;
        let _ = self.app.hub.sweep().await;
    }
}

#[derive(Deserialize)]
struct Advance {
    secs: i64,
}

async fn advance(State(w): State<Arc<World>>, Query(q): Query<Advance>) -> Json<Value> {
    w.app.advance(Duration::seconds(q.secs));
    w.turn().await;
    Json(json!({ "now": w.app.now().to_string() }))
}

#[derive(Deserialize)]
struct PhoneQuery {
    phone: String,
}

async fn last_code(State(w): State<Arc<World>>, Query(q): Query<PhoneQuery>) -> Json<Value> {
    w.app.notifier.tick().await;
    let code = Phone::parse(&q.phone)
        .ok()
        .and_then(|p| w.app.sms.last_code_to(&p));
    Json(json!({ "code": code }))
}

async fn sms(State(w): State<Arc<World>>, Query(q): Query<PhoneQuery>) -> Json<Value> {
    w.app.notifier.tick().await;
    let templates: Vec<String> = Phone::parse(&q.phone)
        .map(|p| {
            w.app
                .sms
                .sent_to(&p)
                .iter()
                .map(|s| s.template.to_owned())
                .collect()
        })
        .unwrap_or_default();
    Json(json!({ "templates": templates }))
}

async fn pause(State(w): State<Arc<World>>, Path(on): Path<String>) -> Json<Value> {
    w.paused.store(on == "on", Ordering::SeqCst);
    Json(json!({ "paused": on == "on" }))
}

/// A demo person and the cards the listing rules let their banks list, from the export.
async fn person_of(State(w): State<Arc<World>>, Path(i): Path<usize>) -> Json<Value> {
    let p = person(i);
    let today = w.app.now().date();
    let cards: Vec<Value> = population()
        .cards
        .iter()
        .filter(|c| c.id_number == p.id_number && BANKS.contains(&c.bank.as_str()))
        .filter(|c| c.is_listed(&p.phone, today))
        .map(|c| {
            let masked = CardNumber::parse(&c.pan).unwrap().masked().to_string();
            json!({ "bank": c.bank, "masked": masked, "kind": c.kind })
        })
        .collect();
    Json(json!({
        "name": p.name, "id_number": p.id_number, "phone": p.phone, "region": p.region,
        "cards": cards,
    }))
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the browser is (`CHAKA_CHROMIUM`, else Debian's).
fn chromium() -> PathBuf {
    std::env::var_os("CHAKA_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// The browser's whole journey, with every log line of the hub captured: none may carry an ID
/// number, a phone, a PIN, a password, an SMS code or a card number typed or shown in it.
#[tokio::test]
async fn the_web_app_works_in_a_real_browser() {
    let (logs, _guard) = crate::logs::Capture::start();
    let root = repo_root();
    let e2e = root.join("e2e");
    assert!(
        e2e.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci --prefix e2e` (bash .ci/run does)"
    );
    assert!(
        chromium().exists(),
        "no Chromium at {}: `apt-get install chromium` (bash .ci/run does) or set CHAKA_CHROMIUM",
        chromium().display()
    );

    let world = Arc::new(World {
        app: spawn_hub().await,
        paused: AtomicBool::new(false),
    });
    let control = Router::new()
        .route("/advance", post(advance))
        .route("/code", get(last_code))
        .route("/sms", get(sms))
        .route("/pause/{on}", post(pause))
        .route("/person/{i}", get(person_of))
        .with_state(world.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, control).await;
    });
    // The hub's background work, as a running hub does it (the clock moves only when told).
    let driver = world.clone();
    tokio::spawn(async move {
        loop {
            driver.turn().await;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });

    let artifacts = root.join("target/e2e-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let base = world.app.base.clone();
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .args(["--test", "--test-concurrency=1", "tests/"])
            .current_dir(&e2e)
            .env("CHAKA_E2E_BASE", base)
            .env("CHAKA_E2E_CONTROL", control_url)
            .env("CHAKA_E2E_ARTIFACTS", artifacts)
            .env("CHAKA_CHROMIUM", chromium())
            .status()
    })
    .await
    .unwrap()
    .expect("node runs (install Node.js 20 or newer)");
    assert!(status.success(), "the browser tests failed: {status}");

    let logged = logs.text();
    assert!(
        logged.contains("inquiry submitted"),
        "the capture saw the hub's logs"
    );
    let mut secrets: Vec<String> = vec![
        crate::kit::PIN.into(),
        "246810".into(),
        crate::kit::PASSWORD.into(),
        // What the settings test types: PINs, a password, a new phone.
        "730418".into(),
        "508163".into(),
        "another-pass-2027".into(),
        "13512345678".into(),
    ];
    for i in [0, 3, 4, 6] {
        let p = person(i);
        let pans = population()
            .cards
            .iter()
            .filter(|c| c.id_number == p.id_number);
        secrets.extend(pans.map(|c| c.pan.clone()));
        secrets.extend([p.id_number, p.phone, p.name]);
    }
    // Every SMS code sent (the same rule as the gateway's `last_code_to`).
    let codes = world
        .app
        .sms
        .sent()
        .into_iter()
        .filter(|s| s.template.starts_with("otp_"));
    let codes: Vec<String> = codes
        .filter_map(|s| {
            s.text
                .split(|c: char| !c.is_ascii_digit())
                .find(|run| run.len() == 6)
                .map(str::to_owned)
        })
        .collect();
    assert!(codes.len() >= 5, "the journey received its codes");
    secrets.extend(codes);
    for secret in &secrets {
        assert!(
            !logged.contains(secret.as_str()),
            "a log line carries a secret value"
        );
    }
}

/// A page and the cookies it set, fetched without a browser.
async fn get_page(app: &TestApp, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let response = app
        .http
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn every_page_is_sent_with_the_security_headers() {
    let app = spawn_hub().await;
    for path in ["/", "/login", "/register", "/no-such-page"] {
        let (status, headers, body) = get_page(&app, path).await;
        assert_eq!(
            status,
            if path == "/no-such-page" { 404 } else { 200 },
            "{path}"
        );
        let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
        assert_eq!(header("content-type"), "text/html; charset=utf-8", "{path}");
        let csp = header("content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(header("x-frame-options"), "DENY");
        assert_eq!(header("cache-control"), "no-store");
        assert!(
            !body.contains("<script>") && !body.contains(" style=\""),
            "{path}: inline code"
        );
    }
    // The API keeps answering problem documents.
    let (status, headers, _) = get_page(&app, "/api/v1/no-such-route").await;
    assert_eq!(status, 404);
    assert_eq!(headers["content-type"], "application/problem+json");
    // Assets may be cached; nothing is fetched from another origin.
    let (status, headers, css) = get_page(&app, "/static/app.css").await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "public, max-age=3600");
    assert!(!css.contains("url(http") && !css.contains("@import"));
}

#[tokio::test]
async fn forms_without_their_token_or_from_another_site_change_nothing() {
    let app = spawn_hub().await;
    let p = person(0);
    let (_, headers, _) = get_page(&app, "/login").await;
    let set_cookie = headers["set-cookie"].to_str().unwrap();
    let token = set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    let post = |cookie: String, body: String| {
        app.http
            .post(format!("{}/login", app.base))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let form = format!("phone={}&password=x", p.phone);
    for (cookie, body) in [
        (format!("chaka_csrf={token}"), form.clone()),
        (
            format!("chaka_csrf={token}"),
            format!("csrf=forged-forged-forged&{form}"),
        ),
        (String::new(), format!("csrf={token}&{form}")),
    ] {
        let response = post(cookie, body).await.unwrap();
        assert_eq!(response.status(), 403);
        let sets_session = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("chaka_session"));
        assert!(!sets_session, "a forged form opened a session");
        assert!(
            response
                .text()
                .await
                .unwrap()
                .contains("data-code=\"csrf\"")
        );
    }
    let big = format!("csrf={token}&x={}", "a".repeat(20_000));
    let response = post(format!("chaka_csrf={token}"), big).await.unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(app.count("sessions").await, 0, "no session was opened");
}

#[tokio::test]
async fn the_language_switch_only_comes_back_to_this_site() {
    let app = spawn_hub().await;
    let response = app
        .http
        .get(format!("{}/lang?to=en&next=//evil.example/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/");
    assert!(
        response.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("chaka_lang=en")
    );
    let response = app
        .http
        .get(format!("{}/lang?to=fr", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let english = app
        .http
        .get(format!("{}/", app.base))
        .header("cookie", "chaka_lang=en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(english.contains("<html lang=\"en\">") && english.contains("Find every bank card"));
}
