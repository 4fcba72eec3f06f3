//! How the web app shows a bank: its name in the page's language and a round badge with one
//! character of its Chinese name on a colour of its own (no logo files, nothing fetched from a
//! bank's site), and the groups the "ask" page lists banks in (the 2021 pilot banks, the banks
//! that joined in 2022, the others).

use super::i18n::Lang;
use chaka_core::{BankRegistry, Wave};

/// A bank as a page shows it.
#[derive(Debug, Clone)]
pub struct BankBadge {
    /// Bank code.
    pub code: String,
    /// Name in the page's language.
    pub name: String,
    /// One character of the Chinese name.
    pub initials: String,
    /// One of 12 badge colours (`hue-0` … `hue-11` in the style sheet).
    pub hue: u8,
}

/// The character a badge shows: the first of the Chinese name after a leading 中国 (中国工商银行
/// → 工), or 中 when nothing else is left (中国银行).
fn initial(name_zh: &str, code: &str) -> String {
    let rest = name_zh.strip_prefix("中国").unwrap_or(name_zh);
    let rest = if rest.starts_with("银行") || rest.is_empty() {
        name_zh
    } else {
        rest
    };
    rest.chars()
        .next()
        .map_or_else(|| code.chars().take(2).collect(), |c| c.to_string())
}

fn hue(code: &str) -> u8 {
    let sum: u32 = code.bytes().map(u32::from).sum();
    (sum % 12) as u8
}

/// The badge of a bank code, named in `lang` (the code itself for a bank the table lacks).
pub fn badge(code: &str, lang: Lang) -> BankBadge {
    let bank = BankRegistry::builtin().by_code(code);
    let (zh, en) = bank.map_or((code, code), |b| (b.name_zh.as_str(), b.name_en.as_str()));
    BankBadge {
        code: code.to_owned(),
        name: lang.pick(zh, en).to_owned(),
        initials: initial(zh, code),
        hue: hue(code),
    }
}

/// The group a bank is listed in, as a text key.
pub fn group_of(code: &str) -> &'static str {
    match BankRegistry::builtin().by_code(code).and_then(|b| b.wave) {
        Some(Wave::Pilot2021) => "ask.group_pilot",
        Some(Wave::Expansion2022) => "ask.group_2022",
        None => "ask.group_other",
    }
}

/// The order of the groups.
pub const GROUPS: [&str; 3] = ["ask.group_pilot", "ask.group_2022", "ask.group_other"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_show_the_telling_character() {
        assert_eq!(badge("ICBC", Lang::Zh).initials, "工");
        assert_eq!(badge("BOC", Lang::Zh).initials, "中");
        assert_eq!(badge("CMB", Lang::Zh).initials, "招");
        assert_eq!(
            badge("ICBC", Lang::En).name,
            "Industrial and Commercial Bank of China"
        );
        assert!(badge("ICBC", Lang::En).hue < 12);
        assert_eq!(group_of("ICBC"), "ask.group_pilot");
    }
}
