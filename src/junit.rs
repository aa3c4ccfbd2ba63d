//! JUnit XML for CI test reporters (`audit --junit FILE`): one test case per
//! rule, a `<failure>` naming its failing groups, `<skipped>` for rules the data
//! cannot decide. Built from the same findings model as findings.json.

use std::fmt::Write as _;

use crate::findings::{Finding, Report, Verdict};

/// The JUnit XML document for `report`. Deterministic: no durations, and the
/// timestamp is the audit's `generated_at`.
pub fn render(report: &Report) -> String {
    let count = |v: Verdict| report.findings.iter().filter(|f| f.verdict == v).count();
    let (tests, failures) = (report.findings.len(), count(Verdict::Fail));
    let skipped = count(Verdict::Inconclusive) + count(Verdict::NotEvaluable);
    let rb = &report.rulebook;
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(x, "<testsuites name=\"hutong\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">");
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" \
         timestamp=\"{}\">",
        escape(&format!("{} {}", rb.id, rb.version)),
        escape(&report.generated_at)
    );
    x.push_str("    <properties>\n");
    for (name, value) in [
        ("rulebook", rb.path.as_str()),
        ("rulebook_sha256", rb.sha256.as_str()),
        ("jurisdiction", rb.jurisdiction.as_str()),
        ("hutong_version", report.tool.version),
    ] {
        let _ = writeln!(x, "      <property name=\"{name}\" value=\"{}\"/>", escape(value));
    }
    x.push_str("    </properties>\n");
    for f in &report.findings {
        test_case(&mut x, &rb.id, f);
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

fn test_case(x: &mut String, suite: &str, f: &Finding) {
    let _ = write!(
        x,
        "    <testcase classname=\"{}\" name=\"{}\"",
        escape(&format!("{suite}.{}", f.kind)),
        escape(&format!("{} {}", f.rule_id, f.title))
    );
    match f.verdict {
        Verdict::Pass | Verdict::Waived => x.push_str("/>\n"),
        Verdict::Fail => {
            let _ = writeln!(
                x,
                ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                f.severity.name(),
                escape(&format!("{}{}", deadline_note(f), f.message)),
                // Element text keeps its line breaks readable.
                escape(&failing_groups(f)).replace("&#10;", "\n")
            );
        }
        Verdict::Inconclusive | Verdict::NotEvaluable => {
            let _ = writeln!(
                x,
                ">\n      <skipped type=\"{}\" message=\"{}\"/>\n    </testcase>",
                f.verdict.name(),
                escape(&f.message)
            );
        }
    }
}

/// `[before the deadline of D] ` for a failure the exit code counts only
/// with `--strict-deadlines`.
pub fn deadline_note(f: &Finding) -> String {
    f.before_deadline_of().map(|d| format!("[before the deadline of {d}] ")).unwrap_or_default()
}

/// One line per failing group: key, value, and how many there are.
fn failing_groups(f: &Finding) -> String {
    let failing: Vec<String> = f
        .groups
        .iter()
        .filter(|g| g.verdict == Verdict::Fail)
        .map(|g| match g.value {
            Some(v) => format!("{}: {}", g.key_text(), crate::findings::number_text(Some(v))),
            None => format!("{}: no value ({})", g.key_text(), g.reason.as_deref().unwrap_or("no data")),
        })
        .collect();
    let mut text = format!("{} ({} severity, threshold {})\n", f.rule_id, f.severity.name(), f.threshold_text);
    for line in &failing {
        text.push_str(line);
        text.push('\n');
    }
    if let Some(e) = &f.evidence {
        let _ = writeln!(text, "evidence: {} ({} rows)", e.file, e.rows);
    }
    text
}

/// Escapes text for an XML attribute or element, and replaces characters
/// XML 1.0 cannot hold (most control characters) with U+FFFD, since labels
/// and messages can carry anything the logs did.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Newlines and tabs survive in element text; in attributes they
            // would be normalised to spaces, so keep them as references.
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_and_control_characters_are_escaped() {
        assert_eq!(escape("a<b>&\"c'\u{1}\n"), "a&lt;b&gt;&amp;&quot;c&apos;\u{FFFD}&#10;");
    }
}
