//! The synthetic market: platforms, providers, their raw labels, regions, and
//! the violations a generated log can carry.

/// A payment provider as the generator knows it, with the raw labels logs use.
pub struct Provider {
    pub id: &'static str,
    /// Labels written in `method` (online checkout and payments).
    pub method_labels: &'static [&'static str],
    /// Labels written in `wallet_app` when its app scans a code.
    pub app_labels: &'static [&'static str],
    /// Labels written in `code_issuer` for collection codes it issues.
    pub issuer_labels: &'static [&'static str],
}

pub const ALIPAY: Provider = Provider {
    id: "alipay",
    method_labels: &["Alipay", "alipay_balance", "huabei", "花呗", "支付宝", "ALIPAY"],
    app_labels: &["Alipay", "支付宝"],
    issuer_labels: &["Alipay", "支付宝"],
};
pub const WECHAT: Provider = Provider {
    id: "wechat_pay",
    method_labels: &["WeChat Pay", "微信支付", "wechat", "wxpay", "weixin"],
    app_labels: &["WeChat", "微信"],
    issuer_labels: &["Tenpay", "财付通"],
};
pub const UNIONPAY: Provider = Provider {
    id: "unionpay",
    method_labels: &["UnionPay Cloud QuickPass", "云闪付", "quickpass", "银联", "UnionPay"],
    app_labels: &["云闪付", "Cloud QuickPass"],
    issuer_labels: &["China UnionPay", "银联"],
};
pub const MEITUAN_PAY: Provider =
    Provider {
        id: "meituan_pay", method_labels: &["Meituan Pay", "美团支付"], app_labels: &[], issuer_labels: &[]
    };
pub const JD_PAY: Provider =
    Provider { id: "jd_pay", method_labels: &["JD Pay", "京东支付"], app_labels: &[], issuer_labels: &[] };
/// Bank apps: minor methods online, and scanning apps offline.
pub const BANKS: Provider = Provider {
    id: "bank",
    method_labels: &["ICBC", "工商银行", "CCB", "建设银行", "CMB", "招商银行"],
    app_labels: &["ICBC Mobile", "建设银行", "招商银行", "BOC"],
    issuer_labels: &[],
};

/// The three majors that must interconnect.
pub const MAJORS: [&Provider; 3] = [&ALIPAY, &WECHAT, &UNIONPAY];

/// An online platform, its own (affiliated) provider and the rivals it offers.
pub struct Platform {
    pub id: &'static str,
    pub own: Option<&'static Provider>,
    pub rivals: &'static [&'static Provider],
    /// Share of the platform's merchants among online merchants (per mille).
    pub weight: u32,
}

pub const PLATFORMS: [Platform; 7] = [
    Platform { id: "taobao", own: Some(&ALIPAY), rivals: &[&WECHAT, &UNIONPAY], weight: 200 },
    Platform { id: "tmall", own: Some(&ALIPAY), rivals: &[&WECHAT, &UNIONPAY], weight: 150 },
    Platform { id: "ele_me", own: Some(&ALIPAY), rivals: &[&WECHAT, &UNIONPAY], weight: 120 },
    Platform { id: "meituan", own: Some(&MEITUAN_PAY), rivals: &[&ALIPAY, &WECHAT, &UNIONPAY], weight: 150 },
    Platform { id: "jd", own: Some(&JD_PAY), rivals: &[&ALIPAY, &WECHAT, &UNIONPAY], weight: 130 },
    Platform { id: "wechat_mp", own: Some(&WECHAT), rivals: &[&ALIPAY, &UNIONPAY], weight: 150 },
    Platform { id: "pinduoduo", own: None, rivals: &[&ALIPAY, &WECHAT, &UNIONPAY], weight: 100 },
];

/// The 2021 bar-code interconnection pilot cities (GB/T 2260 codes).
pub const PILOT_REGIONS: [&str; 7] = ["110000", "120000", "440100", "440300", "510100", "500000", "610100"];
/// Other regions, for traffic outside the pilot.
pub const OTHER_REGIONS: [&str; 4] = ["310000", "330100", "420100", "320100"];

/// A rule violation the generator can plant; names are documented in `docs/generate.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Plant {
    /// 12 taobao merchants offer only Alipay at checkout.
    ExclusiveMerchants,
    /// 30% of jd merchants never offer UnionPay.
    LowUnionpayCoverage,
    /// ele_me folds rival options away in 80% of sessions.
    FoldedRivals,
    /// In Shenzhen (440300) WeChat scans of UnionPay codes succeed 10% of the time.
    OneWay,
    /// In Xi'an (610100) no Cloud QuickPass scans of Alipay codes at all.
    DeadCell,
    /// On meituan, UnionPay payments are about 1.7x slower.
    SlowRival,
    /// On tmall, WeChat Pay payments fail for technical reasons 8% of the
    /// time (others 1%; every arm also has 1% user cancels).
    FailingRival,
    /// On jd, UnionPay options carry a surcharge in half the sessions.
    RivalSurcharge,
    /// On meituan, the platform funds a discount on Meituan Pay in 30% of
    /// sessions and never on a rival.
    OwnDiscount,
    /// On jd, merchants pay a 1.0% fee on UnionPay payments (0.6% otherwise).
    RivalFee,
    /// A handful of malformed rows in each dataset, to exercise row accounting.
    DirtyRows,
}

impl Plant {
    pub const ALL: [Plant; 11] = [
        Plant::ExclusiveMerchants,
        Plant::LowUnionpayCoverage,
        Plant::FoldedRivals,
        Plant::OneWay,
        Plant::DeadCell,
        Plant::SlowRival,
        Plant::FailingRival,
        Plant::RivalSurcharge,
        Plant::OwnDiscount,
        Plant::RivalFee,
        Plant::DirtyRows,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Plant::ExclusiveMerchants => "exclusive-merchants",
            Plant::LowUnionpayCoverage => "low-unionpay-coverage",
            Plant::FoldedRivals => "folded-rivals",
            Plant::OneWay => "one-way",
            Plant::DeadCell => "dead-cell",
            Plant::SlowRival => "slow-rival",
            Plant::FailingRival => "failing-rival",
            Plant::RivalSurcharge => "rival-surcharge",
            Plant::OwnDiscount => "own-discount",
            Plant::RivalFee => "rival-fee",
            Plant::DirtyRows => "dirty-rows",
        }
    }

    /// Parses `all`, `none`, or a comma-separated list of names.
    pub fn parse_list(text: &str) -> Result<Vec<Plant>, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("all") {
            return Ok(Plant::ALL.to_vec());
        }
        if t.is_empty() || t.eq_ignore_ascii_case("none") {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for part in t.split(',') {
            let p = part.trim();
            let plant = Plant::ALL.iter().copied().find(|x| x.name() == p).ok_or_else(|| {
                let names: Vec<_> = Plant::ALL.iter().map(|x| x.name()).collect();
                format!("unknown plant `{p}`; known: all, none, {}", names.join(", "))
            })?;
            if !out.contains(&plant) {
                out.push(plant);
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plant_lists() {
        assert_eq!(Plant::parse_list("all").unwrap().len(), 11);
        assert_eq!(Plant::parse_list("none").unwrap(), vec![]);
        assert_eq!(Plant::parse_list("one-way, dead-cell,one-way").unwrap(), vec![Plant::OneWay, Plant::DeadCell]);
        assert!(Plant::parse_list("bogus").unwrap_err().contains("unknown plant `bogus`"));
    }
}
