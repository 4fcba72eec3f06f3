//! SMS: the [`Sms`] a hub sends, the [`SmsGateway`] trait the outbox worker sends it through,
//! the [`ConsoleGateway`] (the demo's SMS: printed, phone masked, kept in memory), the signed
//! [`HttpGateway`], and the zh/en message [`templates`]. This module never stores messages
//! durably (the outbox does) and never logs a full phone number or a message text.

mod console;
mod http;
pub mod templates;

pub use console::ConsoleGateway;
pub use http::HttpGateway;
pub use templates::{Lang, Message, OtpPurpose, TemplateError, render, template_name};

use async_trait::async_trait;
use chaka_core::Phone;
use std::fmt;

/// One text message to one phone. `Debug` masks the phone and hides the text (it may carry a
/// code).
#[derive(Clone, PartialEq, Eq)]
pub struct Sms {
    /// At most one delivery per key: the gateway drops a repeated key (the outbox retries
    /// with the same key).
    pub idempotency_key: String,
    /// The recipient.
    pub to: Phone,
    /// The rendered text (see [`render`]).
    pub text: String,
    /// The template it was rendered from (see [`template_name`]).
    pub template: &'static str,
}

impl Sms {
    /// Renders `message` in `lang` into an SMS for `to`.
    pub fn render(
        idempotency_key: impl Into<String>,
        to: Phone,
        message: &Message,
        lang: Lang,
    ) -> Self {
        Self {
            idempotency_key: idempotency_key.into(),
            to,
            text: render(message, lang),
            template: template_name(message),
        }
    }
}

impl fmt::Debug for Sms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sms")
            .field("idempotency_key", &self.idempotency_key)
            .field("to", &self.to.masked())
            .field(
                "text",
                &format_args!("<{} chars>", self.text.chars().count()),
            )
            .field("template", &self.template)
            .finish()
    }
}

/// What a gateway says about a message it accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmsReceipt {
    /// The gateway's id for the message, when it gave one.
    pub message_id: Option<String>,
}

/// Why a message was not sent. Messages never carry a phone number or a message text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    /// Try again later with the same idempotency key (timeouts, connection errors, 429, 5xx).
    #[error("SMS not sent, retry later: {0}")]
    Retryable(String),
    /// Do not retry: the gateway refused the message (4xx), or the adapter is misconfigured.
    #[error("SMS refused: {0}")]
    Permanent(String),
}

impl SmsError {
    /// Whether the outbox should try again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable(_))
    }
}

/// Something that delivers text messages.
#[async_trait]
pub trait SmsGateway: Send + Sync {
    /// Sends one message. Sending the same idempotency key again must not deliver twice.
    async fn send(&self, sms: &Sms) -> Result<SmsReceipt, SmsError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_neither_phone_nor_text() {
        let sms = Sms::render(
            "otp:1",
            Phone::parse("13812345678").unwrap(),
            &Message::Otp {
                purpose: OtpPurpose::Register,
                code: "493817".into(),
            },
            Lang::Zh,
        );
        let shown = format!("{sms:?}");
        assert!(!shown.contains("13812345678"), "{shown}");
        assert!(!shown.contains("493817"), "{shown}");
        assert!(!shown.contains(&sms.text), "{shown}");
        assert!(shown.contains("138****5678"), "{shown}");
        assert!(shown.contains("otp_register"), "{shown}");
        let pretty = format!("{sms:#?}");
        assert!(!pretty.contains("13812345678") && !pretty.contains("493817"));
    }

    #[test]
    fn retryable_is_told_apart() {
        assert!(SmsError::Retryable("x".into()).is_retryable());
        assert!(!SmsError::Permanent("x".into()).is_retryable());
    }
}
