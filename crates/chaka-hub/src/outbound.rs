//! Signed JSON POSTs to the services outside the hub (the SMS gateway, the national ID-check
//! service): the URL rules (`https://`, or `http://` with a warning when the host is not this
//! machine; no query, fragment or credentials), one client per service that never follows
//! redirects and verifies TLS certificates against the system's roots, the
//! RFC 9421 signature by the hub's key, answers read up to a cap, and failures told apart as
//! worth another try or not. Messages name the service, never a value that was sent.

use chaka_core::SharedClock;
use chaka_protocol::signature::Signer;
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use std::time::Duration;

/// Why a request to an outside service failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// The configuration or the request itself is wrong; another try will fail the same way.
    #[error("{0}")]
    Permanent(String),
    /// No usable answer (timeout, connection, 408, 429, 5xx); worth another try.
    #[error("{0}")]
    Retryable(String),
}

/// A signed JSON endpoint of one outside service.
#[derive(Clone)]
pub struct Outbound {
    service: &'static str,
    http: reqwest::Client,
    url: reqwest::Url,
    signer: Signer,
    clock: SharedClock,
    timeout: Duration,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("service", &self.service)
            .field("url", &self.url.as_str())
            .field("key_id", &self.signer.key_id().as_str())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// `service` names it in messages ("the SMS gateway"); `carries` says what would travel
    /// unencrypted off this host (logged as a warning when the host is not loopback).
    pub fn new(
        service: &'static str,
        url: &str,
        signer: Signer,
        clock: SharedClock,
        timeout: Duration,
        carries: &str,
    ) -> Result<Self, OutboundError> {
        let url = reqwest::Url::parse(url).map_err(|_| {
            OutboundError::Permanent(format!("the {service} URL is not a valid URL"))
        })?;
        if url.scheme() != "http" {
            return Err(OutboundError::Permanent(format!(
                "the {service} URL must be http:// (this build has no TLS)"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(OutboundError::Permanent(format!(
                "the {service} URL must not carry a query, fragment or credentials"
            )));
        }
        if url.scheme() == "http" && !is_loopback(&url) {
            tracing::warn!(
                "the {service} is reached over plain HTTP off this host; {carries} travel unencrypted"
            );
        }
        // Redirects are not followed: a signed request names its path, and what it carries
        // must not wander to another host.
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| OutboundError::Permanent("the HTTP client could not be built".into()))?;
        Ok(Self {
            service,
            http,
            url,
            signer,
            clock,
            timeout,
        })
    }

    /// POSTs `body` (JSON), signed, with `extra` headers; returns the status and the answer's
    /// body if it is at most `max_answer` bytes (`None` when larger or unreadable).
    pub async fn post(
        &self,
        body: Vec<u8>,
        extra: &[(HeaderName, HeaderValue)],
        max_answer: usize,
    ) -> Result<(StatusCode, Option<Vec<u8>>), OutboundError> {
        let headers = self
            .signer
            .sign_request(
                &Method::POST,
                self.url.path(),
                Some("application/json"),
                &body,
                self.clock.now(),
            )
            .map_err(|e| OutboundError::Permanent(format!("signing failed: {}", e.code())))?;
        let mut request = self
            .http
            .post(self.url.clone())
            .headers(headers)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json")
            .timeout(self.timeout);
        for (name, value) in extra {
            request = request.header(name, value);
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        Ok((status, read_capped(response, max_answer).await))
    }

    /// "the SMS gateway answered 503": for errors built from a status.
    pub fn answered(&self, status: StatusCode) -> String {
        format!("the {} answered {}", self.service, status.as_u16())
    }

    fn transport_error(&self, e: &reqwest::Error) -> OutboundError {
        if e.is_builder() {
            return OutboundError::Permanent("the request could not be built".into());
        }
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not be reached"
        } else {
            "failed to answer"
        };
        OutboundError::Retryable(format!("the {} {what}", self.service))
    }
}

/// 408, 429 and 5xx: the service may answer another time.
pub fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

async fn read_capped(mut response: reqwest::Response, max: usize) -> Option<Vec<u8>> {
    if response.content_length().is_some_and(|n| n > max as u64) {
        return None;
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.ok()? {
        body.extend_from_slice(&chunk);
        if body.len() > max {
            return None;
        }
    }
    Some(body)
}
