//! The decision log: one line per answer (JSON with `--log-json`) under the target
//! `yungui::decision`, naming the component in force. The subscriber is set up in
//! [`crate::logging`].

use std::time::Duration;

use yungui::bindings::types;

use crate::error::ServeError;
use crate::state::AppState;

/// Logs one decision as one line (JSON with `--log-json`), under the target `yungui::decision`.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site per front end, each field a column of the decision log"
)]
pub fn log_decision(
    state: &AppState,
    front: &str,
    uid: &str,
    tenant: &str,
    kind: &str,
    action: &str,
    result: &Result<types::Decision, ServeError>,
    latency: Duration,
    dry_run: bool,
) {
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
pub fn distinct_controls(decision: &types::Decision) -> Vec<&str> {
    let mut ids: Vec<&str> = Vec::new();
    for f in decision.denials.iter().chain(&decision.warnings) {
        if !ids.contains(&f.control.as_str()) {
            ids.push(&f.control);
        }
    }
    ids
}
