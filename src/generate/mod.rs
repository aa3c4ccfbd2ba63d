//! Synthetic transaction and checkout logs that follow the data contract.
//!
//! Volumes are quotas per (platform, provider) arm and per acceptance cell,
//! spread evenly over the hours of the window, and rates (failures) are
//! applied by error diffusion rather than coin flips: the sample's metrics
//! are then exact by construction, and the planted violations are the only
//! ones. Output is written hour by hour, so memory stays bounded at any scale.

mod codes;
pub mod model;
mod writer;

use std::collections::HashMap;
use std::path::PathBuf;

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use model::{Plant, Platform, Provider, BANKS, MAJORS, OTHER_REGIONS, PILOT_REGIONS, PLATFORMS, UNIONPAY, WECHAT};
pub use writer::OutputFormat;
use writer::{CheckoutRow, TxnRow, Writers};

/// 2021-10-01T00:00:00+08:00 as Unix seconds.
pub const START: i64 = 1_633_017_600;
/// UTC offset the generator writes timestamps in.
pub const OFFSET_SECS: i64 = 8 * 3600;

/// Online payments per (platform, provider) arm at scale 1.
const ONLINE_PER_ARM: u64 = 400;
/// Online bank-card payments per platform at scale 1.
const BANK_PER_PLATFORM: u64 = 40;
/// Payments with a label no shipped taxonomy maps, per platform at scale 1.
const UNMAPPED_PER_PLATFORM: u64 = 5;
const UNMAPPED_LABEL: &str = "礼品卡";
/// Offline scans per (pilot region, app, issuer) among the majors at scale 1.
const PILOT_SCANS_PER_CELL: u64 = 150;
/// Offline scans per (other region, app, issuer) at scale 1.
const OTHER_SCANS_PER_CELL: u64 = 40;
/// Bank-app scans per (pilot region, issuer) at scale 1.
const BANK_SCANS_PER_CELL: u64 = 30;
/// Checkout sessions per platform at scale 1.
const SESSIONS_PER_PLATFORM: u64 = 1800;
/// How many merchants the exclusive-merchants plant makes exclusive.
pub const EXCLUSIVE_MERCHANTS: usize = 12;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Config {
    pub out: PathBuf,
    pub seed: u64,
    pub merchants: u32,
    pub days: u32,
    pub scale: u32,
    pub format: OutputFormat,
    pub plants: Vec<Plant>,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub transactions: u64,
    pub checkout_rows: u64,
    pub merchants: u64,
    pub codes: u64,
    pub files: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("{0}")]
    Invalid(String),
    #[error("writing {}: {cause}", .path.display())]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("writing {}: {cause}", .path.display())]
    Parquet { path: PathBuf, cause: polars::prelude::PolarsError },
}

/// A merchant of the synthetic market.
#[derive(Debug, Clone)]
pub struct Merchant {
    pub id: String,
    pub platform: &'static str,
    pub region: &'static str,
    pub mcc: &'static str,
    pub name: String,
    pub exclusive: bool,
    pub no_unionpay: bool,
}

/// One stream of payments with a fixed quota and failure rates.
struct Arm {
    kind: ArmKind,
    quota: u64,
    /// Technical failures (`PAYERROR`) per thousand attempts.
    failure_permille: u32,
    /// Error-diffusion accumulator: failures are spread exactly at the rate,
    /// in integers so that 80‰ of 400 is exactly 32.
    debt: u32,
    /// User cancels (`USER_CANCEL`, not technical) per thousand attempts, alike on every arm.
    cancel_permille: u32,
    cancel_debt: u32,
    latency: (u32, u32),
    /// Merchant fee rate in basis points of the amount.
    fee_bp: u32,
}

enum ArmKind {
    Online { platform: usize, provider: &'static Provider },
    Unmapped { platform: usize },
    Offline { region: &'static str, app: &'static Provider, issuer: &'static Provider },
}

pub fn run(cfg: &Config) -> Result<Summary, GenerateError> {
    if cfg.merchants < 20 {
        return Err(GenerateError::Invalid("--merchants must be at least 20".into()));
    }
    if cfg.days == 0 || cfg.scale == 0 {
        return Err(GenerateError::Invalid("--days and --scale must be at least 1".into()));
    }
    std::fs::create_dir_all(&cfg.out).map_err(|cause| GenerateError::Io { path: cfg.out.clone(), cause })?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let merchants = make_merchants(cfg, &mut rng);
    let mut writers = Writers::create(&cfg.out, cfg.format)?;
    writers.merchants(&merchants)?;
    let mut arms = make_arms(cfg);
    let plat_idx: Vec<Vec<usize>> = PLATFORMS
        .iter()
        .map(|p| merchants.iter().enumerate().filter(|(_, m)| m.platform == p.id).map(|(i, _)| i).collect())
        .collect();
    let shops_by_region: HashMap<&str, Vec<usize>> = PILOT_REGIONS
        .iter()
        .chain(OTHER_REGIONS.iter())
        .map(|r| {
            (
                *r,
                merchants
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| m.platform == "offline" && m.region == *r)
                    .map(|(i, _)| i)
                    .collect(),
            )
        })
        .collect();
    let hours = u64::from(cfg.days) * 24;
    let sessions_quota = SESSIONS_PER_PLATFORM * u64::from(cfg.scale);
    let mut next_txn = 1u64;
    let mut next_session = 1u64;
    let mut summary = Summary { merchants: merchants.len() as u64, ..Default::default() };
    for hour in 0..hours {
        let t0 = START + (hour as i64) * 3600;
        let mut txns = Vec::new();
        for arm in arms.iter_mut() {
            for _ in 0..spread(arm.quota, hour, hours) {
                txns.push(make_txn(arm, t0, &merchants, &plat_idx, &shops_by_region, &mut rng));
            }
        }
        txns.sort_by_key(|t| t.ts);
        for t in txns.iter_mut() {
            t.txn_id = next_txn;
            next_txn += 1;
        }
        summary.transactions += txns.len() as u64;
        writers.transactions(&txns)?;
        let mut sessions = Vec::new();
        for (pi, platform) in PLATFORMS.iter().enumerate() {
            for _ in 0..spread(sessions_quota, hour, hours) {
                let ts = t0 + rng.random_range(0..3600);
                let Some(&m) = plat_idx[pi].choose(&mut rng) else { continue };
                sessions.push((ts, pi, m, make_session(cfg, platform, &merchants[m], &mut rng)));
            }
        }
        sessions.sort_by_key(|s| s.0);
        let mut rows = Vec::new();
        for (ts, pi, m, options) in sessions {
            for o in options {
                rows.push(CheckoutRow { session_id: next_session, ts, platform: PLATFORMS[pi].id, merchant: m, ..o });
            }
            next_session += 1;
        }
        summary.checkout_rows += rows.len() as u64;
        writers.checkout(&rows, &merchants)?;
        if hour == 0 && cfg.plants.contains(&Plant::DirtyRows) {
            let (t, c) = writers.dirty_rows()?;
            summary.transactions += t;
            summary.checkout_rows += c;
        }
    }
    summary.files = writers.finish()?;
    let (codes_file, codes) = codes::write(cfg, &merchants)?;
    summary.codes = codes;
    summary.files.push(codes_file);
    Ok(summary)
}

/// The share of `quota` that falls in `hour` of `hours`, so the sum is exact.
fn spread(quota: u64, hour: u64, hours: u64) -> u64 {
    quota * (hour + 1) / hours - quota * hour / hours
}

fn make_merchants(cfg: &Config, rng: &mut ChaCha8Rng) -> Vec<Merchant> {
    const MCCS: [&str; 6] = ["5411", "5812", "5814", "5999", "5691", "4121"];
    const SHOP_NAMES: [&str; 6] = ["便利店", "面馆", "咖啡馆", "水果店", "书店", "药房"];
    let total = cfg.merchants as usize;
    let online = total * 7 / 10;
    let weight_sum: u32 = PLATFORMS.iter().map(|p| p.weight).sum();
    let all_regions: Vec<&'static str> = PILOT_REGIONS.iter().chain(OTHER_REGIONS.iter()).copied().collect();
    let mut out = Vec::with_capacity(total);
    let mut assigned = 0usize;
    for (i, p) in PLATFORMS.iter().enumerate() {
        let n =
            if i + 1 == PLATFORMS.len() { online - assigned } else { online * p.weight as usize / weight_sum as usize };
        assigned += n;
        for k in 0..n {
            let exclusive = p.id == "taobao"
                && cfg.plants.contains(&Plant::ExclusiveMerchants)
                && k < EXCLUSIVE_MERCHANTS.min(n / 4);
            let no_unionpay = p.id == "jd" && cfg.plants.contains(&Plant::LowUnionpayCoverage) && k % 10 < 3;
            out.push(Merchant {
                id: String::new(),
                platform: p.id,
                region: all_regions[rng.random_range(0..all_regions.len())],
                mcc: MCCS[rng.random_range(0..MCCS.len())],
                name: format!("{} {}号店", p.id, k + 1),
                exclusive,
                no_unionpay,
            });
        }
    }
    for k in 0..total - online {
        // Every region gets shops before any gets a second one.
        let region = all_regions[k % all_regions.len()];
        out.push(Merchant {
            id: String::new(),
            platform: "offline",
            region,
            mcc: MCCS[rng.random_range(0..MCCS.len())],
            name: format!("{}{}", SHOP_NAMES[k % SHOP_NAMES.len()], k + 1),
            exclusive: false,
            no_unionpay: false,
        });
    }
    for (i, m) in out.iter_mut().enumerate() {
        m.id = format!("M{:06}", i + 1);
    }
    out
}

fn make_arms(cfg: &Config) -> Vec<Arm> {
    let s = u64::from(cfg.scale);
    let plant = |p: Plant| cfg.plants.contains(&p);
    let mut arms = Vec::new();
    for (pi, p) in PLATFORMS.iter().enumerate() {
        for provider in p.own.iter().copied().chain(p.rivals.iter().copied()) {
            let failing = plant(Plant::FailingRival) && p.id == "tmall" && provider.id == WECHAT.id;
            let dear = plant(Plant::RivalFee) && p.id == "jd" && provider.id == UNIONPAY.id;
            let slow = plant(Plant::SlowRival) && p.id == "meituan" && provider.id == UNIONPAY.id;
            arms.push(Arm {
                kind: ArmKind::Online { platform: pi, provider },
                quota: ONLINE_PER_ARM * s,
                failure_permille: if failing { 80 } else { 10 },
                debt: 0,
                cancel_permille: 10,
                cancel_debt: 0,
                latency: if slow { (250, 750) } else { (150, 450) },
                fee_bp: if dear { 100 } else { 60 },
            });
        }
        arms.push(Arm {
            kind: ArmKind::Online { platform: pi, provider: &BANKS },
            quota: BANK_PER_PLATFORM * s,
            failure_permille: 10,
            debt: 0,
            cancel_permille: 10,
            cancel_debt: 0,
            latency: (150, 450),
            fee_bp: 60,
        });
        arms.push(Arm {
            kind: ArmKind::Unmapped { platform: pi },
            quota: UNMAPPED_PER_PLATFORM * s,
            failure_permille: 0,
            debt: 0,
            cancel_permille: 0,
            cancel_debt: 0,
            latency: (150, 450),
            fee_bp: 60,
        });
    }
    let offline = |region, app, issuer, quota, failure_permille| Arm {
        kind: ArmKind::Offline { region, app, issuer },
        quota,
        failure_permille,
        debt: 0,
        cancel_permille: 0,
        cancel_debt: 0,
        latency: (100, 400),
        fee_bp: 38,
    };
    for region in PILOT_REGIONS {
        for app in MAJORS {
            for issuer in MAJORS {
                let one_way =
                    plant(Plant::OneWay) && region == "440300" && app.id == WECHAT.id && issuer.id == UNIONPAY.id;
                let dead =
                    plant(Plant::DeadCell) && region == "610100" && app.id == UNIONPAY.id && issuer.id == "alipay";
                let quota = if dead { 0 } else { PILOT_SCANS_PER_CELL * s };
                arms.push(offline(region, app, issuer, quota, if one_way { 900 } else { 10 }));
            }
        }
        for issuer in MAJORS {
            arms.push(offline(region, &BANKS, issuer, BANK_SCANS_PER_CELL * s, 10));
        }
    }
    for region in OTHER_REGIONS {
        for app in MAJORS {
            for issuer in MAJORS {
                arms.push(offline(region, app, issuer, OTHER_SCANS_PER_CELL * s, 10));
            }
        }
    }
    arms
}

fn make_txn(
    arm: &mut Arm,
    t0: i64,
    merchants: &[Merchant],
    plat_idx: &[Vec<usize>],
    shops: &HashMap<&str, Vec<usize>>,
    rng: &mut ChaCha8Rng,
) -> TxnRow {
    arm.debt += arm.failure_permille;
    arm.cancel_debt += arm.cancel_permille;
    let failure = if arm.debt >= 1000 {
        arm.debt -= 1000;
        Some("PAYERROR")
    } else if arm.cancel_debt >= 1000 {
        arm.cancel_debt -= 1000;
        Some("USER_CANCEL")
    } else {
        None
    };
    let ts = t0 + rng.random_range(0..3600);
    let amount_fen = rng.random_range(100..50_000u64);
    let latency = rng.random_range(arm.latency.0..=arm.latency.1);
    let mut row = TxnRow {
        txn_id: 0,
        ts,
        platform: "offline",
        channel: "offline",
        scene: "qr_scan",
        merchant: 0,
        method: "",
        wallet_app: "",
        code_issuer: "",
        amount_fen,
        // Fees are charged on successful payments, in whole fen.
        fee_fen: if failure.is_none() { (amount_fen * u64::from(arm.fee_bp) + 5_000) / 10_000 } else { 0 },
        failure,
        latency,
        discount_fen: 0,
        funder: "",
    };
    match arm.kind {
        ArmKind::Online { platform, provider } => {
            let p = &PLATFORMS[platform];
            row.platform = p.id;
            row.channel = "online";
            row.scene = "checkout";
            row.merchant = pick_merchant(p, provider, &plat_idx[platform], merchants, rng);
            row.method = provider.method_labels.choose(rng).copied().unwrap_or(provider.id);
        }
        ArmKind::Unmapped { platform } => {
            row.platform = PLATFORMS[platform].id;
            row.channel = "online";
            row.scene = "checkout";
            row.merchant = plat_idx[platform].choose(rng).copied().unwrap_or(0);
            row.method = UNMAPPED_LABEL;
        }
        ArmKind::Offline { region, app, issuer } => {
            row.merchant = shops.get(region).and_then(|v| v.choose(rng)).copied().unwrap_or(0);
            row.wallet_app = app.app_labels.choose(rng).copied().unwrap_or(app.id);
            row.method = row.wallet_app;
            row.code_issuer = issuer.issuer_labels.choose(rng).copied().unwrap_or(issuer.id);
        }
    }
    if rng.random_bool(0.1) {
        row.discount_fen = rng.random_range(100..500);
        row.funder = ["platform", "merchant", "provider"][rng.random_range(0..3)];
    }
    row
}

/// A merchant of the platform that offers the provider: exclusive merchants
/// take only their platform's own provider, and so on.
fn pick_merchant(
    p: &Platform,
    provider: &Provider,
    idx: &[usize],
    merchants: &[Merchant],
    rng: &mut ChaCha8Rng,
) -> usize {
    let own = p.own.is_some_and(|o| o.id == provider.id);
    for _ in 0..64 {
        let Some(&m) = idx.choose(rng) else { return 0 };
        let merchant = &merchants[m];
        if (merchant.exclusive && !own) || (merchant.no_unionpay && provider.id == UNIONPAY.id) {
            continue;
        }
        return m;
    }
    idx.iter().copied().find(|&m| !merchants[m].exclusive && !merchants[m].no_unionpay).unwrap_or(0)
}

/// The options one checkout session shows, without session id, time and platform.
fn make_session(cfg: &Config, p: &Platform, m: &Merchant, rng: &mut ChaCha8Rng) -> Vec<CheckoutRow> {
    let plant = |x: Plant| cfg.plants.contains(&x);
    let mut providers: Vec<&Provider> = Vec::new();
    if let Some(own) = p.own {
        providers.push(own);
    }
    if !m.exclusive {
        for r in p.rivals {
            if m.no_unionpay && r.id == UNIONPAY.id {
                continue;
            }
            if rng.random_bool(0.95) {
                providers.push(r);
            }
        }
    }
    if providers.is_empty() {
        providers.push(p.rivals[0]);
    }
    let mut options: Vec<CheckoutRow> = providers
        .iter()
        .map(|prov| {
            let rival = p.own.is_none_or(|o| o.id != prov.id);
            let folded = rival && p.id == "ele_me" && plant(Plant::FoldedRivals) && rng.random_bool(0.8);
            let surcharge =
                rival && p.id == "jd" && prov.id == UNIONPAY.id && plant(Plant::RivalSurcharge) && rng.random_bool(0.5);
            let own_discount = !rival && p.id == "meituan" && plant(Plant::OwnDiscount) && rng.random_bool(0.3);
            let discount = own_discount || rng.random_bool(0.1);
            let mut funder = if discount { ["platform", "merchant", "provider"][rng.random_range(0..3)] } else { "" };
            if own_discount {
                funder = "platform";
            } else if rival && p.id == "meituan" && plant(Plant::OwnDiscount) && funder == "platform" {
                // The planted platform funds discounts on its own provider only.
                funder = "merchant";
            }
            CheckoutRow {
                session_id: 0,
                ts: 0,
                platform: "",
                merchant: 0,
                method: prov.method_labels.choose(rng).copied().unwrap_or(prov.id),
                position: 0,
                is_default: false,
                folded,
                surcharge_fen: if surcharge { 100 } else { 0 },
                discount_fen: if discount { rng.random_range(100..500) } else { 0 },
                funder,
                selected: false,
            }
        })
        .collect();
    options.shuffle(rng);
    // Folded options come after the visible ones, as in a real checkout.
    options.sort_by_key(|o| o.folded);
    for (i, o) in options.iter_mut().enumerate() {
        o.position = i as u32 + 1;
        o.is_default = i == 0;
    }
    let visible = options.iter().filter(|o| !o.folded).count().max(1);
    let chosen = rng.random_range(0..visible);
    options[chosen].selected = true;
    options
}

/// Writes a short description of what was generated, for people.
pub fn describe(cfg: &Config, s: &Summary) -> String {
    let plants: Vec<_> = cfg.plants.iter().map(|p| p.name()).collect();
    format!(
        "wrote {} transactions, {} checkout rows, {} merchants and {} collection codes to {}\nseed {}, {} days from 2021-10-01, scale {}, planted: {}",
        s.transactions,
        s.checkout_rows,
        s.merchants,
        s.codes,
        cfg.out.display(),
        cfg.seed,
        cfg.days,
        cfg.scale,
        if plants.is_empty() { "none".to_string() } else { plants.join(", ") }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_sums_to_the_quota() {
        for quota in [0, 1, 7, 150, 401] {
            let total: u64 = (0..168).map(|h| spread(quota, h, 168)).sum();
            assert_eq!(total, quota);
        }
    }
}
