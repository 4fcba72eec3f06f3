//! Test vectors: RFC 9421 B.2.6, RFC 9530, RFC 9180 A.2.1, and the worked example of
//! docs/protocol.md (tests/vectors/chaka-v1-worked-example.json), checked byte for byte.

use crate::support::{FixedRng, T0, field, unhex, vector};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chaka_core::{
    BankCode, CardKind, CardStatus, IdNumber, InquiryId, MaskedPan, Phone, YearMonth,
};
use chaka_protocol::digest::{content_digest, verify_content_digest};
use chaka_protocol::keys::{
    KeyId, KeySet, KnownKey, RecipientKeyPair, RecipientSecretKey, SigningKeyPair,
};
use chaka_protocol::message::{
    Answer, AnswerBatch, Card, CardList, Inquiry, InquiryBatch, Subject, Unlisted, UnlistedReason,
};
use chaka_protocol::nonce::{MemoryNonceStore, Nonce};
use chaka_protocol::seal::{binding, open, seal_with_rng};
use chaka_protocol::signature::{MessageContext, SignatureInput, Signer, Verifier, signature_base};
use chaka_protocol::{Limits, Suite};
use hpke::{Deserializable as _, Serializable as _};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use std::sync::Arc;
use time::Duration;

const SUITE: Suite = Suite::HpkeX25519Sha256ChaCha20Poly1305;

#[test]
fn rfc9421_b26_signature_base_and_ed25519_signature() {
    let v = vector("rfc9421-b2-6-ed25519.json");
    let key = SigningKeyPair::from_pkcs8_pem(field(&v, "private_key_pem")).unwrap();
    assert_eq!(
        key.public_key().to_base64url(),
        field(&v, "public_key_base64url")
    );
    // The SPKI PEM's last 32 bytes are the raw public key.
    let spki_b64: String = field(&v, "public_key_pem")
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let spki = STANDARD.decode(spki_b64).unwrap();
    assert_eq!(spki[spki.len() - 32..], key.public_key().to_bytes());

    let mut headers = HeaderMap::new();
    for (name, value) in v["headers"].as_object().unwrap() {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value.as_str().unwrap()).unwrap(),
        );
    }
    let (label, member) = field(&v, "signature_input").split_once('=').unwrap();
    assert_eq!(label, "sig-b26");
    let input = SignatureInput::parse(member).unwrap();
    assert_eq!(input.serialize(), member);
    assert_eq!(input.created(), Some(1618884473));
    assert_eq!(input.key_id(), Some(field(&v, "key_id")));
    let method = Method::from_bytes(field(&v, "method").as_bytes()).unwrap();
    let ctx = MessageContext {
        method: Some(&method),
        path: Some(field(&v, "path")),
        authority: Some(field(&v, "authority")),
        status: None,
        headers: &headers,
    };
    let base = signature_base(&input, &ctx).unwrap();
    assert_eq!(base, field(&v, "signature_base"));

    let signature = key.sign(base.as_bytes());
    let expected = field(&v, "signature")
        .strip_prefix("sig-b26=:")
        .and_then(|s| s.strip_suffix(':'))
        .unwrap();
    assert_eq!(STANDARD.encode(signature), expected);
    assert!(key.public_key().verify(base.as_bytes(), &signature));
    // The test-request's own Content-Digest (sha-512 only) carries no sha-256 member.
    assert!(
        verify_content_digest(
            headers["content-digest"].to_str().unwrap(),
            field(&v, "body").as_bytes()
        )
        .is_err()
    );
}

#[test]
fn rfc9530_content_digest_examples() {
    let v = vector("rfc9530-content-digest.json");
    for case in v["cases"].as_array().unwrap() {
        let body = field(case, "body").as_bytes();
        let header = content_digest(body);
        assert_eq!(header, format!("sha-256=:{}:", field(case, "sha-256")));
        let both = format!("sha-512=:{}:, {header}", field(case, "sha-512"));
        verify_content_digest(&both, body).unwrap();
    }
}

type Kem = hpke::kem::X25519HkdfSha256;

#[test]
fn rfc9180_a21_base_mode_vector() {
    let v = vector("rfc9180-a2-1-base.json");
    assert_eq!(
        (v["mode"].as_u64(), v["kem_id"].as_u64()),
        (Some(0), Some(0x20))
    );
    assert_eq!(
        (v["kdf_id"].as_u64(), v["aead_id"].as_u64()),
        (Some(1), Some(3))
    );
    // DeriveKeyPair, through our key types.
    let recipient = RecipientKeyPair::derive(&unhex(field(&v, "ikmR")));
    assert_eq!(
        recipient.public_key().as_bytes().to_vec(),
        unhex(field(&v, "pkRm"))
    );
    let ephemeral = RecipientKeyPair::derive(&unhex(field(&v, "ikmE")));
    assert_eq!(
        ephemeral.public_key().as_bytes().to_vec(),
        unhex(field(&v, "pkEm"))
    );
    let sk_rm: [u8; 32] = unhex(field(&v, "skRm")).try_into().unwrap();
    let from_secret = RecipientSecretKey::from_bytes(sk_rm);
    assert_eq!(from_secret.public_key(), recipient.public_key());

    // The exact suite seal() uses, with the vector's info and aad: the RFC ciphertext.
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(&unhex(field(&v, "pkRm"))).unwrap();
    let (enc, ct) = hpke::single_shot_seal_with_rng::<
        hpke::aead::ChaCha20Poly1305,
        hpke::kdf::HkdfSha256,
        Kem,
    >(
        &hpke::OpModeS::Base,
        &pk,
        &unhex(field(&v, "info")),
        &unhex(field(&v, "pt")),
        &unhex(field(&v, "aad")),
        &mut FixedRng::new(&unhex(field(&v, "ikmE"))),
    )
    .unwrap();
    assert_eq!(enc.to_bytes().to_vec(), unhex(field(&v, "enc")));
    assert_eq!(ct, unhex(field(&v, "ct")));

    // seal_with_rng draws its ephemeral key the same way: same enc for the same ikmE.
    let id = InquiryId::parse("01a22198-ed00-7123-8456-0123456789ab").unwrap();
    let bank = BankCode::parse("ICBC").unwrap();
    let sealed = seal_with_rng(
        SUITE,
        &recipient.public_key(),
        &id,
        &bank,
        b"x",
        &mut FixedRng::new(&unhex(field(&v, "ikmE"))),
    )
    .unwrap();
    assert_eq!(sealed.enc, unhex(field(&v, "enc")));
    assert_eq!(
        open(SUITE, &from_secret, &id, &bank, &sealed)
            .unwrap()
            .as_slice(),
        b"x"
    );
}

/// Everything the worked example is built from; the vector file records the results.
struct Example {
    hub: Signer,
    bank_signer: Signer,
    recipient: RecipientKeyPair,
    inquiry_id: InquiryId,
    bank: BankCode,
    ikm_r: Vec<u8>,
    ikm_e: Vec<u8>,
    request_nonce: Nonce,
    response_nonce: Nonce,
}

fn example() -> Example {
    // RFC 8032 §7.1 TEST 1 and TEST 2 secret keys.
    let hub_seed: [u8; 32] =
        unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .try_into()
            .unwrap();
    let bank_seed: [u8; 32] =
        unhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
            .try_into()
            .unwrap();
    let ikm_r: Vec<u8> = (0u8..32).collect();
    let ikm_e: Vec<u8> = (32u8..64).collect();
    Example {
        hub: Signer::new(
            KeyId::parse("hub-2026-11").unwrap(),
            SigningKeyPair::from_seed(&hub_seed),
        ),
        bank_signer: Signer::new(
            KeyId::parse("ICBC-2026-11").unwrap(),
            SigningKeyPair::from_seed(&bank_seed),
        ),
        recipient: RecipientKeyPair::derive(&ikm_r),
        inquiry_id: InquiryId::parse("01a22198-ed00-7123-8456-0123456789ab").unwrap(),
        bank: BankCode::parse("ICBC").unwrap(),
        ikm_r,
        ikm_e,
        request_nonce: Nonce::parse(&URL_SAFE_NO_PAD.encode((0u8..16).collect::<Vec<_>>()))
            .unwrap(),
        response_nonce: Nonce::parse(&URL_SAFE_NO_PAD.encode((16u8..32).collect::<Vec<_>>()))
            .unwrap(),
    }
}

fn example_card_list() -> CardList {
    CardList {
        cards: vec![
            Card {
                pan: MaskedPan::new("6222", "1234", 19).unwrap(),
                kind: CardKind::Debit,
                status: CardStatus::Normal,
                opened: YearMonth::new(2015, 6).unwrap(),
                last_active: Some(YearMonth::new(2026, 10).unwrap()),
                product: "牡丹灵通卡".to_owned(),
            },
            Card {
                pan: MaskedPan::new("6258", "5678", 16).unwrap(),
                kind: CardKind::Credit,
                status: CardStatus::Dormant,
                opened: YearMonth::new(2018, 3).unwrap(),
                last_active: Some(YearMonth::new(2021, 1).unwrap()),
                product: "牡丹信用卡".to_owned(),
            },
        ],
        unlisted: vec![
            Unlisted {
                reason: UnlistedReason::NoReservedPhone,
                count: 1,
            },
            Unlisted {
                reason: UnlistedReason::Closed,
                count: 1,
            },
        ],
    }
}

fn example_inquiry(ex: &Example) -> Inquiry {
    Inquiry {
        inquiry_id: ex.inquiry_id,
        bank: ex.bank.clone(),
        suite: SUITE,
        subject: Subject {
            name: "张三".to_owned(),
            id_number: IdNumber::parse_on("11010519491231002X", T0.date()).unwrap(),
            phone: Phone::parse("13800138000").unwrap(),
        },
        recipient_key: ex.recipient.public_key(),
        deadline: T0 + Duration::hours(24),
        callback_url: None,
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers[name].to_str().unwrap().to_owned()
}

/// Builds the worked example from its inputs, as the vector file records it.
fn build_worked_example() -> serde_json::Value {
    let ex = example();
    let inquiry = example_inquiry(&ex);
    let request_body = InquiryBatch::new(vec![inquiry.clone()]).to_json().unwrap();
    let now = T0;
    let req = ex
        .hub
        .sign_request_with_nonce(
            &Method::POST,
            chaka_protocol::INQUIRIES_PATH,
            Some("application/json"),
            &request_body,
            now,
            &ex.request_nonce,
        )
        .unwrap();
    let plaintext = example_card_list().to_json().unwrap();
    let sealed = seal_with_rng(
        SUITE,
        &ex.recipient.public_key(),
        &ex.inquiry_id,
        &ex.bank,
        &plaintext,
        &mut FixedRng::new(&ex.ikm_e),
    )
    .unwrap();
    let answered_at = T0 + Duration::seconds(2);
    let answer = Answer::matched(&inquiry, sealed.clone(), answered_at);
    let response_body = AnswerBatch::new(ex.bank.clone(), vec![answer])
        .to_json()
        .unwrap();
    let resp = ex
        .bank_signer
        .sign_response_with_nonce(
            StatusCode::OK,
            "application/json",
            &response_body,
            answered_at,
            &ex.response_nonce,
        )
        .unwrap();
    let base_of = |input: &str, ctx: MessageContext<'_>| {
        let member = input.strip_prefix("chaka=").unwrap();
        signature_base(&SignatureInput::parse(member).unwrap(), &ctx).unwrap()
    };
    let mut req_headers = req.clone();
    req_headers.insert("content-type", HeaderValue::from_static("application/json"));
    let mut resp_headers = resp.clone();
    resp_headers.insert("content-type", HeaderValue::from_static("application/json"));
    serde_json::json!({
        "note": "Worked example of docs/protocol.md. Keys are RFC 8032 section 7.1 TEST 1 (hub) and TEST 2 (bank) secret keys; subject data is synthetic.",
        "hub_key_id": ex.hub.key_id().as_str(),
        "hub_seed_base64url": ex.hub.key().to_seed_base64url().as_str(),
        "hub_public_key_base64url": ex.hub.key().public_key().to_base64url(),
        "bank_key_id": ex.bank_signer.key_id().as_str(),
        "bank_seed_base64url": ex.bank_signer.key().to_seed_base64url().as_str(),
        "bank_public_key_base64url": ex.bank_signer.key().public_key().to_base64url(),
        "request": {
            "method": "POST",
            "path": chaka_protocol::INQUIRIES_PATH,
            "content_type": "application/json",
            "created": now.unix_timestamp(),
            "nonce": ex.request_nonce.as_str(),
            "body": String::from_utf8(request_body).unwrap(),
            "content_digest": header(&req, "content-digest"),
            "signature_input": header(&req, "signature-input"),
            "signature_base": base_of(&header(&req, "signature-input"), MessageContext {
                method: Some(&Method::POST),
                path: Some(chaka_protocol::INQUIRIES_PATH),
                authority: None,
                status: None,
                headers: &req_headers,
            }),
            "signature": header(&req, "signature"),
        },
        "sealing": {
            "suite": SUITE.as_str(),
            "ikm_r_hex": ex.ikm_r.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "recipient_secret_base64url": URL_SAFE_NO_PAD.encode(ex.recipient.secret_key().to_bytes().as_ref()),
            "recipient_public_base64url": ex.recipient.public_key().to_base64url(),
            "ikm_e_hex": ex.ikm_e.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "inquiry_id": ex.inquiry_id.to_string(),
            "bank": ex.bank.as_str(),
            "info_and_aad": String::from_utf8(binding(&ex.inquiry_id, &ex.bank)).unwrap(),
            "plaintext": String::from_utf8(plaintext.to_vec()).unwrap(),
            "enc_base64url": URL_SAFE_NO_PAD.encode(&sealed.enc),
            "ciphertext_base64url": URL_SAFE_NO_PAD.encode(&sealed.ciphertext),
        },
        "response": {
            "status": 200,
            "content_type": "application/json",
            "created": answered_at.unix_timestamp(),
            "nonce": ex.response_nonce.as_str(),
            "body": String::from_utf8(response_body).unwrap(),
            "content_digest": header(&resp, "content-digest"),
            "signature_input": header(&resp, "signature-input"),
            "signature_base": base_of(&header(&resp, "signature-input"), MessageContext {
                method: None,
                path: None,
                authority: None,
                status: Some(StatusCode::OK),
                headers: &resp_headers,
            }),
            "signature": header(&resp, "signature"),
        },
    })
}

/// Regenerates the worked example file after a deliberate change:
/// `cargo test -p chaka-protocol --test it -- --ignored regenerate_worked_example`.
#[test]
#[ignore = "writes tests/vectors/chaka-v1-worked-example.json"]
fn regenerate_worked_example() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/chaka-v1-worked-example.json");
    let text = serde_json::to_string_pretty(&build_worked_example()).unwrap();
    std::fs::write(path, text + "\n").unwrap();
}

#[test]
fn worked_example_is_reproduced_byte_for_byte() {
    assert_eq!(
        build_worked_example(),
        vector("chaka-v1-worked-example.json")
    );
}

#[test]
fn worked_example_verifies_and_opens_from_the_file_alone() {
    let v = vector("chaka-v1-worked-example.json");
    let limits = Limits::default();
    let hub_key =
        chaka_protocol::SigningPublicKey::parse(field(&v, "hub_public_key_base64url")).unwrap();
    let bank_key =
        chaka_protocol::SigningPublicKey::parse(field(&v, "bank_public_key_base64url")).unwrap();
    let keys = KeySet::new()
        .with(
            KnownKey::new(KeyId::parse(field(&v, "hub_key_id")).unwrap(), hub_key).owned_by("hub"),
        )
        .with(
            KnownKey::new(KeyId::parse(field(&v, "bank_key_id")).unwrap(), bank_key)
                .owned_by("ICBC"),
        );
    let verifier = Verifier::new(keys, Arc::new(MemoryNonceStore::default()));

    let req = &v["request"];
    let mut headers = HeaderMap::new();
    for (name, key) in [
        ("content-type", "content_type"),
        ("content-digest", "content_digest"),
        ("signature-input", "signature_input"),
        ("signature", "signature"),
    ] {
        headers.insert(name, HeaderValue::from_str(field(req, key)).unwrap());
    }
    let created =
        time::OffsetDateTime::from_unix_timestamp(req["created"].as_i64().unwrap()).unwrap();
    let body = field(req, "body").as_bytes();
    let who = verifier
        .verify_request(&Method::POST, field(req, "path"), &headers, body, created)
        .unwrap();
    assert_eq!(who.owner.as_deref(), Some("hub"));
    let batch = InquiryBatch::from_json(body, &limits).unwrap();
    assert_eq!(batch.inquiries[0].subject.name, "张三");

    let resp = &v["response"];
    let mut headers = HeaderMap::new();
    for (name, key) in [
        ("content-type", "content_type"),
        ("content-digest", "content_digest"),
        ("signature-input", "signature_input"),
        ("signature", "signature"),
    ] {
        headers.insert(name, HeaderValue::from_str(field(resp, key)).unwrap());
    }
    let at = time::OffsetDateTime::from_unix_timestamp(resp["created"].as_i64().unwrap()).unwrap();
    let body = field(resp, "body").as_bytes();
    let who = verifier
        .verify_response(StatusCode::OK, &headers, body, at)
        .unwrap();
    assert_eq!(who.owner.as_deref(), Some("ICBC"));
    let answers = AnswerBatch::from_json(body, &limits).unwrap();
    let answer = &answers.answers[0];

    let s = &v["sealing"];
    let secret = RecipientSecretKey::parse(field(s, "recipient_secret_base64url")).unwrap();
    let sealed = answer.sealed.as_ref().unwrap();
    let opened = open(SUITE, &secret, &answer.inquiry_id, &answer.bank, sealed).unwrap();
    assert_eq!(opened.as_slice(), field(s, "plaintext").as_bytes());
    let list = CardList::open(sealed, &secret, &answer.inquiry_id, &answer.bank, &limits).unwrap();
    assert_eq!(list, example_card_list());
}

#[test]
fn protocol_md_quotes_the_worked_example() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/protocol.md"),
    )
    .unwrap();
    let v = vector("chaka-v1-worked-example.json");
    for part in ["request", "response"] {
        for key in [
            "body",
            "content_digest",
            "signature_input",
            "signature",
            "signature_base",
        ] {
            assert!(
                doc.contains(field(&v[part], key)),
                "docs/protocol.md lacks {part}.{key}"
            );
        }
    }
    for key in [
        "plaintext",
        "enc_base64url",
        "ciphertext_base64url",
        "info_and_aad",
    ] {
        assert!(
            doc.contains(field(&v["sealing"], key)),
            "docs/protocol.md lacks sealing.{key}"
        );
    }
}

#[test]
fn shared_state_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Verifier>();
    check::<Signer>();
    check::<MemoryNonceStore>();
    check::<KeySet>();
}
