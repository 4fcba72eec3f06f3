//! The authorization agreement a cardholder accepts before each lookup: versioned text in
//! Chinese and English, and the SHA-256 of the exact text shown, which is recorded with the
//! consent. A new version of the text gets a new version string; consents always name the
//! version and hash they were given for.

use sha2::{Digest, Sha256};

/// The current version.
pub const VERSION: &str = "2026-11-v1";

const ZH: &str = "\
《一键查卡服务授权书》（版本 2026-11-v1）

一、您授权本平台将您的姓名、居民身份证号码和本账户绑定的手机号码，仅为查询您名下银行卡的目的，发送给您选择的银行。

二、银行将核对姓名、身份证号码与银行卡预留手机号码。未预留手机号、预留手机号与本账户不一致、身份证件已过期或已关闭无卡支付（网上支付）功能的卡片，银行不予列示，仅告知数量及原因。

三、银行返回的查询结果仅包含卡号前四位和后四位、卡片种类、状态、开户及最近使用月份，并以只有您的支付密码才能打开的方式加密。本平台无法阅读您的查询报告。

四、查询报告生成后保留七个自然日，到期自动删除。每次查询报告生成后七日内不能再次查询。

五、本平台记录您的授权（时间、所选银行、本授权书版本），用于审计，记录中不含银行卡信息。

六、任何人要求您代为查卡、读出验证码或告知查询结果，都是诈骗。请勿在他人手机上查卡。

如发现非本人办理的银行卡，请立即联系发卡银行。";

const EN: &str = "\
One-click card lookup: authorization (version 2026-11-v1)

1. You authorize this service to send your name, your resident ID number and the mobile number of this account to the banks you select, only to find the bank cards in your name.

2. Each bank checks the name, the ID number and the mobile number reserved on each card. Cards without a reserved phone, with another reserved phone, whose holder's ID document on file has expired, or with online (card-not-present) payments disabled are not listed: the bank tells only how many there are and why.

3. The answer of a bank holds only the first 4 and last 4 digits of each card, its kind, status, and the months it was opened and last used, encrypted so that only your payment PIN can open it. This service cannot read your report.

4. A report is kept for 7 natural days after it is generated and then deleted. A new lookup is possible 7 days after a report was generated.

5. This service records your authorization (time, banks selected, this version) for audit; the record holds no card information.

6. Anyone who asks you to run a lookup for them, to read out a code or to tell them the result is a fraudster. Do not run a lookup on someone else's phone.

If you find a card you did not open, contact the issuing bank at once.";

/// A language of the agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgreementLang {
    /// 中文 (default).
    Zh,
    /// English.
    En,
}

impl AgreementLang {
    /// From `zh` / `en`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "zh" => Some(Self::Zh),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// `zh` / `en`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zh => "zh",
            Self::En => "en",
        }
    }
}

/// The agreement text in one language.
pub fn text(lang: AgreementLang) -> &'static str {
    match lang {
        AgreementLang::Zh => ZH,
        AgreementLang::En => EN,
    }
}

/// The hex SHA-256 of the text in one language, as recorded with a consent.
pub fn hash(lang: AgreementLang) -> String {
    hex::encode(Sha256::digest(text(lang).as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_name_the_version_and_hash_differently() {
        for lang in [AgreementLang::Zh, AgreementLang::En] {
            assert!(text(lang).contains(VERSION));
            assert_eq!(hash(lang).len(), 64);
            assert_eq!(AgreementLang::parse(lang.as_str()), Some(lang));
        }
        assert_ne!(hash(AgreementLang::Zh), hash(AgreementLang::En));
        assert!(text(AgreementLang::Zh).contains("七个自然日"));
    }
}
