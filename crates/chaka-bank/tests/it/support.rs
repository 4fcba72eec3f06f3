//! Test kit: a card store with hand-made people, a bank node on port 0 with a movable clock,
//! the hub's client, raw signed requests, and a log capture for the privacy checks.

use chaka_bank::node::{AnswerMode, BankNode, FaultConfig, NodeSettings};
use chaka_bank::store::CardStore;
use chaka_bank::store::{NewCard, NewHolder, StoreWriter};
use chaka_core::{
    BankCode, CardKind, CardNumber, CardStatus, Clock, IdNumber, InquiryId, ManualClock, Phone,
    YearMonth, luhn_check_digit,
};
use chaka_hub::banks::{BankStatus, HubBank, HubBankKey, HubBanks};
use chaka_hub::connector::{Connector, ConnectorError, ConnectorSettings, Delivery};
use chaka_protocol::keys::{KeyId, KeySet, KnownKey, RecipientKeyPair, SigningKeyPair};
use chaka_protocol::limits::Limits;
use chaka_protocol::message::Heartbeat;
use chaka_protocol::message::{Inquiry, InquiryBatch, Subject};
use chaka_protocol::signature::Signer;
use chaka_protocol::suite::Suite;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use time::OffsetDateTime;
use time::macros::{date, datetime};

pub const START: OffsetDateTime = datetime!(2026-11-28 10:00 UTC);
pub const BANK: &str = "ICBC";

/// A person planted in the test store. The values double as privacy sentinels.
pub struct Person {
    pub name: &'static str,
    pub id_number: &'static str,
    pub phone: &'static str,
    pub old_phone: &'static str,
    pub pans: Vec<CardNumber>,
}

pub fn pan(body: &str) -> CardNumber {
    CardNumber::parse(&format!("{body}{}", luhn_check_digit(body).unwrap())).unwrap()
}

fn id(division: &str, birth: time::Date, seq: u16) -> &'static str {
    Box::leak(
        IdNumber::compose(division, birth, seq)
            .unwrap()
            .as_str()
            .to_owned()
            .into_boxed_str(),
    )
}

/// Li Mei: six cards, one per rule. Wang Qiang: an expired ID document.
pub fn people() -> (Person, Person) {
    let li = Person {
        name: "李梅",
        id_number: id("310104", date!(1988 - 06 - 15), 482),
        phone: "13911112222",
        old_phone: "13633334444",
        pans: (1..=6)
            .map(|i| pan(&format!("62220231234567{i:03}1")))
            .collect(),
    };
    let wang = Person {
        name: "王强",
        id_number: id("530102", date!(1975 - 01 - 09), 117),
        phone: "15855556666",
        old_phone: "15855556666",
        pans: (1..=2)
            .map(|i| pan(&format!("62220239876543{i:03}1")))
            .collect(),
    };
    (li, wang)
}

pub async fn write_store(path: &std::path::Path) {
    let (li, wang) = people();
    let bank = BankCode::parse(BANK).unwrap();
    let mut w = StoreWriter::create(path, &bank, &[], START.date())
        .await
        .unwrap();
    let li_id = IdNumber::parse(li.id_number).unwrap();
    let wang_id = IdNumber::parse(wang.id_number).unwrap();
    let holders = [
        NewHolder {
            holder_id: 1,
            id_number: &li_id,
            name: li.name,
            id_doc_expires: date!(2035 - 01 - 01),
        },
        NewHolder {
            holder_id: 2,
            id_number: &wang_id,
            name: wang.name,
            id_doc_expires: date!(2026 - 11 - 01),
        },
    ];
    let li_phone = Phone::parse(li.phone).unwrap();
    let li_old = Phone::parse(li.old_phone).unwrap();
    let wang_phone = Phone::parse(wang.phone).unwrap();
    let ym = |y, m| YearMonth::new(y, m).unwrap();
    let card = |holder_id, pan, kind, status, phone, cnp| NewCard {
        holder_id,
        pan,
        kind,
        status,
        reserved_phone: phone,
        cnp_enabled: cnp,
        opened: ym(2019, 3),
        last_active: Some(ym(2026, 10)),
        product: "牡丹灵通卡",
    };
    let cards = [
        card(
            1,
            &li.pans[0],
            CardKind::Debit,
            CardStatus::Normal,
            Some(&li_phone),
            true,
        ),
        card(
            1,
            &li.pans[1],
            CardKind::Credit,
            CardStatus::Dormant,
            Some(&li_phone),
            true,
        ),
        card(
            1,
            &li.pans[2],
            CardKind::Debit,
            CardStatus::Normal,
            None,
            true,
        ),
        card(
            1,
            &li.pans[3],
            CardKind::Debit,
            CardStatus::Normal,
            Some(&li_old),
            true,
        ),
        card(
            1,
            &li.pans[4],
            CardKind::Credit,
            CardStatus::Normal,
            Some(&li_phone),
            false,
        ),
        card(
            1,
            &li.pans[5],
            CardKind::Debit,
            CardStatus::Closed,
            Some(&li_phone),
            true,
        ),
        card(
            2,
            &wang.pans[0],
            CardKind::Debit,
            CardStatus::Normal,
            Some(&wang_phone),
            true,
        ),
        card(
            2,
            &wang.pans[1],
            CardKind::Credit,
            CardStatus::Frozen,
            Some(&wang_phone),
            true,
        ),
    ];
    w.append(&holders, &cards).await.unwrap();
    w.finish().await.unwrap();
}

/// Where a bank node listens.
#[derive(Debug, Clone)]
pub struct BankEndpoint {
    pub bank: BankCode,
    pub base_url: reqwest::Url,
}

/// The hub's connector, addressed by endpoint as the tests like it.
#[derive(Clone)]
pub struct Client(Connector);

impl Client {
    pub async fn send(
        &self,
        to: &BankEndpoint,
        batch: &InquiryBatch,
    ) -> Result<Delivery, ConnectorError> {
        self.0.send(&to.bank, batch).await
    }

    pub async fn heartbeat(&self, to: &BankEndpoint) -> Result<Heartbeat, ConnectorError> {
        self.0.heartbeat(&to.bank).await
    }
}

/// A running node and everything a test needs to talk to it.
pub struct TestBank {
    pub node: BankNode,
    pub endpoint: BankEndpoint,
    pub client: Client,
    pub hub_signer: Signer,
    pub clock: ManualClock,
    pub http: reqwest::Client,
    pub bank_keys: KeySet,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for TestBank {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub struct Options {
    pub mode: AnswerMode,
    pub faults: FaultConfig,
    pub client_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            mode: AnswerMode::Immediate,
            faults: FaultConfig::default(),
            client_timeout: Duration::from_secs(10),
        }
    }
}

impl TestBank {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        capture_logs();
        let dir = tempfile::tempdir().unwrap();
        let store_path = dir.path().join("ICBC.sqlite");
        write_store(&store_path).await;
        let clock = ManualClock::new(START);
        let bank = BankCode::parse(BANK).unwrap();
        let hub_key = SigningKeyPair::generate();
        let hub_key_id = KeyId::parse("hub-test-1").unwrap();
        let bank_key = SigningKeyPair::generate();
        let bank_key_id = KeyId::parse("icbc-test-1").unwrap();
        let settings = NodeSettings {
            bank: bank.clone(),
            store: CardStore::open(&store_path).await.unwrap(),
            key_id: bank_key_id.clone(),
            signing_key: bank_key.clone(),
            trusted: KeySet::new()
                .with(KnownKey::new(hub_key_id.clone(), hub_key.public_key()).owned_by("hub")),
            answer_mode: options.mode,
            callback_delay: Duration::ZERO,
            faults: FaultConfig {
                seed: Some(1),
                ..options.faults
            },
            limits: Limits::default(),
            clock: Arc::new(clock.clone()),
        };
        let node = BankNode::new(settings).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = node.clone();
        tokio::spawn(async move {
            serving
                .serve(listener, async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        let bank_keys = KeySet::new()
            .with(KnownKey::new(bank_key_id.clone(), bank_key.public_key()).owned_by(BANK));
        let base_url: reqwest::Url = format!("http://{address}").parse().unwrap();
        let registry = HubBanks::from_banks(vec![HubBank {
            code: bank.clone(),
            name_zh: "中国工商银行".into(),
            name_en: "ICBC".into(),
            endpoint: base_url.clone(),
            status: BankStatus::Pilot,
            regions: Vec::new(),
            keys: vec![HubBankKey {
                key_id: bank_key_id,
                public_key: bank_key.public_key(),
                not_after: None,
            }],
        }]);
        let settings = ConnectorSettings {
            timeout: options.client_timeout,
            ..ConnectorSettings::default()
        };
        let client = Client(
            Connector::new(
                hub_key_id.clone(),
                hub_key.clone(),
                &registry,
                Arc::new(clock.clone()),
                &settings,
            )
            .unwrap(),
        );
        Self {
            node,
            endpoint: BankEndpoint { bank, base_url },
            client,
            hub_signer: Signer::new(hub_key_id, hub_key),
            clock,
            http: reqwest::Client::new(),
            bank_keys,
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// The bank's public keys, as the hub knows them.
    pub fn client_bank_keys(&self) -> KeySet {
        self.bank_keys.clone()
    }

    /// Sends raw bytes, signed by `signer`, to the inquiry endpoint.
    pub async fn post_raw(&self, signer: &Signer, body: Vec<u8>) -> (u16, serde_json::Value) {
        let headers = signer
            .sign_request(
                &http::Method::POST,
                "/chaka/v1/inquiries",
                Some("application/json"),
                &body,
                self.clock.now(),
            )
            .unwrap();
        self.post_with_headers(headers, body).await
    }

    pub async fn post_with_headers(
        &self,
        headers: http::HeaderMap,
        body: Vec<u8>,
    ) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .post(self.endpoint.base_url.join("/chaka/v1/inquiries").unwrap())
            .headers(headers)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = resp.bytes().await.unwrap();
        if status >= 400 {
            assert_eq!(ct.as_deref(), Some("application/problem+json"), "{status}");
        }
        (
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        )
    }
}

/// An inquiry for `person`, with a fresh user key pair.
pub fn inquiry_for(person: &Person, now: OffsetDateTime) -> (Inquiry, RecipientKeyPair) {
    inquiry_as(person.name, person.id_number, person.phone, now)
}

pub fn inquiry_as(
    name: &str,
    id_number: &str,
    phone: &str,
    now: OffsetDateTime,
) -> (Inquiry, RecipientKeyPair) {
    let keys = RecipientKeyPair::generate();
    let inquiry = Inquiry {
        inquiry_id: InquiryId::generate(now),
        bank: BankCode::parse(BANK).unwrap(),
        suite: Suite::HpkeX25519Sha256ChaCha20Poly1305,
        subject: Subject {
            name: name.to_owned(),
            id_number: IdNumber::parse(id_number).unwrap(),
            phone: Phone::parse(phone).unwrap(),
        },
        recipient_key: keys.public_key(),
        deadline: now + time::Duration::hours(24),
        callback_url: None,
    };
    (inquiry, keys)
}

pub fn batch(inquiries: Vec<Inquiry>) -> InquiryBatch {
    InquiryBatch::new(inquiries)
}

/// Everything any chaka crate logged during this test binary's run.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.get_or_init(Default::default).lock().unwrap()).into_owned()
}

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs, once, a subscriber that records every event at TRACE level.
pub fn capture_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let buffer = LOGS.get_or_init(Default::default).clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Capture(buffer.clone()))
            .try_init();
    });
}
