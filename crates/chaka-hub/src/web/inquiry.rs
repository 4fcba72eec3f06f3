//! One lookup in the browser: its per-bank progress (the page updates itself from the API
//! without reloading; the user may leave and come back), the expected time, and once it is
//! final the PIN pad that opens the report; the report itself, grouped by bank, with the time
//! left before deletion; and "this card is not mine". A report page is rendered in answer to
//! the PIN and never cached; the PIN is never kept in the page or the browser.

use super::banks::badge;
use super::form::WebForm;
use super::home::state_key;
use super::page::{Ctx, Failure, Visitor, local_time, parse_time, render};
use crate::error::ApiError;
use crate::hub::Hub;
use crate::inquiry::progress_of;
use crate::report::Report;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

/// One bank's line.
struct BankLine {
    code: String,
    name: String,
    initials: String,
    hue: u8,
    state: &'static str,
    state_key: &'static str,
}

#[derive(Template)]
#[template(path = "web/inquiry.html")]
struct InquiryPage<'a> {
    ctx: &'a Ctx,
    error: Option<String>,
    notice: Option<String>,
    id: String,
    state: String,
    state_key: &'static str,
    created: String,
    deadline: String,
    expires: String,
    banks: Vec<BankLine>,
    answered: usize,
    locked_until: Option<String>,
    attempts_left: i64,
    digits: [u8; 9],
}

fn progress_key(state: &str) -> &'static str {
    match state {
        "answered" => "progress.answered",
        "no_answer" => "progress.no_answer",
        "retrying" => "progress.retrying",
        _ => "progress.waiting",
    }
}

async fn inquiry_page(
    hub: &Hub,
    v: &Visitor,
    inquiry_id: &str,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, Failure> {
    let caller = v.require()?;
    let fail = |e: ApiError| v.ctx.fail(e);
    let record = hub
        .inquiry_of(&caller.account, inquiry_id)
        .await
        .map_err(fail)?;
    let legs = hub
        .store
        .legs(&record.inquiry_id)
        .await
        .map_err(|e| fail(e.into()))?;
    let banks: Vec<BankLine> = record
        .banks
        .iter()
        .map(|code| {
            let state = legs
                .iter()
                .find(|l| &l.bank == code)
                .map_or("waiting", progress_of);
            let b = badge(code, v.ctx.lang);
            BankLine {
                code: b.code,
                name: b.name,
                initials: b.initials,
                hue: b.hue,
                state,
                state_key: progress_key(state),
            }
        })
        .collect();
    let now = hub.clock.now();
    let account = &caller.account;
    let page = InquiryPage {
        ctx: &v.ctx,
        error,
        notice: None,
        id: record.inquiry_id.clone(),
        state: record.state.clone(),
        state_key: state_key(&record.state),
        created: local_time(record.created_at),
        deadline: local_time(record.deadline),
        expires: record.purge_after.map(local_time).unwrap_or_default(),
        answered: banks.iter().filter(|b| b.state == "answered").count(),
        banks,
        locked_until: account
            .pin_locked_until
            .filter(|until| *until > now)
            .map(local_time),
        attempts_left: (hub.config.rules.pin_max_failures - account.pin_failures).max(0),
        digits: [1, 2, 3, 4, 5, 6, 7, 8, 9],
    };
    Ok(render(&v.ctx, status, &page))
}

/// The progress page.
pub async fn page(
    State(hub): State<Arc<Hub>>,
    v: Visitor,
    Path(inquiry_id): Path<String>,
) -> Result<Response, Failure> {
    inquiry_page(&hub, &v, &inquiry_id, StatusCode::OK, None).await
}

/// A listed card as the page shows it.
struct CardLine {
    masked: String,
    kind: &'static str,
    kind_key: String,
    status: &'static str,
    status_key: String,
    opened: String,
    last_active: Option<String>,
    long_unused: bool,
    product: String,
    disputed: bool,
}

/// Cards a bank could not list.
struct UnlistedLine {
    reason: &'static str,
    reason_key: String,
    count: u32,
    advice: &'static str,
}

/// One bank's part of the report.
struct Section {
    code: String,
    name: String,
    initials: String,
    hue: u8,
    outcome: &'static str,
    debit: usize,
    credit: usize,
    cards: Vec<CardLine>,
    unlisted: Vec<UnlistedLine>,
}

#[derive(Template)]
#[template(path = "web/report.html")]
struct ReportPage<'a> {
    ctx: &'a Ctx,
    id: String,
    report: Report,
    sections: Vec<Section>,
    generated: String,
    expires: String,
    days_left: i64,
    notice: &'static str,
}

/// Opens the report with the PIN; a wrong PIN shows the pad again with the tries left.
pub async fn open(
    State(hub): State<Arc<Hub>>,
    v: Visitor,
    Path(inquiry_id): Path<String>,
    form: WebForm,
) -> Result<Response, Failure> {
    let caller = v.require()?;
    let report = match hub
        .open_report(&caller.account, &inquiry_id, form.get("pin"))
        .await
    {
        Ok(report) => report,
        Err(e) if matches!(e.code(), "wrong_pin" | "pin_locked") => {
            // The pad again, with the counter as stored now.
            let fresh = Visitor {
                ctx: v.ctx.clone(),
                caller: match &v.caller {
                    Some(c) => Some(crate::api::extract::Caller {
                        session: c.session.clone(),
                        account: hub
                            .account_of(&c.session)
                            .await
                            .map_err(|e| v.ctx.fail(e))?,
                    }),
                    None => None,
                },
            };
            let message = v.ctx.explain(&e);
            return inquiry_page(&hub, &fresh, &inquiry_id, e.status(), Some(message)).await;
        }
        Err(e) => return Err(v.ctx.fail(e)),
    };
    render_report(&hub, &v, report).await
}

async fn render_report(hub: &Hub, v: &Visitor, report: Report) -> Result<Response, Failure> {
    let caller = v.require()?;
    let lang = v.ctx.lang;
    let pairs: Vec<(&str, &str)> = report
        .banks
        .iter()
        .flat_map(|s| s.cards.iter().map(|c| (s.bank.as_str(), c.masked.as_str())))
        .collect();
    let disputed = hub
        .disputed_cards(&caller.account, &report.inquiry_id, &pairs)
        .await
        .map_err(|e| v.ctx.fail(e))?;
    let mut marks = disputed.into_iter();
    let sections = report
        .banks
        .iter()
        .map(|s| {
            let b = badge(&s.bank, lang);
            Section {
                code: b.code,
                name: b.name,
                initials: b.initials,
                hue: b.hue,
                outcome: s.outcome,
                debit: s.debit,
                credit: s.credit,
                cards: s
                    .cards
                    .iter()
                    .map(|c| CardLine {
                        masked: c.masked.clone(),
                        kind: c.kind,
                        kind_key: format!("kind.{}", c.kind),
                        status: c.status,
                        status_key: format!("status.{}", c.status),
                        opened: c.opened.clone(),
                        last_active: c.last_active.clone(),
                        long_unused: c.long_unused,
                        product: c.product.clone(),
                        disputed: marks.next().unwrap_or(false),
                    })
                    .collect(),
                unlisted: s
                    .unlisted
                    .iter()
                    .map(|u| UnlistedLine {
                        reason: u.reason,
                        reason_key: format!("unlisted.{}", u.reason),
                        count: u.count,
                        advice: lang.pick(u.advice_zh, u.advice_en),
                    })
                    .collect(),
            }
        })
        .collect();
    let now = hub.clock.now();
    let expires_at = parse_time(&report.expires_at);
    let page = ReportPage {
        ctx: &v.ctx,
        id: report.inquiry_id.clone(),
        sections,
        generated: parse_time(&report.generated_at)
            .map(local_time)
            .unwrap_or_default(),
        expires: expires_at.map(local_time).unwrap_or_default(),
        days_left: expires_at.map_or(0, |e| ((e - now).whole_seconds().max(0) + 86_399) / 86_400),
        notice: lang.pick(crate::report::NOTICE_ZH, crate::report::NOTICE_EN),
        report,
    };
    Ok(render(&v.ctx, StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "web/not_mine.html")]
struct NotMinePage<'a> {
    ctx: &'a Ctx,
    id: String,
    card: String,
    bank: String,
}

/// Records "this card is not mine" and tells the user what to do next.
pub async fn not_mine(
    State(hub): State<Arc<Hub>>,
    v: Visitor,
    Path(inquiry_id): Path<String>,
    form: WebForm,
) -> Result<Response, Failure> {
    let caller = v.require()?;
    let bank = form.get("bank");
    hub.dispute_card(&caller.account, &inquiry_id, bank, form.get("card"))
        .await
        .map_err(|e| v.ctx.fail(e))?;
    let page = NotMinePage {
        ctx: &v.ctx,
        id: inquiry_id.clone(),
        card: form.get("card").to_owned(),
        bank: badge(bank, v.ctx.lang).name,
    };
    Ok(render(&v.ctx, StatusCode::OK, &page))
}
