//! Privacy as a tested feature: a whole lookup (registration, PIN, submission, fan-out, a
//! wrong and a right PIN, the opened report) with sentinel values — the person's ID number,
//! phone, name, PIN and full card numbers — that must appear nowhere in the database file, its
//! WAL, or any log line; the ID number, name and phone are stored only sealed.

use crate::kit::*;
use crate::logs::Capture;

#[tokio::test]
async fn no_id_number_phone_pin_or_card_number_is_stored_or_logged_in_clear() {
    // A current-thread runtime: the hub, its server and the bank nodes log through this.
    let (capture, _guard) = Capture::start();

    let app = spawn_hub().await;
    let p = person(0);
    let (token, id) = app.final_report(&p).await;
    app.post_report(&token, &id, "864209")
        .await
        .assert_problem(403, "wrong_pin");
    let report = app.post_report(&token, &id, PIN).await;
    report.assert_status(200);
    assert!(report.body["summary"]["cards"].as_u64().unwrap() > 0);

    let pans: Vec<String> = population()
        .cards
        .iter()
        .filter(|c| c.id_number == p.id_number)
        .map(|c| c.pan.clone())
        .collect();
    assert!(!pans.is_empty());
    let mut sentinels: Vec<(&str, String)> = vec![
        ("ID number", p.id_number.clone()),
        ("phone", p.phone.clone()),
        ("name", p.name.clone()),
        ("PIN", PIN.to_owned()),
        ("password", PASSWORD.to_owned()),
    ];
    for pan in &pans {
        sentinels.push(("card number", pan.clone()));
        sentinels.push(("card middle digits", pan[4..pan.len() - 4].to_owned()));
    }

    let logs = capture.text();
    assert!(logs.contains("inquiry submitted"), "the capture works");
    let database = app.hub.config.database.clone();
    let mut files = vec![("logs".to_owned(), logs.into_bytes())];
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", database.masked());
        if let Ok(bytes) = std::fs::read(&path) {
            files.push((path, bytes));
        }
    }
    assert!(files.len() >= 2, "the database file is there");
    for (file, bytes) in &files {
        for (what, value) in &sentinels {
            let found = bytes.windows(value.len()).any(|w| w == value.as_bytes());
            assert!(!found, "the {what} appears in clear in {file}");
        }
    }
    // They are stored, sealed: the account row holds ciphertext of the right size.
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT id_sealed FROM accounts")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert!(
        sealed.len() >= 18 + 24 + 16,
        "the ID number is stored sealed"
    );
}
