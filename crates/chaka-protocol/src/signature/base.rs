//! The RFC 9421 signature base: parsing and serialising a `Signature-Input` member and
//! building the bytes that are signed, from a message's derived components and header fields.

use super::{ALGORITHM, MAX_COMPONENTS, SIGNATURE_INPUT, SignatureError};
use crate::keys::KeyId;
use crate::nonce::Nonce;
use crate::structured_field::{
    BareItem, Item, Params, parse_inner_list, serialize_params, serialize_string,
};
use http::{HeaderMap, HeaderName, Method, StatusCode};
use time::OffsetDateTime;

/// The parsed value of one `Signature-Input` member: the covered components and the
/// parameters, in the order they were sent (the order matters for the signature base).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInput {
    components: Vec<String>,
    params: Params,
}

impl SignatureInput {
    /// Parses a member value such as `("@method" "@path");created=1618884473;keyid="k"`.
    /// Components must be plain strings (component parameters are not supported).
    pub fn parse(value: &str) -> Result<Self, SignatureError> {
        let malformed = SignatureError::Malformed(SIGNATURE_INPUT);
        let (items, params) = parse_inner_list(value).map_err(|_| malformed.clone())?;
        Self::from_parts(items, params)
    }

    pub(crate) fn from_parts(items: Vec<Item>, params: Params) -> Result<Self, SignatureError> {
        if items.len() > MAX_COMPONENTS {
            return Err(SignatureError::Malformed(SIGNATURE_INPUT));
        }
        let mut components = Vec::with_capacity(items.len());
        for item in items {
            match item.bare {
                BareItem::String(name) if item.params.is_empty() => {
                    if components.contains(&name) {
                        return Err(SignatureError::Malformed(SIGNATURE_INPUT));
                    }
                    components.push(name);
                }
                BareItem::String(_) => return Err(SignatureError::UnsupportedComponent),
                _ => return Err(SignatureError::Malformed(SIGNATURE_INPUT)),
            }
        }
        Ok(Self { components, params })
    }

    /// The protocol's parameters in the protocol's order: created, expires, nonce, keyid, alg.
    pub fn new(
        components: &[&str],
        created: OffsetDateTime,
        expires: OffsetDateTime,
        nonce: &Nonce,
        key_id: &KeyId,
    ) -> Self {
        Self {
            components: components.iter().map(|c| (*c).to_owned()).collect(),
            params: vec![
                (
                    "created".into(),
                    BareItem::Integer(created.unix_timestamp()),
                ),
                (
                    "expires".into(),
                    BareItem::Integer(expires.unix_timestamp()),
                ),
                ("nonce".into(), BareItem::String(nonce.as_str().to_owned())),
                ("keyid".into(), BareItem::String(key_id.as_str().to_owned())),
                ("alg".into(), BareItem::String(ALGORITHM.to_owned())),
            ],
        }
    }

    /// The covered components, in order.
    pub fn components(&self) -> &[String] {
        &self.components
    }

    fn integer(&self, name: &str) -> Option<Option<i64>> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| match v {
                BareItem::Integer(i) => Some(*i),
                _ => None,
            })
    }

    fn string(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| match v {
                BareItem::String(s) => Some(s.as_str()),
                _ => None,
            })
    }

    /// `created`, if present and an integer.
    pub fn created(&self) -> Option<i64> {
        self.integer("created").flatten()
    }

    /// `expires`, if present and an integer.
    pub fn expires(&self) -> Option<i64> {
        self.integer("expires").flatten()
    }

    /// `nonce`, if present and a string.
    pub fn nonce(&self) -> Option<&str> {
        self.string("nonce").flatten()
    }

    /// `keyid`, if present and a string.
    pub fn key_id(&self) -> Option<&str> {
        self.string("keyid").flatten()
    }

    /// `alg`, if present and a string.
    pub fn alg(&self) -> Option<&str> {
        self.string("alg").flatten()
    }

    /// The canonical serialisation: the value of `@signature-params` in the signature base,
    /// and of the member in `Signature-Input`.
    pub fn serialize(&self) -> String {
        let mut out = String::from("(");
        for (i, c) in self.components.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            serialize_string(c, &mut out);
        }
        out.push(')');
        serialize_params(&self.params, &mut out);
        out
    }
}

/// The parts of an HTTP message that derived components come from. Fields a message lacks
/// (a request has no status) are `None`; covering them is an error.
#[derive(Debug, Clone, Copy)]
pub struct MessageContext<'a> {
    /// `@method`.
    pub method: Option<&'a Method>,
    /// `@path` (absolute path, no query).
    pub path: Option<&'a str>,
    /// `@authority` (host and port if not default), lower-cased when used.
    pub authority: Option<&'a str>,
    /// `@status`.
    pub status: Option<StatusCode>,
    /// Header fields, for non-derived components.
    pub headers: &'a HeaderMap,
}

pub(crate) fn header_component(headers: &HeaderMap, name: &str) -> Result<String, SignatureError> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(SignatureError::UnsupportedComponent);
    }
    let header = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| SignatureError::UnsupportedComponent)?;
    let mut values = Vec::new();
    for value in headers.get_all(&header) {
        let text = value
            .to_str()
            .map_err(|_| SignatureError::UnsupportedComponent)?;
        values.push(text.trim_matches([' ', '\t']));
    }
    if values.is_empty() {
        return Err(SignatureError::MissingHeader(static_header_name(name)));
    }
    Ok(values.join(", "))
}

fn static_header_name(name: &str) -> &'static str {
    match name {
        "content-digest" => "content-digest",
        "content-type" => "content-type",
        "date" => "date",
        "content-length" => "content-length",
        _ => "covered",
    }
}

/// Builds the RFC 9421 §2.5 signature base for `input` over `message`: one line
/// `"<component>": <value>` per covered component, then `"@signature-params": <input>`,
/// joined by `\n` with no trailing newline. Supports `@method`, `@path`, `@authority`,
/// `@status` and header fields (without component parameters).
///
/// ```
/// use chaka_protocol::signature::{signature_base, MessageContext, SignatureInput};
/// let input = SignatureInput::parse(r#"("@method" "@path");created=1;keyid="k""#).unwrap();
/// let headers = http::HeaderMap::new();
/// let ctx = MessageContext {
///     method: Some(&http::Method::GET),
///     path: Some("/chaka/v1/heartbeat"),
///     authority: None,
///     status: None,
///     headers: &headers,
/// };
/// assert_eq!(
///     signature_base(&input, &ctx).unwrap(),
///     "\"@method\": GET\n\"@path\": /chaka/v1/heartbeat\n\
///      \"@signature-params\": (\"@method\" \"@path\");created=1;keyid=\"k\""
/// );
/// ```
pub fn signature_base(
    input: &SignatureInput,
    message: &MessageContext<'_>,
) -> Result<String, SignatureError> {
    let mut base = String::new();
    for name in &input.components {
        let value = match name.as_str() {
            "@method" => message
                .method
                .map(|m| m.as_str().to_owned())
                .ok_or(SignatureError::UnsupportedComponent)?,
            "@path" => match message.path {
                Some("") => "/".to_owned(),
                Some(p) => p.to_owned(),
                None => return Err(SignatureError::UnsupportedComponent),
            },
            "@authority" => message
                .authority
                .map(str::to_ascii_lowercase)
                .ok_or(SignatureError::UnsupportedComponent)?,
            "@status" => message
                .status
                .map(|s| s.as_u16().to_string())
                .ok_or(SignatureError::UnsupportedComponent)?,
            n if n.starts_with('@') => return Err(SignatureError::UnsupportedComponent),
            n => header_component(message.headers, n)?,
        };
        if value.contains(['\n', '\r']) {
            return Err(SignatureError::UnsupportedComponent);
        }
        serialize_string(name, &mut base);
        base.push_str(": ");
        base.push_str(&value);
        base.push('\n');
    }
    base.push_str("\"@signature-params\": ");
    base.push_str(&input.serialize());
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parameters_keep_the_order_they_were_sent_in() {
        let raw = r#"("@status");keyid="k";created=5;alg="ed25519""#;
        let input = SignatureInput::parse(raw).unwrap();
        assert_eq!(input.serialize(), raw);
        assert_eq!(input.created(), Some(5));
        assert_eq!(input.expires(), None);
        assert_eq!(input.alg(), Some(ALGORITHM));
    }

    #[test]
    fn components_with_parameters_or_repeats_are_refused() {
        assert_eq!(
            SignatureInput::parse(r#"("@query-param";name="a")"#),
            Err(SignatureError::UnsupportedComponent)
        );
        assert!(SignatureInput::parse(r#"("@path" "@path")"#).is_err());
        assert!(SignatureInput::parse(r#"(@path)"#).is_err());
    }

    #[test]
    fn header_values_are_trimmed_and_combined() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", http::HeaderValue::from_static("  one "));
        headers.append("x-a", http::HeaderValue::from_static("two"));
        assert_eq!(header_component(&headers, "x-a").unwrap(), "one, two");
        assert_eq!(
            header_component(&headers, "x-b"),
            Err(SignatureError::MissingHeader("covered"))
        );
        assert_eq!(
            header_component(&headers, "X-A"),
            Err(SignatureError::UnsupportedComponent)
        );
    }

    proptest! {
        #[test]
        fn serialised_inputs_parse_back_identically(
            components in proptest::collection::vec("[a-z@-]{1,12}", 0..6),
            created in 0i64..999_999_999_999_999,
            nonce in "[A-Za-z0-9_-]{22,40}",
            key_id in "[A-Za-z0-9._:-]{1,64}",
        ) {
            let mut unique = components.clone();
            unique.sort();
            unique.dedup();
            let names: Vec<&str> = unique.iter().map(String::as_str).collect();
            let created = OffsetDateTime::from_unix_timestamp(created % 253_402_300_799).unwrap();
            let Some(nonce) = Nonce::parse(&nonce) else { return Ok(()) };
            let input = SignatureInput::new(&names, created, created, &nonce, &KeyId::parse(&key_id).unwrap());
            let text = input.serialize();
            prop_assert_eq!(SignatureInput::parse(&text).unwrap(), input);
        }
    }
}
