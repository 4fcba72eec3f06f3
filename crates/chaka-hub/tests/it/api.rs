//! The JSON API over real HTTP: every rule and every refusal, with a movable clock. Each test
//! has its own hub (database, secrets, bank nodes) over the binary's shared population.
//! Accounts, codes, sessions and the documents are here; lookups, PINs and reports in
//! [`lookups`].

mod lookups;

use crate::kit::{Auth, PASSWORD, TestApp, person, spawn_hub, spawn_hub_with};
use chaka_hub::error::codes;
use reqwest::Method;
use serde_json::json;
use time::Duration;

#[tokio::test]
async fn registration_verifies_the_person_and_names_each_refusal() {
    let app = spawn_hub().await;
    let p = person(0);
    let mut bad = TestApp::registration(&p, "000000");
    bad["id_number"] = json!("310104198803151240");
    let refused = app.post_account(bad).await;
    refused.assert_problem(422, "invalid_id_number");
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("check character")
    );
    let mut bad = TestApp::registration(&p, "000000");
    bad["password"] = json!("12345678");
    app.post_account(bad)
        .await
        .assert_problem(422, "weak_password");
    let mut bad = TestApp::registration(&p, "000000");
    bad["name"] = json!("王静2");
    app.post_account(bad)
        .await
        .assert_problem(422, "invalid_name");
    let mut bad = TestApp::registration(&p, "000000");
    bad["phone"] = json!("1381700000");
    app.post_account(bad)
        .await
        .assert_problem(422, "invalid_phone");

    // A wrong code, then the registry's refusal of another name for this ID number.
    let code = app.code(Auth::None, "register", &p.phone, true).await;
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let refused = app.post_account(TestApp::registration(&p, &wrong)).await;
    refused.assert_problem(422, "invalid_code");
    assert_eq!(refused.body["attempts_left"], 4);
    let mut other_name = TestApp::registration(&p, &code);
    other_name["name"] = json!("王晶");
    app.post_account(other_name)
        .await
        .assert_problem(422, "identity_mismatch");
    // The phone of another person does not pass either.
    let stranger = person(4);
    let code = app
        .code(Auth::None, "register", &stranger.phone, true)
        .await;
    let mut borrowed = TestApp::registration(&p, &code);
    borrowed["phone"] = json!(stranger.phone);
    app.post_account(borrowed)
        .await
        .assert_problem(422, "identity_mismatch");
    assert_eq!(app.count("accounts").await, 0);

    let created = app.register(&p).await;
    created.assert_status(201);
    assert_eq!(created.body["verified"], true);
    // One account per ID number, whatever phone comes with it.
    let code = app.code(Auth::None, "register", "13700000001", true).await;
    let mut again = TestApp::registration(&p, &code);
    again["phone"] = json!("13700000001");
    app.post_account(again)
        .await
        .assert_problem(409, "id_number_registered");
    assert_eq!(app.count("accounts").await, 1);
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let app = spawn_hub().await;
    let p = person(1);
    let code = app.code(Auth::None, "register", &p.phone, true).await;
    app.advance(Duration::minutes(6));
    app.post_account(TestApp::registration(&p, &code))
        .await
        .assert_problem(422, "no_code");
}

#[tokio::test]
async fn a_recycled_phone_number_is_refused_as_registered() {
    let app = spawn_hub().await;
    let (p, q) = (person(0), person(4));
    let token = app.signed_up(&p).await;
    // Person 0 moves to the number the registry still gives person 4.
    let old_code = app
        .code(Auth::Bearer(&token), "phone_change_old", &p.phone, false)
        .await;
    let new_code = app
        .code(Auth::Bearer(&token), "phone_change_new", &q.phone, true)
        .await;
    let change = json!({ "password": PASSWORD, "old_code": old_code, "new_phone": q.phone, "new_code": new_code });
    app.post_phone(&token, change).await.assert_status(204);
    app.deliver_sms().await;
    assert_eq!(
        app.sms_to(&p.phone, "phone_changed"),
        1,
        "the old number is told"
    );
    app.register(&q)
        .await
        .assert_problem(409, "phone_registered");
}

#[tokio::test]
async fn codes_are_rate_limited_per_phone_and_bound_to_a_purpose() {
    let app = spawn_hub().await;
    let phone = "13700000002";
    let ask = || app.post_code(Auth::None, json!({ "purpose": "register", "phone": phone }));
    ask().await.assert_status(202);
    let refused = ask().await;
    refused.assert_problem(429, "too_many_codes");
    assert_eq!(refused.header("retry-after"), Some("60"));
    for _ in 0..4 {
        app.advance(Duration::seconds(61));
        ask().await.assert_status(202);
    }
    app.advance(Duration::seconds(61));
    let refused = ask().await;
    refused.assert_problem(429, "too_many_codes");
    assert_eq!(refused.header("retry-after"), Some("3600"));
    app.advance(Duration::hours(1));
    ask().await.assert_status(202);

    let other = json!({ "purpose": "pin_reset" });
    app.post_code(Auth::None, other)
        .await
        .assert_problem(401, "unauthenticated");
    let unknown = json!({ "purpose": "login", "phone": phone });
    app.post_code(Auth::None, unknown)
        .await
        .assert_problem(400, "invalid_request");
    let inquiry = json!({ "purpose": "inquiry", "phone": phone });
    app.post_code(Auth::None, inquiry)
        .await
        .assert_problem(400, "invalid_request");
    let no_phone = json!({ "purpose": "register" });
    app.post_code(Auth::None, no_phone)
        .await
        .assert_problem(400, "invalid_request");
}

#[tokio::test]
async fn login_refuses_a_wrong_password_and_an_unknown_phone_alike() {
    let app = spawn_hub().await;
    let p = person(0);
    app.register(&p).await.assert_status(201);
    let wrong = app.post_session(&p.phone, "not-the-password-1").await;
    wrong.assert_problem(401, "wrong_credentials");
    let unknown = app.post_session("13700000003", PASSWORD).await;
    unknown.assert_problem(401, "wrong_credentials");
    assert_eq!(wrong.body, unknown.body);
    let garbage = app.post_session("not a phone", PASSWORD).await;
    assert_eq!(garbage.body, unknown.body);
    app.post_session(&p.phone, PASSWORD)
        .await
        .assert_status(201);
}

#[tokio::test]
async fn sessions_work_by_bearer_and_cookie_and_are_listed_and_revoked() {
    let app = spawn_hub().await;
    let p = person(0);
    app.register(&p).await.assert_status(201);
    let first = app.post_session(&p.phone, PASSWORD).await;
    first.assert_status(201);
    let cookie = first.header("set-cookie").unwrap().to_owned();
    let token = first.body["token"].as_str().unwrap().to_owned();
    assert_eq!(
        cookie,
        format!("chaka_session={token}; HttpOnly; SameSite=Strict; Path=/")
    );
    let second = app.login(&p.phone).await;

    app.get_me(Auth::Bearer(&token)).await.assert_status(200);
    app.get_me(Auth::Cookie(&second)).await.assert_status(200);
    app.get_me(Auth::None)
        .await
        .assert_problem(401, "unauthenticated");
    app.get_me(Auth::Bearer("forged-token"))
        .await
        .assert_problem(401, "unauthenticated");

    let listed = app.get_sessions(Auth::Bearer(&token)).await;
    let sessions = listed.body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["session_id"], first.body["session_id"]);
    let other_id = sessions.iter().find(|s| s["current"] == false).unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // A write with the cookie that another site started is refused and changes nothing.
    let forged = app
        .http
        .delete(format!("{}/api/v1/sessions/{other_id}", app.base))
        .header("cookie", format!("chaka_session={token}"))
        .header("origin", "https://evil.example");
    app.send(forged).await.assert_problem(403, "csrf");
    app.get_me(Auth::Bearer(&second)).await.assert_status(200);

    app.delete_session(Auth::Bearer(&token), &other_id)
        .await
        .assert_status(204);
    app.get_me(Auth::Bearer(&second))
        .await
        .assert_problem(401, "unauthenticated");
    app.delete_session(Auth::Bearer(&token), &other_id)
        .await
        .assert_problem(404, "not_found");

    let out = app
        .call(
            Method::DELETE,
            "/api/v1/sessions/current",
            Auth::Cookie(&token),
            None,
        )
        .await;
    out.assert_status(204);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    app.get_me(Auth::Bearer(&token))
        .await
        .assert_problem(401, "unauthenticated");
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_the_hub_is_served_over_https() {
    let app = spawn_hub_with(|config| config.public_url = "https://hub.example".into()).await;
    let p = person(0);
    app.register(&p).await.assert_status(201);
    let login = app.post_session(&p.phone, PASSWORD).await;
    let cookie = login.header("set-cookie").unwrap();
    assert!(
        cookie.ends_with("; HttpOnly; SameSite=Strict; Path=/; Secure"),
        "{cookie}"
    );
}

#[tokio::test]
async fn sessions_expire_when_idle() {
    let app = spawn_hub().await;
    let token = app.signed_up(&person(0)).await;
    app.advance(Duration::minutes(29));
    app.get_me(Auth::Bearer(&token)).await.assert_status(200);
    app.advance(Duration::minutes(29));
    app.get_me(Auth::Bearer(&token)).await.assert_status(200);
    app.advance(Duration::minutes(31));
    app.get_me(Auth::Bearer(&token))
        .await
        .assert_problem(401, "unauthenticated");
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions() {
    let app = spawn_hub().await;
    let p = person(0);
    let token = app.signed_up(&p).await;
    let other = app.login(&p.phone).await;
    app.post_password(&token, "wrong-password-1", "new-secret-2026")
        .await
        .assert_problem(403, "wrong_password");
    app.post_password(&token, PASSWORD, "short")
        .await
        .assert_problem(422, "weak_password");
    app.get_me(Auth::Bearer(&other)).await.assert_status(200);
    app.post_password(&token, PASSWORD, "new-secret-2026")
        .await
        .assert_status(204);
    app.get_me(Auth::Bearer(&token)).await.assert_status(200);
    app.get_me(Auth::Bearer(&other))
        .await
        .assert_problem(401, "unauthenticated");
    app.post_session(&p.phone, PASSWORD)
        .await
        .assert_problem(401, "wrong_credentials");
    app.post_session(&p.phone, "new-secret-2026")
        .await
        .assert_status(201);
}

#[tokio::test]
async fn the_profile_is_masked() {
    let app = spawn_hub().await;
    let p = person(0);
    let token = app.signed_up(&p).await;
    let me = app.get_me(Auth::Bearer(&token)).await;
    me.assert_status(200);
    assert_eq!(me.body["name"], p.name);
    let id = me.body["id_number"].as_str().unwrap();
    assert!(
        id.contains('*') && !id.contains(&p.id_number[6..14]),
        "{id}"
    );
    let phone = me.body["phone"].as_str().unwrap();
    assert!(phone.contains('*') && phone != p.phone, "{phone}");
    assert_eq!(me.body["region"]["code"], "31");
    assert_eq!(me.body["region"]["open"], true);
    assert_eq!(
        (me.body["verified"].clone(), me.body["pin_set"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(me.body["lang"], "zh");
}

#[tokio::test]
async fn malformed_oversized_and_non_json_bodies_change_nothing() {
    let app = spawn_hub().await;
    let p = person(0);
    let code = app.code(Auth::None, "register", &p.phone, true).await;
    let good = serde_json::to_vec(&TestApp::registration(&p, &code)).unwrap();

    let refused = app
        .raw("/api/v1/accounts", Auth::None, "text/plain", good.clone())
        .await;
    refused.assert_problem(415, "unsupported_media_type");
    let refused = app
        .raw(
            "/api/v1/accounts",
            Auth::None,
            "application/x-www-form-urlencoded",
            b"name=x".to_vec(),
        )
        .await;
    refused.assert_problem(415, "unsupported_media_type");

    let mut huge = TestApp::registration(&p, &code);
    huge["name"] = json!("王".repeat(30_000));
    let huge = serde_json::to_vec(&huge).unwrap();
    assert!(huge.len() > 64 * 1024);
    app.raw("/api/v1/accounts", Auth::None, "application/json", huge)
        .await
        .assert_problem(413, "body_too_large");

    let cut = &good[..good.len() - 10];
    let refused = app
        .raw(
            "/api/v1/accounts",
            Auth::None,
            "application/json",
            cut.to_vec(),
        )
        .await;
    refused.assert_problem(400, "invalid_request");
    assert_eq!(
        (
            refused.body["line"].clone(),
            refused.body["column"].as_u64().is_some()
        ),
        (json!(1), true)
    );
    assert!(!refused.body.to_string().contains(&p.id_number));

    let mut extra = TestApp::registration(&p, &code);
    extra["admin"] = json!(true);
    let refused = app.post_account(extra).await;
    refused.assert_problem(400, "invalid_request");
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field `admin`")
    );

    let mut typed = TestApp::registration(&p, &code);
    typed["phone"] = json!(13817000001u64);
    let refused = app.post_account(typed).await;
    refused.assert_problem(400, "invalid_request");
    assert!(
        !refused.body.to_string().contains("13817000001"),
        "{}",
        refused.body
    );

    // Nothing was written and the code was not used up: the same code still registers.
    assert_eq!(app.count("accounts").await, 0);
    app.raw(
        "/api/v1/accounts",
        Auth::None,
        "application/json; charset=utf-8",
        good,
    )
    .await
    .assert_status(201);
}

#[tokio::test]
async fn the_agreement_comes_in_both_languages_with_its_hash() {
    let app = spawn_hub().await;
    let zh = app.get_agreement("").await;
    zh.assert_status(200);
    assert_eq!(zh.body["lang"], "zh");
    assert_eq!(zh.body["version"], chaka_hub::agreement::VERSION);
    let en = app.get_agreement("?lang=en").await;
    assert!(en.body["text"].as_str().unwrap().contains("authorization"));
    assert_ne!(zh.body["sha256"], en.body["sha256"]);
    app.get_agreement("?lang=fr")
        .await
        .assert_problem(400, "invalid_request");
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_hub().await;
    let live = app
        .http
        .get(format!("{}/api/v1/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    assert_eq!(live.text().await.unwrap(), "ok");
    let ready = app
        .call(Method::GET, "/api/v1/readyz", Auth::None, None)
        .await;
    ready.assert_status(200);
    assert_eq!(ready.body["status"], "ready");
    app.db.backend.close().await;
    let down = app
        .call(Method::GET, "/api/v1/readyz", Auth::None, None)
        .await;
    down.assert_problem(503, "not_ready");
    assert!(down.header("retry-after").is_some());
}

/// Every endpoint of the brief, as the router must serve and the document describe it.
const ENDPOINTS: &[(&str, &str)] = &[
    ("post", "/api/v1/codes"),
    ("post", "/api/v1/accounts"),
    ("post", "/api/v1/sessions"),
    ("get", "/api/v1/sessions"),
    ("delete", "/api/v1/sessions/current"),
    ("delete", "/api/v1/sessions/{session_id}"),
    ("get", "/api/v1/me"),
    ("post", "/api/v1/me/password"),
    ("post", "/api/v1/me/phone"),
    ("post", "/api/v1/me/pin"),
    ("put", "/api/v1/me/pin"),
    ("post", "/api/v1/me/pin/reset"),
    ("get", "/api/v1/banks"),
    ("get", "/api/v1/agreement"),
    ("post", "/api/v1/inquiries/code"),
    ("post", "/api/v1/inquiries"),
    ("get", "/api/v1/inquiries"),
    ("get", "/api/v1/inquiries/{inquiry_id}"),
    ("post", "/api/v1/inquiries/{inquiry_id}/report"),
    ("post", "/api/v1/inquiries/{inquiry_id}/disputes"),
    ("get", "/api/v1/audit"),
    ("get", "/api/v1/healthz"),
    ("get", "/api/v1/readyz"),
];

#[tokio::test]
async fn every_route_is_documented_and_every_problem_code_listed() {
    let app = spawn_hub().await;
    let doc = app
        .call(Method::GET, "/api/openapi.json", Auth::None, None)
        .await;
    doc.assert_status(200);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc.body["paths"].as_object().unwrap();
    let mut documented: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    documented.sort();
    let mut expected: Vec<(String, String)> = ENDPOINTS
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    expected.sort();
    assert_eq!(documented, expected);

    // Every documented route is served (an unknown route or method is a problem that says so).
    for (method, path) in &documented {
        let concrete = path
            .replace("{session_id}", "0")
            .replace("{inquiry_id}", "0");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let answer = app.call(method.clone(), &concrete, Auth::None, None).await;
        assert_ne!(answer.body["detail"], "no such route", "{method} {path}");
        assert_ne!(answer.status, 405, "{method} {path}");
    }
    app.call(Method::GET, "/api/v1/nowhere", Auth::None, None)
        .await
        .assert_problem(404, "not_found");
    app.call(Method::PATCH, "/api/v1/me", Auth::None, None)
        .await
        .assert_problem(405, "method_not_allowed");

    // Every code is listed, by the operations that answer it or as one any route answers.
    let text = doc.body.to_string();
    let catalogue = &doc.body["x-problem-codes"];
    for (code, status, _) in codes::ALL {
        assert!(
            text.contains(&format!("`{code}`")),
            "{code} is in no operation's responses"
        );
        assert_eq!(catalogue[code]["status"], status.as_u16(), "{code}");
    }
    let submit = &paths["/api/v1/inquiries"]["post"]["responses"];
    for (status, code) in [
        ("409", "cooling_down"),
        ("409", "inquiry_in_flight"),
        ("422", "bank_not_open"),
        ("400", "idempotency_key_missing"),
    ] {
        assert!(
            submit[status]["description"]
                .as_str()
                .unwrap()
                .contains(&format!("`{code}`")),
            "{code}"
        );
    }

    let viewer = app
        .http
        .get(format!("{}/api/docs/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(viewer.status(), 200);
    let html = viewer.text().await.unwrap();
    assert!(
        html.contains("swagger-ui") && !html.contains("cdn"),
        "vendored, no CDN"
    );
}
