//! The login password policy: length, kinds of characters, common passwords. Never echoes a
//! password.

use super::*;

// ---------------------------------------------------------------------------------------------
// Passwords
// ---------------------------------------------------------------------------------------------

/// The least password length, in characters.
pub const PASSWORD_MIN_CHARS: usize = 8;
/// The longest password, in characters.
pub const PASSWORD_MAX_CHARS: usize = 128;
/// From this length a password may use a single kind of character (a passphrase).
pub const PASSPHRASE_CHARS: usize = 16;

/// Passwords that pass the shape rules but top every leaked-password list (compared
/// case-insensitively).
const COMMON_PASSWORDS: &[&str] = &[
    "password1",
    "password123",
    "passw0rd",
    "p@ssw0rd",
    "qwerty123",
    "qwer1234",
    "1234qwer",
    "qwe12345",
    "q1w2e3r4",
    "1q2w3e4r",
    "1qaz2wsx",
    "zxcvbnm123",
    "abc12345",
    "abc123456",
    "abcd1234",
    "a1234567",
    "a12345678",
    "a123456789",
    "aa123456",
    "123456abc",
    "123456aa",
    "admin123",
    "iloveyou1",
    "woaini1314",
    "woaini520",
    "5201314a",
];

/// Why a new password is refused. Messages state the rule and never repeat the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejection {
    /// Fewer than 8 characters.
    #[error("a password has at least 8 characters")]
    TooShort,
    /// More than 128 characters.
    #[error("a password has at most 128 characters")]
    TooLong,
    /// Contains a control character (newline, tab, NUL…).
    #[error("a password may not contain control characters")]
    ControlCharacter,
    /// Only digits: that is what the payment PIN is for.
    #[error("a password may not be only digits")]
    AllDigits,
    /// Under 16 characters of a single kind (letters only, or symbols only).
    #[error("a password under 16 characters mixes at least two of letters, digits and symbols")]
    OneKind,
    /// The same character repeated, or a well-known password.
    #[error("this password is too common")]
    Common,
}

impl PasswordRejection {
    /// A stable code for the API (`password_too_short`, …).
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort => "password_too_short",
            Self::TooLong => "password_too_long",
            Self::ControlCharacter => "password_control_character",
            Self::AllDigits => "password_all_digits",
            Self::OneKind => "password_one_kind",
            Self::Common => "password_common",
        }
    }
}

/// The policy for a new login password (checked at registration and change, never at login):
///
/// - 8 to 128 characters (Unicode scalar values; Chinese characters count one each), no control
///   characters; the password is used exactly as typed (no trimming);
/// - not only digits (the 6-digit payment PIN is the numeric secret);
/// - under 16 characters, at least two kinds among letters (any script), digits and other
///   symbols; from 16 characters on, a passphrase of one kind is fine;
/// - not one character repeated, and not on a short list of the most leaked passwords.
///
/// ```
/// use chaka_hub::vault::check_password;
/// assert!(check_password("chaka-2026").is_ok());
/// assert!(check_password("correct horse battery staple").is_ok());
/// assert_eq!(check_password("12345678").err().map(|e| e.code()), Some("password_all_digits"));
/// assert_eq!(check_password("abcdefgh").err().map(|e| e.code()), Some("password_one_kind"));
/// ```
pub fn check_password(password: &str) -> Result<(), PasswordRejection> {
    let count = password.chars().count();
    if count < PASSWORD_MIN_CHARS {
        return Err(PasswordRejection::TooShort);
    }
    if count > PASSWORD_MAX_CHARS {
        return Err(PasswordRejection::TooLong);
    }
    if password.chars().any(char::is_control) {
        return Err(PasswordRejection::ControlCharacter);
    }
    if password.chars().all(|c| c.is_ascii_digit()) {
        return Err(PasswordRejection::AllDigits);
    }
    let mut chars = password.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return Err(PasswordRejection::Common);
    }
    let letters = password.chars().any(char::is_alphabetic);
    let digits = password.chars().any(char::is_numeric);
    let others = password
        .chars()
        .any(|c| !c.is_alphabetic() && !c.is_numeric());
    let kinds = usize::from(letters) + usize::from(digits) + usize::from(others);
    if kinds < 2 && count < PASSPHRASE_CHARS {
        return Err(PasswordRejection::OneKind);
    }
    let lower = Zeroizing::new(password.to_lowercase());
    if COMMON_PASSWORDS.contains(&lower.as_str()) {
        return Err(PasswordRejection::Common);
    }
    Ok(())
}
