//! A decision (or the failure to reach one) as people and scripts read it.

use std::fmt::Write as _;

use serde::Serialize;

use crate::bindings::types;
use crate::engine::Error;

/// The outcome of one request, in the JSON shape `--format json` and the HTTP API print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// `allow`, `deny`, or `error` when no decision was reached (which callers must treat as a
    /// denial).
    pub decision: Outcome,
    /// The controls that deny.
    pub denials: Vec<Finding>,
    /// Warn-severity controls that fired, and denials in audit mode.
    pub warnings: Vec<Finding>,
    /// Why no decision was reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
}

/// The three outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Allowed.
    Allow,
    /// Denied by policy.
    Deny,
    /// No decision: a bad request or a fault. Denied.
    Error,
}

/// One control that fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Control id.
    pub control: String,
    /// Article of the notice.
    pub article: String,
    /// English reason.
    pub reason: String,
    /// Chinese reason.
    pub reason_zh: String,
    /// What the operator must do beyond refusing.
    pub obligations: Vec<String>,
    /// `deny` or `warn`.
    pub severity: &'static str,
}

/// Why no decision was reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    /// `bad_request`, `bad_entity_data`, `plugin_fault`, `timeout`, `out_of_memory`, `trap`,
    /// `load`.
    pub kind: &'static str,
    /// What happened.
    pub message: String,
}

impl From<&types::Finding> for Finding {
    fn from(f: &types::Finding) -> Self {
        Self {
            control: f.control.clone(),
            article: f.article.clone(),
            reason: f.reason.clone(),
            reason_zh: f.reason_zh.clone(),
            obligations: f.obligations.clone(),
            severity: match f.severity {
                types::Severity::Deny => "deny",
                types::Severity::Warn => "warn",
            },
        }
    }
}

impl From<&Error> for ErrorReport {
    fn from(err: &Error) -> Self {
        Self {
            kind: err.kind().as_str(),
            message: err.to_string(),
        }
    }
}

impl Report {
    /// The report of a call's result.
    pub fn new(result: &Result<types::Decision, Error>) -> Self {
        match result {
            Ok(decision) => Self {
                decision: if decision.allowed {
                    Outcome::Allow
                } else {
                    Outcome::Deny
                },
                denials: decision.denials.iter().map(Finding::from).collect(),
                warnings: decision.warnings.iter().map(Finding::from).collect(),
                error: None,
            },
            Err(err) => Self {
                decision: Outcome::Error,
                denials: Vec::new(),
                warnings: Vec::new(),
                error: Some(ErrorReport::from(err)),
            },
        }
    }

    /// The report for people: the decision, then one block per control.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = match (&self.decision, &self.error) {
            (Outcome::Allow, _) => writeln!(out, "ALLOW"),
            (Outcome::Deny, _) => {
                let controls: std::collections::BTreeSet<&str> =
                    self.denials.iter().map(|f| f.control.as_str()).collect();
                writeln!(
                    out,
                    "DENY: {} control{} fired",
                    controls.len(),
                    if controls.len() == 1 { "" } else { "s" }
                )
            }
            (Outcome::Error, Some(err)) => {
                writeln!(out, "ERROR ({}), so denied: {}", err.kind, err.message)
            }
            (Outcome::Error, None) => writeln!(out, "ERROR, so denied"),
        };
        for f in &self.denials {
            write_finding(&mut out, "deny", f);
        }
        for f in &self.warnings {
            write_finding(&mut out, "warn", f);
        }
        out
    }
}

fn write_finding(out: &mut String, tag: &str, f: &Finding) {
    let article = if f.article.is_empty() {
        String::new()
    } else {
        format!(" (art. {})", f.article)
    };
    let _ = writeln!(out, "  {tag} {}{article}", f.control);
    let _ = writeln!(out, "       {}", f.reason);
    let _ = writeln!(out, "       {}", f.reason_zh);
    if !f.obligations.is_empty() {
        let _ = writeln!(out, "       obligations: {}", f.obligations.join(", "));
    }
}
