//! Asking for a lookup in the browser: the banks open to the user's region, grouped, all ticked
//! at first; the authorization agreement (the "agree" box is enabled once the text has been
//! shown in full); the SMS code; and the submission, under an idempotency key drawn when the
//! page was shown, so a form sent twice makes one lookup. The page never asks for a name, an
//! ID number, a card number or a phone: the hub takes them from the verified profile.

use super::banks::{BankBadge, GROUPS, badge, group_of};
use super::form::WebForm;
use super::page::{Ctx, Failure, Visitor, redirect, render};
use crate::agreement::{self, AgreementLang};
use crate::error::ApiError;
use crate::hub::Hub;
use crate::inquiry::{Submission, SubmitRequest};
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// A bank to tick.
struct BankOption {
    code: String,
    name: String,
    initials: String,
    hue: u8,
    checked: bool,
}

/// A group of banks.
struct BankGroup {
    title_key: &'static str,
    banks: Vec<BankOption>,
}

#[derive(Template)]
#[template(path = "web/ask.html")]
struct AskPage<'a> {
    ctx: &'a Ctx,
    error: Option<String>,
    notice: Option<String>,
    closed_region: Option<String>,
    groups: Vec<BankGroup>,
    agreement: &'static str,
    agreement_lang: &'static str,
    version: &'static str,
    agreed: bool,
    key: String,
    wait: i64,
}

/// What the form had, to show it again.
#[derive(Default)]
struct AskState {
    error: Option<String>,
    notice: Option<String>,
    selected: Option<Vec<String>>,
    agreed: bool,
    key: Option<String>,
    wait: i64,
}

fn ask_page(
    hub: &Hub,
    v: &Visitor,
    status: StatusCode,
    state: AskState,
) -> Result<Response, Failure> {
    let caller = v.require()?;
    let lang = match v.ctx.lang {
        super::i18n::Lang::Zh => AgreementLang::Zh,
        super::i18n::Lang::En => AgreementLang::En,
    };
    let mut page = AskPage {
        ctx: &v.ctx,
        error: state.error,
        notice: state.notice,
        closed_region: None,
        groups: Vec::new(),
        agreement: agreement::text(lang),
        agreement_lang: lang.as_str(),
        version: agreement::VERSION,
        agreed: state.agreed,
        key: state
            .key
            .filter(|k| k.len() <= 64)
            .unwrap_or_else(crate::vault::random_token),
        wait: state.wait,
    };
    match hub.banks_for(&caller.account) {
        Ok(banks) => {
            for title_key in GROUPS {
                let banks: Vec<BankOption> = banks
                    .iter()
                    .filter(|b| group_of(b.code.as_str()) == title_key)
                    .map(|b| {
                        let BankBadge {
                            code,
                            name,
                            initials,
                            hue,
                        } = badge(b.code.as_str(), v.ctx.lang);
                        let checked = state.selected.as_ref().is_none_or(|s| s.contains(&code));
                        BankOption {
                            code,
                            name,
                            initials,
                            hue,
                            checked,
                        }
                    })
                    .collect();
                if !banks.is_empty() {
                    page.groups.push(BankGroup { title_key, banks });
                }
            }
        }
        Err(e) if e.code() == "region_not_open" => {
            let regions = chaka_core::RegionRegistry::builtin();
            let region = &caller.account.region;
            page.closed_region = Some(regions.get(region).map_or_else(
                || region.clone(),
                |r| v.ctx.lang.pick(&r.name_zh, &r.name_en).to_owned(),
            ));
        }
        Err(e) => return Err(v.ctx.fail(e)),
    }
    Ok(render(&v.ctx, status, &page))
}

/// The "ask" page.
pub async fn page(State(hub): State<Arc<Hub>>, v: Visitor) -> Result<Response, Failure> {
    ask_page(&hub, &v, StatusCode::OK, AskState::default())
}

fn state_of(form: &WebForm) -> AskState {
    AskState {
        selected: Some(form.all("banks")),
        agreed: form.ticked("agree"),
        key: Some(form.get("key").to_owned()).filter(|k| !k.is_empty()),
        ..AskState::default()
    }
}

/// Sends the code that confirms the lookup (the rules are checked first).
pub async fn code(
    State(hub): State<Arc<Hub>>,
    v: Visitor,
    form: WebForm,
) -> Result<Response, Failure> {
    let caller = v.require()?;
    let mut state = state_of(&form);
    let status = match hub.send_inquiry_code(&caller.account).await {
        Ok(()) => {
            state.notice = Some(v.ctx.t("code.sent_own").to_owned());
            state.wait = hub.config.rules.otp_resend_secs;
            StatusCode::OK
        }
        Err(e) => {
            state.error = Some(v.ctx.explain(&e));
            e.status()
        }
    };
    ask_page(&hub, &v, status, state)
}

/// Submits the lookup and goes to its progress page.
pub async fn submit(
    State(hub): State<Arc<Hub>>,
    v: Visitor,
    form: WebForm,
) -> Result<Response, Failure> {
    let caller = v.require()?;
    let mut state = state_of(&form);
    if !form.ticked("agree") {
        state.error = Some(v.ctx.t("ask.must_agree").to_owned());
        return ask_page(&hub, &v, StatusCode::UNPROCESSABLE_ENTITY, state);
    }
    let request = SubmitRequest {
        banks: form.all("banks"),
        consent_version: form.get("consent_version").to_owned(),
        consent_lang: form.get("consent_lang").to_owned(),
        code: form.get("code").to_owned(),
    };
    let submitted = async {
        let body = serde_json::to_vec(&request).map_err(|e| ApiError::internal(&e))?;
        let hash = hex::encode(Sha256::digest(&body));
        let key = format!("web:{}", form.get("key"));
        let (_, answer) = hub
            .submit_inquiry(&caller.account, &request, &key, &hash)
            .await?;
        serde_json::from_slice::<Submission>(&answer).map_err(|e| ApiError::internal(&e))
    }
    .await;
    match submitted {
        Ok(submission) => Ok(redirect(&format!("/inquiries/{}", submission.inquiry_id))),
        Err(e) if e.code() == "inquiry_in_flight" => match e.member("inquiry_id") {
            Some(id) => Ok(redirect(&format!(
                "/inquiries/{}",
                id.as_str().unwrap_or_default()
            ))),
            None => Err(v.ctx.fail(e)),
        },
        Err(e) => {
            state.error = Some(v.ctx.explain(&e));
            ask_page(&hub, &v, e.status(), state)
        }
    }
}
