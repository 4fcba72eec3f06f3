//! What `chaka bench hub` measures and checks: the watcher that sees reports become final (on
//! SQLite through the outbox's rowids, on PostgreSQL by the ids still waiting), the CPU of the
//! process and of the PostgreSQL server's processes that serve the bench database, the
//! throughput window, the exactly-once checks read back from the database, and the
//! `--slow-bank` memory run.

use super::drive::{Drive, Side, client};
use crate::world::RunningBank;
use sqlx::Row;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// The bench's own connection to the hub's database (for the watcher and the checks).
#[derive(Clone)]
pub(super) enum Db {
    /// The hub's SQLite pool (WAL readers never block the writer).
    Sqlite(sqlx::SqlitePool),
    /// A small pool of its own, with the name of the database (for the CPU of its backends).
    Postgres(sqlx::PgPool, String),
}

/// Ids of the inquiries the growth run wrote as history start with this (the load's are
/// UUIDv7 of today, which never do).
pub(super) const HISTORY_PREFIX: &str = "00000000-0000-7";

impl Db {
    async fn count(&self, sql: &'static str) -> anyhow::Result<i64> {
        Ok(match self {
            Self::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await?,
            Self::Postgres(pool, _) => sqlx::query_scalar(sql).fetch_one(pool).await?,
        })
    }

    /// On PostgreSQL, gathers the planner's statistics of every table (`ANALYZE`), which also
    /// makes the hub's connections plan their prepared statements again; nothing on SQLite,
    /// whose hub statements are written for its planner without statistics.
    async fn analyze(&self) -> anyhow::Result<()> {
        if let Self::Postgres(pool, _) = self {
            sqlx::query("ANALYZE").execute(pool).await?;
        }
        Ok(())
    }

    /// The CPU time so far of the PostgreSQL server's processes that serve this database (its
    /// backends, autovacuum workers) and of its shared ones (WAL writer, checkpointer, …);
    /// zero on SQLite. Processes that ended are not counted.
    fn server_cpu(&self) -> Duration {
        let Self::Postgres(_, name) = self else {
            return Duration::ZERO;
        };
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Duration::ZERO;
        };
        let mut total = Duration::ZERO;
        for entry in entries.flatten() {
            let pid = entry.file_name();
            let Some(pid) = pid
                .to_str()
                .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let title = String::from_utf8_lossy(&cmdline);
            // Backends are titled "postgres: user database client(port) state"; the server's
            // shared processes carry no client address.
            if title.starts_with("postgres: ")
                && (title.contains(name.as_str()) || !title.contains('('))
            {
                total += proc_cpu(pid);
            }
        }
        total
    }
}

/// On PostgreSQL: the bytes per inquiry of the run (tables with their indexes and TOAST,
/// history excluded by subtracting `before`), to size a database; `None` on SQLite.
pub(super) async fn table_bytes(db: &Db) -> anyhow::Result<Option<Vec<(String, i64)>>> {
    let Db::Postgres(pool, _) = db else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT relname AS name, pg_total_relation_size(oid) AS bytes FROM pg_class \
         WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace \
         AND relname NOT LIKE '\\_sqlx%' ORDER BY 2 DESC",
    )
    .fetch_all(pool)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        out.push((row.try_get("name")?, row.try_get("bytes")?));
    }
    Ok(Some(out))
}

/// Follows the reports that become final, every 5 ms, until aborted.
pub(super) async fn watch_finals(db: Db, drive: Arc<Drive>) {
    match db {
        Db::Sqlite(pool) => watch_sqlite(pool, drive).await,
        Db::Postgres(pool, _) => watch_postgres(pool, drive).await,
    }
}

/// On PostgreSQL, identifiers are not in commit order: each poll asks which of the inquiries
/// still waiting have their "report ready" row (one indexed lookup per waiting inquiry, at most
/// the number of clients).
async fn watch_postgres(pool: sqlx::PgPool, drive: Arc<Drive>) {
    loop {
        let keys: Vec<String> = drive
            .tracker
            .waiting_ids()
            .into_iter()
            .map(|id| format!("ready:{id}"))
            .collect();
        if !keys.is_empty() {
            let rows =
                sqlx::query("SELECT idempotency_key FROM outbox WHERE idempotency_key = ANY($1)")
                    .persistent(false)
                    .bind(&keys)
                    .fetch_all(&pool)
                    .await;
            let now = Instant::now();
            for row in rows.into_iter().flatten() {
                if let Ok(key) = row.try_get::<String, _>("idempotency_key")
                    && let Some(id) = key.strip_prefix("ready:")
                {
                    drive.tracker.finalized(id.to_owned(), now);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Follows the outbox's "report ready" rows (`ready:<inquiry>`, written in the transaction that
/// makes a report final) every 5 ms through the hub's own pool (a WAL reader: it never blocks a
/// writer).
async fn watch_sqlite(pool: sqlx::SqlitePool, drive: Arc<Drive>) {
    let mut last: i64 = 0;
    loop {
        // Every new row moves the mark (rowids grow in commit order: SQLite has one writer), so
        // each poll reads only what was written since the last.
        let rows =
            sqlx::query("SELECT rowid, idempotency_key FROM outbox WHERE rowid > ? ORDER BY rowid")
                .bind(last)
                .fetch_all(&pool)
                .await;
        let now = Instant::now();
        if let Ok(rows) = rows {
            for row in rows {
                if let (Ok(rowid), Ok(key)) = (
                    row.try_get::<i64, _>("rowid"),
                    row.try_get::<String, _>("idempotency_key"),
                ) {
                    last = last.max(rowid);
                    if let Some(id) = key.strip_prefix("ready:") {
                        drive.tracker.finalized(id.to_owned(), now);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// CPU time of this process (user + system), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    proc_cpu("self")
}

/// CPU time (user + system) of the process `pid` (or `self`), from `/proc/<pid>/stat`.
fn proc_cpu(pid: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may contain spaces): state is field 3; utime and
    // stime are fields 14 and 15, in clock ticks (100 per second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// A `/proc/self/status` figure in MiB (`VmRSS`, `VmHWM`).
pub(super) fn memory_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

pub(super) fn bank_totals(nodes: &[RunningBank]) -> (u64, u64) {
    nodes.iter().fold((0, 0), |(r, a), n| {
        let s = n.node.stats();
        (r + s.requests, a + s.answers)
    })
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len() - 1);
    sorted[i].as_secs_f64() * 1000.0
}

/// The figures of one throughput window.
pub(super) struct Figures {
    pub(super) rate: f64,
    pub(super) submit_p50: f64,
    pub(super) submit_p99: f64,
    pub(super) final_p50: f64,
    pub(super) final_p99: f64,
    pub(super) bank_answers: f64,
    /// CPU of this process (hub instances, bank nodes, clients), % of all cores.
    pub(super) cpu: f64,
    /// CPU of the PostgreSQL server for the bench database, % of all cores.
    pub(super) server_cpu: f64,
    /// Hub CPU time per completed inquiry, both processes, ms (bank nodes and clients included).
    pub(super) cpu_per_inquiry_ms: f64,
    pub(super) peak_rss: f64,
    pub(super) summary: String,
    pub(super) checks: Checks,
}

/// What the database and the gateway show after the drain.
pub(super) struct Checks {
    pub(super) finals: i64,
    pub(super) ready_rows: i64,
    pub(super) ready_sms: u64,
    pub(super) ready_twice: u64,
    pub(super) legs_sent_twice: i64,
    pub(super) stored_answers: i64,
    pub(super) bank_answers: u64,
}

impl Checks {
    /// Exactly one "ready" SMS per final report, and no leg asked of its bank twice.
    pub(super) fn hold(&self) -> bool {
        self.finals == self.ready_rows
            && self.ready_sms == u64::try_from(self.finals).unwrap_or(u64::MAX)
            && self.ready_twice == 0
            && self.legs_sent_twice == 0
            && u64::try_from(self.stored_answers).unwrap_or(u64::MAX) == self.bank_answers
    }

    /// `answers_before`: the bank nodes' answers before this run (they serve every run of one
    /// invocation).
    async fn read(
        db: &Db,
        drive: &Drive,
        nodes: &[RunningBank],
        answers_before: u64,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            finals: db
                .count("SELECT COUNT(*) FROM inquiries WHERE state = 'final' AND inquiry_id NOT LIKE '00000000-0000-7%'")
                .await?,
            ready_rows: db
                .count("SELECT COUNT(*) FROM outbox WHERE template = 'report_ready' AND idempotency_key NOT LIKE 'ready:00000000-0000-7%'")
                .await?,
            ready_sms: drive.gateway.count("report_ready"),
            ready_twice: drive.gateway.ready_twice(),
            legs_sent_twice: db
                .count("SELECT COUNT(*) FROM legs WHERE attempt > 1 AND inquiry_id NOT LIKE '00000000-0000-7%'")
                .await?,
            stored_answers: db.count("SELECT COUNT(*) FROM answers WHERE inquiry_id NOT LIKE '00000000-0000-7%'").await?,
            bank_answers: bank_totals(nodes).1.saturating_sub(answers_before),
        })
    }

    pub(super) fn line(&self) -> String {
        format!(
            "checks {}: {} reports final, {} \"ready\" outbox rows, {} \"ready\" SMS ({} repeated); \
             {} legs asked more than once; {} answers stored of {} the banks gave",
            if self.hold() { "passed" } else { "FAILED" },
            self.finals,
            self.ready_rows,
            self.ready_sms,
            self.ready_twice,
            self.legs_sent_twice,
            self.stored_answers,
            self.bank_answers,
        )
    }
}

/// The seconds of load before the measured window, and of the window.
pub(super) struct Window {
    pub(super) warmup: u64,
    pub(super) duration: u64,
}

/// Runs `concurrency` clients for the warm-up and the window, waits for the last reports, and
/// reads the figures of the window and the checks of the whole run.
pub(super) async fn throughput(
    drive: &Arc<Drive>,
    db: &Db,
    nodes: &[RunningBank],
    side: &Side,
    concurrency: usize,
    window: Window,
    cores: usize,
) -> anyhow::Result<Figures> {
    let (_, answers_before) = bank_totals(nodes);
    let mut clients = JoinSet::new();
    for _ in 0..concurrency {
        clients.spawn_on(client(drive.clone(), true), side.handle());
    }
    if window.warmup > 0 {
        tokio::time::sleep(Duration::from_secs(window.warmup)).await;
        db.analyze().await?;
    }
    let (_, answers0) = bank_totals(nodes);
    let (cpu0, server0) = (cpu_time(), db.server_cpu());
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(window.duration)).await;
    let t1 = Instant::now();
    let elapsed = t1.duration_since(t0);
    let (_, answers1) = bank_totals(nodes);
    let cpu = cpu_time().saturating_sub(cpu0);
    let server = db.server_cpu().saturating_sub(server0);
    drive.stop.store(true, Ordering::Relaxed);
    // Let the last clients see their reports (they are not counted in the rate).
    let _ = tokio::time::timeout(Duration::from_secs(30), async {
        while clients.join_next().await.is_some() {}
    })
    .await;
    clients.abort_all();
    // The "ready" SMS leave through the outbox after the report is final: give the notifiers
    // a moment to deliver the last ones, so the checks see exactly one per report.
    let (_, finals, _) = drive.tracker.counts();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while drive.gateway.count("report_ready") < finals {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;

    let secs = elapsed.as_secs_f64();
    let (submitted, finals, waiting) = drive.tracker.counts();
    let (completed, mut to_final): (u64, Vec<Duration>) = {
        let s = drive
            .tracker
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let in_window = |at: &Instant| *at > t0 && *at <= t1;
        let completed = s.to_final.iter().filter(|(at, _)| in_window(at)).count() as u64;
        let latencies = s
            .to_final
            .iter()
            .filter(|(at, _)| *at > t0)
            .map(|(_, d)| *d)
            .collect();
        (completed, latencies)
    };
    let mut submits: Vec<Duration> = drive
        .submit_latencies
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|(at, _)| *at > t0)
        .map(|(_, d)| *d)
        .collect();
    submits.sort_unstable();
    to_final.sort_unstable();
    let share = |d: Duration| d.as_secs_f64() / (secs * cores as f64) * 100.0;
    let summary = format!(
        "{completed} inquiries final within {secs:.1} s (in the whole run, warm-up included: \
         {submitted} submitted, {finals} final after the drain, {waiting} still open; {} \
         failed lookups; SMS: {} codes, {} \"requested\", {} \"ready\")",
        drive.failures.load(Ordering::Relaxed),
        drive.gateway.count("otp_inquiry"),
        drive.gateway.count("lookup_requested"),
        drive.gateway.count("report_ready"),
    );
    if drive.ran_out.load(Ordering::Relaxed) {
        eprintln!(
            "warning: the clients ran out of cardholders before the end; pass a larger --accounts"
        );
    }
    Ok(Figures {
        rate: completed as f64 / secs,
        submit_p50: percentile(&submits, 0.50),
        submit_p99: percentile(&submits, 0.99),
        final_p50: percentile(&to_final, 0.50),
        final_p99: percentile(&to_final, 0.99),
        bank_answers: (answers1 - answers0) as f64 / secs,
        cpu: share(cpu),
        server_cpu: share(server),
        cpu_per_inquiry_ms: if completed == 0 {
            0.0
        } else {
            (cpu + server).as_secs_f64() * 1000.0 / completed as f64
        },
        peak_rss: memory_mib("VmHWM:"),
        summary,
        checks: Checks::read(db, drive, nodes, answers_before).await?,
    })
}

pub(super) async fn slow_bank(
    drive: &Arc<Drive>,
    nodes: &[RunningBank],
    side: &Side,
    concurrency: usize,
    waiting: usize,
    cores: usize,
) -> anyhow::Result<()> {
    let silent = nodes.last().map(|n| n.bank.to_string()).unwrap_or_default();
    println!(
        "\n{silent} never answers; submitting {waiting} inquiries with {concurrency} clients \
         (not waiting for them) on {cores} cores"
    );
    println!(
        "{:>8} {:>9} {:>12} {:>10} {:>10} {:>14}",
        "secs", "waiting", "submitted/s", "RSS MiB", "peak MiB", "bank answers"
    );
    let t0 = Instant::now();
    let mut clients = JoinSet::new();
    for _ in 0..concurrency {
        clients.spawn_on(client(drive.clone(), false), side.handle());
    }
    let step = (waiting / 10).max(1);
    let mut next_report = step;
    let mut last = (t0, 0u64);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (submitted, _, open) = drive.tracker.counts();
        let finished = clients.is_empty() || drive.ran_out.load(Ordering::Relaxed);
        if open >= next_report || finished || submitted as usize >= waiting {
            let now = Instant::now();
            let rate = (submitted - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
            last = (now, submitted);
            println!(
                "{:>8.1} {:>9} {:>12.0} {:>10.0} {:>10.0} {:>14}",
                t0.elapsed().as_secs_f64(),
                open,
                rate,
                memory_mib("VmRSS:"),
                memory_mib("VmHWM:"),
                bank_totals(nodes).1,
            );
            next_report = (open / step + 1) * step;
        }
        while clients.try_join_next().is_some() {}
        if submitted as usize >= waiting || clients.is_empty() {
            break;
        }
    }
    drive.stop.store(true, Ordering::Relaxed);
    while clients.join_next().await.is_some() {}
    let (_, _, open) = drive.tracker.counts();
    println!(
        "{open} inquiries waiting on {silent} after {:.0} s; RSS {:.0} MiB, peak {:.0} MiB; \
         {} failed submissions",
        t0.elapsed().as_secs_f64(),
        memory_mib("VmRSS:"),
        memory_mib("VmHWM:"),
        drive.failures.load(Ordering::Relaxed)
    );
    Ok(())
}
