//! The first page: for a visitor, what the service is, the anti-fraud warning and the way in;
//! for a cardholder, the "find all my cards" entry, the warning, a reminder to set the payment
//! PIN first, and their lookups with their state and the time their report will be deleted.

use super::page::{Ctx, Failure, Visitor, local_time, render};
use crate::hub::Hub;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "web/landing.html")]
struct Landing<'a> {
    ctx: &'a Ctx,
}

/// One lookup in the list.
struct InquiryRow {
    id: String,
    created: String,
    banks: usize,
    state: String,
    state_key: &'static str,
    expires: Option<String>,
}

#[derive(Template)]
#[template(path = "web/home.html")]
struct Home<'a> {
    ctx: &'a Ctx,
    error: Option<String>,
    notice: Option<String>,
    name: String,
    pin_set: bool,
    inquiries: Vec<InquiryRow>,
}

/// `?done=…`: what the previous form did (a key of a known notice).
#[derive(Debug, Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// The text key of an inquiry's state.
pub fn state_key(state: &str) -> &'static str {
    match state {
        "open" => "state.open",
        "final" => "state.final",
        "purged" => "state.purged",
        _ => "state.unknown",
    }
}

/// The notices a redirect may name.
const NOTICES: &[&str] = &[
    "pin_set",
    "pin_changed",
    "pin_reset",
    "password_changed",
    "phone_changed",
    "session_revoked",
];

/// The home page.
pub async fn index(
    State(hub): State<Arc<Hub>>,
    v: Visitor,
    Query(done): Query<Done>,
) -> Result<Response, Failure> {
    let Some(caller) = &v.caller else {
        return Ok(render(&v.ctx, StatusCode::OK, &Landing { ctx: &v.ctx }));
    };
    let account = &caller.account;
    let name = hub.name_of(account).map_err(|e| v.ctx.fail(e))?;
    let mut records = hub
        .store
        .inquiries(&account.account_id)
        .await
        .map_err(|e| v.ctx.fail(e.into()))?;
    records.sort_by_key(|q| std::cmp::Reverse(q.created_at));
    let inquiries = records
        .iter()
        .map(|q| InquiryRow {
            id: q.inquiry_id.clone(),
            created: local_time(q.created_at),
            banks: q.banks.len(),
            state: q.state.clone(),
            state_key: state_key(&q.state),
            expires: q.purge_after.filter(|_| q.state == "final").map(local_time),
        })
        .collect();
    let notice = done
        .done
        .as_deref()
        .filter(|d| NOTICES.contains(d))
        .map(|d| v.ctx.t(&format!("done.{d}")).to_owned());
    let page = Home {
        ctx: &v.ctx,
        error: None,
        notice,
        name: masked_name(&name),
        pin_set: account.pin.is_some(),
        inquiries,
    };
    Ok(render(&v.ctx, StatusCode::OK, &page))
}

/// A name as banks' apps show it: every character but the last masked (王静 → *静).
pub fn masked_name(name: &str) -> String {
    let count = name.chars().count();
    name.chars()
        .enumerate()
        .map(|(i, c)| if i + 1 < count { '*' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_show_only_their_last_character() {
        assert_eq!(super::masked_name("王静"), "*静");
        assert_eq!(super::masked_name("欧阳娜娜"), "***娜");
        assert_eq!(super::masked_name("静"), "静");
    }
}
