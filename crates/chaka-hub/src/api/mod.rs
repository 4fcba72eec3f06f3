//! The hub's JSON API under `/api/v1`: thin handlers over the flows of [`Hub`] (accounts,
//! sessions, PIN, inquiries, reports), the OpenAPI 3.1 document generated from the same
//! routes (`/api/openapi.json`, browsable at `/api/docs`), `application/problem+json` for every
//! refusal, and `Cache-Control: no-store` on every answer. Handlers hold no rules and touch no
//! SQL: the flows decide, the store remembers. Nothing here logs a personal value.

pub mod accounts;
pub mod docs;
pub mod extract;
pub mod inquiries;
pub mod me;
pub mod meta;
pub mod pin;
pub mod reports;
pub mod sessions;

use crate::error::ApiError;
use crate::hub::Hub;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Where the API lives.
pub const PREFIX: &str = "/api/v1";
/// Where the OpenAPI document is served.
pub const OPENAPI_PATH: &str = "/api/openapi.json";
/// Where the interactive viewer is served.
pub const DOCS_PATH: &str = "/api/docs";

/// Every API route with its documentation, in one place: a route cannot be served without
/// being documented.
fn routes() -> OpenApiRouter<Arc<Hub>> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(accounts::send_code))
        .routes(routes!(accounts::register))
        .routes(routes!(sessions::login, sessions::list))
        .routes(routes!(sessions::logout))
        .routes(routes!(sessions::revoke))
        .routes(routes!(me::me))
        .routes(routes!(me::change_password))
        .routes(routes!(me::change_phone))
        .routes(routes!(me::audit))
        .routes(routes!(pin::set, pin::change))
        .routes(routes!(pin::reset))
        .routes(routes!(meta::banks))
        .routes(routes!(meta::agreement))
        .routes(routes!(meta::healthz))
        .routes(routes!(meta::readyz))
        .routes(routes!(inquiries::send_code))
        .routes(routes!(inquiries::submit, inquiries::list))
        .routes(routes!(inquiries::get))
        .routes(routes!(reports::open))
        .routes(routes!(reports::dispute));
    OpenApiRouter::with_openapi(docs::base()).nest(PREFIX, v1)
}

/// The OpenAPI document of the API (every route, every problem code it can answer).
pub fn openapi() -> utoipa::openapi::OpenApi {
    docs::finish(routes().into_openapi())
}

/// The API, its document and its viewer, ready to serve (the banks' callback endpoint is
/// merged by the runtime).
pub fn router(hub: Arc<Hub>) -> Router {
    let (api, document) = routes().split_for_parts();
    api.merge(docs::router(docs::finish(document)))
        .merge(crate::web::router())
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        .layer(axum::middleware::map_response(no_store))
        .with_state(hub)
}

/// An unknown path: a problem document under the API's and the banks' prefixes, the web
/// app's "no such page" elsewhere.
async fn no_route(
    state: axum::extract::State<Arc<Hub>>,
    request: axum::extract::Request,
) -> Response {
    let path = request.uri().path();
    if path.starts_with("/api/") || path.starts_with("/chaka/") {
        return ApiError::new("not_found")
            .detail("no such route")
            .into_response();
    }
    crate::web::not_found(state, request).await
}

async fn no_method() -> ApiError {
    ApiError::new("method_not_allowed")
}

async fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    // Static assets of the web app say how long they may be cached; everything else: never.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// RFC 3339, as every time in the API is written.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
