//! The trivial-PIN rules: which six-digit payment PINs a person may not choose because a
//! stranger — or someone who has their ID card or phone number — would guess them in a few
//! tries. It owns [`check`] and [`PinRejection`]; it must not log or echo a PIN, and it holds no
//! state (attempt counters and locks live in the store).
//!
//! A new PIN is refused, in this order, when it is:
//!
//! 1. **repeated** (`pin_repeated`): one digit six times (`111111`); a 2-digit block three times,
//!    i.e. two digits alternating (`121212`, `101010`); a 3-digit block twice (`123123`,
//!    `520520`); three of one digit then three of another (`111222`); three doubled digits
//!    (`112233`, `998877`, `110022`);
//! 2. a **sequence** (`pin_sequence`): each digit one or two more, or one or two less, than the
//!    previous, counting modulo 10 — `123456`, `654321`, `012345`, `987654`, the wrapping
//!    `890123`, `210987`, and the even/odd runs `024680`, `135791`, `975319`;
//! 3. **common** (`pin_common`): a short list of keypad shapes and well-known PINs that the rules
//!    above miss (`147258`, `159753`, `789456`, `123321`, `201314`, `314159`, … see
//!    [`COMMON_PINS`]);
//! 4. the holder's **birth date** from the ID number (`pin_birth_date`) as `YYMMDD`, `YYDDMM`,
//!    `MMDDYY`, `DDMMYY`, `YYYYMM`, `MMYYYY`, or `MMDDMM` (the month and day repeated and cut to
//!    six digits);
//! 5. the **last six characters of the ID number** (`pin_id_suffix`), an `X` check character
//!    read as `0` (how people type it on a numeric keypad);
//! 6. the **last six digits of the mobile number** (`pin_phone_suffix`).
//!
//! `pin_format` is for input that is not six digits at all ([`crate::vault::Pin::parse`]).
//! Rules 1–3 refuse 2 253 of the 10⁶ PINs and rules 4–6 at most 9 more per person (about
//! 0.23 % of the space): a person keeps practically all the choice, while the guesses an
//! attacker would spend the 5 tries before the lock on are refused.

use crate::vault::Pin;
use chaka_core::{IdNumber, Phone};

/// Well-known PINs that the structural rules do not already cover: keypad columns, rows and
/// diagonals, mirror images, and numbers with a meaning (520 "I love you", 1314 "for life",
/// π, e).
pub const COMMON_PINS: &[&str] = &[
    "147258", "258369", "147369", "369258", "963852", "852741", "741852", "258147", "369147",
    "159753", "159357", "357159", "753951", "357951", "951753", "789456", "456123", "123789",
    "789123", "321654", "654987", "987456", "123654", "321456", "654123", "147852", "123321",
    "321123", "456654", "654456", "789987", "012210", "100200", "000123", "123000", "201314",
    "131420", "521314", "520131", "131452", "314159", "271828", "112358",
];

/// Why a PIN is refused. [`PinRejection::code`] is stable API; messages name the rule and never
/// the PIN, the birth date or the numbers it was compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum PinRejection {
    /// Not exactly six digits.
    #[error("a payment PIN is exactly 6 digits")]
    Format,
    /// A repeated digit or block (`111111`, `121212`, `123123`, `111222`, `112233`).
    #[error("the PIN repeats digits or a short block of digits; choose a less regular PIN")]
    Repeated,
    /// Ascending or descending digits (`123456`, `654321`, `890123`, `024680`).
    #[error("the PIN is a run of ascending or descending digits")]
    Sequence,
    /// A keypad pattern or a well-known PIN.
    #[error("the PIN is a keypad pattern or too commonly used")]
    Common,
    /// The birth date in the holder's ID number, in one of the common forms.
    #[error("the PIN may not be your birth date in any form")]
    BirthDate,
    /// The last six characters of the holder's ID number.
    #[error("the PIN may not be the end of your ID number")]
    IdSuffix,
    /// The last six digits of the holder's mobile number.
    #[error("the PIN may not be the end of your mobile number")]
    PhoneSuffix,
}

impl PinRejection {
    /// The stable code for the API: `pin_format`, `pin_repeated`, `pin_sequence`, `pin_common`,
    /// `pin_birth_date`, `pin_id_suffix`, `pin_phone_suffix`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Format => "pin_format",
            Self::Repeated => "pin_repeated",
            Self::Sequence => "pin_sequence",
            Self::Common => "pin_common",
            Self::BirthDate => "pin_birth_date",
            Self::IdSuffix => "pin_id_suffix",
            Self::PhoneSuffix => "pin_phone_suffix",
        }
    }
}

/// Checks a new payment PIN against the rules of this module, for the holder of `id_number`
/// and `phone`. Apply it when a PIN is set or reset, not when one is entered.
///
/// ```
/// use chaka_core::{IdNumber, Phone};
/// use chaka_hub::{pin_policy, vault::Pin};
/// let id = IdNumber::compose("310104", time::macros::date!(1990 - 03 - 07), 123)?;
/// let phone = Phone::parse("13955501928")?;
/// assert!(pin_policy::check(&Pin::parse("385207")?, &id, &phone).is_ok());
/// let refused = |pin: &str| -> Result<&str, Box<dyn std::error::Error>> {
///     Ok(pin_policy::check(&Pin::parse(pin)?, &id, &phone).err().map_or("ok", |e| e.code()))
/// };
/// assert_eq!(refused("121212")?, "pin_repeated");
/// assert_eq!(refused("890123")?, "pin_sequence");
/// assert_eq!(refused("900307")?, "pin_birth_date");
/// assert_eq!(refused("501928")?, "pin_phone_suffix");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check(pin: &Pin, id_number: &IdNumber, phone: &Phone) -> Result<(), PinRejection> {
    let d: [u8; 6] = pin
        .as_bytes()
        .try_into()
        .map_err(|_| PinRejection::Format)?;
    if !d.iter().all(u8::is_ascii_digit) {
        return Err(PinRejection::Format);
    }
    if is_repeated(&d) {
        return Err(PinRejection::Repeated);
    }
    if is_sequence(&d) {
        return Err(PinRejection::Sequence);
    }
    if COMMON_PINS.iter().any(|c| c.as_bytes() == d) {
        return Err(PinRejection::Common);
    }
    if birth_date_forms(id_number).iter().any(|f| f == &d) {
        return Err(PinRejection::BirthDate);
    }
    if id_suffix(id_number) == Some(d) {
        return Err(PinRejection::IdSuffix);
    }
    if phone
        .as_str()
        .as_bytes()
        .get(phone.as_str().len().saturating_sub(6)..)
        == Some(&d[..])
    {
        return Err(PinRejection::PhoneSuffix);
    }
    Ok(())
}

fn is_repeated(d: &[u8; 6]) -> bool {
    let period = |p: usize| (p..6).all(|i| d[i] == d[i - p]);
    let aaabbb = d[0] == d[1] && d[1] == d[2] && d[3] == d[4] && d[4] == d[5];
    let aabbcc = d[0] == d[1] && d[2] == d[3] && d[4] == d[5];
    period(1) || period(2) || period(3) || aaabbb || aabbcc
}

fn is_sequence(d: &[u8; 6]) -> bool {
    // Steps +1, +2, -2, -1 modulo 10 (written as 1, 2, 8, 9).
    [1u8, 2, 8, 9].iter().any(|&step| {
        d.windows(2)
            .all(|w| (w[0] - b'0' + step) % 10 == w[1] - b'0')
    })
}

fn birth_date_forms(id_number: &IdNumber) -> Vec<[u8; 6]> {
    // Digits 7–14 of the ID number are YYYYMMDD.
    let Some(ymd) = id_number.as_str().as_bytes().get(6..14) else {
        return Vec::new();
    };
    let (yyyy, mm, dd) = (&ymd[0..4], &ymd[4..6], &ymd[6..8]);
    let yy = &yyyy[2..4];
    let forms: [[&[u8]; 3]; 7] = [
        [yy, mm, dd],
        [yy, dd, mm],
        [mm, dd, yy],
        [dd, mm, yy],
        [yyyy, mm, &[]],
        [mm, yyyy, &[]],
        [mm, dd, mm],
    ];
    forms
        .iter()
        .filter_map(|parts| <[u8; 6]>::try_from(parts.concat().as_slice()).ok())
        .collect()
}

fn id_suffix(id_number: &IdNumber) -> Option<[u8; 6]> {
    let bytes = id_number.as_str().as_bytes();
    let tail = bytes.get(bytes.len().checked_sub(6)?..)?;
    let mut out = [0u8; 6];
    for (o, &b) in out.iter_mut().zip(tail) {
        *o = if b == b'X' { b'0' } else { b };
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;
    use time::Date;
    use time::macros::date;

    fn id(birth: Date, seq: u16) -> IdNumber {
        IdNumber::compose("310104", birth, seq).unwrap()
    }

    fn verdict(pin: &str, id_number: &IdNumber, phone: &Phone) -> &'static str {
        match check(&Pin::parse(pin).unwrap(), id_number, phone) {
            Ok(()) => "ok",
            Err(e) => e.code(),
        }
    }

    #[test]
    fn every_rule_with_examples() {
        // Born 1990-03-07; the sequence 123 makes the ID end in "07123" + check.
        let holder = id(date!(1990 - 03 - 07), 123);
        let phone = Phone::parse("13955501928").unwrap();
        let id_tail = &holder.as_str()[12..];
        let cases: &[(&str, &str)] = &[
            ("385207", "ok"),
            ("604918", "ok"),
            ("111111", "pin_repeated"),
            ("000000", "pin_repeated"),
            ("121212", "pin_repeated"),
            ("909090", "pin_repeated"),
            ("123123", "pin_repeated"),
            ("520520", "pin_repeated"),
            ("111222", "pin_repeated"),
            ("112233", "pin_repeated"),
            ("998877", "pin_repeated"),
            ("123456", "pin_sequence"),
            ("654321", "pin_sequence"),
            ("012345", "pin_sequence"),
            ("987654", "pin_sequence"),
            ("890123", "pin_sequence"),
            ("901234", "pin_sequence"),
            ("210987", "pin_sequence"),
            ("024680", "pin_sequence"),
            ("135791", "pin_sequence"),
            ("975319", "pin_sequence"),
            ("147258", "pin_common"),
            ("159753", "pin_common"),
            ("123321", "pin_common"),
            ("201314", "pin_common"),
            ("900307", "pin_birth_date"), // YYMMDD
            ("900703", "pin_birth_date"), // YYDDMM
            ("030790", "pin_birth_date"), // MMDDYY
            ("070390", "pin_birth_date"), // DDMMYY
            ("199003", "pin_birth_date"), // YYYYMM
            ("031990", "pin_birth_date"), // MMYYYY
            ("030703", "pin_birth_date"), // MMDDMM
            ("501928", "pin_phone_suffix"),
            ("501927", "ok"),
            ("900308", "ok"),
        ];
        for (pin, expected) in cases {
            assert_eq!(verdict(pin, &holder, &phone), *expected, "{pin}");
        }
        // The ID suffix, whatever the check character is.
        let tail: String = id_tail
            .chars()
            .map(|c| if c == 'X' { '0' } else { c })
            .collect();
        assert_eq!(verdict(&tail, &holder, &phone), "pin_id_suffix");
    }

    #[test]
    fn x_in_the_id_number_reads_as_zero() {
        // The standard's example number ends in "31002X".
        let holder = IdNumber::parse_on("11010519491231002X", date!(2026 - 01 - 01)).unwrap();
        let phone = Phone::parse("13955501928").unwrap();
        assert_eq!(verdict("310020", &holder, &phone), "pin_id_suffix");
        assert_eq!(verdict("310021", &holder, &phone), "ok");
        assert_eq!(verdict("491231", &holder, &phone), "pin_birth_date");
        assert_eq!(verdict("123149", &holder, &phone), "pin_birth_date");
    }

    #[test]
    fn messages_name_the_rule_never_the_pin() {
        let holder = id(date!(1990 - 03 - 07), 123);
        let phone = Phone::parse("13955501928").unwrap();
        for pin in ["111111", "123456", "147258", "900307", "501928"] {
            let err = check(&Pin::parse(pin).unwrap(), &holder, &phone).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(pin), "{shown}");
            assert!(
                !shown.contains("1990") && !shown.contains("0307"),
                "{shown}"
            );
        }
    }

    #[test]
    fn common_list_is_well_formed() {
        for pin in COMMON_PINS {
            assert!(Pin::parse(pin).is_ok(), "{pin}");
        }
        let unique: HashSet<_> = COMMON_PINS.iter().collect();
        assert_eq!(unique.len(), COMMON_PINS.len());
    }

    #[test]
    fn refuses_a_quarter_percent_of_all_pins() {
        let holder = id(date!(1990 - 03 - 07), 123);
        let phone = Phone::parse("13955501928").unwrap();
        let refused = (0..1_000_000u32)
            .filter(|n| check(&Pin::parse(&format!("{n:06}")).unwrap(), &holder, &phone).is_err())
            .count();
        // 2 253 for everybody, plus this person's birth date forms and suffixes.
        assert!((2_253..=2_262).contains(&refused), "{refused}");
    }

    /// Trivial forms built independently of the rules above, by construction.
    fn trivial_forms(holder: &IdNumber, phone: &Phone) -> HashSet<String> {
        let mut set = HashSet::new();
        for a in 0..10u32 {
            for b in 0..10u32 {
                set.insert(format!("{a}{b}").repeat(3)); // 111111, 121212
                set.insert(format!("{a}{a}{a}{b}{b}{b}"));
            }
            for step in [1, 9] {
                let run: String = (0..6)
                    .map(|i| char::from(b'0' + ((a + i * step) % 10) as u8))
                    .collect();
                set.insert(run); // 123456, 654321, 890123
            }
        }
        let b = holder.birth_date();
        let (y, m, d) = (b.year(), u8::from(b.month()), b.day());
        let yy = y % 100;
        for form in [
            format!("{yy:02}{m:02}{d:02}"),
            format!("{m:02}{d:02}{yy:02}"),
            format!("{d:02}{m:02}{yy:02}"),
            format!("{y:04}{m:02}"),
            format!("{m:02}{d:02}{m:02}"),
        ] {
            set.insert(form);
        }
        set.insert(holder.as_str()[12..].replace('X', "0"));
        set.insert(phone.as_str()[5..].to_owned());
        set
    }

    #[test]
    fn every_trivial_form_is_refused() {
        let holder = id(date!(1985 - 11 - 23), 4);
        let phone = Phone::parse("18600001111").unwrap();
        for pin in trivial_forms(&holder, &phone) {
            assert_ne!(verdict(&pin, &holder, &phone), "ok", "{pin}");
        }
    }

    proptest! {
        #[test]
        fn an_accepted_pin_is_never_a_trivial_form(
            pin in "[0-9]{6}",
            days in 0i64..40_000,
            seq in 0u16..=999,
            phone_digits in "1[3-9][0-9]{9}",
        ) {
            let holder = id(date!(1910 - 01 - 01) + time::Duration::days(days), seq);
            let phone = Phone::parse(&phone_digits).unwrap();
            let trivial = trivial_forms(&holder, &phone);
            if check(&Pin::parse(&pin).unwrap(), &holder, &phone).is_ok() {
                prop_assert!(!trivial.contains(&pin), "{pin} accepted");
            }
            // And the trivial forms of this person are refused.
            for form in &trivial {
                prop_assert!(check(&Pin::parse(form).unwrap(), &holder, &phone).is_err(), "{form}");
            }
        }

        #[test]
        fn accepted_or_refused_with_a_known_code(pin in "[0-9]{6}") {
            let holder = id(date!(2001 - 12 - 30), 88);
            let phone = Phone::parse("13700112233").unwrap();
            let code = verdict(&pin, &holder, &phone);
            prop_assert!(["ok", "pin_repeated", "pin_sequence", "pin_common", "pin_birth_date",
                "pin_id_suffix", "pin_phone_suffix"].contains(&code));
        }
    }
}
