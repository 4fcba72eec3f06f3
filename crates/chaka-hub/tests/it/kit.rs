//! Test kit for the API (zero-to-production style): `spawn_hub()` builds a real hub the way
//! production does, changing only what isolation needs: a fresh database (a SQLite file, or a
//! PostgreSQL database of its own when `CHAKA_TEST_DATABASE_URL` is set), fresh secrets
//! with fast KDF parameters, a manual clock, the sandbox identity registry and real bank nodes
//! (port 0) over one generated population shared by the whole test binary, a recording SMS
//! gateway, and the fan-out and notifier driven one iteration at a time by the test. The
//! router is served on 127.0.0.1:0; `TestApp` has one helper per endpoint.

use chaka_bank::node::{AnswerMode, BankNode, FaultConfig, NodeSettings};
use chaka_bank::store::CardStore;
use chaka_core::{BankCode, Clock, ManualClock, SharedClock};
use chaka_hub::banks::HubBanks;
use chaka_hub::config::HubConfig;
use chaka_hub::connector::{Connector, ConnectorSettings};
use chaka_hub::error::codes;
use chaka_hub::fanout::{Fanout, FanoutConfig, SubjectError, subject_from_json};
use chaka_hub::hub::Hub;
use chaka_hub::identity::SandboxVerifier;
use chaka_hub::notify::{Doorbell, Notifier};
use chaka_hub::sms::ConsoleGateway;
use chaka_hub::vault::{FieldPurpose, KdfParams, Secrets, Vault};
use chaka_protocol::keys::{KeyId, KeySet, KnownKey, SigningKeyPair};
use chaka_protocol::limits::Limits;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration as StdDuration;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

mod database;
mod population;
mod steps;

pub use database::TestDatabase;
pub(crate) use database::with_pool;
pub use population::{Person, person, population};

/// The clock's start: four weeks after the population's reference date.
pub const START: OffsetDateTime = datetime!(2026-11-28 02:00 UTC);
/// The banks with card stores and nodes: pilot banks where demo person 0 has cards.
pub const BANKS: &[&str] = &["ICBC", "ABC", "BOC", "CCB", "COMM", "CMB", "SPABANK"];
/// A bank in the hub's registry that serves only Yunnan (no node: never asked).
pub const YUNNAN_ONLY: &str = "YNRCC";
/// A password that passes the rules.
pub const PASSWORD: &str = "chaka-2026!";
/// A PIN that passes the rules for the demo people.
pub const PIN: &str = "902741";

/// What an API call answered.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl ApiResponse {
    /// The problem code (panics if this is not a problem).
    pub fn code(&self) -> &str {
        self.body["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not a problem: {self:?}"))
    }

    /// Asserts a refusal with this status and code.
    pub fn assert_problem(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "{:#}",
            self.body
        );
        self
    }

    /// Asserts this status.
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "{:#}", self.body);
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    Cookie(&'a str),
}

/// A running hub and everything a test needs to drive it.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: ManualClock,
    pub hub: Arc<Hub>,
    pub db: TestDatabase,
    pub fanout: Fanout,
    pub notifier: Notifier,
    pub sms: Arc<ConsoleGateway>,
    pub nodes: Vec<BankNode>,
    _dir: tempfile::TempDir,
}

/// A hub with the default rules.
pub async fn spawn_hub() -> TestApp {
    spawn_hub_with(|_| {}).await
}

async fn start_node(
    code: &str,
    store: PathBuf,
    hub_key: (&KeyId, &SigningKeyPair),
    clock: &SharedClock,
) -> (BankNode, String) {
    let key = SigningKeyPair::generate();
    let key_id = KeyId::parse(&format!("{}-test-1", code.to_lowercase())).unwrap();
    let settings = NodeSettings {
        bank: BankCode::parse(code).unwrap(),
        store: CardStore::open(&store).await.unwrap(),
        key_id: key_id.clone(),
        signing_key: key.clone(),
        trusted: KeySet::new()
            .with(KnownKey::new(hub_key.0.clone(), hub_key.1.public_key()).owned_by("hub")),
        answer_mode: AnswerMode::Immediate,
        callback_delay: StdDuration::ZERO,
        faults: FaultConfig::default(),
        limits: Limits::default(),
        clock: clock.clone(),
    };
    let node = BankNode::new(settings).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = node.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let entry = format!(
        "[[bank]]\ncode = \"{code}\"\nendpoint = \"http://{address}\"\nstatus = \"pilot\"\n\
         [[bank.keys]]\nkey_id = \"{key_id}\"\npublic_key = \"{}\"\n\n",
        key.public_key().to_base64url()
    );
    (node, entry)
}

/// A hub whose configuration `tune` adjusts.
pub async fn spawn_hub_with(tune: impl FnOnce(&mut HubConfig)) -> TestApp {
    let population = population();
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(START);
    let shared: SharedClock = Arc::new(clock.clone());
    let hub_key = SigningKeyPair::generate();
    let hub_key_id = KeyId::parse("hub-test-1").unwrap();

    // One node per bank, each over its own copy of the generated card store.
    let mut nodes = Vec::new();
    let mut registry = String::new();
    for code in BANKS {
        let copy = dir.path().join(format!("{code}.sqlite"));
        std::fs::copy(
            population.dir.join("banks").join(format!("{code}.sqlite")),
            &copy,
        )
        .unwrap();
        let (node, entry) = start_node(code, copy, (&hub_key_id, &hub_key), &shared).await;
        nodes.push(node);
        registry.push_str(&entry);
    }
    registry.push_str(&format!(
        "[[bank]]\ncode = \"{YUNNAN_ONLY}\"\nendpoint = \"http://127.0.0.1:9\"\nstatus = \"pilot\"\nregions = [\"53\"]\n\
         [[bank.keys]]\nkey_id = \"ynrcc-test-1\"\npublic_key = \"{}\"\n",
        SigningKeyPair::generate().public_key().to_base64url()
    ));
    let banks = Arc::new(HubBanks::from_toml(&registry).unwrap());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let db = TestDatabase::create(dir.path()).await;
    let mut config = HubConfig {
        public_url: format!("http://{address}"),
        database: db.location.clone(),
        ..HubConfig::default()
    };
    tune(&mut config);

    let store = db.backend.store();
    let vault = Arc::new(Vault::new(&Secrets::generate(), KdfParams::FAST_FOR_TESTS));
    let identity = Arc::new(
        SandboxVerifier::open(population.dir.join("citizens.sqlite"))
            .await
            .unwrap(),
    );
    let sms = Arc::new(ConsoleGateway::silent());
    let doorbell = Doorbell::default();
    let hub = Arc::new(
        Hub::new(
            config.clone(),
            store.clone(),
            vault.clone(),
            shared.clone(),
            identity,
            doorbell,
            banks.clone(),
        )
        .unwrap(),
    );
    let connector = Connector::new(
        hub_key_id,
        hub_key,
        &banks,
        shared.clone(),
        &ConnectorSettings::default(),
    )
    .unwrap();
    let opener_vault = vault.clone();
    let opener = move |sealed: &[u8]| {
        let bytes = opener_vault
            .open_field(FieldPurpose::Subject, sealed)
            .map_err(|e| SubjectError(e.to_string()))?;
        subject_from_json(&bytes)
    };
    let ledger = db.backend.ledger(config.rules.retention());
    let fanout = Fanout::new(
        ledger,
        connector,
        &banks,
        Arc::new(opener),
        shared.clone(),
        FanoutConfig::new("api-test"),
    );
    let notifier = Notifier::new(store.clone(), sms.clone(), vault, shared, "sms-test".into());

    let router = chaka_hub::api::router(hub.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    TestApp {
        base: format!("http://{address}"),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        clock,
        hub,
        db,
        fanout,
        notifier,
        sms,
        nodes,
        _dir: dir,
    }
}

impl TestApp {
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Sends a request; checks what every answer must be (`no-store`; a refusal is
    /// problem+json with a known code and its status).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<Value>,
    ) -> ApiResponse {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        request = match auth {
            Auth::None => request,
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::Cookie(token) => request.header("cookie", format!("chaka_session={token}")),
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    /// Sends a prepared request with the checks of [`TestApp::call`].
    pub async fn send(&self, request: reqwest::RequestBuilder) -> ApiResponse {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert_eq!(headers.get("cache-control").unwrap(), "no-store");
        if status >= 400 {
            assert_eq!(
                headers.get("content-type").unwrap(),
                "application/problem+json"
            );
            let code = body["code"].as_str().unwrap();
            let known = codes::ALL.iter().find(|(c, _, _)| *c == code);
            let (_, expected, _) = known.unwrap_or_else(|| panic!("unknown problem code {code}"));
            assert_eq!(expected.as_u16(), status, "{code}");
            assert_eq!(body["status"], status);
        }
        ApiResponse {
            status,
            headers,
            body,
        }
    }

    /// A raw body with a chosen content type.
    pub async fn raw(
        &self,
        path: &str,
        auth: Auth<'_>,
        content_type: &str,
        body: Vec<u8>,
    ) -> ApiResponse {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Auth::Bearer(token) = auth {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    // --- one helper per endpoint -------------------------------------------------------

    pub async fn post_code(&self, auth: Auth<'_>, body: Value) -> ApiResponse {
        self.call(Method::POST, "/api/v1/codes", auth, Some(body))
            .await
    }
    pub async fn post_account(&self, body: Value) -> ApiResponse {
        self.call(Method::POST, "/api/v1/accounts", Auth::None, Some(body))
            .await
    }
    pub async fn post_session(&self, phone: &str, password: &str) -> ApiResponse {
        let body = json!({ "phone": phone, "password": password });
        self.call(Method::POST, "/api/v1/sessions", Auth::None, Some(body))
            .await
    }
    pub async fn get_sessions(&self, auth: Auth<'_>) -> ApiResponse {
        self.call(Method::GET, "/api/v1/sessions", auth, None).await
    }
    pub async fn delete_session(&self, auth: Auth<'_>, session_id: &str) -> ApiResponse {
        self.call(
            Method::DELETE,
            &format!("/api/v1/sessions/{session_id}"),
            auth,
            None,
        )
        .await
    }
    pub async fn get_me(&self, auth: Auth<'_>) -> ApiResponse {
        self.call(Method::GET, "/api/v1/me", auth, None).await
    }
    pub async fn post_password(&self, token: &str, old: &str, new: &str) -> ApiResponse {
        let body = json!({ "old_password": old, "new_password": new });
        self.call(
            Method::POST,
            "/api/v1/me/password",
            Auth::Bearer(token),
            Some(body),
        )
        .await
    }
    pub async fn post_phone(&self, token: &str, body: Value) -> ApiResponse {
        self.call(
            Method::POST,
            "/api/v1/me/phone",
            Auth::Bearer(token),
            Some(body),
        )
        .await
    }
    pub async fn post_pin(&self, token: &str, pin: &str) -> ApiResponse {
        self.call(
            Method::POST,
            "/api/v1/me/pin",
            Auth::Bearer(token),
            Some(json!({ "pin": pin })),
        )
        .await
    }
    pub async fn put_pin(&self, token: &str, old: &str, new: &str) -> ApiResponse {
        let body = json!({ "old_pin": old, "new_pin": new });
        self.call(
            Method::PUT,
            "/api/v1/me/pin",
            Auth::Bearer(token),
            Some(body),
        )
        .await
    }
    pub async fn post_pin_reset(&self, token: &str, body: Value) -> ApiResponse {
        self.call(
            Method::POST,
            "/api/v1/me/pin/reset",
            Auth::Bearer(token),
            Some(body),
        )
        .await
    }
    pub async fn get_banks(&self, token: &str) -> ApiResponse {
        self.call(Method::GET, "/api/v1/banks", Auth::Bearer(token), None)
            .await
    }
    pub async fn get_agreement(&self, query: &str) -> ApiResponse {
        self.call(
            Method::GET,
            &format!("/api/v1/agreement{query}"),
            Auth::None,
            None,
        )
        .await
    }
    pub async fn post_inquiry_code(&self, token: &str) -> ApiResponse {
        self.call(
            Method::POST,
            "/api/v1/inquiries/code",
            Auth::Bearer(token),
            None,
        )
        .await
    }
    pub async fn post_inquiry(&self, token: &str, key: Option<&str>, body: Value) -> ApiResponse {
        let mut request = self
            .http
            .post(format!("{}/api/v1/inquiries", self.base))
            .bearer_auth(token)
            .json(&body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        self.send(request).await
    }
    pub async fn get_inquiries(&self, token: &str) -> ApiResponse {
        self.call(Method::GET, "/api/v1/inquiries", Auth::Bearer(token), None)
            .await
    }
    pub async fn get_inquiry(&self, token: &str, id: &str) -> ApiResponse {
        self.call(
            Method::GET,
            &format!("/api/v1/inquiries/{id}"),
            Auth::Bearer(token),
            None,
        )
        .await
    }
    pub async fn post_report(&self, token: &str, id: &str, pin: &str) -> ApiResponse {
        let path = format!("/api/v1/inquiries/{id}/report");
        self.call(
            Method::POST,
            &path,
            Auth::Bearer(token),
            Some(json!({ "pin": pin })),
        )
        .await
    }
    pub async fn get_audit(&self, token: &str) -> ApiResponse {
        self.call(Method::GET, "/api/v1/audit", Auth::Bearer(token), None)
            .await
    }
}
