//! The web app's languages: Chinese (the default) and English, chosen by the `chaka_lang`
//! cookie, and every text a page shows, looked up by key in [`super::texts`]. A key missing
//! from the table shows as the key itself (a unit test keeps the table complete).

use super::problems::PROBLEM_TEXTS;
use super::texts::TEXTS;

/// The name of the language cookie.
pub const LANG_COOKIE: &str = "chaka_lang";

/// A language of the web app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// 中文 (default).
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// Parses `zh` or `en`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "zh" => Some(Self::Zh),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// `zh` or `en`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zh => "zh",
            Self::En => "en",
        }
    }

    /// The `lang` attribute of a page.
    pub fn html_lang(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }

    /// The other language (for the switch).
    pub fn other(self) -> Self {
        match self {
            Self::Zh => Self::En,
            Self::En => Self::Zh,
        }
    }

    /// The text of `key` in this language.
    pub fn t(self, key: &str) -> &str {
        match TEXTS
            .iter()
            .chain(PROBLEM_TEXTS)
            .find(|(k, _, _)| *k == key)
        {
            Some((_, zh, en)) => match self {
                Self::Zh => zh,
                Self::En => en,
            },
            None => key,
        }
    }

    /// Picks the Chinese or English of a pair.
    pub fn pick<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Self::Zh => zh,
            Self::En => en,
        }
    }
}

/// The language of a request: its cookie, else Chinese.
pub fn from_cookie(value: Option<&str>) -> Lang {
    value.and_then(Lang::parse).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `t("…")` used by a template or a page module has both texts in the table, and no
    /// key appears twice.
    #[test]
    fn every_text_used_is_in_the_table_once() {
        let mut keys: Vec<&str> = TEXTS
            .iter()
            .chain(PROBLEM_TEXTS)
            .map(|(k, _, _)| *k)
            .collect();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(before, keys.len(), "a key appears twice in the table");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut sources = Vec::new();
        for sub in ["templates/web", "src/web"] {
            for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
                sources.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
            }
        }
        let mut used = 0;
        for text in &sources {
            for piece in text.split(".t(\"").skip(1) {
                let key = piece.split('"').next().unwrap();
                // Keys are `area.name`; anything else is not a use of the table.
                let shaped = key.contains('.')
                    && key.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_'
                    });
                if !shaped {
                    continue;
                }
                used += 1;
                assert!(keys.binary_search(&key).is_ok(), "missing text {key:?}");
            }
        }
        assert!(used > 100, "the scan found only {used} uses");
        for (key, zh, en) in TEXTS.iter().chain(PROBLEM_TEXTS) {
            assert!(!zh.is_empty() && !en.is_empty(), "{key} lacks a text");
        }
    }

    #[test]
    fn chinese_is_the_default() {
        assert_eq!(from_cookie(None), Lang::Zh);
        assert_eq!(from_cookie(Some("fr")), Lang::Zh);
        assert_eq!(from_cookie(Some("en")), Lang::En);
        assert_eq!(Lang::En.t("no-such-key"), "no-such-key");
    }
}
