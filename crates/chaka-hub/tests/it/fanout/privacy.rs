//! The fan-out logs bank codes, counts and error kinds, never a subject or card digits: a full
//! run (answers, a callback, a down bank, refused callbacks) with every event recorded.

use super::support::{BankSpec, Hub, NAME, PHONE, id_number};
use crate::logs::Capture;
use chaka_bank::node::AnswerMode;
use chaka_core::BankCode;
use chaka_hub::store::ledger::LegState;
use chaka_protocol::message::{Answer, AnswerBatch, Outcome, ProtocolVersion};
use time::Duration;

#[tokio::test]
async fn no_subject_or_card_digits_reach_the_logs() {
    // A current-thread runtime: every task of this test logs through this subscriber.
    let (capture, _guard) = Capture::start();

    let mut callback = BankSpec::new("CMB");
    callback.mode = AnswerMode::Callback;
    let mut down = BankSpec::new("ABC");
    down.down = true;
    let mut hub = Hub::start_with(&[BankSpec::new("ICBC"), callback, down], true, |_| {}).await;
    let id = hub.submit(&["ICBC", "CMB", "ABC"]).await;
    hub.fanout.tick(hub.now()).await.unwrap();
    hub.wait_for(id, "CMB", LegState::Answered).await;
    let stray = AnswerBatch {
        protocol: ProtocolVersion::V1,
        bank: BankCode::parse("ABC").unwrap(),
        answers: vec![Answer {
            inquiry_id: chaka_core::InquiryId::generate(hub.now()),
            bank: BankCode::parse("ABC").unwrap(),
            outcome: Outcome::NoMatch,
            sealed: None,
            answered_at: hub.now(),
        }],
    };
    let signer = hub.bank("ABC").signer.clone();
    assert_eq!(hub.post_callback(&signer, &stray).await.0, 400);
    hub.clock.advance(Duration::hours(24));
    hub.fanout.tick(hub.now()).await.unwrap();
    assert_eq!(hub.inquiry(id).await.0, "final");

    let logs = capture.text();
    assert!(logs.contains("ABC"), "the capture works: {logs}");
    let id_number = id_number();
    for secret in [NAME, id_number.as_str(), PHONE, "62220231234567001"] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
}
