//! What every page shares: the visitor (language, anti-forgery token, the logged-in caller),
//! rendering a template into an HTML response, redirects, times shown in Beijing time, and the
//! error page that every refusal of the hub becomes in the browser (the same stable codes as
//! the API's `application/problem+json`, explained in the visitor's language).

use super::form::{CSRF_COOKIE, cookie};
use super::i18n::{LANG_COOKIE, Lang, from_cookie};
use crate::api::extract::Caller;
use crate::error::ApiError;
use crate::hub::Hub;
use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use std::sync::Arc;
use time::{OffsetDateTime, UtcOffset};

/// Beijing time, in which every time is shown.
const BEIJING: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(offset) => offset,
    Err(_) => UtcOffset::UTC,
};

/// What a page needs to know about the visitor.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The page's language.
    pub lang: Lang,
    /// The anti-forgery token every form carries.
    pub csrf: String,
    /// Whether the token is new (then the response sets its cookie).
    new_csrf: bool,
    /// Whether someone is logged in.
    pub signed_in: bool,
    /// This page's path and query (where the language switch comes back to).
    pub path: String,
    /// Cookies get `Secure` (the hub is served over https).
    secure: bool,
}

impl Ctx {
    /// The text of `key` in the page's language.
    pub fn t<'a>(&self, key: &'a str) -> &'a str {
        self.lang.t(key)
    }

    /// The link that switches to the other language and comes back here.
    pub fn lang_switch(&self) -> String {
        let next: String = url::form_urlencoded::byte_serialize(self.path.as_bytes()).collect();
        format!("/lang?to={}&next={next}", self.lang.other().as_str())
    }

    /// The other language's name, in that language.
    pub fn other_lang_name(&self) -> &'static str {
        match self.lang {
            Lang::Zh => "English",
            Lang::En => "中文",
        }
    }

    /// A cookie with the app's attributes.
    pub fn cookie(&self, name: &str, value: &str, max_age: Option<i64>) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        let age = max_age
            .map(|s| format!("; Max-Age={s}"))
            .unwrap_or_default();
        HeaderValue::from_str(&format!(
            "{name}={value}; HttpOnly; SameSite=Strict; Path=/{secure}{age}"
        ))
        .ok()
    }

    /// Explains a refusal in the page's language: its text, then what its members say.
    pub fn explain(&self, error: &ApiError) -> String {
        let key = format!("err.{}", error.code());
        let mut text = self.t(&key).to_owned();
        if text == key {
            text = self.t("err.internal").to_owned();
        }
        if let Some(n) = error.member("attempts_left").and_then(|v| v.as_i64()) {
            text.push(' ');
            text.push_str(&self.t("err.attempts_left").replace("{n}", &n.to_string()));
        }
        for member in ["locked_until", "until"] {
            if let Some(at) = error
                .member(member)
                .and_then(|v| v.as_str())
                .and_then(parse_time)
            {
                text.push(' ');
                text.push_str(&self.t("err.until").replace("{t}", &local_time(at)));
            }
        }
        text
    }

    /// A failure shown as the error page.
    pub fn fail(&self, error: ApiError) -> Failure {
        Failure(Box::new((self.clone(), error)))
    }
}

/// Parses an RFC 3339 time as the flows write them.
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// A time as the page shows it: `2026-11-28 10:00` in Beijing time.
pub fn local_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(BEIJING);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// The visitor of a page: who, in which language, with which anti-forgery token.
pub struct Visitor {
    /// The page context.
    pub ctx: Ctx,
    /// The logged-in caller, if any.
    pub caller: Option<Caller>,
}

impl Visitor {
    /// The caller, or the login page (which comes back here).
    pub fn require(&self) -> Result<&Caller, Failure> {
        self.caller
            .as_ref()
            .ok_or_else(|| self.ctx.fail(ApiError::new("unauthenticated")))
    }
}

fn token_is_sound(token: &str) -> bool {
    (16..=64).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl FromRequestParts<Arc<Hub>> for Visitor {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, hub: &Arc<Hub>) -> Result<Self, Failure> {
        let (csrf, new_csrf) = match cookie(&parts.headers, CSRF_COOKIE) {
            Some(token) if token_is_sound(token) => (token.to_owned(), false),
            _ => (crate::vault::random_token(), true),
        };
        let mut ctx = Ctx {
            lang: from_cookie(cookie(&parts.headers, LANG_COOKIE)),
            csrf,
            new_csrf,
            signed_in: false,
            path: parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned(),
            secure: hub.config.public_url.starts_with("https://"),
        };
        let caller = match crate::api::extract::caller(parts, hub).await {
            Ok(found) => found,
            Err(e) if e.code() == "csrf" => return Err(ctx.fail(e)),
            // A stale or revoked session is a visitor who is not logged in.
            Err(_) => None,
        };
        ctx.signed_in = caller.is_some();
        Ok(Self { ctx, caller })
    }
}

/// Renders a page.
pub fn render(ctx: &Ctx, status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => {
            let mut response = (status, Html(html)).into_response();
            if ctx.new_csrf
                && let Some(value) = ctx.cookie(CSRF_COOKIE, &ctx.csrf, None)
            {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            response
        }
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

/// A 303 to `to` (after a form).
pub fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Whether `next` is a path of this site (so a link cannot send the visitor elsewhere).
pub fn is_local(next: &str) -> bool {
    next.starts_with('/') && !next.starts_with("//") && !next.contains('\\')
}

/// The error page.
#[derive(Template)]
#[template(path = "web/error.html")]
struct ErrorPage<'a> {
    ctx: &'a Ctx,
    status: u16,
    code: &'a str,
    message: String,
}

/// A refusal, shown as a page in the visitor's language (or, when the visitor must log in
/// first, the login page).
#[derive(Debug)]
pub struct Failure(Box<(Ctx, ApiError)>);

impl From<Failure> for Response {
    fn from(f: Failure) -> Self {
        f.into_response()
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let (ctx, error) = *self.0;
        if error.code() == "unauthenticated" {
            let next: String = url::form_urlencoded::byte_serialize(ctx.path.as_bytes()).collect();
            return redirect(&format!("/login?next={next}"));
        }
        let status = error.status();
        let page = ErrorPage {
            ctx: &ctx,
            status: status.as_u16(),
            code: error.code(),
            message: ctx.explain(&error),
        };
        let mut response = render(&ctx, status, &page);
        if let Some(seconds) = error.retry_after_secs() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_are_shown_in_beijing_time() {
        assert_eq!(
            local_time(datetime!(2026-11-28 02:00 UTC)),
            "2026-11-28 10:00"
        );
    }

    #[test]
    fn only_local_paths_are_followed() {
        assert!(is_local("/inquiries/1?x=2"));
        assert!(!is_local("//evil.example/"));
        assert!(!is_local("https://evil.example/"));
        assert!(!is_local("/\\evil.example"));
    }

    #[test]
    fn every_problem_code_is_explained_in_both_languages() {
        for (code, _, _) in crate::error::codes::ALL {
            let key = format!("err.{code}");
            for lang in [Lang::Zh, Lang::En] {
                assert_ne!(lang.t(&key), key, "{key} has no {lang:?} text");
            }
        }
    }
}
