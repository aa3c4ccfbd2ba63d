//! The languages a report is written in, and text a rulebook gives in one or
//! both of them (`title = { en = "…", zh-CN = "…" }`).

use serde::Serialize;

/// A language of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub enum Lang {
    #[default]
    #[serde(rename = "en")]
    En,
    #[serde(rename = "zh-CN")]
    ZhCn,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::ZhCn];

    /// The BCP 47 tag, as written in `lang` attributes and rulebooks.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    pub fn parse(tag: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.tag().eq_ignore_ascii_case(tag))
    }

    /// The other language, the one a missing text falls back to.
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::ZhCn,
            Lang::ZhCn => Lang::En,
        }
    }
}

/// Text given in one or both languages; at least one is present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Localized {
    pub en: Option<String>,
    #[serde(rename = "zh-CN")]
    pub zh_cn: Option<String>,
}

impl Localized {
    /// Text given as a plain string: English.
    pub fn plain(s: impl Into<String>) -> Localized {
        Localized { en: Some(s.into()), zh_cn: None }
    }

    fn slot(&self, lang: Lang) -> Option<&str> {
        match lang {
            Lang::En => self.en.as_deref(),
            Lang::ZhCn => self.zh_cn.as_deref(),
        }
    }

    /// The text in `lang`, or in the other language with that language
    /// returned as the mark of a fallback.
    pub fn get(&self, lang: Lang) -> (&str, Option<Lang>) {
        match self.slot(lang) {
            Some(s) => (s, None),
            None => (self.slot(lang.other()).unwrap_or(""), Some(lang.other())),
        }
    }

    /// The text machines and logs use: English, else the other language.
    pub fn primary(&self) -> &str {
        self.get(Lang::En).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falls_back_with_a_mark() {
        let both = Localized { en: Some("Coverage".into()), zh_cn: Some("覆盖".into()) };
        assert_eq!(both.get(Lang::ZhCn), ("覆盖", None));
        let en = Localized::plain("Coverage");
        assert_eq!(en.get(Lang::ZhCn), ("Coverage", Some(Lang::En)));
        let zh = Localized { en: None, zh_cn: Some("覆盖".into()) };
        assert_eq!((zh.get(Lang::En), zh.primary()), (("覆盖", Some(Lang::ZhCn)), "覆盖"));
        assert_eq!(Lang::parse("zh-cn"), Some(Lang::ZhCn));
        assert_eq!(Lang::parse("fr"), None);
    }
}
