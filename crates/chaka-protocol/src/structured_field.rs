//! The subset of HTTP Structured Field Values (RFC 8941) that the protocol's headers use:
//! dictionaries whose members are items or inner lists, with parameters, and bare items of
//! type integer, string, token, byte sequence and boolean. Decimals are refused (no header of
//! the protocol uses them). It owns parsing and canonical serialisation, nothing else: which
//! members and parameters mean what is the business of `digest` and `signature`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Why a header is not a valid structured field (no input is ever echoed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SfError;

/// A bare item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BareItem {
    Integer(i64),
    String(String),
    Token(String),
    Bytes(Vec<u8>),
    Boolean(bool),
}

/// Parameters, in order of appearance (a repeated key keeps its first position, last value).
pub(crate) type Params = Vec<(String, BareItem)>;

/// An item with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub bare: BareItem,
    pub params: Params,
}

/// A dictionary member's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Member {
    Item(Item),
    InnerList(Vec<Item>, Params),
}

/// Parses a dictionary (RFC 8941 §4.2.2). A repeated key keeps the last value.
pub(crate) fn parse_dictionary(input: &str) -> Result<Vec<(String, Member)>, SfError> {
    let mut p = Parser {
        s: input.as_bytes(),
        i: 0,
    };
    p.skip_sp();
    let mut out: Vec<(String, Member)> = Vec::new();
    if p.eof() {
        return Ok(out);
    }
    loop {
        let key = p.key()?;
        let member = if p.peek() == Some(b'=') {
            p.i += 1;
            if p.peek() == Some(b'(') {
                let (items, params) = p.inner_list()?;
                Member::InnerList(items, params)
            } else {
                let bare = p.bare_item()?;
                let params = p.params()?;
                Member::Item(Item { bare, params })
            }
        } else {
            let params = p.params()?;
            Member::Item(Item {
                bare: BareItem::Boolean(true),
                params,
            })
        };
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = member,
            None => out.push((key, member)),
        }
        p.skip_ows();
        if p.eof() {
            return Ok(out);
        }
        if p.next() != Some(b',') {
            return Err(SfError);
        }
        p.skip_ows();
        if p.eof() {
            return Err(SfError);
        }
    }
}

/// Parses a member value that is an inner list with parameters, e.g. the value of a
/// `Signature-Input` member: `("@method" "@path");created=1;keyid="k"`.
pub(crate) fn parse_inner_list(input: &str) -> Result<(Vec<Item>, Params), SfError> {
    let mut p = Parser {
        s: input.as_bytes(),
        i: 0,
    };
    p.skip_sp();
    let list = p.inner_list()?;
    p.skip_sp();
    if !p.eof() {
        return Err(SfError);
    }
    Ok(list)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn eof(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn key(&mut self) -> Result<String, SfError> {
        let start = self.i;
        match self.peek() {
            Some(c) if c.is_ascii_lowercase() || c == b'*' => self.i += 1,
            _ => return Err(SfError),
        }
        while let Some(c) = self.peek() {
            if c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, b'_' | b'-' | b'.' | b'*')
            {
                self.i += 1;
            } else {
                break;
            }
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn inner_list(&mut self) -> Result<(Vec<Item>, Params), SfError> {
        if self.next() != Some(b'(') {
            return Err(SfError);
        }
        let mut items = Vec::new();
        loop {
            self.skip_sp();
            if self.peek() == Some(b')') {
                self.i += 1;
                let params = self.params()?;
                return Ok((items, params));
            }
            let bare = self.bare_item()?;
            let params = self.params()?;
            items.push(Item { bare, params });
            match self.peek() {
                Some(b' ' | b')') => {}
                _ => return Err(SfError),
            }
        }
    }

    fn params(&mut self) -> Result<Params, SfError> {
        let mut out: Params = Vec::new();
        while self.peek() == Some(b';') {
            self.i += 1;
            self.skip_sp();
            let key = self.key()?;
            let value = if self.peek() == Some(b'=') {
                self.i += 1;
                self.bare_item()?
            } else {
                BareItem::Boolean(true)
            };
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => out.push((key, value)),
            }
        }
        Ok(out)
    }

    fn bare_item(&mut self) -> Result<BareItem, SfError> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.integer(),
            Some(b'"') => self.string(),
            Some(b':') => self.bytes(),
            Some(b'?') => self.boolean(),
            Some(c) if c.is_ascii_alphabetic() || c == b'*' => self.token(),
            _ => Err(SfError),
        }
    }

    fn integer(&mut self) -> Result<BareItem, SfError> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        let digits = &self.s[start..self.i];
        // RFC 8941: at most 15 digits; a '.' would make it a decimal, which we refuse.
        if digits.is_empty() || digits.len() > 15 || self.peek() == Some(b'.') {
            return Err(SfError);
        }
        let mut value: i64 = 0;
        for d in digits {
            value = value * 10 + i64::from(d - b'0');
        }
        Ok(BareItem::Integer(if negative { -value } else { value }))
    }

    fn string(&mut self) -> Result<BareItem, SfError> {
        self.i += 1;
        let mut out = String::new();
        loop {
            match self.next() {
                None => return Err(SfError),
                Some(b'"') => return Ok(BareItem::String(out)),
                Some(b'\\') => match self.next() {
                    Some(c @ (b'"' | b'\\')) => out.push(char::from(c)),
                    _ => return Err(SfError),
                },
                Some(c @ 0x20..=0x7e) => out.push(char::from(c)),
                Some(_) => return Err(SfError),
            }
        }
    }

    fn token(&mut self) -> Result<BareItem, SfError> {
        let start = self.i;
        self.i += 1;
        while let Some(c) = self.peek() {
            let tchar = c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&c);
            if !tchar {
                break;
            }
            self.i += 1;
        }
        Ok(BareItem::Token(
            String::from_utf8_lossy(&self.s[start..self.i]).into_owned(),
        ))
    }

    fn bytes(&mut self) -> Result<BareItem, SfError> {
        self.i += 1;
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == b':' {
                break;
            }
            if !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=')) {
                return Err(SfError);
            }
            self.i += 1;
        }
        if self.next() != Some(b':') {
            return Err(SfError);
        }
        STANDARD
            .decode(&self.s[start..self.i - 1])
            .map(BareItem::Bytes)
            .map_err(|_| SfError)
    }

    fn boolean(&mut self) -> Result<BareItem, SfError> {
        self.i += 1;
        match self.next() {
            Some(b'1') => Ok(BareItem::Boolean(true)),
            Some(b'0') => Ok(BareItem::Boolean(false)),
            _ => Err(SfError),
        }
    }
}

/// Serialises a string item (`"..."`, with `\` and `"` escaped).
pub(crate) fn serialize_string(value: &str, out: &mut String) {
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Serialises a bare item canonically.
pub(crate) fn serialize_bare(item: &BareItem, out: &mut String) {
    match item {
        BareItem::Integer(i) => out.push_str(&i.to_string()),
        BareItem::String(s) => serialize_string(s, out),
        BareItem::Token(t) => out.push_str(t),
        BareItem::Bytes(b) => {
            out.push(':');
            out.push_str(&STANDARD.encode(b));
            out.push(':');
        }
        BareItem::Boolean(true) => out.push_str("?1"),
        BareItem::Boolean(false) => out.push_str("?0"),
    }
}

/// Serialises parameters canonically (`;key=value`, `;key` for `true`).
pub(crate) fn serialize_params(params: &Params, out: &mut String) {
    for (key, value) in params {
        out.push(';');
        out.push_str(key);
        if *value != BareItem::Boolean(true) {
            out.push('=');
            serialize_bare(value, out);
        }
    }
}

/// Whether a string may be carried in an sf-string (printable ASCII only).
pub(crate) fn is_sf_string(value: &str) -> bool {
    value.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_signature_input_and_reserialises_it_canonically() {
        let raw =
            r#"sig-b26=("date" "@method" "@path");created=1618884473;keyid="test-key-ed25519""#;
        let dict = parse_dictionary(raw).unwrap();
        assert_eq!(dict.len(), 1);
        let Member::InnerList(items, params) = &dict[0].1 else {
            panic!("not an inner list")
        };
        assert_eq!(items.len(), 3);
        assert_eq!(params[0], ("created".into(), BareItem::Integer(1618884473)));
        let mut out = String::new();
        serialize_params(params, &mut out);
        assert_eq!(out, r#";created=1618884473;keyid="test-key-ed25519""#);
    }

    #[test]
    fn parses_byte_sequences_and_several_members() {
        let dict = parse_dictionary("sha-256=:AAE=:,  sha-512=:AgM=:;x, flag").unwrap();
        assert_eq!(
            dict[0].1,
            Member::Item(Item {
                bare: BareItem::Bytes(vec![0, 1]),
                params: vec![]
            })
        );
        assert_eq!(dict.len(), 3);
        assert_eq!(
            dict[2].1,
            Member::Item(Item {
                bare: BareItem::Boolean(true),
                params: vec![]
            })
        );
    }

    #[test]
    fn refuses_malformed_input() {
        for bad in [
            "sig=(",
            "sig=\"x",
            "Sig=1",
            "a=1,",
            "a=1.5",
            "a=:*:",
            "a=(\"x\"\"y\")",
            "a=\"\\n\"",
            "a=1234567890123456",
        ] {
            assert!(parse_dictionary(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn strings_round_trip_with_escapes() {
        let mut out = String::new();
        serialize_string(r#"a"b\c"#, &mut out);
        assert_eq!(out, r#""a\"b\\c""#);
        let dict = parse_dictionary(&format!("k={out}")).unwrap();
        assert_eq!(
            dict[0].1,
            Member::Item(Item {
                bare: BareItem::String(r#"a"b\c"#.into()),
                params: vec![]
            })
        );
    }
}
