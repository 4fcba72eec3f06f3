//! Real `chaka` processes for the tests that kill them: output collected line by line, waits
//! on what a process prints, SIGKILL and SIGTERM; and the HTTP call the tests make to a hub.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `chaka` process whose stdout and stderr are collected.
pub struct Process {
    child: Child,
    output: Arc<Mutex<String>>,
}

/// `chaka demo --quick` on `data`, serving the hub on `port`, with short leases; the
/// failpoint, if any, armed.
pub fn demo_command(data: &std::path::Path, port: u16, failpoint: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chaka"));
    command
        .args([
            "demo",
            "--quick",
            "--people",
            "300",
            "--data",
            data.to_str().unwrap(),
        ])
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--banks-listen",
            "127.0.0.1:0",
        ]);
    arm(&mut command, failpoint);
    command
}

/// Quiet logs, 2-second leases, and the failpoint (or none).
pub fn arm(command: &mut Command, failpoint: Option<&str>) {
    command
        .env("CHAKA_LOG", "warn")
        .env("CHAKA_WORKERS__LEASE_SECS", "2");
    match failpoint {
        Some(point) => command.env("CHAKA_FAILPOINT", point),
        None => command.env_remove("CHAKA_FAILPOINT"),
    };
}

impl Process {
    /// Starts `command` and waits until it prints `ready`.
    pub fn start(mut command: Command, ready: &str) -> Process {
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null());
        let mut child = command.spawn().expect("chaka runs");
        let output = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut out = output.lock().unwrap();
                    out.push_str(&line);
                    out.push('\n');
                }
            });
        }
        let process = Process { child, output };
        process.wait_for(ready, Duration::from_secs(120));
        process
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn text(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until the output contains `marker` (the process reports progress on its own).
    pub fn wait_for(&self, marker: &str, limit: Duration) {
        let started = Instant::now();
        while !self.text().contains(marker) {
            assert!(
                started.elapsed() < limit,
                "no {marker:?} within {limit:?}:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL; returns everything the process printed.
    pub fn kill(mut self) -> String {
        self.child.kill().unwrap();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        self.text()
    }

    /// SIGTERM, then waits for the process to exit (at most `limit`); its status and output.
    pub fn terminate(mut self, limit: Duration) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < limit,
                "still running {limit:?} after SIGTERM:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        std::thread::sleep(Duration::from_millis(100));
        (status, self.text())
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
    key: Option<&str>,
) -> (u16, Value) {
    let mut request = http.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}
