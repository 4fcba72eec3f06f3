//! Subcommands end to end: the demo's lookup, keys, and one-line errors with a non-zero exit.

use std::process::{Command, Output};

fn chaka(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chaka"))
        .args(args)
        .env("CHAKA_LOG", "warn")
        .output()
        .expect("the chaka binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A failed command says what is wrong in one line on stderr and exits non-zero.
fn assert_one_line_error(out: &Output, expected: &str) {
    assert!(!out.status.success(), "should fail");
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(lines[0].contains(expected), "{err}");
}

#[test]
fn demo_runs_a_lookup_through_the_hub_and_every_bank() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = chaka(&[
        "demo",
        "--once",
        "--quick",
        "--people",
        "300",
        "--data",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--banks-listen",
        "127.0.0.1:0",
        "--wait-secs",
        "120",
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("20 bank nodes are up"), "{stdout}");
    assert!(stdout.contains("The hub is up"), "{stdout}");
    assert!(stdout.contains("card report"), "{stdout}");
    assert!(
        !stdout.contains("did not answer"),
        "every bank answers in quick mode: {stdout}"
    );
    // Exactly one "report ready" SMS, and the lookup-requested notice.
    assert_eq!(stdout.matches("报告已生成").count(), 1, "{stdout}");
    // The demo person's own facts: from the population, shown masked only.
    let people: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("population/demo-people.json")).unwrap(),
    )
    .unwrap();
    let person = &people[0];
    let id = person["id_number"].as_str().unwrap();
    let phone = person["phone"].as_str().unwrap();
    // The ID number never shows; the phone shows only in the table of demo credentials, and
    // SMS lines mask it.
    assert!(!stdout.contains(id), "the ID number is never printed");
    assert_eq!(
        stdout.matches(phone).count(),
        1,
        "the phone only in the credentials table"
    );
    assert!(
        stdout.contains(&format!("[SMS → {}****{}]", &phone[..3], &phone[7..])),
        "{stdout}"
    );
    // The report shows the person's cards by their masked numbers, never a closed one.
    let cards = person["cards"].as_array().unwrap();
    let shown: Vec<&serde_json::Value> = cards
        .iter()
        .filter(|c| stdout.contains(c["pan"].as_str().unwrap()))
        .collect();
    assert!(!shown.is_empty(), "{stdout}");
    assert!(
        shown.len() < cards.len(),
        "some cards are only counted: {stdout}"
    );
    assert!(shown.iter().all(|c| c["status"] != "closed"));
    assert!(stdout.contains("not listed: closed"), "{stdout}");
    // Nothing personal in the database or its WAL but sealed: the ID number and phone never
    // appear in clear.
    for file in ["hub.sqlite", "hub.sqlite-wal"] {
        if let Ok(bytes) = std::fs::read(data.join(file)) {
            let haystack = String::from_utf8_lossy(&bytes);
            assert!(
                !haystack.contains(id) && !haystack.contains(phone),
                "{file} holds personal data in clear"
            );
        }
    }
    // A second start reuses the population, keys and accounts.
    let again = chaka(&[
        "demo",
        "--once",
        "--quick",
        "--data",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--banks-listen",
        "127.0.0.1:0",
        "--person",
        "4",
    ]);
    assert!(
        again.status.success(),
        "{}\n{}",
        text(&again.stdout),
        text(&again.stderr)
    );
    assert!(!text(&again.stdout).contains("First start"));
}

#[test]
fn keys_are_created_once_and_never_overwritten_silently() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys/hub.pem");
    let out = chaka(&[
        "keys",
        "ed25519",
        "--key-id",
        "hub-1",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(
        printed.contains("key_id = \"hub-1\"") && printed.contains("public_key = \""),
        "{printed}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let before = std::fs::read(&path).unwrap();
    let again = chaka(&[
        "keys",
        "ed25519",
        "--key-id",
        "hub-1",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert_one_line_error(&again, "exists");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let public = chaka(&["keys", "public", "--key", path.to_str().unwrap()]);
    assert!(printed.contains(text(&public.stdout).trim()));
    assert_one_line_error(
        &chaka(&["keys", "ed25519", "--key-id", "bad id!", "--out", "x.pem"]),
        "key-id",
    );
}

#[test]
fn bank_refuses_bad_configuration_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    assert_one_line_error(
        &chaka(&["bank", "--config", "/nonexistent/bank.toml"]),
        "cannot read",
    );
    assert_one_line_error(&chaka(&["bank"]), "without --config");
    let config = dir.path().join("bank.toml");
    std::fs::write(&config, "bank = \"ICBC\"\nstore = \"x.sqlite\"\nkey_id = \"k\"\nsigning_key = \"k.pem\"\nbogus = 1\n").unwrap();
    assert_one_line_error(
        &chaka(&["bank", "--config", config.to_str().unwrap()]),
        "bogus",
    );
    std::fs::write(
        &config,
        "bank = \"ICBC\"\nstore = \"missing.sqlite\"\nkey_id = \"k\"\nsigning_key = \"k.pem\"\n[[trusted_hub_keys]]\nkey_id = \"h\"\npublic_key = \"x\"\n",
    )
    .unwrap();
    assert_one_line_error(
        &chaka(&["bank", "--config", config.to_str().unwrap()]),
        "card store",
    );
}

#[test]
fn bench_validates_its_flags() {
    assert_one_line_error(
        &chaka(&[
            "bench",
            "bank",
            "--batch",
            "0",
            "--population",
            "/nonexistent",
        ]),
        "--batch",
    );
    assert_one_line_error(
        &chaka(&[
            "bench",
            "bank",
            "--batch",
            "65",
            "--population",
            "/nonexistent",
        ]),
        "--batch",
    );
    // `bench hub`: its database and instance flags are checked before any population is
    // generated (the population folder does not exist).
    let hub = |extra: &[&str]| {
        let mut args = vec!["bench", "hub", "--population", "/nonexistent"];
        args.extend_from_slice(extra);
        chaka(&args)
    };
    assert_one_line_error(&hub(&["--instances", "0"]), "--instances");
    assert_one_line_error(&hub(&["--instances", "2"]), "needs --database-url");
    assert_one_line_error(
        &hub(&["--database-url", "/tmp/hub.sqlite"]),
        "postgres:// or postgresql://",
    );
    // Nothing listens on port 1; the password is never repeated.
    let out = hub(&["--database-url", "postgres://bench:s3cret-pw@127.0.0.1:1/x"]);
    assert_one_line_error(&out, "cannot reach the PostgreSQL server");
    assert!(!text(&out.stderr).contains("s3cret-pw"));
    assert_one_line_error(
        &hub(&["--history", "1000", "--slow-bank"]),
        "--history and --slow-bank",
    );
    assert_one_line_error(
        &hub(&["--batch-wait-ms", "5000"]),
        "--batch-wait-ms: configuration: workers.batch_wait_ms must be 0 to 1000",
    );
}

#[test]
fn hub_config_prints_a_postgres_database_without_its_password() {
    let out = Command::new(env!("CARGO_BIN_EXE_chaka"))
        .args(["hub", "config"])
        .env("CHAKA_LOG", "warn")
        .env(
            "CHAKA_DATABASE",
            "postgres://chaka:hunter2-db@db.internal:5432/chaka",
        )
        .output()
        .expect("the chaka binary runs");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("database = \"postgres://chaka:****@db.internal:5432/chaka\""),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2-db"), "{stdout}");
}
