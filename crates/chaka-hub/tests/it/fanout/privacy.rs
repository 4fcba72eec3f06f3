//! The fan-out logs bank codes, counts and error kinds, never a subject or card digits: a full
//! run (answers, a callback, a down bank, refused callbacks) with every event recorded.

use super::support::{BankSpec, Hub, NAME, PHONE, id_number};
use chaka_bank::node::AnswerMode;
use chaka_core::BankCode;
use chaka_hub::store::ledger::LegState;
use chaka_protocol::message::{Answer, AnswerBatch, Outcome, ProtocolVersion};
use std::io::Write;
use std::sync::{Arc, Mutex};
use time::Duration;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_subject_or_card_digits_reach_the_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // A current-thread runtime: every task of this test logs through this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

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

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("ABC"), "the capture works: {logs}");
    let id_number = id_number();
    for secret in [NAME, id_number.as_str(), PHONE, "62220231234567001"] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
}
