//! Proprietary collection-code URLs of Chinese wallets and schemes, by
//! issuer: WeChat Pay (`wxp://…`, `weixin://wxpay/bizpayurl?pr=…`,
//! `wx.tenpay.com`, `payapp.weixin.qq.com`), Alipay (`qr.alipay.com`) and
//! UnionPay Cloud QuickPass (`qr.95516.com/{8 digits}/{id}`), matched
//! case-insensitively.

/// A URL code, split into what identifies its issuer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UrlCode {
    /// Lower-cased scheme (`https`, `wxp`, `weixin`).
    pub scheme: String,
    /// Lower-cased host, without user or port.
    pub host: String,
    /// The issuer a known form names (`alipay`, `wechat_pay`, `unionpay`).
    pub issuer: Option<&'static str>,
    /// Why the URL is not a well-formed code of a known form.
    pub problem: Option<String>,
}

/// Splits `text` as a URL (`scheme://host/...`), or `None` when it is not one.
pub fn parse(text: &str) -> Option<UrlCode> {
    let (scheme, rest) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let path = &rest[end..];
    let host = authority.rsplit('@').next().unwrap_or("");
    let host = host.split(':').next().unwrap_or("").to_ascii_lowercase();
    let (issuer, problem) = classify(&scheme, &host, path);
    Some(UrlCode { scheme, host, issuer, problem })
}

fn classify(scheme: &str, host: &str, path: &str) -> (Option<&'static str>, Option<String>) {
    let web = scheme == "https" || scheme == "http";
    match (scheme, host) {
        ("wxp", h) if !h.is_empty() => (Some("wechat_pay"), None),
        ("weixin", "wxpay") if path.to_ascii_lowercase().starts_with("/bizpayurl") => (Some("wechat_pay"), None),
        (_, "wx.tenpay.com" | "payapp.weixin.qq.com") if web => (Some("wechat_pay"), None),
        (_, "qr.alipay.com") if web => {
            if path.trim_matches('/').is_empty() {
                (Some("alipay"), Some("an Alipay code URL names a code after qr.alipay.com/".into()))
            } else {
                (Some("alipay"), None)
            }
        }
        (_, "qr.95516.com") if web => {
            let mut parts = path.trim_start_matches('/').split('/');
            let prefix = parts.next().unwrap_or("");
            let id = parts.next().unwrap_or("");
            if prefix.len() == 8 && prefix.bytes().all(|b| b.is_ascii_digit()) && !id.is_empty() {
                (Some("unionpay"), None)
            } else {
                (Some("unionpay"), Some("a UnionPay code URL is qr.95516.com/{8 digits}/{id}".into()))
            }
        }
        _ => (None, Some("a URL of no known collection-code form".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(text: &str) -> (Option<&'static str>, bool) {
        let u = parse(text).unwrap();
        (u.issuer, u.problem.is_none())
    }

    #[test]
    fn known_forms_name_their_issuer() {
        assert_eq!(issuer("wxp://f2f0hWbV6_bz3Fk0WyM8ZQF1ZbRNkNmQgaSu"), (Some("wechat_pay"), true));
        assert_eq!(issuer("weixin://wxpay/bizpayurl?pr=AbCdEf1"), (Some("wechat_pay"), true));
        assert_eq!(issuer("https://payapp.weixin.qq.com/qr/AbC?t=1"), (Some("wechat_pay"), true));
        assert_eq!(issuer("HTTPS://QR.ALIPAY.COM/FKX01234ABCD"), (Some("alipay"), true));
        assert_eq!(issuer("https://qr.95516.com/00010000/01234567890"), (Some("unionpay"), true));
        assert_eq!(issuer("https://qr.95516.com/abc/1"), (Some("unionpay"), false));
        assert_eq!(issuer("https://qr.alipay.com/"), (Some("alipay"), false));
        assert_eq!(issuer("https://example.com/pay"), (None, false));
        assert_eq!(parse("not a url"), None);
        assert_eq!(parse("://x"), None);
    }
}
