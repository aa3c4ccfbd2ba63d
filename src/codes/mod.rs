//! Collection codes: the payloads merchants display. EMVCo Merchant-Presented
//! Mode TLV strings (SGQR, QRIS, PromptPay, Pix, UnionPay's international
//! codes) are read and validated; the proprietary URL codes of Chinese
//! wallets are classified by issuer. Reading never panics: every problem is
//! a value with its character offset (docs/codes.md).

pub mod emv;
pub mod url;

use serde::Serialize;

pub use emv::CodeError;
use emv::{error, Object};

/// At most this many characters in an EMV payload.
pub const MAX_CHARS: usize = 512;

/// The data objects every EMV payload must have besides 00 and 63.
pub const MANDATORY: [(&str, &str); 5] = [
    ("52", "merchant category code"),
    ("53", "transaction currency"),
    ("58", "country code"),
    ("59", "merchant name"),
    ("60", "merchant city"),
];

/// PromptPay's credit-transfer and bill-payment identifiers: the Thai QR
/// payment standard leaves out the MCC, name and city, and codes in wide
/// use do (docs/codes.md).
const PROMPTPAY: [&str; 2] = ["A000000677010111", "A000000677010112"];

/// What kind of code a payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    EmvMpm,
    Url,
    Unknown,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::EmvMpm => "emv_mpm",
            Format::Url => "url",
            Format::Unknown => "unknown",
        }
    }
}

/// Static codes are shown for many payments; dynamic ones for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Initiation {
    Static,
    Dynamic,
}

/// The CRC a payload carries and the one its content gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Crc {
    pub expected: String,
    pub found: String,
}

/// A merchant account template (tags 26–51) and its identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    pub tag: String,
    /// Sub-tag 00: a reverse domain name or an AID.
    pub guid: Option<String>,
}

/// Tag 64: the merchant's name and city in another language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alternate {
    pub language: Option<String>,
    pub merchant_name: Option<String>,
    pub merchant_city: Option<String>,
}

/// Everything read from one payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Payload {
    pub format: Format,
    pub valid: bool,
    pub crc: Option<Crc>,
    pub initiation: Option<Initiation>,
    /// Merchant account templates with their identifiers.
    pub templates: Vec<Template>,
    /// Card-scheme tags present (02–25: Visa 02–03, Mastercard 04–05, …,
    /// UnionPay 15–16).
    pub reserved_tags: Vec<String>,
    /// URL codes: scheme, host and the issuer of a known form.
    pub url: Option<url::UrlCode>,
    pub mcc: Option<String>,
    pub currency: Option<String>,
    pub amount: Option<String>,
    pub country: Option<String>,
    pub merchant_name: Option<String>,
    pub merchant_city: Option<String>,
    pub alternate: Option<Alternate>,
    pub errors: Vec<CodeError>,
}

/// What identifies a scheme in a code, for the taxonomy to map.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Identifier {
    /// A template's globally unique identifier, as written.
    Guid(String),
    /// A reserved card-scheme tag (`15`).
    Tag(String),
    /// A URL code's issuer as its known form names it (`alipay`).
    Issuer(String),
    /// A URL's host (`qr.alipay.com`).
    Host(String),
    /// A URL's scheme (`wxp`).
    Scheme(String),
}

impl Identifier {
    /// The identifier as `codes` prints it when no provider maps it.
    pub fn raw(&self) -> String {
        match self {
            Identifier::Guid(s) | Identifier::Tag(s) | Identifier::Issuer(s) | Identifier::Host(s) => s.clone(),
            Identifier::Scheme(s) => format!("{s}://"),
        }
    }
}

/// The card scheme a reserved tag belongs to.
pub fn reserved_scheme(tag: &str) -> &'static str {
    match tag.parse::<u8>().unwrap_or(0) {
        2..=3 => "Visa",
        4..=5 => "Mastercard",
        6..=8 => "EMVCo",
        9..=10 => "Discover",
        11..=12 => "American Express",
        13..=14 => "JCB",
        15..=16 => "UnionPay",
        _ => "EMVCo (reserved)",
    }
}

impl Payload {
    fn empty(format: Format) -> Payload {
        Payload {
            format,
            valid: false,
            crc: None,
            initiation: None,
            templates: Vec::new(),
            reserved_tags: Vec::new(),
            url: None,
            mcc: None,
            currency: None,
            amount: None,
            country: None,
            merchant_name: None,
            merchant_city: None,
            alternate: None,
            errors: Vec::new(),
        }
    }

    /// The identifiers of the schemes the code carries, in payload order
    /// (a URL: its issuer, host and scheme, for the taxonomy to map).
    pub fn identifiers(&self) -> Vec<Identifier> {
        let mut out: Vec<Identifier> = self.reserved_tags.iter().map(|t| Identifier::Tag(t.clone())).collect();
        out.extend(self.templates.iter().filter_map(|t| t.guid.clone()).map(Identifier::Guid));
        if let Some(u) = &self.url {
            out.extend(u.issuer.map(|i| Identifier::Issuer(i.to_string())));
            out.push(Identifier::Host(u.host.clone()));
            out.push(Identifier::Scheme(u.scheme.clone()));
        }
        out
    }

    /// Why the payload is not valid, in one line.
    pub fn problem(&self) -> Option<String> {
        let first = self.errors.first()?;
        Some(format!("{} (at character {})", first.message, first.offset))
    }
}

/// Reads one payload as shown by a code: an EMV MPM string, a URL, or
/// neither. Surrounding whitespace is ignored; offsets count characters of
/// what remains.
pub fn read(text: &str) -> Payload {
    let text = text.trim();
    if text.starts_with("0002") {
        return read_emv(text);
    }
    if let Some(u) = url::parse(text) {
        let mut p = Payload::empty(Format::Url);
        if let Some(problem) = &u.problem {
            p.errors.push(error(0, problem.clone()));
        }
        p.valid = p.errors.is_empty();
        p.url = Some(u);
        return p;
    }
    let mut p = Payload::empty(Format::Unknown);
    let message = if text.is_empty() {
        "empty payload".to_string()
    } else {
        "neither an EMV payload (one begins with 000201) nor a URL".to_string()
    };
    p.errors.push(error(0, message));
    p
}

fn read_emv(text: &str) -> Payload {
    let mut p = Payload::empty(Format::EmvMpm);
    let chars: Vec<char> = text.chars().collect();
    let mut errors = Vec::new();
    if chars.len() > MAX_CHARS {
        errors.push(error(MAX_CHARS, format!("the payload has {} characters; at most {MAX_CHARS}", chars.len())));
    }
    let objects = emv::read_objects(&chars, 0, &mut errors, false);
    match objects.first() {
        Some(o) if o.tag == "00" && o.value == "01" => {}
        Some(o) if o.tag == "00" => {
            errors.push(error(o.offset + 4, format!("payload format indicator is `{}`, not `01`", o.value)))
        }
        _ => errors.push(error(0, "the payload format indicator (00 = 01) must come first")),
    }
    check_crc(text, &chars, &objects, &mut p, &mut errors);
    let mut seen: Vec<&str> = Vec::new();
    for o in &objects {
        if seen.contains(&o.tag.as_str()) {
            errors.push(error(o.offset, format!("tag {} appears twice", o.tag)));
        }
        seen.push(&o.tag);
        extract(o, &mut p, &mut errors);
    }
    let promptpay = p.templates.iter().any(|t| t.guid.as_deref().is_some_and(|g| PROMPTPAY.contains(&g)));
    for (tag, what) in MANDATORY {
        let optional = promptpay && tag != "53" && tag != "58";
        if !optional && !seen.contains(&tag) {
            errors.push(error(chars.len(), format!("mandatory tag {tag} ({what}) is missing")));
        }
    }
    if p.templates.is_empty() && p.reserved_tags.is_empty() && !objects.is_empty() {
        errors.push(error(chars.len(), "no merchant account information (tags 02–51): no scheme can pay it"));
    }
    errors.sort_by_key(|e| e.offset);
    p.valid = errors.is_empty();
    p.errors = errors;
    p
}

/// Tag 63 must be last, hold four hex digits, and match the CRC of
/// everything before them.
fn check_crc(text: &str, chars: &[char], objects: &[Object], p: &mut Payload, errors: &mut Vec<CodeError>) {
    let Some(last) = objects.last() else { return };
    let ends_at = last.offset + 4 + last.value.chars().count();
    if last.tag != "63" || last.value.chars().count() != 4 || ends_at != chars.len() {
        match objects.iter().find(|o| o.tag == "63") {
            Some(o) => errors.push(error(o.offset, "the CRC (tag 63) must be the last data object, 4 characters long")),
            None => errors.push(error(chars.len(), "the CRC (tag 63) is missing")),
        }
        return;
    }
    let body_chars = last.offset + 4;
    let body: String = chars[..body_chars].iter().collect();
    debug_assert!(text.starts_with(&body));
    let expected = emv::crc_text(&body);
    let found = last.value.clone();
    if !found.eq_ignore_ascii_case(&expected) {
        errors.push(error(body_chars, format!("CRC is {found}, the payload's content gives {expected}")));
    }
    p.crc = Some(Crc { expected, found });
}

fn extract(o: &Object, p: &mut Payload, errors: &mut Vec<CodeError>) {
    let value_at = o.offset + 4;
    let n: u8 = o.tag.parse().unwrap_or(0);
    let chars = o.value.chars().count();
    let digits = o.value.bytes().all(|b| b.is_ascii_digit());
    match n {
        1 => match o.value.as_str() {
            "11" => p.initiation = Some(Initiation::Static),
            "12" => p.initiation = Some(Initiation::Dynamic),
            v => errors.push(error(value_at, format!("point of initiation is `{v}`: 11 (static) or 12 (dynamic)"))),
        },
        2..=25 => p.reserved_tags.push(o.tag.clone()),
        26..=51 => {
            let guid = o.child("00").map(str::to_string);
            if guid.is_none() {
                errors.push(error(
                    value_at,
                    format!("template {} has no globally unique identifier (sub-tag 00)", o.tag),
                ));
            }
            p.templates.push(Template { tag: o.tag.clone(), guid });
        }
        52 => {
            if chars != 4 || !digits {
                errors.push(error(value_at, format!("merchant category code `{}` is not 4 digits", o.value)));
            }
            p.mcc = Some(o.value.clone());
        }
        53 => {
            if chars != 3 || !digits {
                errors.push(error(value_at, format!("currency `{}` is not a 3-digit ISO 4217 code", o.value)));
            }
            p.currency = Some(o.value.clone());
        }
        54 => {
            let ok = chars <= 13
                && o.value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && o.value.matches('.').count() <= 1
                && o.value.bytes().any(|b| b.is_ascii_digit());
            if !ok {
                errors.push(error(value_at, format!("amount `{}` is not a number of at most 13 characters", o.value)));
            }
            p.amount = Some(o.value.clone());
        }
        58 => {
            if chars != 2 || !o.value.bytes().all(|b| b.is_ascii_uppercase()) {
                errors.push(error(value_at, format!("country `{}` is not a 2-letter ISO 3166 code", o.value)));
            }
            p.country = Some(o.value.clone());
        }
        59 => {
            if chars > 25 {
                errors.push(error(value_at, format!("merchant name has {chars} characters; at most 25")));
            }
            p.merchant_name = Some(o.value.clone());
        }
        60 => {
            if chars > 15 {
                errors.push(error(value_at, format!("merchant city has {chars} characters; at most 15")));
            }
            p.merchant_city = Some(o.value.clone());
        }
        64 => {
            let alt = Alternate {
                language: o.child("00").map(str::to_string),
                merchant_name: o.child("01").map(str::to_string),
                merchant_city: o.child("02").map(str::to_string),
            };
            if alt.language.is_none() || alt.merchant_name.is_none() {
                errors.push(error(value_at, "template 64 needs a language (00) and a merchant name (01)"));
            }
            p.alternate = Some(alt);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_unknown_and_never_panics() {
        for text in ["", "hello", "00", "0002", "000201", "0002015", "00020163", "\u{0}\u{ffff}", "6304ABCD"] {
            let p = read(text);
            assert!(!p.valid, "{text:?}");
            assert!(!p.errors.is_empty(), "{text:?}");
        }
        assert_eq!(read("hello").format, Format::Unknown);
        assert_eq!(read("000201").format, Format::EmvMpm);
    }
}
