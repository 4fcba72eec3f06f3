//! [`HttpGateway`]: POSTs each message as JSON to an SMS gateway, with an `Idempotency-Key`
//! header and an RFC 9421 signature by the hub's key (the gateway checks it against the hub's
//! published key), and classifies the answer as sent, retryable or permanent. The transport
//! rules (TLS, no redirects, capped answers) are [`crate::outbound`]'s.

use super::{Sms, SmsError, SmsGateway, SmsReceipt};
use crate::outbound::{Outbound, OutboundError, is_retryable_status};
use async_trait::async_trait;
use chaka_core::SharedClock;
use chaka_protocol::signature::Signer;
use http::{HeaderName, HeaderValue, StatusCode};
use serde::Serialize;
use std::time::Duration;

/// Answers larger than this are not parsed for a message id.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The JSON body sent to the gateway.
#[derive(Serialize)]
struct WireSms<'a> {
    idempotency_key: &'a str,
    to: &'a str,
    text: &'a str,
    template: &'a str,
}

/// A signed HTTP client for one SMS gateway.
#[derive(Clone, Debug)]
pub struct HttpGateway(Outbound);

impl From<OutboundError> for SmsError {
    fn from(e: OutboundError) -> Self {
        match e {
            OutboundError::Permanent(what) => SmsError::Permanent(what),
            OutboundError::Retryable(what) => SmsError::Retryable(what),
        }
    }
}

impl HttpGateway {
    /// A gateway at `url` (`http://host[:port]/path`, no query), signing with `signer` at the
    /// clock's time; an unusable URL is a [`SmsError::Permanent`] configuration error.
    pub fn new(
        url: &str,
        signer: Signer,
        clock: SharedClock,
        timeout: Duration,
    ) -> Result<Self, SmsError> {
        Ok(Self(Outbound::new(
            "SMS gateway",
            url,
            signer,
            clock,
            timeout,
            "message texts (with codes)",
        )?))
    }
}

#[async_trait]
impl SmsGateway for HttpGateway {
    async fn send(&self, sms: &Sms) -> Result<SmsReceipt, SmsError> {
        let key = HeaderValue::from_str(&sms.idempotency_key).map_err(|_| {
            SmsError::Permanent("the idempotency key is not a valid header value".into())
        })?;
        let body = serde_json::to_vec(&WireSms {
            idempotency_key: &sms.idempotency_key,
            to: sms.to.as_str(),
            text: &sms.text,
            template: sms.template,
        })
        .map_err(|_| SmsError::Permanent("the message could not be encoded".into()))?;
        let (status, answer) = self
            .0
            .post(
                body,
                &[(HeaderName::from_static("idempotency-key"), key)],
                MAX_ANSWER_BYTES,
            )
            .await?;
        if status.is_success() {
            // The gateway took the message: whatever the body, it must not be sent again.
            return Ok(SmsReceipt {
                message_id: answer.as_deref().and_then(message_id),
            });
        }
        Err(self.classify(status))
    }
}

impl HttpGateway {
    /// 408, 429 and 5xx: retry; any other non-2xx (4xx, unexpected 1xx/3xx): permanent.
    fn classify(&self, status: StatusCode) -> SmsError {
        let what = self.0.answered(status);
        if is_retryable_status(status) {
            SmsError::Retryable(what)
        } else {
            SmsError::Permanent(what)
        }
    }
}

/// `message_id` (or `id`) of a JSON object answer, when it is a short string or a number.
fn message_id(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let id = value.get("message_id").or_else(|| value.get("id"))?;
    let id = match id {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!id.is_empty() && id.len() <= 128).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sms::{Lang, Message, OtpPurpose};
    use chaka_core::{ManualClock, Phone};
    use chaka_protocol::keys::{KeyId, KeySet, KnownKey, SigningKeyPair};
    use chaka_protocol::nonce::MemoryNonceStore;
    use chaka_protocol::signature::Verifier;
    use std::sync::Arc;
    use time::macros::datetime;
    use wiremock::matchers::{header as has_header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const NOW: time::OffsetDateTime = datetime!(2026-11-28 10:00 UTC);

    fn signer() -> Signer {
        Signer::new(KeyId::parse("hub-1").unwrap(), SigningKeyPair::generate())
    }

    fn gateway(server: &MockServer, signer: Signer, timeout: Duration) -> HttpGateway {
        HttpGateway::new(
            &format!("{}/v1/sms", server.uri()),
            signer,
            Arc::new(ManualClock::new(NOW)),
            timeout,
        )
        .unwrap()
    }

    fn sms(key: &str) -> Sms {
        Sms::render(
            key,
            Phone::parse("13812345678").unwrap(),
            &Message::Otp {
                purpose: OtpPurpose::Inquiry,
                code: "493817".into(),
            },
            Lang::Zh,
        )
    }

    async fn answering(status: u16) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/sms"))
            .respond_with(ResponseTemplate::new(status))
            .mount(&server)
            .await;
        server
    }

    #[tokio::test]
    async fn sends_signed_json_with_the_idempotency_key() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/sms"))
            .and(has_header("idempotency-key", "otp:42"))
            .and(has_header("content-type", "application/json"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"message_id": "gw-7"})),
            )
            .expect(1)
            .mount(&server)
            .await;
        let signer = signer();
        let public = signer.key().public_key();
        let key_id = signer.key_id().clone();
        let receipt = gateway(&server, signer, Duration::from_secs(5))
            .send(&sms("otp:42"))
            .await
            .unwrap();
        assert_eq!(receipt.message_id.as_deref(), Some("gw-7"));

        let requests = server.received_requests().await.unwrap();
        let request = &requests[0];
        for name in ["signature", "signature-input", "content-digest"] {
            assert!(request.headers.contains_key(name), "{name} missing");
        }
        let body: serde_json::Value = request.body_json().unwrap();
        let expected = sms("otp:42");
        assert_eq!(
            body,
            serde_json::json!({
                "idempotency_key": "otp:42",
                "to": "13812345678",
                "text": expected.text,
                "template": "otp_inquiry",
            })
        );
        let verifier = Verifier::new(
            KeySet::new().with(KnownKey::new(key_id, public).owned_by("hub")),
            Arc::new(MemoryNonceStore::default()),
        );
        let who = verifier
            .verify_request(
                &request.method,
                request.url.path(),
                &request.headers,
                &request.body,
                NOW,
            )
            .unwrap();
        assert_eq!(who.owner.as_deref(), Some("hub"));
        // Someone else's key does not verify it.
        let stranger = Verifier::new(
            KeySet::new().with(KnownKey::new(
                KeyId::parse("hub-1").unwrap(),
                SigningKeyPair::generate().public_key(),
            )),
            Arc::new(MemoryNonceStore::default()),
        );
        assert!(
            stranger
                .verify_request(
                    &request.method,
                    request.url.path(),
                    &request.headers,
                    &request.body,
                    NOW
                )
                .is_err()
        );
    }

    #[tokio::test]
    async fn success_without_an_id_is_still_sent() {
        let server = answering(202).await;
        let receipt = gateway(&server, signer(), Duration::from_secs(5))
            .send(&sms("k"))
            .await
            .unwrap();
        assert_eq!(receipt, SmsReceipt { message_id: None });
    }

    #[tokio::test]
    async fn classifies_failures() {
        for (status, retryable) in [
            (429, true),
            (500, true),
            (503, true),
            (408, true),
            (400, false),
            (401, false),
            (404, false),
            (422, false),
        ] {
            let server = answering(status).await;
            let err = gateway(&server, signer(), Duration::from_secs(5))
                .send(&sms("k"))
                .await
                .unwrap_err();
            assert_eq!(err.is_retryable(), retryable, "{status}: {err}");
            let shown = err.to_string();
            assert!(
                !shown.contains("13812345678") && !shown.contains("493817"),
                "{shown}"
            );
        }
    }

    #[tokio::test]
    async fn a_timeout_is_retryable() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
            .mount(&server)
            .await;
        let err = gateway(&server, signer(), Duration::from_millis(200))
            .send(&sms("k"))
            .await
            .unwrap_err();
        assert_eq!(err, SmsError::Retryable("the SMS gateway timed out".into()));
    }

    #[tokio::test]
    async fn a_closed_port_is_retryable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = HttpGateway::new(
            &format!("http://{addr}/v1/sms"),
            signer(),
            Arc::new(ManualClock::new(NOW)),
            Duration::from_secs(2),
        )
        .unwrap()
        .send(&sms("k"))
        .await
        .unwrap_err();
        assert!(err.is_retryable(), "{err}");
    }

    #[test]
    fn refuses_urls_it_cannot_use() {
        let clock: SharedClock = Arc::new(ManualClock::new(NOW));
        for url in [
            "ftp://sms.example/v1",
            "not a url",
            "http://127.0.0.1/v1?k=1",
            "http://u:p@127.0.0.1/v1",
        ] {
            let err =
                HttpGateway::new(url, signer(), clock.clone(), Duration::from_secs(1)).unwrap_err();
            assert!(!err.is_retryable(), "{url}");
        }
    }

    #[tokio::test]
    async fn an_unusable_idempotency_key_is_permanent() {
        let server = answering(200).await;
        let err = gateway(&server, signer(), Duration::from_secs(5))
            .send(&sms("otp:\n1"))
            .await
            .unwrap_err();
        assert!(!err.is_retryable(), "{err}");
        assert!(server.received_requests().await.unwrap().is_empty());
    }

    #[test]
    fn reads_message_ids() {
        assert_eq!(message_id(br#"{"message_id":"a1"}"#).as_deref(), Some("a1"));
        assert_eq!(message_id(br#"{"id":77}"#).as_deref(), Some("77"));
        assert_eq!(message_id(br#"{"id":""}"#), None);
        assert_eq!(message_id(b"OK"), None);
        assert_eq!(message_id(br#"["a"]"#), None);
    }
}
