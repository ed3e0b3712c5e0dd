//! The text, JSON and JUnit forms of `yungui check`'s verdicts.

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
use serde_json::{Value, json};

use super::{Checked, Level, Verdict};

/// One line per object and control, and a count.
pub fn text(checked: &[Checked]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let (mut allowed, mut denied, mut skipped, mut undecided, mut unreadable) = (0, 0, 0, 0, 0);
    for c in checked {
        let head = format!("{} {}", c.source, c.title());
        match &c.verdict {
            Verdict::Decided { findings, .. } => {
                if c.denied() {
                    denied += 1;
                } else {
                    allowed += 1;
                }
                if findings.is_empty() {
                    let _ = writeln!(out, "{head}: allow");
                }
                for f in findings {
                    let word = match f.result {
                        Level::Fail => "deny",
                        Level::Warn => "warn",
                    };
                    let article = if f.article.is_empty() {
                        String::new()
                    } else {
                        format!(" (art. {})", f.article)
                    };
                    let subject = f
                        .subject
                        .as_deref()
                        .map(|s| format!(" {s}"))
                        .unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "{head}: {word} {}{article}{subject}: {}",
                        f.control, f.reason
                    );
                }
            }
            Verdict::Skipped { reason } => {
                skipped += 1;
                let _ = writeln!(out, "{head}: skip: {reason}");
            }
            Verdict::Error { reason } => {
                undecided += 1;
                let _ = writeln!(out, "{head}: error: {reason}");
            }
            Verdict::Unreadable { reason } => {
                unreadable += 1;
                let _ = writeln!(out, "{}: cannot read: {reason}", c.source);
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{} objects: {allowed} allowed, {denied} denied, {skipped} skipped, {undecided} not decided, {unreadable} unreadable",
        checked.len()
    );
    out
}

/// The JSON document: every object with its verdict.
pub fn to_json(checked: &[Checked]) -> Value {
    let count = |f: &dyn Fn(&Checked) -> bool| checked.iter().filter(|c| f(c)).count();
    json!({
        "objects": checked,
        "denied": count(&Checked::denied),
        "unreadable": count(&|c| matches!(c.verdict, Verdict::Unreadable { .. })),
        "not_decided": count(&|c| matches!(c.verdict, Verdict::Error { .. })),
    })
}

/// JUnit XML: one test case per object; a denial fails it, an unreadable or undecided object is
/// an error, a skipped one is skipped.
pub fn junit(checked: &[Checked]) -> anyhow::Result<String> {
    let mut suite = TestSuite::new("yungui check");
    for c in checked {
        let status = match &c.verdict {
            Verdict::Decided { findings, .. } if c.denied() => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                let lines: Vec<String> = findings
                    .iter()
                    .filter(|f| f.result == Level::Fail)
                    .map(|f| format!("{}: {}", f.control, f.reason))
                    .collect();
                status.set_message(lines.join("\n"));
                status
            }
            Verdict::Decided { .. } => TestCaseStatus::success(),
            Verdict::Skipped { reason } => {
                let mut status = TestCaseStatus::skipped();
                status.set_message(reason.as_str());
                status
            }
            Verdict::Error { reason } | Verdict::Unreadable { reason } => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_message(reason.as_str());
                status
            }
        };
        let mut case = TestCase::new(format!("{} {}", c.source, c.title()), status);
        case.set_classname("yungui.check");
        if let Verdict::Decided { findings, .. } = &c.verdict {
            let warnings: Vec<String> = findings
                .iter()
                .filter(|f| f.result == Level::Warn)
                .map(|f| format!("warn {}: {}", f.control, f.reason))
                .collect();
            if !warnings.is_empty() {
                case.set_system_out(warnings.join("\n"));
            }
        }
        suite.add_test_case(case);
    }
    let mut report = quick_junit::Report::new("yungui check");
    report.add_test_suite(suite);
    Ok(report.to_string()?.trim_end().to_owned())
}
