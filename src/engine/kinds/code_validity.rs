//! Code validity: the share of collection codes per group that are
//! well-formed with a correct CRC (docs/codes.md), against a minimum. Also
//! the scope both code kinds share: grouping, regions and the plan.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::Serialize;

use super::acceptance::{every, region_key, regions_text, EVERY_REGION};
use super::{Criteria, Kind, Rule};
use crate::codes::Payload;
use crate::contract::Dataset;
use crate::engine::util::{counts, pct, plural, strings};
use crate::engine::{Context, NotEvaluable, Plan, Seen};
use crate::exec::Merge;
use crate::findings::{CodeFields, Detail, EvidenceTable, Finding, Group, Presentation, Verdict};
use crate::rulebook::diag::Diagnostics;
use crate::rulebook::Params;
use crate::stats;
use crate::verdict::{Basis, Breach, Family, Judgement};

/// What both code kinds share: how codes are grouped and judged.
#[derive(Debug, Clone, Serialize)]
pub struct CodeScope {
    /// Group keys: `region`, `platform`, or both.
    pub by: Vec<String>,
    /// GB/T 2260 codes (districts roll up to them) or `"*"` for every region.
    pub regions: Vec<String>,
    pub min_share: f64,
    /// Every code of the population captured (compared exactly), or a sample.
    pub census: bool,
    pub alpha: f64,
}

impl CodeScope {
    pub(super) fn read(p: &Params, d: &mut Diagnostics) -> Option<CodeScope> {
        let by = p.by(d, &["region", "platform"], &["region"]);
        let regions = if !p.has("regions") || p.peek_str("regions").as_deref() == Some(EVERY_REGION) {
            Some(vec![EVERY_REGION.to_string()])
        } else {
            p.list(d, "regions")
        };
        let min = p.share(d, "min_share");
        let min = p.required(d, "min_share", min);
        let census = p.bool(d, "census").unwrap_or(false);
        let alpha = p.alpha(d);
        Some(CodeScope { by: by?, regions: regions?, min_share: min?, census, alpha: alpha? })
    }

    pub(super) fn basis(&self) -> Basis {
        if self.census {
            Basis::Census
        } else {
            Basis::Sample
        }
    }

    /// The family-wise error rate, for samples.
    pub(super) fn sample_alpha(&self) -> Option<f64> {
        (!self.census).then_some(self.alpha)
    }

    fn by_platform(&self) -> bool {
        self.by.iter().any(|b| b == "platform")
    }

    fn by_region(&self) -> bool {
        self.by.iter().any(|b| b == "region")
    }

    /// Distinct (group, region, merchant, payload) with their number of codes.
    pub(super) fn plan(&self, rule: &Rule, ctx: &Context) -> Result<Plan, NotEvaluable> {
        let needs: &[&str] = if self.by_platform() { &["platform"] } else { &[] };
        let frame = ctx.rule_frame(rule, Dataset::Codes, needs)?;
        let mut keys = Vec::new();
        if self.by_platform() {
            keys.push(col("platform"));
        }
        keys.extend([col("region"), col("merchant_id"), col("payload")]);
        // One group per code: each merchant's codes are whole in one share.
        Ok(ctx.per_key(frame, "merchant_id", Merge::Concat, |f| {
            f.group_by(ctx.keys(keys)).agg([len().cast(DataType::UInt64).alias("n")])
        }))
    }

    /// The rows of the plan's result in the rule's regions, read once.
    pub(super) fn rows(&self, df: &DataFrame) -> anyhow::Result<Vec<CodeRow>> {
        let platforms = if self.by_platform() { Some(strings(df, "platform")?) } else { None };
        let (regions, merchants, payloads, n) =
            (strings(df, "region")?, strings(df, "merchant_id")?, strings(df, "payload")?, counts(df, "n")?);
        let mut out = Vec::new();
        for i in 0..df.height() {
            let region = region_key(&regions[i], &self.regions);
            if !every(&self.regions) && !self.regions.contains(&region) {
                continue;
            }
            let mut group = Vec::new();
            if let Some(p) = &platforms {
                group.push(("platform", p[i].clone()));
            }
            if self.by_region() {
                group.push(("region", region.clone()));
            }
            out.push(CodeRow {
                group,
                region,
                merchant_id: merchants[i].clone(),
                payload: payloads[i].clone(),
                n: n[i],
            });
        }
        out.sort_by(|a, b| (&a.group, &a.merchant_id, &a.payload).cmp(&(&b.group, &b.merchant_id, &b.payload)));
        Ok(out)
    }

    /// `by` and `regions` as `rules explain` lists them.
    pub(super) fn parameters(&self) -> Vec<(&'static str, String)> {
        vec![
            ("by", self.by.join(", ")),
            ("regions", regions_text(&self.regions).replace("offline scans", "codes")),
            ("min_share", self.min_share.to_string()),
            ("basis", if self.census { "census".into() } else { format!("sample, alpha {}", self.alpha) }),
        ]
    }

    /// Judges a group with `ok` codes of `n` for sure and `undetermined` more
    /// that may or may not count: it fails only when even counting them all
    /// the share is below the minimum, passes only when without them it is
    /// at or above it.
    pub(super) fn judge(&self, ok: u64, undetermined: u64, n: u64, family: Family) -> Judgement {
        let (low, high) = (ok as f64 / n as f64, (ok + undetermined) as f64 / n as f64);
        if self.census {
            let mut j = Judgement::census(high, self.min_share, Breach::Below);
            if j.verdict == Verdict::Pass && low < self.min_share {
                j.verdict = Verdict::Inconclusive;
            }
            return j;
        }
        let (Some(lo_ci), Some(hi_ci)) = (
            stats::proportion_interval(ok, n, family.z()),
            stats::proportion_interval(ok + undetermined, n, family.z()),
        ) else {
            return Judgement::undecided(Some(family), None);
        };
        if undetermined == 0 {
            return Judgement::sample(lo_ci, self.min_share, family, n, (low - self.min_share).abs());
        }
        let favourable = Judgement::sample(hi_ci, self.min_share, family, n, (high - self.min_share).abs());
        if favourable.verdict == Verdict::Fail {
            return favourable;
        }
        let strict = Judgement::sample(lo_ci, self.min_share, family, n, (low - self.min_share).abs());
        if strict.verdict == Verdict::Pass {
            return strict;
        }
        Judgement { interval: Some((lo_ci.0, hi_ci.1)), ..Judgement::undecided(Some(family), strict.needed) }
    }
}

/// Distinct codes of one merchant in one group.
pub(super) struct CodeRow {
    pub group: Vec<(&'static str, String)>,
    /// The region the rule reads it in (districts rolled up).
    pub region: String,
    pub merchant_id: String,
    pub payload: String,
    /// How many captured codes had this payload.
    pub n: u64,
}

/// Reads each distinct payload once, with the schemes the rulebook's
/// providers give it.
pub(super) struct Payloads<'a> {
    providers: &'a [crate::rulebook::Provider],
    read: BTreeMap<String, (Payload, Vec<String>)>,
}

impl<'a> Payloads<'a> {
    pub fn new(providers: &'a [crate::rulebook::Provider]) -> Payloads<'a> {
        Payloads { providers, read: BTreeMap::new() }
    }

    pub fn get(&mut self, text: &str) -> &(Payload, Vec<String>) {
        if !self.read.contains_key(text) {
            let p = crate::codes::read(text);
            let schemes = crate::rulebook::code_schemes(self.providers, &p);
            self.read.insert(text.to_string(), (p, schemes));
        }
        &self.read[text]
    }
}

/// A group being counted.
#[derive(Default)]
pub(super) struct Tally {
    pub n: u64,
    pub ok: u64,
    pub undetermined: u64,
    pub schemes: BTreeMap<String, u64>,
}

impl Tally {
    /// Counts `n` codes carrying `schemes`.
    pub fn add(&mut self, n: u64, schemes: &[String]) {
        self.n += n;
        for s in schemes {
            *self.schemes.entry(s.clone()).or_default() += n;
        }
    }
}

/// The group key in words: `440300`, `taobao / 440300`, or `all codes`.
pub(super) fn group_text(key: &[(&'static str, String)]) -> String {
    if key.is_empty() {
        "all codes".to_string()
    } else {
        key.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(" / ")
    }
}

/// Judges every group and builds the finding both code kinds report.
pub(super) fn finding(
    rule: &Rule,
    scope: &CodeScope,
    tallies: BTreeMap<Vec<(&'static str, String)>, Tally>,
    evidence: EvidenceTable,
    what: &str,
) -> Finding {
    let family = Family::new(scope.alpha, tallies.len(), Breach::Below);
    let mut groups = Vec::new();
    let mut short = Vec::new();
    let mut failing_groups: Vec<String> = Vec::new();
    for (key, t) in &tallies {
        let kv: Vec<(&str, &str)> = key.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let share = t.ok as f64 / t.n as f64;
        let j = scope.judge(t.ok, t.undetermined, t.n, family);
        let fields = CodeFields {
            codes_ok: t.ok,
            codes_undetermined: (t.undetermined > 0).then_some(t.undetermined),
            schemes: t.schemes.clone(),
        };
        let g = Group::new(&kv, t.n, Some(share), j.verdict).detail(Detail::Codes(fields)).judged(&j);
        if g.verdict == Verdict::Fail {
            let most = if t.undetermined > 0 {
                let high = t.ok + t.undetermined;
                format!(", at most {high} counting the undetermined ({})", pct(high as f64 / t.n as f64))
            } else {
                String::new()
            };
            short.push(format!("{}: {} of {} codes ({}){most}", group_text(key), t.ok, t.n, pct(share)));
            failing_groups.push(group_text(key));
        }
        groups.push(g);
    }
    let verdict =
        if groups.is_empty() { Verdict::NotEvaluable } else { Verdict::combine(groups.iter().map(|g| g.verdict)) };
    let basis = if scope.census {
        "a census: every code compared exactly".to_string()
    } else {
        format!("{:.0}% family-wise confidence over {}", 100.0 * (1.0 - scope.alpha), plural(groups.len(), "group"))
    };
    let undecided = groups.iter().filter(|g| g.verdict == Verdict::Inconclusive).count();
    let message = match verdict {
        Verdict::Fail => format!(
            "{what} below {} in {} of {} ({basis}): {}.",
            pct(scope.min_share),
            plural(short.len(), "group"),
            groups.len(),
            short.join("; ")
        ),
        Verdict::Pass => {
            format!("{what} at or above {} in all {} ({basis}).", pct(scope.min_share), plural(groups.len(), "group"))
        }
        Verdict::Inconclusive => format!(
            "{what}: no group is shown below {}, but {} cannot be told apart from it yet ({basis}).",
            pct(scope.min_share),
            plural(undecided, "group")
        ),
        Verdict::NotEvaluable | Verdict::Waived => "No collection codes in the rule's regions.".to_string(),
    };
    let value = groups.iter().filter_map(|g| g.value).reduce(f64::min);
    let mut f = Finding::new(
        rule,
        verdict,
        message,
        value,
        Some(scope.min_share),
        format!("share >= {}", scope.min_share),
        groups,
    );
    // Evidence: the offending codes of failing groups only.
    let rows: Vec<Vec<String>> = evidence.rows.into_iter().filter(|r| failing_groups.contains(&r[0])).collect();
    if !rows.is_empty() {
        f.evidence_table = Some(EvidenceTable { header: evidence.header, rows });
    }
    f
}

/// The evidence columns of both code kinds.
pub(super) fn evidence_header() -> Vec<String> {
    ["group", "merchant_id", "region", "codes", "schemes", "payload", "reason"].map(String::from).to_vec()
}

/// The code-validity kind.
pub struct CodeValidity;

impl Kind for CodeValidity {
    const NAME: &'static str = "code_validity";
    const KEYS: &'static [&'static str] = &["by", "regions", "min_share", "census", "alpha"];
    const TEMPLATE: &'static str = r#"[[rules]]
id = "XX-QR-01"
title = "Merchants' collection codes are well-formed"
kind = "code_validity"
severity = "medium"
min_share = 0.98               # share of codes well-formed with a correct CRC
by = ["region"]                # or ["platform"], ["platform", "region"]
regions = "*"                  # GB/T 2260 codes or a set's name; "*" for every region
# census = true                # every code captured: compared exactly (default: a sample)
# alpha = 0.05                 # samples: family-wise error rate over the groups
engineering_default = true
citation = "Who requires it, in which document, with its date"
rationale = "A code that fails its CRC cannot be paid by any app"
"#;
    const DATASET: Dataset = Dataset::Codes;
    type Spec = CodeScope;

    fn read(p: &Params, d: &mut Diagnostics) -> Option<CodeScope> {
        CodeScope::read(p, d)
    }

    fn basis(spec: &CodeScope) -> Basis {
        spec.basis()
    }

    fn alpha(spec: &CodeScope) -> Option<f64> {
        spec.sample_alpha()
    }

    fn plans(rule: &Rule, spec: &CodeScope, ctx: &Context) -> Result<Vec<Plan>, NotEvaluable> {
        Ok(vec![spec.plan(rule, ctx)?])
    }

    fn evaluate(
        rule: &Rule,
        spec: &CodeScope,
        ctx: &Context,
        frames: Vec<DataFrame>,
        _: &Seen,
    ) -> anyhow::Result<Finding> {
        let rows = spec.rows(&frames.into_iter().next().unwrap_or_default())?;
        let mut payloads = Payloads::new(&ctx.rulebook.providers);
        let mut tallies: BTreeMap<Vec<(&'static str, String)>, Tally> = BTreeMap::new();
        let mut evidence = EvidenceTable { header: evidence_header(), rows: Vec::new() };
        for r in rows {
            let (p, schemes) = payloads.get(&r.payload);
            let t = tallies.entry(r.group.clone()).or_default();
            t.add(r.n, schemes);
            if p.valid {
                t.ok += r.n;
            } else {
                evidence.rows.push(vec![
                    group_text(&r.group),
                    r.merchant_id,
                    r.region,
                    r.n.to_string(),
                    schemes.join(" "),
                    r.payload,
                    p.problem().unwrap_or_default(),
                ]);
            }
        }
        Ok(finding(rule, spec, tallies, evidence, "Well-formed codes with a correct CRC"))
    }

    fn parameters(spec: &CodeScope) -> Vec<(&'static str, String)> {
        spec.parameters()
    }

    fn criteria(spec: &CodeScope) -> Criteria {
        code_criteria(spec, "the share of well-formed codes with a correct CRC")
    }

    fn presentation(_: &CodeScope) -> Presentation {
        Presentation::Codes
    }
}

/// What fails, passes and stays inconclusive, for both code kinds.
pub(super) fn code_criteria(spec: &CodeScope, what: &str) -> Criteria {
    if spec.census {
        Criteria {
            fail: format!("{what} is below {} (every code counted)", spec.min_share),
            pass: format!("{what} is at least {}", spec.min_share),
            inconclusive: "codes whose payability could not be told decide it".to_string(),
        }
    } else {
        Criteria {
            fail: format!("the whole one-sided Wilson interval of {what} is below {}", spec.min_share),
            pass: format!("the whole interval is at or above {}", spec.min_share),
            inconclusive: "the interval straddles the minimum; more codes would decide".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(census: bool) -> CodeScope {
        CodeScope { by: vec!["region".into()], regions: vec!["*".into()], min_share: 0.95, census, alpha: 0.05 }
    }

    #[test]
    fn undetermined_codes_count_for_the_group_only_in_its_favour() {
        let fam = Family::new(0.05, 1, Breach::Below);
        let census = scope(true);
        // 90 sure and 8 undetermined of 100: between 90% and 98%: undecided.
        assert_eq!(census.judge(90, 8, 100, fam).verdict, Verdict::Inconclusive);
        // Even counting both undetermined codes, 92% < 95%: fails.
        assert_eq!(census.judge(90, 2, 100, fam).verdict, Verdict::Fail);
        // 96% for sure: passes whatever the rest are.
        assert_eq!(census.judge(96, 2, 100, fam).verdict, Verdict::Pass);
        let sample = scope(false);
        // 0 of 81 sure, at most 54 (66.7%): the upper Wilson bound is far below 95%.
        let j = sample.judge(0, 54, 81, fam);
        assert_eq!(j.verdict, Verdict::Fail);
        assert!(j.interval.unwrap().1 < 0.8, "{:?}", j.interval);
        // 60 of 60 valid: the one-sided lower bound (z 1.645) is about 95.3%
        // by Wilson, but Clopper-Pearson's 95.1% is used where lower: pass.
        assert_eq!(sample.judge(60, 0, 60, fam).verdict, Verdict::Pass);
        // 40 of 40: the lower bound is below 95%: not yet decided.
        assert_eq!(sample.judge(40, 0, 40, fam).verdict, Verdict::Inconclusive);
    }
}
