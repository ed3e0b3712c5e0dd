//! Pods and the pod templates of workload controllers: one `provision_workload` request on a
//! `Workload` per region the pod may run in ([`placement`](super::placement)), its
//! `privileged` and `host_access` from the baseline ([`security`](super::security)).

use std::collections::BTreeMap;

use serde_json::Value;

use yungui::bindings::types;
use yungui::vocabulary;

use super::placement::{region_subject, regions};
use super::security::Violation;
use super::{Context, Item, PURPOSE, label, request};

/// A Pod or pod template: `provision_workload` on a `Workload`, once per region it may run in.
/// The baseline controls it breaks are its `privileged` and `host_access`.
pub(super) fn workloads(
    id: &str,
    spec: Option<&Value>,
    object_labels: Option<&BTreeMap<String, String>>,
    template_labels: Option<&Value>,
    violations: &[Violation],
    cx: &Context<'_>,
) -> Vec<Item> {
    let spec = spec.unwrap_or(&Value::Null);
    let regions = regions(spec, cx.cluster_region, cx.topology);
    let several = regions.len() > 1;
    let security = Security {
        privileged: violations.iter().any(|v| !v.host),
        host_access: violations.iter().any(|v| v.host),
    };
    regions
        .iter()
        .map(|region| Item {
            subject: region_subject(region, several),
            request: workload(id, region, object_labels, template_labels, security, cx),
        })
        .collect()
}

/// A workload's host security: whether it breaks a baseline control that lifts its confinement,
/// or one that opens the host.
#[derive(Debug, Clone, Copy)]
struct Security {
    privileged: bool,
    host_access: bool,
}

/// One `provision_workload` request for a pod spec in `region`.
fn workload(
    id: &str,
    region: &str,
    object_labels: Option<&BTreeMap<String, String>>,
    template_labels: Option<&Value>,
    security: Security,
    cx: &Context<'_>,
) -> types::Request {
    // The pod template's label describes the pods; the object's own label is the fallback.
    let purpose = template_labels
        .and_then(|l| l.get(PURPOSE))
        .and_then(Value::as_str)
        .or_else(|| label(object_labels, PURPOSE));
    let workload = vocabulary::Workload {
        region,
        purpose,
        owner: cx.tenant,
        privileged: security.privileged,
        host_access: security.host_access,
    };
    request(cx, "provision_workload", workload.entity(id))
}
