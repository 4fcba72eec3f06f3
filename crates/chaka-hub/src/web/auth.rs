//! Pages for visitors: log in, register (the SMS code proves the phone, the identity registry
//! confirms the person), log out, and the language switch. A password is never written back
//! into a page; a refused form is shown again with what was typed (but secrets) and the reason.

use super::form::WebForm;
use super::i18n::{LANG_COOKIE, Lang};
use super::page::{Ctx, Failure, Visitor, is_local, redirect, render};
use crate::account::{Registration, parse_phone};
use crate::error::ApiError;
use crate::hub::Hub;
use crate::sms::OtpPurpose;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;

/// `?next=`: where to go after logging in.
#[derive(Debug, Deserialize)]
pub struct Next {
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "web/login.html")]
struct LoginPage<'a> {
    ctx: &'a Ctx,
    error: Option<String>,
    notice: Option<String>,
    phone: String,
    next: String,
}

fn next_of(next: Option<&str>) -> String {
    next.filter(|n| is_local(n) && n.len() <= 512)
        .unwrap_or("/")
        .to_owned()
}

/// The login page.
pub async fn login_page(v: Visitor, Query(q): Query<Next>) -> Response {
    if v.caller.is_some() {
        return redirect("/");
    }
    let page = LoginPage {
        ctx: &v.ctx,
        error: None,
        notice: None,
        phone: String::new(),
        next: next_of(q.next.as_deref()),
    };
    render(&v.ctx, StatusCode::OK, &page)
}

/// Logs in: sets the session cookie and goes where the visitor was going.
pub async fn login(
    State(hub): State<Arc<Hub>>,
    v: Visitor,
    headers: HeaderMap,
    form: WebForm,
) -> Response {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let next = next_of(Some(form.get("next")));
    match hub
        .login(form.get("phone"), form.raw("password"), agent)
        .await
    {
        Ok((token, _)) => signed_in(&hub, &token, &next),
        Err(e) => {
            let page = LoginPage {
                ctx: &v.ctx,
                error: Some(v.ctx.explain(&e)),
                notice: None,
                phone: form.get("phone").chars().take(11).collect(),
                next,
            };
            render(&v.ctx, e.status(), &page)
        }
    }
}

/// A redirect that carries the new session cookie.
fn signed_in(hub: &Hub, token: &str, next: &str) -> Response {
    let mut response = redirect(next);
    if let Some(cookie) = crate::api::sessions::cookie(hub, token, false) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// Logs out and clears the session cookie.
pub async fn logout(State(hub): State<Arc<Hub>>, v: Visitor, _form: WebForm) -> Response {
    if let Some(caller) = &v.caller
        && let Err(e) = hub.logout(&caller.session).await
    {
        return v.ctx.fail(e).into();
    }
    let mut response = redirect("/");
    if let Some(cookie) = crate::api::sessions::cookie(&hub, "", true) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Template)]
#[template(path = "web/register.html")]
struct RegisterPage<'a> {
    ctx: &'a Ctx,
    error: Option<String>,
    notice: Option<String>,
    name: String,
    id_number: String,
    phone: String,
    wait: i64,
}

fn register_page_of<'a>(
    ctx: &'a Ctx,
    form: Option<&WebForm>,
    error: Option<String>,
    notice: Option<String>,
    wait: i64,
) -> RegisterPage<'a> {
    let keep = |name: &str, max: usize| {
        form.map(|f| f.get(name).chars().take(max).collect())
            .unwrap_or_default()
    };
    RegisterPage {
        ctx,
        error,
        notice,
        name: keep("name", 32),
        id_number: keep("id_number", 18),
        phone: keep("phone", 11),
        wait,
    }
}

/// The registration page.
pub async fn register_page(v: Visitor) -> Response {
    if v.caller.is_some() {
        return redirect("/");
    }
    render(
        &v.ctx,
        StatusCode::OK,
        &register_page_of(&v.ctx, None, None, None, 0),
    )
}

/// Sends the registration code to the phone typed in.
pub async fn register_code(State(hub): State<Arc<Hub>>, v: Visitor, form: WebForm) -> Response {
    let sent = async {
        let phone = parse_phone(form.get("phone"))?;
        hub.send_code(&phone, OtpPurpose::Register, None, v.ctx.lang.as_str())
            .await
    }
    .await;
    let (status, page) = match sent {
        Ok(()) => (
            StatusCode::OK,
            register_page_of(
                &v.ctx,
                Some(&form),
                None,
                Some(v.ctx.t("code.sent").to_owned()),
                hub.config.rules.otp_resend_secs,
            ),
        ),
        Err(e) => (
            e.status(),
            register_page_of(&v.ctx, Some(&form), Some(v.ctx.explain(&e)), None, 0),
        ),
    };
    render(&v.ctx, status, &page)
}

/// Registers, logs in, and goes on to set the payment PIN.
pub async fn register(
    State(hub): State<Arc<Hub>>,
    v: Visitor,
    headers: HeaderMap,
    form: WebForm,
) -> Response {
    let registration = Registration {
        name: form.get("name"),
        id_number: form.get("id_number"),
        phone: form.get("phone"),
        code: form.get("code"),
        password: form.raw("password"),
        lang: v.ctx.lang.as_str(),
    };
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let done = async {
        hub.register(&registration).await?;
        hub.login(registration.phone, registration.password, agent)
            .await
    }
    .await;
    match done {
        Ok((token, _)) => signed_in(&hub, &token, "/pin"),
        Err(e) => render(
            &v.ctx,
            e.status(),
            &register_page_of(&v.ctx, Some(&form), Some(v.ctx.explain(&e)), None, 0),
        ),
    }
}

/// `?to=en&next=/path`.
#[derive(Debug, Deserialize)]
pub struct LangSwitch {
    to: String,
    next: Option<String>,
}

/// Switches the language (a cookie, for a year) and comes back.
pub async fn lang(
    v: Visitor,
    q: Result<Query<LangSwitch>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Failure> {
    let Ok(Query(q)) = q else {
        return Err(v
            .ctx
            .fail(ApiError::new("invalid_request").detail("to is zh or en")));
    };
    let lang = Lang::parse(&q.to).ok_or_else(|| {
        v.ctx
            .fail(ApiError::new("invalid_request").detail("to is zh or en"))
    })?;
    let mut response = redirect(&next_of(q.next.as_deref()));
    if let Some(cookie) = v.ctx.cookie(LANG_COOKIE, lang.as_str(), Some(365 * 86_400)) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}
