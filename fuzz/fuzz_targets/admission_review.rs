//! Kubernetes admission end to end: any bytes POSTed to `/validate` of the real router (parse,
//! plan, the AdmissionReview mapping, the decisions, the answer). Never a panic; only the statuses
//! the front end documents (200, or 400 for a body that is not an AdmissionReview v1 or a review
//! that cannot be planned); every answer an AdmissionReview; never an allow for a body that does
//! not parse as an AdmissionReview; never a fault (500); never an allow for a tenant the registry
//! lacks or for a pod or pod template the policies forbid whoever asks (any baseline control
//! broken), whatever its lifecycle state (`deletionTimestamp` set) or operation (an UPDATE with
//! `oldObject`, a scale-down of one that already was): the one exception is an object being
//! deleted whose UPDATE leaves everything outside `metadata` as `oldObject` had it (its
//! finalizers must be able to go); never an allow for an object that binds a name its tenant has
//! not filed (`*` included), through any kind (Ingress, host annotations, Gateway, ListenerSet,
//! routes, Service); never an allow for anyone but a label admin (`system:masters`) turning a
//! namespace's `yungui.io/mode` away from `enforce`.
#![no_main]

use kube_core::DynamicObject;
use kube_core::admission::{AdmissionRequest, Operation};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use yungui_fuzz::server::{self, REGION, post};
use yungui_server::kubernetes::{self, mapping};

fuzz_target!(init: server::init(), |data: &[u8]| {
    let answer = post("/validate", Some("application/json"), data);
    let parsed = kubernetes::parse(data);
    let body = String::from_utf8_lossy(&answer.body);
    let review: Value = serde_json::from_slice(&answer.body)
        .unwrap_or_else(|e| panic!("status {}: the answer is not JSON ({e}): {body}", answer.status));
    assert_eq!(review["apiVersion"], "admission.k8s.io/v1", "{body}");
    assert_eq!(review["kind"], "AdmissionReview", "{body}");
    let response = &review["response"];
    let allowed = response["allowed"]
        .as_bool()
        .unwrap_or_else(|| panic!("no `response.allowed`: {body}"));
    let code = response.pointer("/status/code").and_then(Value::as_u64);
    match answer.status {
        200 => {
            let request = parsed
                .as_ref()
                .unwrap_or_else(|e| panic!("200 for a body that is not an AdmissionReview ({e}): {body}"));
            assert_eq!(response["uid"], request.uid.as_str(), "{body}");
            assert_ne!(code, Some(500), "a fault: {body}");
            // A `yungui.io/mode` value of no mode (a Namespace labelled so) is refused as a bad
            // request, `fault: mislabelled`: the label's fault, not the webhook's.
            let fault = response.pointer("/auditAnnotations/fault");
            assert!(
                fault.is_none() || (fault == Some(&Value::from("mislabelled")) && code == Some(400)),
                "a fault: {body}"
            );
            if allowed {
                assert!(
                    !forbidden_pod(request),
                    "allowed a privileged pod or one with host access: {body}"
                );
                if let Some(host) = unfiled_host(request) {
                    panic!("allowed binding `{host}`, which its tenant has not filed: {body}");
                }
                if let Some(change) = loosened_mode(request) {
                    panic!("allowed a non-admin to {change}: {body}");
                }
                if let Some(tenant) = decided_tenant(request) {
                    assert!(
                        server::registry().get("Cloud::Tenant", &tenant).is_some(),
                        "allowed for tenant `{tenant}`, which is not in the registry: {body}"
                    );
                }
            } else {
                assert!(
                    matches!(code, Some(400 | 403)),
                    "refused with code {code:?}: {body}"
                );
            }
        }
        400 => {
            assert!(!allowed, "a 400 that allows: {body}");
            assert_eq!(code, Some(400), "{body}");
        }
        status => panic!("status {status}: {body}"),
    }
});

/// The kind, object and namespace of a review the policies are asked about (as `plan` chooses):
/// a CREATE or UPDATE of a mapped kind (or its ephemeral containers), outside the exempt
/// namespaces, other than [`finishing_deletion`]; `None` when the review is allowed without them.
fn reviewed(
    request: &AdmissionRequest<DynamicObject>,
) -> Option<(mapping::Kind, &DynamicObject, &str)> {
    if matches!(request.operation, Operation::Delete | Operation::Connect) {
        return None;
    }
    let kind = mapping::Kind::of(&request.kind.group, &request.kind.kind)?;
    if request
        .sub_resource
        .as_deref()
        .is_some_and(|s| !s.is_empty() && s != "ephemeralcontainers")
    {
        return None;
    }
    let object = request.object.as_ref()?;
    if finishing_deletion(request, object) {
        return None;
    }
    let namespace = request
        .namespace
        .as_deref()
        .filter(|n| !n.is_empty())
        .or(object.metadata.namespace.as_deref())
        .unwrap_or_default();
    if kubernetes::SYSTEM_NAMESPACES.contains(&namespace) {
        return None;
    }
    Some((kind, object, namespace))
}

/// An UPDATE of an object being deleted that leaves everything outside `metadata` equal to
/// `oldObject`: what deletion needs (the finalizers going), let through unseen. (The webhook
/// also asks that no label or annotation the policies read changes: it lets through fewer.)
fn finishing_deletion(request: &AdmissionRequest<DynamicObject>, object: &DynamicObject) -> bool {
    matches!(request.operation, Operation::Update)
        && object.metadata.deletion_timestamp.is_some()
        && request
            .old_object
            .as_ref()
            .is_some_and(|old| old.data == object.data)
}

/// The tenant a review is decided for, when the policies run on it.
fn decided_tenant(request: &AdmissionRequest<DynamicObject>) -> Option<String> {
    let (kind, object, namespace) = reviewed(request)?;
    let registry = server::registry();
    let tenant = registry.tenant_of_namespace(namespace).into_owned();
    let cx = mapping::Context {
        namespace,
        tenant: &tenant,
        cluster_region: REGION,
        topology: &mapping::Topology::default(),
        now: "2026-11-30T08:00:00Z",
        registry: Some(&registry),
    };
    let planned = !tenant.is_empty() && !mapping::requests(kind, object, &cx).is_empty();
    planned.then_some(tenant)
}

/// Whether the review asks to run a pod spec that the shipped policies forbid whoever asks
/// (`art12-host-security`: any control of the Pod Security Standards' baseline broken).
fn forbidden_pod(request: &AdmissionRequest<DynamicObject>) -> bool {
    let Some((kind, object, _)) = reviewed(request) else {
        return false;
    };
    !mapping::baseline_of(kind, object).is_empty()
}

/// A name the reviewed object binds ([`mapping::hosts`]) that no `icp_domains` entry of its
/// tenant covers (`*` never is). Names that are not ASCII are left out: the engine converts them
/// to punycode first, which this check does not repeat.
fn unfiled_host(request: &AdmissionRequest<DynamicObject>) -> Option<String> {
    let (kind, object, namespace) = reviewed(request)?;
    let registry = server::registry();
    let tenant = registry.tenant_of_namespace(namespace).into_owned();
    let filed: Vec<String> = registry
        .get("Cloud::Tenant", &tenant)
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .and_then(|entity| entity.pointer("/attrs/icp_domains").cloned())
        .and_then(|domains| serde_json::from_value(domains).ok())
        .unwrap_or_default();
    mapping::hosts(kind, object).into_iter().find(|host| {
        if host == mapping::ANY_HOST {
            return true;
        }
        if !host.is_ascii() {
            return false;
        }
        let mut rest = host.as_str();
        loop {
            if filed.iter().any(|f| f == rest) {
                return false;
            }
            match rest.split_once('.') {
                Some((_, tail)) => rest = tail,
                None => return true,
            }
        }
    })
}

/// For a Namespace review by anyone outside `system:masters` (the default label admins), a change
/// of `yungui.io/mode` to anything but `enforce`, described; `None` otherwise.
fn loosened_mode(request: &AdmissionRequest<DynamicObject>) -> Option<String> {
    if mapping::Kind::of(&request.kind.group, &request.kind.kind) != Some(mapping::Kind::Namespace)
        || !matches!(request.operation, Operation::Create | Operation::Update)
    {
        return None;
    }
    let groups = request.user_info.groups.as_deref().unwrap_or_default();
    if groups.iter().any(|g| g == "system:masters") {
        return None;
    }
    let object = request.object.as_ref()?;
    let name = object
        .metadata
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(&request.name);
    if kubernetes::SYSTEM_NAMESPACES.contains(&name) {
        return None;
    }
    let mode = |o: Option<&DynamicObject>| {
        o.and_then(|o| o.metadata.labels.as_ref())
            .and_then(|l| l.get(kubernetes::MODE_LABEL))
            .cloned()
    };
    let before = mode(
        request
            .old_object
            .as_ref()
            .filter(|_| request.operation == Operation::Update),
    );
    let after = mode(Some(object));
    (before != after && after.as_deref() != Some("enforce")).then(|| {
        format!(
            "change `{}` from {before:?} to {after:?}",
            kubernetes::MODE_LABEL
        )
    })
}
