//! From Kubernetes objects to typed requests: the mapping of `controls.md` ("Control planes →
//! Kubernetes admission").
//!
//! | object | action | resource |
//! |---|---|---|
//! | Pod, and the pod template of Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob | `provision_workload` | `Workload` |
//! | Service of type LoadBalancer or NodePort, or with `externalIPs` | `allocate_public_ip` | `PublicIp` |
//! | Ingress, one request per rule host and `tls.hosts` entry; `*` for a rule without host or a `defaultBackend` | `bind_domain` | `Domain` |
//! | PersistentVolumeClaim | `place_data` | `Dataset` |
//! | Gateway (Gateway API): the address, and one request per listener `hostname` (`*` without one) | `allocate_public_ip`, `bind_domain` | `PublicIp`, `Domain` |
//! | HTTPRoute, GRPCRoute, TLSRoute: one request per `hostnames` entry (`*` without any); ListenerSet: per listener `hostname` | `bind_domain` | `Domain` |
//! | Ingress, Service, Gateway, routes: the names of [`HOST_ANNOTATIONS`] (ingress-nginx's `server-alias`, external-dns's `hostname`) | `bind_domain` | `Domain` |
//!
//! A workload is decided once per region it may run in ([`regions`]), a claim once per region its
//! data may be in ([`claim_regions`]); a workload's `privileged` and `host_access` are the Pod
//! Security Standards' baseline ([`baseline`]).
//!
//! The principal is the tenant that owns the namespace (`Context::tenant`). Any other kind (and a Service of
//! another type) maps to nothing and is allowed without running the policies. [`KINDS`] lists every kind
//! decided, with its API group and resource, for the webhook configuration. Namespaces are decided by
//! the front end itself (who may change a `yungui.io/*` label), not by the policies.
//!
//! One private module per concern, their public items re-exported here: `kinds` (what is decided,
//! and where each kind keeps it), `workloads` (pods and pod templates), `placement` (the regions a
//! pod or a claim's data may be in: region, zone, node and storage class keys), `security` (the
//! Pod Security Standards' baseline as a workload's `privileged` and `host_access`), `network`
//! (Service, Ingress, Gateway API) and `storage` (claims). The entities are built by
//! [`yungui::vocabulary`], as every front end builds them.

mod kinds;
mod network;
mod placement;
mod security;
mod storage;
#[cfg(test)]
mod tests;
mod workloads;

use std::collections::BTreeMap;

use kube_core::DynamicObject;
use serde_json::Value;

use yungui::bindings::types;
use yungui::registry::Registry;
use yungui::vocabulary;

pub use kinds::{GATEWAY_API, GATEWAY_API_EXPERIMENTAL, KINDS, Kind};
pub use network::{ANY_HOST, FROM_TO_WWW, HOST_ANNOTATIONS, exposed, hosts, ingress_hosts};
pub use placement::{
    ANY_REGION, DEPRECATED_REGION, DEPRECATED_ZONE, NODE_HOSTNAME, NODE_NAME_FIELD, NODE_REGION,
    NODE_ZONE, Topology, UNKNOWN_REGION, claim_regions, regions, unknown_region,
};
pub use security::{
    BASELINE, BASELINE_CAPABILITIES, BASELINE_SELINUX_TYPES, BASELINE_SYSCTLS, Violation, baseline,
    baseline_of, host_access, privileged,
};
pub use storage::serves_domestic_users;

use network::{domain, public_ip};
use placement::region_subject;
use storage::dataset;
use workloads::workloads;

/// Label (on the object or its pod template): the workload's purpose.
pub const PURPOSE: &str = "yungui.io/purpose";
/// Label or annotation: the dataset's classes, comma separated.
pub const DATA_CLASS: &str = "yungui.io/data-class";
/// Annotation: the public IP's carrier.
pub const CARRIER: &str = "yungui.io/carrier";
/// Annotation: the region of a public IP or a dataset.
pub const REGION: &str = "yungui.io/region";
/// Annotation: `"true"` when the volume is encrypted.
pub const ENCRYPTED: &str = "yungui.io/encrypted";
/// Annotation: `"true"` when the volume is backed up.
pub const BACKUP: &str = "yungui.io/backup";
/// Annotation: `"true"` or `"false"`, whether the data's subjects are domestic.
pub const SUBJECTS_DOMESTIC: &str = "yungui.io/subjects-domestic";

/// What the mapping needs besides the object.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The object's namespace.
    pub namespace: &'a str,
    /// The tenant that owns the namespace (the principal and the resource's owner).
    pub tenant: &'a str,
    /// The cluster's region: of a pod, in a one-region cluster, and of a Service without a region
    /// annotation.
    pub cluster_region: &'a str,
    /// What the cluster spans, when its nodes (or its storage) are in several regions.
    pub topology: &'a Topology,
    /// `context.now`.
    pub now: &'a str,
    /// The registry in force, for the tenant's `serves_domestic_users`.
    pub registry: Option<&'a Registry>,
}

/// One decision to ask for, and what it is about when one object asks for several.
#[derive(Debug, PartialEq, Eq)]
pub struct Item {
    /// E.g. `host www.shop.example.cn` for an Ingress; `None` when the object makes one request.
    pub subject: Option<String>,
    /// The request.
    pub request: types::Request,
}

/// The requests an object of `kind` makes (none for a Service that is not a LoadBalancer or an
/// Ingress without hosts).
pub fn requests(kind: Kind, object: &DynamicObject, cx: &Context<'_>) -> Vec<Item> {
    let id = object_id(cx.namespace, object);
    match kind {
        Kind::Pod => workloads(
            &id,
            object.data.get("spec"),
            object.metadata.labels.as_ref(),
            None,
            &baseline_of(kind, object),
            cx,
        ),
        Kind::Template(pointer) => {
            let template = object.data.pointer(pointer);
            let template_labels = template.and_then(|t| t.pointer("/metadata/labels"));
            workloads(
                &id,
                template.and_then(|t| t.get("spec")),
                object.metadata.labels.as_ref(),
                template_labels,
                &baseline_of(kind, object),
                cx,
            )
        }
        Kind::Service => {
            let mut items = Vec::new();
            if exposed(object) {
                items.push(one(public_ip(&id, object, cx)));
            }
            items.extend(domains(hosts(kind, object), cx));
            items
        }
        Kind::Ingress | Kind::Route | Kind::ListenerSet => domains(hosts(kind, object), cx),
        Kind::Gateway => {
            let mut items = vec![Item {
                subject: Some("address".to_owned()),
                request: public_ip(&id, object, cx),
            }];
            items.extend(domains(hosts(kind, object), cx));
            items
        }
        Kind::Claim => {
            let regions = claim_regions(object, cx);
            let several = regions.len() > 1;
            regions
                .iter()
                .map(|region| Item {
                    subject: region_subject(region, several),
                    request: dataset(&id, object, region, cx),
                })
                .collect()
        }
        Kind::Namespace | Kind::Binding => Vec::new(),
    }
}

/// One `bind_domain` request per name, each about its host.
fn domains(hosts: Vec<String>, cx: &Context<'_>) -> Vec<Item> {
    hosts
        .into_iter()
        .map(|host| Item {
            subject: Some(format!("host `{host}`")),
            request: domain(&host, cx),
        })
        .collect()
}

fn one(request: types::Request) -> Item {
    Item {
        subject: None,
        request,
    }
}

/// `namespace/name`; a pod named by its controller has only a `generateName`.
fn object_id(namespace: &str, object: &DynamicObject) -> String {
    let name = object
        .metadata
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .or(object.metadata.generate_name.as_deref())
        .unwrap_or_default();
    format!("{namespace}/{name}")
}

/// The tenant's request for `action` on `resource`.
fn request(cx: &Context<'_>, action: &str, resource: types::Entity) -> types::Request {
    vocabulary::request(cx.tenant, action, resource, cx.now)
}

fn label<'a>(labels: Option<&'a BTreeMap<String, String>>, key: &str) -> Option<&'a str> {
    labels.and_then(|l| l.get(key)).map(String::as_str)
}

fn annotation<'a>(object: &'a DynamicObject, key: &str) -> Option<&'a str> {
    label(object.metadata.annotations.as_ref(), key)
}

fn is_true(value: Option<&Value>) -> bool {
    value.and_then(Value::as_bool) == Some(true)
}
