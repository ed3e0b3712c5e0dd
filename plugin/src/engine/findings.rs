//! Findings as the WIT interface carries them: the controls a policy set declares, the forbid
//! policies a decision fired, the denial of an entity the registry lacks and the default deny.

use std::collections::BTreeMap;

use cedar_policy::{EntityUid, Response};
use yungui_policies::{Finding, Severity};

use super::Engine;
use crate::bindings::yungui::policy::types as wit;

/// The control id of a denial for an entity the registry does not hold.
pub const REGISTRY_MISSING: &str = "registry-missing";
/// The control id of a denial because no policy permits the request.
pub const DEFAULT_DENY: &str = "default-deny";

impl Engine {
    /// Every control, one entry per control id.
    pub fn controls(&self) -> Vec<wit::Control> {
        let mut seen: BTreeMap<&str, &Finding> = BTreeMap::new();
        for finding in self.findings.values() {
            seen.entry(finding.control.as_str()).or_insert(finding);
        }
        seen.into_values()
            .map(|f| wit::Control {
                control: f.control.clone(),
                article: f.article.clone(),
                reason: f.reason.clone(),
                reason_zh: f.reason_zh.clone(),
                severity: severity(f.severity),
                file: f.file.clone(),
            })
            .collect()
    }

    /// The findings of the forbid policies that fired or could not be evaluated, sorted.
    pub(super) fn fired(&self, response: &Response) -> Vec<wit::Finding> {
        let diagnostics = response.diagnostics();
        let mut out: Vec<wit::Finding> = diagnostics
            .reason()
            .filter_map(|id| self.findings.get(id))
            .map(|f| finding(f, None))
            .collect();
        for err in diagnostics.errors() {
            let cedar_policy::AuthorizationError::PolicyEvaluationError(err) = err;
            if let Some(f) = self.findings.get(err.policy_id()) {
                out.push(finding(f, Some(&err.inner().to_string())));
            }
        }
        out.sort_by(|a, b| (&a.control, &a.reason).cmp(&(&b.control, &b.reason)));
        out.dedup_by(|a, b| a.control == b.control && a.reason == b.reason);
        out
    }

    pub(super) fn default_deny(&self, response: &Response) -> wit::Finding {
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(ToString::to_string)
            .collect();
        let (reason, reason_zh) = if errors.is_empty() {
            (
                "no policy permits this request".to_owned(),
                "没有任何策略允许此请求".to_owned(),
            )
        } else {
            (
                format!("no policy permits this request ({})", errors.join("; ")),
                "没有任何策略允许此请求（策略求值出错）".to_owned(),
            )
        };
        wit::Finding {
            control: DEFAULT_DENY.to_owned(),
            article: String::new(),
            reason,
            reason_zh,
            obligations: Vec::new(),
            severity: wit::Severity::Deny,
        }
    }
}

fn severity(severity: Severity) -> wit::Severity {
    match severity {
        Severity::Deny => wit::Severity::Deny,
        Severity::Warn => wit::Severity::Warn,
    }
}

fn finding(f: &Finding, error: Option<&str>) -> wit::Finding {
    let (reason, reason_zh) = match error {
        None => (f.reason.clone(), f.reason_zh.clone()),
        Some(error) => (
            format!(
                "{} (could not be evaluated, so it counts as fired: {error})",
                f.reason
            ),
            format!("{}（无法求值，按违规处理）", f.reason_zh),
        ),
    };
    wit::Finding {
        control: f.control.clone(),
        article: f.article.clone(),
        reason,
        reason_zh,
        obligations: f.obligations.clone(),
        severity: severity(f.severity),
    }
}

pub(super) fn missing_finding(uid: &EntityUid) -> wit::Finding {
    wit::Finding {
        control: REGISTRY_MISSING.to_owned(),
        article: String::new(),
        reason: format!("`{uid}` is not in the registry: add it before it can be served"),
        reason_zh: format!("登记信息中没有 `{uid}`，不得为其提供服务"),
        obligations: Vec::new(),
        severity: wit::Severity::Deny,
    }
}
