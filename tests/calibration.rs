//! Calibration of the verdict protocol: for each kind of interval, many
//! simulated rules (seeded) whose groups all sit exactly at the margin fail at
//! most at the rule's alpha (with a binomial tolerance), and groups well
//! inside the margin never fail.

use hutong::findings::Verdict;
use hutong::stats::{self, Paired};
use hutong::verdict::{on_interval, Breach, Family};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ALPHA: f64 = 0.05;
const RULES: usize = 400;

/// The highest share of failing rules accepted: alpha plus three binomial
/// standard errors of the simulated share.
fn tolerance() -> f64 {
    ALPHA + 3.0 * (ALPHA * (1.0 - ALPHA) / RULES as f64).sqrt()
}

fn binomial(rng: &mut ChaCha8Rng, n: u64, p: f64) -> u64 {
    (0..n).filter(|_| rng.random_bool(p)).count() as u64
}

/// Paired events over `n` sessions with margins p1, p2 and correlation via a
/// shared draw: both events when u < min(p1, p2) in half the sessions.
fn paired(rng: &mut ChaCha8Rng, n: u64, p1: f64, p2: f64) -> Paired {
    let mut t = Paired::default();
    for _ in 0..n {
        let (a, b) = if rng.random_bool(0.5) {
            let u: f64 = rng.random_range(0.0..1.0);
            (u < p1, u < p2)
        } else {
            (rng.random_bool(p1), rng.random_bool(p2))
        };
        match (a, b) {
            (true, true) => t.both += 1,
            (true, false) => t.first_only += 1,
            (false, true) => t.second_only += 1,
            (false, false) => t.neither += 1,
        }
    }
    t
}

/// Share of simulated rules with at least one failing group; `group` draws
/// one group's interval given the family.
fn false_fail_rate(
    seed: u64,
    groups: usize,
    breach: Breach,
    threshold: f64,
    mut group: impl FnMut(&mut ChaCha8Rng, &Family) -> Option<(f64, f64)>,
) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let fam = Family::new(ALPHA, groups, breach);
    let mut failing = 0;
    for _ in 0..RULES {
        let mut any = false;
        for _ in 0..groups {
            if let Some((lo, hi)) = group(&mut rng, &fam) {
                any |= on_interval(lo, hi, threshold, breach) == Verdict::Fail;
            }
        }
        failing += usize::from(any);
    }
    failing as f64 / RULES as f64
}

#[test]
fn one_proportion_cells_at_the_threshold() {
    // 42 acceptance cells whose true success rate is exactly 95%.
    let at = false_fail_rate(1, 42, Breach::Below, 0.95, |rng, fam| {
        let n = 200;
        stats::proportion_interval(binomial(rng, n, 0.95), n, fam.z())
    });
    assert!(at <= tolerance(), "{at}");
    let inside = false_fail_rate(2, 42, Breach::Below, 0.95, |rng, fam| {
        stats::proportion_interval(binomial(rng, 200, 0.98), 200, fam.z())
    });
    assert_eq!(inside, 0.0);
}

#[test]
fn independent_differences_at_the_margin() {
    // 15 platform x rival pairs, rival failure rate exactly 1 point above own.
    let at = false_fail_rate(3, 15, Breach::Above, 0.01, |rng, fam| {
        let (nr, na) = (1000, 3000);
        stats::newcombe(binomial(rng, nr, 0.03), nr, binomial(rng, na, 0.02), na, fam.z())
    });
    assert!(at <= tolerance(), "{at}");
    let inside = false_fail_rate(4, 15, Breach::Above, 0.01, |rng, fam| {
        stats::newcombe(binomial(rng, 1000, 0.02), 1000, binomial(rng, 3000, 0.02), 3000, fam.z())
    });
    assert_eq!(inside, 0.0);
}

#[test]
fn independent_ratios_at_the_margin() {
    // Rival rate 0.8 of own (min_ratio 0.8), Katz log interval.
    let at = false_fail_rate(5, 15, Breach::Below, 0.8, |rng, fam| {
        stats::katz(binomial(rng, 800, 0.4), 800, binomial(rng, 800, 0.5), 800, fam.z())
    });
    assert!(at <= tolerance(), "{at}");
    let inside = false_fail_rate(6, 15, Breach::Below, 0.8, |rng, fam| {
        stats::katz(binomial(rng, 800, 0.5), 800, binomial(rng, 800, 0.5), 800, fam.z())
    });
    assert_eq!(inside, 0.0);
}

#[test]
fn paired_differences_at_the_margin() {
    // Surcharge incidence 2 points above own within shared sessions.
    let at = false_fail_rate(7, 15, Breach::Above, 0.02, |rng, fam| {
        stats::newcombe_paired(paired(rng, 1500, 0.07, 0.05), fam.z())
    });
    assert!(at <= tolerance(), "{at}");
    let inside = false_fail_rate(8, 15, Breach::Above, 0.02, |rng, fam| {
        stats::newcombe_paired(paired(rng, 1500, 0.05, 0.05), fam.z())
    });
    assert_eq!(inside, 0.0);
}

#[test]
fn paired_ratios_at_the_margin() {
    // Visible rate of the rival 0.8 of own within shared sessions.
    let at = false_fail_rate(9, 15, Breach::Below, 0.8, |rng, fam| {
        stats::katz_paired(paired(rng, 1200, 0.76, 0.95), fam.z())
    });
    assert!(at <= tolerance(), "{at}");
    let inside = false_fail_rate(10, 15, Breach::Below, 0.8, |rng, fam| {
        stats::katz_paired(paired(rng, 1200, 0.95, 0.95), fam.z())
    });
    assert_eq!(inside, 0.0);
}

#[test]
fn two_sided_gaps_at_the_margin() {
    // Reciprocity: directions 5 points apart (max_gap 0.05), 21 pairs.
    let at = false_fail_rate(11, 21, Breach::Outside, 0.05, |rng, fam| {
        stats::newcombe(binomial(rng, 400, 0.95), 400, binomial(rng, 400, 0.90), 400, fam.z())
    });
    assert!(at <= tolerance(), "{at}");
    let inside = false_fail_rate(12, 21, Breach::Outside, 0.05, |rng, fam| {
        stats::newcombe(binomial(rng, 400, 0.97), 400, binomial(rng, 2000, 0.97), 2000, fam.z())
    });
    assert_eq!(inside, 0.0);
}

/// Latencies of one arm as sorted (value, count) pairs: a log-normal scaled by `scale`.
fn latencies(rng: &mut ChaCha8Rng, n: usize, scale: f64) -> Vec<(i64, u64)> {
    let mut v: Vec<i64> = (0..n)
        .map(|_| {
            let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random_range(0.0..1.0));
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            (scale * (5.5 + 0.4 * z).exp()).round() as i64
        })
        .collect();
    v.sort_unstable();
    let mut out: Vec<(i64, u64)> = Vec::new();
    for x in v {
        match out.last_mut() {
            Some((last, c)) if *last == x => *c += 1,
            _ => out.push((x, 1)),
        }
    }
    out
}

#[test]
fn quantile_ratios_at_the_margin_and_a_realistic_breach() {
    // Rival p95 exactly 1.25 times own (max_ratio 1.25), delta method with
    // distribution-free standard errors.
    let ratio_interval = |rng: &mut ChaCha8Rng, fam: &Family, scale: f64| {
        let (r, a) = (latencies(rng, 700, scale), latencies(rng, 2000, 1.0));
        stats::quantile_ratio_interval(&r, &a, 0.95, fam.z())
    };
    let at = false_fail_rate(13, 15, Breach::Above, 1.25, |rng, fam| ratio_interval(rng, fam, 1.25));
    assert!(at <= tolerance(), "{at}");
    let inside = false_fail_rate(14, 15, Breach::Above, 1.25, |rng, fam| ratio_interval(rng, fam, 1.0));
    assert_eq!(inside, 0.0);
    // A breach of realistic size is found: exponential latencies, the rival
    // 1.6 times slower, 700 payments in each arm, 15 simultaneous groups.
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let fam = Family::new(ALPHA, 15, Breach::Above);
    let exp_arm = |rng: &mut ChaCha8Rng, scale: f64| {
        let mut v: Vec<i64> =
            (0..700).map(|_| (-scale * 300.0 * rng.random_range(f64::EPSILON..1.0).ln()).round() as i64).collect();
        v.sort_unstable();
        v.into_iter().map(|x| (x, 1u64)).collect::<Vec<_>>()
    };
    let mut found = 0;
    for _ in 0..50 {
        let (r, a) = (exp_arm(&mut rng, 1.6), exp_arm(&mut rng, 1.0));
        let (lo, hi) = stats::quantile_ratio_interval(&r, &a, 0.95, fam.z()).unwrap();
        found += usize::from(on_interval(lo, hi, 1.25, Breach::Above) == Verdict::Fail);
    }
    assert!(found >= 25, "found {found} of 50");
}
