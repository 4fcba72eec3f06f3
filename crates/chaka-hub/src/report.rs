//! Reports: opening one with the payment PIN (the PIN unwraps the user's key, the banks'
//! sealed answers are opened in memory, rendered, and the plaintext dropped zeroized), what the
//! opened report shows, and the 7-day purge (the sweeper also runs at start-up, so a restored
//! old backup never serves an expired report).

use crate::error::ApiError;
use crate::hub::Hub;
use crate::store::{Account, InquiryRecord};
use chaka_core::{BankCode, BankRegistry, CardKind, InquiryId, YearMonth};
use chaka_protocol::limits::Limits;
use chaka_protocol::message::{CardList, Outcome, UnlistedReason};
use chaka_protocol::seal::SealedCardList;
use serde::Serialize;
use time::OffsetDateTime;

/// The anti-fraud notice shown with every report, as the real service shows it.
pub const NOTICE_ZH: &str = "任何人要求您代为查卡、读出验证码或告知查询结果，都是诈骗。发现非本人办理的银行卡，请立即联系发卡银行。";
/// The notice in English.
pub const NOTICE_EN: &str = "Nobody legitimate ever asks you to run a lookup, to read out a code or to tell them the result. If you find a card you did not open, contact the issuing bank at once.";

/// An opened report.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Report {
    /// The inquiry.
    pub inquiry_id: String,
    /// When the report became final.
    pub generated_at: String,
    /// When it will be deleted.
    pub expires_at: String,
    /// Per bank, in the order asked.
    pub banks: Vec<BankSection>,
    /// Totals.
    pub summary: Summary,
    /// The anti-fraud notice (Chinese).
    pub notice_zh: &'static str,
    /// The anti-fraud notice (English).
    pub notice_en: &'static str,
}

/// Totals of a report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default, utoipa::ToSchema)]
pub struct Summary {
    /// Cards listed.
    pub cards: usize,
    /// Debit (and prepaid) cards listed.
    pub debit: usize,
    /// Credit (and semi-credit) cards listed.
    pub credit: usize,
    /// Cards the banks could not list.
    pub unlisted: u32,
    /// Banks that did not answer before the deadline.
    pub banks_without_answer: usize,
}

/// One bank's part.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct BankSection {
    /// Code.
    pub bank: String,
    /// 中文名.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// `cards_found`, `none`, `no_answer` or `refused`.
    pub outcome: &'static str,
    /// The bank's refusal reason, when refused.
    pub refusal: Option<String>,
    /// Listed cards.
    pub cards: Vec<CardView>,
    /// Cards the bank could not list, by reason.
    pub unlisted: Vec<UnlistedView>,
    /// Debit cards listed.
    pub debit: usize,
    /// Credit cards listed.
    pub credit: usize,
}

/// A listed card.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CardView {
    /// `6222 **** **** 1234`.
    pub masked: String,
    /// First 4 digits.
    pub first4: String,
    /// Last 4 digits.
    pub last4: String,
    /// `debit`, `credit`, `semi_credit`, `prepaid`.
    pub kind: &'static str,
    /// `normal`, `dormant`, `frozen`, `reported_lost`.
    pub status: &'static str,
    /// Opening month.
    pub opened: String,
    /// Last activity month.
    pub last_active: Option<String>,
    /// No activity for the configured number of months: consider closing it.
    pub long_unused: bool,
    /// The bank's product name.
    pub product: String,
}

/// Cards a bank could not list for one reason.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct UnlistedView {
    /// Reason code.
    pub reason: &'static str,
    /// How many.
    pub count: u32,
    /// What to do (Chinese).
    pub advice_zh: &'static str,
    /// What to do (English).
    pub advice_en: &'static str,
}

fn advice(reason: UnlistedReason) -> (&'static str, &'static str) {
    match reason {
        UnlistedReason::NoReservedPhone => (
            "该卡未预留手机号，请携带身份证到银行网点查询或补充预留手机号。",
            "No phone is reserved on the card: ask the bank, with your ID card, to check it or add your number.",
        ),
        UnlistedReason::ReservedPhoneDiffers => (
            "该卡预留手机号与本账户不一致，请联系银行核实并更新预留手机号。",
            "The card's reserved phone is not this account's: ask the bank to check and update it.",
        ),
        UnlistedReason::IdDocumentExpired => (
            "银行登记的身份证件已过期，请到银行更新证件信息。",
            "The ID document the bank has on file has expired: update it at the bank.",
        ),
        UnlistedReason::CardNotPresentDisabled => (
            "该卡已关闭无卡支付功能，请联系银行查询。",
            "Online (card-not-present) payments are disabled on the card: ask the bank.",
        ),
        UnlistedReason::Closed => ("该卡已销户。", "The card is closed."),
        _ => ("请联系发卡银行。", "Contact the issuing bank."),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Rows per table deleted in one transaction of the trail's purge.
const TRAIL_CHUNK: i64 = 5_000;

impl Hub {
    /// Opens a final report with the payment PIN.
    pub async fn open_report(
        &self,
        account: &Account,
        inquiry_id: &str,
        pin: &str,
    ) -> Result<Report, ApiError> {
        let record = self.inquiry_of(account, inquiry_id).await?;
        match record.state.as_str() {
            "purged" => return Err(ApiError::new("report_gone")),
            "open" => return Err(ApiError::new("report_not_ready")),
            _ => {}
        }
        let now = self.clock.now();
        if record.purge_after.is_some_and(|at| at <= now) {
            // Due but not swept yet: never served.
            return Err(ApiError::new("report_gone"));
        }
        if account.pin.as_ref().map(|p| p.key_generation) != Some(record.key_generation) {
            return Err(ApiError::new("report_unreadable"));
        }
        let secret = self.check_pin(account, pin).await?;
        let report = self.render(&record, &secret, now).await?;
        self.audit(
            Some(&account.account_id),
            "report_opened",
            Some(&record.inquiry_id),
            serde_json::json!({}),
        )
        .await?;
        Ok(report)
    }

    async fn render(
        &self,
        record: &InquiryRecord,
        secret: &chaka_protocol::keys::RecipientSecretKey,
        now: OffsetDateTime,
    ) -> Result<Report, ApiError> {
        let inquiry_id =
            InquiryId::parse(&record.inquiry_id).map_err(|e| ApiError::internal(&e))?;
        let answers = self.store.answers(&record.inquiry_id).await?;
        let registry = BankRegistry::builtin();
        let long_unused_months = self.config.rules.long_unused_months;
        let this_month = YearMonth::from_date(now.date());
        let limits = Limits::default();
        let mut sections = Vec::with_capacity(record.banks.len());
        let mut summary = Summary::default();
        for code in &record.banks {
            let bank = BankCode::parse(code).map_err(|e| ApiError::internal(&e))?;
            let info = registry.get(&bank);
            let mut section = BankSection {
                bank: code.clone(),
                name_zh: info.map(|b| b.name_zh.clone()).unwrap_or_default(),
                name_en: info.map(|b| b.name_en.clone()).unwrap_or_default(),
                outcome: "no_answer",
                refusal: None,
                cards: Vec::new(),
                unlisted: Vec::new(),
                debit: 0,
                credit: 0,
            };
            if let Some(answer) = answers.iter().find(|a| &a.bank == code) {
                let outcome = Outcome::from_json(answer.outcome.as_bytes())
                    .map_err(|e| ApiError::internal(&e))?;
                match outcome {
                    Outcome::NoMatch => section.outcome = "none",
                    Outcome::Refused { reason } => {
                        section.outcome = "refused";
                        section.refusal = Some(reason.as_str().to_owned());
                    }
                    Outcome::Matched => {
                        let sealed = SealedCardList::from_json(
                            answer.sealed.as_deref().unwrap_or_default(),
                            &limits,
                        )
                        .map_err(|e| ApiError::internal(&e))?;
                        let list = CardList::open(&sealed, secret, &inquiry_id, &bank, &limits)
                            .map_err(|e| ApiError::internal(&e))?;
                        for card in &list.cards {
                            let debit = matches!(card.kind, CardKind::Debit | CardKind::Prepaid);
                            if debit {
                                section.debit += 1;
                            } else {
                                section.credit += 1;
                            }
                            let last = card.last_active.unwrap_or(card.opened);
                            section.cards.push(CardView {
                                masked: card.pan.to_string(),
                                first4: card.pan.first4().to_owned(),
                                last4: card.pan.last4().to_owned(),
                                kind: card.kind.as_str(),
                                status: card.status.as_str(),
                                opened: card.opened.to_string(),
                                last_active: card.last_active.map(|m| m.to_string()),
                                long_unused: last.months_until(this_month) >= long_unused_months,
                                product: card.product.clone(),
                            });
                        }
                        for u in &list.unlisted {
                            let (zh, en) = advice(u.reason);
                            summary.unlisted += u.count;
                            section.unlisted.push(UnlistedView {
                                reason: u.reason.as_str(),
                                count: u.count,
                                advice_zh: zh,
                                advice_en: en,
                            });
                        }
                        section.outcome = if list.cards.is_empty() && list.unlisted.is_empty() {
                            "none"
                        } else {
                            "cards_found"
                        };
                    }
                }
            }
            if section.outcome == "no_answer" {
                summary.banks_without_answer += 1;
            }
            summary.cards += section.cards.len();
            summary.debit += section.debit;
            summary.credit += section.credit;
            sections.push(section);
        }
        Ok(Report {
            inquiry_id: record.inquiry_id.clone(),
            generated_at: record.finalized_at.map(rfc3339).unwrap_or_default(),
            expires_at: record.purge_after.map(rfc3339).unwrap_or_default(),
            banks: sections,
            summary,
            notice_zh: NOTICE_ZH,
            notice_en: NOTICE_EN,
        })
    }

    /// Purges every report past its retention (run periodically and at start-up), then the
    /// working records older than the retention that no rule reads any more (SMS codes, sent
    /// SMS, idempotency keys), in chunks of [`TRAIL_CHUNK`] rows per table and transaction.
    /// The audit trail stays. Returns the reports purged.
    pub async fn sweep(&self) -> Result<usize, ApiError> {
        let now = self.clock.now();
        let purged = self.store.purge_due(now).await?;
        if !purged.is_empty() {
            tracing::info!(
                reports = purged.len(),
                "purged reports past their retention"
            );
        }
        let before = now - self.config.rules.retention();
        let mut trail = crate::store::inquiries::TrailPurged::default();
        loop {
            let chunk = self.store.purge_trail(before, TRAIL_CHUNK).await?;
            trail += chunk;
            if chunk.most() < TRAIL_CHUNK as u64 {
                break;
            }
        }
        if trail.total() > 0 {
            tracing::info!(
                codes = trail.codes,
                messages = trail.messages,
                idempotency_keys = trail.idempotency_keys,
                "purged working records past the retention"
            );
        }
        Ok(purged.len())
    }
}
