//! Real `chaka` processes for the tests that kill them: output collected line by line, waits
//! on what a process prints, SIGKILL and SIGTERM; and the HTTP calls the tests make to a hub
//! (a demo cardholder's login and lookup, with the SMS code read from the process's output).

use serde_json::{Value, json};
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
    pub fn start(command: Command, ready: &str) -> Process {
        let process = Process::spawn(command);
        process.wait_for(ready, Duration::from_secs(120));
        process
    }

    /// Starts the command `make` builds for a port, on a free port, and waits until it prints
    /// `ready`. A port found free can be taken before the process binds it (by another test's
    /// listener, or as the ephemeral port of an outgoing connection): then another is tried.
    pub fn start_on_free_port(make: impl Fn(u16) -> Command, ready: &str) -> (Process, u16) {
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let process = Process::spawn(make(port));
            let markers = [ready, "Address already in use"];
            if process.wait_for_any(&markers, Duration::from_secs(120)) == 0 {
                return (process, port);
            }
            last = process.kill();
        }
        panic!("no free port could be bound in 5 tries:\n{last}");
    }

    fn spawn(mut command: Command) -> Process {
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
        Process { child, output }
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
        self.wait_for_any(&[marker], limit);
    }

    /// Waits until the output contains one of `markers`; the index of the first found.
    fn wait_for_any(&self, markers: &[&str], limit: Duration) -> usize {
        let started = Instant::now();
        loop {
            let text = self.text();
            if let Some(i) = markers.iter().position(|m| text.contains(m)) {
                return i;
            }
            assert!(
                started.elapsed() < limit,
                "none of {markers:?} within {limit:?}:\n{text}"
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

/// The password of every demo cardholder.
pub const PASSWORD: &str = "chaka-demo-2021";

/// Logs a demo cardholder in; returns the session token.
pub async fn login(http: &reqwest::Client, api: &str, phone: &str) -> String {
    let (status, session) = call(
        http,
        reqwest::Method::POST,
        format!("{api}/sessions"),
        None,
        Some(json!({ "phone": phone, "password": PASSWORD })),
        None,
    )
    .await;
    assert_eq!(status, 201, "{session}");
    session["token"].as_str().unwrap().to_owned()
}

/// `137****0007` for `13788000007`, as SMS lines show a phone.
fn masked(phone: &str) -> String {
    format!("{}****{}", &phone[..3], &phone[phone.len() - 4..])
}

/// The last SMS code printed for `phone`.
fn last_code(output: &str, phone: &str) -> Option<String> {
    let line = output
        .lines()
        .rev()
        .find(|l| l.contains(&format!("[SMS → {}]", masked(phone))) && l.contains("验证码"))?;
    let start = line.find("验证码")? + "验证码".len();
    Some(line[start..].chars().take(6).collect())
}

/// Logs `phone` in on `api`, asks for a code, and submits a lookup at every bank open to the
/// person; returns the inquiry id.
pub async fn ask(http: &reqwest::Client, api: &str, instance: &Process, phone: &str) -> String {
    let token = login(http, api, phone).await;
    let (status, banks) = call(
        http,
        reqwest::Method::GET,
        format!("{api}/banks"),
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{banks}");
    let codes: Vec<Value> = banks
        .as_array()
        .or_else(|| banks["banks"].as_array())
        .unwrap()
        .iter()
        .map(|b| b["code"].clone())
        .collect();
    assert!(!codes.is_empty());
    let (status, _) = call(
        http,
        reqwest::Method::POST,
        format!("{api}/inquiries/code"),
        Some(&token),
        None,
        None,
    )
    .await;
    assert_eq!(status, 202);
    let started = Instant::now();
    let code = loop {
        if let Some(code) = last_code(&instance.text(), phone) {
            break code;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no code for {phone}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let body = json!({ "banks": codes, "consent_version": "2026-11-v1", "consent_lang": "zh", "code": code });
    let (status, submitted) = call(
        http,
        reqwest::Method::POST,
        format!("{api}/inquiries"),
        Some(&token),
        Some(body),
        Some(&format!("lookup-{phone}")),
    )
    .await;
    assert_eq!(status, 201, "{submitted}");
    submitted["inquiry_id"].as_str().unwrap().to_owned()
}
