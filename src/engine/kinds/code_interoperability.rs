//! Code interoperability: the share of collection codes per group that
//! every required app can pay. A code counts when it carries a
//! scheme-neutral standard the rule names (SGQR, QRIS), or when, for each
//! required app, the app is the code's own scheme or the app → issuer cell
//! of the code's region is live in the mutual-recognition matrix of the
//! transactions (as `acceptance` judges cells). Codes resting on a cell not
//! yet shown live or dead are undetermined: a group fails only if it fails
//! counting them all, and passes only if it passes without them.

use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::*;
use serde::Serialize;

use super::acceptance::{self, AcceptanceSpec};
use super::code_validity::{code_criteria, evidence_header, finding, group_text, CodeScope, Payloads, Tally};
use super::{Criteria, Kind, Rule};
use crate::contract::Dataset;
use crate::engine::{Context, NotEvaluable, Plan, Seen};
use crate::findings::{EvidenceTable, Finding, Presentation, Verdict};
use crate::rulebook::diag::Diagnostics;
use crate::rulebook::Params;
use crate::verdict::{Basis, Breach, Family};

/// Code-interoperability parameters.
#[derive(Debug, Clone, Serialize)]
pub struct InteropSpec {
    #[serde(flatten)]
    pub scope: CodeScope,
    /// Apps that must all be able to pay a code.
    pub apps: Vec<String>,
    /// Providers that stand for scheme-neutral standards (every app pays them).
    pub standards: Vec<String>,
    /// Only a standard counts: the rule is that codes carry one (SGQR, QRIS).
    pub standards_only: bool,
    /// What makes an app → issuer cell live, as in `acceptance`.
    pub min_attempts: u64,
    pub min_success: f64,
}

/// Whether every required app can pay one code.
enum Payable {
    Yes,
    No(String),
    Undetermined(String),
}

/// The code-interoperability kind.
pub struct CodeInterop;

impl Kind for CodeInterop {
    const NAME: &'static str = "code_interoperability";
    const KEYS: &'static [&'static str] = &[
        "by",
        "regions",
        "min_share",
        "census",
        "alpha",
        "apps",
        "standards",
        "standards_only",
        "min_attempts",
        "min_success",
    ];
    const TEMPLATE: &'static str = r#"[[rules]]
id = "XX-QR-02"
title = "Merchants' codes are payable by every major app"
kind = "code_interoperability"
severity = "high"
apps = ["alipay", "wechat_pay", "unionpay"]  # every one must be able to pay a code
# standards = ["sgqr"]         # providers standing for scheme-neutral standards (their emv_guids)
# standards_only = true        # only codes carrying a standard count (then apps may be left out)
min_share = 0.95               # share of codes payable by all apps
by = ["region"]                # or ["platform"], ["platform", "region"]
regions = "*"                  # GB/T 2260 codes or a set's name; "*" for every region
min_attempts = 100             # an app -> issuer cell is live with this many scans ...
min_success = 0.95             # ... and its whole interval at or above this success rate
# census = true                # every code captured: compared exactly (default: a sample)
# alpha = 0.05
engineering_default = true
citation = "Who requires it, in which document, with its date"
rationale = "The code a merchant shows decides which apps can pay it"
"#;
    const DATASET: Dataset = Dataset::Codes;
    type Spec = InteropSpec;

    fn read(p: &Params, d: &mut Diagnostics) -> Option<InteropSpec> {
        let scope = CodeScope::read(p, d);
        let standards = if p.has("standards") { p.providers(d, "standards") } else { Some(Vec::new()) };
        let standards_only = p.bool(d, "standards_only").unwrap_or(false);
        if standards_only && !p.has("standards") {
            p.missing(d, "standards");
        }
        let apps = if standards_only && !p.has("apps") {
            Some(Vec::new())
        } else {
            let apps = p.providers(d, "apps");
            p.required(d, "apps", apps)
        };
        let min_attempts = p.count_or(d, "min_attempts", 100, 1);
        let min_success = if p.has("min_success") { p.share(d, "min_success") } else { Some(0.95) };
        Some(InteropSpec {
            scope: scope?,
            apps: apps?,
            standards: standards?,
            standards_only,
            min_attempts: min_attempts?,
            min_success: min_success?,
        })
    }

    fn basis(spec: &InteropSpec) -> Basis {
        spec.scope.basis()
    }

    fn alpha(spec: &InteropSpec) -> Option<f64> {
        spec.scope.sample_alpha()
    }

    fn plans(rule: &Rule, spec: &InteropSpec, ctx: &Context) -> Result<Vec<Plan>, NotEvaluable> {
        let mut plans = vec![spec.scope.plan(rule, ctx)?];
        if spec.standards_only {
            return Ok(plans);
        }
        // Without scan data only standards and the apps' own codes can be
        // told; the rest stays undetermined.
        if let Ok(frame) = ctx.side_frame(rule, Dataset::Transactions, &["wallet_app", "code_issuer"]) {
            plans.push(acceptance::scans(frame, ctx).into());
        }
        Ok(plans)
    }

    fn evaluate(
        rule: &Rule,
        spec: &InteropSpec,
        ctx: &Context,
        frames: Vec<DataFrame>,
        _: &Seen,
    ) -> anyhow::Result<Finding> {
        let mut frames = frames.into_iter();
        let rows = spec.scope.rows(&frames.next().unwrap_or_default())?;
        let every = vec![acceptance::EVERY_REGION.to_string()];
        let cells = frames.next().map(|df| acceptance::cells(&df, &every)).transpose()?;
        let providers = &ctx.rulebook.providers;
        let known: BTreeSet<&str> = providers.iter().map(|p| p.id.as_str()).collect();
        let mut payloads = Payloads::new(providers);
        // The cells the codes rest on, judged together as one family.
        let mut needed: BTreeSet<(String, String, String)> = BTreeSet::new();
        for r in &rows {
            let (p, schemes) = payloads.get(&r.payload);
            if !p.valid || spec.standards_only || schemes.iter().any(|s| spec.standards.contains(s)) {
                continue;
            }
            for app in spec.apps.iter().filter(|a| !schemes.contains(a)) {
                for issuer in schemes.iter().filter(|s| known.contains(s.as_str())) {
                    needed.insert((acceptance::region_key(&r.region, &every), app.clone(), issuer.clone()));
                }
            }
        }
        let cell_spec = AcceptanceSpec {
            regions: Vec::new(),
            providers: Vec::new(),
            min_attempts: spec.min_attempts,
            min_success: spec.min_success,
            alpha: spec.scope.alpha,
        };
        let family = Family::new(spec.scope.alpha, needed.len().max(1), Breach::Below);
        let judged: BTreeMap<(String, String, String), (Verdict, String)> = match &cells {
            Some(cells) => needed
                .iter()
                .map(|k| {
                    let (n, s) = cells.get(k).copied().unwrap_or((0, 0));
                    let (j, why) = acceptance::judge(n, s, &cell_spec, family);
                    (k.clone(), (j.verdict, why))
                })
                .collect(),
            None => BTreeMap::new(),
        };
        let name = |id: &str| ctx.rulebook.display_name(id);
        let standard_names = spec.standards.iter().map(|s| name(s)).collect::<Vec<_>>().join(" or ");
        let mut tallies: BTreeMap<Vec<(&'static str, String)>, Tally> = BTreeMap::new();
        let mut evidence = EvidenceTable { header: evidence_header(), rows: Vec::new() };
        for r in rows {
            let (p, schemes) = payloads.get(&r.payload);
            let verdict = if !p.valid {
                Payable::No(format!("invalid code: {}", p.problem().unwrap_or_default()))
            } else if schemes.iter().any(|s| spec.standards.contains(s)) {
                Payable::Yes
            } else if spec.standards_only {
                Payable::No(format!("carries no {standard_names} identifier"))
            } else {
                // Scan cells are kept per city (districts rolled up).
                let city = acceptance::region_key(&r.region, &every);
                payable(spec, schemes, &known, &city, cells.is_some(), &judged, &name)
            };
            let t = tallies.entry(r.group.clone()).or_default();
            t.add(r.n, schemes);
            let reason = match verdict {
                Payable::Yes => {
                    t.ok += r.n;
                    continue;
                }
                Payable::Undetermined(why) => {
                    t.undetermined += r.n;
                    format!("undetermined: {why}")
                }
                Payable::No(why) => why,
            };
            evidence.rows.push(vec![
                group_text(&r.group),
                r.merchant_id,
                r.region,
                r.n.to_string(),
                schemes.join(" "),
                r.payload,
                reason,
            ]);
        }
        let what = if spec.standards_only {
            format!("Codes carrying the {standard_names} identifier")
        } else {
            let apps: Vec<String> = spec.apps.iter().map(|a| name(a)).collect();
            format!("Codes payable by every required app ({})", apps.join(", "))
        };
        Ok(finding(rule, &spec.scope, tallies, evidence, &what))
    }

    fn parameters(spec: &InteropSpec) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !spec.apps.is_empty() {
            out.push(("apps", spec.apps.join(", ")));
        }
        if !spec.standards.is_empty() {
            let only = if spec.standards_only { " (only these count)" } else { "" };
            out.push(("standards", format!("{}{only}", spec.standards.join(", "))));
        }
        out.extend(spec.scope.parameters());
        out.push(("live cell", format!(">= {} scans, success >= {}", spec.min_attempts, spec.min_success)));
        out
    }

    fn criteria(spec: &InteropSpec) -> Criteria {
        code_criteria(&spec.scope, "the share of codes every required app can pay")
    }

    fn presentation(_: &InteropSpec) -> Presentation {
        Presentation::Codes
    }
}

/// Whether each required app can pay a valid code that carries no standard.
fn payable(
    spec: &InteropSpec,
    schemes: &[String],
    known: &BTreeSet<&str>,
    region: &str,
    have_scans: bool,
    judged: &BTreeMap<(String, String, String), (Verdict, String)>,
    name: &dyn Fn(&str) -> String,
) -> Payable {
    let mut undetermined: Option<String> = None;
    for app in &spec.apps {
        if schemes.contains(app) {
            continue;
        }
        let issuers: Vec<&String> = schemes.iter().filter(|s| known.contains(s.as_str())).collect();
        if issuers.is_empty() {
            return Payable::No(format!("{} cannot pay it: the code carries no scheme of the rulebook", name(app)));
        }
        if !have_scans {
            undetermined.get_or_insert_with(|| format!("no scan data to tell whether {} pays it", name(app)));
            continue;
        }
        let status: Vec<(&String, &(Verdict, String))> = issuers
            .iter()
            .filter_map(|i| judged.get(&(region.to_string(), app.clone(), (*i).clone())).map(|v| (*i, v)))
            .collect();
        if status.iter().any(|(_, (v, _))| *v == Verdict::Pass) {
            continue;
        }
        if let Some((issuer, (_, why))) = status.iter().find(|(_, (v, _))| *v != Verdict::Fail) {
            undetermined.get_or_insert_with(|| {
                format!("{} → {} in {region} not yet shown live: {why}", name(app), name(issuer))
            });
            continue;
        }
        let (issuer, why) = status.first().map_or((String::new(), String::new()), |(i, (_, w))| (name(i), w.clone()));
        return Payable::No(format!("{} cannot pay {issuer} codes in {region}: {why}", name(app)));
    }
    match undetermined {
        Some(why) => Payable::Undetermined(why),
        None => Payable::Yes,
    }
}
