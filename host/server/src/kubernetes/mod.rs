//! Kubernetes admission: a validating webhook, AdmissionReview v1 at `POST /validate`.
//!
//! The object of a CREATE or UPDATE is mapped to typed requests ([`mapping`]); each is decided on
//! the blocking pool, and the answer is an AdmissionReview that echoes the request's `uid`:
//!
//! - allowed, with `warnings` for every warn-severity control (and every denial in audit mode),
//!   each at most [`MAX_WARNING`] characters, and `auditAnnotations` naming the controls;
//! - denied, `status.code` 403, `status.message` naming every control that fired, its article,
//!   and its reason in English and Chinese (for an Ingress, per host);
//! - a fault (the component not loaded, trapped, stopped at its deadline, or the review past
//!   its own deadline): `allowed: false`, `status.code` 500, and a message that says it is a
//!   fault, not a policy denial. The webhook fails closed.
//!
//! Namespaces are decided apart ([`namespaces`], `/validate/namespaces`): who may change their
//! `yungui.io/*` labels. With [`namespaces::Tenancy::Registry`], an object of a namespace that no
//! `Cloud::Namespace` entity maps to a tenant is denied, naming the namespace.
//!
//! A body that is not an AdmissionReview v1 gets HTTP 400 with the reason. DELETE and CONNECT,
//! subresources other than ephemeral containers, and kinds with no mapping are allowed without
//! running the policies; an UPDATE is decided by what it changes against `oldObject`
//! ([`lifecycle`]): an object being deleted may change its metadata (its finalizers) unseen, a
//! workload may scale down as wind-down, anything else is decided as new. `dryRun` reviews are
//! decided the same way and marked in the decision log.
//!
//! This module routes, plans and decides a review; reading it is `review` ([`parse`]), the
//! answer `answer` (the AdmissionResponse of each outcome, its messages and warnings, and the
//! outcome as the decision log records it).

mod answer;
pub mod binding;
pub mod lifecycle;
pub mod mapping;
pub mod namespaces;
mod review;

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json};
use kube_core::DynamicObject;
use kube_core::admission::{AdmissionRequest, Operation};

use super::metrics::Answer;
use super::{AppState, Decide, Entry, Front, ServeError};
use yungui::bindings::types;
use yungui::engine::Error;

pub use answer::{MAX_WARNING, clip};
use answer::{for_log, malformed, respond};
pub use review::{ReviewError, parse};

/// The namespace label that opts a namespace in, and its values (see [`Mode`]).
pub const MODE_LABEL: &str = "yungui.io/mode";

/// Namespaces yungui never decides on, whatever the webhook configuration sends: the cluster's
/// own and yungui's, so they can always be repaired.
pub const SYSTEM_NAMESPACES: [&str; 4] = [
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "yungui-system",
];

/// How a namespace that opted in is served, chosen by the webhook entry (and so the path) that
/// its `yungui.io/mode` label matches. Faults refuse in every mode (fail closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Denials refuse the request (`/validate/enforce`, and `/validate`).
    Enforce,
    /// Denials come back as warnings that `kubectl` prints, and as audit annotations; the request
    /// is allowed (`/validate/warn`).
    Warn,
    /// Denials and warnings go to the audit annotations only; the request is allowed
    /// (`/validate/audit`).
    Audit,
}

impl Mode {
    /// Every mode, as a label value and a path segment.
    pub const ALL: [(&'static str, Mode); 3] = [
        ("enforce", Mode::Enforce),
        ("warn", Mode::Warn),
        ("audit", Mode::Audit),
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Warn => "warn",
            Self::Audit => "audit",
        }
    }

    /// The mode a path segment (or a `yungui.io/mode` label value) names.
    pub fn parse(segment: &str) -> Result<Self, UnknownMode> {
        Self::ALL
            .iter()
            .find(|(name, _)| *name == segment)
            .map(|(_, mode)| *mode)
            .ok_or_else(|| UnknownMode(segment.to_owned()))
    }
}

/// A webhook path segment that names no [`Mode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown mode `{0}` in the webhook path: use `/validate/enforce`, `/validate/warn` or `/validate/audit`"
)]
pub struct UnknownMode(pub String);

/// The Kubernetes front end's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The cluster's region.
    pub cluster_region: String,
    /// What the cluster spans when its nodes or storage are in several regions (empty: one
    /// region, `cluster_region`).
    pub topology: mapping::Topology,
    /// A review not decided within this is refused as a fault.
    pub review_deadline: Duration,
    /// Namespaces never decided on.
    pub exempt_namespaces: Vec<String>,
    /// Who a namespace belongs to, and who may change its `yungui.io/*` labels.
    pub namespaces: namespaces::Namespaces,
    /// Users (`userInfo.username`) who may bind pods to nodes in a cluster whose nodes span
    /// regions: the schedulers ([`binding`]).
    pub binders: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            cluster_region: "cn-north-1".to_owned(),
            topology: mapping::Topology::default(),
            review_deadline: Duration::from_secs(2),
            exempt_namespaces: SYSTEM_NAMESPACES.map(str::to_owned).to_vec(),
            namespaces: namespaces::Namespaces::default(),
            binders: vec![binding::DEFAULT_BINDER.to_owned()],
        }
    }
}

/// The admission routes: `/validate` enforces, `/validate/{mode}` serves a namespace in that mode,
/// `/validate/mislabelled` refuses (a `yungui.io/mode` label of no known value), and
/// `/validate/namespaces` decides Namespaces (every review of a Namespace is decided the same way,
/// whatever its path).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/validate", post(enforce))
        .route("/validate/namespaces", post(enforce))
        .route("/validate/{mode}", post(validate_in_mode))
}

async fn enforce(State(state): State<AppState>, body: Bytes) -> Response {
    validate(&state, Route::Mode(Mode::Enforce), &body).await
}

async fn validate_in_mode(
    State(state): State<AppState>,
    Path(segment): Path<String>,
    body: Bytes,
) -> Response {
    let route = if segment == MISLABELLED {
        Route::Mislabelled
    } else {
        match Mode::parse(&segment) {
            Ok(mode) => Route::Mode(mode),
            Err(err) => return malformed(err.to_string()),
        }
    };
    validate(&state, route, &body).await
}

/// The path of the webhook entry that catches a `yungui.io/mode` label of no known value.
pub const MISLABELLED: &str = "mislabelled";

/// Which webhook entry a review came through.
#[derive(Debug, Clone, Copy)]
enum Route {
    /// A namespace that opted in with a known mode.
    Mode(Mode),
    /// A namespace whose `yungui.io/mode` label has a value yungui does not know.
    Mislabelled,
}

/// What a review came to.
#[derive(Debug)]
enum Outcome {
    /// No policy ran (the operation, the kind, or a Service that is not a LoadBalancer).
    Skipped,
    /// Every request was decided: what each was about, and its decision.
    Decided(Vec<(Option<String>, types::Decision)>),
    /// No decision: fail closed.
    Fault(ServeError, String),
    /// The namespace's `yungui.io/mode` label has no known value: refused, naming the label.
    Mislabelled,
}

async fn validate(state: &AppState, route: Route, body: &[u8]) -> Response {
    let started = Instant::now();
    let request = match parse(body) {
        Ok(request) => request,
        Err(err) => return malformed(err.to_string()),
    };
    if mapping::Kind::of(&request.kind.group, &request.kind.kind) == Some(mapping::Kind::Namespace)
    {
        return validate_namespace(state, &request, started);
    }
    let namespace = namespace(&request).to_owned();
    let exempt = state.kubernetes.exempt_namespaces.contains(&namespace);
    // The tenant that owns the namespace, from the registry in force; under the `registry`
    // tenancy a namespace it does not list has none (decided as the namespace, then denied).
    let registry = state.engine().map(|e| e.registry());
    let listed = registry.as_deref().map(|r| {
        r.listed_tenant_of_namespace(&namespace)
            .map(|t| t.into_owned())
    });
    let unlisted = state.kubernetes.namespaces.tenancy == namespaces::Tenancy::Registry
        && matches!(listed, Some(None));
    let tenant = listed.flatten().unwrap_or_else(|| namespace.clone());
    let planned = if exempt {
        Ok(None)
    } else {
        plan(state, &request, &namespace, &tenant)
    };
    let mode = match route {
        Route::Mode(mode) => mode,
        Route::Mislabelled => Mode::Enforce,
    };
    // A pod placed on a node by someone other than a scheduler, in a cluster spanning regions.
    let refused_binding = (!exempt
        && mapping::Kind::of(&request.kind.group, &request.kind.kind)
            == Some(mapping::Kind::Binding))
    .then(|| {
        binding::decide(
            &state.kubernetes.topology,
            &state.kubernetes.binders,
            &request,
        )
    })
    .flatten();
    let (action, outcome) = match (planned, refused_binding) {
        (Err(message), _) => return malformed(message),
        (Ok(_), Some((reason, reason_zh))) => {
            ("bind_pod", refusal(binding::GUARD, reason, reason_zh))
        }
        (Ok(None), None) => ("none", Outcome::Skipped),
        (Ok(Some((action, _))), None) if matches!(route, Route::Mislabelled) => {
            (action, Outcome::Mislabelled)
        }
        (Ok(Some((action, _))), None) if unlisted => {
            let (reason, reason_zh) = namespaces::unlisted(&namespace);
            (action, refusal(namespaces::UNLISTED, reason, reason_zh))
        }
        (Ok(Some((action, items))), None) => (action, decide_all(state, items).await),
    };
    // A namespace no entity maps has no tenant.
    let tenant = if unlisted { "" } else { &tenant };
    finish(
        state,
        &request,
        &namespace,
        tenant,
        (action, outcome),
        mode,
        started,
    )
}

/// The answer to a review, counted and logged: one place for every outcome of the front end.
fn finish(
    state: &AppState,
    request: &AdmissionRequest<DynamicObject>,
    namespace: &str,
    tenant: &str,
    (action, outcome): (&str, Outcome),
    mode: Mode,
    started: Instant,
) -> Response {
    let response = respond(request, namespace, tenant, action, mode, &outcome);
    let answer = Answer(match &outcome {
        _ if response.allowed => "allow",
        Outcome::Decided(_) => "deny",
        _ => "refuse",
    });
    let merged = for_log(outcome);
    let entry = Entry {
        front: Front::Kubernetes,
        uid: &request.uid,
        tenant,
        kind: &request.kind.kind,
        action,
        dry_run: request.dry_run,
    };
    state.answered(&entry, &merged, started);
    (Extension(answer), Json(response.into_review())).into_response()
}

/// A denial that no policy gave: a decision with one finding of `control`.
fn refusal(control: &str, reason: String, reason_zh: String) -> Outcome {
    Outcome::Decided(vec![(
        None,
        types::Decision {
            allowed: false,
            denials: vec![types::Finding {
                control: control.to_owned(),
                article: String::new(),
                reason,
                reason_zh,
                obligations: Vec::new(),
                severity: types::Severity::Deny,
            }],
            warnings: Vec::new(),
        },
    )])
}

/// A review of a Namespace: who may change its `yungui.io/*` labels ([`namespaces::decide`]),
/// always enforced.
fn validate_namespace(
    state: &AppState,
    request: &AdmissionRequest<DynamicObject>,
    started: Instant,
) -> Response {
    let verdict = namespaces::decide(
        &state.kubernetes.namespaces,
        &state.kubernetes.exempt_namespaces,
        request,
    );
    let name = request
        .object
        .as_ref()
        .and_then(|o| o.metadata.name.clone())
        .unwrap_or_else(|| request.name.clone());
    let (action, outcome) = match verdict {
        Err(message) => return malformed(message),
        Ok(namespaces::Verdict::Allowed) => ("none", Outcome::Skipped),
        Ok(namespaces::Verdict::UnknownMode(_)) => ("label_namespace", Outcome::Mislabelled),
        Ok(namespaces::Verdict::Denied(reason, reason_zh)) => (
            "label_namespace",
            refusal(namespaces::LABEL_GUARD, reason, reason_zh),
        ),
    };
    finish(
        state,
        request,
        &name,
        "",
        (action, outcome),
        Mode::Enforce,
        started,
    )
}

fn namespace(request: &AdmissionRequest<DynamicObject>) -> &str {
    request
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .or_else(|| {
            request
                .object
                .as_ref()
                .and_then(|o| o.metadata.namespace.as_deref())
        })
        .unwrap_or_default()
}

type Plan = Option<(&'static str, Vec<mapping::Item>)>;

/// The requests a review asks for; `None` when no policy runs; `Err` for a malformed review.
fn plan(
    state: &AppState,
    request: &AdmissionRequest<DynamicObject>,
    namespace: &str,
    tenant: &str,
) -> Result<Plan, String> {
    // DELETE is wind-down: never refused. CONNECT (exec, attach, port-forward, proxy) enters a
    // pod as the policies decided it and changes no fact they read.
    if matches!(request.operation, Operation::Delete | Operation::Connect) {
        return Ok(None);
    }
    let Some(kind) = mapping::Kind::of(&request.kind.group, &request.kind.kind) else {
        return Ok(None);
    };
    // Status updates change nothing the policies read (a `scale` update is of kind `Scale`, not
    // mapped: the pods it adds or removes are decided at their own CREATE, and a ReplicaSet's
    // replicas at its UPDATE); ephemeral containers may run privileged.
    if request
        .sub_resource
        .as_deref()
        .is_some_and(|s| !s.is_empty() && s != "ephemeralcontainers")
    {
        return Ok(None);
    }
    let Some(object) = &request.object else {
        return Err(format!(
            "the {:?} review of `{}` has no `request.object`",
            request.operation, request.kind.kind
        ));
    };
    if tenant.is_empty() {
        return Err(format!(
            "the review of `{}` names no namespace: yungui's tenant is the namespace",
            request.kind.kind
        ));
    }
    let registry = state.engine().map(|e| e.registry());
    let now = yungui::request::now_utc();
    let cx = mapping::Context {
        namespace,
        tenant,
        cluster_region: &state.kubernetes.cluster_region,
        topology: &state.kubernetes.topology,
        now: &now,
        registry: registry.as_deref(),
    };
    let mut items = mapping::requests(kind, object, &cx);
    let mut action = kind.action();
    if let (Operation::Update, Some(old)) = (&request.operation, &request.old_object) {
        let before = mapping::requests(kind, old, &cx);
        match lifecycle::change(kind, old, object, &before, &items) {
            // Deletion waits on the finalizers: changing them (or any metadata no control
            // reads) must never be blocked, whatever the object.
            lifecycle::Change::Metadata if object.metadata.deletion_timestamp.is_some() => {
                return Ok(None);
            }
            lifecycle::Change::Metadata | lifecycle::Change::WindDown
                if matches!(kind, mapping::Kind::Pod | mapping::Kind::Template(_)) =>
            {
                action = lifecycle::SCALE_DOWN_WORKLOAD;
                for item in &mut items {
                    action.clone_into(&mut item.request.action);
                }
            }
            _ => {}
        }
    }
    Ok((!items.is_empty()).then_some((action, items)))
}

/// Decides every request of a review within the review's deadline; the first failure wins.
async fn decide_all(state: &AppState, items: Vec<mapping::Item>) -> Outcome {
    let deadline = state.kubernetes.review_deadline;
    let all = async {
        let mut decided = Vec::with_capacity(items.len());
        for item in items {
            match state
                .decide(Front::Kubernetes, Decide::Typed(item.request))
                .await
            {
                Ok(decision) => decided.push((item.subject, decision)),
                Err(err) => {
                    let message = err.to_string();
                    return Outcome::Fault(err, message);
                }
            }
        }
        Outcome::Decided(decided)
    };
    match tokio::time::timeout(deadline, all).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Fault(
            ServeError::Engine(Error::Timeout(deadline)),
            format!(
                "no decision within the review deadline of {} ms",
                deadline.as_millis()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_as_they_are_spelled_and_an_unknown_one_is_named() {
        for (name, mode) in Mode::ALL {
            assert_eq!(Mode::parse(name), Ok(mode));
            assert_eq!(mode.as_str(), name);
        }
        let err = Mode::parse("enforcing").unwrap_err();
        assert_eq!(err, UnknownMode("enforcing".to_owned()));
        assert_eq!(
            err.to_string(),
            "unknown mode `enforcing` in the webhook path: use `/validate/enforce`, `/validate/warn` or `/validate/audit`"
        );
    }
}
