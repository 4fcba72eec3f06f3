//! Several hub instances on one PostgreSQL database, as real processes: `chaka demo` (bank
//! nodes, demo cardholders, hub A) and two `chaka hub` processes (B and C) on the demo's files,
//! each on its own port. Lookups are submitted to every instance; B is killed with SIGKILL right
//! after a bank answered it and before it stored the answer; C is stopped with SIGTERM at the
//! end. Every inquiry is answered once per bank, every report is final with exactly one "ready"
//! SMS, and nothing is left claimed. Skipped (with a line) without `CHAKA_TEST_DATABASE_URL`.

use crate::process::{Process, arm, ask, demo_command};
use chaka_hub::store::postgres::scratch::{ScratchDatabase, TEST_DATABASE_URL, test_server};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const READY_SMS: &str = "报告已生成";
/// The demo people who may ask (demo person 3 lives in a region that is not open).
const ASKERS: [usize; 6] = [0, 1, 2, 4, 5, 6];

/// `chaka hub` on the demo's files and `database`, listening on `port`. Banks call back at
/// `public_url`, the same for every instance (in production: the load balancer's): an inquiry
/// re-sent by another instance must be the same inquiry, or a bank refuses it as reused.
fn hub_command(
    data: &Path,
    port: u16,
    public_url: &str,
    database: &str,
    failpoint: Option<&str>,
) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chaka"));
    command
        .arg("hub")
        .env("CHAKA_LISTEN", format!("127.0.0.1:{port}"))
        .env("CHAKA_PUBLIC_URL", public_url)
        .env("CHAKA_DATABASE", database)
        .env("CHAKA_BANKS_FILE", data.join("banks.toml"))
        .env("CHAKA_SECRETS_FILE", data.join("keys/hub-secrets.toml"))
        .env("CHAKA_SIGNING_KEY", data.join("keys/hub.pem"))
        .env(
            "CHAKA_IDENTITY__CITIZENS",
            data.join("population/citizens.sqlite"),
        );
    arm(&mut command, failpoint);
    command
}

async fn count(pool: &sqlx::PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// A fresh database with `chaka demo` on it: the bank nodes, the demo cardholders and hub A.
struct World {
    scratch: ScratchDatabase,
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    /// The database's URL.
    url: String,
    /// The instances' API bases (A, the demo, first; B's and C's once started).
    apis: Vec<String>,
    /// Where banks call back (A).
    public_url: String,
    people: Vec<Value>,
    http: reqwest::Client,
    a: Process,
    pool: sqlx::PgPool,
}

impl World {
    async fn start(server: &str) -> World {
        let scratch = ScratchDatabase::create(server).await.unwrap();
        let url = scratch.url().to_owned();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (a, port) = Process::start_on_free_port(
            |port| {
                let mut demo = demo_command(&data, port, None);
                demo.args(["--database", &url]);
                demo
            },
            "The hub is up",
        );
        let apis = vec![format!("http://127.0.0.1:{port}/api/v1"); 3];
        let people = serde_json::from_str(
            &std::fs::read_to_string(data.join("population/demo-people.json")).unwrap(),
        )
        .unwrap();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        World {
            scratch,
            _dir: dir,
            public_url: format!("http://127.0.0.1:{port}"),
            data,
            url,
            apis,
            people,
            http: reqwest::Client::new(),
            a,
            pool,
        }
    }

    fn phone(&self, person: usize) -> String {
        self.people[person]["phone"].as_str().unwrap().to_owned()
    }

    /// Starts instance `n` (1 or 2) of `chaka hub`, with `env` on top, on a free port.
    fn start_hub(&mut self, n: usize, failpoint: Option<&str>, env: &[(&str, &str)]) -> Process {
        let (process, port) = Process::start_on_free_port(
            |port| {
                let mut command =
                    hub_command(&self.data, port, &self.public_url, &self.url, failpoint);
                command.envs(env.iter().copied());
                command
            },
            "chaka hub listening on",
        );
        self.apis[n] = format!("http://127.0.0.1:{port}/api/v1");
        process
    }

    async fn count(&self, sql: &'static str) -> i64 {
        count(&self.pool, sql).await
    }

    /// Waits until `n` reports are final and their ready SMS sent.
    async fn wait_for_reports(&self, n: i64, limit: Duration, others: &[&Process]) {
        let started = Instant::now();
        loop {
            let finals = self
                .count("SELECT COUNT(*) FROM inquiries WHERE state = 'final'")
                .await;
            let sent = self
                .count(
                    "SELECT COUNT(*) FROM outbox WHERE template = 'report_ready' AND state = 'sent'",
                )
                .await;
            if finals == n && sent == n {
                return;
            }
            let outputs: Vec<String> = others.iter().map(|p| p.text()).collect();
            assert!(
                started.elapsed() < limit,
                "{finals} final, {sent} ready SMS sent:\nA:\n{}\nothers:\n{outputs:#?}",
                self.a.text()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn finish(self) {
        let _ = self.a.kill();
        self.pool.close().await;
        self.scratch.remove().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_on_one_database_fan_out_once_and_send_one_ready_sms_per_report() {
    let Some(server) = test_server() else {
        println!("skipped: {TEST_DATABASE_URL} is not set");
        return;
    };
    let mut world = World::start(&server).await;
    let b = world.start_hub(1, Some("fanout:after_send"), &[]);
    let c = world.start_hub(2, None, &[]);
    let (http, apis) = (&world.http, &world.apis);

    // 1. B takes two lookups and dies right after a bank answered it, before storing.
    let mut inquiries = Vec::new();
    for &i in &ASKERS[..2] {
        inquiries.push(ask(http, &apis[1], &b, &world.phone(i)).await);
    }
    b.wait_for("FAILPOINT fanout:after_send", Duration::from_secs(30));
    let b_output = b.kill();

    // 2. A and C take the others; they also take over B's legs once B's leases expire.
    for (n, &i) in ASKERS[2..].iter().enumerate() {
        let (api, instance) = if n % 2 == 0 {
            (&apis[0], &world.a)
        } else {
            (&apis[2], &c)
        };
        inquiries.push(ask(http, api, instance, &world.phone(i)).await);
    }

    // 3. Every report becomes final and its one ready SMS is sent.
    world
        .wait_for_reports(6, Duration::from_secs(120), &[&c])
        .await;

    // 4. C stops on SIGTERM, cleanly.
    let (status, c_output) = c.terminate(Duration::from_secs(30));
    assert!(
        status.success(),
        "C exits cleanly on SIGTERM: {status}\n{c_output}"
    );
    let a_output = world.a.text();

    // Once per bank: every leg answered, one stored answer each, and nothing left claimed.
    let legs = world.count("SELECT COUNT(*) FROM legs").await;
    assert!(legs >= 6 * 10, "{legs} legs");
    assert_eq!(
        world
            .count("SELECT COUNT(*) FROM legs WHERE state = 'answered'")
            .await,
        legs
    );
    assert_eq!(world.count("SELECT COUNT(*) FROM answers").await, legs);
    assert_eq!(
        world
            .count("SELECT COUNT(*) FROM legs WHERE lease_owner IS NOT NULL")
            .await,
        0
    );
    let inquiry_banks: Vec<(String, String)> =
        sqlx::query_as("SELECT inquiry_id, banks FROM inquiries ORDER BY inquiry_id")
            .fetch_all(&world.pool)
            .await
            .unwrap();
    assert_eq!(inquiry_banks.len(), 6, "one inquiry per submission");
    for (id, banks) in &inquiry_banks {
        let banks: Vec<String> = serde_json::from_str(banks).unwrap();
        let answered: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM answers WHERE inquiry_id = $1")
                .bind(id)
                .fetch_one(&world.pool)
                .await
                .unwrap();
        assert_eq!(answered, banks.len() as i64, "one answer per bank of {id}");
    }
    // B's legs were taken over: some were claimed more than once, yet answered once.
    assert!(
        world
            .count("SELECT COUNT(*) FROM legs WHERE attempt > 1")
            .await
            > 0
    );

    // Exactly one ready SMS per report: in the outbox and on the instances' terminals.
    let keys: Vec<String> = sqlx::query_scalar(
        "SELECT idempotency_key FROM outbox WHERE template = 'report_ready' ORDER BY 1",
    )
    .fetch_all(&world.pool)
    .await
    .unwrap();
    let mut expected: Vec<String> = inquiries.iter().map(|id| format!("ready:{id}")).collect();
    expected.sort();
    assert_eq!(keys, expected);
    let printed = [&a_output, &b_output, &c_output]
        .iter()
        .map(|o| o.matches(READY_SMS).count())
        .sum::<usize>();
    assert_eq!(
        printed, 6,
        "six ready SMS in all:\nA:\n{a_output}\nB:\n{b_output}\nC:\n{c_output}"
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_stopped_by_sigterm_releases_the_legs_it_holds_and_exits() {
    let Some(server) = test_server() else {
        println!("skipped: {TEST_DATABASE_URL} is not set");
        return;
    };
    let mut world = World::start(&server).await;
    // B's batches stop for good after the bank answered; its leases last ten minutes, so only
    // a release lets another instance carry its legs on before then.
    let b = world.start_hub(
        1,
        Some("fanout:after_send"),
        &[("CHAKA_WORKERS__LEASE_SECS", "600")],
    );
    ask(&world.http, &world.apis[1], &b, &world.phone(0)).await;
    b.wait_for("FAILPOINT fanout:after_send", Duration::from_secs(30));
    let held: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM legs WHERE state = 'sending' AND lease_owner LIKE $1",
    )
    .bind(format!("hub-{}-%", b.id()))
    .fetch_one(&world.pool)
    .await
    .unwrap();
    assert!(held > 0, "B holds legs");
    let (status, output) = b.terminate(Duration::from_secs(60));
    assert!(status.success(), "B exits cleanly: {status}\n{output}");
    // A carries the released legs on at once: the report is final long before B's leases end.
    world
        .wait_for_reports(1, Duration::from_secs(60), &[])
        .await;
    world.finish().await;
}
