//! The cardholder's settings: the payment PIN (set, change, reset with the password and an SMS
//! code, which makes earlier reports unreadable) and the account (profile as masked, password,
//! phone change with codes to the old and the new number, sessions and their revocation).

use super::form::WebForm;
use super::home::masked_name;
use super::page::{Ctx, Failure, Visitor, local_time, redirect, render};
use crate::account::parse_phone;
use crate::error::ApiError;
use crate::hub::Hub;
use crate::sms::OtpPurpose;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "web/pin.html")]
struct PinPage<'a> {
    ctx: &'a Ctx,
    error: Option<String>,
    notice: Option<String>,
    pin_set: bool,
    wait: i64,
}

fn pin_page_with(
    v: &Visitor,
    status: StatusCode,
    error: Option<String>,
    notice: Option<String>,
    wait: i64,
) -> Result<Response, Failure> {
    let caller = v.require()?;
    let page = PinPage {
        ctx: &v.ctx,
        error,
        notice,
        pin_set: caller.account.pin.is_some(),
        wait,
    };
    Ok(render(&v.ctx, status, &page))
}

/// The PIN page.
pub async fn pin_page(v: Visitor) -> Result<Response, Failure> {
    pin_page_with(&v, StatusCode::OK, None, None, 0)
}

/// Both PIN fields must agree before anything is asked of the hub.
fn repeated(form: &WebForm) -> Result<&str, ApiError> {
    if form.get("pin") != form.get("pin2") {
        return Err(ApiError::new("invalid_request").detail("the two PINs differ"));
    }
    Ok(form.get("pin"))
}

/// Shows the PIN page again with the refusal, or goes home with `done`.
fn after(v: &Visitor, result: Result<(), ApiError>, done: &str) -> Result<Response, Failure> {
    match result {
        Ok(()) => Ok(redirect(&format!("/?done={done}"))),
        Err(e)
            if e.code() == "invalid_request" && e.detail_text() == Some("the two PINs differ") =>
        {
            let message = v.ctx.t("pin.differ").to_owned();
            pin_page_with(v, e.status(), Some(message), None, 0)
        }
        Err(e) => pin_page_with(v, e.status(), Some(v.ctx.explain(&e)), None, 0),
    }
}

/// Sets the first PIN.
pub async fn pin_set(
    State(hub): State<Arc<Hub>>,
    v: Visitor,
    form: WebForm,
) -> Result<Response, Failure> {
    let caller = v.require()?;
    let result = async { hub.set_pin(&caller.account, repeated(&form)?).await }.await;
    after(&v, result, "pin_set")
}

/// Changes the PIN (the old PIN is required; reports stay readable).
pub async fn pin_change(
    State(hub): State<Arc<Hub>>,
    v: Visitor,
    form: WebForm,
) -> Result<Response, Failure> {
    let caller = v.require()?;
    let result = async {
        let pin = repeated(&form)?;
        hub.change_pin(&caller.account, form.get("old_pin"), pin)
            .await
    }
    .await;
    after(&v, result, "pin_changed")
}

/// Sends the code that confirms a PIN reset to the account's phone.
pub async fn pin_reset_code(
    State(hub): State<Arc<Hub>>,
    v: Visitor,
    _form: WebForm,
) -> Result<Response, Failure> {
    let caller = v.require()?;
    let sent = hub
        .send_code_to_account(&caller.account, OtpPurpose::PinReset)
        .await;
    match sent {
        Ok(()) => pin_page_with(
            &v,
            StatusCode::OK,
            None,
            Some(v.ctx.t("code.sent_own").to_owned()),
            hub.config.rules.otp_resend_secs,
        ),
        Err(e) => pin_page_with(&v, e.status(), Some(v.ctx.explain(&e)), None, 0),
    }
}

/// Resets a forgotten PIN.
pub async fn pin_reset(
    State(hub): State<Arc<Hub>>,
    v: Visitor,
    form: WebForm,
) -> Result<Response, Failure> {
    let caller = v.require()?;
    if !form.ticked("acknowledge") {
        let message = v.ctx.t("pin.reset_ack_needed").to_owned();
        return pin_page_with(&v, StatusCode::UNPROCESSABLE_ENTITY, Some(message), None, 0);
    }
    let result = async {
        let pin = repeated(&form)?;
        hub.reset_pin(
            &caller.account,
            form.raw("password"),
            form.get("code"),
            pin,
            true,
        )
        .await
    }
    .await;
    after(&v, result, "pin_reset")
}

/// One session in the list.
struct SessionRow {
    id: String,
    agent: String,
    created: String,
    seen: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "web/account.html")]
struct AccountPage<'a> {
    ctx: &'a Ctx,
    error: Option<String>,
    notice: Option<String>,
    name: String,
    id_number: String,
    phone: String,
    region: String,
    pin_set: bool,
    sessions: Vec<SessionRow>,
    new_phone: String,
    wait_old: i64,
    wait_new: i64,
}

/// What the account page shows besides the profile.
#[derive(Default)]
struct AccountState {
    error: Option<String>,
    notice: Option<String>,
    new_phone: String,
    wait_old: i64,
    wait_new: i64,
}

async fn account_with(
    hub: &Hub,
    v: &Visitor,
    status: StatusCode,
    state: AccountState,
) -> Result<Response, Failure> {
    let caller = v.require()?;
    let account = &caller.account;
    let fail = |e: ApiError| v.ctx.fail(e);
    let now = hub.clock.now();
    let sessions = hub
        .store
        .sessions(&account.account_id, now, hub.config.rules.session_idle())
        .await
        .map_err(|e| fail(e.into()))?
        .into_iter()
        .map(|s| SessionRow {
            current: s.session_id == caller.session.session_id,
            agent: s
                .user_agent
                .as_deref()
                .map_or_else(|| v.ctx.t("account.unknown_agent").to_owned(), short_agent),
            created: local_time(s.created_at),
            seen: local_time(s.last_seen_at),
            id: s.session_id,
        })
        .collect();
    let regions = chaka_core::RegionRegistry::builtin();
    let region = regions.get(&account.region).map_or_else(
        || account.region.clone(),
        |r| v.ctx.lang.pick(&r.name_zh, &r.name_en).to_owned(),
    );
    let page = AccountPage {
        ctx: &v.ctx,
        error: state.error,
        notice: state.notice,
        name: masked_name(&hub.name_of(account).map_err(fail)?),
        id_number: hub.id_number_of(account).map_err(fail)?.masked(),
        phone: hub.phone_of(account).map_err(fail)?.masked(),
        region,
        pin_set: account.pin.is_some(),
        sessions,
        new_phone: state.new_phone,
        wait_old: state.wait_old,
        wait_new: state.wait_new,
    };
    Ok(render(&v.ctx, status, &page))
}

/// A browser's name in a few words (`Chrome on Android`), from its User-Agent.
fn short_agent(agent: &str) -> String {
    let browser = ["Edg", "Firefox", "Chrome", "Safari", "curl"]
        .into_iter()
        .find(|b| agent.contains(b))
        .map_or("Browser", |b| if b == "Edg" { "Edge" } else { b });
    let system = ["Android", "iPhone", "iPad", "Windows", "Mac OS", "Linux"]
        .into_iter()
        .find(|s| agent.contains(s));
    match system {
        Some(system) => format!("{browser} · {system}"),
        None => browser.to_owned(),
    }
}

/// The account page.
pub async fn account_page(State(hub): State<Arc<Hub>>, v: Visitor) -> Result<Response, Failure> {
    account_with(&hub, &v, StatusCode::OK, AccountState::default()).await
}

/// Changes the password (every other session ends).
pub async fn password(
    State(hub): State<Arc<Hub>>,
    v: Visitor,
    form: WebForm,
) -> Result<Response, Failure> {
    let caller = v.require()?;
    match hub
        .change_password(
            &caller.session,
            form.raw("old_password"),
            form.raw("new_password"),
        )
        .await
    {
        Ok(()) => Ok(redirect("/?done=password_changed")),
        Err(e) => {
            let state = AccountState {
                error: Some(v.ctx.explain(&e)),
                ..AccountState::default()
            };
            account_with(&hub, &v, e.status(), state).await
        }
    }
}

/// Sends the code to the current phone.
pub async fn phone_code_old(
    State(hub): State<Arc<Hub>>,
    v: Visitor,
    form: WebForm,
) -> Result<Response, Failure> {
    let caller = v.require()?;
    let sent = hub
        .send_code_to_account(&caller.account, OtpPurpose::PhoneChangeOld)
        .await;
    code_sent(&hub, &v, &form, sent, true).await
}

/// Sends the code to the new phone.
pub async fn phone_code_new(
    State(hub): State<Arc<Hub>>,
    v: Visitor,
    form: WebForm,
) -> Result<Response, Failure> {
    let caller = v.require()?;
    let sent = async {
        let phone = parse_phone(form.get("new_phone"))?;
        hub.send_code(
            &phone,
            OtpPurpose::PhoneChangeNew,
            Some(&caller.account),
            v.ctx.lang.as_str(),
        )
        .await
    }
    .await;
    code_sent(&hub, &v, &form, sent, false).await
}

async fn code_sent(
    hub: &Hub,
    v: &Visitor,
    form: &WebForm,
    sent: Result<(), ApiError>,
    old: bool,
) -> Result<Response, Failure> {
    let new_phone = form.get("new_phone").chars().take(11).collect();
    let wait = hub.config.rules.otp_resend_secs;
    let (status, state) = match sent {
        Ok(()) => (
            StatusCode::OK,
            AccountState {
                notice: Some(v.ctx.t("code.sent").to_owned()),
                new_phone,
                wait_old: if old { wait } else { 0 },
                wait_new: if old { 0 } else { wait },
                ..AccountState::default()
            },
        ),
        Err(e) => (
            e.status(),
            AccountState {
                error: Some(v.ctx.explain(&e)),
                new_phone,
                ..AccountState::default()
            },
        ),
    };
    account_with(hub, v, status, state).await
}

/// Moves the account to a new phone.
pub async fn phone(
    State(hub): State<Arc<Hub>>,
    v: Visitor,
    form: WebForm,
) -> Result<Response, Failure> {
    let caller = v.require()?;
    match hub
        .change_phone(
            &caller.session,
            form.raw("password"),
            form.get("old_code"),
            form.get("new_phone"),
            form.get("new_code"),
        )
        .await
    {
        Ok(()) => Ok(redirect("/?done=phone_changed")),
        Err(e) => {
            let state = AccountState {
                error: Some(v.ctx.explain(&e)),
                new_phone: form.get("new_phone").chars().take(11).collect(),
                ..AccountState::default()
            };
            account_with(&hub, &v, e.status(), state).await
        }
    }
}

/// Ends one of the account's other sessions.
pub async fn revoke(
    State(hub): State<Arc<Hub>>,
    v: Visitor,
    Path(session_id): Path<String>,
    _form: WebForm,
) -> Result<Response, Failure> {
    let caller = v.require()?;
    hub.revoke_session(&caller.account, &session_id)
        .await
        .map_err(|e| v.ctx.fail(e))?;
    Ok(redirect("/account"))
}
