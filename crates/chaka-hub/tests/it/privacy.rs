//! Privacy as a tested feature: a whole lookup (registration, PIN, submission, fan-out, a
//! wrong and a right PIN, the opened report) with sentinel values — the person's ID number,
//! phone, name, PIN and full card numbers — that must appear nowhere in the database (the SQLite
//! file and its WAL, or every row of the PostgreSQL database), or any log line; the ID number,
//! name and phone are stored only sealed.

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
    let mut files = vec![("logs".to_owned(), logs.into_bytes())];
    files.extend(app.db.contents().await);
    assert!(files.len() >= 2, "the database file is there");
    for (file, bytes) in &files {
        for (what, value) in &sentinels {
            // As bytes, and as the hex a PostgreSQL dump shows byte columns in.
            for form in [value.clone(), hex::encode(value)] {
                let found = bytes.windows(form.len()).any(|w| w == form.as_bytes());
                assert!(!found, "the {what} appears in clear in {file}");
            }
        }
    }
    // They are stored, sealed: the account row holds ciphertext of the right size.
    let sealed: Vec<u8> = with_pool!(app.db, |pool, _legs| sqlx::query_scalar(
        "SELECT id_sealed FROM accounts"
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert!(
        sealed.len() >= 18 + 24 + 16,
        "the ID number is stored sealed"
    );
}
