//! The cardholder web app served at `/`: server-rendered pages (askama templates compiled into
//! the binary) for everything the API offers — register, log in, the payment PIN, the account,
//! asking for a lookup, following it live, opening the report with the PIN, and reporting a
//! card that is not the user's — in Chinese (default) and English. The pages call the same
//! flows of [`Hub`] as the JSON API; they hold no rules of their own. Every page is sent with a
//! strict Content-Security-Policy (no inline script or style, nothing from another origin),
//! `Cache-Control: no-store`, and clickjacking protection; every form carries an anti-forgery
//! token ([`form`]); the one script (`/static/app.js`) only enhances the pages (live progress,
//! the PIN pad, the agreement gate, the code countdown).

pub mod ask;
pub mod auth;
pub mod banks;
pub mod form;
pub mod home;
pub mod i18n;
pub mod inquiry;
pub mod page;
pub mod problems;
pub mod settings;
pub mod texts;

use crate::hub::Hub;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;

/// The Content-Security-Policy of every page: only this origin's script, style and images, no
/// inline code, no framing, forms only to this origin.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const APP_CSS: &str = include_str!("../../assets/web/app.css");
const APP_JS: &str = include_str!("../../assets/web/app.js");
const ICON_SVG: &str = include_str!("../../assets/web/icon.svg");

/// The web app's routes.
pub fn router() -> Router<Arc<Hub>> {
    Router::new()
        .route("/", get(home::index))
        .route("/lang", get(auth::lang))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/register", get(auth::register_page).post(auth::register))
        .route("/register/code", post(auth::register_code))
        .route("/pin", get(settings::pin_page))
        .route("/pin/set", post(settings::pin_set))
        .route("/pin/change", post(settings::pin_change))
        .route("/pin/reset", post(settings::pin_reset))
        .route("/pin/reset/code", post(settings::pin_reset_code))
        .route("/account", get(settings::account_page))
        .route("/account/password", post(settings::password))
        .route("/account/phone", post(settings::phone))
        .route("/account/phone/code-old", post(settings::phone_code_old))
        .route("/account/phone/code-new", post(settings::phone_code_new))
        .route(
            "/account/sessions/{session_id}/revoke",
            post(settings::revoke),
        )
        .route("/ask", get(ask::page).post(ask::submit))
        .route("/ask/code", post(ask::code))
        .route("/inquiries/{inquiry_id}", get(inquiry::page))
        .route("/inquiries/{inquiry_id}/report", post(inquiry::open))
        .route("/inquiries/{inquiry_id}/not-mine", post(inquiry::not_mine))
        .layer(axum::middleware::map_response(page_headers))
        .route(
            "/static/app.css",
            get(|| asset("text/css; charset=utf-8", APP_CSS)),
        )
        .route(
            "/static/app.js",
            get(|| asset("text/javascript; charset=utf-8", APP_JS)),
        )
        .route("/static/icon.svg", get(|| asset("image/svg+xml", ICON_SVG)))
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The headers of every page.
pub async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_FRAME_OPTIONS, "DENY"),
        // `same-origin`, not `no-referrer`: with no referrer a browser sends `Origin: null` on
        // form posts, and the origin check of cookie-authenticated writes needs the origin.
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=()",
        ),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The page for a path that does not exist.
pub async fn not_found(State(hub): State<Arc<Hub>>, request: Request) -> Response {
    use axum::extract::FromRequestParts;
    let (mut parts, _) = request.into_parts();
    let response = match page::Visitor::from_request_parts(&mut parts, &hub).await {
        Ok(visitor) => visitor
            .ctx
            .fail(crate::error::ApiError::new("not_found"))
            .into_response(),
        Err(failure) => failure.into_response(),
    };
    let mut response = page_headers(response).await;
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}
