//! [`ConsoleGateway`]: the demo's SMS. Prints `[SMS → 138****5678] <text>` (the code shows,
//! the phone is masked) and keeps every message in memory for tests and the demo; a repeated
//! idempotency key is neither printed nor kept twice. Not for production: it delivers nothing.

use super::{Sms, SmsError, SmsGateway, SmsReceipt};
use async_trait::async_trait;
use chaka_core::Phone;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Mutex, PoisonError};

/// Prints messages to a writer (stdout by default) and remembers them.
pub struct ConsoleGateway {
    state: Mutex<State>,
}

struct State {
    writer: Box<dyn Write + Send>,
    sent: Vec<Sms>,
    receipts: HashMap<String, SmsReceipt>,
}

impl std::fmt::Debug for ConsoleGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("ConsoleGateway")
            .field("sent", &state.sent.len())
            .finish_non_exhaustive()
    }
}

impl Default for ConsoleGateway {
    fn default() -> Self {
        Self::stdout()
    }
}

impl ConsoleGateway {
    /// Prints to `writer`.
    pub fn new(writer: impl Write + Send + 'static) -> Self {
        Self {
            state: Mutex::new(State {
                writer: Box::new(writer),
                sent: Vec::new(),
                receipts: HashMap::new(),
            }),
        }
    }

    /// Prints to standard output.
    pub fn stdout() -> Self {
        Self::new(std::io::stdout())
    }

    /// Prints nothing, only records: the recording gateway of tests.
    pub fn silent() -> Self {
        Self::new(std::io::sink())
    }

    /// Every message sent, oldest first (each idempotency key once).
    pub fn sent(&self) -> Vec<Sms> {
        self.lock().sent.clone()
    }

    /// The messages sent to `phone`, oldest first.
    pub fn sent_to(&self, phone: &Phone) -> Vec<Sms> {
        self.lock()
            .sent
            .iter()
            .filter(|sms| &sms.to == phone)
            .cloned()
            .collect()
    }

    /// The code in the latest OTP message (template `otp_*`) sent to `phone`: what a user
    /// would type in. For tests and the demo.
    pub fn last_code_to(&self, phone: &Phone) -> Option<String> {
        let state = self.lock();
        let sms = state
            .sent
            .iter()
            .rev()
            .find(|sms| &sms.to == phone && sms.template.starts_with("otp_"))?;
        sms.text
            .split(|c: char| !c.is_ascii_digit())
            .find(|run| run.len() == 6)
            .map(str::to_owned)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl SmsGateway for ConsoleGateway {
    async fn send(&self, sms: &Sms) -> Result<SmsReceipt, SmsError> {
        let mut state = self.lock();
        if let Some(receipt) = state.receipts.get(&sms.idempotency_key) {
            return Ok(receipt.clone());
        }
        let line = format!("[SMS → {}] {}\n", sms.to.masked(), sms.text);
        state
            .writer
            .write_all(line.as_bytes())
            .and_then(|()| state.writer.flush())
            .map_err(|e| SmsError::Retryable(format!("console write failed: {}", e.kind())))?;
        let receipt = SmsReceipt {
            message_id: Some(format!("console-{}", state.sent.len() + 1)),
        };
        state
            .receipts
            .insert(sms.idempotency_key.clone(), receipt.clone());
        state.sent.push(sms.clone());
        Ok(receipt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sms::{Lang, Message, OtpPurpose};
    use std::sync::Arc;

    /// A writer whose bytes the test can read afterwards.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn phone(s: &str) -> Phone {
        Phone::parse(s).unwrap()
    }

    fn otp(key: &str, to: &str, code: &str) -> Sms {
        Sms::render(
            key,
            phone(to),
            &Message::Otp {
                purpose: OtpPurpose::Register,
                code: code.into(),
            },
            Lang::Zh,
        )
    }

    #[tokio::test]
    async fn prints_masked_phone_and_full_text() {
        let out = Captured::default();
        let gateway = ConsoleGateway::new(out.clone());
        let sms = otp("otp:1", "13812345678", "493817");
        let receipt = gateway.send(&sms).await.unwrap();
        assert_eq!(receipt.message_id.as_deref(), Some("console-1"));
        let printed = out.text();
        assert_eq!(printed, format!("[SMS → 138****5678] {}\n", sms.text));
        assert!(printed.contains("493817"));
        assert!(!printed.contains("13812345678"));
    }

    #[tokio::test]
    async fn a_repeated_key_is_printed_and_kept_once() {
        let out = Captured::default();
        let gateway = ConsoleGateway::new(out.clone());
        let first = otp("otp:1", "13812345678", "493817");
        let r1 = gateway.send(&first).await.unwrap();
        let r2 = gateway.send(&first).await.unwrap();
        assert_eq!(r1, r2);
        assert_eq!(out.text().lines().count(), 1);
        assert_eq!(gateway.sent(), vec![first.clone()]);
        let second = otp("otp:2", "13812345678", "118822");
        gateway.send(&second).await.unwrap();
        assert_eq!(gateway.sent(), vec![first, second]);
        assert_eq!(out.text().lines().count(), 2);
    }

    #[tokio::test]
    async fn keeps_messages_per_phone_and_finds_the_last_code() {
        let gateway = ConsoleGateway::silent();
        let a = phone("13812345678");
        let b = phone("13987654321");
        gateway
            .send(&otp("1", "13812345678", "111111"))
            .await
            .unwrap();
        gateway
            .send(&otp("2", "13987654321", "222222"))
            .await
            .unwrap();
        gateway
            .send(&otp("3", "13812345678", "333333"))
            .await
            .unwrap();
        let notice = Sms::render("4", a.clone(), &Message::PinReset, Lang::Zh);
        gateway.send(&notice).await.unwrap();
        assert_eq!(gateway.sent().len(), 4);
        assert_eq!(gateway.sent_to(&a).len(), 3);
        assert_eq!(gateway.sent_to(&b).len(), 1);
        assert_eq!(gateway.last_code_to(&a).as_deref(), Some("333333"));
        assert_eq!(gateway.last_code_to(&b).as_deref(), Some("222222"));
        assert_eq!(gateway.last_code_to(&phone("13700000000")), None);
        // The English text's code is found too.
        let en = Sms::render(
            "5",
            b.clone(),
            &Message::Otp {
                purpose: OtpPurpose::Inquiry,
                code: "555555".into(),
            },
            Lang::En,
        );
        gateway.send(&en).await.unwrap();
        assert_eq!(gateway.last_code_to(&b).as_deref(), Some("555555"));
    }

    #[tokio::test]
    async fn a_failed_write_is_retryable_and_not_recorded() {
        let gateway = ConsoleGateway::new(Broken);
        let err = gateway
            .send(&otp("1", "13812345678", "493817"))
            .await
            .unwrap_err();
        assert!(err.is_retryable());
        assert!(!err.to_string().contains("493817"));
        assert!(gateway.sent().is_empty());
    }
}
