//! Applying waivers (`audit --waivers FILE`): a current waiver turns the
//! failing groups it names into `waived`, which neither fails the rule nor
//! counts for the exit code; an expired one does not apply. Every waiver's
//! outcome is recorded, and nothing is hidden.

use chrono::NaiveDate;

use crate::findings::{Report, Summary, WaiverOutcome, WaiverRef, WaiverStatus, WaiversReport};
use crate::rulebook::waivers::{Waiver, WaiverFile};
use crate::verdict::Verdict;

/// The waivers to apply and the day their expiry is judged at.
pub struct Waivers<'a> {
    pub file: &'a WaiverFile,
    pub as_of: NaiveDate,
}

/// A waiver names a group by a subset of its key.
fn matches(w: &Waiver, key: &std::collections::BTreeMap<String, String>) -> bool {
    w.group.iter().all(|(k, v)| key.get(k) == Some(v))
}

/// Applies the waivers to `report`: group verdicts, rule verdicts and
/// messages, the summary, `report.waivers`, and one warning per expired or
/// unused waiver.
pub fn apply(report: &mut Report, waivers: &Waivers) {
    let mut outcomes = Vec::new();
    let mut warnings = Vec::new();
    for w in &waivers.file.waivers {
        let expired = waivers.as_of > w.expires;
        let reference = WaiverRef {
            reason: w.reason.clone(),
            owner: w.owner.clone(),
            expires: w.expires.format("%Y-%m-%d").to_string(),
            ticket: w.ticket.clone(),
        };
        let mut count = 0u64;
        for f in report.findings.iter_mut().filter(|f| f.rule_id == w.rule) {
            for g in f.groups.iter_mut() {
                if g.verdict == Verdict::Fail && matches(w, &g.key) {
                    count += 1;
                    if !expired {
                        g.verdict = Verdict::Waived;
                        g.waiver = Some(reference.clone());
                    }
                }
            }
        }
        let status = match (expired, count) {
            (true, _) => WaiverStatus::Expired,
            (false, 0) => WaiverStatus::Unused,
            (false, _) => WaiverStatus::Applied,
        };
        let named = if w.group.is_empty() {
            format!("for {}", w.rule)
        } else {
            let key: Vec<String> = w.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("for {} {}", w.rule, key.join(","))
        };
        match status {
            WaiverStatus::Expired => warnings.push(format!(
                "waiver {named} ({}) expired on {}: {count} failing groups it names fail as usual",
                w.location, reference.expires
            )),
            WaiverStatus::Unused => {
                warnings.push(format!("waiver {named} ({}) matches no failing group: it is unused", w.location))
            }
            WaiverStatus::Applied => {}
        }
        outcomes.push(WaiverOutcome {
            rule: w.rule.clone(),
            group: w.group.clone(),
            waiver: reference,
            location: w.location.clone(),
            status,
            groups: count,
        });
    }
    for f in report.findings.iter_mut() {
        let waived: Vec<String> =
            f.groups.iter().filter(|g| g.verdict == Verdict::Waived).map(|g| g.key_text()).collect();
        if waived.is_empty() {
            continue;
        }
        // The rule's verdict is what its other groups say; a rule whose only
        // failures are waived no longer fails.
        if f.verdict == Verdict::Fail && !f.groups.iter().any(|g| g.verdict == Verdict::Fail) {
            f.verdict = Verdict::combine(f.groups.iter().map(|g| g.verdict));
        }
        f.message = format!(
            "{} waived ({}){}. Without waivers: {}",
            crate::engine::util::plural(waived.len(), "failing group"),
            waived.join("; "),
            if f.verdict == Verdict::Fail { ", others still fail" } else { "" },
            f.message
        );
    }
    report.summary = Summary::of(&report.findings);
    report.waivers = Some(WaiversReport {
        file: waivers.file.path.clone(),
        sha256: waivers.file.sha256.clone(),
        as_of: waivers.as_of.format("%Y-%m-%d").to_string(),
        waivers: outcomes,
    });
    report.warnings.extend(warnings);
}
