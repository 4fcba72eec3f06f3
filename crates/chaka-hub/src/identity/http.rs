//! [`HttpVerifier`]: asks a national ID-check service with a signed JSON POST
//! (`{name, id_number, phone}`, RFC 9421 signature by the hub's key) and maps its
//! `{"verdict": "verified" | "name_mismatch" | "unknown" | "phone_not_owned"}` answer. The
//! transport rules (TLS; plain HTTP only on this machine) are [`crate::outbound`]'s. The
//! answer's signature is not checked yet.

use super::{IdentityError, IdentityVerdict, IdentityVerifier};
use crate::outbound::{Outbound, OutboundError, is_retryable_status};
use async_trait::async_trait;
use chaka_core::{IdNumber, Phone, SharedClock};
use chaka_protocol::signature::Signer;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A verdict answer is tiny; anything bigger is not one.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

#[derive(Serialize)]
struct WireQuestion<'a> {
    name: &'a str,
    id_number: &'a str,
    phone: &'a str,
}

#[derive(Deserialize)]
struct WireAnswer {
    verdict: IdentityVerdict,
}

/// A signed HTTP client for an ID-check service.
#[derive(Clone, Debug)]
pub struct HttpVerifier(Outbound);

impl From<OutboundError> for IdentityError {
    fn from(e: OutboundError) -> Self {
        match e {
            OutboundError::Permanent(what) => IdentityError::Config(what),
            OutboundError::Retryable(what) => IdentityError::Unavailable(what),
        }
    }
}

impl HttpVerifier {
    /// A verifier at `url` (`https://host[:port]/path`), signing with `signer`.
    pub fn new(
        url: &str,
        signer: Signer,
        clock: SharedClock,
        timeout: Duration,
    ) -> Result<Self, IdentityError> {
        Ok(Self(Outbound::new(
            "identity service",
            url,
            signer,
            clock,
            timeout,
            "names, ID numbers and phones",
        )?))
    }
}

#[async_trait]
impl IdentityVerifier for HttpVerifier {
    async fn verify(
        &self,
        name: &str,
        id_number: &IdNumber,
        phone: &Phone,
    ) -> Result<IdentityVerdict, IdentityError> {
        let body = serde_json::to_vec(&WireQuestion {
            name,
            id_number: id_number.as_str(),
            phone: phone.as_str(),
        })
        .map_err(|_| IdentityError::Config("the question could not be encoded".into()))?;
        let (status, answer) = self.0.post(body, &[], MAX_ANSWER_BYTES).await?;
        if is_retryable_status(status) {
            return Err(IdentityError::Unavailable(self.0.answered(status)));
        }
        if status != StatusCode::OK {
            return Err(IdentityError::BadResponse(self.0.answered(status)));
        }
        let answer =
            answer.ok_or_else(|| IdentityError::BadResponse("the answer is too large".into()))?;
        let answer: WireAnswer = serde_json::from_slice(&answer).map_err(|_| {
            IdentityError::BadResponse("the answer is not a verdict document".into())
        })?;
        Ok(answer.verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chaka_core::ManualClock;
    use chaka_protocol::keys::{KeyId, KeySet, KnownKey, SigningKeyPair};
    use chaka_protocol::nonce::MemoryNonceStore;
    use chaka_protocol::signature::Verifier;
    use std::sync::Arc;
    use time::macros::{date, datetime};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const NOW: time::OffsetDateTime = datetime!(2026-11-28 10:00 UTC);
    const NAME: &str = "张伟";
    const PHONE: &str = "13812345678";

    fn id_number() -> IdNumber {
        IdNumber::compose("310101", date!(1990 - 03 - 07), 11).unwrap()
    }

    fn signer() -> Signer {
        Signer::new(KeyId::parse("hub-1").unwrap(), SigningKeyPair::generate())
    }

    fn verifier_for(server: &MockServer, signer: Signer, timeout: Duration) -> HttpVerifier {
        HttpVerifier::new(
            &format!("{}/v1/verify", server.uri()),
            signer,
            Arc::new(ManualClock::new(NOW)),
            timeout,
        )
        .unwrap()
    }

    async fn ask(server: &MockServer) -> Result<IdentityVerdict, IdentityError> {
        verifier_for(server, signer(), Duration::from_secs(5))
            .verify(NAME, &id_number(), &Phone::parse(PHONE).unwrap())
            .await
    }

    async fn answering(template: ResponseTemplate) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/verify"))
            .respond_with(template)
            .mount(&server)
            .await;
        server
    }

    fn assert_no_personal_data(err: &IdentityError) {
        let shown = format!("{err} {err:?}");
        for secret in [NAME, PHONE, id_number().as_str()] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[tokio::test]
    async fn sends_a_signed_question() {
        let server = answering(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"verdict": "verified"})),
        )
        .await;
        let signer = signer();
        let public = signer.key().public_key();
        let key_id = signer.key_id().clone();
        let verdict = verifier_for(&server, signer, Duration::from_secs(5))
            .verify(NAME, &id_number(), &Phone::parse(PHONE).unwrap())
            .await
            .unwrap();
        assert_eq!(verdict, IdentityVerdict::Verified);

        let requests = server.received_requests().await.unwrap();
        let request = &requests[0];
        let body: serde_json::Value = request.body_json().unwrap();
        assert_eq!(
            body,
            serde_json::json!({"name": NAME, "id_number": id_number().as_str(), "phone": PHONE})
        );
        let verifier = Verifier::new(
            KeySet::new().with(KnownKey::new(key_id, public)),
            Arc::new(MemoryNonceStore::default()),
        );
        verifier
            .verify_request(
                &request.method,
                request.url.path(),
                &request.headers,
                &request.body,
                NOW,
            )
            .unwrap();
    }

    #[tokio::test]
    async fn maps_every_verdict() {
        for (wire, verdict) in [
            ("verified", IdentityVerdict::Verified),
            ("name_mismatch", IdentityVerdict::NameMismatch),
            ("unknown", IdentityVerdict::Unknown),
            ("phone_not_owned", IdentityVerdict::PhoneNotOwned),
        ] {
            let server = answering(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"verdict": wire})),
            )
            .await;
            assert_eq!(ask(&server).await.unwrap(), verdict, "{wire}");
        }
    }

    #[tokio::test]
    async fn server_trouble_is_unavailable() {
        for status in [500, 502, 503, 429, 408] {
            let err = ask(&answering(ResponseTemplate::new(status)).await)
                .await
                .unwrap_err();
            assert!(
                matches!(err, IdentityError::Unavailable(_)),
                "{status}: {err}"
            );
            assert!(err.is_retryable());
            assert_no_personal_data(&err);
        }
    }

    #[tokio::test]
    async fn a_timeout_is_unavailable() {
        let server = answering(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"verdict": "verified"}))
                .set_delay(Duration::from_secs(5)),
        )
        .await;
        let err = verifier_for(&server, signer(), Duration::from_millis(200))
            .verify(NAME, &id_number(), &Phone::parse(PHONE).unwrap())
            .await
            .unwrap_err();
        assert_eq!(
            err,
            IdentityError::Unavailable("the identity service timed out".into())
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_unavailable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = HttpVerifier::new(
            &format!("http://{addr}/v1/verify"),
            signer(),
            Arc::new(ManualClock::new(NOW)),
            Duration::from_secs(2),
        )
        .unwrap()
        .verify(NAME, &id_number(), &Phone::parse(PHONE).unwrap())
        .await
        .unwrap_err();
        assert!(matches!(err, IdentityError::Unavailable(_)), "{err}");
    }

    #[tokio::test]
    async fn malformed_answers_are_bad_responses() {
        // An answer that echoes personal data must not leak it into the error.
        let echo = serde_json::json!({"verdict": NAME, "phone": PHONE}).to_string();
        for template in [
            ResponseTemplate::new(200).set_body_string("OK"),
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"verdict": "maybe"})),
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"result": "verified"})),
            ResponseTemplate::new(200).set_body_string(echo),
            ResponseTemplate::new(200).set_body_string("x".repeat(MAX_ANSWER_BYTES + 1)),
            ResponseTemplate::new(400).set_body_string(PHONE),
            ResponseTemplate::new(401),
            ResponseTemplate::new(302),
            ResponseTemplate::new(204),
        ] {
            let err = ask(&answering(template).await).await.unwrap_err();
            assert!(matches!(err, IdentityError::BadResponse(_)), "{err}");
            assert!(!err.is_retryable());
            assert_no_personal_data(&err);
        }
    }

    #[test]
    fn refuses_urls_it_cannot_use() {
        let clock: SharedClock = Arc::new(ManualClock::new(NOW));
        for url in ["ftp://id.example/v1", "", "http://127.0.0.1/v1?a=b"] {
            let err = HttpVerifier::new(url, signer(), clock.clone(), Duration::from_secs(1))
                .unwrap_err();
            assert!(matches!(err, IdentityError::Config(_)), "{url}");
        }
    }
}
