//! The answer to a review: the AdmissionResponse of each outcome (allowed with warnings, denied
//! naming every control, refused as a bad request or a fault), the lines `kubectl` prints, and
//! the outcome as the decision log records it.

use std::fmt::Write as _;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kube_core::DynamicObject;
use kube_core::Status;
use kube_core::admission::{AdmissionRequest, AdmissionResponse};

use super::{MODE_LABEL, Mode, Outcome, ServeError, mapping};
use yungui::bindings::types;
use yungui::vocabulary;

/// Kubernetes asks that a warning stay within 120 characters.
pub const MAX_WARNING: usize = 120;

/// The review's answer.
pub(super) fn respond(
    request: &AdmissionRequest<DynamicObject>,
    namespace: &str,
    tenant: &str,
    action: &str,
    mode: Mode,
    outcome: &Outcome,
) -> AdmissionResponse {
    let mut response = AdmissionResponse::from(request);
    match outcome {
        Outcome::Skipped => {}
        // The object carries a value the policies do not accept (a data class outside the
        // vocabulary, a malformed host name): the object is at fault, not the webhook.
        Outcome::Fault(err, message) if err.is_bad_request() => {
            response.allowed = false;
            response.result = Status::failure(
                &format!(
                    "yungui refuses {}: the object carries a value it cannot decide on: {message}",
                    subject(request, namespace)
                ),
                "BadRequest",
            )
            .with_code(400);
            response
                .audit_annotations
                .insert("bad_request".to_owned(), err.kind().to_owned());
        }
        Outcome::Mislabelled => {
            response.allowed = false;
            response.result = Status::failure(
                &format!(
                    "yungui refused {}: namespace `{namespace}` has the label `{MODE_LABEL}` with a value yungui does not know; set it to one of `enforce`, `warn`, `audit`, or remove it",
                    subject(request, namespace)
                ),
                "BadRequest",
            )
            .with_code(400);
            response
                .audit_annotations
                .insert("fault".to_owned(), "mislabelled".to_owned());
        }
        Outcome::Fault(err, message) => {
            response.allowed = false;
            response.result = Status::failure(
                &format!(
                    "yungui could not decide on {} (a fault of the policy webhook, not a policy denial), so the request is refused: {message}",
                    subject(request, namespace)
                ),
                "InternalError",
            )
            .with_code(500);
            response
                .audit_annotations
                .insert("fault".to_owned(), err.kind().to_owned());
        }
        Outcome::Decided(items) => {
            let denials: Vec<_> = items
                .iter()
                .flat_map(|(s, d)| d.denials.iter().map(move |f| (s.as_deref(), f)))
                .collect();
            let warnings: Vec<_> = items
                .iter()
                .flat_map(|(s, d)| d.warnings.iter().map(move |f| (s.as_deref(), f)))
                .collect();
            if !denials.is_empty() {
                match mode {
                    Mode::Enforce => {
                        response.allowed = false;
                        response.result = Status::failure(
                            &deny_message(request, namespace, tenant, action, &denials),
                            "Forbidden",
                        )
                        .with_code(403);
                        response
                            .audit_annotations
                            .insert("controls".to_owned(), control_ids(&denials));
                    }
                    Mode::Warn | Mode::Audit => {
                        response
                            .audit_annotations
                            .insert("would-deny".to_owned(), control_ids(&denials));
                    }
                }
            }
            // Warn mode shows the denials it lets through as warnings too.
            let shown: Vec<_> = match mode {
                Mode::Enforce => warnings.clone(),
                Mode::Warn => denials.iter().chain(&warnings).copied().collect(),
                Mode::Audit => Vec::new(),
            };
            if !shown.is_empty() {
                response.warnings = Some(warning_lines(&shown));
            }
            if !warnings.is_empty() {
                response
                    .audit_annotations
                    .insert("warnings".to_owned(), control_ids(&warnings));
            }
            if mode != Mode::Enforce {
                response
                    .audit_annotations
                    .insert("mode".to_owned(), mode.as_str().to_owned());
            }
        }
    }
    response
}

/// `Deployment `shop-example/web``.
fn subject(request: &AdmissionRequest<DynamicObject>, tenant: &str) -> String {
    let name = request
        .object
        .as_ref()
        .and_then(|o| {
            o.metadata
                .name
                .as_deref()
                .filter(|n| !n.is_empty())
                .or(o.metadata.generate_name.as_deref())
        })
        .unwrap_or(&request.name);
    format!("{} `{tenant}/{name}`", request.kind.kind)
}

fn control_ids(findings: &[(Option<&str>, &types::Finding)]) -> String {
    let mut ids: Vec<&str> = Vec::new();
    for (_, f) in findings {
        if !ids.contains(&f.control.as_str()) {
            ids.push(&f.control);
        }
    }
    ids.join(",")
}

/// The control of the policies that read a workload's `privileged` and `host_access`.
const HOST_SECURITY: &str = "art12-host-security";

/// The baseline controls a denial names at most; the rest are counted.
const MAX_BASELINE_SHOWN: usize = 12;

fn deny_message(
    request: &AdmissionRequest<DynamicObject>,
    namespace: &str,
    tenant: &str,
    action: &str,
    denials: &[(Option<&str>, &types::Finding)],
) -> String {
    let controls = control_ids(denials);
    let count = controls.split(',').count();
    let mut out = format!(
        "yungui denied {} ({action}): {count} control{} fired ({controls})",
        subject(request, namespace),
        if count == 1 { "" } else { "s" },
    );
    let tenant_uid = vocabulary::uid_text(vocabulary::TENANT, tenant);
    let mut tenant_missing = false;
    for (about, f) in denials {
        let _ = write!(out, "\n- ");
        if let Some(about) = about {
            let _ = write!(out, "{about}: ");
        }
        let _ = write!(out, "{}", f.control);
        if !f.article.is_empty() {
            let _ = write!(out, " (art. {})", f.article);
        }
        let _ = write!(out, ": {} / {}", f.reason, f.reason_zh);
        if !f.obligations.is_empty() {
            let _ = write!(out, " [obligations: {}]", f.obligations.join(", "));
        }
        tenant_missing |= f.control == "registry-missing" && f.reason.contains(&tenant_uid);
    }
    // The policies see one `privileged` and one `host_access`: name the baseline controls behind
    // them.
    if denials.iter().any(|(_, f)| f.control == HOST_SECURITY)
        && let Some(object) = &request.object
        && let Some(kind) = mapping::Kind::of(&request.kind.group, &request.kind.kind)
    {
        let violations = mapping::baseline_of(kind, object);
        if !violations.is_empty() {
            let _ = write!(
                out,
                "\n{HOST_SECURITY}: the pod breaks the {}: ",
                mapping::BASELINE
            );
            for (i, v) in violations.iter().take(MAX_BASELINE_SHOWN).enumerate() {
                let _ = write!(out, "{}{v}", if i == 0 { "" } else { "; " });
            }
            if let Some(more) = violations.len().checked_sub(MAX_BASELINE_SHOWN)
                && more > 0
            {
                let _ = write!(out, "; and {more} more");
            }
        }
    }
    if tenant_missing && tenant == namespace {
        let _ = write!(
            out,
            "\nnamespace `{namespace}` is not a tenant in the yungui registry (registry-missing): add `{tenant_uid}`, or a `{}` whose parent is the tenant that owns it, to the registry before this namespace is served",
            vocabulary::uid_text(vocabulary::NAMESPACE, namespace)
        );
    } else if tenant_missing {
        let _ = write!(
            out,
            "\nnamespace `{namespace}` belongs to tenant `{tenant}`, which is not in the yungui registry (registry-missing): add `{tenant_uid}` to the registry"
        );
    }
    out
}

/// One English and one Chinese line per finding, each within [`MAX_WARNING`] characters.
fn warning_lines(warnings: &[(Option<&str>, &types::Finding)]) -> Vec<String> {
    let mut lines = Vec::with_capacity(warnings.len() * 2);
    for (about, f) in warnings {
        let audit = if f.severity == types::Severity::Deny {
            "audit: "
        } else {
            ""
        };
        let about = about.map(|a| format!(" {a}")).unwrap_or_default();
        let head = if f.article.is_empty() {
            format!("{audit}{}{about}", f.control)
        } else {
            format!("{audit}{} (art. {}){about}", f.control, f.article)
        };
        lines.push(clip(&format!("{head}: {}", f.reason)));
        lines.push(clip(&format!("{}: {}", f.control, f.reason_zh)));
    }
    lines
}

/// At most [`MAX_WARNING`] characters, with an ellipsis when cut.
pub fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_WARNING {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(MAX_WARNING - 1).collect();
    out.push('…');
    out
}

/// The outcome as the decision log records it: several decisions are one.
pub(super) fn for_log(outcome: Outcome) -> Result<types::Decision, ServeError> {
    match outcome {
        Outcome::Mislabelled => Err(ServeError::Mislabelled),
        Outcome::Skipped => Ok(types::Decision {
            allowed: true,
            denials: Vec::new(),
            warnings: Vec::new(),
        }),
        Outcome::Fault(err, _) => Err(err),
        Outcome::Decided(items) => {
            let mut merged = types::Decision {
                allowed: true,
                denials: Vec::new(),
                warnings: Vec::new(),
            };
            for (_, d) in items {
                merged.allowed &= d.allowed;
                merged.denials.extend(d.denials);
                merged.warnings.extend(d.warnings);
            }
            merged.allowed &= merged.denials.is_empty();
            Ok(merged)
        }
    }
}

/// HTTP 400 with the reason, as an AdmissionReview whose response is not allowed.
pub(super) fn malformed(message: String) -> Response {
    tracing::warn!(target: "yungui::decision", front = "kubernetes", "malformed admission review: {message}");
    let mut response = AdmissionResponse::invalid(format!(
        "yungui could not read the admission review, so the request is refused: {message}"
    ));
    response.result.code = 400;
    (StatusCode::BAD_REQUEST, Json(response.into_review())).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_counts_characters_not_bytes() {
        let zh = "数".repeat(200);
        let clipped = clip(&zh);
        assert_eq!(clipped.chars().count(), MAX_WARNING);
        assert!(clipped.ends_with('…'));
        assert_eq!(clip("short"), "short");
    }
}
