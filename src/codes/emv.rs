//! EMVCo Merchant-Presented Mode payloads: TLV reading with character
//! offsets, the CRC, and encoding (for tests and generated samples).
//!
//! A data object is a two-digit tag, a two-digit length counted in
//! characters, and that many characters of value. Templates (26–51, 62, 64,
//! 80–99) hold data objects of their own.

/// CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final
/// XOR. The check value of `123456789` is 0x29B1.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

/// The four upper-case hex digits a payload's tag 63 must hold, for the
/// text up to and including `6304`.
pub fn crc_text(before: &str) -> String {
    format!("{:04X}", crc16(before.as_bytes()))
}

/// One data object as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub tag: String,
    pub value: String,
    /// Character offset of the tag in the whole payload.
    pub offset: usize,
    /// The data objects inside a template, when the tag is one.
    pub children: Option<Vec<Object>>,
}

impl Object {
    /// The value of a sub-object of a template.
    pub fn child(&self, tag: &str) -> Option<&str> {
        self.children.as_ref()?.iter().find(|o| o.tag == tag).map(|o| o.value.as_str())
    }
}

/// A problem at a character offset of the payload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CodeError {
    pub offset: usize,
    pub message: String,
}

pub(crate) fn error(offset: usize, message: impl Into<String>) -> CodeError {
    CodeError { offset, message: message.into() }
}

/// Whether a tag's value is itself a list of data objects.
pub fn is_template(tag: &str) -> bool {
    match tag.parse::<u8>() {
        Ok(n) => (26..=51).contains(&n) || n == 62 || n == 64 || (80..=99).contains(&n),
        Err(_) => false,
    }
}

/// Reads the data objects of `chars[from..to]`; `base` is the offset of
/// `chars[0]` in the payload. Problems are pushed to `errors`; reading
/// stops at the first object whose header or length is unusable.
pub fn read_objects(chars: &[char], base: usize, errors: &mut Vec<CodeError>, nested: bool) -> Vec<Object> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let at = base + i;
        if chars.len() - i < 4 {
            errors.push(error(
                at,
                format!("{} characters left where a data object (tag and length) needs 4", chars.len() - i),
            ));
            break;
        }
        let tag: String = chars[i..i + 2].iter().collect();
        let len_text: String = chars[i + 2..i + 4].iter().collect();
        if !tag.bytes().all(|b| b.is_ascii_digit()) {
            errors.push(error(at, format!("tag `{tag}` is not two digits")));
            break;
        }
        if !len_text.bytes().all(|b| b.is_ascii_digit()) {
            errors.push(error(at + 2, format!("length `{len_text}` of tag {tag} is not two digits")));
            break;
        }
        let len: usize = len_text.parse().unwrap_or(0);
        if len == 0 {
            errors.push(error(at + 2, format!("tag {tag} has length 00 (a data object holds 1 to 99 characters)")));
        }
        let start = i + 4;
        if start + len > chars.len() {
            errors.push(error(
                at + 2,
                format!("tag {tag} says {len} characters but only {} are left", chars.len() - start),
            ));
            break;
        }
        let value: String = chars[start..start + len].iter().collect();
        let children = (!nested && is_template(&tag)).then(|| {
            let mut inner = Vec::new();
            let objects = read_objects(&chars[start..start + len], base + start, &mut inner, true);
            errors.extend(
                inner.into_iter().map(|e| CodeError { message: format!("in template {tag}: {}", e.message), ..e }),
            );
            objects
        });
        out.push(Object { tag, value, offset: at, children });
        i = start + len;
    }
    out
}

/// One data object as text: tag, two-digit length in characters, value.
pub fn tlv(tag: &str, value: &str) -> String {
    format!("{tag}{:02}{value}", value.chars().count())
}

/// A whole payload from data objects (tags 00 and 63 are added): the
/// object `00` = `01` first, the rest in the order given, the CRC last.
pub fn encode(objects: &[(String, String)]) -> String {
    let mut text = tlv("00", "01");
    for (tag, value) in objects {
        text.push_str(&tlv(tag, value));
    }
    text.push_str("6304");
    let crc = crc_text(&text);
    text + &crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc_check_value_is_29b1() {
        assert_eq!(crc16(b"123456789"), 0x29B1);
        assert_eq!(crc_text("123456789"), "29B1");
    }

    #[test]
    fn objects_are_read_with_their_offsets() {
        let chars: Vec<char> = "000201260800041234".chars().collect();
        let mut errors = Vec::new();
        let objects = read_objects(&chars, 0, &mut errors, false);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(objects.len(), 2);
        assert_eq!((objects[1].tag.as_str(), objects[1].offset), ("26", 6));
        assert_eq!(objects[1].child("00"), Some("1234"));
    }

    #[test]
    fn a_length_past_the_end_is_an_error_at_the_length() {
        let chars: Vec<char> = "00020159".chars().collect();
        let mut errors = Vec::new();
        read_objects(&chars, 0, &mut errors, false);
        assert_eq!(errors, [error(6, "2 characters left where a data object (tag and length) needs 4")]);
        let chars: Vec<char> = "0002015910ABC".chars().collect();
        let mut errors = Vec::new();
        read_objects(&chars, 0, &mut errors, false);
        assert_eq!(errors, [error(8, "tag 59 says 10 characters but only 3 are left")]);
    }
}
