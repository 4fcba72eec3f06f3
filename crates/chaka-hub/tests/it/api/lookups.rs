//! Lookups, the payment PIN and reports over the API: pilot gating, consent, codes, one
//! inquiry in flight, the 7-day cooldown, the phone-change pause, idempotency, the whole
//! happy path checked against the population's export, PIN rules, the lock, the reset that
//! makes reports unreadable, the 7-day purge, and other accounts' inquiries.

use crate::kit::{Auth, BANKS, PASSWORD, PIN, TestApp, YUNNAN_ONLY, person, population, spawn_hub};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use time::Duration;

fn id_of(response: &crate::kit::ApiResponse) -> String {
    response.body["inquiry_id"].as_str().unwrap().to_owned()
}

/// `(first4, last4, kind)` of each listed card, per bank.
type Listing = BTreeMap<String, Vec<(String, String, String)>>;

fn listed_in(report: &Value) -> (Listing, BTreeMap<String, u64>) {
    let mut cards = Listing::new();
    let mut unlisted = BTreeMap::new();
    for section in report["banks"].as_array().unwrap() {
        let bank = section["bank"].as_str().unwrap().to_owned();
        let mut list: Vec<_> = section["cards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["first4"].as_str().unwrap().into(),
                    c["last4"].as_str().unwrap().into(),
                    c["kind"].as_str().unwrap().into(),
                )
            })
            .collect();
        list.sort();
        cards.insert(bank.clone(), list);
        let count = section["unlisted"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["count"].as_u64().unwrap())
            .sum();
        unlisted.insert(bank, count);
    }
    (cards, unlisted)
}

#[tokio::test]
async fn the_whole_lookup_from_registration_to_the_opened_report() {
    let app = spawn_hub().await;
    let p = person(0);
    let token = app.signed_up(&p).await;
    app.post_inquiry_code(&token)
        .await
        .assert_problem(409, "pin_not_set");
    app.post_pin(&token, PIN).await.assert_status(204);

    let banks = app.get_banks(&token).await;
    banks.assert_status(200);
    let codes: Vec<&str> = banks.body["banks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes, BANKS,
        "the Yunnan-only bank is not offered in Shanghai"
    );
    let agreement = app.get_agreement("?lang=zh").await;
    let code = app.inquiry_code(&token, &p.phone).await;
    let body = json!({ "banks": BANKS, "consent_version": agreement.body["version"], "consent_lang": "zh", "code": code });
    let submitted = app.post_inquiry(&token, Some("first-lookup"), body).await;
    submitted.assert_status(201);
    assert_eq!(submitted.body["state"], "open");
    let id = id_of(&submitted);
    app.deliver_sms().await;
    assert_eq!(
        app.sms_to(&p.phone, "lookup_requested"),
        1,
        "every submission is announced"
    );

    let progress = app.get_inquiry(&token, &id).await;
    assert_eq!(
        progress.body["expected_final_by"],
        submitted.body["deadline"]
    );
    assert!(
        progress.body["progress"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["state"] == "waiting")
    );
    app.post_report(&token, &id, PIN)
        .await
        .assert_problem(409, "report_not_ready");

    app.fan_out().await;
    let progress = app.get_inquiry(&token, &id).await;
    assert_eq!(progress.body["inquiry"]["state"], "final");
    assert!(
        progress.body["progress"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["state"] == "answered")
    );
    assert_eq!(app.sms_to(&p.phone, "report_ready"), 1);
    app.fan_out().await;
    assert_eq!(
        app.sms_to(&p.phone, "report_ready"),
        1,
        "exactly one ready SMS"
    );
    for node in &app.nodes {
        let stats = node.stats();
        let seen = (stats.requests, stats.answers, stats.bad_signatures);
        assert_eq!(seen, (1, 1, 0), "{}", node.bank());
    }

    let wrong = app.post_report(&token, &id, "902742").await;
    wrong.assert_problem(403, "wrong_pin");
    assert_eq!(wrong.body["attempts_left"], 4);
    let report = app.post_report(&token, &id, PIN).await;
    report.assert_status(200);

    // The report lists exactly what the listing rules allow, per bank, from the export.
    let today = app.now().date();
    let mut expected = Listing::new();
    let mut unlisted = BTreeMap::new();
    for bank in BANKS {
        let mine: Vec<_> = population()
            .cards
            .iter()
            .filter(|c| c.id_number == p.id_number && c.bank == *bank)
            .collect();
        let mut list: Vec<_> = mine
            .iter()
            .filter(|c| c.is_listed(&p.phone, today))
            .map(|c| {
                (
                    c.pan[..4].to_owned(),
                    c.pan[c.pan.len() - 4..].to_owned(),
                    c.kind.clone(),
                )
            })
            .collect();
        list.sort();
        unlisted.insert((*bank).to_owned(), (mine.len() - list.len()) as u64);
        expected.insert((*bank).to_owned(), list);
    }
    let (cards, not_listed) = listed_in(&report.body);
    assert_eq!(cards, expected);
    assert_eq!(not_listed, unlisted);
    assert_eq!(
        report.body["summary"]["cards"], 4,
        "ICBC, ABC, CMB and SPABANK (docs/demo-people.md)"
    );
    let abc = &report.body["banks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["bank"] == "ABC")
        .unwrap()["cards"][0];
    assert_eq!(abc["long_unused"], true);
    assert!(report.body["notice_zh"].as_str().unwrap().contains("诈骗"));
    let audit = app.get_audit(&token).await;
    let kinds: Vec<&str> = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"report_opened") && kinds.contains(&"inquiry_submitted"),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn lookups_are_refused_outside_open_regions_and_banks() {
    let app = spawn_hub().await;
    let beijing = person(3);
    assert_eq!(beijing.region, "11");
    let token = app.ready(&beijing).await;
    app.get_banks(&token)
        .await
        .assert_problem(403, "region_not_open");
    app.post_inquiry_code(&token)
        .await
        .assert_problem(403, "region_not_open");
    let body = TestApp::submission(&["ICBC"], "123456");
    app.post_inquiry(&token, Some("bj"), body)
        .await
        .assert_problem(403, "region_not_open");

    let p = person(0);
    let token = app.ready(&p).await;
    let code = app.inquiry_code(&token, &p.phone).await;
    let refused = app
        .post_inquiry(
            &token,
            Some("k1"),
            TestApp::submission(&[YUNNAN_ONLY], &code),
        )
        .await;
    refused.assert_problem(422, "bank_not_open");
    assert_eq!(refused.body["bank"], YUNNAN_ONLY);
    app.post_inquiry(
        &token,
        Some("k2"),
        TestApp::submission(&["ICBC", "SHBANK"], &code),
    )
    .await
    .assert_problem(422, "bank_not_open");
    app.post_inquiry(&token, Some("k3"), TestApp::submission(&[], &code))
        .await
        .assert_problem(422, "no_banks_selected");
    assert_eq!(app.count("inquiries").await, 0);
    // The refusals did not use up the code.
    app.post_inquiry(&token, Some("k4"), TestApp::submission(&["ICBC"], &code))
        .await
        .assert_status(201);
}

#[tokio::test]
async fn a_submission_needs_the_current_agreement_its_code_and_a_key() {
    let app = spawn_hub().await;
    let p = person(0);
    let token = app.ready(&p).await;
    app.post_inquiry(&token, Some("k0"), TestApp::submission(&["ICBC"], "123456"))
        .await
        .assert_problem(422, "no_code");
    let code = app.inquiry_code(&token, &p.phone).await;
    let mut old = TestApp::submission(&["ICBC"], &code);
    old["consent_version"] = json!("2021-12-v1");
    let refused = app.post_inquiry(&token, Some("k1"), old).await;
    refused.assert_problem(409, "consent_outdated");
    assert_eq!(refused.body["current"], chaka_hub::agreement::VERSION);
    let mut lang = TestApp::submission(&["ICBC"], &code);
    lang["consent_lang"] = json!("fr");
    app.post_inquiry(&token, Some("k2"), lang)
        .await
        .assert_problem(400, "invalid_request");
    app.post_inquiry(&token, None, TestApp::submission(&["ICBC"], &code))
        .await
        .assert_problem(400, "idempotency_key_missing");
    let long = "k".repeat(129);
    app.post_inquiry(&token, Some(&long), TestApp::submission(&["ICBC"], &code))
        .await
        .assert_problem(400, "idempotency_key_missing");
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    let refused = app
        .post_inquiry(&token, Some("k3"), TestApp::submission(&["ICBC"], &wrong))
        .await;
    refused.assert_problem(422, "invalid_code");
    assert_eq!(refused.body["attempts_left"], 4);
    assert_eq!(app.count("inquiries").await, 0);
    app.post_inquiry(&token, Some("k4"), TestApp::submission(&["ICBC"], &code))
        .await
        .assert_status(201);
}

#[tokio::test]
async fn one_lookup_in_flight_and_seven_days_between_reports() {
    let app = spawn_hub().await;
    let p = person(4);
    let token = app.ready(&p).await;
    let submitted = app.lookup(&token, &p.phone, &["ICBC", "CMB"]).await;
    submitted.assert_status(201);
    let id = id_of(&submitted);
    let busy = app.post_inquiry_code(&token).await;
    busy.assert_problem(409, "inquiry_in_flight");
    assert_eq!(busy.body["inquiry_id"], id.as_str());
    app.post_inquiry(
        &token,
        Some("again"),
        TestApp::submission(&["ICBC"], "123456"),
    )
    .await
    .assert_problem(409, "inquiry_in_flight");

    app.fan_out().await;
    let report = app.post_report(&token, &id, PIN).await;
    report.assert_status(200);
    assert!(
        report.body["banks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["outcome"] == "none"),
        "person 4 has no card"
    );
    let cooling = app.post_inquiry_code(&token).await;
    cooling.assert_problem(409, "cooling_down");
    let finalized = app.get_inquiry(&token, &id).await.body["inquiry"]["finalized_at"].clone();
    assert!(cooling.body["until"].as_str().unwrap() > finalized.as_str().unwrap());

    app.advance(Duration::days(7) - Duration::minutes(1));
    let token = app.login(&p.phone).await;
    app.post_inquiry_code(&token)
        .await
        .assert_problem(409, "cooling_down");
    app.advance(Duration::minutes(2));
    app.post_inquiry_code(&token).await.assert_status(202);
}

#[tokio::test]
async fn a_phone_change_pauses_lookups_and_ends_the_other_sessions() {
    let app = spawn_hub().await;
    let p = person(0);
    let token = app.ready(&p).await;
    let other = app.login(&p.phone).await;
    let new_phone = "13700000004";
    let old_code = app
        .code(Auth::Bearer(&token), "phone_change_old", &p.phone, false)
        .await;
    let new_code = app
        .code(Auth::Bearer(&token), "phone_change_new", new_phone, true)
        .await;
    let change = |password: &str| json!({ "password": password, "old_code": old_code, "new_phone": new_phone, "new_code": new_code });
    app.post_phone(&token, change("wrong-password-1"))
        .await
        .assert_problem(403, "wrong_password");
    app.post_phone(&token, change(PASSWORD))
        .await
        .assert_status(204);
    app.get_me(Auth::Bearer(&other))
        .await
        .assert_problem(401, "unauthenticated");
    assert!(
        app.get_me(Auth::Bearer(&token)).await.body["phone"]
            .as_str()
            .unwrap()
            .ends_with("0004")
    );
    let paused = app.post_inquiry_code(&token).await;
    paused.assert_problem(409, "phone_recently_changed");
    assert!(paused.body["until"].is_string());

    app.advance(Duration::days(7) + Duration::minutes(1));
    app.post_session(&p.phone, PASSWORD)
        .await
        .assert_problem(401, "wrong_credentials");
    let token = app.login(new_phone).await;
    let code = app.inquiry_code(&token, new_phone).await;
    app.post_inquiry(&token, Some("after"), TestApp::submission(&["ICBC"], &code))
        .await
        .assert_status(201);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let app = spawn_hub().await;
    let p = person(0);
    let token = app.ready(&p).await;
    let code = app.inquiry_code(&token, &p.phone).await;
    let body = TestApp::submission(&["ICBC", "CMB"], &code);
    let first = app
        .post_inquiry(&token, Some("same-key"), body.clone())
        .await;
    first.assert_status(201);
    let replay = app
        .post_inquiry(&token, Some("same-key"), body.clone())
        .await;
    replay.assert_status(201);
    assert_eq!(replay.body, first.body);
    // The same request spaced differently is the same request.
    let spaced = serde_json::to_vec_pretty(&body).unwrap();
    let request = app
        .http
        .post(format!("{}/api/v1/inquiries", app.base))
        .bearer_auth(&token)
        .header("idempotency-key", "same-key")
        .header("content-type", "application/json")
        .body(spaced);
    assert_eq!(app.send(request).await.body, first.body);
    let mut other = body.clone();
    other["banks"] = json!(["ICBC"]);
    app.post_inquiry(&token, Some("same-key"), other)
        .await
        .assert_problem(422, "idempotency_key_reused");
    assert_eq!(app.count("inquiries").await, 1);
    app.deliver_sms().await;
    assert_eq!(app.sms_to(&p.phone, "lookup_requested"), 1);
}

#[tokio::test]
async fn trivial_pins_are_refused_with_their_rule_and_a_pin_is_set_and_changed() {
    let app = spawn_hub().await;
    let p = person(0);
    let token = app.signed_up(&p).await;
    let id_suffix = &p.id_number[12..];
    let phone_suffix = &p.phone[5..];
    let birth = format!("{}{}", &p.id_number[8..10], &p.id_number[10..14]);
    for (pin, rule) in [
        ("111111", "pin_repeated"),
        ("123456", "pin_sequence"),
        ("12345", "pin_format"),
        ("12a456", "pin_format"),
        (birth.as_str(), "pin_birth_date"),
        (id_suffix, "pin_id_suffix"),
        (phone_suffix, "pin_phone_suffix"),
    ] {
        let refused = app.post_pin(&token, pin).await;
        refused.assert_problem(422, "weak_pin");
        assert_eq!(refused.body["rule"], rule, "{pin}");
    }
    app.post_pin(&token, PIN).await.assert_status(204);
    assert_eq!(app.get_me(Auth::Bearer(&token)).await.body["pin_set"], true);
    app.post_pin(&token, "375912")
        .await
        .assert_problem(409, "pin_already_set");
    let wrong = app.put_pin(&token, "375912", "480263").await;
    wrong.assert_problem(403, "wrong_pin");
    assert_eq!(wrong.body["attempts_left"], 4);
    app.put_pin(&token, PIN, "222222")
        .await
        .assert_problem(422, "weak_pin");
    app.put_pin(&token, PIN, "480263").await.assert_status(204);
    app.put_pin(&token, PIN, "375912")
        .await
        .assert_problem(403, "wrong_pin");
    app.put_pin(&token, "480263", "375912")
        .await
        .assert_status(204);
}

#[tokio::test]
async fn a_pin_reset_makes_earlier_reports_unreadable() {
    let app = spawn_hub().await;
    let p = person(0);
    let (token, id) = app.final_report(&p).await;
    app.post_report(&token, &id, PIN).await.assert_status(200);
    let reset = |password: &str, code: &str, pin: &str, ack: bool| json!({ "password": password, "code": code, "new_pin": pin, "acknowledge_unreadable_reports": ack });
    app.post_pin_reset(&token, reset(PASSWORD, "123456", "375912", false))
        .await
        .assert_problem(400, "invalid_request");
    let code = app
        .code(Auth::Bearer(&token), "pin_reset", &p.phone, false)
        .await;
    app.post_pin_reset(&token, reset("wrong-password-1", &code, "375912", true))
        .await
        .assert_problem(403, "wrong_password");
    app.post_pin_reset(&token, reset(PASSWORD, &code, "654321", true))
        .await
        .assert_problem(422, "weak_pin");
    app.post_pin_reset(&token, reset(PASSWORD, &code, "375912", true))
        .await
        .assert_status(204);
    app.deliver_sms().await;
    assert_eq!(app.sms_to(&p.phone, "pin_reset"), 1);
    assert_eq!(
        app.get_me(Auth::Bearer(&token)).await.body["key_generation"],
        1
    );
    app.post_report(&token, &id, "375912")
        .await
        .assert_problem(410, "report_unreadable");
    app.post_report(&token, &id, PIN)
        .await
        .assert_problem(410, "report_unreadable");
}

#[tokio::test]
async fn five_wrong_pins_lock_report_opening_for_a_day() {
    let app = spawn_hub().await;
    let p = person(0);
    let (token, id) = app.final_report(&p).await;
    for left in (1..=4).rev() {
        let wrong = app.post_report(&token, &id, "480263").await;
        wrong.assert_problem(403, "wrong_pin");
        assert_eq!(wrong.body["attempts_left"], left);
    }
    let locked = app.post_report(&token, &id, "480263").await;
    locked.assert_problem(423, "pin_locked");
    let until = locked.body["locked_until"].as_str().unwrap().to_owned();
    let expected = app.now() + Duration::hours(24);
    assert_eq!(
        until,
        expected
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    );
    app.post_report(&token, &id, PIN)
        .await
        .assert_problem(423, "pin_locked");
    app.put_pin(&token, PIN, "375912")
        .await
        .assert_problem(423, "pin_locked");
    assert_eq!(
        app.get_me(Auth::Bearer(&token)).await.body["pin_locked_until"],
        until.as_str()
    );

    app.advance(Duration::hours(24) - Duration::minutes(1));
    let token = app.login(&p.phone).await;
    app.post_report(&token, &id, PIN)
        .await
        .assert_problem(423, "pin_locked");
    app.advance(Duration::minutes(2));
    app.post_report(&token, &id, PIN).await.assert_status(200);
}

#[tokio::test]
async fn reports_are_purged_after_seven_days_and_the_audit_remains() {
    let app = spawn_hub().await;
    let p = person(0);
    let (token, id) = app.final_report(&p).await;
    app.post_report(&token, &id, PIN).await.assert_status(200);
    let listed = app.get_inquiries(&token).await;
    let inquiry = &listed.body["inquiries"][0];
    assert_eq!(inquiry["inquiry_id"], id.as_str());
    let purge_after = time::OffsetDateTime::parse(
        inquiry["purge_after"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(purge_after, app.now() + Duration::days(7));

    // The working records of the lookup exist until the sweep.
    for table in ["legs", "outbox", "otps", "idempotency_keys"] {
        assert!(app.count(table).await > 0, "{table}");
    }
    app.advance(Duration::days(7));
    let token = app.login(&p.phone).await;
    app.post_report(&token, &id, PIN)
        .await
        .assert_problem(410, "report_gone");
    assert_eq!(app.hub.sweep().await.unwrap(), 1);
    app.post_report(&token, &id, PIN)
        .await
        .assert_problem(410, "report_gone");
    assert_eq!(
        app.get_inquiry(&token, &id).await.body["inquiry"]["state"],
        "purged"
    );
    assert_eq!(app.count("answers").await, 0);
    assert_eq!(app.count("legs").await, 0, "the legs go with the report");
    let audited = app.count("audit").await;

    // A day later every code, SMS and idempotency key of the lookup is past the retention
    // and deleted; the audit trail and the inquiry row (the cooldown reads it) stay.
    app.advance(Duration::days(1));
    assert_eq!(app.hub.sweep().await.unwrap(), 0);
    for table in ["outbox", "otps", "idempotency_keys"] {
        assert_eq!(app.count(table).await, 0, "{table}");
    }
    assert_eq!(app.count("audit").await, audited);
    assert_eq!(app.count("inquiries").await, 1);

    let token = app.login(&p.phone).await;
    let audit = app.get_audit(&token).await;
    let events = audit.body["events"].as_array().unwrap();
    for kind in [
        "registered",
        "inquiry_submitted",
        "report_opened",
        "report_purged",
    ] {
        assert!(
            events.iter().any(|e| e["kind"] == kind),
            "{kind}: {events:?}"
        );
    }
    let text = audit.body.to_string();
    let pans = population()
        .cards
        .iter()
        .filter(|c| c.id_number == p.id_number);
    for card in pans {
        assert!(!text.contains(&card.pan) && !text.contains(&card.pan[card.pan.len() - 8..]));
    }
    assert!(!text.contains(&p.id_number) && !text.contains(&p.phone));
}

#[tokio::test]
async fn another_accounts_inquiry_is_indistinguishable_from_a_missing_one() {
    let app = spawn_hub().await;
    let (owner, id) = app.final_report(&person(0)).await;
    let stranger = app.ready(&person(4)).await;
    let missing = uuid::Uuid::now_v7().to_string();
    let theirs = app.get_inquiry(&stranger, &id).await;
    theirs.assert_problem(404, "not_found");
    assert_eq!(theirs.body, app.get_inquiry(&stranger, &missing).await.body);
    let theirs = app.post_report(&stranger, &id, PIN).await;
    theirs.assert_problem(404, "not_found");
    assert_eq!(
        theirs.body,
        app.post_report(&stranger, &missing, PIN).await.body
    );
    app.get_inquiry(&stranger, "not-an-id")
        .await
        .assert_problem(404, "not_found");
    assert_eq!(
        app.get_inquiries(&stranger).await.body["inquiries"],
        json!([])
    );
    app.post_report(&owner, &id, PIN).await.assert_status(200);
}

#[tokio::test]
async fn a_card_reported_as_not_mine_is_recorded_without_its_digits() {
    let app = spawn_hub().await;
    let p = person(0);
    let (token, id) = app.final_report(&p).await;
    let report = app.post_report(&token, &id, PIN).await;
    let section = report.body["banks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| !b["cards"].as_array().unwrap().is_empty())
        .unwrap()
        .clone();
    let bank = section["bank"].as_str().unwrap();
    let card = section["cards"][0]["masked"].as_str().unwrap();
    let path = format!("/api/v1/inquiries/{id}/disputes");
    let body = json!({ "bank": bank, "card": card });
    for _ in 0..2 {
        app.call(
            Method::POST,
            &path,
            Auth::Bearer(&token),
            Some(body.clone()),
        )
        .await
        .assert_status(204);
    }
    let audit = app.get_audit(&token).await;
    let disputes: Vec<_> = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "card_disputed")
        .collect();
    assert_eq!(disputes.len(), 1, "a repeated report is recorded once");
    let recorded = disputes[0].to_string();
    let last4 = &card[card.len() - 4..];
    assert!(
        !recorded.contains(last4) && !recorded.contains(&card[..4]),
        "{recorded}"
    );
    assert_eq!(disputes[0]["detail"]["bank"], bank);

    // Malformed, unknown and foreign requests change nothing.
    let other = app.ready(&person(4)).await;
    let before = app.count("audit").await;
    for (bad, code) in [
        (
            json!({ "bank": bank, "card": "6222021234561234" }),
            "invalid_request",
        ),
        (json!({ "bank": "NOSUCH", "card": card }), "invalid_request"),
        (json!({ "bank": bank }), "invalid_request"),
    ] {
        app.call(Method::POST, &path, Auth::Bearer(&token), Some(bad))
            .await
            .assert_problem(400, code);
    }
    app.call(Method::POST, &path, Auth::Bearer(&other), Some(body))
        .await
        .assert_problem(404, "not_found");
    assert_eq!(app.count("audit").await, before);
}
