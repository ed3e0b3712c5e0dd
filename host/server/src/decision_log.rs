//! The decision log: one line per answer (JSON with `--log-json`) under the target
//! `yungui::decision`, naming the component in force. The subscriber is set up in
//! [`crate::logging`].

use std::time::Duration;

use yungui::bindings::types;

use crate::error::ServeError;
use crate::front::Front;
use crate::state::AppState;

/// What a line of the decision log says of an answer besides its decision, as its front end read
/// the request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry<'a> {
    /// The front end that answered.
    pub front: Front,
    /// The caller's id of the request (an AdmissionReview's `uid`, `X-Request-Id`,
    /// `X-Openstack-Request-Id`), empty when none.
    pub uid: &'a str,
    /// The tenant decided for, empty when none.
    pub tenant: &'a str,
    /// What was reviewed (a Kubernetes kind, an oslo.policy rule), empty for the raw API.
    pub kind: &'a str,
    /// The action decided.
    pub action: &'a str,
    /// A Kubernetes `dryRun` review.
    pub dry_run: bool,
}

/// Logs one decision as one line (JSON with `--log-json`), under the target `yungui::decision`.
pub(crate) fn log_decision(
    state: &AppState,
    entry: &Entry<'_>,
    result: &Result<types::Decision, ServeError>,
    latency: Duration,
) {
    let Entry {
        front,
        uid,
        tenant,
        kind,
        action,
        dry_run,
    } = *entry;
    let front = front.name();
    let (decision, controls, error) = match result {
        Ok(d) => (
            if d.allowed { "allow" } else { "deny" },
            distinct_controls(d),
            None,
        ),
        Err(e) => ("error", Vec::new(), Some(e.kind())),
    };
    // The component in force when the decision is logged: the one that decided, but for a
    // decision that straddles a component swap (logged just after it).
    let engine = state.engine();
    let component_sha256 = engine.as_ref().map_or("none", |e| e.sha256());
    let policy_digest = engine.as_ref().map_or("none", |e| e.policy_digest());
    tracing::info!(
        target: "yungui::decision",
        front,
        uid,
        tenant,
        kind,
        action,
        decision,
        controls = ?crate::logging::Json(serde_json::json!(controls)),
        error,
        latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        dry_run,
        component_sha256,
        policy_digest,
        "decision"
    );
}

/// The controls a decision lists (denials, then warnings), each once, in order.
pub(crate) fn distinct_controls(decision: &types::Decision) -> Vec<&str> {
    let mut ids: Vec<&str> = Vec::new();
    for f in decision.denials.iter().chain(&decision.warnings) {
        if !ids.contains(&f.control.as_str()) {
            ids.push(&f.control);
        }
    }
    ids
}
