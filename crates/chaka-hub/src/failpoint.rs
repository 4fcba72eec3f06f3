//! Crash points for the crash tests. When the environment variable `CHAKA_FAILPOINT` names a
//! point, the task that reaches it says so on stderr (`FAILPOINT <name>`) and stops there for
//! good, so that a test can kill the process with SIGKILL at that exact instant — for example
//! after a bank answered but before the answer was stored. Unset (always, in production), a
//! point costs one comparison.

use std::sync::OnceLock;

/// After a bank answered a batch, before the answers are stored.
pub const FANOUT_AFTER_SEND: &str = "fanout:after_send";
/// After a report became final (its "ready" SMS is in the outbox), before the SMS is sent.
pub const NOTIFY_BEFORE_READY_SMS: &str = "notify:before_ready_sms";

fn armed() -> Option<&'static str> {
    static POINT: OnceLock<Option<String>> = OnceLock::new();
    POINT
        .get_or_init(|| {
            std::env::var("CHAKA_FAILPOINT")
                .ok()
                .filter(|p| !p.is_empty())
        })
        .as_deref()
}

/// Stops the calling task forever if `name` is the armed point.
pub async fn reach(name: &str) {
    if armed() == Some(name) {
        eprintln!("FAILPOINT {name}");
        std::future::pending::<()>().await;
    }
}
