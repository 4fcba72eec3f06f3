//! The steps of a user, composed of the endpoint helpers: codes read from the phone,
//! registration, login, PIN, lookups, and the fan-out driven to a final report.

use super::{ApiResponse, Auth, BANKS, PASSWORD, PIN, Person, TestApp};
use chaka_core::Phone;
use serde_json::{Value, json};
use time::Duration;

impl TestApp {
    /// Delivers the SMS outbox once.
    pub async fn deliver_sms(&self) -> usize {
        self.notifier.tick().await
    }

    /// The latest code delivered to `phone`.
    pub async fn last_code_to(&self, phone: &str) -> String {
        self.deliver_sms().await;
        self.sms
            .last_code_to(&Phone::parse(phone).unwrap())
            .expect("a code was sent")
    }

    /// Messages of `template` delivered to `phone`.
    pub fn sms_to(&self, phone: &str, template: &str) -> usize {
        let phone = Phone::parse(phone).unwrap();
        self.sms
            .sent_to(&phone)
            .iter()
            .filter(|s| s.template == template)
            .count()
    }

    /// Waits out the resend interval, asks for a code and reads it from the phone.
    pub async fn code(
        &self,
        auth: Auth<'_>,
        purpose: &str,
        phone: &str,
        send_phone: bool,
    ) -> String {
        self.advance(Duration::seconds(61));
        let body = if send_phone {
            json!({ "purpose": purpose, "phone": phone })
        } else {
            json!({ "purpose": purpose })
        };
        self.post_code(auth, body).await.assert_status(202);
        self.last_code_to(phone).await
    }

    /// The registration body of `p` with `code`.
    pub fn registration(p: &Person, code: &str) -> Value {
        json!({ "name": p.name, "id_number": p.id_number, "phone": p.phone, "code": code, "password": PASSWORD, "lang": "zh" })
    }

    /// Registers `p` (code, then account).
    pub async fn register(&self, p: &Person) -> ApiResponse {
        let code = self.code(Auth::None, "register", &p.phone, true).await;
        self.post_account(Self::registration(p, &code)).await
    }

    /// Logs in; returns the token.
    pub async fn login(&self, phone: &str) -> String {
        let response = self.post_session(phone, PASSWORD).await;
        response.assert_status(201);
        response.body["token"].as_str().unwrap().to_owned()
    }

    /// Registers and logs in `p`; returns the token.
    pub async fn signed_up(&self, p: &Person) -> String {
        self.register(p).await.assert_status(201);
        self.login(&p.phone).await
    }

    /// Registers, logs in and sets the PIN; returns the token.
    pub async fn ready(&self, p: &Person) -> String {
        let token = self.signed_up(p).await;
        self.post_pin(&token, PIN).await.assert_status(204);
        token
    }

    /// A submission body with the current agreement.
    pub fn submission(banks: &[&str], code: &str) -> Value {
        json!({ "banks": banks, "consent_version": chaka_hub::agreement::VERSION, "consent_lang": "zh", "code": code })
    }

    /// Asks for the inquiry code and reads it.
    pub async fn inquiry_code(&self, token: &str, phone: &str) -> String {
        self.advance(Duration::seconds(61));
        self.post_inquiry_code(token).await.assert_status(202);
        self.last_code_to(phone).await
    }

    /// Asks for a code and submits a lookup at `banks` under a fresh key.
    pub async fn lookup(&self, token: &str, phone: &str, banks: &[&str]) -> ApiResponse {
        let code = self.inquiry_code(token, phone).await;
        let key = uuid::Uuid::now_v7().to_string();
        self.post_inquiry(token, Some(&key), Self::submission(banks, &code))
            .await
    }

    /// Runs the fan-out until nothing is due, then delivers the SMS outbox.
    pub async fn fan_out(&self) {
        for _ in 0..5 {
            let report = self.fanout.tick(self.now()).await.unwrap();
            if report.claimed == 0 && report.expired == 0 {
                break;
            }
        }
        self.deliver_sms().await;
    }

    /// A final report of `p` at every bank: returns (token, inquiry id).
    pub async fn final_report(&self, p: &Person) -> (String, String) {
        let token = self.ready(p).await;
        let submitted = self.lookup(&token, &p.phone, BANKS).await;
        submitted.assert_status(201);
        self.fan_out().await;
        let id = submitted.body["inquiry_id"].as_str().unwrap().to_owned();
        assert_eq!(
            self.get_inquiry(&token, &id).await.body["inquiry"]["state"],
            "final"
        );
        (token, id)
    }

    /// Rows of a table (for "nothing changed" checks).
    pub async fn count(&self, table: &'static str) -> i64 {
        self.db
            .count(&format!("SELECT COUNT(*) FROM {table}"))
            .await
    }
}
