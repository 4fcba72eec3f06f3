//! The text of every SMS the hub sends, in Chinese (modelled on real bank SMS, signed 【查卡】,
//! one 70-character segment each) and English (signed `[chaka]`), each at most 140 characters. A text never carries a card
//! number, an ID number, a name or a phone number; only OTP texts carry a secret (the code),
//! and `Message`'s `Debug` hides it. [`Message::params`] / [`Message::secret`] /
//! [`Message::from_template`] take a message apart for the outbox and put it back together.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::Date;

/// Every text is at most this many characters (`char`s).
pub const MAX_CHARS: usize = 140;

/// Every Chinese text fits one SMS segment (70 UCS-2 characters), so each costs one message.
pub const MAX_CHARS_ZH: usize = 70;

/// The language of a user's messages. Stored as `zh` / `en`; Chinese unless the user chose
/// English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Simplified Chinese.
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// Both languages.
    pub const ALL: [Lang; 2] = [Lang::Zh, Lang::En];

    /// `zh` or `en`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zh => "zh",
            Self::En => "en",
        }
    }
}

impl FromStr for Lang {
    type Err = TemplateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "zh" => Ok(Self::Zh),
            "en" => Ok(Self::En),
            _ => Err(TemplateError::UnknownLang),
        }
    }
}

/// What an SMS code is for. A code is bound to its purpose: a code sent to register cannot
/// confirm an inquiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OtpPurpose {
    /// Proving the phone while registering.
    Register,
    /// Confirming a card lookup.
    Inquiry,
    /// Resetting the payment PIN.
    PinReset,
    /// Changing the phone: proving the old number.
    PhoneChangeOld,
    /// Changing the phone: proving the new number.
    PhoneChangeNew,
}

impl OtpPurpose {
    /// Every purpose.
    pub const ALL: [OtpPurpose; 5] = [
        OtpPurpose::Register,
        OtpPurpose::Inquiry,
        OtpPurpose::PinReset,
        OtpPurpose::PhoneChangeOld,
        OtpPurpose::PhoneChangeNew,
    ];

    /// The stable snake_case name (`register`, `inquiry`, `pin_reset`, `phone_change_old`,
    /// `phone_change_new`), used in OTP hashes and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Inquiry => "inquiry",
            Self::PinReset => "pin_reset",
            Self::PhoneChangeOld => "phone_change_old",
            Self::PhoneChangeNew => "phone_change_new",
        }
    }
}

impl FromStr for OtpPurpose {
    type Err = TemplateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or(TemplateError::UnknownPurpose)
    }
}

/// A message to a user. Render it with [`render`].
#[derive(Clone, PartialEq, Eq)]
pub enum Message {
    /// A one-time code (6 digits), valid 5 minutes.
    Otp {
        /// What the code confirms.
        purpose: OtpPurpose,
        /// The code. Secret: `Debug` hides it.
        code: String,
    },
    /// Sent with every submitted inquiry: "a card lookup was requested on your account".
    LookupRequested {
        /// How many banks are asked.
        banks: usize,
    },
    /// The report is final and can be opened; it is deleted on `expires`.
    ReportReady {
        /// The (China Standard Time) date on which the report is purged.
        expires: Date,
    },
    /// The account's phone number was changed (sent to the old and the new number).
    PhoneChanged,
    /// The payment PIN was reset.
    PinReset,
    /// Every session was signed out (after a password change).
    SessionsRevoked,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Otp { purpose, .. } => f
                .debug_struct("Otp")
                .field("purpose", purpose)
                .field("code", &"******")
                .finish(),
            Self::LookupRequested { banks } => f
                .debug_struct("LookupRequested")
                .field("banks", banks)
                .finish(),
            Self::ReportReady { expires } => f
                .debug_struct("ReportReady")
                .field("expires", expires)
                .finish(),
            Self::PhoneChanged => f.write_str("PhoneChanged"),
            Self::PinReset => f.write_str("PinReset"),
            Self::SessionsRevoked => f.write_str("SessionsRevoked"),
        }
    }
}

/// Why an outbox row cannot be turned back into a [`Message`]. Never carries the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template name is not one of [`template_name`]'s.
    #[error("unknown SMS template {0:?}")]
    UnknownTemplate(String),
    /// The language is not `zh` or `en`.
    #[error("unknown SMS language")]
    UnknownLang,
    /// The OTP purpose is not known.
    #[error("unknown OTP purpose")]
    UnknownPurpose,
    /// A parameter is missing or has the wrong type.
    #[error("SMS template parameter {0} is missing or invalid")]
    BadParam(&'static str),
    /// An OTP template without its code.
    #[error("SMS template needs its secret code")]
    MissingSecret,
}

const TEMPLATES: [&str; 10] = [
    "otp_register",
    "otp_inquiry",
    "otp_pin_reset",
    "otp_phone_change_old",
    "otp_phone_change_new",
    "lookup_requested",
    "report_ready",
    "phone_changed",
    "pin_reset",
    "sessions_revoked",
];

/// The template's stable name, stored with an outbox row and sent to the gateway:
/// `otp_<purpose>`, `lookup_requested`, `report_ready`, `phone_changed`, `pin_reset`,
/// `sessions_revoked`.
pub fn template_name(message: &Message) -> &'static str {
    match message {
        Message::Otp { purpose, .. } => match purpose {
            OtpPurpose::Register => TEMPLATES[0],
            OtpPurpose::Inquiry => TEMPLATES[1],
            OtpPurpose::PinReset => TEMPLATES[2],
            OtpPurpose::PhoneChangeOld => TEMPLATES[3],
            OtpPurpose::PhoneChangeNew => TEMPLATES[4],
        },
        Message::LookupRequested { .. } => TEMPLATES[5],
        Message::ReportReady { .. } => TEMPLATES[6],
        Message::PhoneChanged => TEMPLATES[7],
        Message::PinReset => TEMPLATES[8],
        Message::SessionsRevoked => TEMPLATES[9],
    }
}

impl Message {
    /// The non-secret parameters, as stored in the outbox (`{"banks": 3}`,
    /// `{"expires": "2026-12-05"}`, `{}`; for an OTP `{"purpose": "register"}`).
    pub fn params(&self) -> serde_json::Value {
        match self {
            Self::Otp { purpose, .. } => serde_json::json!({ "purpose": purpose.as_str() }),
            Self::LookupRequested { banks } => serde_json::json!({ "banks": banks }),
            Self::ReportReady { expires } => serde_json::json!({ "expires": iso_date(*expires) }),
            Self::PhoneChanged | Self::PinReset | Self::SessionsRevoked => serde_json::json!({}),
        }
    }

    /// The secret parameter (the OTP code), which the outbox stores sealed and forgets once
    /// sent.
    pub fn secret(&self) -> Option<&str> {
        match self {
            Self::Otp { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Rebuilds a message from its [`template_name`], [`Message::params`] and
    /// [`Message::secret`].
    pub fn from_template(
        template: &str,
        params: &serde_json::Value,
        secret: Option<&str>,
    ) -> Result<Self, TemplateError> {
        if let Some(purpose) = template.strip_prefix("otp_") {
            let purpose = OtpPurpose::from_str(purpose)
                .map_err(|_| TemplateError::UnknownTemplate(template.to_owned()))?;
            let code = secret.ok_or(TemplateError::MissingSecret)?.to_owned();
            return Ok(Self::Otp { purpose, code });
        }
        match template {
            "lookup_requested" => {
                let banks = params
                    .get("banks")
                    .and_then(serde_json::Value::as_u64)
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or(TemplateError::BadParam("banks"))?;
                Ok(Self::LookupRequested { banks })
            }
            "report_ready" => {
                let expires = params
                    .get("expires")
                    .and_then(serde_json::Value::as_str)
                    .and_then(parse_iso_date)
                    .ok_or(TemplateError::BadParam("expires"))?;
                Ok(Self::ReportReady { expires })
            }
            "phone_changed" => Ok(Self::PhoneChanged),
            "pin_reset" => Ok(Self::PinReset),
            "sessions_revoked" => Ok(Self::SessionsRevoked),
            other => Err(TemplateError::UnknownTemplate(other.to_owned())),
        }
    }
}

/// The text of `message` in `lang`.
pub fn render(message: &Message, lang: Lang) -> String {
    match lang {
        Lang::Zh => render_zh(message),
        Lang::En => render_en(message),
    }
}

fn render_zh(message: &Message) -> String {
    match message {
        Message::Otp { purpose, code } => {
            let doing = match purpose {
                OtpPurpose::Register => "您正在注册查卡账户",
                OtpPurpose::Inquiry => "您正在提交一键查卡申请",
                OtpPurpose::PinReset => "您正在重置支付密码",
                OtpPurpose::PhoneChangeOld => "您正在更换账户绑定的手机号",
                OtpPurpose::PhoneChangeNew => "您正在将本号码绑定为查卡账户手机号",
            };
            format!(
                "【查卡】验证码{code}，{doing}，5分钟内有效。请勿告诉任何人，工作人员不会向您索取。非本人操作请忽略。"
            )
        }
        Message::LookupRequested { banks } => format!(
            "【查卡】您的账户刚刚提交了一键查卡申请（查询{banks}家银行），结果将短信通知。如非本人操作，请立即修改登录密码并联系我们。"
        ),
        Message::ReportReady { expires } => format!(
            "【查卡】您的一键查卡报告已生成，请登录查卡并输入支付密码查看。报告将于{}年{}月{}日删除。我们不会通过短信发送链接。",
            expires.year(),
            u8::from(expires.month()),
            expires.day()
        ),
        Message::PhoneChanged => {
            "【查卡】您的账户绑定手机号已更换，原号码将不再接收本账户的短信。如非本人操作，请立即联系我们。".to_owned()
        }
        Message::PinReset => {
            "【查卡】您的支付密码已重置。如非本人操作，请立即修改登录密码并联系我们。".to_owned()
        }
        Message::SessionsRevoked => {
            "【查卡】您的账户已在所有设备上退出登录。如非本人操作，请立即修改登录密码并联系我们。"
                .to_owned()
        }
    }
}

fn render_en(message: &Message) -> String {
    match message {
        Message::Otp { purpose, code } => {
            let doing = match purpose {
                OtpPurpose::Register => "to register your account",
                OtpPurpose::Inquiry => "to submit a card lookup",
                OtpPurpose::PinReset => "to reset your payment PIN",
                OtpPurpose::PhoneChangeOld => "to change your account's phone",
                OtpPurpose::PhoneChangeNew => "to link this number to your account",
            };
            format!(
                "[chaka] Code {code} {doing}, valid 5 minutes. Do not tell anyone, not even our staff. Not you? Ignore it."
            )
        }
        Message::LookupRequested { banks } => {
            let banks = if *banks == 1 {
                "1 bank".to_owned()
            } else {
                format!("{banks} banks")
            };
            format!(
                "[chaka] A card lookup ({banks}) was requested on your account. If it was not you, change your password and contact us."
            )
        }
        Message::ReportReady { expires } => format!(
            "[chaka] Your card lookup report is ready. Log in and enter your payment PIN to view it. It will be deleted on {}.",
            iso_date(*expires)
        ),
        Message::PhoneChanged => "[chaka] Your account's phone number was changed. If it was not you, contact us at once.".to_owned(),
        Message::PinReset => "[chaka] Your payment PIN was reset. If it was not you, change your password and contact us.".to_owned(),
        Message::SessionsRevoked => "[chaka] You were signed out on all devices. If it was not you, change your password and contact us.".to_owned(),
    }
}

fn iso_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

fn parse_iso_date(s: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, format).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const CODE: &str = "493817";

    fn every_message() -> Vec<Message> {
        let mut all: Vec<Message> = OtpPurpose::ALL
            .into_iter()
            .map(|purpose| Message::Otp {
                purpose,
                code: CODE.to_owned(),
            })
            .collect();
        all.extend([
            Message::LookupRequested { banks: 1 },
            Message::LookupRequested { banks: 122 },
            Message::LookupRequested { banks: 9999 },
            Message::ReportReady {
                expires: date!(2026 - 12 - 05),
            },
            Message::ReportReady {
                expires: date!(9999 - 12 - 31),
            },
            Message::PhoneChanged,
            Message::PinReset,
            Message::SessionsRevoked,
        ]);
        all
    }

    fn longest_digit_run(s: &str) -> usize {
        s.split(|c: char| !c.is_ascii_digit())
            .map(str::len)
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn every_text_fits_and_is_signed() {
        for message in every_message() {
            for lang in Lang::ALL {
                let text = render(&message, lang);
                let chars = text.chars().count();
                println!("{chars:>3} {text}");
                assert!(
                    chars <= MAX_CHARS,
                    "{message:?} {lang:?}: {chars} chars: {text}"
                );
                match lang {
                    Lang::Zh => {
                        assert!(text.starts_with("【查卡】"), "{text}");
                        assert!(chars <= MAX_CHARS_ZH, "{message:?}: {chars} chars: {text}");
                    }
                    Lang::En => assert!(text.starts_with("[chaka] "), "{text}"),
                }
            }
        }
    }

    #[test]
    fn no_text_carries_a_long_number() {
        // A phone number has 11 digits, an ID number 18, a card number 13–19: no run of 11+.
        for message in every_message() {
            for lang in Lang::ALL {
                let text = render(&message, lang);
                assert!(
                    longest_digit_run(&text) < 11,
                    "{message:?} {lang:?}: {text}"
                );
            }
        }
    }

    #[test]
    fn otp_texts_carry_the_code_validity_and_warning() {
        for purpose in OtpPurpose::ALL {
            let message = Message::Otp {
                purpose,
                code: CODE.to_owned(),
            };
            let zh = render(&message, Lang::Zh);
            assert!(
                zh.contains(CODE) && zh.contains("5分钟") && zh.contains("请勿"),
                "{zh}"
            );
            let en = render(&message, Lang::En);
            assert!(
                en.contains(CODE) && en.contains("5 minutes") && en.contains("Do not tell anyone"),
                "{en}"
            );
        }
        // Each purpose says what the code is for, so the texts differ.
        for lang in Lang::ALL {
            let texts: std::collections::HashSet<String> = OtpPurpose::ALL
                .into_iter()
                .map(|purpose| {
                    render(
                        &Message::Otp {
                            purpose,
                            code: CODE.into(),
                        },
                        lang,
                    )
                })
                .collect();
            assert_eq!(texts.len(), OtpPurpose::ALL.len());
        }
    }

    #[test]
    fn lookup_requested_warns_and_counts_banks() {
        let zh = render(&Message::LookupRequested { banks: 14 }, Lang::Zh);
        assert!(
            zh.contains("14家银行") && zh.contains("如非本人操作") && zh.contains("修改登录密码")
        );
        let en = render(&Message::LookupRequested { banks: 14 }, Lang::En);
        assert!(
            en.contains("14 banks")
                && en.contains("If it was not you")
                && en.contains("contact us")
        );
        let one = render(&Message::LookupRequested { banks: 1 }, Lang::En);
        assert!(one.contains("(1 bank)"), "{one}");
    }

    #[test]
    fn report_ready_states_the_deletion_date() {
        let message = Message::ReportReady {
            expires: date!(2026 - 12 - 05),
        };
        assert!(render(&message, Lang::Zh).contains("2026年12月5日删除"));
        assert!(render(&message, Lang::En).contains("deleted on 2026-12-05"));
    }

    #[test]
    fn template_names_are_distinct_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for message in every_message() {
            let name = template_name(&message);
            assert!(TEMPLATES.contains(&name));
            seen.insert(name);
            let back = Message::from_template(name, &message.params(), message.secret()).unwrap();
            assert_eq!(back, message);
            // The stored parameters never hold the code.
            assert!(!message.params().to_string().contains(CODE));
        }
        assert_eq!(seen.len(), TEMPLATES.len());
    }

    #[test]
    fn from_template_refuses_what_it_cannot_rebuild() {
        let none = serde_json::json!({});
        assert_eq!(
            Message::from_template("otp_register", &none, None),
            Err(TemplateError::MissingSecret)
        );
        assert!(matches!(
            Message::from_template("otp_login", &none, Some(CODE)),
            Err(TemplateError::UnknownTemplate(_))
        ));
        assert!(matches!(
            Message::from_template("welcome", &none, None),
            Err(TemplateError::UnknownTemplate(_))
        ));
        assert_eq!(
            Message::from_template("lookup_requested", &serde_json::json!({"banks": "3"}), None),
            Err(TemplateError::BadParam("banks"))
        );
        assert_eq!(
            Message::from_template(
                "report_ready",
                &serde_json::json!({"expires": "5/12"}),
                None
            ),
            Err(TemplateError::BadParam("expires"))
        );
    }

    #[test]
    fn debug_hides_the_code() {
        let message = Message::Otp {
            purpose: OtpPurpose::Inquiry,
            code: CODE.into(),
        };
        let shown = format!("{message:?}");
        assert!(
            !shown.contains(CODE) && shown.contains("Inquiry"),
            "{shown}"
        );
    }

    #[test]
    fn names_and_languages_parse() {
        for purpose in OtpPurpose::ALL {
            assert_eq!(purpose.as_str().parse::<OtpPurpose>(), Ok(purpose));
            let json = serde_json::to_string(&purpose).unwrap();
            assert_eq!(json, format!("\"{}\"", purpose.as_str()));
        }
        assert_eq!(
            "login".parse::<OtpPurpose>(),
            Err(TemplateError::UnknownPurpose)
        );
        for lang in Lang::ALL {
            assert_eq!(lang.as_str().parse::<Lang>(), Ok(lang));
            assert_eq!(
                serde_json::to_string(&lang).unwrap(),
                format!("\"{}\"", lang.as_str())
            );
        }
        assert_eq!(Lang::default(), Lang::Zh);
        assert_eq!("fr".parse::<Lang>(), Err(TemplateError::UnknownLang));
        let parsed: Lang = serde_json::from_str("\"en\"").unwrap();
        assert_eq!(parsed, Lang::En);
    }
}
