//! The OpenAPI 3.1 document of the API and its viewer. Operations come from the handlers'
//! `#[utoipa::path]` attributes; each names the problem codes it can answer in
//! `x-problem-codes`, and [`finish`] adds the codes every route of its kind can answer (a
//! malformed body, a missing session…) and turns them into `application/problem+json`
//! responses grouped by status, each listing its codes with their titles from
//! [`codes::ALL`]. Swagger UI is served from the binary (vendored, no CDN).

use super::{DOCS_PATH, OPENAPI_PATH};
use crate::error::codes;
use crate::hub::Hub;
use axum::Router;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};
use utoipa::{Modify, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

/// The extension naming an operation's problem codes.
pub const PROBLEM_CODES: &str = "x-problem-codes";
/// The media type of refusals.
pub const PROBLEM_JSON: &str = "application/problem+json";
/// Codes any route may answer: an unknown route, a method the route does not take.
pub const ANY_ROUTE: &[&str] = &["not_found", "method_not_allowed", "internal"];

/// A refusal (RFC 9457). Extra members depend on the code: `attempts_left`, `locked_until`,
/// `until`, `rule`, `bank`, `inquiry_id`, `line`/`column`, `limit_bytes`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// `urn:chaka:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// What the code means.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// The stable code (see each operation's responses).
    pub code: String,
    /// Details for this occurrence (never personal data).
    pub detail: Option<String>,
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The `token` answered by `POST /api/v1/sessions`."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::extract::SESSION_COOKIE,
                "The session cookie set by `POST /api/v1/sessions` (HttpOnly, SameSite=Strict). \
                 Writes that another site starts are refused with `csrf`.",
            ))),
        );
    }
}

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "chaka hub API",
        description = "One-click card lookup (一键查卡): real-name accounts, the payment PIN, lookups \
            fanned out to banks, and reports sealed to the cardholder's key. Every refusal is \
            `application/problem+json` with a stable `code`; every answer is `Cache-Control: no-store`. \
            Request bodies are JSON (`Content-Type: application/json`), at most 64 KiB, and unknown \
            fields are refused."
    ),
    components(schemas(Problem)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "accounts", description = "Registration and SMS codes."),
        (name = "sessions", description = "Login, sessions, logout."),
        (name = "me", description = "The caller's profile, password, phone and audit trail."),
        (name = "pin", description = "The payment PIN."),
        (name = "inquiries", description = "Banks, the agreement, and lookups."),
        (name = "reports", description = "Opening a report with the PIN."),
        (name = "health", description = "Liveness and readiness."),
    )
)]
struct ApiDoc;

/// The document's skeleton (information, security schemes, shared schemas).
pub fn base() -> OpenApi {
    <ApiDoc as utoipa::OpenApi>::openapi()
}

fn operations(doc: &mut OpenApi) -> Vec<(&'static str, &mut Operation)> {
    let mut all = Vec::new();
    for item in doc.paths.paths.values_mut() {
        let methods = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
            ("head", &mut item.head),
            ("options", &mut item.options),
            ("trace", &mut item.trace),
        ];
        for (method, operation) in methods {
            if let Some(operation) = operation.as_mut() {
                all.push((method, operation));
            }
        }
    }
    all
}

/// The problem codes an operation declares in `x-problem-codes`.
pub fn declared_codes(operation: &Operation) -> Vec<String> {
    operation
        .extensions
        .as_ref()
        .and_then(|e| e.get(PROBLEM_CODES))
        .and_then(|v| v.as_array())
        .map(|codes| {
            codes
                .iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn document_problems(method: &str, operation: &mut Operation) {
    let mut codes = declared_codes(operation);
    if operation.request_body.is_some() {
        codes.extend(
            [
                "invalid_request",
                "body_too_large",
                "unsupported_media_type",
            ]
            .map(String::from),
        );
    }
    if operation.security.as_ref().is_some_and(|s| !s.is_empty()) {
        codes.push("unauthenticated".into());
        if method != "get" {
            codes.push("csrf".into());
        }
    }
    codes.push("internal".into());
    codes.sort();
    codes.dedup();
    let mut by_status: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    for code in &codes {
        by_status
            .entry(codes::status_of(code).as_u16())
            .or_default()
            .push(code);
    }
    for (status, list) in by_status {
        let description = list
            .iter()
            .map(|c| format!("`{c}`: {}", codes::title_of(c)))
            .collect::<Vec<_>>()
            .join("\n\n");
        let content = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build();
        let response = ResponseBuilder::new()
            .description(description)
            .content(PROBLEM_JSON, content)
            .build();
        operation
            .responses
            .responses
            .insert(status.to_string(), response.into());
    }
    let extensions = operation.extensions.get_or_insert_with(Extensions::default);
    extensions.insert(PROBLEM_CODES.to_owned(), serde_json::json!(codes));
}

/// Completes the generated document: problem responses on every operation, and the catalogue
/// of every code (status and title) as the document's `x-problem-codes`.
pub fn finish(mut doc: OpenApi) -> OpenApi {
    for (method, operation) in operations(&mut doc) {
        document_problems(method, operation);
    }
    let catalogue: serde_json::Map<String, serde_json::Value> = codes::ALL
        .iter()
        .map(|(code, status, title)| {
            let any_route = ANY_ROUTE.contains(code);
            let entry = serde_json::json!({ "status": status.as_u16(), "title": title, "any_route": any_route });
            ((*code).to_owned(), entry)
        })
        .collect();
    let extensions = doc.extensions.get_or_insert_with(Extensions::default);
    extensions.insert(
        PROBLEM_CODES.to_owned(),
        serde_json::Value::Object(catalogue),
    );
    let any_route = ANY_ROUTE
        .iter()
        .map(|c| {
            format!(
                "`{c}` ({}): {}",
                codes::status_of(c).as_u16(),
                codes::title_of(c)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let description = doc.info.description.get_or_insert_with(String::new);
    description.push_str(&format!("\n\nAny route may also answer {any_route}"));
    doc
}

/// `GET /api/openapi.json` and the Swagger UI at `/api/docs`.
pub fn router(doc: OpenApi) -> Router<Arc<Hub>> {
    Router::from(SwaggerUi::new(DOCS_PATH).url(OPENAPI_PATH, doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_code_is_a_known_code_and_every_code_is_answerable() {
        let mut doc = crate::api::openapi();
        let mut answered: Vec<String> = ANY_ROUTE.iter().map(|c| (*c).to_owned()).collect();
        for (_, operation) in operations(&mut doc) {
            for code in declared_codes(operation) {
                assert!(
                    codes::ALL.iter().any(|(c, _, _)| *c == code),
                    "unknown code {code}"
                );
                answered.push(code);
            }
        }
        for (code, _, _) in codes::ALL {
            assert!(
                answered.iter().any(|c| c == code),
                "{code} is answered by no documented route"
            );
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_with_both_security_schemes() {
        let json = serde_json::to_value(crate::api::openapi()).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(json["components"]["securitySchemes"]["bearer"].is_object());
        assert!(json["components"]["securitySchemes"]["cookie"].is_object());
        let submit = &json["paths"]["/api/v1/inquiries"]["post"];
        assert_eq!(
            submit["responses"]["409"]["content"][PROBLEM_JSON]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
        assert!(
            submit["responses"]["409"]["description"]
                .as_str()
                .unwrap()
                .contains("`cooling_down`")
        );
    }
}
