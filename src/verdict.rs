//! The verdict protocol every rule kind shares (docs/statistics.md): a group
//! fails only when the whole interval of its estimate lies past the
//! threshold, passes only when it lies wholly on the compliant side, and is
//! inconclusive otherwise, with the sample that would decide it. Intervals
//! are simultaneous across a rule's groups (Bonferroni), one-sided where the
//! breach is one-directional. A census is compared exactly.

use crate::stats;

/// Power at which "how much more data" is computed.
pub const POWER: f64 = 0.8;

use serde::Serialize;

/// The outcome of a rule or of one of its groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
    NotEvaluable,
    /// A failing group covered by a current waiver (`audit --waivers`), or a
    /// rule whose only failures are waived. Never produced by a rule kind.
    Waived,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NotEvaluable => "not_evaluable",
            Verdict::Waived => "waived",
        }
    }

    /// A rule fails if any group fails, else is inconclusive if any group is,
    /// else passes if any group passes; waived groups count for nothing but
    /// make a rule with no other evaluable group `waived`; with no evaluable
    /// group it is not evaluable.
    pub fn combine(groups: impl IntoIterator<Item = Verdict>) -> Verdict {
        let mut seen = [false; 5];
        for v in groups {
            seen[v as usize] = true;
        }
        if seen[Verdict::Fail as usize] {
            Verdict::Fail
        } else if seen[Verdict::Inconclusive as usize] {
            Verdict::Inconclusive
        } else if seen[Verdict::Pass as usize] {
            Verdict::Pass
        } else if seen[Verdict::Waived as usize] {
            Verdict::Waived
        } else {
            Verdict::NotEvaluable
        }
    }
}

/// Whether a group's number is the whole population or a sample of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// Every unit of the population (e.g. every merchant of a platform): the
    /// exact figure is the fact and is compared directly.
    Census,
    /// Events (sessions, payments, scans) sampled from a process: judged by
    /// an interval.
    Sample,
}

impl Basis {
    pub fn name(self) -> &'static str {
        match self {
            Basis::Census => "census",
            Basis::Sample => "sample",
        }
    }
}

/// Which side of the threshold is a breach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breach {
    /// Values above the threshold breach it (e.g. a maximum difference).
    Above,
    /// Values below the threshold breach it (e.g. a minimum share).
    Below,
    /// Values beyond ± the threshold breach it (a two-sided margin).
    Outside,
}

/// The simultaneous-interval set-up of one rule: `size` groups judged at a
/// family-wise error rate `alpha`. Each bound of each interval has error
/// alpha / size (one-sided breach) or alpha / (2·size) (two-sided), so the
/// chance that any group of a compliant rule fails is at most alpha.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Family {
    pub alpha: f64,
    pub size: usize,
    pub breach: Breach,
}

impl Family {
    pub fn new(alpha: f64, size: usize, breach: Breach) -> Family {
        Family { alpha, size: size.max(1), breach }
    }

    /// The error allowed for each bound.
    pub fn tail(&self) -> f64 {
        let sides = if self.breach == Breach::Outside { 2.0 } else { 1.0 };
        self.alpha / (self.size as f64 * sides)
    }

    /// The per-group level after the Bonferroni adjustment (alpha / size).
    pub fn alpha_adjusted(&self) -> f64 {
        self.alpha / self.size as f64
    }

    /// The normal deviate of each bound.
    pub fn z(&self) -> f64 {
        stats::z_for_tail(self.tail())
    }

    /// The confidence of each bound.
    pub fn confidence(&self) -> f64 {
        1.0 - self.tail()
    }
}

/// A verdict on an interval against a threshold.
pub fn on_interval(lo: f64, hi: f64, threshold: f64, breach: Breach) -> Verdict {
    match breach {
        Breach::Above if lo > threshold => Verdict::Fail,
        Breach::Above if hi <= threshold => Verdict::Pass,
        Breach::Below if hi < threshold => Verdict::Fail,
        Breach::Below if lo >= threshold => Verdict::Pass,
        Breach::Outside if lo > threshold || hi < -threshold => Verdict::Fail,
        Breach::Outside if lo >= -threshold && hi <= threshold => Verdict::Pass,
        _ => Verdict::Inconclusive,
    }
}

/// A verdict on an exact (census) value against a threshold.
pub fn on_value(value: f64, threshold: f64, breach: Breach) -> Verdict {
    let breached = match breach {
        Breach::Above => value > threshold,
        Breach::Below => value < threshold,
        Breach::Outside => value.abs() > threshold,
    };
    if breached {
        Verdict::Fail
    } else {
        Verdict::Pass
    }
}

/// What decided one group: the interval used, at which level, on which basis.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub verdict: Verdict,
    pub basis: Basis,
    /// The interval the verdict was read from (sample basis).
    pub interval: Option<(f64, f64)>,
    pub family: Option<Family>,
    /// Observations (per arm, or units) that would decide an inconclusive group.
    pub needed: Option<u64>,
}

impl Judgement {
    /// A census comparison.
    pub fn census(value: f64, threshold: f64, breach: Breach) -> Judgement {
        Judgement {
            verdict: on_value(value, threshold, breach),
            basis: Basis::Census,
            interval: None,
            family: None,
            needed: None,
        }
    }

    /// A sample judged on `interval` (computed at `family.z()`), with `n`
    /// observations now; `distance` is how far from the threshold a
    /// compliant value lies (the rule's margin), for the sample size that
    /// would decide an inconclusive group with power 0.8.
    pub fn sample(interval: (f64, f64), threshold: f64, family: Family, n: u64, distance: f64) -> Judgement {
        let (lo, hi) = interval;
        let verdict = on_interval(lo, hi, threshold, family.breach);
        let needed = (verdict == Verdict::Inconclusive)
            .then(|| stats::n_to_decide(n, (hi - lo) / 2.0, family.z(), distance, POWER))
            .flatten();
        Judgement { verdict, basis: Basis::Sample, interval: Some(interval), family: Some(family), needed }
    }

    /// A sample that could not be judged (too few observations): inconclusive.
    pub fn undecided(family: Option<Family>, needed: Option<u64>) -> Judgement {
        Judgement { verdict: Verdict::Inconclusive, basis: Basis::Sample, interval: None, family, needed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_decide_only_when_wholly_on_one_side() {
        use Verdict::*;
        // A maximum difference of 0.01.
        assert_eq!(on_interval(0.011, 0.05, 0.01, Breach::Above), Fail);
        assert_eq!(on_interval(0.005, 0.05, 0.01, Breach::Above), Inconclusive);
        assert_eq!(on_interval(-0.02, 0.01, 0.01, Breach::Above), Pass);
        // A minimum share of 0.95.
        assert_eq!(on_interval(0.80, 0.94, 0.95, Breach::Below), Fail);
        assert_eq!(on_interval(0.93, 0.99, 0.95, Breach::Below), Inconclusive);
        assert_eq!(on_interval(0.95, 0.99, 0.95, Breach::Below), Pass);
        // A two-sided gap of 0.05.
        assert_eq!(on_interval(-0.3, -0.06, 0.05, Breach::Outside), Fail);
        assert_eq!(on_interval(0.06, 0.3, 0.05, Breach::Outside), Fail);
        assert_eq!(on_interval(-0.04, 0.04, 0.05, Breach::Outside), Pass);
        assert_eq!(on_interval(-0.04, 0.08, 0.05, Breach::Outside), Inconclusive);
    }

    #[test]
    fn census_values_compare_exactly() {
        assert_eq!(on_value(0.8, 0.85, Breach::Below), Verdict::Fail);
        assert_eq!(on_value(0.85, 0.85, Breach::Below), Verdict::Pass);
        assert_eq!(on_value(1.0, 0.0, Breach::Above), Verdict::Fail);
    }

    #[test]
    fn family_levels() {
        let f = Family::new(0.05, 15, Breach::Above);
        assert!((f.tail() - 0.05 / 15.0).abs() < 1e-15);
        assert!((f.z() - 2.713_052).abs() < 1e-6);
        let two = Family::new(0.05, 21, Breach::Outside);
        assert!((two.tail() - 0.05 / 42.0).abs() < 1e-15);
        assert!((two.alpha_adjusted() - 0.05 / 21.0).abs() < 1e-15);
        // An empty family still has a level.
        assert_eq!(Family::new(0.05, 0, Breach::Below).size, 1);
    }

    #[test]
    fn inconclusive_groups_say_what_would_decide_them() {
        // Interval 0.00..0.04 (half-width 0.02) at z for 15 groups, 400 now,
        // margin 0.01 away: n x ((0.02/z) / (0.01/(z + 0.8416)))^2.
        let fam = Family::new(0.05, 15, Breach::Above);
        let j = Judgement::sample((0.0, 0.04), 0.01, fam, 400, 0.01);
        assert_eq!(j.verdict, Verdict::Inconclusive);
        let z = fam.z();
        let want = (400.0 * ((0.02 / z) / (0.01 / (z + 0.841_621_233_572_914))).powi(2)).ceil() as u64;
        assert_eq!(j.needed, Some(want));
        assert_eq!(want, 2_747);
        let j = Judgement::sample((0.02, 0.04), 0.01, fam, 400, 0.01);
        assert_eq!((j.verdict, j.needed), (Verdict::Fail, None));
    }
}
