//! Test kit for the fan-out: real bank nodes on port 0 (optionally behind a throttling switch
//! or down), a fresh migrated hub database (SQLite, or PostgreSQL when the run names a server:
//! see [`TestDatabase`]), the ledger, the worker, the callback endpoint, and helpers to submit
//! inquiries and forge signed callbacks as a bank.

use crate::kit::{TestDatabase, with_pool};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chaka_bank::node::{AnswerMode, BankNode, FaultConfig, NodeSettings};
use chaka_bank::store::{CardStore, NewCard, NewHolder, StoreWriter};
use chaka_core::{
    BankCode, CardKind, CardNumber, CardStatus, Clock, IdNumber, InquiryId, ManualClock, Phone,
    YearMonth, luhn_check_digit,
};
use chaka_hub::banks::HubBanks;
use chaka_hub::connector::{Connector, ConnectorSettings};
use chaka_hub::fanout::callbacks::{CALLBACKS_PATH, CallbackState, callbacks_router};
use chaka_hub::fanout::{Fanout, FanoutConfig, subject_from_json};
use chaka_hub::store::ledger::{LedgerStore, LegKey, LegRecord, LegState};
use chaka_protocol::keys::{KeyId, KeySet, KnownKey, RecipientKeyPair, SigningKeyPair};
use chaka_protocol::limits::Limits;
use chaka_protocol::message::{AnswerBatch, CardList};
use chaka_protocol::nonce::MemoryNonceStore;
use chaka_protocol::seal::SealedCardList;
use chaka_protocol::signature::{Signer, Verifier};
use chaka_protocol::suite::Suite;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration as StdDuration;
use time::macros::{date, datetime};
use time::{Duration, OffsetDateTime};

pub const START: OffsetDateTime = datetime!(2026-11-28 10:00 UTC);
pub const NAME: &str = "李梅";
pub const PHONE: &str = "13911112222";

pub fn id_number() -> IdNumber {
    IdNumber::compose("310104", date!(1988 - 06 - 15), 482).unwrap()
}

fn pan(body: &str) -> CardNumber {
    CardNumber::parse(&format!("{body}{}", luhn_check_digit(body).unwrap())).unwrap()
}

/// How a test bank behaves.
#[derive(Clone)]
pub struct BankSpec {
    pub code: &'static str,
    pub mode: AnswerMode,
    pub faults: FaultConfig,
    /// Not listening at all.
    pub down: bool,
    /// While set, every request is answered `429` with `Retry-After: 60` before the node.
    pub throttle: Option<Arc<AtomicBool>>,
    /// Delay before a callback (real time).
    pub callback_delay: StdDuration,
}

impl BankSpec {
    pub fn new(code: &'static str) -> Self {
        Self {
            code,
            mode: AnswerMode::Immediate,
            faults: FaultConfig::default(),
            down: false,
            throttle: None,
            callback_delay: StdDuration::ZERO,
        }
    }
}

pub struct TestBank {
    pub code: BankCode,
    pub node: Option<BankNode>,
    pub signer: Signer,
    pub address: SocketAddr,
    /// Requests that reached the bank's address (including throttled ones).
    pub hits: Arc<AtomicU64>,
    _dir: tempfile::TempDir,
}

impl TestBank {
    pub fn requests(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn write_store(path: &std::path::Path, bank: &BankCode) {
    let mut w = StoreWriter::create(path, bank, &[], START.date())
        .await
        .unwrap();
    let id = id_number();
    let phone = Phone::parse(PHONE).unwrap();
    let pans = [pan("622202312345670011"), pan("622202312345670021")];
    let holders = [NewHolder {
        holder_id: 1,
        id_number: &id,
        name: NAME,
        id_doc_expires: date!(2035 - 01 - 01),
    }];
    let card = |pan, kind, phone| NewCard {
        holder_id: 1,
        pan,
        kind,
        status: CardStatus::Normal,
        reserved_phone: phone,
        cnp_enabled: true,
        opened: YearMonth::new(2019, 3).unwrap(),
        last_active: Some(YearMonth::new(2026, 10).unwrap()),
        product: "借记卡",
    };
    let cards = [
        card(&pans[0], CardKind::Debit, Some(&phone)),
        card(&pans[1], CardKind::Credit, None),
    ];
    w.append(&holders, &cards).await.unwrap();
    w.finish().await.unwrap();
}

async fn throttle(
    State((flag, hits)): State<(Option<Arc<AtomicBool>>, Arc<AtomicU64>)>,
    request: Request,
    next: Next,
) -> Response {
    hits.fetch_add(1, Ordering::SeqCst);
    if flag.is_some_and(|f| f.load(Ordering::SeqCst)) {
        return (
            http::StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "60"), ("content-type", "application/problem+json")],
            r#"{"type":"urn:chaka:problem:rate_limited","title":"Too Many Requests","status":429,"code":"rate_limited"}"#,
        )
            .into_response();
    }
    next.run(request).await
}

async fn start_bank(
    spec: &BankSpec,
    hub: (&KeyId, &SigningKeyPair),
    clock: &ManualClock,
) -> TestBank {
    let dir = tempfile::tempdir().unwrap();
    let code = BankCode::parse(spec.code).unwrap();
    let key = SigningKeyPair::generate();
    let key_id = KeyId::parse(&format!("{}-test-1", spec.code.to_lowercase())).unwrap();
    let signer = Signer::new(key_id.clone(), key.clone());
    let hits = Arc::new(AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    if spec.down {
        drop(listener);
        return TestBank {
            code,
            node: None,
            signer,
            address,
            hits,
            _dir: dir,
        };
    }
    let store_path = dir.path().join("cards.sqlite");
    write_store(&store_path, &code).await;
    let settings = NodeSettings {
        bank: code.clone(),
        store: CardStore::open(&store_path).await.unwrap(),
        key_id,
        signing_key: key,
        trusted: KeySet::new()
            .with(KnownKey::new(hub.0.clone(), hub.1.public_key()).owned_by("hub")),
        answer_mode: spec.mode,
        callback_delay: spec.callback_delay,
        faults: FaultConfig {
            seed: Some(7),
            ..spec.faults.clone()
        },
        limits: Limits::default(),
        clock: Arc::new(clock.clone()),
    };
    let node = BankNode::new(settings).unwrap();
    let router = node.router().layer(axum::middleware::from_fn_with_state(
        (spec.throttle.clone(), hits.clone()),
        throttle,
    ));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    TestBank {
        code,
        node: Some(node),
        signer,
        address,
        hits,
        _dir: dir,
    }
}

/// A hub database, its ledger and worker, and the banks it asks.
pub struct Hub {
    pub clock: ManualClock,
    pub db: TestDatabase,
    pub ledger: Arc<dyn LedgerStore>,
    pub banks: Vec<TestBank>,
    pub hub_banks: HubBanks,
    pub fanout: Fanout,
    pub hub_signer: Signer,
    pub callbacks: Option<SocketAddr>,
    pub user_keys: HashMap<InquiryId, RecipientKeyPair>,
    pub http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Hub {
    pub async fn start(specs: &[BankSpec]) -> Self {
        Self::start_with(specs, false, |_| {}).await
    }

    pub async fn start_with(
        specs: &[BankSpec],
        with_callbacks: bool,
        tune: impl FnOnce(&mut FanoutConfig),
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(START);
        let hub_key = SigningKeyPair::generate();
        let hub_key_id = KeyId::parse("hub-test-1").unwrap();
        let mut banks = Vec::new();
        for spec in specs {
            banks.push(start_bank(spec, (&hub_key_id, &hub_key), &clock).await);
        }
        let toml: String = banks
            .iter()
            .map(|b| {
                format!(
                    "[[bank]]\ncode = \"{}\"\nendpoint = \"http://{}\"\nstatus = \"open\"\n\
                     [[bank.keys]]\nkey_id = \"{}\"\npublic_key = \"{}\"\n\n",
                    b.code,
                    b.address,
                    b.signer.key_id(),
                    b.signer.key().public_key().to_base64url()
                )
            })
            .collect();
        let hub_banks = HubBanks::from_toml(&toml).unwrap();
        let db = TestDatabase::create(dir.path()).await;
        let insert = db.sql(
            "INSERT INTO accounts (account_id, id_index, id_sealed, name_sealed, phone_index, phone_sealed, \
             region, password_hash, verified_at, lang, created_at) VALUES ('acc-1', ?, ?, ?, ?, ?, '31', \
             'phc', ?, 'zh', ?)",
        );
        with_pool!(db, |pool, _legs| {
            sqlx::query(insert)
                .bind(vec![1u8])
                .bind(vec![2u8])
                .bind(vec![3u8])
                .bind(vec![4u8])
                .bind(vec![5u8, 6])
                .bind(chaka_hub::store::fmt_time(START))
                .bind(chaka_hub::store::fmt_time(START))
                .execute(pool)
                .await
                .unwrap();
        });
        let ledger = db
            .backend
            .ledger(chaka_hub::store::ledger::DEFAULT_RETENTION);
        let shared_clock: chaka_core::SharedClock = Arc::new(clock.clone());
        let settings = ConnectorSettings {
            timeout: StdDuration::from_secs(5),
            ..Default::default()
        };
        let connector = Connector::new(
            hub_key_id.clone(),
            hub_key.clone(),
            &hub_banks,
            shared_clock.clone(),
            &settings,
        )
        .unwrap();
        let hub_signer = Signer::new(hub_key_id, hub_key);
        let mut callbacks = None;
        let mut config = FanoutConfig::new("test-worker");
        if with_callbacks {
            let state = CallbackState::new(
                ledger.clone(),
                &hub_banks,
                hub_signer.clone(),
                shared_clock.clone(),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            tokio::spawn(async move {
                let _ = axum::serve(listener, callbacks_router(state)).await;
            });
            config.callback_url =
                Some(format!("http://{address}{CALLBACKS_PATH}").parse().unwrap());
            callbacks = Some(address);
        }
        tune(&mut config);
        let fanout = Fanout::new(
            ledger.clone(),
            connector,
            &hub_banks,
            Arc::new(subject_from_json),
            shared_clock,
            config,
        );
        Self {
            clock,
            db,
            ledger,
            banks,
            hub_banks,
            fanout,
            hub_signer,
            callbacks,
            user_keys: HashMap::new(),
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn bank(&self, code: &str) -> &TestBank {
        self.banks.iter().find(|b| b.code.as_str() == code).unwrap()
    }

    /// Creates an open inquiry of Li Mei at `banks`, with its legs, as the submission does.
    pub async fn submit(&mut self, banks: &[&str]) -> InquiryId {
        self.submit_named(banks, NAME).await
    }

    /// [`Hub::submit`] with another subject name.
    pub async fn submit_named(&mut self, banks: &[&str], name: &str) -> InquiryId {
        let now = self.now();
        let id = InquiryId::generate(now);
        let user = RecipientKeyPair::generate();
        let subject =
            serde_json::json!({"name": name, "id_number": id_number().as_str(), "phone": PHONE});
        let deadline = now + Duration::hours(24);
        let insert = self.db.sql(
            "INSERT INTO inquiries (inquiry_id, account_id, state, banks, subject_sealed, user_public_key, \
             key_generation, consent_version, consent_hash, consent_lang, created_at, deadline) \
             VALUES (?, 'acc-1', 'open', ?, ?, ?, 0, 'v1', 'hash', 'zh', ?, ?)",
        );
        with_pool!(self.db, |pool, create_legs| {
            let mut tx = pool.begin().await.unwrap();
            sqlx::query(insert)
                .bind(id.to_string())
                .bind(serde_json::to_string(banks).unwrap())
                .bind(subject.to_string().into_bytes())
                .bind(user.public_key().as_bytes().to_vec())
                .bind(chaka_hub::store::fmt_time(now))
                .bind(chaka_hub::store::fmt_time(deadline))
                .execute(&mut *tx)
                .await
                .unwrap();
            create_legs(&mut tx, &id.to_string(), banks, deadline, now)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        });
        self.user_keys.insert(id, user);
        id
    }

    pub async fn leg(&self, id: InquiryId, bank: &str) -> LegRecord {
        let key = LegKey {
            inquiry_id: id,
            bank: BankCode::parse(bank).unwrap(),
        };
        self.ledger.leg(&key).await.unwrap().unwrap()
    }

    pub async fn state(&self, id: InquiryId, bank: &str) -> LegState {
        self.leg(id, bank).await.state
    }

    /// `(state, finalized_at, purge_after, subject erased)` of an inquiry.
    pub async fn inquiry(&self, id: InquiryId) -> (String, Option<String>, Option<String>, bool) {
        let sql = self.db.sql(
            "SELECT state, finalized_at, purge_after, subject_sealed IS NULL FROM inquiries WHERE inquiry_id = ?",
        );
        with_pool!(self.db, |pool, _legs| sqlx::query_as(sql)
            .bind(id.to_string())
            .fetch_one(pool)
            .await
            .unwrap())
    }

    /// The outbox rows of "report ready" messages: `(idempotency_key, template, params, lang, phone)`.
    pub async fn ready_sms(&self) -> Vec<(String, String, String, String, Vec<u8>)> {
        with_pool!(self.db, |pool, _legs| sqlx::query_as(
            "SELECT idempotency_key, template, params, lang, phone_sealed FROM outbox \
             WHERE idempotency_key LIKE 'ready:%' ORDER BY idempotency_key",
        )
        .fetch_all(pool)
        .await
        .unwrap())
    }

    pub async fn count(&self, sql: &'static str) -> i64 {
        self.db.count(sql).await
    }

    /// Opens the stored sealed answer of `bank` with the user's key.
    pub async fn open_answer(&self, id: InquiryId, bank: &str) -> CardList {
        let sql = self
            .db
            .sql("SELECT sealed FROM answers WHERE inquiry_id = ? AND bank = ?");
        let sealed: Vec<u8> = with_pool!(self.db, |pool, _legs| sqlx::query_scalar(sql)
            .bind(id.to_string())
            .bind(bank)
            .fetch_one(pool)
            .await
            .unwrap());
        let json: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
        let b64 = |k: &str| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(json[k].as_str().unwrap())
                .unwrap()
        };
        let sealed = SealedCardList {
            suite: Suite::parse(json["suite"].as_str().unwrap()).unwrap(),
            enc: b64("enc"),
            ciphertext: b64("ciphertext"),
        };
        let user = &self.user_keys[&id];
        CardList::open(
            &sealed,
            user.secret_key(),
            &id,
            &BankCode::parse(bank).unwrap(),
            &Limits::default(),
        )
        .unwrap()
    }

    /// POSTs `batch` to the hub's callback endpoint, signed as `bank` (or `signer`).
    pub async fn post_callback(
        &self,
        signer: &Signer,
        batch: &AnswerBatch,
    ) -> (u16, serde_json::Value) {
        let body = batch.to_json().unwrap();
        let headers = signer
            .sign_request(
                &http::Method::POST,
                CALLBACKS_PATH,
                Some("application/json"),
                &body,
                self.now(),
            )
            .unwrap();
        self.post_signed(headers, body).await
    }

    pub async fn post_signed(
        &self,
        headers: http::HeaderMap,
        body: Vec<u8>,
    ) -> (u16, serde_json::Value) {
        let address = self.callbacks.expect("started with callbacks");
        let response = self
            .http
            .post(format!("http://{address}{CALLBACKS_PATH}"))
            .headers(headers)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap();
        // Every answer of the hub is signed by the hub.
        let keys = KeySet::new().with(KnownKey::new(
            self.hub_signer.key_id().clone(),
            self.hub_signer.key().public_key(),
        ));
        Verifier::new(keys, Arc::new(MemoryNonceStore::default()))
            .verify_response(status, &headers, &body, self.now())
            .unwrap();
        (
            status.as_u16(),
            serde_json::from_slice(&body).unwrap_or_default(),
        )
    }

    /// Waits (real time, at most 10 s) until the leg is in `state`.
    pub async fn wait_for(&self, id: InquiryId, bank: &str, state: LegState) {
        for _ in 0..400 {
            if self.state(id, bank).await == state {
                return;
            }
            tokio::time::sleep(StdDuration::from_millis(25)).await;
        }
        panic!(
            "leg {bank} never reached {state:?}: {:?}",
            self.leg(id, bank).await
        );
    }
}
