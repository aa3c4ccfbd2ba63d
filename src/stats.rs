//! Statistics behind the verdicts: Wilson intervals, Newcombe's intervals
//! for differences (independent and paired), Katz log intervals for ratios,
//! distribution-free quantile intervals, the two-proportion z-test, Fisher's
//! exact test, Holm's correction, sample sizes and exact quantiles from
//! counts. Pure functions with known-answer tests.

/// z for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Wilson score interval for `successes` of `n` at 95%; `None` when n = 0.
pub fn wilson(successes: u64, n: u64) -> Option<(f64, f64)> {
    wilson_z(successes, n, Z95)
}

/// The z whose upper tail is `tail`: P(Z > z) = tail.
pub fn z_for_tail(tail: f64) -> f64 {
    normal_quantile(1.0 - tail)
}

/// Wilson score interval for `successes` of `n` with each bound at normal
/// deviate `z`; `None` when n = 0.
pub fn wilson_z(successes: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let n = n as f64;
    let p = (successes as f64 / n).min(1.0);
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((center - half).max(0.0), (center + half).min(1.0)))
}

/// The regularised incomplete beta function I_x(a, b) (continued fraction,
/// modified Lentz; Numerical Recipes §6.4).
pub fn beta_inc(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = libm::lgamma(a + b) - libm::lgamma(a) - libm::lgamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..100_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// The `p` quantile of Student's t with `df` degrees of freedom, by bisection
/// on its distribution function P(T > x) = I_{df/(df+x²)}(df/2, 1/2) / 2.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if !(0.0..1.0).contains(&p) || p == 0.0 || df <= 0.0 {
        return f64::NAN;
    }
    if p < 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    let upper = |x: f64| 0.5 * beta_inc(df / 2.0, 0.5, df / (df + x * x));
    let target = 1.0 - p;
    let mut hi = 1.0;
    while upper(hi) > target && hi < 1e12 {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if upper(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The exact (Clopper–Pearson) bounds for `successes` of `n`, each with error
/// `tail`: the p at which P(X ≥ x) = tail (lower) and P(X ≤ x) = tail
/// (upper), found by bisection on the incomplete beta function.
pub fn clopper_pearson(successes: u64, n: u64, tail: f64) -> Option<(f64, f64)> {
    if n == 0 || successes > n {
        return None;
    }
    let (x, nf) = (successes as f64, n as f64);
    let solve = |f: &dyn Fn(f64) -> bool| {
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        for _ in 0..80 {
            let mid = 0.5 * (lo + hi);
            if f(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        0.5 * (lo + hi)
    };
    // P(X >= x | p) = I_p(x, n - x + 1) grows with p; P(X <= x | p) = 1 - I_p(x + 1, n - x) shrinks.
    let lo = if successes == 0 { 0.0 } else { solve(&|p| beta_inc(x, nf - x + 1.0, p) >= tail) };
    let hi = if successes == n { 1.0 } else { solve(&|p| 1.0 - beta_inc(x + 1.0, nf - x, p) <= tail) };
    Some((lo, hi))
}

/// The interval a verdict on one proportion reads: the Wilson score interval
/// at deviate z, widened where needed to the exact Clopper–Pearson bounds at
/// the same tail error. Near 0 or 1 and at Bonferroni levels Wilson alone
/// undercovers (at p = 0.95, n = 200, 42 cells: 0.27% per cell against 0.12%
/// nominal), so a fair cell could fail by chance; the exact bound never does.
pub fn proportion_interval(successes: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    let (wl, wh) = wilson_z(successes, n, z)?;
    let (cl, ch) = clopper_pearson(successes, n, normal_sf(z))?;
    Some((wl.min(cl), wh.max(ch)))
}

/// Newcombe's hybrid score interval (method 10, Newcombe 1998) for the
/// difference p1 − p2 of two independent proportions x1/n1 and x2/n2, each
/// bound at normal deviate `z`.
pub fn newcombe(x1: u64, n1: u64, x2: u64, n2: u64, z: f64) -> Option<(f64, f64)> {
    let (l1, u1) = wilson_z(x1, n1, z)?;
    let (l2, u2) = wilson_z(x2, n2, z)?;
    let (p1, p2) = (x1 as f64 / n1 as f64, x2 as f64 / n2 as f64);
    let d = p1 - p2;
    let lo = d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt();
    let hi = d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt();
    Some((lo.max(-1.0), hi.min(1.0)))
}

/// A 2×2 table of paired events over the same units (sessions): `both` had
/// the event for both arms, `first_only` / `second_only` for one arm,
/// `neither` for none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Paired {
    pub both: u64,
    pub first_only: u64,
    pub second_only: u64,
    pub neither: u64,
}

impl Paired {
    pub fn n(&self) -> u64 {
        self.both + self.first_only + self.second_only + self.neither
    }
    /// Units with the first arm's event.
    pub fn x1(&self) -> u64 {
        self.both + self.first_only
    }
    /// Units with the second arm's event.
    pub fn x2(&self) -> u64 {
        self.both + self.second_only
    }
}

/// Newcombe's hybrid score interval for a difference of paired proportions
/// (method 10 of Newcombe 1998, "paired data"): the Wilson intervals of the
/// two margins combined with the phi correlation of the table (0 when a
/// margin is empty). Each bound at normal deviate `z`.
pub fn newcombe_paired(t: Paired, z: f64) -> Option<(f64, f64)> {
    let n = t.n();
    let (l2, u2) = wilson_z(t.x1(), n, z)?;
    let (l3, u3) = wilson_z(t.x2(), n, z)?;
    let nf = n as f64;
    let (p1, p2) = (t.x1() as f64 / nf, t.x2() as f64 / nf);
    let (a, b, c, d) = (t.both as f64, t.first_only as f64, t.second_only as f64, t.neither as f64);
    let den = (a + b) * (c + d) * (a + c) * (b + d);
    let phi = if den > 0.0 { (a * d - b * c) / den.sqrt() } else { 0.0 };
    let (dl2, du2, dl3, du3) = (p1 - l2, u2 - p1, p2 - l3, u3 - p2);
    let diff = p1 - p2;
    let lo = diff - (dl2 * dl2 - 2.0 * phi * dl2 * du3 + du3 * du3).max(0.0).sqrt();
    let hi = diff + (du2 * du2 - 2.0 * phi * du2 * dl3 + dl3 * dl3).max(0.0).sqrt();
    Some((lo.max(-1.0), hi.min(1.0)))
}

/// Katz's log interval for the ratio (x1/n1) / (x2/n2) of two independent
/// proportions, each bound at normal deviate `z`. With a zero count, 0.5 is
/// added to every cell (Haldane) so that the interval stays finite.
pub fn katz(x1: u64, n1: u64, x2: u64, n2: u64, z: f64) -> Option<(f64, f64)> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (mut a, mut m, mut c, mut k) = (x1 as f64, n1 as f64, x2 as f64, n2 as f64);
    if x1 == 0 || x2 == 0 {
        (a, m, c, k) = (a + 0.5, m + 1.0, c + 0.5, k + 1.0);
    }
    let ln = ((a / m) / (c / k)).ln();
    let se = (1.0 / a - 1.0 / m + 1.0 / c - 1.0 / k).max(0.0).sqrt();
    Some(((ln - z * se).exp(), (ln + z * se).exp()))
}

/// The log interval for the ratio of two paired proportions x1/n ÷ x2/n:
/// ln(x1/x2) ± z·√((b + c)/(x1·x2)), the delta-method variance for paired
/// margins (b, c the discordant counts). With a zero margin, 0.5 is added to
/// every cell.
pub fn katz_paired(t: Paired, z: f64) -> Option<(f64, f64)> {
    if t.n() == 0 {
        return None;
    }
    let (mut a, mut b, mut c) = (t.both as f64, t.first_only as f64, t.second_only as f64);
    if t.x1() == 0 || t.x2() == 0 {
        (a, b, c) = (a + 0.5, b + 0.5, c + 0.5);
    }
    let (x1, x2) = (a + b, a + c);
    let ln = (x1 / x2).ln();
    let se = ((b + c) / (x1 * x2)).sqrt();
    Some(((ln - z * se).exp(), (ln + z * se).exp()))
}

/// Binomial(n, q) probabilities over the window of k where they matter
/// (beyond 40 standard deviations from the mean they are below 1e-300):
/// returns the first k and the probabilities from there.
fn binomial_window(n: u64, q: f64) -> (u64, Vec<f64>) {
    let (nf, mean) = (n as f64, n as f64 * q);
    let sd = (nf * q * (1.0 - q)).sqrt();
    let lo = (mean - 40.0 * sd - 1.0).floor().max(0.0) as u64;
    let hi = ((mean + 40.0 * sd + 1.0).ceil() as u64).min(n);
    let ln_pmf = |k: u64| {
        ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k) + k as f64 * q.ln() + (nf - k as f64) * (1.0 - q).ln()
    };
    (lo, (lo..=hi).map(|k| ln_pmf(k).exp()).collect())
}

/// Ranks (1-based) of the order statistics that bound the `q` quantile of
/// `n` observations, distribution-free: the lower rank l is the largest with
/// P(Bin(n, q) ≤ l − 1) ≤ `tail`, the upper rank u the smallest with
/// P(Bin(n, q) ≥ u) ≤ `tail`. `None` where no rank qualifies (the bound is
/// the sample's end: unbounded).
pub fn quantile_ci_ranks(n: u64, q: f64, tail: f64) -> (Option<u64>, Option<u64>) {
    if n == 0 || !(0.0..1.0).contains(&q) || q == 0.0 {
        return (None, None);
    }
    let (start, pmf) = binomial_window(n, q);
    // cdf[i] = P(X <= start + i); sf[i] = P(X >= start + i), summed from the
    // small end of each tail so neither loses precision.
    let mut cdf = Vec::with_capacity(pmf.len());
    let mut acc = 0.0;
    for p in &pmf {
        acc += p;
        cdf.push(acc);
    }
    let mut sf = vec![0.0; pmf.len()];
    let mut acc = 0.0;
    for i in (0..pmf.len()).rev() {
        acc += pmf[i];
        sf[i] = acc;
    }
    let end = start + pmf.len() as u64 - 1;
    let cdf_at = |k: u64| {
        if k < start {
            0.0
        } else if k > end {
            1.0
        } else {
            cdf[(k - start) as usize]
        }
    };
    let sf_at = |k: u64| {
        if k < start {
            1.0
        } else if k > end {
            0.0
        } else {
            sf[(k - start) as usize]
        }
    };
    // Largest l in 1..=n with cdf(l - 1) <= tail (cdf grows with k).
    let lower = if cdf_at(0) > tail {
        None
    } else {
        let (mut lo, mut hi) = (0u64, n - 1);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if cdf_at(mid) <= tail {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Some(lo + 1)
    };
    // Smallest u in 1..=n with sf(u) <= tail (sf shrinks with k).
    let upper = if sf_at(n) > tail {
        None
    } else {
        let (mut lo, mut hi) = (1u64, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if sf_at(mid) <= tail {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Some(lo)
    };
    (lower, upper)
}

/// The value of 1-based `rank` in a distribution given as (value, count)
/// pairs sorted by value.
pub fn value_at_rank(sorted: &[(i64, u64)], rank: u64) -> Option<i64> {
    let mut seen = 0;
    for &(v, c) in sorted {
        seen += c;
        if seen >= rank {
            return Some(v);
        }
    }
    None
}

/// The distribution-free interval of the `q` quantile of a distribution
/// given as sorted (value, count) pairs, each bound with error `tail`:
/// `None` for an unbounded side.
pub fn quantile_ci(sorted: &[(i64, u64)], q: f64, tail: f64) -> (Option<i64>, Option<i64>) {
    let n: u64 = sorted.iter().map(|(_, c)| c).sum();
    let (l, u) = quantile_ci_ranks(n, q, tail);
    (l.and_then(|r| value_at_rank(sorted, r)), u.and_then(|r| value_at_rank(sorted, r)))
}

/// The `q` quantile of a distribution (sorted (value, count) pairs) and its
/// standard error, estimated without assuming a shape: the width of the
/// distribution-free 95% interval divided by 2·1.96 (the order-statistic
/// estimator of McKean and Schrader). `None` when the interval is open (too
/// few observations) or the quantile is not positive.
pub fn quantile_with_se(sorted: &[(i64, u64)], q: f64) -> Option<(f64, f64)> {
    let estimate = quantile_from_counts(sorted, q)? as f64;
    let (lo, hi) = quantile_ci(sorted, q, 0.025);
    let (lo, hi) = (lo? as f64, hi? as f64);
    (estimate > 0.0).then_some((estimate, (hi - lo) / (2.0 * Z95)))
}

/// The interval of the ratio of two arms' `q` quantiles at deviate `z`: the
/// delta method on the log scale, ln(ξ₁/ξ₂) ± z·√((SE₁/ξ₁)² + (SE₂/ξ₂)²),
/// with each arm's standard error from `quantile_with_se`.
pub fn quantile_ratio_interval(first: &[(i64, u64)], second: &[(i64, u64)], q: f64, z: f64) -> Option<(f64, f64)> {
    let (x1, se1) = quantile_with_se(first, q)?;
    let (x2, se2) = quantile_with_se(second, q)?;
    let ln = (x1 / x2).ln();
    let se = ((se1 / x1).powi(2) + (se2 / x2).powi(2)).sqrt();
    Some(((ln - z * se).exp(), (ln + z * se).exp()))
}

/// The interval of the difference of two arms' `q` quantiles at deviate `z`.
pub fn quantile_difference_interval(first: &[(i64, u64)], second: &[(i64, u64)], q: f64, z: f64) -> Option<(f64, f64)> {
    let (x1, se1) = quantile_with_se(first, q)?;
    let (x2, se2) = quantile_with_se(second, q)?;
    let half = z * (se1 * se1 + se2 * se2).sqrt();
    Some((x1 - x2 - half, x1 - x2 + half))
}

/// Observations needed for an interval to decide at `distance` from the
/// threshold with the given power, from an interval whose bounds lie
/// `half_width` from the estimate at deviate `z` with `n` observations now:
/// the standard error shrinks as 1/√n, and deciding with power `power` needs
/// (z + z_power)·SE ≤ distance.
pub fn n_to_decide(n: u64, half_width: f64, z: f64, distance: f64, power: f64) -> Option<u64> {
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if n == 0 || !positive(half_width) || !positive(distance) || !positive(z) {
        return None;
    }
    let se_now = half_width / z;
    let se_needed = distance / (z + normal_quantile(power));
    let need = (n as f64 * (se_now / se_needed).powi(2)).ceil();
    need.is_finite().then_some(need.max(n as f64) as u64)
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
    fn newcombe_known_answers() {
        // DOMAIN.md: 56/70 - 48/80 -> (0.0524, 0.3339); 9/10 - 3/10 -> (0.1705, 0.8090).
        let (lo, hi) = newcombe(56, 70, 48, 80, Z95).unwrap();
        assert!(close(lo, 0.052_431, 1e-6) && close(hi, 0.333_873, 1e-6), "{lo} {hi}");
        let (lo, hi) = newcombe(9, 10, 3, 10, Z95).unwrap();
        assert!(close(lo, 0.170_523, 1e-6) && close(hi, 0.809_018, 1e-6), "{lo} {hi}");
        assert_eq!(newcombe(1, 0, 1, 2, Z95), None);
    }

    #[test]
    fn t_quantiles_known_answers() {
        // Tables of Student's t: t(0.975, 10) = 2.228139, t(0.95, 5) = 2.015048,
        // t(0.995, 3) = 5.840909; large df tends to the normal.
        assert!(close(t_quantile(0.975, 10.0), 2.228_139, 1e-6));
        assert!(close(t_quantile(0.95, 5.0), 2.015_048, 1e-6));
        assert!(close(t_quantile(0.995, 3.0), 5.840_909, 1e-6));
        assert!(close(t_quantile(0.025, 10.0), -2.228_139, 1e-6));
        assert!(close(t_quantile(0.975, 1e6), Z95, 1e-5));
    }

    #[test]
    fn clopper_pearson_known_answers() {
        // Exact 95% bounds: 8/10 -> (0.443905, 0.974789); 0/5 -> (0, 0.521824).
        let (lo, hi) = clopper_pearson(8, 10, 0.025).unwrap();
        assert!(close(lo, 0.443_905, 1e-6) && close(hi, 0.974_789, 1e-6), "{lo} {hi}");
        let (lo, hi) = clopper_pearson(0, 5, 0.025).unwrap();
        assert!(lo == 0.0 && close(hi, 0.521_824, 1e-6), "{hi}");
        // 190/200 at tail 0.05/42.
        let (lo, hi) = clopper_pearson(190, 200, 0.05 / 42.0).unwrap();
        assert!(close(lo, 0.884_847, 1e-6) && close(hi, 0.984_611, 1e-6), "{lo} {hi}");
        // The verdict interval holds both Wilson and the exact bounds.
        let (lo, hi) = proportion_interval(8, 10, Z95).unwrap();
        assert!(close(lo, 0.443_905, 1e-6) && close(hi, 0.974_789, 1e-6), "{lo} {hi}");
        assert!(close(beta_inc(2.0, 3.0, 0.4), 0.5248, 1e-12));
    }

    #[test]
    fn paired_intervals_hand_computed() {
        // Table a=12 b=9 c=2 d=21 (n=44): difference 7/44 = 0.1591; Wilson
        // margins 21/44 and 14/44, phi = (252-18)/sqrt(21*23*14*30) = 0.2093.
        let t = Paired { both: 12, first_only: 9, second_only: 2, neither: 21 };
        let (lo, hi) = newcombe_paired(t, Z95).unwrap();
        assert!(close(lo, 0.018_210, 1e-6) && close(hi, 0.289_157, 1e-6), "{lo} {hi}");
        // Ratio 21/14 = 1.5, ln 1.5 +- 1.96 sqrt(11/294).
        let (lo, hi) = katz_paired(t, Z95).unwrap();
        assert!(close(lo, 1.026_701, 1e-6) && close(hi, 2.191_486, 1e-6), "{lo} {hi}");
    }

    #[test]
    fn katz_hand_computed() {
        // 30/100 over 40/100: ln 0.75 +- 1.96 sqrt(1/30 - 1/100 + 1/40 - 1/100).
        let (lo, hi) = katz(30, 100, 40, 100, Z95).unwrap();
        assert!(close(lo, 0.510_982, 1e-6) && close(hi, 1.100_822, 1e-6), "{lo} {hi}");
        // A zero count stays finite.
        let (lo, hi) = katz(0, 100, 40, 100, Z95).unwrap();
        assert!(lo > 0.0 && hi < 1.0 && lo < hi, "{lo} {hi}");
    }

    #[test]
    fn adjusted_deviates() {
        assert!(close(z_for_tail(0.025), Z95, 1e-9));
        // 15 groups at alpha 0.05, one-sided: z = 2.7131; 42 cells: 3.0381.
        assert!(close(z_for_tail(0.05 / 15.0), 2.713_052, 1e-6));
        assert!(close(z_for_tail(0.05 / 42.0), 3.038_074, 1e-6));
    }

    #[test]
    fn quantile_interval_known_ranks() {
        // DOMAIN.md: median of 100 -> ranks 40 and 61; p95 of 1,000 -> 936
        // and 964; p95 of 100 -> 90 and 100.
        assert_eq!(quantile_ci_ranks(100, 0.5, 0.025), (Some(40), Some(61)));
        assert_eq!(quantile_ci_ranks(1000, 0.95, 0.025), (Some(936), Some(964)));
        assert_eq!(quantile_ci_ranks(100, 0.95, 0.025), (Some(90), Some(100)));
        // p95 of 20: P(Bin(20, .95) >= 20) = 0.358 > 0.025, so no upper rank.
        assert_eq!(quantile_ci_ranks(20, 0.95, 0.025), (Some(17), None));
        assert_eq!(quantile_ci_ranks(0, 0.95, 0.025), (None, None));
        // Values: 1..=100 once each, p95 bounded by the 90th and 100th.
        let d: Vec<(i64, u64)> = (1..=100).map(|v| (v, 1)).collect();
        assert_eq!(quantile_ci(&d, 0.95, 0.025), (Some(90), Some(100)));
    }

    #[test]
    fn quantile_ratio_hand_computed() {
        // 1..=100 once each: p95 = 95, its 95% ranks 90 and 100, SE = 10 / 3.919928.
        let d: Vec<(i64, u64)> = (1..=100).map(|v| (v, 1)).collect();
        let (x, se) = quantile_with_se(&d, 0.95).unwrap();
        assert_eq!(x, 95.0);
        assert!(close(se, 2.551067, 1e-6), "{se}");
        // Twice as slow: ratio 2, log SE sqrt(2) * se / 95 either way.
        let slow: Vec<(i64, u64)> = (1..=100).map(|v| (2 * v, 1)).collect();
        let (lo, hi) = quantile_ratio_interval(&slow, &d, 0.95, Z95).unwrap();
        let half = Z95 * (2.0f64).sqrt() * se / 95.0;
        assert!(close(lo, 2.0 * (-half).exp(), 1e-9) && close(hi, 2.0 * half.exp(), 1e-9), "{lo} {hi}");
        let (lo, hi) = quantile_difference_interval(&slow, &d, 0.95, Z95).unwrap();
        let half = Z95 * ((2.0 * se).powi(2) + se * se).sqrt();
        assert!(close(lo, 95.0 - half, 1e-9) && close(hi, 95.0 + half, 1e-9), "{lo} {hi}");
        // Twenty observations cannot bound a p95 from above.
        assert_eq!(quantile_with_se(&d[..20], 0.95), None);
    }

    #[test]
    fn sample_needed_to_decide() {
        // Half-width 0.02 at z 2 with 400 now (SE 0.01); deciding at 0.01
        // with power 0.8 needs SE 0.01 / (2 + 0.8416) = 0.003519: 400 x 8.0747.
        assert_eq!(n_to_decide(400, 0.02, 2.0, 0.01, 0.8), Some(3230));
        assert_eq!(n_to_decide(400, 0.02, 2.0, 0.0, 0.8), None);
        assert_eq!(n_to_decide(0, 0.02, 2.0, 0.01, 0.8), None);
    }

    #[test]
    fn hhi_known_answer() {
        // DOMAIN.md: shares 55.6 / 38.8 / 5.6 -> HHI ~ 4,628.
        let h = hhi(&[0.556, 0.388, 0.056]);
        assert!(close(h, 4628.0, 1.0), "{h}");
        assert!(close(hhi(&[1.0]), 10_000.0, 1e-9));
    }
}
