//! [`HttpVerifier`]: asks a national ID-check service with a signed JSON POST
//! (`{name, id_number, phone}`, RFC 9421 signature by the hub's key) and maps its
//! `{"verdict": "verified" | "name_mismatch" | "unknown" | "phone_not_owned"}` answer. Plain
//! HTTP only for now: the workspace builds reqwest without TLS, so `https://` is refused at
//! construction; personal data must not cross an untrusted network until TLS is enabled
//! (reqwest's `rustls` feature). The answer's signature is not checked yet.

use super::{IdentityError, IdentityVerdict, IdentityVerifier};
use async_trait::async_trait;
use chaka_core::{IdNumber, Phone, SharedClock};
use chaka_protocol::signature::Signer;
use http::{Method, StatusCode, header};
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
#[derive(Clone)]
pub struct HttpVerifier {
    http: reqwest::Client,
    url: reqwest::Url,
    signer: Signer,
    clock: SharedClock,
    timeout: Duration,
}

impl std::fmt::Debug for HttpVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpVerifier")
            .field("url", &self.url.as_str())
            .field("key_id", &self.signer.key_id().as_str())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpVerifier {
    /// A verifier asking `url` (`http://host[:port]/path`, no query), signing with `signer` at
    /// the time `clock` tells, giving up after `timeout`.
    pub fn new(
        url: &str,
        signer: Signer,
        clock: SharedClock,
        timeout: Duration,
    ) -> Result<Self, IdentityError> {
        let url = reqwest::Url::parse(url).map_err(|_| {
            IdentityError::Config("the identity service URL is not a valid URL".into())
        })?;
        if url.scheme() != "http" {
            return Err(IdentityError::Config(
                "the identity service URL must be http:// (this build has no TLS)".into(),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(IdentityError::Config(
                "the identity service URL must not carry a query, fragment or credentials".into(),
            ));
        }
        if !is_loopback(&url) {
            tracing::warn!(
                "the identity service is reached over plain HTTP off this host; names, ID numbers and phones travel unencrypted"
            );
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| IdentityError::Config("the HTTP client could not be built".into()))?;
        Ok(Self {
            http,
            url,
            signer,
            clock,
            timeout,
        })
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
        let headers = self
            .signer
            .sign_request(
                &Method::POST,
                self.url.path(),
                Some("application/json"),
                &body,
                self.clock.now(),
            )
            .map_err(|e| IdentityError::Config(format!("signing failed: {}", e.code())))?;
        let response = self
            .http
            .post(self.url.clone())
            .headers(headers)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .timeout(self.timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error(&e))?;
        let status = response.status();
        if status == StatusCode::REQUEST_TIMEOUT
            || status == StatusCode::TOO_MANY_REQUESTS
            || status.is_server_error()
        {
            return Err(IdentityError::Unavailable(format!(
                "the identity service answered {}",
                status.as_u16()
            )));
        }
        if status != StatusCode::OK {
            return Err(IdentityError::BadResponse(format!(
                "the identity service answered {}",
                status.as_u16()
            )));
        }
        let body = read_capped(response).await?;
        let answer: WireAnswer = serde_json::from_slice(&body).map_err(|_| {
            IdentityError::BadResponse("the answer is not a verdict document".into())
        })?;
        Ok(answer.verdict)
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn transport_error(e: &reqwest::Error) -> IdentityError {
    let what = if e.is_timeout() {
        "the identity service timed out"
    } else if e.is_connect() {
        "the identity service could not be reached"
    } else {
        "the connection to the identity service failed"
    };
    IdentityError::Unavailable(what.into())
}

async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, IdentityError> {
    let too_large = || IdentityError::BadResponse("the answer is too large".into());
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER_BYTES {
            return Err(too_large());
        }
    }
    Ok(body)
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
        for url in ["https://id.example/v1", "", "http://127.0.0.1/v1?a=b"] {
            let err = HttpVerifier::new(url, signer(), clock.clone(), Duration::from_secs(1))
                .unwrap_err();
            assert!(matches!(err, IdentityError::Config(_)), "{url}");
        }
    }
}
