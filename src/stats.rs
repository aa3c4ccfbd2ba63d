//! Statistics behind the verdicts: Wilson intervals, the two-proportion
//! z-test, Fisher's exact test, Holm's correction, sample sizes and exact
//! quantiles from counts. Pure functions with known-answer tests.

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Wilson score interval for `successes` of `n` at 95%; `None` when n = 0.
pub fn wilson(successes: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((center - half).max(0.0), (center + half).min(1.0)))
}

/// Standard normal upper tail, P(Z > z).
pub fn normal_sf(z: f64) -> f64 {
    0.5 * libm::erfc(z / std::f64::consts::SQRT_2)
}

/// Pooled two-proportion z-test: returns (z, two-sided p). `None` when either
/// arm is empty or the pooled rate is 0 or 1 (no variance to test).
pub fn two_proportion_z(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<(f64, f64)> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let pooled = (x1 + x2) as f64 / (n1f + n2f);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f)).sqrt();
    if se == 0.0 {
        return None;
    }
    let z = (x1 as f64 / n1f - x2 as f64 / n2f) / se;
    Some((z, (2.0 * normal_sf(z.abs())).min(1.0)))
}

fn ln_factorial(n: u64) -> f64 {
    libm::lgamma(n as f64 + 1.0)
}

/// Fisher's exact test, two-sided, for the table [[a, b], [c, d]]: the sum of
/// the probabilities of all tables with the same margins that are no more
/// likely than the one observed.
pub fn fisher_exact(a: u64, b: u64, c: u64, d: u64) -> f64 {
    let (r1, r2, c1) = (a + b, c + d, a + c);
    let n = r1 + r2;
    let ln_denom = ln_factorial(n) - ln_factorial(r1) - ln_factorial(r2) - ln_factorial(c1) - ln_factorial(n - c1);
    let ln_p = |x: u64| -> f64 {
        // x = top-left cell; the others follow from the margins.
        -(ln_factorial(x) + ln_factorial(r1 - x) + ln_factorial(c1 - x) + ln_factorial(r2 + x - c1) + ln_denom)
    };
    let lo = c1.saturating_sub(r2);
    let hi = r1.min(c1);
    let observed = ln_p(a);
    // Relative tolerance so that tables as likely as the observed one count
    // despite floating-point noise (as R's fisher.test does).
    let cutoff = observed + 1e-7f64.ln_1p();
    let total: f64 = (lo..=hi).map(ln_p).filter(|&lp| lp <= cutoff).map(f64::exp).sum();
    total.min(1.0)
}

/// Which test `compare_rates` used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateTest {
    ZTest,
    FisherExact,
}

/// Compares x1/n1 with x2/n2: the pooled z-test when every cell of the 2x2
/// table holds at least 10 (n·p ≥ 10 and n·(1−p) ≥ 10 in both arms),
/// Fisher's exact test otherwise. Returns the test and its two-sided p.
pub fn compare_rates(x1: u64, n1: u64, x2: u64, n2: u64) -> Option<(RateTest, f64)> {
    if n1 == 0 || n2 == 0 || x1 > n1 || x2 > n2 {
        return None;
    }
    let cells = [x1, n1 - x1, x2, n2 - x2];
    if cells.iter().all(|&c| c >= 10) {
        two_proportion_z(x1, n1, x2, n2).map(|(_, p)| (RateTest::ZTest, p))
    } else {
        Some((RateTest::FisherExact, fisher_exact(x1, n1 - x1, x2, n2 - x2)))
    }
}

/// Holm's step-down adjustment; the result is in the input's order.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
    let mut out = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        let adj = ((m - rank) as f64 * p[i]).min(1.0);
        running = running.max(adj);
        out[i] = running;
    }
    out
}

/// Inverse of the standard normal CDF (Acklam's approximation, refined by one
/// Newton step against erfc: error below 1e-12).
#[allow(clippy::excessive_precision)] // Acklam's published coefficients, kept as published.
pub fn normal_quantile(prob: f64) -> f64 {
    if prob <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if prob >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383577518672690e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] =
        [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let low = 0.02425;
    let x = if prob < low {
        let q = (-2.0 * prob.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if prob <= 1.0 - low {
        let q = prob - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - prob).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let cdf = 1.0 - normal_sf(x);
    let e = cdf - prob;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// Observations needed per arm to tell rates p1 and p2 apart with a
/// two-sided test at `alpha` with the given power (normal approximation).
pub fn n_per_arm(p1: f64, p2: f64, alpha: f64, power: f64) -> Option<u64> {
    if (p1 - p2).abs() < f64::EPSILON {
        return None;
    }
    let za = normal_quantile(1.0 - alpha / 2.0);
    let zb = normal_quantile(power);
    let pbar = (p1 + p2) / 2.0;
    let num = za * (2.0 * pbar * (1.0 - pbar)).sqrt() + zb * (p1 * (1.0 - p1) + p2 * (1.0 - p2)).sqrt();
    Some((num * num / ((p1 - p2) * (p1 - p2))).ceil() as u64)
}

/// The nearest-rank quantile of a distribution given as (value, count) pairs
/// sorted by value: the smallest value with at least `q` of the mass at or
/// below it. `None` for an empty distribution.
pub fn quantile_from_counts(sorted: &[(i64, u64)], q: f64) -> Option<i64> {
    let total: u64 = sorted.iter().map(|(_, c)| c).sum();
    if total == 0 {
        return None;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for &(v, c) in sorted {
        seen += c;
        if seen >= rank {
            return Some(v);
        }
    }
    sorted.last().map(|(v, _)| *v)
}

/// HHI (0–10,000) of shares that sum to 1.
pub fn hhi(shares: &[f64]) -> f64 {
    shares.iter().map(|s| (100.0 * s) * (100.0 * s)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn z_test_known_answer() {
        // DOMAIN.md: 5/83 vs 12/99 -> z = -1.4078, two-sided p = 0.1592.
        let (z, p) = two_proportion_z(5, 83, 12, 99).unwrap();
        assert!(close(z, -1.4078, 5e-5), "{z}");
        assert!(close(p, 0.1592, 5e-5), "{p}");
    }

    #[test]
    fn fisher_known_answer() {
        // DOMAIN.md: [[8,2],[1,5]] -> two-sided p = 0.034965.
        assert!(close(fisher_exact(8, 2, 1, 5), 0.034965, 5e-7));
        // Symmetric under swapping rows or columns.
        assert!(close(fisher_exact(1, 5, 8, 2), 0.034965, 5e-7));
        assert!(close(fisher_exact(2, 8, 5, 1), 0.034965, 5e-7));
        // [[3,1],[1,3]]: tables 0..4 have probs 1,16,36,16,1 /70; p = 34/70.
        assert!(close(fisher_exact(3, 1, 1, 3), 34.0 / 70.0, 1e-12));
    }

    #[test]
    fn wilson_hand_computed() {
        // 8 of 10: center (0.8 + 1.92073/10)/1.384146 = 0.717...,
        // half = 1.959964/1.384146 * sqrt(0.016 + 0.0096037) = 0.226...
        let (lo, hi) = wilson(8, 10).unwrap();
        assert!(close(lo, 0.490_162, 1e-6), "{lo}");
        assert!(close(hi, 0.943_318, 1e-6), "{hi}");
        // 0 of 5: lower bound is exactly 0, upper 3.841459/8.841459.
        let (lo, hi) = wilson(0, 5).unwrap();
        assert_eq!(lo, 0.0);
        assert!(close(hi, 0.434_482, 1e-6), "{hi}");
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn holm_hand_computed() {
        // m = 4: sorted 0.01, 0.02, 0.03, 0.04 -> 0.04, 0.06, 0.06 (monotone), 0.06.
        let adj = holm(&[0.03, 0.01, 0.04, 0.02]);
        let want = [0.06, 0.04, 0.06, 0.06];
        for (a, w) in adj.iter().zip(want) {
            assert!(close(*a, w, 1e-12), "{adj:?}");
        }
        // 0.5 * 2 = 1.0, then 0.6 * 1 is raised to the running maximum 1.0.
        assert_eq!(holm(&[0.6, 0.5]), vec![1.0, 1.0]);
    }

    #[test]
    fn sample_sizes_known_answers() {
        // DOMAIN.md: 99% vs 98% -> 2,319; 98% vs 95% -> 588; 95% vs 90% -> 435.
        assert_eq!(n_per_arm(0.99, 0.98, 0.05, 0.8), Some(2319));
        assert_eq!(n_per_arm(0.98, 0.95, 0.05, 0.8), Some(588));
        assert_eq!(n_per_arm(0.95, 0.90, 0.05, 0.8), Some(435));
    }

    #[test]
    fn normal_quantile_known_values() {
        assert!(close(normal_quantile(0.975), Z95, 1e-9));
        assert!(close(normal_quantile(0.8), 0.841_621_233_572_914, 1e-9));
        assert!(close(normal_quantile(0.001), -3.090_232_306_167_813, 1e-9));
    }

    #[test]
    fn rate_test_choice() {
        assert_eq!(compare_rates(5, 83, 12, 99).unwrap().0, RateTest::FisherExact);
        let (t, p) = compare_rates(20, 100, 40, 100).unwrap();
        assert_eq!(t, RateTest::ZTest);
        assert!(p < 0.01);
    }

    #[test]
    fn quantiles_nearest_rank() {
        // 20 values 1..=20: p95 rank = 19.
        let d: Vec<(i64, u64)> = (1..=20).map(|v| (v, 1)).collect();
        assert_eq!(quantile_from_counts(&d, 0.95), Some(19));
        assert_eq!(quantile_from_counts(&[(100, 94), (500, 6)], 0.95), Some(500));
        assert_eq!(quantile_from_counts(&[(100, 95), (500, 5)], 0.95), Some(100));
        assert_eq!(quantile_from_counts(&[], 0.95), None);
    }

    #[test]
    fn hhi_known_answer() {
        // DOMAIN.md: shares 55.6 / 38.8 / 5.6 -> HHI ~ 4,628.
        let h = hhi(&[0.556, 0.388, 0.056]);
        assert!(close(h, 4628.0, 1.0), "{h}");
        assert!(close(hhi(&[1.0]), 10_000.0, 1e-9));
    }
}
