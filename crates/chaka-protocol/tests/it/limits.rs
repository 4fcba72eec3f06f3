//! Limits and semantic checks of the parsers: each violation gives its own error, and no
//! error message carries the personal value that caused it.

use crate::support::{T0, batch, inquiry};
use chaka_core::{BankCode, InquiryId};
use chaka_protocol::keys::RecipientKeyPair;
use chaka_protocol::message::{
    Accepted, Answer, AnswerBatch, CardList, Heartbeat, InquiryBatch, NameProblem, ProtocolError,
    RefusalReason,
};
use chaka_protocol::seal::seal;
use chaka_protocol::{Limits, Suite};
use proptest::prelude::*;
use serde_json::{Value, json};

fn json_of(batch: &InquiryBatch) -> Value {
    serde_json::from_slice(&batch.to_json().unwrap()).unwrap()
}

fn parse(v: &Value) -> Result<InquiryBatch, ProtocolError> {
    InquiryBatch::from_json(&serde_json::to_vec(v).unwrap(), &Limits::default())
}

fn code(v: &Value) -> &'static str {
    parse(v).unwrap_err().code()
}

#[test]
fn a_valid_batch_round_trips() {
    let b = batch(3);
    let parsed = InquiryBatch::from_json(&b.to_json().unwrap(), &Limits::default()).unwrap();
    assert_eq!(parsed, b);
    let v = json_of(&b);
    assert_eq!(v["protocol"], "chaka/1");
    assert_eq!(
        v["inquiries"][0]["suite"],
        "hpke-x25519-sha256-chacha20poly1305"
    );
    assert!(v["inquiries"][0].get("callback_url").is_none());
}

#[test]
fn batch_level_limits() {
    let limits = Limits::default();
    let over = batch(65);
    assert_eq!(
        InquiryBatch::from_json(&over.to_json().unwrap(), &limits),
        Err(ProtocolError::TooManyEntries { count: 65, max: 64 })
    );
    assert!(InquiryBatch::from_json(&batch(64).to_json().unwrap(), &limits).is_ok());
    let small = Limits {
        max_body_bytes: 100,
        ..Limits::default()
    };
    let body = batch(1).to_json().unwrap();
    assert_eq!(
        InquiryBatch::from_json(&body, &small),
        Err(ProtocolError::BodyTooLarge {
            size: body.len(),
            max: 100
        })
    );
    assert_eq!(
        code(&json!({"protocol": "chaka/1", "inquiries": []})),
        "empty_batch"
    );
    let mut v = json_of(&batch(2));
    v["inquiries"][1]["inquiry_id"] = v["inquiries"][0]["inquiry_id"].clone();
    assert_eq!(
        parse(&v),
        Err(ProtocolError::DuplicateInquiryId { index: 1 })
    );
    let mut v = json_of(&batch(2));
    v["inquiries"][1]["bank"] = json!("BOC");
    assert_eq!(parse(&v), Err(ProtocolError::BankMismatch { index: 1 }));
    let mut v = json_of(&batch(1));
    v["protocol"] = json!("chaka/2");
    assert_eq!(parse(&v), Err(ProtocolError::UnsupportedProtocol));
}

#[test]
fn field_checks_give_precise_codes() {
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "inquiry_id",
            json!("67e55044-10b1-426f-9247-bb680e5fe0c8"),
            "invalid_inquiry_id",
        ),
        ("bank", json!("icbc"), "invalid_bank_code"),
        ("suite", json!("sm2-sm3-sm4"), "unsupported_suite"),
        ("recipient_key", json!("AAAA"), "invalid_recipient_key"),
        ("deadline", json!("tomorrow"), "invalid_timestamp"),
        (
            "callback_url",
            json!("ftp://hub.example/cb"),
            "invalid_callback_url",
        ),
        (
            "callback_url",
            json!("https://user:pw@hub.example/cb"),
            "invalid_callback_url",
        ),
        (
            "callback_url",
            json!(format!("https://hub.example/{}", "a".repeat(600))),
            "invalid_callback_url",
        ),
        ("extra", json!(1), "schema_mismatch"),
    ];
    for (name, value, expected) in cases {
        let mut v = json_of(&batch(1));
        v["inquiries"][0][name] = value;
        assert_eq!(code(&v), expected, "{name}");
    }
    let mut v = json_of(&batch(1));
    v["inquiries"][0]["callback_url"] = json!("https://hub.example/chaka/v1/callbacks");
    assert!(parse(&v).unwrap().allows_callback());
}

#[test]
fn subject_checks_never_echo_personal_data() {
    let cases: Vec<(&str, &str, &str)> = vec![
        ("id_number", "110105194912310021", "invalid_id_number"),
        ("id_number", "11010519491231", "invalid_id_number"),
        ("phone", "12800138000", "invalid_phone"),
        ("phone", "+1 415 555 0100", "invalid_phone"),
        ("name", "", "invalid_name"),
        ("name", "张三3", "invalid_name"),
        ("name", " 张三", "invalid_name"),
    ];
    for (field, value, expected) in cases {
        let mut v = json_of(&batch(1));
        v["inquiries"][0]["subject"][field] = json!(value);
        let err = parse(&v).unwrap_err();
        assert_eq!(err.code(), expected, "{field}");
        let text = format!("{err} {err:?}");
        if !value.is_empty() {
            assert!(!text.contains(value), "{text}");
        }
    }
    let mut v = json_of(&batch(1));
    v["inquiries"][0]["subject"]["name"] = json!("名".repeat(65));
    assert_eq!(
        parse(&v),
        Err(ProtocolError::InvalidName {
            index: 0,
            problem: NameProblem::TooLong
        })
    );
    // A value of the wrong type: serde's own message would quote it; ours does not.
    let mut v = json_of(&batch(1));
    v["inquiries"][0]["subject"]["phone"] = json!(13800138000u64);
    let err = parse(&v).unwrap_err();
    assert_eq!(err.code(), "schema_mismatch");
    assert!(!err.to_string().contains("13800138000"), "{err}");
    // Debug of a parsed inquiry hides the subject.
    let parsed = parse(&json_of(&batch(1))).unwrap();
    let debug = format!("{parsed:?}");
    for secret in ["张三", "11010519491231002X", "13800138000"] {
        assert!(!debug.contains(secret), "{debug}");
    }
}

#[test]
fn answer_batches_check_outcome_and_sealed() {
    let limits = Limits::default();
    let user = RecipientKeyPair::generate();
    let q = inquiry(0, &user);
    let bank = BankCode::parse("ICBC").unwrap();
    let sealed = seal(
        Suite::HpkeX25519Sha256ChaCha20Poly1305,
        &user.public_key(),
        &q.inquiry_id,
        &bank,
        b"{}",
    )
    .unwrap();
    let good = AnswerBatch::new(
        bank.clone(),
        vec![
            Answer::matched(&q, sealed.clone(), T0),
            Answer::refused(&inquiry(1, &user), RefusalReason::DeadlinePassed, T0),
            Answer::no_match(&inquiry(2, &user), T0),
        ],
    );
    let body = good.to_json().unwrap();
    assert_eq!(AnswerBatch::from_json(&body, &limits).unwrap(), good);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["answers"][0]["outcome"], json!({"type": "matched"}));
    assert_eq!(
        v["answers"][1]["outcome"],
        json!({"type": "refused", "reason": "deadline_passed"})
    );
    assert_eq!(
        v["answers"][0]["sealed"]["suite"],
        "hpke-x25519-sha256-chacha20poly1305"
    );

    let reparse = |v: &Value| {
        AnswerBatch::from_json(&serde_json::to_vec(v).unwrap(), &limits).map_err(|e| e.code())
    };
    let mut bad = v.clone();
    bad["answers"][0].as_object_mut().unwrap().remove("sealed");
    assert_eq!(reparse(&bad), Err("sealed_missing"));
    let mut bad = v.clone();
    bad["answers"][2]["sealed"] = v["answers"][0]["sealed"].clone();
    assert_eq!(reparse(&bad), Err("sealed_unexpected"));
    let mut bad = v.clone();
    bad["answers"][1]["outcome"] = json!({"type": "refused"});
    assert_eq!(reparse(&bad), Err("invalid_outcome"));
    let mut bad = v.clone();
    bad["answers"][1]["outcome"] = json!({"type": "refused", "reason": "bored"});
    assert_eq!(reparse(&bad), Err("invalid_outcome"));
    let mut bad = v.clone();
    bad["answers"][0]["sealed"]["enc"] = json!("AAAA");
    assert_eq!(reparse(&bad), Err("invalid_sealed"));
    let mut bad = v.clone();
    bad["answers"][0]["sealed"]["ciphertext"] = json!("not base64!");
    assert_eq!(reparse(&bad), Err("invalid_sealed"));
    let mut bad = v.clone();
    bad["answers"][2]["bank"] = json!("BOC");
    assert_eq!(reparse(&bad), Err("bank_mismatch"));
}

#[test]
fn card_lists_are_bounded() {
    let card = json!({"pan": {"first4": "6222", "last4": "1234", "length": 19}, "kind": "debit",
        "status": "normal", "opened": "2019-03", "product": "牡丹灵通卡"});
    let list = |n: usize| {
        serde_json::to_vec(&json!({"cards": vec![card.clone(); n], "unlisted": []})).unwrap()
    };
    let limits = Limits::default();
    assert_eq!(
        CardList::from_json(&list(256), &limits)
            .unwrap()
            .cards
            .len(),
        256
    );
    assert_eq!(
        CardList::from_json(&list(257), &limits),
        Err(ProtocolError::TooManyCards {
            count: 257,
            max: 256
        })
    );
    let mut long = card.clone();
    long["product"] = json!("卡".repeat(65));
    let body = serde_json::to_vec(&json!({"cards": [long], "unlisted": []})).unwrap();
    assert_eq!(
        CardList::from_json(&body, &limits).unwrap_err().code(),
        "invalid_card"
    );
    let mut before = card.clone();
    before["last_active"] = json!("2018-01");
    let body = serde_json::to_vec(&json!({"cards": [before], "unlisted": []})).unwrap();
    assert_eq!(
        CardList::from_json(&body, &limits).unwrap_err().code(),
        "invalid_card"
    );
}

#[test]
fn accepted_and_heartbeat() {
    let limits = Limits::default();
    let b = batch(2);
    let acc = Accepted::for_batch(BankCode::parse("ICBC").unwrap(), &b);
    assert_eq!(
        Accepted::from_json(&acc.to_json().unwrap(), &limits).unwrap(),
        acc
    );
    let dup = json!({"protocol": "chaka/1", "bank": "ICBC", "accepted": [acc.accepted[0].to_string(), acc.accepted[0].to_string()]});
    assert_eq!(
        Accepted::from_json(&serde_json::to_vec(&dup).unwrap(), &limits)
            .unwrap_err()
            .code(),
        "duplicate_inquiry_id"
    );

    let hb = json!({"protocol_versions": ["chaka/1", "chaka/2"], "bank": "ICBC", "key_id": "ICBC-2026-11",
        "suites": ["sm2-sm3-sm4", "hpke-x25519-sha256-chacha20poly1305"], "time": "2026-11-28T10:00:00Z"});
    let parsed = Heartbeat::from_json(&serde_json::to_vec(&hb).unwrap(), &limits).unwrap();
    assert!(parsed.speaks("chaka/1"));
    assert_eq!(parsed.suites, vec![Suite::HpkeX25519Sha256ChaCha20Poly1305]);
    assert_eq!(parsed.time, T0);
    let _ = InquiryId::generate(T0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Arbitrary bytes never panic the parsers, and errors never echo long digit runs.
    #[test]
    fn parsers_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let limits = Limits::default();
        for text in [
            InquiryBatch::from_json(&body, &limits).err().map(|e| e.to_string()),
            AnswerBatch::from_json(&body, &limits).err().map(|e| e.to_string()),
            CardList::from_json(&body, &limits).err().map(|e| e.to_string()),
        ].into_iter().flatten() {
            prop_assert!(text.len() < 300);
        }
    }

    #[test]
    fn wrongly_typed_id_numbers_are_not_echoed(digits in "[1-9][0-9]{14,17}") {
        let mut v = json_of(&batch(1));
        v["inquiries"][0]["subject"]["id_number"] = json!(digits.parse::<u64>().unwrap());
        let err = parse(&v).unwrap_err();
        prop_assert!(!err.to_string().contains(&digits));
    }
}
