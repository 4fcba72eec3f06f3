//! The reference bank node over real HTTP: every eligibility rule, idempotency, every
//! signature refusal, malformed and oversized input, every fault mode, callbacks, heartbeat,
//! and no personal data in logs or errors.

use crate::support::*;
use chaka_bank::node::{AnswerMode, FaultConfig, Latency};
use chaka_core::{Clock, InquiryId};
use chaka_hub::connector::{ConnectorError as ClientError, Delivery};
use chaka_protocol::keys::{KeyId, SigningKeyPair};
use chaka_protocol::limits::Limits;
use chaka_protocol::message::{AnswerBatch, CardList, Outcome, UnlistedReason};
use chaka_protocol::signature::Signer;
use std::time::Duration;

fn answered(delivery: Delivery) -> AnswerBatch {
    match delivery {
        Delivery::Answered(batch) => batch,
        other => panic!("expected answers, got {other:?}"),
    }
}

#[tokio::test]
async fn lists_eligible_cards_masked_and_counts_the_others_by_reason() {
    let bank = TestBank::start().await;
    let (li, _) = people();
    let (inquiry, keys) = inquiry_for(&li, bank.clock.now());
    let answers = answered(
        bank.client
            .send(&bank.endpoint, &batch(vec![inquiry.clone()]))
            .await
            .unwrap(),
    );
    assert_eq!(answers.answers.len(), 1);
    let answer = &answers.answers[0];
    assert_eq!(answer.outcome, Outcome::Matched);
    assert_eq!(answer.inquiry_id, inquiry.inquiry_id);
    let sealed = answer.sealed.as_ref().unwrap();
    let list = CardList::open(
        sealed,
        keys.secret_key(),
        &inquiry.inquiry_id,
        &inquiry.bank,
        &Limits::default(),
    )
    .unwrap();
    let shown: Vec<(String, String)> = list
        .cards
        .iter()
        .map(|c| (c.pan.first4().to_owned(), c.pan.last4().to_owned()))
        .collect();
    let expected: Vec<(String, String)> = li.pans[..2]
        .iter()
        .map(|p| {
            (
                p.as_str()[..4].to_owned(),
                p.as_str()[p.len() - 4..].to_owned(),
            )
        })
        .collect();
    assert_eq!(shown, expected);
    for reason in [
        UnlistedReason::NoReservedPhone,
        UnlistedReason::ReservedPhoneDiffers,
        UnlistedReason::CardNotPresentDisabled,
        UnlistedReason::Closed,
    ] {
        assert_eq!(list.unlisted_count(reason), 1, "{reason:?}");
    }
    // The sealed list opens for nobody else: another key, another inquiry id.
    let stranger = chaka_protocol::keys::RecipientKeyPair::generate();
    assert!(
        CardList::open(
            sealed,
            stranger.secret_key(),
            &inquiry.inquiry_id,
            &inquiry.bank,
            &Limits::default()
        )
        .is_err()
    );
    let other_id = InquiryId::generate(bank.clock.now());
    assert!(
        CardList::open(
            sealed,
            keys.secret_key(),
            &other_id,
            &inquiry.bank,
            &Limits::default()
        )
        .is_err()
    );
}

#[tokio::test]
async fn an_expired_id_document_lists_nothing_and_says_why() {
    let bank = TestBank::start().await;
    let (_, wang) = people();
    let (inquiry, keys) = inquiry_for(&wang, bank.clock.now());
    let answers = answered(
        bank.client
            .send(&bank.endpoint, &batch(vec![inquiry.clone()]))
            .await
            .unwrap(),
    );
    let list = CardList::open(
        answers.answers[0].sealed.as_ref().unwrap(),
        keys.secret_key(),
        &inquiry.inquiry_id,
        &inquiry.bank,
        &Limits::default(),
    )
    .unwrap();
    assert!(list.cards.is_empty());
    assert_eq!(list.unlisted_count(UnlistedReason::IdDocumentExpired), 2);
}

#[tokio::test]
async fn unknown_people_and_wrong_names_are_no_match() {
    let bank = TestBank::start().await;
    let (li, _) = people();
    let now = bank.clock.now();
    let (wrong_name, _) = inquiry_as("李梅梅", li.id_number, li.phone, now);
    let stranger_id =
        chaka_core::IdNumber::compose("110105", time::macros::date!(1990 - 01 - 01), 10).unwrap();
    let (stranger, _) = inquiry_as("赵六", stranger_id.as_str(), "13700001111", now);
    let answers = answered(
        bank.client
            .send(&bank.endpoint, &batch(vec![wrong_name, stranger]))
            .await
            .unwrap(),
    );
    assert!(
        answers
            .answers
            .iter()
            .all(|a| a.outcome == Outcome::NoMatch && a.sealed.is_none())
    );
}

#[tokio::test]
async fn a_batch_answers_each_inquiry_sealed_to_its_own_key() {
    let bank = TestBank::start().await;
    let (li, wang) = people();
    let now = bank.clock.now();
    let (a, ka) = inquiry_for(&li, now);
    let (b, kb) = inquiry_for(&wang, now);
    let answers = answered(
        bank.client
            .send(&bank.endpoint, &batch(vec![a.clone(), b.clone()]))
            .await
            .unwrap(),
    );
    let by_id = |id| answers.answers.iter().find(|x| x.inquiry_id == id).unwrap();
    let open = |inq: &chaka_protocol::message::Inquiry,
                k: &chaka_protocol::keys::RecipientKeyPair| {
        CardList::open(
            by_id(inq.inquiry_id).sealed.as_ref().unwrap(),
            k.secret_key(),
            &inq.inquiry_id,
            &inq.bank,
            &Limits::default(),
        )
    };
    assert_eq!(open(&a, &ka).unwrap().cards.len(), 2);
    assert_eq!(open(&b, &kb).unwrap().cards.len(), 0);
    assert!(open(&a, &kb).is_err());
}

#[tokio::test]
async fn the_same_inquiry_twice_answers_the_same_and_looks_up_once() {
    let bank = TestBank::start().await;
    let (li, _) = people();
    let (inquiry, _) = inquiry_for(&li, bank.clock.now());
    let first = answered(
        bank.client
            .send(&bank.endpoint, &batch(vec![inquiry.clone()]))
            .await
            .unwrap(),
    );
    bank.clock.advance(time::Duration::seconds(30));
    let second = answered(
        bank.client
            .send(&bank.endpoint, &batch(vec![inquiry.clone()]))
            .await
            .unwrap(),
    );
    assert_eq!(
        first.answers, second.answers,
        "byte-identical sealed answer and timestamp"
    );
    // Concurrent duplicates are looked up once too.
    let (other, _) = inquiry_for(&li, bank.clock.now());
    let b = batch(vec![other]);
    let (x, y) = tokio::join!(
        bank.client.send(&bank.endpoint, &b),
        bank.client.send(&bank.endpoint, &b)
    );
    assert_eq!(answered(x.unwrap()).answers, answered(y.unwrap()).answers);
    assert_eq!(bank.node.stats().lookups, 2);
}

#[tokio::test]
async fn an_inquiry_id_reused_for_another_subject_is_refused() {
    let bank = TestBank::start().await;
    let (li, wang) = people();
    let (first, _) = inquiry_for(&li, bank.clock.now());
    answered(
        bank.client
            .send(&bank.endpoint, &batch(vec![first.clone()]))
            .await
            .unwrap(),
    );
    let (mut second, _) = inquiry_for(&wang, bank.clock.now());
    second.inquiry_id = first.inquiry_id;
    match bank
        .client
        .send(&bank.endpoint, &batch(vec![second]))
        .await
        .unwrap()
    {
        Delivery::Refused { status: 409, code } => {
            assert_eq!(code.as_deref(), Some("inquiry_id_reused"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn wrong_bank_and_passed_deadlines_are_refused_per_inquiry() {
    let bank = TestBank::start().await;
    let (li, _) = people();
    let now = bank.clock.now();
    let (mut late, _) = inquiry_for(&li, now);
    late.deadline = now - time::Duration::seconds(1);
    let answers = answered(
        bank.client
            .send(&bank.endpoint, &batch(vec![late]))
            .await
            .unwrap(),
    );
    assert!(
        matches!(answers.answers[0].outcome, Outcome::Refused { reason } if reason.as_str() == "deadline_passed")
    );
}

#[tokio::test]
async fn signatures_from_unknown_keys_tampered_bodies_replays_and_stale_times_are_refused() {
    let bank = TestBank::start().await;
    let (li, _) = people();
    let (inquiry, _) = inquiry_for(&li, bank.clock.now());
    let body = batch(vec![inquiry]).to_json().unwrap();

    let impostor = Signer::new(
        KeyId::parse("hub-test-1").unwrap(),
        SigningKeyPair::generate(),
    );
    let (status, problem) = bank.post_raw(&impostor, body.clone()).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("bad_signature"))
    );

    let unknown = Signer::new(
        KeyId::parse("someone-else").unwrap(),
        SigningKeyPair::generate(),
    );
    let (status, problem) = bank.post_raw(&unknown, body.clone()).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("unknown_key"))
    );

    let headers = bank
        .hub_signer
        .sign_request(
            &http::Method::POST,
            "/chaka/v1/inquiries",
            Some("application/json"),
            &body,
            bank.clock.now(),
        )
        .unwrap();
    let mut tampered = body.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 0x01;
    let (status, problem) = bank.post_with_headers(headers.clone(), tampered).await;
    assert_eq!(status, 401, "{problem}");
    assert!(
        problem["code"].as_str().unwrap().contains("digest"),
        "{problem}"
    );

    let (status, _) = bank.post_with_headers(headers.clone(), body.clone()).await;
    assert_eq!(status, 200);
    let (status, problem) = bank.post_with_headers(headers, body.clone()).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("signature_replayed"))
    );

    let stale = bank
        .hub_signer
        .sign_request(
            &http::Method::POST,
            "/chaka/v1/inquiries",
            Some("application/json"),
            &body,
            bank.clock.now() - time::Duration::minutes(10),
        )
        .unwrap();
    let (status, problem) = bank.post_with_headers(stale, body.clone()).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("signature_expired"))
    );

    let future = bank
        .hub_signer
        .sign_request(
            &http::Method::POST,
            "/chaka/v1/inquiries",
            Some("application/json"),
            &body,
            bank.clock.now() + time::Duration::minutes(10),
        )
        .unwrap();
    let (status, problem) = bank.post_with_headers(future, body.clone()).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("signature_not_yet_valid"))
    );

    let (status, problem) = bank.post_with_headers(http::HeaderMap::new(), body).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("signature_missing"))
    );
    assert_eq!(
        bank.node.stats().lookups,
        1,
        "only the one valid request looked up"
    );
}

#[tokio::test]
async fn malformed_and_oversized_requests_get_a_precise_problem() {
    let bank = TestBank::start().await;
    let signer = &bank.hub_signer;
    let (status, p) = bank.post_raw(signer, b"{not json".to_vec()).await;
    assert_eq!((status, p["code"].as_str()), (400, Some("malformed_json")));
    let (status, p) = bank
        .post_raw(signer, br#"{"protocol":"chaka/1","inquiries":[]}"#.to_vec())
        .await;
    assert_eq!((status, p["code"].as_str()), (400, Some("empty_batch")));
    let (status, p) = bank
        .post_raw(signer, br#"{"protocol":"chaka/9","inquiries":[]}"#.to_vec())
        .await;
    assert_eq!(
        (status, p["code"].as_str()),
        (400, Some("unsupported_protocol"))
    );

    let (li, _) = people();
    let many: Vec<_> = (0..65)
        .map(|_| inquiry_for(&li, bank.clock.now()).0)
        .collect();
    let (status, p) = bank.post_raw(signer, batch(many).to_json().unwrap()).await;
    assert_eq!(
        (status, p["code"].as_str()),
        (400, Some("too_many_entries"))
    );

    let huge = vec![b' '; Limits::default().max_body_bytes + 1];
    let (status, p) = bank.post_raw(signer, huge).await;
    assert_eq!((status, p["code"].as_str()), (413, Some("body_too_large")));

    // An invalid ID number is refused without echoing it.
    let (inquiry, _) = inquiry_for(&li, bank.clock.now());
    let json = String::from_utf8(batch(vec![inquiry]).to_json().unwrap()).unwrap();
    let bad_id = format!("{}0", &li.id_number[..17]);
    let (status, p) = bank
        .post_raw(signer, json.replace(li.id_number, &bad_id).into_bytes())
        .await;
    assert_eq!(
        (status, p["code"].as_str()),
        (400, Some("invalid_id_number"))
    );
    assert!(!p.to_string().contains(&bad_id[..14]), "{p}");
    assert_eq!(bank.node.stats().lookups, 0);
}

async fn with_fault(faults: FaultConfig) -> (TestBank, Result<Delivery, ClientError>) {
    let bank = TestBank::start_with(Options {
        faults,
        client_timeout: Duration::from_millis(500),
        ..Options::default()
    })
    .await;
    let (li, _) = people();
    let (inquiry, _) = inquiry_for(&li, bank.clock.now());
    let result = bank
        .client
        .send(&bank.endpoint, &batch(vec![inquiry]))
        .await;
    (bank, result)
}

#[tokio::test]
async fn throttling_and_unavailability_say_when_to_retry() {
    let (_b, r) = with_fault(FaultConfig {
        throttle_rate: 1.0,
        retry_after_secs: 7,
        ..FaultConfig::default()
    })
    .await;
    assert!(
        matches!(r.unwrap(), Delivery::RetryLater { status: 429, retry_after: Some(d) } if d == Duration::from_secs(7))
    );
    let (_b, r) = with_fault(FaultConfig {
        unavailable_rate: 1.0,
        ..FaultConfig::default()
    })
    .await;
    assert!(matches!(
        r.unwrap(),
        Delivery::RetryLater {
            status: 503,
            retry_after: Some(_)
        }
    ));
    let (_b, r) = with_fault(FaultConfig {
        error_rate: 1.0,
        ..FaultConfig::default()
    })
    .await;
    assert!(matches!(r.unwrap(), Delivery::Refused { status: 500, .. }));
}

#[tokio::test]
async fn garbage_wrong_signatures_and_silence_are_detected_by_the_client() {
    let (_b, r) = with_fault(FaultConfig {
        garbage_rate: 1.0,
        ..FaultConfig::default()
    })
    .await;
    assert!(matches!(r, Err(ClientError::Malformed(_))), "{r:?}");
    let (_b, r) = with_fault(FaultConfig {
        bad_signature_rate: 1.0,
        ..FaultConfig::default()
    })
    .await;
    assert!(matches!(r, Err(ClientError::BadSignature(_))), "{r:?}");
    let (_b, r) = with_fault(FaultConfig {
        silent_rate: 1.0,
        ..FaultConfig::default()
    })
    .await;
    assert!(matches!(r, Err(ClientError::Transport(_))), "{r:?}");
}

#[tokio::test]
async fn latency_is_injected() {
    let (b, r) = with_fault(FaultConfig {
        latency: Latency::Fixed { ms: 2_000 },
        ..FaultConfig::default()
    })
    .await;
    // The client gives up after 500 ms: the node really waited.
    assert!(matches!(r, Err(ClientError::Transport(_))), "{r:?}");
    drop(b);
}

#[tokio::test]
async fn a_bank_down_for_a_while_comes_back_when_the_clock_moves() {
    let bank = TestBank::start_with(Options {
        faults: FaultConfig {
            down_for_secs: 120,
            ..FaultConfig::default()
        },
        ..Options::default()
    })
    .await;
    let (li, _) = people();
    let (inquiry, _) = inquiry_for(&li, bank.clock.now());
    let b = batch(vec![inquiry]);
    assert!(matches!(
        bank.client.send(&bank.endpoint, &b).await.unwrap(),
        Delivery::RetryLater { status: 503, .. }
    ));
    bank.clock.advance(time::Duration::seconds(121));
    answered(bank.client.send(&bank.endpoint, &b).await.unwrap());
}

#[tokio::test]
async fn callback_mode_accepts_then_posts_signed_answers_to_the_hub() {
    use axum::routing::post;
    let bank = TestBank::start_with(Options {
        mode: AnswerMode::Callback,
        ..Options::default()
    })
    .await;
    // The hub's callback endpoint: verifies the bank's signature like a hub would.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(u16, Vec<u8>)>(4);
    let verifier = std::sync::Arc::new(chaka_protocol::signature::Verifier::new(
        bank.client_bank_keys(),
        std::sync::Arc::new(chaka_protocol::nonce::MemoryNonceStore::default()),
    ));
    let clock = bank.clock.clone();
    let signer = bank.hub_signer.clone();
    let app = axum::Router::new().route(
        "/hub/callbacks",
        post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
            let (tx, verifier, clock, signer) =
                (tx.clone(), verifier.clone(), clock.clone(), signer.clone());
            async move {
                let ok = verifier
                    .verify_request(
                        &http::Method::POST,
                        "/hub/callbacks",
                        &headers,
                        &body,
                        clock.now(),
                    )
                    .is_ok();
                let _ = tx.send((if ok { 200 } else { 401 }, body.to_vec())).await;
                if !ok {
                    return (
                        http::StatusCode::UNAUTHORIZED,
                        http::HeaderMap::new(),
                        Vec::new(),
                    );
                }
                // The hub acknowledges with a signed `Accepted` naming every answer.
                let answers = AnswerBatch::from_json(&body, &Limits::default()).unwrap();
                let ack = chaka_protocol::message::Accepted::for_answers(&answers)
                    .to_json()
                    .unwrap();
                let mut headers = signer
                    .sign_response(http::StatusCode::OK, "application/json", &ack, clock.now())
                    .unwrap();
                headers.insert(
                    http::header::CONTENT_TYPE,
                    "application/json".parse().unwrap(),
                );
                (http::StatusCode::OK, headers, ack)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hub = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let (li, _) = people();
    let (mut inquiry, keys) = inquiry_for(&li, bank.clock.now());
    inquiry.callback_url = Some(format!("http://{hub}/hub/callbacks").parse().unwrap());
    match bank
        .client
        .send(&bank.endpoint, &batch(vec![inquiry.clone()]))
        .await
        .unwrap()
    {
        Delivery::Accepted(a) => assert_eq!(a.accepted, vec![inquiry.inquiry_id]),
        other => panic!("{other:?}"),
    }
    let (status, body) = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 200, "the callback's signature verifies");
    let answers = AnswerBatch::from_json(&body, &Limits::default()).unwrap();
    let list = CardList::open(
        answers.answers[0].sealed.as_ref().unwrap(),
        keys.secret_key(),
        &inquiry.inquiry_id,
        &inquiry.bank,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(list.cards.len(), 2);
    // The node counts the callback as delivered once it has verified the acknowledgement.
    for _ in 0..100 {
        if bank.node.stats().callbacks_delivered == 1 {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(bank.node.stats().callbacks_delivered, 1);
}

#[tokio::test]
async fn callback_mode_answers_at_once_when_an_inquiry_has_no_callback_url() {
    let bank = TestBank::start_with(Options {
        mode: AnswerMode::Callback,
        ..Options::default()
    })
    .await;
    let (li, _) = people();
    let (inquiry, _) = inquiry_for(&li, bank.clock.now());
    let answers = answered(
        bank.client
            .send(&bank.endpoint, &batch(vec![inquiry]))
            .await
            .unwrap(),
    );
    assert_eq!(answers.answers[0].outcome, Outcome::Matched);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_refused_as_such() {
    let bank = TestBank::start().await;
    let body = b"<xml/>".to_vec();
    let headers = bank
        .hub_signer
        .sign_request(
            &http::Method::POST,
            "/chaka/v1/inquiries",
            Some("application/xml"),
            &body,
            bank.clock.now(),
        )
        .unwrap();
    let resp = bank
        .http
        .post(bank.endpoint.base_url.join("/chaka/v1/inquiries").unwrap())
        .headers(headers)
        .header("content-type", "application/xml")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
}

#[tokio::test]
async fn heartbeat_is_signed_and_names_the_bank() {
    let bank = TestBank::start().await;
    let beat = bank.client.heartbeat(&bank.endpoint).await.unwrap();
    assert_eq!(beat.bank.as_str(), BANK);
    assert_eq!(beat.key_id.as_str(), "icbc-test-1");
    let resp = bank
        .http
        .get(bank.endpoint.base_url.join("/chaka/v1/heartbeat").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

#[tokio::test]
async fn nothing_personal_reaches_the_logs() {
    // Run flows that log: answers, refusals, faults.
    let bank = TestBank::start().await;
    let (li, wang) = people();
    for person in [&li, &wang] {
        let (inquiry, _) = inquiry_for(person, bank.clock.now());
        answered(
            bank.client
                .send(&bank.endpoint, &batch(vec![inquiry]))
                .await
                .unwrap(),
        );
    }
    let (inquiry, _) = inquiry_for(&li, bank.clock.now());
    let json = String::from_utf8(batch(vec![inquiry]).to_json().unwrap()).unwrap();
    let _ = bank
        .post_raw(
            &bank.hub_signer,
            json.replace(li.phone, "1391111222x").into_bytes(),
        )
        .await;
    let logs = captured_logs();
    assert!(logs.contains("answered a batch"), "the capture works");
    for person in [&li, &wang] {
        for sentinel in [
            person.name,
            person.id_number,
            person.phone,
            person.old_phone,
        ] {
            assert!(!logs.contains(sentinel), "log leaks a sentinel");
        }
        for pan in &person.pans {
            assert!(!logs.contains(pan.as_str()), "log leaks a card number");
            assert!(
                !logs.contains(&pan.as_str()[4..pan.len() - 4]),
                "log leaks card digits"
            );
        }
    }
}
