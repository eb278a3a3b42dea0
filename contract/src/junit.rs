//! The JUnit XML report (the common subset Jenkins, GitLab and GitHub reporters read).

use std::fmt::Write;

use crate::report::{Outcome, Report};

impl Report {
    /// The report as JUnit XML (one test case per scenario, plus `leftovers`).
    pub fn to_junit(&self) -> String {
        render(self)
    }
}

/// Escapes text for an XML attribute or element, dropping characters XML 1.0 forbids.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn render(report: &Report) -> String {
    let (_, failed, skipped) = report.counts();
    let leftover_failed = usize::from(!report.leftovers.is_empty());
    let tests = report.results.len() + 1;
    let failures = failed + leftover_failed;
    let time = report.duration.as_secs_f64();
    let mut x = String::new();
    x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"agenttier-contract\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time:.3}\">"
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"agenttier-contract\" tests=\"{tests}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{time:.3}\">"
    );
    x.push_str("    <properties>\n");
    for (k, v) in [
        ("target", report.target.clone()),
        ("prefix", report.prefix.clone()),
        (
            "admin",
            report
                .admin
                .map_or_else(|| "unknown".to_string(), |a| a.to_string()),
        ),
        ("cancelled", report.cancelled.to_string()),
    ] {
        let _ = writeln!(
            x,
            "      <property name=\"{}\" value=\"{}\"/>",
            esc(k),
            esc(&v)
        );
    }
    x.push_str("    </properties>\n");
    for r in &report.results {
        let _ = write!(
            x,
            "    <testcase classname=\"agenttier-contract\" name=\"{}\" time=\"{:.3}\"",
            esc(r.name),
            r.duration.as_secs_f64()
        );
        match &r.outcome {
            Outcome::Passed => x.push_str("/>\n"),
            Outcome::Skipped(why) => {
                let _ = writeln!(
                    x,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    esc(why)
                );
            }
            Outcome::Failed(f) => {
                let mut detail = format!(
                    "scenario: {}\nstep: {}\nmessage: {}\n",
                    r.name, f.step, f.message
                );
                if let Some(s) = f.status {
                    let _ = writeln!(detail, "status: {s}");
                }
                if let Some(id) = &f.request_id {
                    let _ = writeln!(detail, "request id: {id}");
                }
                let _ = writeln!(detail, "completed steps: {}", r.steps.join(", "));
                for e in &r.cleanup_errors {
                    let _ = writeln!(detail, "cleanup: {e}");
                }
                let _ = writeln!(
                    x,
                    ">\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    </testcase>",
                    esc(&f.step),
                    esc(&f.to_string()),
                    esc(&detail)
                );
            }
        }
    }
    let _ = write!(
        x,
        "    <testcase classname=\"agenttier-contract\" name=\"leftovers\" time=\"0.000\""
    );
    if report.leftovers.is_empty() {
        x.push_str("/>\n");
    } else {
        let list: Vec<String> = report
            .leftovers
            .iter()
            .map(|l| format!("{} {}", l.kind, l.name))
            .collect();
        let _ = writeln!(
            x,
            ">\n      <failure type=\"leftovers\" message=\"{} left with prefix {}\">{}</failure>\n    </testcase>",
            report.leftovers.len(),
            esc(&report.prefix),
            esc(&list.join("\n"))
        );
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        assert_eq!(esc("a<b>&\"'\u{1}"), "a&lt;b&gt;&amp;&quot;&apos;\u{fffd}");
    }
}
