//! The SMS notifier: delivers the outbox. Messages are enqueued in the same transaction as the
//! change they announce (a submitted inquiry, a final report), so a crash never loses one; the
//! notifier claims due messages with a lease, opens the phone and any code in memory, renders
//! the text in the user's language, hands it to the gateway with the message's idempotency key
//! (so a retry after a crash is not delivered twice), and retries with backoff.

use crate::sms::{Lang, Message, Sms, SmsError, SmsGateway};
use crate::store::{OutboxMessage, OutboxStore};
use crate::vault::{FieldPurpose, Vault};
use chaka_core::{Phone, SharedClock};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::{Notify, watch};

const MAX_ATTEMPTS: i64 = 12;
const BATCH: i64 = 32;

/// Wakes the notifier when something was enqueued.
#[derive(Clone, Default)]
pub struct Doorbell(Arc<Notify>);

impl Doorbell {
    /// Rings.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// The outbox worker.
pub struct Notifier {
    store: Arc<dyn OutboxStore>,
    gateway: Arc<dyn SmsGateway>,
    vault: Arc<Vault>,
    clock: SharedClock,
    owner: String,
    lease: time::Duration,
}

impl Notifier {
    /// A worker identified as `owner` in leases.
    pub fn new(
        store: Arc<dyn OutboxStore>,
        gateway: Arc<dyn SmsGateway>,
        vault: Arc<Vault>,
        clock: SharedClock,
        owner: String,
    ) -> Self {
        Self {
            store,
            gateway,
            vault,
            clock,
            owner,
            lease: time::Duration::seconds(30),
        }
    }

    /// How long a claimed message is held before another worker may take it over.
    pub fn with_lease(mut self, lease: time::Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Delivers every due message once; returns how many were handed to the gateway.
    pub async fn tick(&self) -> usize {
        let now = self.clock.now();
        let claimed = match self
            .store
            .claim_sms(&self.owner, now, self.lease, BATCH)
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the SMS outbox");
                return 0;
            }
        };
        // Delivered messages are marked sent together: one durable commit per tick, not one per
        // message (a crash before it re-sends them with the same idempotency keys, which the
        // gateway drops).
        let mut sent = Vec::new();
        for message in claimed {
            if self.deliver(&message, now).await {
                sent.push(message.message_id);
            }
        }
        if !sent.is_empty()
            && let Err(e) = self.store.sms_sent_many(&sent, self.clock.now()).await
        {
            tracing::error!(error = %e, "SMS sent but not marked; the gateway's idempotency key prevents a second delivery");
        }
        sent.len()
    }

    async fn deliver(&self, m: &OutboxMessage, now: OffsetDateTime) -> bool {
        let sms = match self.render(m) {
            Ok(sms) => sms,
            Err(reason) => {
                tracing::error!(template = %m.template, reason, "an outbox message cannot be rendered; dropped");
                let _ = self.store.sms_retry(&m.message_id, None).await;
                return false;
            }
        };
        if m.template == "report_ready" {
            crate::failpoint::reach(crate::failpoint::NOTIFY_BEFORE_READY_SMS).await;
        }
        match self.gateway.send(&sms).await {
            Ok(_) => {
                tracing::info!(template = %m.template, "SMS delivered to the gateway");
                true
            }
            Err(e) => {
                let retry = matches!(e, SmsError::Retryable(_)) && m.attempts + 1 < MAX_ATTEMPTS;
                let next = retry.then(|| now + backoff(m.attempts));
                tracing::warn!(template = %m.template, attempt = m.attempts + 1, retry, "SMS gateway refused: {e}");
                let _ = self.store.sms_retry(&m.message_id, next).await;
                false
            }
        }
    }

    fn render(&self, m: &OutboxMessage) -> Result<Sms, &'static str> {
        let phone = self
            .vault
            .open_field(FieldPurpose::Phone, &m.phone_sealed)
            .map_err(|_| "phone does not open")?;
        let phone = std::str::from_utf8(&phone)
            .ok()
            .and_then(|p| Phone::parse(p).ok())
            .ok_or("phone is not a phone")?;
        let secret = match &m.secret_sealed {
            Some(sealed) => Some(
                self.vault
                    .open_field(FieldPurpose::SmsParams, sealed)
                    .map_err(|_| "secret does not open")?,
            ),
            None => None,
        };
        let secret = match &secret {
            Some(bytes) => Some(std::str::from_utf8(bytes).map_err(|_| "secret is not text")?),
            None => None,
        };
        let message = Message::from_template(&m.template, &m.params, secret)
            .map_err(|_| "unknown template or parameters")?;
        let lang = if m.lang == "en" { Lang::En } else { Lang::Zh };
        Ok(Sms::render(
            m.idempotency_key.clone(),
            phone,
            &message,
            lang,
        ))
    }

    /// Runs until `stop` turns true: delivers due messages, then waits for the doorbell or a
    /// second.
    pub async fn run(self, doorbell: Doorbell, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            self.tick().await;
            tokio::select! {
                () = doorbell.0.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = stopped(&mut stop) => return,
            }
        }
    }
}

/// Completes once `stop` turns true (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// 2 s, 4 s, 8 s … capped at 10 minutes.
fn backoff(attempts: i64) -> time::Duration {
    let exp = attempts.clamp(0, 9) as u32;
    time::Duration::seconds((2i64 << exp).min(600))
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0).whole_seconds(), 2);
        assert_eq!(backoff(3).whole_seconds(), 16);
        assert_eq!(backoff(50).whole_seconds(), 600);
    }
}
