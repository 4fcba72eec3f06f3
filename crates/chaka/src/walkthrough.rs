//! `chaka demo --once`: one lookup played through the hub's public API, exactly as a client
//! would: log in, read the banks and the agreement, ask for the SMS code (read from the demo's
//! console gateway, as a person would read their phone), submit with an `Idempotency-Key`,
//! follow the per-bank progress, and open the report with the PIN.

use anyhow::{Context, bail};
use chaka_core::Phone;
use chaka_hub::sms::ConsoleGateway;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, String)],
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("calling {path}"))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    async fn expect(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, String)],
        want: u16,
    ) -> anyhow::Result<Value> {
        let (status, value) = self.call(method, path, body, headers).await?;
        if status != want {
            bail!(
                "{path} answered {status}: {}",
                value.get("code").and_then(Value::as_str).unwrap_or("?")
            );
        }
        Ok(value)
    }
}

/// Plays the lookup for the cardholder with `phone`.
pub async fn run(
    hub: SocketAddr,
    phone: &str,
    password: &str,
    pin: &str,
    console: &ConsoleGateway,
    wait: Duration,
) -> anyhow::Result<()> {
    use reqwest::Method;
    let mut api = Api {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        base: format!("http://{hub}/api/v1"),
        token: None,
    };
    println!("\n── 1. Log in as {}", Phone::parse(phone)?.masked());
    let session = api
        .expect(
            Method::POST,
            "/sessions",
            Some(json!({ "phone": phone, "password": password })),
            &[],
            201,
        )
        .await?;
    api.token = session
        .get("token")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (status, banks) = api.call(Method::GET, "/banks", None, &[]).await?;
    if status == 403 && banks.get("code").and_then(Value::as_str) == Some("region_not_open") {
        println!(
            "── 2. The service is not open in this cardholder's region yet (region_not_open): the pilot gating at work."
        );
        return Ok(());
    }
    if status != 200 {
        bail!("/banks answered {status}");
    }
    let codes: Vec<String> = banks
        .as_array()
        .or_else(|| banks.get("banks").and_then(Value::as_array))
        .map(|list| {
            list.iter()
                .filter_map(|b| b.get("code").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    println!(
        "── 2. {} banks are open to this region: {}",
        codes.len(),
        codes.join(" ")
    );
    let agreement = api
        .expect(Method::GET, "/agreement?lang=zh", None, &[], 200)
        .await?;
    let version = agreement
        .get("version")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    println!("── 3. Agreement {version} shown and accepted");
    let phone = Phone::parse(phone)?;
    let before = console.sent_to(&phone).len();
    api.expect(Method::POST, "/inquiries/code", None, &[], 202)
        .await?;
    let code = wait_for_code(console, &phone, before).await?;
    println!("── 4. SMS code received");
    let body =
        json!({ "banks": codes, "consent_version": version, "consent_lang": "zh", "code": code });
    let key = format!("demo-{}", std::process::id());
    let submitted = api
        .expect(
            Method::POST,
            "/inquiries",
            Some(body),
            &[("Idempotency-Key", key)],
            201,
        )
        .await?;
    let id = submitted
        .get("inquiry_id")
        .and_then(Value::as_str)
        .context("no inquiry id")?
        .to_owned();
    println!("── 5. Inquiry {id} submitted; following the banks:");
    let started = Instant::now();
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let status = api
            .expect(Method::GET, &format!("/inquiries/{id}"), None, &[], 200)
            .await?;
        for leg in status
            .get("progress")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let bank = leg
                .get("bank")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            let state = leg
                .get("state")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            if last.get(&bank) != Some(&state) {
                println!(
                    "     {:>6.1} s  {bank:<8} {state}",
                    started.elapsed().as_secs_f64()
                );
                last.insert(bank, state);
            }
        }
        let state = status
            .pointer("/inquiry/state")
            .or_else(|| status.get("state"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if state == "final" {
            break;
        }
        if started.elapsed() > wait {
            bail!("the report was not final after {} s", wait.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "── 6. Report ready after {:.1} s; opening it with the PIN",
        started.elapsed().as_secs_f64()
    );
    let report = api
        .expect(
            Method::POST,
            &format!("/inquiries/{id}/report"),
            Some(json!({ "pin": pin })),
            &[],
            200,
        )
        .await?;
    print_report(&report);
    Ok(())
}

async fn wait_for_code(
    console: &ConsoleGateway,
    phone: &Phone,
    before: usize,
) -> anyhow::Result<String> {
    for _ in 0..200 {
        if console.sent_to(phone).len() > before
            && let Some(code) = console.last_code_to(phone)
        {
            return Ok(code);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("no SMS code arrived within 10 s")
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn print_report(report: &Value) {
    println!(
        "\n===== 查卡报告 · card report =====  (deleted {})",
        text(report, "expires_at")
    );
    for bank in report
        .get("banks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let outcome = match text(bank, "outcome") {
            "cards_found" => "cards found",
            "none" => "no card in your name",
            "no_answer" => "did not answer",
            "refused" => "refused",
            other => other,
        };
        println!(
            "\n{} {} — {outcome}",
            text(bank, "bank"),
            text(bank, "name_zh")
        );
        for card in bank
            .get("cards")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let unused = if card.get("long_unused").and_then(Value::as_bool) == Some(true) {
                "  long unused — consider closing it"
            } else {
                ""
            };
            println!(
                "    {:<24} {:<11} {:<13} opened {}  last active {:<7}{unused}",
                text(card, "masked"),
                text(card, "kind"),
                text(card, "status"),
                text(card, "opened"),
                card.get("last_active")
                    .and_then(Value::as_str)
                    .unwrap_or("never"),
            );
        }
        for u in bank
            .get("unlisted")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            println!(
                "    {} card(s) not listed: {} — {}",
                u.get("count").and_then(Value::as_u64).unwrap_or(0),
                text(u, "reason"),
                text(u, "advice_en")
            );
        }
    }
    if let Some(s) = report.get("summary") {
        let n = |k: &str| s.get(k).and_then(Value::as_u64).unwrap_or(0);
        println!(
            "\nIn all: {} card(s) listed ({} debit, {} credit), {} not listed, {} bank(s) without an answer.",
            n("cards"),
            n("debit"),
            n("credit"),
            n("unlisted"),
            n("banks_without_answer")
        );
    }
    println!("{}", text(report, "notice_zh"));
    println!("{}", text(report, "notice_en"));
}
