//! Signing and verification through the public API: tampering, replay, time, keys.

use crate::support::T0;
use chaka_protocol::keys::{KeyId, KeySet, KnownKey, SigningKeyPair};
use chaka_protocol::nonce::MemoryNonceStore;
use chaka_protocol::signature::{SignatureError, Signer, Verifier};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use proptest::prelude::*;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

const PATH: &str = "/chaka/v1/inquiries";
const JSON: &str = "application/json";

struct Fixture {
    signer: Signer,
    verifier: Verifier,
}

fn fixture() -> Fixture {
    let key = SigningKeyPair::generate();
    let key_id = KeyId::parse("hub-1").unwrap();
    let keys = KeySet::new().with(KnownKey::new(key_id.clone(), key.public_key()).owned_by("hub"));
    Fixture {
        signer: Signer::new(key_id, key),
        verifier: Verifier::new(keys, Arc::new(MemoryNonceStore::default())),
    }
}

fn signed_post(signer: &Signer, body: &[u8], now: OffsetDateTime) -> HeaderMap {
    let mut headers = signer
        .sign_request(&Method::POST, PATH, Some(JSON), body, now)
        .unwrap();
    headers.insert("content-type", HeaderValue::from_static(JSON));
    headers
}

#[test]
fn a_signed_request_verifies_once() {
    let f = fixture();
    let body = br#"{"protocol":"chaka/1"}"#;
    let headers = signed_post(&f.signer, body, T0);
    let who = f
        .verifier
        .verify_request(&Method::POST, PATH, &headers, body, T0)
        .unwrap();
    assert_eq!(who.key_id.as_str(), "hub-1");
    assert_eq!(who.expires - who.created, Duration::seconds(300));
    assert_eq!(
        f.verifier.verify_request(
            &Method::POST,
            PATH,
            &headers,
            body,
            T0 + Duration::seconds(1)
        ),
        Err(SignatureError::Replayed)
    );
}

#[test]
fn a_bodiless_get_covers_method_and_path_only() {
    let f = fixture();
    let headers = f
        .signer
        .sign_request(&Method::GET, "/chaka/v1/heartbeat", None, b"", T0)
        .unwrap();
    assert!(!headers.contains_key("content-digest"));
    let input = headers["signature-input"].to_str().unwrap();
    assert!(
        input.starts_with(r#"chaka=("@method" "@path");created="#),
        "{input}"
    );
    f.verifier
        .verify_request(&Method::GET, "/chaka/v1/heartbeat", &headers, b"", T0)
        .unwrap();
    // A body smuggled onto the GET is refused: its digest is not covered.
    let g = fixture();
    let headers = g
        .signer
        .sign_request(&Method::GET, "/chaka/v1/heartbeat", None, b"", T0)
        .unwrap();
    assert_eq!(
        g.verifier
            .verify_request(&Method::GET, "/chaka/v1/heartbeat", &headers, b"x", T0),
        Err(SignatureError::MissingComponent("content-digest"))
    );
}

#[test]
fn time_window_is_enforced() {
    let body = b"{}";
    for (offset, expected) in [
        (Duration::seconds(301), SignatureError::Expired),
        (Duration::seconds(300), SignatureError::Expired),
        (Duration::seconds(-301), SignatureError::CreatedInFuture),
    ] {
        let f = fixture();
        let headers = signed_post(&f.signer, body, T0);
        assert_eq!(
            f.verifier
                .verify_request(&Method::POST, PATH, &headers, body, T0 + offset),
            Err(expected),
            "{offset}"
        );
    }
    // Within the skew and age windows it verifies.
    for offset in [Duration::seconds(-299), Duration::seconds(299)] {
        let f = fixture();
        let headers = signed_post(&f.signer, body, T0);
        f.verifier
            .verify_request(&Method::POST, PATH, &headers, body, T0 + offset)
            .unwrap();
    }
    // A long-lived signature is still bounded by the verifier's maximum age.
    let f = fixture();
    let long = Signer::new(f.signer.key_id().clone(), f.signer.key().clone())
        .with_validity(Duration::hours(1));
    let mut headers = long
        .sign_request(&Method::POST, PATH, Some(JSON), body, T0)
        .unwrap();
    headers.insert("content-type", HeaderValue::from_static(JSON));
    assert_eq!(
        f.verifier.verify_request(
            &Method::POST,
            PATH,
            &headers,
            body,
            T0 + Duration::minutes(10)
        ),
        Err(SignatureError::Expired)
    );
}

#[test]
fn unknown_and_retired_keys_are_refused() {
    let f = fixture();
    let stranger = Signer::new(KeyId::parse("hub-1").unwrap(), SigningKeyPair::generate());
    let headers = signed_post(&stranger, b"{}", T0);
    assert_eq!(
        f.verifier
            .verify_request(&Method::POST, PATH, &headers, b"{}", T0),
        Err(SignatureError::BadSignature)
    );
    let other_id = Signer::new(KeyId::parse("hub-2").unwrap(), SigningKeyPair::generate());
    let headers = signed_post(&other_id, b"{}", T0);
    assert_eq!(
        f.verifier
            .verify_request(&Method::POST, PATH, &headers, b"{}", T0),
        Err(SignatureError::UnknownKey)
    );

    // Rotation: the old key works until its not_after, the new one from the start.
    let old = SigningKeyPair::generate();
    let new = SigningKeyPair::generate();
    let keys = KeySet::new()
        .with(
            KnownKey::new(KeyId::parse("ICBC-1").unwrap(), old.public_key())
                .owned_by("ICBC")
                .valid_until(T0 + Duration::hours(1)),
        )
        .with(KnownKey::new(KeyId::parse("ICBC-2").unwrap(), new.public_key()).owned_by("ICBC"));
    let verifier = Verifier::new(keys, Arc::new(MemoryNonceStore::default()));
    let old_signer = Signer::new(KeyId::parse("ICBC-1").unwrap(), old);
    let new_signer = Signer::new(KeyId::parse("ICBC-2").unwrap(), new);
    for (signer, at, ok) in [
        (&old_signer, T0, true),
        (&new_signer, T0, true),
        (&old_signer, T0 + Duration::hours(2), false),
        (&new_signer, T0 + Duration::hours(2), true),
    ] {
        let headers = signed_post(signer, b"{}", at);
        let result = verifier.verify_request(&Method::POST, PATH, &headers, b"{}", at);
        assert_eq!(result.is_ok(), ok, "{:?} at {at}", signer.key_id());
        if !ok {
            assert_eq!(result, Err(SignatureError::KeyNotValid));
        }
    }
}

#[test]
fn missing_or_altered_headers_and_parameters_are_refused() {
    let f = fixture();
    let body = b"{}";
    let good = signed_post(&f.signer, body, T0);
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "no signature",
            Box::new(|h| {
                h.remove("signature");
            }),
            "signature_missing",
        ),
        (
            "no input",
            Box::new(|h| {
                h.remove("signature-input");
            }),
            "signature_missing",
        ),
        (
            "no digest",
            Box::new(|h| {
                h.remove("content-digest");
            }),
            "signature_missing",
        ),
        (
            "other label",
            Box::new(|h| {
                let v = h["signature"].to_str().unwrap().replace("chaka=", "other=");
                h.insert("signature", HeaderValue::from_str(&v).unwrap());
            }),
            "signature_missing",
        ),
        (
            "wrong alg",
            Box::new(|h| edit_input(h, r#"alg="ed25519""#, r#"alg="rsa-pss-sha512""#)),
            "signature_wrong_alg",
        ),
        (
            "no alg",
            Box::new(|h| edit_input(h, r#";alg="ed25519""#, "")),
            "signature_incomplete",
        ),
        (
            "no nonce",
            Box::new(|h| strip_param(h, "nonce")),
            "signature_incomplete",
        ),
        (
            "short nonce",
            Box::new(|h| replace_param(h, "nonce", r#"nonce="AAAA""#)),
            "signature_bad_nonce",
        ),
        (
            "no expires",
            Box::new(|h| strip_param(h, "expires")),
            "signature_incomplete",
        ),
        (
            "fewer components",
            Box::new(|h| edit_input(h, r#" "content-type""#, "")),
            "signature_incomplete",
        ),
        (
            "garbage input",
            Box::new(|h| {
                h.insert(
                    "signature-input",
                    HeaderValue::from_static("chaka=(\"@method\""),
                );
            }),
            "signature_malformed",
        ),
        (
            "content type changed",
            Box::new(|h| {
                h.insert("content-type", HeaderValue::from_static("text/plain"));
            }),
            "bad_signature",
        ),
    ];
    for (what, edit, code) in cases {
        let mut headers = good.clone();
        edit(&mut headers);
        let err = f
            .verifier
            .verify_request(&Method::POST, PATH, &headers, body, T0)
            .unwrap_err();
        assert_eq!(err.code(), code, "{what}: {err}");
    }
    // The untouched headers still verify: nothing above consumed the nonce.
    f.verifier
        .verify_request(&Method::POST, PATH, &good, body, T0)
        .unwrap();
}

type Edit = Box<dyn Fn(&mut HeaderMap)>;

fn edit_input(h: &mut HeaderMap, from: &str, to: &str) {
    let v = h["signature-input"].to_str().unwrap().replace(from, to);
    h.insert("signature-input", HeaderValue::from_str(&v).unwrap());
}

fn param_span(input: &str, name: &str) -> (usize, usize) {
    let start = input.find(&format!(";{name}=")).unwrap();
    let end = input[start + 1..]
        .find(';')
        .map_or(input.len(), |i| start + 1 + i);
    (start, end)
}

fn strip_param(h: &mut HeaderMap, name: &str) {
    let input = h["signature-input"].to_str().unwrap().to_owned();
    let (start, end) = param_span(&input, name);
    let v = format!("{}{}", &input[..start], &input[end..]);
    h.insert("signature-input", HeaderValue::from_str(&v).unwrap());
}

fn replace_param(h: &mut HeaderMap, name: &str, with: &str) {
    let input = h["signature-input"].to_str().unwrap().to_owned();
    let (start, end) = param_span(&input, name);
    let v = format!("{};{with}{}", &input[..start], &input[end..]);
    h.insert("signature-input", HeaderValue::from_str(&v).unwrap());
}

#[test]
fn responses_cover_the_status() {
    let f = fixture();
    let body = b"{}";
    let mut headers = f
        .signer
        .sign_response(StatusCode::OK, JSON, body, T0)
        .unwrap();
    headers.insert("content-type", HeaderValue::from_static(JSON));
    assert_eq!(
        f.verifier
            .verify_response(StatusCode::ACCEPTED, &headers, body, T0),
        Err(SignatureError::BadSignature)
    );
    f.verifier
        .verify_response(StatusCode::OK, &headers, body, T0)
        .unwrap();
    // A request signature is not a response signature.
    let req = signed_post(&f.signer, body, T0);
    assert_eq!(
        f.verifier.verify_response(StatusCode::OK, &req, body, T0),
        Err(SignatureError::MissingComponent("@status"))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_changed_body_byte_is_refused(body in proptest::collection::vec(any::<u8>(), 1..512), at in any::<prop::sample::Index>(), flip in 1u8..) {
        let f = fixture();
        let headers = signed_post(&f.signer, &body, T0);
        let mut changed = body.clone();
        changed[at.index(body.len())] ^= flip;
        let err = f.verifier.verify_request(&Method::POST, PATH, &headers, &changed, T0).unwrap_err();
        prop_assert_eq!(err.code(), "digest_mismatch");
        let ok = f.verifier.verify_request(&Method::POST, PATH, &headers, &body, T0).is_ok();
        prop_assert!(ok);
    }

    #[test]
    fn any_changed_method_or_path_is_refused(path in "/[a-z0-9/_-]{0,40}", other in "/[a-z0-9/_-]{0,40}") {
        prop_assume!(path != other);
        let f = fixture();
        let mut headers = f.signer.sign_request(&Method::POST, &path, Some(JSON), b"{}", T0).unwrap();
        headers.insert("content-type", HeaderValue::from_static(JSON));
        prop_assert_eq!(
            f.verifier.verify_request(&Method::POST, &other, &headers, b"{}", T0),
            Err(SignatureError::BadSignature)
        );
        prop_assert_eq!(
            f.verifier.verify_request(&Method::PUT, &path, &headers, b"{}", T0),
            Err(SignatureError::BadSignature)
        );
        let ok = f.verifier.verify_request(&Method::POST, &path, &headers, b"{}", T0).is_ok();
        prop_assert!(ok);
    }

    #[test]
    fn any_changed_signature_byte_is_refused(at in 0usize..64, flip in 1u8..) {
        use base64::Engine as _;
        use base64::engine::general_purpose::STANDARD;
        let f = fixture();
        let mut headers = signed_post(&f.signer, b"{}", T0);
        let value = headers["signature"].to_str().unwrap();
        let b64 = value.strip_prefix("chaka=:").unwrap().strip_suffix(':').unwrap();
        let mut sig = STANDARD.decode(b64).unwrap();
        sig[at] ^= flip;
        let tampered = format!("chaka=:{}:", STANDARD.encode(&sig));
        headers.insert("signature", HeaderValue::from_str(&tampered).unwrap());
        prop_assert_eq!(
            f.verifier.verify_request(&Method::POST, PATH, &headers, b"{}", T0),
            Err(SignatureError::BadSignature)
        );
    }
}
