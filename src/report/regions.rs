//! Region names beside GB/T 2260 codes (`reports/regions.csv`: every
//! province-level unit and prefecture-level division, in Chinese and
//! English), so a reader meets "440300 Shenzhen 深圳", not a bare code.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::lang::Lang;

/// The names, built into the binary.
const DATA: &str = include_str!("../../reports/regions.csv");

fn table() -> &'static HashMap<&'static str, (&'static str, &'static str)> {
    static TABLE: OnceLock<HashMap<&'static str, (&'static str, &'static str)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        DATA.lines()
            .skip(1)
            .filter_map(|l| {
                let mut parts = l.splitn(3, ',');
                let code = parts.next()?;
                let zh = parts.next()?;
                let en = parts.next()?.trim_matches('"');
                Some((code, (zh, en)))
            })
            .collect()
    })
}

/// The Chinese and English names of a region code: the code's own entry, or
/// for a district its prefecture-level city's, or its province's.
pub fn names(code: &str) -> Option<(&'static str, &'static str, bool)> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = table();
    if let Some((zh, en)) = t.get(code) {
        return Some((zh, en, true));
    }
    let city = format!("{}00", &code[..4]);
    let province = format!("{}0000", &code[..2]);
    t.get(city.as_str()).or_else(|| t.get(province.as_str())).map(|(zh, en)| (*zh, *en, false))
}

/// "440300 Shenzhen 深圳市", "440106 (in Guangzhou 广州市)", or the value
/// as it is when it is not a known code. The Chinese edition gives the
/// Chinese name alone: "440300 深圳市", "440106（属广州市）".
pub fn label(code: &str, lang: Lang) -> String {
    match (names(code), lang) {
        (Some((zh, en, true)), Lang::En) => format!("{code} {en} {zh}"),
        (Some((zh, en, false)), Lang::En) => format!("{code} (in {en} {zh})"),
        (Some((zh, _, true)), Lang::ZhCn) => format!("{code} {zh}"),
        (Some((zh, _, false)), Lang::ZhCn) => format!("{code}（属{zh}）"),
        (None, _) => code.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_get_their_names() {
        assert_eq!(label("440300", Lang::En), "440300 Shenzhen 深圳市");
        assert_eq!(label("110000", Lang::En), "110000 Beijing 北京市");
        assert_eq!(label("610100", Lang::En), "610100 Xi'an 西安市");
        assert_eq!(label("440106", Lang::En), "440106 (in Guangzhou 广州市)");
        assert_eq!(label("440106", Lang::ZhCn), "440106（属广州市）");
        assert_eq!(label("440300", Lang::ZhCn), "440300 深圳市");
        assert_eq!(label("Bedok", Lang::En), "Bedok");
        // Every province-level unit and at least every prefecture-level city.
        let t = table();
        assert_eq!(t.keys().filter(|c| c.ends_with("0000")).count(), 34);
        assert!(t.len() >= 34 + 333, "{}", t.len());
    }
}
