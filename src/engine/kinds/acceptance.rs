//! Acceptance (bar-code mutual recognition): for every required cell
//! (region × app ≠ issuer), attempts and success rate of offline scans. A
//! required cell with no scans at all fails ("no scans observed"); otherwise
//! the cell's success rate is judged by its simultaneous Wilson interval:
//! it fails when the whole interval is below `min_success`, passes (is live)
//! when the whole interval is at or above it with at least `min_attempts`
//! scans, and is inconclusive otherwise.

use std::collections::BTreeMap;

use polars::prelude::*;

use serde::Serialize;

use super::{Criteria, Kind, Rule};
use crate::contract::Dataset;
use crate::engine::util::{counts, pct, strings};
use crate::engine::{Context, NotEvaluable, Plan, Seen};
use crate::findings::{CellFields, Detail, EvidenceTable, Finding, Group, Presentation, Verdict};
use crate::rulebook::diag::Diagnostics;
use crate::rulebook::Params;
use crate::stats;
use crate::verdict::{Breach, Family, Judgement};

/// Acceptance parameters: the required cells and what makes one live.
#[derive(Debug, Clone, Serialize)]
pub struct AcceptanceSpec {
    pub regions: Vec<String>,
    pub providers: Vec<String>,
    pub min_attempts: u64,
    pub min_success: f64,
    pub alpha: f64,
}

/// The acceptance kind.
pub struct Acceptance;

impl Kind for Acceptance {
    const NAME: &'static str = "acceptance";
    const KEYS: &'static [&'static str] = &["regions", "providers", "min_attempts", "min_success", "alpha"];
    const TEMPLATE: &'static str = r#"[[rules]]
id = "XX-IO-01"
title = "Bar-code mutual recognition live in every pilot city"
kind = "acceptance"
severity = "high"
regions = ["110000", "440300"]  # GB/T 2260 codes, a set's name, or "*" (every city in the data); districts roll up
providers = ["alipay", "wechat_pay", "unionpay"]  # every ordered pair app -> issuer is a cell
min_attempts = 100             # a live cell needs at least this many scans
min_success = 0.95             # ... and its whole interval at or above this success rate
alpha = 0.05                   # family-wise error rate over all cells
engineering_default = true
citation = "Who requires it, in which document, with its date"
rationale = "A shop's single collection code must be payable from any major wallet"
"#;
    const DATASET: Dataset = Dataset::Transactions;
    type Spec = AcceptanceSpec;

    fn read(p: &Params, d: &mut Diagnostics) -> Option<AcceptanceSpec> {
        let (regions, providers) = read_cells(p, d);
        let min_attempts = p.count_or(d, "min_attempts", 100, 1);
        let min_success = if p.has("min_success") { p.share(d, "min_success") } else { Some(0.95) };
        let alpha = p.alpha(d);
        Some(AcceptanceSpec {
            regions: regions?,
            providers: providers?,
            min_attempts: min_attempts?,
            min_success: min_success?,
            alpha: alpha?,
        })
    }

    fn alpha(spec: &AcceptanceSpec) -> Option<f64> {
        Some(spec.alpha)
    }

    fn plans(rule: &Rule, _: &AcceptanceSpec, ctx: &Context) -> Result<Vec<Plan>, NotEvaluable> {
        Ok(vec![scan_plan(rule, ctx)?])
    }

    fn evaluate(
        rule: &Rule,
        spec: &AcceptanceSpec,
        _: &Context,
        frames: Vec<DataFrame>,
        _: &Seen,
    ) -> anyhow::Result<Finding> {
        let (cells, regions) = required_cells(frames, &spec.regions)?;
        let pairs = spec.providers.len() * spec.providers.len().saturating_sub(1);
        let family = Family::new(spec.alpha, regions.len() * pairs, Breach::Below);
        let mut groups = Vec::new();
        let mut evidence = EvidenceTable {
            header: ["region", "app", "issuer", "attempts", "successes", "success_rate", "ci_low", "ci_high", "reason"]
                .map(String::from)
                .to_vec(),
            rows: Vec::new(),
        };
        for region in &regions {
            for app in &spec.providers {
                for issuer in &spec.providers {
                    if app == issuer {
                        continue;
                    }
                    let (n, s) = cells.get(&(region.clone(), app.clone(), issuer.clone())).copied().unwrap_or((0, 0));
                    let (j, reason) = judge(n, s, spec, family);
                    let rate = (n > 0).then(|| s as f64 / n as f64);
                    if j.verdict == Verdict::Fail {
                        let (lo, hi) = j.interval.map_or((String::new(), String::new()), |(l, h)| {
                            (format!("{:.6}", crate::findings::round(l)), format!("{:.6}", crate::findings::round(h)))
                        });
                        evidence.rows.push(vec![
                            region.clone(),
                            app.clone(),
                            issuer.clone(),
                            n.to_string(),
                            s.to_string(),
                            rate.map_or(String::new(), |r| format!("{r:.6}")),
                            lo,
                            hi,
                            reason.clone(),
                        ]);
                    }
                    let mut g = Group::new(&[("region", region), ("app", app), ("issuer", issuer)], n, rate, j.verdict)
                        .detail(Detail::Cell(CellFields { successes: s, live: j.verdict == Verdict::Pass }));
                    if !reason.is_empty() {
                        g = g.reason(reason);
                    }
                    groups.push(g.judged(&j));
                }
            }
        }
        let total = groups.len();
        let dead = evidence.rows.len();
        let undecided = groups.iter().filter(|g| g.verdict == Verdict::Inconclusive).count();
        let verdict =
            if total == 0 { Verdict::NotEvaluable } else { Verdict::combine(groups.iter().map(|g| g.verdict)) };
        let confidence = format!("{:.0}% family-wise confidence over {total} cells", 100.0 * (1.0 - spec.alpha));
        let message = if total == 0 {
            "No required cells: the rule names fewer than two providers or no region.".to_string()
        } else if dead > 0 {
            let no_traffic = evidence.rows.iter().filter(|r| r[3] == "0").count();
            let listed: Vec<String> =
                evidence.rows.iter().take(5).map(|r| format!("{} {}→{} ({})", r[0], r[1], r[2], r[8])).collect();
            format!(
                "{dead} of {total} required city cells are not live ({no_traffic} with no scans at all; {confidence}): {}{}.",
                listed.join("; "),
                if dead > 5 { "; ..." } else { "" }
            )
        } else if undecided > 0 {
            format!(
                "No required cell is shown dead, but {undecided} of {total} cannot be shown live yet: too few scans to \
                 place the success rate on either side of {} ({confidence}).",
                pct(spec.min_success)
            )
        } else {
            format!("All {total} required city cells are live ({confidence}).")
        };
        let mut f = Finding::new(
            rule,
            verdict,
            message,
            Some(dead as f64),
            Some(0.0),
            format!(
                "every cell live: at least {} scans and success >= {} (simultaneous one-sided Wilson bounds, alpha {})",
                spec.min_attempts, spec.min_success, spec.alpha
            ),
            groups,
        );
        if dead > 0 {
            f.evidence_table = Some(evidence);
        }
        Ok(f)
    }

    fn parameters(a: &AcceptanceSpec) -> Vec<(&'static str, String)> {
        vec![
            ("regions", regions_text(&a.regions)),
            ("providers", a.providers.join(", ")),
            ("attempts", format!(">= {}", a.min_attempts)),
            ("success", format!(">= {}", a.min_success)),
        ]
    }

    fn criteria(a: &AcceptanceSpec) -> Criteria {
        Criteria {
            fail: format!("a required cell has no scans, or its whole Wilson interval is below {}", a.min_success),
            pass: format!("the whole interval is at or above {} with at least {} scans", a.min_success, a.min_attempts),
            inconclusive: "the interval straddles the threshold, or too few scans".to_string(),
        }
    }

    fn presentation(a: &AcceptanceSpec) -> Presentation {
        Presentation::Recognition { regions: a.regions.clone(), providers: a.providers.clone() }
    }
}

/// `regions = "*"`: every city with offline scans in the data (districts
/// rolled up to their city), instead of a list.
pub const EVERY_REGION: &str = "*";

/// `regions` and `providers`, which acceptance and reciprocity both require.
pub(super) fn read_cells(p: &Params, d: &mut Diagnostics) -> (Option<Vec<String>>, Option<Vec<String>>) {
    let regions = if p.peek_str("regions").as_deref() == Some(EVERY_REGION) && p.has("regions") {
        Some(vec![EVERY_REGION.to_string()])
    } else {
        p.list(d, "regions")
    };
    let regions = p.required(d, "regions", regions);
    let providers = p.providers(d, "providers");
    (regions, p.required(d, "providers", providers))
}

/// The scan aggregate both acceptance and reciprocity use, run once for
/// every such rule over the same rows.
pub fn scan_plan(rule: &Rule, ctx: &Context) -> Result<Plan, NotEvaluable> {
    let needs = ["wallet_app", "code_issuer"];
    ctx.common(rule, Dataset::Transactions, &needs, "offline scans per region, app and issuer", |f| scans(f, ctx))
}

/// Attempts and successes per (region, app, issuer) of offline scans in `frame`.
pub fn scans(frame: LazyFrame, ctx: &Context) -> LazyFrame {
    frame
        .filter(col("channel").eq(lit("offline")).and(col("app").is_not_null()).and(col("issuer").is_not_null()))
        .group_by(ctx.keys([col("region"), col("app"), col("issuer")]))
        .agg([
            len().cast(DataType::UInt64).alias("attempts"),
            col("status").eq(lit("success")).sum().cast(DataType::UInt64).alias("successes"),
        ])
}

/// Attempts and successes per (region, app, issuer).
pub type Cells = BTreeMap<(String, String, String), (u64, u64)>;

/// The GB/T 2260 code a rule written with city codes reads a data region as:
/// the code itself when the rule names it, else a district rolled up to its
/// city (440106 → 440100) or, in the municipalities Beijing, Tianjin,
/// Shanghai and Chongqing (11, 12, 31, 50), to the province-level code
/// (110105 → 110000).
pub fn region_key(region: &str, rule_regions: &[String]) -> String {
    let every = every(rule_regions);
    if !every && rule_regions.iter().any(|r| r == region) {
        return region.to_string();
    }
    if region.len() == 6 && region.bytes().all(|b| b.is_ascii_digit()) {
        let province = &region[..2];
        let rolled = if ["11", "12", "31", "50"].contains(&province) {
            format!("{province}0000")
        } else {
            format!("{}00", &region[..4])
        };
        if every || rule_regions.contains(&rolled) {
            return rolled;
        }
    }
    region.to_string()
}

/// A rule's regions as `rules explain` and the report's method section list them.
pub fn regions_text(rule_regions: &[String]) -> String {
    if every(rule_regions) {
        "every city with offline scans in the data (\"*\")".to_string()
    } else {
        rule_regions.join(", ")
    }
}

/// Whether a rule's regions are every city of the data (`regions = "*"`).
pub fn every(rule_regions: &[String]) -> bool {
    rule_regions.len() == 1 && rule_regions[0] == EVERY_REGION
}

/// The regions whose cells a rule requires: its list, or with `"*"` every
/// city with offline scans in the data, in code order.
pub fn required_regions(rule_regions: &[String], cells: &Cells) -> Vec<String> {
    if every(rule_regions) {
        let seen: std::collections::BTreeSet<&String> = cells.keys().map(|(r, _, _)| r).collect();
        seen.into_iter().cloned().collect()
    } else {
        rule_regions.to_vec()
    }
}

/// The scan aggregate of a rule's plans and the regions it requires.
pub fn required_cells(frames: Vec<DataFrame>, rule_regions: &[String]) -> anyhow::Result<(Cells, Vec<String>)> {
    let cells = cells(&frames.into_iter().next().unwrap_or_default(), rule_regions)?;
    let regions = required_regions(rule_regions, &cells);
    Ok((cells, regions))
}

/// Reads the scan aggregate, rolling districts up to the rule's regions.
pub fn cells(df: &DataFrame, rule_regions: &[String]) -> anyhow::Result<Cells> {
    let (r, a, i) = (strings(df, "region")?, strings(df, "app")?, strings(df, "issuer")?);
    let (n, s) = (counts(df, "attempts")?, counts(df, "successes")?);
    let mut out = Cells::new();
    for k in 0..df.height() {
        let e = out.entry((region_key(&r[k], rule_regions), a[k].clone(), i[k].clone())).or_default();
        e.0 += n[k];
        e.1 += s[k];
    }
    Ok(out)
}

/// Judges one cell. `family` covers every required cell.
pub fn judge(n: u64, s: u64, spec: &AcceptanceSpec, family: Family) -> (Judgement, String) {
    if n == 0 {
        // No scans at all where comparable cells have them is the finding.
        return (Judgement::census(0.0, spec.min_success, Breach::Below), "no scans observed".to_string());
    }
    let Some((lo, hi)) = stats::proportion_interval(s, n, family.z()) else {
        return (Judgement::undecided(Some(family), None), String::new());
    };
    let rate = s as f64 / n as f64;
    let mut j = Judgement::sample((lo, hi), spec.min_success, family, n, (rate - spec.min_success).abs());
    let mut reason = match j.verdict {
        Verdict::Fail => format!("success {} with interval below {}", pct(rate), pct(spec.min_success)),
        Verdict::Inconclusive => {
            format!("success {} cannot be told from {} on {n} scans", pct(rate), pct(spec.min_success))
        }
        _ => String::new(),
    };
    if j.verdict == Verdict::Pass && n < spec.min_attempts {
        // A live cell needs enough scans as well as a good interval.
        j.verdict = Verdict::Inconclusive;
        j.needed = Some(spec.min_attempts);
        reason = format!("only {n} scans (< {})", spec.min_attempts);
    }
    (j, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> AcceptanceSpec {
        AcceptanceSpec { regions: vec![], providers: vec![], min_attempts: 100, min_success: 0.95, alpha: 0.05 }
    }

    #[test]
    fn cells_are_judged_by_their_interval() {
        let fam = Family::new(0.05, 42, Breach::Below);
        // 97% of 150: the interval reaches below 95%, so not yet live, never dead.
        assert_eq!(judge(150, 145, &spec(), fam).0.verdict, Verdict::Inconclusive);
        // 99.5% of 2,000: live.
        assert_eq!(judge(2000, 1990, &spec(), fam).0.verdict, Verdict::Pass);
        // 10% of 150: dead.
        assert_eq!(judge(150, 15, &spec(), fam).0.verdict, Verdict::Fail);
        // No scans at all: dead.
        let (j, why) = judge(0, 0, &spec(), fam);
        assert_eq!((j.verdict, why.as_str()), (Verdict::Fail, "no scans observed"));
        // A perfect record on 80 scans is below min_attempts: inconclusive.
        assert_eq!(judge(80, 80, &spec(), fam).0.verdict, Verdict::Inconclusive);
    }

    #[test]
    fn districts_roll_up_to_the_rule_cities() {
        let cities: Vec<String> = ["440100", "110000", "500000"].map(String::from).to_vec();
        assert_eq!(region_key("440106", &cities), "440100");
        assert_eq!(region_key("110105", &cities), "110000");
        assert_eq!(region_key("500103", &cities), "500000");
        assert_eq!(region_key("440100", &cities), "440100");
        // Not a city the rule names, or not a code: kept.
        assert_eq!(region_key("440306", &cities), "440306");
        assert_eq!(region_key("Shenzhen", &cities), "Shenzhen");
    }

    #[test]
    fn every_region_rolls_each_district_up_to_its_city() {
        let every = vec![EVERY_REGION.to_string()];
        assert_eq!(region_key("440106", &every), "440100");
        assert_eq!(region_key("110105", &every), "110000");
        assert_eq!(region_key("440300", &every), "440300");
        assert_eq!(region_key("Shenzhen", &every), "Shenzhen");
        let mut cells = Cells::new();
        cells.insert(("440300".into(), "a".into(), "b".into()), (3, 2));
        cells.insert(("110000".into(), "b".into(), "a".into()), (1, 1));
        cells.insert(("440300".into(), "b".into(), "a".into()), (1, 1));
        assert_eq!(required_regions(&every, &cells), ["110000", "440300"]);
        let listed = vec!["510100".to_string()];
        assert_eq!(required_regions(&listed, &cells), ["510100"]);
        assert_eq!(regions_text(&every), "every city with offline scans in the data (\"*\")");
    }
}
