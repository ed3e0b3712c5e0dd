//! `--format policy-report`: the verdicts as `wgpolicyk8s.io/v1alpha2` PolicyReports (one per
//! namespace) and a ClusterPolicyReport (objects of no namespace), the format Kyverno's and
//! Kubewarden's background scans write, so Policy Reporter and the dashboards built on it read
//! yungui's too.
//!
//! A result per object and control that fired: `fail` (a denial), `warn` (a warn-severity
//! control, or any in a namespace in warn or audit mode, or `--audit`); `policy` is the control
//! id, `rule` the `@id` of the policy that gave the reason. An object no control fired on has one
//! `pass` result whose `policy` is `yungui` and `rule` the action it was decided for; an object
//! the webhook refuses without a decision, one `error` result. Skipped and unreadable objects
//! are not reported (unreadable ones are named on standard error).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{Checked, Level, Verdict};

/// The API version written.
pub const API_VERSION: &str = "wgpolicyk8s.io/v1alpha2";

/// The `source` of every result, and the reports' name.
pub const SOURCE: &str = "yungui";

/// Seconds since the Unix epoch, now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The reports, one YAML document each: the PolicyReports in namespace order, then the
/// ClusterPolicyReport (when a cluster-scoped object was decided).
pub fn render(checked: &[Checked], now: u64) -> anyhow::Result<String> {
    let mut out = String::new();
    for report in reports(checked, now) {
        out.push_str("---\n");
        out.push_str(&serde_norway::to_string(&report)?);
    }
    Ok(out)
}

/// The reports as values.
pub fn reports(checked: &[Checked], now: u64) -> Vec<Value> {
    let mut by_namespace: BTreeMap<Option<&str>, Vec<Value>> = BTreeMap::new();
    for c in checked {
        let results = results(c, now);
        if !results.is_empty() {
            by_namespace
                .entry(c.namespace.as_deref())
                .or_default()
                .extend(results);
        }
    }
    let mut reports = Vec::new();
    let mut cluster = None;
    for (namespace, results) in by_namespace {
        let mut metadata = Map::new();
        metadata.insert("name".to_owned(), SOURCE.into());
        if let Some(ns) = namespace {
            metadata.insert("namespace".to_owned(), ns.into());
        }
        metadata.insert(
            "labels".to_owned(),
            json!({"app.kubernetes.io/managed-by": SOURCE}),
        );
        let report = json!({
            "apiVersion": API_VERSION,
            "kind": if namespace.is_some() { "PolicyReport" } else { "ClusterPolicyReport" },
            "metadata": metadata,
            "summary": summary(&results),
            "results": results,
        });
        if namespace.is_some() {
            reports.push(report);
        } else {
            cluster = Some(report);
        }
    }
    reports.extend(cluster);
    reports
}

fn summary(results: &[Value]) -> Value {
    let count = |what: &str| {
        results
            .iter()
            .filter(|r| r.get("result").and_then(Value::as_str) == Some(what))
            .count()
    };
    json!({
        "pass": count("pass"),
        "fail": count("fail"),
        "warn": count("warn"),
        "error": count("error"),
        "skip": count("skip"),
    })
}

/// The results of one object.
fn results(c: &Checked, now: u64) -> Vec<Value> {
    let mut resource = Map::new();
    resource.insert("apiVersion".to_owned(), c.api_version.clone().into());
    resource.insert("kind".to_owned(), c.kind.clone().into());
    resource.insert("name".to_owned(), c.name.clone().into());
    if let Some(ns) = &c.namespace {
        resource.insert("namespace".to_owned(), ns.clone().into());
    }
    if let Some(uid) = &c.uid {
        resource.insert("uid".to_owned(), uid.clone().into());
    }
    let timestamp = json!({"seconds": now, "nanos": 0});
    let result =
        |policy: &str, rule: &str, result: &str, message: &str, properties: Map<String, Value>| {
            json!({
                "policy": policy,
                "rule": rule,
                "result": result,
                "source": SOURCE,
                "scored": true,
                "message": message,
                "properties": properties,
                "resources": [resource],
                "timestamp": timestamp,
            })
        };
    let mut base = Map::new();
    base.insert("source".to_owned(), c.source.clone().into());
    match &c.verdict {
        Verdict::Decided {
            action,
            mode,
            findings,
        } => {
            base.insert("action".to_owned(), action.clone().into());
            base.insert("mode".to_owned(), (*mode).into());
            if findings.is_empty() {
                return vec![result(SOURCE, action, "pass", "no control fired", base)];
            }
            findings
                .iter()
                .map(|f| {
                    let mut properties = base.clone();
                    properties.insert("article".to_owned(), f.article.clone().into());
                    properties.insert("reason_zh".to_owned(), f.reason_zh.clone().into());
                    if let Some(subject) = &f.subject {
                        properties.insert("subject".to_owned(), subject.clone().into());
                    }
                    if !f.obligations.is_empty() {
                        properties.insert("obligations".to_owned(), f.obligations.join(",").into());
                    }
                    let level = match f.result {
                        Level::Fail => "fail",
                        Level::Warn => "warn",
                    };
                    let mut value = result(&f.control, &f.rule, level, &f.reason, properties);
                    if !f.article.is_empty()
                        && let Some(map) = value.as_object_mut()
                    {
                        map.insert(
                            "category".to_owned(),
                            format!("MIIT notice art. {}", f.article).into(),
                        );
                    }
                    value
                })
                .collect()
        }
        Verdict::Error { reason } => vec![result(SOURCE, "decide", "error", reason, base)],
        Verdict::Skipped { .. } | Verdict::Unreadable { .. } => Vec::new(),
    }
}
