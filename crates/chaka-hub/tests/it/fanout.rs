//! The fan-out over real HTTP: bank nodes on port 0, a fresh hub database per test, a manual
//! clock moved instead of sleeping, one worker iteration at a time (`Fanout::tick`).

mod privacy;
mod support;

use chaka_bank::node::{AnswerMode, FaultConfig, Latency};
use chaka_core::{BankCode, InquiryId};
use chaka_hub::store::ledger::{BankClaim, LegKey, LegState, Settled};
use chaka_protocol::message::{Answer, AnswerBatch, Outcome, ProtocolVersion};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration as StdDuration;
use support::{BankSpec, Hub, START};
use time::Duration;

fn no_match(id: InquiryId, bank: &str, at: time::OffsetDateTime) -> Answer {
    Answer {
        inquiry_id: id,
        bank: BankCode::parse(bank).unwrap(),
        outcome: Outcome::NoMatch,
        sealed: None,
        answered_at: at,
    }
}

fn batch(bank: &str, answers: Vec<Answer>) -> AnswerBatch {
    AnswerBatch {
        protocol: ProtocolVersion::V1,
        bank: BankCode::parse(bank).unwrap(),
        answers,
    }
}

#[tokio::test]
async fn every_bank_answers_the_report_is_final_with_one_ready_sms() {
    let mut hub = Hub::start(&[
        BankSpec::new("ICBC"),
        BankSpec::new("CMB"),
        BankSpec::new("ABC"),
    ])
    .await;
    let id = hub.submit(&["ICBC", "CMB", "ABC"]).await;
    let report = hub.fanout.tick(hub.now()).await.unwrap();
    assert_eq!((report.claimed, report.requests), (3, 3));
    for bank in ["ICBC", "CMB", "ABC"] {
        let leg = hub.leg(id, bank).await;
        assert_eq!(leg.state, LegState::Answered, "{bank}");
        assert_eq!(leg.attempt, 1);
        assert_eq!(hub.bank(bank).requests(), 1);
        // The hub stored ciphertext only; the user's key opens it: one card listed, one
        // without a reserved phone.
        let cards = hub.open_answer(id, bank).await;
        assert_eq!(cards.cards.len(), 1);
        assert_eq!(cards.cards[0].pan.last4().len(), 4);
        assert_eq!(cards.unlisted.len(), 1);
    }
    let (state, finalized, purge, erased) = hub.inquiry(id).await;
    assert_eq!(state, "final");
    assert_eq!(finalized.as_deref(), Some("2026-11-28T10:00:00.000000Z"));
    assert_eq!(purge.as_deref(), Some("2026-12-05T10:00:00.000000Z"));
    assert!(
        erased,
        "the subject snapshot is erased once the report is final"
    );
    let sms = hub.ready_sms().await;
    assert_eq!(sms.len(), 1);
    let (key, template, params, lang, phone) = &sms[0];
    assert_eq!(key, &format!("ready:{id}"));
    assert_eq!(
        (template.as_str(), lang.as_str(), phone.as_slice()),
        ("report_ready", "zh", &[5u8, 6][..])
    );
    let params: serde_json::Value = serde_json::from_str(params).unwrap();
    assert_eq!(params["inquiry_id"], id.to_string());
    assert_eq!(params["expires"], "2026-12-05");
    // Nothing is left to do, and nothing is sent twice.
    hub.clock.advance(Duration::hours(25));
    let again = hub.fanout.tick(hub.now()).await.unwrap();
    assert_eq!((again.claimed, again.expired), (0, 0));
    assert_eq!(hub.ready_sms().await.len(), 1);
}

#[tokio::test]
async fn a_throttling_bank_is_asked_again_after_retry_after_and_delays_no_other() {
    let throttled = Arc::new(AtomicBool::new(true));
    let mut cmb = BankSpec::new("CMB");
    cmb.throttle = Some(throttled.clone());
    let mut hub = Hub::start(&[BankSpec::new("ICBC"), cmb]).await;
    let id = hub.submit(&["ICBC", "CMB"]).await;
    hub.fanout.tick(hub.now()).await.unwrap();
    assert_eq!(hub.state(id, "ICBC").await, LegState::Answered);
    let leg = hub.leg(id, "CMB").await;
    assert_eq!(leg.state, LegState::Pending);
    assert_eq!(leg.next_attempt_at, START + Duration::seconds(60));
    assert!(
        leg.last_error.as_deref().unwrap().contains("429"),
        "{leg:?}"
    );
    assert_eq!(hub.inquiry(id).await.0, "open");

    hub.clock.advance(Duration::seconds(59));
    assert_eq!(hub.fanout.tick(hub.now()).await.unwrap().claimed, 0);
    assert_eq!(hub.bank("CMB").requests(), 1);

    throttled.store(false, Ordering::SeqCst);
    hub.clock.advance(Duration::seconds(1));
    assert_eq!(hub.fanout.tick(hub.now()).await.unwrap().claimed, 1);
    let leg = hub.leg(id, "CMB").await;
    assert_eq!((leg.state, leg.attempt), (LegState::Answered, 2));
    assert_eq!(hub.bank("CMB").requests(), 2);
    assert_eq!(hub.bank("ICBC").requests(), 1);
    assert_eq!(hub.inquiry(id).await.0, "final");
    assert_eq!(hub.ready_sms().await.len(), 1);
}

#[tokio::test]
async fn a_down_bank_is_retried_with_backoff_until_the_deadline_then_marked_no_answer() {
    let mut down = BankSpec::new("CMB");
    down.down = true;
    let mut hub = Hub::start(&[BankSpec::new("ICBC"), down]).await;
    let id = hub.submit(&["ICBC", "CMB"]).await;
    hub.fanout.tick(hub.now()).await.unwrap();
    assert_eq!(hub.state(id, "ICBC").await, LegState::Answered);
    let mut previous = hub.leg(id, "CMB").await;
    assert_eq!(previous.state, LegState::Pending);
    assert!(
        previous
            .last_error
            .as_deref()
            .unwrap()
            .contains("transport"),
        "{previous:?}"
    );
    // Each retry waits at most base × 2^(attempt−1) (full jitter).
    for attempt in 1..=6 {
        let waited = previous.next_attempt_at - hub.now();
        assert!(
            waited >= Duration::ZERO && waited <= Duration::seconds(1 << (attempt - 1)),
            "{waited}"
        );
        hub.clock.set(previous.next_attempt_at);
        assert_eq!(hub.fanout.tick(hub.now()).await.unwrap().claimed, 1);
        previous = hub.leg(id, "CMB").await;
        assert_eq!(
            (previous.state, previous.attempt),
            (LegState::Pending, attempt + 1)
        );
    }
    assert_eq!(hub.inquiry(id).await.0, "open");
    assert!(hub.ready_sms().await.is_empty());

    hub.clock.set(START + Duration::hours(24));
    let report = hub.fanout.tick(hub.now()).await.unwrap();
    assert_eq!((report.expired, report.claimed), (1, 0));
    assert_eq!(hub.state(id, "CMB").await, LegState::NoAnswer);
    assert_eq!(hub.inquiry(id).await.0, "final");
    assert_eq!(hub.ready_sms().await.len(), 1);
    hub.clock.advance(Duration::hours(1));
    assert_eq!(hub.fanout.tick(hub.now()).await.unwrap().expired, 0);
    assert_eq!(hub.ready_sms().await.len(), 1);
}

#[tokio::test]
async fn a_bank_in_callback_mode_answers_later_and_a_lost_callback_is_asked_again() {
    let mut cmb = BankSpec::new("CMB");
    cmb.mode = AnswerMode::Callback;
    cmb.callback_delay = StdDuration::from_millis(1000);
    let mut icbc = BankSpec::new("ICBC");
    icbc.mode = AnswerMode::Callback;
    icbc.faults = FaultConfig {
        silent_rate: 1.0,
        ..FaultConfig::default()
    };
    let mut hub = Hub::start_with(&[cmb, icbc], true, |_| {}).await;
    let id = hub.submit(&["CMB", "ICBC"]).await;
    hub.fanout.tick(hub.now()).await.unwrap();
    let leg = hub.leg(id, "CMB").await;
    assert_eq!(leg.state, LegState::AwaitingCallback);
    assert_eq!(leg.next_attempt_at, START + Duration::minutes(10));
    hub.wait_for(id, "CMB", LegState::Answered).await;
    assert_eq!(hub.open_answer(id, "CMB").await.cards.len(), 1);
    // The bank got the hub's signed acknowledgement.
    for _ in 0..200 {
        if hub
            .bank("CMB")
            .node
            .as_ref()
            .unwrap()
            .stats()
            .callbacks_delivered
            == 1
        {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    assert_eq!(
        hub.bank("CMB")
            .node
            .as_ref()
            .unwrap()
            .stats()
            .callbacks_delivered,
        1
    );
    // ICBC accepted but never calls back: asked again after 10 minutes.
    assert_eq!(hub.state(id, "ICBC").await, LegState::AwaitingCallback);
    hub.clock.advance(Duration::minutes(9));
    assert_eq!(hub.fanout.tick(hub.now()).await.unwrap().claimed, 0);
    hub.clock.advance(Duration::minutes(1));
    assert_eq!(hub.fanout.tick(hub.now()).await.unwrap().claimed, 1);
    let leg = hub.leg(id, "ICBC").await;
    assert_eq!((leg.state, leg.attempt), (LegState::AwaitingCallback, 2));
    assert_eq!(hub.inquiry(id).await.0, "open");
}

#[tokio::test]
async fn a_callback_after_the_deadline_is_recorded_as_late_and_ignored() {
    let mut down = BankSpec::new("CMB");
    down.down = true;
    let mut hub = Hub::start_with(&[BankSpec::new("ICBC"), down], true, |_| {}).await;
    let id = hub.submit(&["ICBC", "CMB"]).await;
    hub.fanout.tick(hub.now()).await.unwrap();
    hub.clock.advance(Duration::hours(24));
    hub.fanout.tick(hub.now()).await.unwrap();
    assert_eq!(hub.state(id, "CMB").await, LegState::NoAnswer);
    assert_eq!(hub.ready_sms().await.len(), 1);

    let late = batch("CMB", vec![no_match(id, "CMB", hub.now())]);
    let signer = hub.bank("CMB").signer.clone();
    for _ in 0..2 {
        let (status, ack) = hub.post_callback(&signer, &late).await;
        assert_eq!(status, 200, "{ack}");
        assert_eq!(ack["bank"], "CMB");
        assert_eq!(ack["accepted"][0], id.to_string());
    }
    assert_eq!(hub.count("SELECT COUNT(*) FROM late_answers").await, 1);
    assert_eq!(
        hub.count("SELECT COUNT(*) FROM answers WHERE bank = 'CMB'")
            .await,
        0
    );
    assert_eq!(hub.state(id, "CMB").await, LegState::NoAnswer);
    assert_eq!(hub.ready_sms().await.len(), 1);
}

#[tokio::test]
async fn a_callback_reaching_an_open_leg_past_its_deadline_is_late_and_finalises() {
    let mut hub = Hub::start_with(&[BankSpec::new("ICBC")], true, |_| {}).await;
    let id = hub.submit(&["ICBC"]).await;
    hub.clock.advance(Duration::hours(24));
    let late = batch("ICBC", vec![no_match(id, "ICBC", hub.now())]);
    let signer = hub.bank("ICBC").signer.clone();
    assert_eq!(hub.post_callback(&signer, &late).await.0, 200);
    assert_eq!(hub.state(id, "ICBC").await, LegState::NoAnswer);
    assert_eq!(hub.count("SELECT COUNT(*) FROM late_answers").await, 1);
    assert_eq!(hub.inquiry(id).await.0, "final");
    assert_eq!(hub.ready_sms().await.len(), 1);
}

#[tokio::test]
async fn a_stale_worker_cannot_complete_a_leg_claimed_again() {
    let mut hub = Hub::start(&[BankSpec::new("ICBC")]).await;
    let id = hub.submit(&["ICBC"]).await;
    let icbc = BankCode::parse("ICBC").unwrap();
    let want = [BankClaim {
        bank: icbc.clone(),
        limit: 10,
    }];
    let lease = Duration::seconds(30);
    let first = hub
        .ledger
        .claim_due("worker-a", hub.now(), lease, &want)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].attempt, 1);
    // Within the lease nobody else gets it.
    hub.clock.advance(Duration::seconds(29));
    assert!(
        hub.ledger
            .claim_due("worker-b", hub.now(), lease, &want)
            .await
            .unwrap()
            .is_empty()
    );
    // The lease expires; worker B claims the leg again.
    hub.clock.advance(Duration::seconds(2));
    let second = hub
        .ledger
        .claim_due("worker-b", hub.now(), lease, &want)
        .await
        .unwrap();
    assert_eq!(second[0].attempt, 2);
    assert_eq!(
        hub.leg(id, "ICBC").await.lease_owner.as_deref(),
        Some("worker-b")
    );

    let key = LegKey {
        inquiry_id: id,
        bank: icbc,
    };
    let stale = hub
        .ledger
        .complete_leg(&key, 1, no_match(id, "ICBC", hub.now()), hub.now())
        .await
        .unwrap();
    assert_eq!(stale, Settled::Fenced);
    assert!(
        !hub.ledger
            .reschedule_leg(&key, 1, hub.now(), "stale", hub.now())
            .await
            .unwrap()
    );
    assert_eq!(hub.count("SELECT COUNT(*) FROM answers").await, 0);
    assert_eq!(hub.state(id, "ICBC").await, LegState::Sending);

    let fresh = hub
        .ledger
        .complete_leg(&key, 2, no_match(id, "ICBC", hub.now()), hub.now())
        .await
        .unwrap();
    assert_eq!(
        fresh,
        Settled::Applied {
            inquiry_final: true
        }
    );
    assert_eq!(hub.ready_sms().await.len(), 1);
    // A late completion of either attempt changes nothing more.
    let again = hub
        .ledger
        .complete_leg(&key, 2, no_match(id, "ICBC", hub.now()), hub.now())
        .await
        .unwrap();
    assert_eq!(again, Settled::Fenced);
    assert_eq!(hub.ready_sms().await.len(), 1);
}

#[tokio::test]
async fn forty_inquiries_due_together_go_out_in_one_batch() {
    let mut hub = Hub::start(&[BankSpec::new("ICBC")]).await;
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(hub.submit(&["ICBC"]).await);
    }
    let report = hub.fanout.tick(hub.now()).await.unwrap();
    assert_eq!(report.claimed, 40);
    let node = hub.bank("ICBC").node.as_ref().unwrap().stats();
    assert!(node.requests <= 2, "{node:?}");
    assert_eq!(node.answers, 40);
    for id in &ids {
        assert_eq!(hub.state(*id, "ICBC").await, LegState::Answered);
    }
    assert_eq!(hub.ready_sms().await.len(), 40);
}

#[tokio::test]
async fn a_batch_refused_as_a_whole_is_split_and_the_bad_inquiry_alone_is_not_retried() {
    let mut hub = Hub::start(&[BankSpec::new("ICBC")]).await;
    let good = hub.submit(&["ICBC"]).await;
    // A name the bank's schema refuses (digits): the whole batch is answered 400.
    let bad = hub.submit_named(&["ICBC"], "李梅2").await;
    let other = hub.submit(&["ICBC"]).await;
    let report = hub.fanout.tick(hub.now()).await.unwrap();
    assert!(report.requests >= 3, "{report:?}");
    assert_eq!(hub.state(good, "ICBC").await, LegState::Answered);
    assert_eq!(hub.state(other, "ICBC").await, LegState::Answered);
    // Protocol §8: 400 is not retried. Alone, the bad inquiry is final at once as "no answer"
    // (with the bank's reason), and its report is final with its one "ready" SMS.
    let leg = hub.leg(bad, "ICBC").await;
    assert_eq!(leg.state, LegState::NoAnswer);
    assert!(
        leg.last_error
            .as_deref()
            .unwrap()
            .contains("400 invalid_name"),
        "{leg:?}"
    );
    assert_eq!(hub.ready_sms().await.len(), 3);
    let requests = hub
        .fanout
        .tick(hub.now() + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(requests.requests, 0, "{requests:?}");
}

#[tokio::test]
async fn a_duplicate_callback_is_acknowledged_and_recorded_once() {
    let mut hub = Hub::start_with(&[BankSpec::new("ICBC")], true, |_| {}).await;
    let id = hub.submit(&["ICBC"]).await;
    let answers = batch("ICBC", vec![no_match(id, "ICBC", hub.now())]);
    let signer = hub.bank("ICBC").signer.clone();
    let body = answers.to_json().unwrap();
    let headers = signer
        .sign_request(
            &http::Method::POST,
            "/chaka/v1/callbacks",
            Some("application/json"),
            &body,
            hub.now(),
        )
        .unwrap();
    let (status, ack) = hub.post_signed(headers.clone(), body.clone()).await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(hub.state(id, "ICBC").await, LegState::Answered);
    // The same signed request again is a replay.
    let (status, problem) = hub.post_signed(headers, body).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("signature_replayed"))
    );
    // A fresh delivery of the same answers is acknowledged again and changes nothing.
    let (status, ack) = hub.post_callback(&signer, &answers).await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["accepted"][0], id.to_string());
    assert_eq!(hub.count("SELECT COUNT(*) FROM answers").await, 1);
    assert_eq!(hub.ready_sms().await.len(), 1);
    // The worker has nothing left to ask.
    assert_eq!(hub.fanout.tick(hub.now()).await.unwrap().claimed, 0);
    assert_eq!(hub.bank("ICBC").requests(), 0);
}

#[tokio::test]
async fn callbacks_naming_another_bank_or_an_unknown_inquiry_are_refused() {
    let mut hub =
        Hub::start_with(&[BankSpec::new("ICBC"), BankSpec::new("CMB")], true, |_| {}).await;
    let id = hub.submit(&["ICBC"]).await;
    let now = hub.now();
    let icbc = hub.bank("ICBC").signer.clone();
    let cmb = hub.bank("CMB").signer.clone();
    // CMB answers an inquiry that was never sent to CMB.
    let (status, problem) = hub
        .post_callback(&cmb, &batch("CMB", vec![no_match(id, "CMB", now)]))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("unknown_inquiry"))
    );
    // ICBC's key signs a batch that claims to be CMB's.
    let (status, problem) = hub
        .post_callback(&icbc, &batch("CMB", vec![no_match(id, "CMB", now)]))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("bank_mismatch"))
    );
    // An answer for an inquiry nobody asked, next to a valid one: all or nothing.
    let stranger = InquiryId::generate(now + Duration::seconds(1));
    let mixed = batch(
        "ICBC",
        vec![no_match(id, "ICBC", now), no_match(stranger, "ICBC", now)],
    );
    let (status, problem) = hub.post_callback(&icbc, &mixed).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("unknown_inquiry"))
    );
    assert!(!problem["detail"].as_str().unwrap().contains("李"));
    assert_eq!(hub.count("SELECT COUNT(*) FROM answers").await, 0);
    assert_eq!(hub.state(id, "ICBC").await, LegState::Pending);
    // Not JSON, and unknown keys.
    let stranger_key = chaka_protocol::signature::Signer::new(
        chaka_protocol::keys::KeyId::parse("nobody-1").unwrap(),
        chaka_protocol::keys::SigningKeyPair::generate(),
    );
    let (status, problem) = hub
        .post_callback(
            &stranger_key,
            &batch("ICBC", vec![no_match(id, "ICBC", now)]),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("unknown_key"))
    );
    assert_eq!(hub.count("SELECT COUNT(*) FROM answers").await, 0);
}

#[tokio::test]
async fn bad_signatures_and_garbage_are_retried_like_failures() {
    let mut forged = BankSpec::new("ICBC");
    forged.faults = FaultConfig {
        bad_signature_rate: 1.0,
        ..FaultConfig::default()
    };
    let mut garbage = BankSpec::new("CMB");
    garbage.faults = FaultConfig {
        garbage_rate: 1.0,
        ..FaultConfig::default()
    };
    let mut hub = Hub::start(&[forged, garbage]).await;
    let id = hub.submit(&["ICBC", "CMB"]).await;
    hub.fanout.tick(hub.now()).await.unwrap();
    let icbc = hub.leg(id, "ICBC").await;
    assert_eq!(icbc.state, LegState::Pending);
    assert!(
        icbc.last_error.as_deref().unwrap().contains("signature"),
        "{icbc:?}"
    );
    let cmb = hub.leg(id, "CMB").await;
    assert_eq!(cmb.state, LegState::Pending);
    assert!(
        cmb.last_error.as_deref().unwrap().contains("malformed"),
        "{cmb:?}"
    );
    assert_eq!(hub.count("SELECT COUNT(*) FROM answers").await, 0);
}

#[tokio::test]
async fn a_slow_bank_delays_only_its_own_legs_and_stop_lets_batches_finish() {
    let mut slow = BankSpec::new("CMB");
    slow.faults = FaultConfig {
        latency: Latency::Fixed { ms: 3000 },
        ..FaultConfig::default()
    };
    let mut hub = Hub::start_with(&[BankSpec::new("ICBC"), slow], false, |c| {
        c.poll_interval = StdDuration::from_millis(20);
    })
    .await;
    let id = hub.submit(&["ICBC", "CMB"]).await;
    let worker = hub.fanout.clone().spawn();
    worker.wake();
    hub.wait_for(id, "ICBC", LegState::Answered).await;
    assert_eq!(hub.state(id, "CMB").await, LegState::Sending);
    // Stopping waits for the slow batch, which still settles.
    worker.stop().await;
    assert_eq!(hub.state(id, "CMB").await, LegState::Answered);
    assert_eq!(hub.inquiry(id).await.0, "final");
    assert_eq!(hub.ready_sms().await.len(), 1);
}

#[tokio::test]
async fn a_bank_with_a_batch_in_flight_gets_the_legs_due_meanwhile_together_in_the_next() {
    let mut slow = BankSpec::new("CMB");
    slow.faults = FaultConfig {
        latency: Latency::Fixed { ms: 1500 },
        ..FaultConfig::default()
    };
    let mut hub = Hub::start_with(&[slow], false, |c| {
        c.poll_interval = StdDuration::from_millis(20);
    })
    .await;
    let first = hub.submit(&["CMB"]).await;
    let worker = hub.fanout.clone().spawn();
    worker.wake();
    hub.wait_for(first, "CMB", LegState::Sending).await;
    // The first batch has reached the bank, so its few milliseconds of top-up are over (a
    // leg due within them would rightly join it).
    for _ in 0..400 {
        if hub.bank("CMB").requests() == 1 {
            break;
        }
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
    assert_eq!(hub.bank("CMB").requests(), 1);
    // While the first batch is in flight, a leg that comes due is not sent in a batch of its
    // own, however often the worker looks (every 20 ms here, and woken)…
    let second = hub.submit(&["CMB"]).await;
    worker.wake();
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    assert_eq!(hub.state(second, "CMB").await, LegState::Pending);
    let third = hub.submit(&["CMB"]).await;
    worker.wake();
    // …but waits for its answer and goes with the next one due, in one request.
    for id in [first, second, third] {
        hub.wait_for(id, "CMB", LegState::Answered).await;
    }
    assert_eq!(hub.bank("CMB").requests(), 2);
    worker.stop().await;
    assert_eq!(hub.ready_sms().await.len(), 3);
}

#[tokio::test]
async fn stop_releases_the_legs_of_batches_that_outlive_the_grace_period() {
    let mut silent = BankSpec::new("CMB");
    silent.faults = FaultConfig {
        silent_rate: 1.0,
        ..FaultConfig::default()
    };
    let mut hub = Hub::start_with(&[silent], false, |c| {
        c.poll_interval = StdDuration::from_millis(20);
        c.stop_grace = StdDuration::from_millis(200);
    })
    .await;
    let id = hub.submit(&["CMB"]).await;
    let worker = hub.fanout.clone().spawn();
    hub.wait_for(id, "CMB", LegState::Sending).await;
    worker.stop().await;
    let leg = hub.leg(id, "CMB").await;
    assert_eq!((leg.state, leg.lease_owner), (LegState::Pending, None));
    // Claimed again later, with a new attempt.
    assert_eq!(leg.attempt, 1);
}

#[tokio::test]
async fn heartbeat_proves_the_bank_and_its_key() {
    let hub = Hub::start(&[BankSpec::new("ICBC")]).await;
    let connector = chaka_hub::connector::Connector::new(
        hub.hub_signer.key_id().clone(),
        hub.hub_signer.key().clone(),
        &hub.hub_banks,
        Arc::new(hub.clock.clone()),
        &chaka_hub::connector::ConnectorSettings::default(),
    )
    .unwrap();
    let icbc = BankCode::parse("ICBC").unwrap();
    let beat = connector.heartbeat(&icbc).await.unwrap();
    assert_eq!(beat.bank, icbc);
    assert_eq!(&beat.key_id, hub.bank("ICBC").signer.key_id());
    let unknown = connector.heartbeat(&BankCode::parse("CMB").unwrap()).await;
    assert!(matches!(
        unknown,
        Err(chaka_hub::connector::ConnectorError::UnknownBank(_))
    ));
}
