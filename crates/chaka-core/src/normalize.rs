//! One normalisation rule for everything a person types: surrounding whitespace (ASCII and the
//! ideographic space U+3000) is trimmed, full-width digits and letters (U+FF10..) become ASCII.
//! Every parser in this crate applies it before its own checks, so `１３８…` and ` 138… ` mean
//! the same number everywhere.

/// Trims surrounding whitespace and folds full-width ASCII variants (U+FF01..=U+FF5E) to ASCII.
pub(crate) fn fold(input: &str) -> String {
    input
        .trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}')
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn folds_full_width_and_trims() {
        assert_eq!(fold("\u{3000} １２３ｘ "), "123x");
        assert_eq!(fold("abc"), "abc");
    }
}
