//! Crashes at the worst moments: the real binary is killed with SIGKILL while a bank's answer
//! is in flight (answered but not stored) and again after the report became final but before
//! its SMS was sent; after each restart the hub carries on from the database, and in the end
//! there is exactly one report and exactly one "report ready" SMS.

use crate::process::{Process, ask, call, demo_command, login};
use serde_json::json;
use std::time::Duration;

const PHONE: &str = "13788000007"; // demo person 6
const READY_SMS: &str = "报告已生成";

/// `chaka demo` on `data`, up.
fn start_demo(data: &std::path::Path, port: u16, failpoint: Option<&str>) -> Process {
    Process::start(demo_command(data, port, failpoint), "The hub is up")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_fanout_and_before_the_sms_the_hub_still_delivers_one_report_and_one_sms() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let http = reqwest::Client::new();
    let mut outputs = Vec::new();

    // 1. Submit, then die right after a bank answered, before the answer is stored. (The
    // restarts below take the same port back, as a restarted hub would.)
    let (demo, port) = Process::start_on_free_port(
        |port| demo_command(&data, port, Some("fanout:after_send")),
        "The hub is up",
    );
    let api = format!("http://127.0.0.1:{port}/api/v1");
    let inquiry_id = ask(&http, &api, &demo, PHONE).await;
    demo.wait_for("FAILPOINT fanout:after_send", Duration::from_secs(30));
    outputs.push(demo.kill());

    // 2. Restart; the legs are taken over once their lease expires; die after the report is
    //    final, before its SMS goes out.
    let demo = start_demo(&data, port, Some("notify:before_ready_sms"));
    demo.wait_for("FAILPOINT notify:before_ready_sms", Duration::from_secs(60));
    outputs.push(demo.kill());

    // 3. Restart without crash points: the SMS goes out once; the report opens.
    let demo = start_demo(&data, port, None);
    demo.wait_for(READY_SMS, Duration::from_secs(30));
    let token = login(&http, &api, PHONE).await;
    let (status, list) = call(
        &http,
        reqwest::Method::GET,
        format!("{api}/inquiries"),
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let list = list
        .as_array()
        .or_else(|| list["inquiries"].as_array())
        .cloned()
        .unwrap_or_default();
    assert_eq!(list.len(), 1, "exactly one inquiry: {list:?}");
    let pin = demo
        .text()
        .lines()
        .find(|l| l.contains("#6 "))
        .and_then(|l| l.split("PIN ").nth(1))
        .map(|rest| rest.chars().take(6).collect::<String>())
        .unwrap();
    let (status, report) = call(
        &http,
        reqwest::Method::POST,
        format!("{api}/inquiries/{inquiry_id}/report"),
        Some(&token),
        Some(json!({ "pin": pin })),
        None,
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert!(report["summary"]["cards"].as_u64().unwrap() > 0, "{report}");
    // Let any duplicate show itself before counting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    outputs.push(demo.kill());
    let all = outputs.concat();
    assert_eq!(
        all.matches(READY_SMS).count(),
        1,
        "exactly one ready SMS:\n{all}"
    );
    assert!(!outputs[0].contains(READY_SMS) && !outputs[1].contains(READY_SMS));

    // The database agrees: one report, one ready message, sent.
    let url = format!("sqlite://{}?mode=ro", data.join("hub.sqlite").display());
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT idempotency_key, state FROM outbox WHERE template = 'report_ready'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        rows,
        vec![(format!("ready:{inquiry_id}"), "sent".to_owned())]
    );
    let (inquiries,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM inquiries")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(inquiries, 1);
}
