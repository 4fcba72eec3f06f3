//! What several hub instances on one PostgreSQL database must never do, each instance a store
//! with its own pool and all of them racing: claim a leg or an SMS twice, finalise an inquiry
//! twice (two "ready" SMS) or never, accept one SMS code twice, or let one person have two
//! inquiries in flight. Skipped, with a line saying so, when `CHAKA_TEST_DATABASE_URL` is unset.

use super::PgStore;
use super::ledger::{PgLedger, create_legs};
use super::scratch::{ScratchDatabase, TEST_DATABASE_URL, test_server};
use crate::store::accounts::{AccountStore, CodeCheck, CodeStore, NewAccount};
use crate::store::fmt_time;
use crate::store::inquiries::{
    InquiryStore, NewInquiry, NewSms, OutboxStore, SubmitGuard, Submitted,
};
use crate::store::ledger::{
    BankClaim, ClaimedLeg, LedgerStore, LegAction, LegKey, Settled, Settlement,
};
use chaka_core::{BankCode, InquiryId};
use chaka_protocol::message::{Answer, Outcome};
use std::collections::HashSet;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2026-11-28 10:00 UTC);

/// Two instances on a fresh database, or `None` (and a line) without a server.
async fn two_instances() -> Option<(ScratchDatabase, PgStore, PgStore)> {
    let Some(server) = test_server() else {
        println!("skipped: {TEST_DATABASE_URL} is not set");
        return None;
    };
    let scratch = ScratchDatabase::create(&server).await.unwrap();
    let a = PgStore::connect(scratch.url()).await.unwrap();
    let b = PgStore::connect(scratch.url()).await.unwrap();
    Some((scratch, a, b))
}

fn account(n: u8) -> NewAccount {
    NewAccount {
        account_id: format!("acc-{n}"),
        id_index: [n; 32],
        id_sealed: vec![1],
        name_sealed: vec![2],
        phone_index: [n.wrapping_add(100); 32],
        phone_sealed: vec![3],
        region: "31".into(),
        password_hash: "phc".into(),
        verified_at: NOW,
        lang: "zh".into(),
        created_at: NOW,
    }
}

/// An open inquiry of `acc-1` with one leg per bank.
async fn open_inquiry(store: &PgStore, n: u32, banks: &[&str]) -> InquiryId {
    let id = InquiryId::generate(NOW + Duration::milliseconds(i64::from(n)));
    let mut tx = store.pool().begin().await.unwrap();
    sqlx::query(
        "INSERT INTO inquiries (inquiry_id, account_id, state, banks, subject_sealed, user_public_key, \
         key_generation, consent_version, consent_hash, consent_lang, created_at, deadline) \
         VALUES ($1, 'acc-1', 'open', '[]', $2, $3, 0, 'v1', 'hash', 'zh', $4, $5)",
    )
    .bind(id.to_string())
    .bind(vec![9u8])
    .bind(vec![7u8; 32])
    .bind(fmt_time(NOW))
    .bind(fmt_time(NOW + Duration::hours(24)))
    .execute(&mut *tx)
    .await
    .unwrap();
    create_legs(
        &mut tx,
        &id.to_string(),
        banks,
        NOW + Duration::hours(24),
        NOW,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

/// A submission of `acc-1` with its own idempotency key.
fn submission(n: u32) -> (NewInquiry, SubmitGuard) {
    let inquiry = NewInquiry {
        inquiry_id: InquiryId::generate(NOW + Duration::milliseconds(i64::from(n))).to_string(),
        account_id: "acc-1".into(),
        banks: vec!["ICBC".into()],
        subject_sealed: vec![1],
        user_public_key: vec![7; 32],
        key_generation: 0,
        consent_version: "v1".into(),
        consent_hash: "hash".into(),
        consent_lang: "zh".into(),
        created_at: NOW,
        deadline: NOW + Duration::hours(24),
    };
    let guard = SubmitGuard {
        idempotency_key: format!("key-{n}"),
        request_hash: "body".into(),
        response: (201, b"{}".to_vec()),
        cooldown: Duration::days(7),
        notice: NewSms {
            idempotency_key: format!("requested:{n}"),
            account_id: Some("acc-1".into()),
            phone_sealed: vec![3],
            template: "lookup_requested".into(),
            params: serde_json::json!({}),
            secret_sealed: None,
            lang: "zh".into(),
        },
    };
    (inquiry, guard)
}

fn no_match(key: &LegKey) -> Answer {
    Answer {
        inquiry_id: key.inquiry_id,
        bank: key.bank.clone(),
        outcome: Outcome::NoMatch,
        sealed: None,
        answered_at: NOW,
    }
}

async fn ready_sms(store: &PgStore) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT idempotency_key FROM outbox WHERE idempotency_key LIKE 'ready:%' ORDER BY 1",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
}

/// Returns once `task` waits for a lock held by another transaction on the database (or has
/// finished, when nothing made it wait). No sleeping: it asks the server until then.
async fn wait_until_blocked<T>(store: &PgStore, task: &tokio::task::JoinHandle<T>) {
    while !task.is_finished() {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_claiming_together_never_claim_one_leg_twice() {
    let Some((_db, a, b)) = two_instances().await else {
        return;
    };
    a.insert_account(&account(1)).await.unwrap();
    for n in 0..60 {
        open_inquiry(&a, n, &["ICBC", "CMB"]).await;
    }
    let claimer = |store: PgStore, owner: &'static str| async move {
        let ledger = PgLedger::new(store);
        let wants = [
            BankClaim {
                bank: BankCode::parse("ICBC").unwrap(),
                limit: 7,
            },
            BankClaim {
                bank: BankCode::parse("CMB").unwrap(),
                limit: 5,
            },
        ];
        let mut mine = Vec::new();
        loop {
            let claimed = ledger
                .claim_due(owner, NOW, Duration::seconds(30), &wants)
                .await
                .unwrap();
            if claimed.is_empty() {
                return mine;
            }
            mine.extend(claimed.into_iter().map(|c| (c.key, c.attempt)));
        }
    };
    let (left, right) = tokio::join!(
        tokio::spawn(claimer(a.clone(), "instance-a")),
        tokio::spawn(claimer(b.clone(), "instance-b"))
    );
    let (left, right) = (left.unwrap(), right.unwrap());
    assert!(
        !left.is_empty() && !right.is_empty(),
        "both instances got work"
    );
    let all: Vec<_> = left.iter().chain(&right).collect();
    let distinct: HashSet<_> = all.iter().map(|(key, _)| key).collect();
    assert_eq!(all.len(), 120, "every leg claimed");
    assert_eq!(distinct.len(), 120, "no leg claimed twice");
    assert!(all.iter().all(|(_, attempt)| *attempt == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_legs_settled_at_once_on_two_instances_finalise_once() {
    let Some((_db, a, b)) = two_instances().await else {
        return;
    };
    a.insert_account(&account(1)).await.unwrap();
    let mut ids = Vec::new();
    for n in 0..100 {
        ids.push(open_inquiry(&a, n, &["ICBC", "CMB"]).await);
    }
    let (la, lb) = (PgLedger::new(a.clone()), PgLedger::new(b.clone()));
    let claim = |bank: &str| BankClaim {
        bank: BankCode::parse(bank).unwrap(),
        limit: 100,
    };
    // Instance A holds every ICBC leg, instance B every CMB leg; each answers all of its own
    // in one batch, at the same instant.
    let icbc = la
        .claim_due("a", NOW, Duration::seconds(30), &[claim("ICBC")])
        .await
        .unwrap();
    let cmb = lb
        .claim_due("b", NOW, Duration::seconds(30), &[claim("CMB")])
        .await
        .unwrap();
    assert_eq!((icbc.len(), cmb.len()), (100, 100));
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let settle = |ledger: PgLedger, legs: Vec<crate::store::ledger::ClaimedLeg>| {
        let start = start.clone();
        async move {
            let batch: Vec<Settlement> = legs
                .iter()
                .map(|leg| Settlement {
                    key: leg.key.clone(),
                    attempt: leg.attempt,
                    action: LegAction::Answer(Box::new(no_match(&leg.key))),
                })
                .collect();
            start.wait().await;
            let settled = ledger.settle(&batch, NOW).await.unwrap();
            settled
                .iter()
                .filter(|s| {
                    **s == (Settled::Applied {
                        inquiry_final: true,
                    })
                })
                .count()
        }
    };
    let (fa, fb) = tokio::join!(
        tokio::spawn(settle(la, icbc)),
        tokio::spawn(settle(lb, cmb))
    );
    assert_eq!(
        fa.unwrap() + fb.unwrap(),
        100,
        "each inquiry became final once"
    );
    let mut expected: Vec<String> = ids.iter().map(|id| format!("ready:{id}")).collect();
    expected.sort();
    assert_eq!(ready_sms(&a).await, expected, "one ready SMS per report");
    let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM inquiries WHERE state <> 'final'")
        .fetch_one(a.pool())
        .await
        .unwrap();
    assert_eq!(open, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_claiming_sms_together_never_claim_one_twice() {
    let Some((_db, a, b)) = two_instances().await else {
        return;
    };
    for n in 0..40 {
        let sms = NewSms {
            idempotency_key: format!("test:{n}"),
            account_id: None,
            phone_sealed: vec![1],
            template: "lookup_requested".into(),
            params: serde_json::json!({}),
            secret_sealed: None,
            lang: "zh".into(),
        };
        assert!(a.enqueue(&sms, NOW).await.unwrap());
        assert!(
            !b.enqueue(&sms, NOW).await.unwrap(),
            "a repeated key is ignored"
        );
    }
    let claimer = |store: PgStore, owner: &'static str| async move {
        let mut mine = Vec::new();
        loop {
            let claimed = store
                .claim_sms(owner, NOW, Duration::seconds(30), 3)
                .await
                .unwrap();
            assert!(claimed.len() <= 3, "a claim holds its limit");
            if claimed.is_empty() {
                return mine;
            }
            mine.extend(claimed.into_iter().map(|m| m.idempotency_key));
        }
    };
    let (left, right) = tokio::join!(
        tokio::spawn(claimer(a.clone(), "a")),
        tokio::spawn(claimer(b.clone(), "b"))
    );
    let all: Vec<String> = left.unwrap().into_iter().chain(right.unwrap()).collect();
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!((all.len(), distinct.len()), (40, 40));
    // Leases: nothing more until they expire, then everything again.
    assert!(
        a.claim_sms("a", NOW, Duration::seconds(30), 100)
            .await
            .unwrap()
            .is_empty()
    );
    let later = NOW + Duration::seconds(31);
    assert_eq!(
        b.claim_sms("b", later, Duration::seconds(30), 100)
            .await
            .unwrap()
            .len(),
        40
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_checked_on_two_instances_at_once_is_accepted_once() {
    let Some((_db, a, b)) = two_instances().await else {
        return;
    };
    let phone = [5u8; 32];
    for round in 0..10 {
        let code = [round; 32];
        a.insert_code(&phone, "inquiry", &code, NOW, Duration::minutes(5))
            .await
            .unwrap();
        let check = |store: PgStore| async move {
            store
                .check_code(&phone, "inquiry", &code, NOW, 5)
                .await
                .unwrap()
        };
        let (x, y) = tokio::join!(
            tokio::spawn(check(a.clone())),
            tokio::spawn(check(b.clone()))
        );
        let mut results = vec![x.unwrap(), y.unwrap()];
        results.sort_by_key(|r| format!("{r:?}"));
        assert_eq!(results, vec![CodeCheck::Accepted, CodeCheck::NoCode]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_person_submitting_on_two_instances_gets_one_inquiry() {
    let Some((_db, a, b)) = two_instances().await else {
        return;
    };
    a.insert_account(&account(1)).await.unwrap();
    for round in 0..5u32 {
        let (qa, ga) = submission(round * 2);
        let (qb, gb) = submission(round * 2 + 1);
        let (sa, sb) = (a.clone(), b.clone());
        let (x, y) = tokio::join!(
            tokio::spawn(async move { sa.submit(&qa, &ga).await.unwrap() }),
            tokio::spawn(async move { sb.submit(&qb, &gb).await.unwrap() })
        );
        let results = [x.unwrap(), y.unwrap()];
        let created = results.iter().filter(|r| **r == Submitted::Created).count();
        let refused = results
            .iter()
            .filter(|r| matches!(r, Submitted::InFlight { .. }))
            .count();
        assert_eq!((created, refused), (1, 1), "round {round}: {results:?}");
        // Close the round's inquiry so the next round may submit (no cooldown: never final).
        sqlx::query("UPDATE inquiries SET state = 'purged' WHERE state = 'open'")
            .execute(a.pool())
            .await
            .unwrap();
    }
    let notices: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'requested:%'")
            .fetch_one(a.pool())
            .await
            .unwrap();
    assert_eq!(notices, 5, "a refused submission leaves nothing behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settlement_leaves_the_finalisation_to_the_instance_settling_the_last_leg() {
    let Some((_db, a, b)) = two_instances().await else {
        return;
    };
    a.insert_account(&account(1)).await.unwrap();
    let id = open_inquiry(&a, 0, &["ICBC", "CMB"]).await;
    let ledger = PgLedger::new(a.clone());
    let want = BankClaim {
        bank: BankCode::parse("ICBC").unwrap(),
        limit: 1,
    };
    let icbc = ledger
        .claim_due("a", NOW, Duration::seconds(30), &[want])
        .await
        .unwrap()
        .remove(0);
    // Instance B, half-way through settling the inquiry's other leg: marked answered, not
    // committed yet.
    let mut other = b.pool().begin().await.unwrap();
    sqlx::query(
        "UPDATE legs SET state = 'answered', finished_at = $2 WHERE inquiry_id = $1 AND bank = 'CMB'",
    )
    .bind(id.to_string())
    .bind(fmt_time(NOW))
    .execute(&mut *other)
    .await
    .unwrap();
    // A settles without waiting for B, and sees B's leg still open.
    assert_eq!(
        ledger
            .complete_leg(&icbc.key, icbc.attempt, no_match(&icbc.key), NOW)
            .await
            .unwrap(),
        Settled::Applied {
            inquiry_final: false
        }
    );
    assert!(ready_sms(&a).await.is_empty());
    // B commits, then finalises in its next transaction: it sees A's leg final.
    other.commit().await.unwrap();
    let mut tx = b.pool().begin().await.unwrap();
    let finalized = super::settle::finalize_done(&mut tx, &[id], NOW, Duration::days(7))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(finalized.contains(&id));
    assert_eq!(ready_sms(&a).await, vec![format!("ready:{id}")]);
    // Once final, neither a second finalisation nor the sweep for stranded inquiries adds
    // anything.
    let mut tx = a.pool().begin().await.unwrap();
    let again = super::settle::finalize_done(&mut tx, &[id], NOW, Duration::days(7))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(again.is_empty());
    ledger.expire_deadlines(NOW).await.unwrap();
    assert_eq!(ready_sms(&a).await, vec![format!("ready:{id}")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inquiry_left_open_with_every_leg_final_is_finalised_by_the_sweep() {
    let Some((_db, a, _b)) = two_instances().await else {
        return;
    };
    a.insert_account(&account(1)).await.unwrap();
    let stranded = open_inquiry(&a, 0, &["ICBC", "CMB"]).await;
    let waiting = open_inquiry(&a, 1, &["ICBC", "CMB"]).await;
    // A crash between a settlement's commit and its finalisation: every leg of the first
    // inquiry final, the inquiry still open; the second still has an open leg.
    sqlx::query("UPDATE legs SET state = 'answered', finished_at = $2 WHERE inquiry_id = $1")
        .bind(stranded.to_string())
        .bind(fmt_time(NOW))
        .execute(a.pool())
        .await
        .unwrap();
    sqlx::query(
        "UPDATE legs SET state = 'answered', finished_at = $2 WHERE inquiry_id = $1 AND bank = 'CMB'",
    )
    .bind(waiting.to_string())
    .bind(fmt_time(NOW))
    .execute(a.pool())
    .await
    .unwrap();
    let ledger = PgLedger::new(a.clone());
    ledger.expire_deadlines(NOW).await.unwrap();
    assert_eq!(ready_sms(&a).await, vec![format!("ready:{stranded}")]);
    let states: Vec<(String, String)> =
        sqlx::query_as("SELECT inquiry_id, state FROM inquiries ORDER BY inquiry_id")
            .fetch_all(a.pool())
            .await
            .unwrap();
    assert_eq!(
        states,
        vec![
            (stranded.to_string(), "final".to_owned()),
            (waiting.to_string(), "open".to_owned())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_being_accepted_on_another_instance_is_not_accepted_again() {
    let Some((_db, a, b)) = two_instances().await else {
        return;
    };
    let (phone, code) = ([5u8; 32], [6u8; 32]);
    a.insert_code(&phone, "inquiry", &code, NOW, Duration::minutes(5))
        .await
        .unwrap();
    // Instance B, accepting the code: the row is locked and marked used, not committed yet.
    let mut other = b.pool().begin().await.unwrap();
    sqlx::query("SELECT otp_id FROM otps WHERE phone_index = $1 FOR UPDATE")
        .bind(phone.as_slice())
        .fetch_one(&mut *other)
        .await
        .unwrap();
    sqlx::query("UPDATE otps SET used_at = $1 WHERE phone_index = $2")
        .bind(fmt_time(NOW))
        .bind(phone.as_slice())
        .execute(&mut *other)
        .await
        .unwrap();
    let store = a.clone();
    let checking = tokio::spawn(async move {
        store
            .check_code(&phone, "inquiry", &code, NOW, 5)
            .await
            .unwrap()
    });
    wait_until_blocked(&b, &checking).await;
    other.commit().await.unwrap();
    assert_eq!(checking.await.unwrap(), CodeCheck::NoCode, "single use");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_waits_for_another_instances_of_the_same_person_and_is_refused() {
    let Some((_db, a, b)) = two_instances().await else {
        return;
    };
    a.insert_account(&account(1)).await.unwrap();
    // Instance B, submitting for acc-1: it holds the account's lock and has inserted the
    // open inquiry, not committed yet.
    let mut other = b.pool().begin().await.unwrap();
    sqlx::query("SELECT 1 FROM accounts WHERE account_id = 'acc-1' FOR UPDATE")
        .fetch_one(&mut *other)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO inquiries (inquiry_id, account_id, state, banks, subject_sealed, user_public_key, \
         key_generation, consent_version, consent_hash, consent_lang, created_at, deadline) \
         VALUES ('other', 'acc-1', 'open', '[]', NULL, $1, 0, 'v1', 'hash', 'zh', $2, $2)",
    )
    .bind(vec![7u8; 32])
    .bind(fmt_time(NOW))
    .execute(&mut *other)
    .await
    .unwrap();
    let (inquiry, guard) = submission(1);
    let store = a.clone();
    let submitting = tokio::spawn(async move { store.submit(&inquiry, &guard).await.unwrap() });
    wait_until_blocked(&b, &submitting).await;
    other.commit().await.unwrap();
    assert_eq!(
        submitting.await.unwrap(),
        Submitted::InFlight {
            inquiry_id: "other".into()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_see_each_other_until_one_leaves_or_its_heartbeat_ages() {
    let Some((_db, a, b)) = two_instances().await else {
        return;
    };
    let (la, lb) = (PgLedger::new(a), PgLedger::new(b));
    let ttl = Duration::seconds(10);
    assert_eq!(la.heartbeat("hub-a", NOW, ttl).await.unwrap(), ["hub-a"]);
    assert_eq!(
        lb.heartbeat("hub-b", NOW, ttl).await.unwrap(),
        ["hub-a", "hub-b"]
    );
    // B goes on beating; A is silent for longer than the TTL, then is forgotten.
    let later = NOW + Duration::seconds(11);
    assert_eq!(lb.heartbeat("hub-b", later, ttl).await.unwrap(), ["hub-b"]);
    // A comes back; then B leaves on its way out.
    assert_eq!(
        la.heartbeat("hub-a", later, ttl).await.unwrap(),
        ["hub-a", "hub-b"]
    );
    lb.leave("hub-b").await.unwrap();
    assert_eq!(la.heartbeat("hub-a", later, ttl).await.unwrap(), ["hub-a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_takes_the_due_legs_first_then_expired_leases_within_its_limit() {
    let Some((_db, a, b)) = two_instances().await else {
        return;
    };
    a.insert_account(&account(1)).await.unwrap();
    let icbc = || BankClaim {
        bank: BankCode::parse("ICBC").unwrap(),
        limit: 2,
    };
    let lease = Duration::seconds(30);
    let (first, second) = (
        open_inquiry(&a, 0, &["ICBC"]).await,
        open_inquiry(&a, 1, &["ICBC"]).await,
    );
    let crashed = PgLedger::new(a.clone());
    let taken = crashed
        .claim_due("crashed", NOW, lease, &[icbc()])
        .await
        .unwrap();
    assert_eq!(taken.len(), 2);
    // Two more come due; the first two's lease then runs out (their instance died).
    let (third, fourth) = (
        open_inquiry(&a, 2, &["ICBC"]).await,
        open_inquiry(&a, 3, &["ICBC"]).await,
    );
    let later = NOW + lease + Duration::seconds(1);
    let survivor = PgLedger::new(b.clone());
    let ids = |legs: &[ClaimedLeg]| -> HashSet<InquiryId> {
        legs.iter().map(|l| l.key.inquiry_id).collect()
    };
    let limit = BankClaim { limit: 3, ..icbc() };
    let claimed = survivor
        .claim_due("survivor", later, lease, std::slice::from_ref(&limit))
        .await
        .unwrap();
    assert_eq!(
        claimed.len(),
        3,
        "the limit holds across due legs and expired leases"
    );
    let got = ids(&claimed);
    assert!(
        got.contains(&third) && got.contains(&fourth),
        "the due legs first: {got:?}"
    );
    let lapsed: Vec<_> = claimed
        .iter()
        .filter(|l| l.key.inquiry_id == first || l.key.inquiry_id == second)
        .collect();
    assert_eq!(lapsed.len(), 1, "then one expired lease");
    assert_eq!(lapsed[0].attempt, 2, "asked again as a new attempt");
    let rest = survivor
        .claim_due("survivor", later, lease, std::slice::from_ref(&limit))
        .await
        .unwrap();
    assert_eq!(rest.len(), 1, "the other expired lease");
    assert!(got.is_disjoint(&ids(&rest)));
    assert!(
        survivor
            .claim_due("survivor", later, lease, &[limit])
            .await
            .unwrap()
            .is_empty()
    );
}
