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

use std::collections::BTreeMap;

use kube_core::DynamicObject;
use serde_json::Value;

use yungui::bindings::build::{attr, entity, uid};
use yungui::bindings::types;
use yungui::registry::Registry;

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
/// Node label: the node's region.
pub const NODE_REGION: &str = "topology.kubernetes.io/region";
/// Node label: the node's region, by its deprecated name (still set by some providers, and still
/// matched by the scheduler).
pub const DEPRECATED_REGION: &str = "failure-domain.beta.kubernetes.io/region";
/// Node label: the node's zone.
pub const NODE_ZONE: &str = "topology.kubernetes.io/zone";
/// Node label: the node's zone, by its deprecated name.
pub const DEPRECATED_ZONE: &str = "failure-domain.beta.kubernetes.io/zone";
/// Node label: the node's host name (the node's name, unless the kubelet was told otherwise).
pub const NODE_HOSTNAME: &str = "kubernetes.io/hostname";
/// The node field a `matchFields` requirement may name (the only one the API server accepts).
pub const NODE_NAME_FIELD: &str = "metadata.name";

/// Where a kind keeps what yungui reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Pod: the pod spec is `spec`.
    Pod,
    /// A kind with a pod template at this JSON pointer.
    Template(&'static str),
    /// A Service (only type LoadBalancer maps to a request).
    Service,
    /// An Ingress: one request per rule host.
    Ingress,
    /// A PersistentVolumeClaim.
    Claim,
    /// A Gateway API Gateway: a public address, and the names its listeners serve.
    Gateway,
    /// A Gateway API route with `spec.hostnames` (HTTPRoute, GRPCRoute, TLSRoute).
    Route,
    /// A Gateway API ListenerSet: listeners added to a Gateway, with their names.
    ListenerSet,
    /// A Namespace: who may change its `yungui.io/*` labels (decided by the front end, not the
    /// policies; [`requests`] makes none).
    Namespace,
    /// A Binding: the node a pod is placed on (decided by the front end: who may bind, in a
    /// cluster whose nodes span regions; [`requests`] makes none).
    Binding,
}

/// The Gateway API's group.
pub const GATEWAY_API: &str = "gateway.networking.k8s.io";
/// The Gateway API's experimental group (`XListenerSet` before ListenerSet reached `v1`).
pub const GATEWAY_API_EXPERIMENTAL: &str = "gateway.networking.x-k8s.io";

/// The pod template of a workload controller.
const TEMPLATE: Kind = Kind::Template("/spec/template");
/// The pod template of a CronJob's jobs.
const JOB_TEMPLATE: Kind = Kind::Template("/spec/jobTemplate/spec/template");

/// Every kind yungui decides: API group, kind, resource (as the webhook configuration's rules
/// name it), and where the kind keeps what yungui reads. [`Kind::of`] reads this list, and a test
/// checks `deploy/kubernetes` against it.
pub const KINDS: [(&str, &str, &str, Kind); 24] = [
    ("", "Pod", "pods", Kind::Pod),
    (
        "",
        "ReplicationController",
        "replicationcontrollers",
        TEMPLATE,
    ),
    ("apps", "Deployment", "deployments", TEMPLATE),
    ("apps", "StatefulSet", "statefulsets", TEMPLATE),
    ("apps", "DaemonSet", "daemonsets", TEMPLATE),
    ("apps", "ReplicaSet", "replicasets", TEMPLATE),
    ("batch", "Job", "jobs", TEMPLATE),
    ("batch", "CronJob", "cronjobs", JOB_TEMPLATE),
    ("", "Service", "services", Kind::Service),
    ("networking.k8s.io", "Ingress", "ingresses", Kind::Ingress),
    ("extensions", "Ingress", "ingresses", Kind::Ingress),
    (
        "",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        Kind::Claim,
    ),
    (GATEWAY_API, "Gateway", "gateways", Kind::Gateway),
    (GATEWAY_API, "HTTPRoute", "httproutes", Kind::Route),
    (GATEWAY_API, "GRPCRoute", "grpcroutes", Kind::Route),
    (GATEWAY_API, "TLSRoute", "tlsroutes", Kind::Route),
    (
        GATEWAY_API,
        "ListenerSet",
        "listenersets",
        Kind::ListenerSet,
    ),
    (
        GATEWAY_API_EXPERIMENTAL,
        "XListenerSet",
        "xlistenersets",
        Kind::ListenerSet,
    ),
    ("", "Namespace", "namespaces", Kind::Namespace),
    // Ephemeral containers are a subresource of pods, read as the Pod they are added to.
    ("", "Pod", "pods/ephemeralcontainers", Kind::Pod),
    // Labels change through these subresources too.
    ("", "Namespace", "namespaces/status", Kind::Namespace),
    ("", "Namespace", "namespaces/finalize", Kind::Namespace),
    // Placing a pod on a node: the scheduler's `pods/binding`, and the older `bindings` resource.
    ("", "Binding", "pods/binding", Kind::Binding),
    ("", "Binding", "bindings", Kind::Binding),
];

impl Kind {
    /// The kind yungui maps, by API group and kind ([`KINDS`]); `None` for every other kind.
    pub fn of(group: &str, kind: &str) -> Option<Self> {
        KINDS
            .iter()
            .find(|(g, k, _, _)| *g == group && *k == kind)
            .map(|(_, _, _, decided)| *decided)
    }

    /// The action this kind's objects ask for (a Gateway asks for its address first).
    pub fn action(self) -> &'static str {
        match self {
            Self::Pod | Self::Template(_) => "provision_workload",
            Self::Service | Self::Gateway => "allocate_public_ip",
            Self::Ingress | Self::Route | Self::ListenerSet => "bind_domain",
            Self::Claim => "place_data",
            Self::Namespace => "label_namespace",
            Self::Binding => "bind_pod",
        }
    }
}

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

fn request(cx: &Context<'_>, action: &str, resource: types::Entity) -> types::Request {
    types::Request {
        principal: uid("Cloud::Tenant", cx.tenant),
        action: action.to_owned(),
        resource,
        context: vec![attr("now", types::Value::Datetime(cx.now.to_owned()))],
        entities: Vec::new(),
    }
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

/// A region that cannot be named: a node affinity term that allows regions by exclusion or
/// existence (`NotIn`, `Exists`...). No registry holds it, so the request is denied
/// (`registry-missing`), naming it.
pub const ANY_REGION: &str = "*";

/// How a region the operator's maps cannot resolve begins: `unknown:zone/eu-1a`,
/// `unknown:node/worker-7`, `unknown:storage class/standard`. No registry holds such a region, so
/// the request is denied (`registry-missing`) naming what has no known region: unknown never
/// allows.
pub const UNKNOWN_REGION: &str = "unknown:";

/// A region no map resolves: `unknown:{what}/{name}` (see [`UNKNOWN_REGION`]).
pub fn unknown_region(what: &str, name: &str) -> String {
    format!("{UNKNOWN_REGION}{what}/{name}")
}

/// What the cluster spans, as the operator says (`--cluster-zone-map`, `--cluster-node-map`,
/// `--storage-class-map`; each a [`crate::region_map`] file). Every map follows one rule:
/// without it, what it would name can be anywhere the cluster is ([`Topology::regions`]); with it,
/// a name it lacks is unknown ([`unknown_region`]) and denied.
///
/// Empty (the default), the cluster is in one region, `--cluster-region`: zones and nodes do not
/// change where a pod runs, and every storage class keeps its data there. Only a node label that
/// names a region (`topology.kubernetes.io/region` and its deprecated twin) places a pod
/// elsewhere.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// Zone (`topology.kubernetes.io/zone`, `failure-domain.beta.kubernetes.io/zone`) → region.
    pub zones: BTreeMap<String, String>,
    /// Node (`spec.nodeName`, `kubernetes.io/hostname`, `matchFields` on `metadata.name`) → region.
    pub nodes: BTreeMap<String, String>,
    /// Storage class (a claim's `storageClassName`) → the region its volumes are in.
    pub storage_classes: BTreeMap<String, String>,
}

impl Topology {
    /// The maps in these files; each left out is empty. A file that cannot be read or is not a
    /// map of names to regions is an error naming the file and the option.
    pub fn load(
        zones: Option<&std::path::Path>,
        nodes: Option<&std::path::Path>,
        storage_classes: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        use crate::region_map::read;
        let map = |path: Option<&std::path::Path>, what: &str, flag: &str| {
            path.map_or_else(|| Ok(BTreeMap::new()), |p| read(p, what, flag))
        };
        Ok(Self {
            zones: map(zones, "zone", "--cluster-zone-map")?,
            nodes: map(nodes, "node", "--cluster-node-map")?,
            storage_classes: map(storage_classes, "storage class", "--storage-class-map")?,
        })
    }

    /// Whether the cluster's nodes span regions: a zone or node map is given.
    pub fn spans_regions(&self) -> bool {
        !self.zones.is_empty() || !self.nodes.is_empty()
    }

    /// Every region a pod of the cluster may run in: the regions of the zone and node maps, in
    /// order, each once; `cluster_region` alone in a one-region cluster.
    pub fn regions(&self, cluster_region: &str) -> Vec<String> {
        if !self.spans_regions() {
            return vec![cluster_region.to_owned()];
        }
        let mut out: Vec<String> = Vec::new();
        for region in self.zones.values().chain(self.nodes.values()) {
            if !out.contains(region) {
                out.push(region.clone());
            }
        }
        out
    }

    /// The region of a name in `map`: the map's, or unknown when the map lacks it; `None` (no
    /// constraint: anywhere the cluster is) without a map.
    fn resolve(map: &BTreeMap<String, String>, what: &str, name: &str) -> Option<String> {
        if map.is_empty() {
            return None;
        }
        Some(
            map.get(name)
                .cloned()
                .unwrap_or_else(|| unknown_region(what, name)),
        )
    }
}

/// The regions a node requirement allows: `None` when it does not constrain the region, else
/// the list (which may hold [`ANY_REGION`] or unknown regions, see [`vague`]).
type Allowed = Option<Vec<String>>;

/// A region that stands for regions that cannot be named: [`ANY_REGION`] or an unknown one.
fn vague(region: &str) -> bool {
    region == ANY_REGION || region.starts_with(UNKNOWN_REGION)
}

/// Both requirements hold: the regions both allow. A vague region may be any region, so it
/// meets every named region of the other side; two vague sides keep their vague regions (they
/// are denied, naming them).
fn meet(a: Allowed, b: Allowed) -> Allowed {
    let (a, b) = match (a, b) {
        (None, other) | (other, None) => return other,
        (Some(a), Some(b)) => (a, b),
    };
    let a_vague = a.iter().any(|r| vague(r));
    let b_vague = b.iter().any(|r| vague(r));
    let mut out: Vec<String> = Vec::new();
    let mut add = |region: &String| {
        if !out.contains(region) {
            out.push(region.clone());
        }
    };
    for region in a.iter().filter(|r| !vague(r)) {
        if b_vague || b.contains(region) {
            add(region);
        }
    }
    for region in b.iter().filter(|r| !vague(r)) {
        if a_vague {
            add(region);
        }
    }
    if a_vague && b_vague {
        a.iter().chain(&b).filter(|r| vague(r)).for_each(&mut add);
    }
    Some(out)
}

/// The regions one requirement on a node label or field allows (`key` `operator` `values`):
/// region labels name them, zone labels and node names are resolved through the operator's maps.
/// `None` when `key` says nothing about the region, or names zones or nodes without a map for
/// them (they are anywhere the cluster is).
fn requirement(key: &str, operator: Option<&str>, values: &[&str], topology: &Topology) -> Allowed {
    let (map, what) = match key {
        NODE_REGION | DEPRECATED_REGION => {
            return Some(match operator {
                Some("In") => values.iter().map(|v| (*v).to_owned()).collect(),
                _ => vec![ANY_REGION.to_owned()],
            });
        }
        NODE_ZONE | DEPRECATED_ZONE => (&topology.zones, "zone"),
        NODE_HOSTNAME | NODE_NAME_FIELD => (&topology.nodes, "node"),
        _ => return None,
    };
    if map.is_empty() {
        return None;
    }
    Some(match operator {
        Some("In") => values
            .iter()
            .filter_map(|v| Topology::resolve(map, what, v))
            .collect(),
        _ => vec![ANY_REGION.to_owned()],
    })
}

/// The requirements of one node selector term, all of which hold: its `matchExpressions` (node
/// labels) and `matchFields` (`metadata.name`).
fn term_regions(term: &Value, topology: &Topology) -> Allowed {
    let mut allowed: Allowed = None;
    for list in ["matchExpressions", "matchFields"] {
        for expression in term
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(key) = expression.get("key").and_then(Value::as_str) else {
                continue;
            };
            // A label named `metadata.name` is a label, not the node's name.
            if (list == "matchFields") != (key == NODE_NAME_FIELD) {
                continue;
            }
            let values: Vec<&str> = expression
                .get("values")
                .and_then(Value::as_array)
                .map(|v| v.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let operator = expression.get("operator").and_then(Value::as_str);
            allowed = meet(allowed, requirement(key, operator, &values, topology));
        }
    }
    allowed
}

/// The regions a pod may be scheduled in. What its node must match, all at once: its
/// `nodeSelector` (region, zone and host name labels, by current and deprecated names), its
/// `spec.nodeName`, and one of its required node affinity terms (each term is one way to
/// schedule; `matchExpressions` on those labels and `matchFields` on `metadata.name`). `In` names
/// regions, zones or nodes, any other operator on those keys allows [`ANY_REGION`]. Zones and
/// nodes are resolved through the operator's [`Topology`] (a name it lacks is an unknown region);
/// in a one-region cluster they do not constrain the region.
///
/// A way to schedule that does not constrain the region is every region of the cluster
/// ([`Topology::regions`]: the cluster's region, in a one-region cluster). The regions its
/// preferred terms name (within the node selector) are places the pod may go too.
/// `topologySpreadConstraints` and pod (anti-)affinity only choose among the nodes these allow,
/// so they add no region. Never none: a pod whose requirements allow no region is decided in
/// every region of the cluster.
pub fn regions(spec: &Value, cluster_region: &str, topology: &Topology) -> Vec<String> {
    let mut base: Allowed = None;
    if let Some(selector) = spec.get("nodeSelector").and_then(Value::as_object) {
        // Labels only: a label named `metadata.name` is not the node's name.
        for (key, value) in selector.iter().filter(|(k, _)| *k != NODE_NAME_FIELD) {
            let value = value.as_str().unwrap_or_default();
            base = meet(base, requirement(key, Some("In"), &[value], topology));
        }
    }
    if let Some(node) = spec
        .get("nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        base = meet(
            base,
            requirement(NODE_NAME_FIELD, Some("In"), &[node], topology),
        );
    }
    let affinity = spec.pointer("/affinity/nodeAffinity");
    let terms = |pointer: &str| {
        affinity
            .and_then(|a| a.pointer(pointer))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    let everywhere = topology.regions(cluster_region);
    let mut out: Vec<String> = Vec::new();
    let mut add = |regions: &[String]| {
        for region in regions {
            if !out.contains(region) {
                out.push(region.clone());
            }
        }
    };
    let required = terms("/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms");
    let ways: Vec<Allowed> = if required.is_empty() {
        vec![base.clone()]
    } else {
        required
            .iter()
            .map(|term| meet(base.clone(), term_regions(term, topology)))
            .collect()
    };
    for way in ways {
        match way {
            None => add(&everywhere),
            Some(regions) => add(&regions),
        }
    }
    for preferred in terms("/preferredDuringSchedulingIgnoredDuringExecution") {
        let preference = preferred
            .get("preference")
            .and_then(|p| term_regions(p, topology));
        if preference.is_some()
            && let Some(regions) = meet(base.clone(), preference)
        {
            add(&regions);
        }
    }
    // No way can be met (requirements that exclude one another): the pod can run nowhere, yet it
    // is decided, everywhere, so that no other control is skipped. Without a region there would
    // be no request, and the pod would be allowed unseen.
    if out.is_empty() {
        return everywhere;
    }
    out
}

/// The regions a PersistentVolumeClaim's data may be in. The operator's storage class map
/// decides (`--storage-class-map`): the claim's `storageClassName` there, or unknown when the
/// map lacks it (or the claim names no class); without a map, every region of the cluster
/// (the cluster's region, in a one-region cluster). A `volumeName` binds only a volume of the
/// claim's class, so the class decides for it too.
///
/// The tenant's `yungui.io/region` annotation is the tenant's word, not the operator's: it never
/// replaces the class's region (a tenant could name a domestic region for a class whose volumes
/// are abroad). A region it names is decided as well: a tenant that says its data is there is
/// held to it.
pub fn claim_regions(object: &DynamicObject, cx: &Context<'_>) -> Vec<String> {
    let class = object
        .data
        .pointer("/spec/storageClassName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let classes = &cx.topology.storage_classes;
    let mut out = if classes.is_empty() {
        cx.topology.regions(cx.cluster_region)
    } else if class.is_empty() {
        vec![unknown_region("storage class", "(none)")]
    } else {
        vec![
            Topology::resolve(classes, "storage class", class)
                .unwrap_or_else(|| unknown_region("storage class", class)),
        ]
    };
    if let Some(region) = annotation(object, REGION)
        && !out.iter().any(|r| r == region)
    {
        out.push(region.to_owned());
    }
    out
}

/// What an item is about, when its object makes several or its region is unknown.
fn region_subject(region: &str, several: bool) -> Option<String> {
    if let Some(what) = region.strip_prefix(UNKNOWN_REGION) {
        let (what, name) = what.split_once('/').unwrap_or((what, ""));
        return Some(format!(
            "region unknown ({what} `{name}` is in no region of the operator's {what} map)"
        ));
    }
    several.then(|| format!("region `{region}`"))
}

/// A Pod or pod template: `provision_workload` on a `Workload`, once per region it may run in.
/// The baseline controls it breaks are its `privileged` and `host_access`.
fn workloads(
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
    let mut attrs = vec![attr("region", entity("Cloud::Region", region))];
    if let Some(purpose) = purpose {
        attrs.push(attr("purpose", types::Value::String(purpose.to_owned())));
    }
    attrs.push(attr("owner", entity("Cloud::Tenant", cx.tenant)));
    attrs.push(attr(
        "privileged",
        types::Value::Boolean(security.privileged),
    ));
    attrs.push(attr(
        "host_access",
        types::Value::Boolean(security.host_access),
    ));
    request(
        cx,
        "provision_workload",
        types::Entity {
            uid: uid("Cloud::Workload", id),
            attrs,
            parents: Vec::new(),
        },
    )
}

/// The Pod Security Standards, whose baseline profile is yungui's host security for pods
/// (art. 12: 主机安全): <https://kubernetes.io/docs/concepts/security/pod-security-standards/>,
/// as published for Kubernetes v1.35: every control of the "Baseline" table, with its allowed
/// values (`container_engine_t` among the SELinux types since v1.31; the `appArmorProfile` field
/// beside the annotation; the sysctls of the newer kernels' safe set).
pub const BASELINE: &str = "Pod Security Standards baseline (v1.35)";

/// The capabilities a container may add and still meet the baseline ("Capabilities"); any other
/// (`SYS_ADMIN`, `NET_ADMIN`, `ALL`...) reaches the host.
pub const BASELINE_CAPABILITIES: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// The sysctls a pod may set and still meet the baseline ("Sysctls"): namespaced, and isolated
/// from the other pods of the node.
pub const BASELINE_SYSCTLS: [&str; 10] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// The SELinux types a pod or container may set and still meet the baseline ("SELinux"); the
/// empty type is the runtime's.
pub const BASELINE_SELINUX_TYPES: [&str; 5] = [
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// One baseline control a pod spec breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The control, as the standard names it (`Seccomp`, `Host Namespaces`...).
    pub control: &'static str,
    /// Where, and the value: `container `debug`: securityContext.seccompProfile.type `Unconfined``.
    pub field: String,
    /// Whether it opens the host itself (its namespaces, paths, ports, or a HostProcess
    /// container): the workload's `host_access`. Every other control lifts the container's
    /// confinement: its `privileged`.
    pub host: bool,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.control, self.field)
    }
}

/// The pod spec's containers, init containers and ephemeral containers, each with what it is
/// called in a violation.
fn containers(spec: &Value) -> impl Iterator<Item = (String, &Value)> {
    [
        ("containers", "container"),
        ("initContainers", "init container"),
        ("ephemeralContainers", "ephemeral container"),
    ]
    .into_iter()
    .filter_map(|(list, what)| Some((what, spec.get(list).and_then(Value::as_array)?)))
    .flat_map(|(what, list)| {
        list.iter().map(move |c| {
            let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
            (format!("{what} `{name}`"), c)
        })
    })
}

/// A value as the violation shows it.
fn shown(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// Every baseline control a pod spec (and its pod's `annotations`, for AppArmor and the old
/// seccomp annotations) breaks, for the pod and each of its containers, init containers and
/// ephemeral containers. Values the standard does not list as allowed break it, whatever they
/// are: unknown never allows.
pub fn baseline<'a>(
    spec: &Value,
    annotations: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<Violation> {
    let mut out: Vec<Violation> = Vec::new();
    let mut add = |control: &'static str, field: String, host: bool| {
        out.push(Violation {
            control,
            field,
            host,
        });
    };
    // The security context of the pod, then of each container: the fields both have.
    let pod = ("pod".to_owned(), spec.get("securityContext"));
    let contexts = std::iter::once(pod)
        .chain(containers(spec).map(|(name, c)| (name, c.get("securityContext"))));
    for (who, context) in contexts {
        let Some(context) = context.filter(|c| !c.is_null()) else {
            continue;
        };
        if is_true(context.pointer("/windowsOptions/hostProcess")) {
            add(
                "HostProcess",
                format!("{who}: securityContext.windowsOptions.hostProcess `true`"),
                true,
            );
        }
        if let Some(kind) = context.pointer("/appArmorProfile/type")
            && !matches!(kind.as_str(), Some("RuntimeDefault" | "Localhost"))
        {
            add(
                "AppArmor",
                format!(
                    "{who}: securityContext.appArmorProfile.type `{}`",
                    shown(kind)
                ),
                false,
            );
        }
        if let Some(options) = context.get("seLinuxOptions").filter(|o| !o.is_null()) {
            let text = |key: &str| options.get(key).map(shown).unwrap_or_default();
            let kind = text("type");
            if !BASELINE_SELINUX_TYPES.contains(&kind.as_str()) {
                add(
                    "SELinux",
                    format!("{who}: securityContext.seLinuxOptions.type `{kind}`"),
                    false,
                );
            }
            for key in ["user", "role"] {
                let value = text(key);
                if !value.is_empty() {
                    add(
                        "SELinux",
                        format!("{who}: securityContext.seLinuxOptions.{key} `{value}`"),
                        false,
                    );
                }
            }
        }
        if let Some(kind) = context.pointer("/seccompProfile/type")
            && !matches!(kind.as_str(), Some("RuntimeDefault" | "Localhost"))
        {
            add(
                "Seccomp",
                format!(
                    "{who}: securityContext.seccompProfile.type `{}`",
                    shown(kind)
                ),
                false,
            );
        }
    }
    for key in ["hostNetwork", "hostPID", "hostIPC"] {
        if is_true(spec.get(key)) {
            add("Host Namespaces", format!("pod: {key} `true`"), true);
        }
    }
    for volume in spec
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("hostPath").is_some_and(|h| !h.is_null()))
    {
        let name = volume
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        add(
            "HostPath Volumes",
            format!("volume `{name}`: hostPath"),
            true,
        );
    }
    for sysctl in spec
        .pointer("/securityContext/sysctls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = sysctl.get("name").map(shown).unwrap_or_default();
        if !BASELINE_SYSCTLS.contains(&name.as_str()) {
            add(
                "Sysctls",
                format!("pod: securityContext.sysctls `{name}`"),
                false,
            );
        }
    }
    for (who, container) in containers(spec) {
        if is_true(container.pointer("/securityContext/privileged")) {
            add(
                "Privileged Containers",
                format!("{who}: securityContext.privileged `true`"),
                false,
            );
        }
        for cap in container
            .pointer("/securityContext/capabilities/add")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = shown(cap).to_ascii_uppercase();
            if !BASELINE_CAPABILITIES.contains(&name.strip_prefix("CAP_").unwrap_or(&name)) {
                add(
                    "Capabilities",
                    format!("{who}: securityContext.capabilities.add `{}`", shown(cap)),
                    false,
                );
            }
        }
        if let Some(mount) = container.pointer("/securityContext/procMount")
            && mount.as_str() != Some("Default")
            && !mount.is_null()
        {
            add(
                "/proc Mount Type",
                format!("{who}: securityContext.procMount `{}`", shown(mount)),
                false,
            );
        }
        for port in container
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("hostPort"))
            .filter(|h| !h.is_null() && h.as_i64() != Some(0))
        {
            add(
                "Host Ports",
                format!("{who}: ports hostPort `{port}`"),
                true,
            );
        }
    }
    for (key, value) in annotations {
        if let Some(container) = key.strip_prefix("container.apparmor.security.beta.kubernetes.io/")
            && value != "runtime/default"
            && !value.starts_with("localhost/")
        {
            add(
                "AppArmor",
                format!("container `{container}`: annotation `{key}` `{value}`"),
                false,
            );
        }
        let seccomp = key == "seccomp.security.alpha.kubernetes.io/pod"
            || key.starts_with("container.seccomp.security.alpha.kubernetes.io/");
        if seccomp
            && !matches!(value, "runtime/default" | "docker/default")
            && !value.starts_with("localhost/")
        {
            add("Seccomp", format!("annotation `{key}` `{value}`"), false);
        }
    }
    out
}

/// The annotations of a pod template (`template.metadata.annotations`), as pairs.
fn template_annotations(template: Option<&Value>) -> Vec<(&str, &str)> {
    template
        .and_then(|t| t.pointer("/metadata/annotations"))
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.as_str().unwrap_or("(not a string)")))
        .collect()
}

/// The baseline controls a Pod or the pod template of a kind breaks; none for other kinds.
pub fn baseline_of(kind: Kind, object: &DynamicObject) -> Vec<Violation> {
    match kind {
        Kind::Pod => baseline(
            object.data.get("spec").unwrap_or(&Value::Null),
            object
                .metadata
                .annotations
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        ),
        Kind::Template(pointer) => {
            let template = object.data.pointer(pointer);
            baseline(
                template.and_then(|t| t.get("spec")).unwrap_or(&Value::Null),
                template_annotations(template),
            )
        }
        _ => Vec::new(),
    }
}

/// A baseline control that lifts a container's confinement is broken (every control but those
/// of [`host_access`]), annotations aside.
pub fn privileged(spec: &Value) -> bool {
    baseline(spec, []).iter().any(|v| !v.host)
}

/// A baseline control that opens the host is broken: hostNetwork, hostPID, hostIPC, a hostPath
/// volume, a container port bound on the host (`hostPort`), or a HostProcess container.
pub fn host_access(spec: &Value) -> bool {
    baseline(spec, []).iter().any(|v| v.host)
}

/// A Service reachable from outside the cluster: type LoadBalancer or NodePort (a port on every
/// node's address), or any type with `externalIPs`.
pub fn exposed(object: &DynamicObject) -> bool {
    matches!(
        object.data.pointer("/spec/type").and_then(Value::as_str),
        Some("LoadBalancer" | "NodePort")
    ) || object
        .data
        .pointer("/spec/externalIPs")
        .and_then(Value::as_array)
        .is_some_and(|ips| !ips.is_empty())
}

/// A Service of type LoadBalancer: `allocate_public_ip` on a `PublicIp`.
fn public_ip(id: &str, object: &DynamicObject, cx: &Context<'_>) -> types::Request {
    let mut attrs = Vec::with_capacity(2);
    if let Some(carrier) = annotation(object, CARRIER) {
        attrs.push(attr("carrier", entity("Cloud::Carrier", carrier)));
    }
    let region = annotation(object, REGION).unwrap_or(cx.cluster_region);
    attrs.push(attr("region", entity("Cloud::Region", region)));
    request(
        cx,
        "allocate_public_ip",
        types::Entity {
            uid: uid("Cloud::PublicIp", id),
            attrs,
            parents: Vec::new(),
        },
    )
}

/// The name an Ingress serves when a rule has no `host` or it has a `defaultBackend`: every name
/// that resolves to it. No domain is filed as `*`, so art. 8(1) denies it, naming it.
pub const ANY_HOST: &str = "*";

/// The distinct names an Ingress serves, lowercased, in order: its rule hosts, its `tls.hosts`,
/// and [`ANY_HOST`] for a rule without host or a `defaultBackend`.
pub fn ingress_hosts(object: &DynamicObject) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    let list = |pointer: &str| {
        object
            .data
            .pointer(pointer)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    let mut add = |host: &str| {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if !host.is_empty() && !hosts.contains(&host) {
            hosts.push(host);
        }
    };
    for rule in list("/spec/rules") {
        match rule.get("host").and_then(Value::as_str) {
            Some(host) if !host.is_empty() => add(host),
            _ => add(ANY_HOST),
        }
    }
    for tls in list("/spec/tls") {
        for host in tls
            .get("hosts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            add(host);
        }
    }
    if object
        .data
        .pointer("/spec/defaultBackend")
        .or_else(|| object.data.pointer("/spec/backend"))
        .is_some_and(|b| !b.is_null())
    {
        add(ANY_HOST);
    }
    hosts
}

/// Annotations whose value names more hosts an object is served under, comma separated:
/// ingress-nginx and Kong add them to the Ingress's routes (`server-alias`, `host-aliases`, read
/// by the controllers on Ingresses only, but read here on every kind that names hosts), and
/// external-dns publishes DNS records for them (`hostname` on Services, Ingresses, Gateways and
/// routes; `internal-hostname` publishes a Service's cluster address under the name).
pub const HOST_ANNOTATIONS: [&str; 4] = [
    "nginx.ingress.kubernetes.io/server-alias",
    "konghq.com/host-aliases",
    "external-dns.alpha.kubernetes.io/hostname",
    "external-dns.alpha.kubernetes.io/internal-hostname",
];

/// ingress-nginx's annotation that also serves (redirecting) `www.` + every rule host, or the
/// host without its `www.`.
pub const FROM_TO_WWW: &str = "nginx.ingress.kubernetes.io/from-to-www-redirect";

/// Every distinct name an object of `kind` binds, lowercased, in order: an Ingress's
/// [`ingress_hosts`]; a Gateway's or ListenerSet's listener `hostname`s ([`ANY_HOST`] for a
/// listener without one, except TCP and UDP listeners, which match no name); a route's
/// `spec.hostnames` ([`ANY_HOST`] when it has none: it serves every name its listener allows);
/// a Gateway's `spec.addresses` of type `Hostname`; and for all of these and Services, the names
/// of [`HOST_ANNOTATIONS`] (on a Gateway, in `spec.infrastructure.annotations` too). Other kinds
/// bind none.
pub fn hosts(kind: Kind, object: &DynamicObject) -> Vec<String> {
    let mut hosts = match kind {
        Kind::Ingress => ingress_hosts(object),
        Kind::Gateway | Kind::ListenerSet => listener_hosts(object),
        Kind::Route => route_hosts(object),
        Kind::Service => Vec::new(),
        Kind::Pod | Kind::Template(_) | Kind::Claim | Kind::Namespace | Kind::Binding => {
            return Vec::new();
        }
    };
    let mut add = |host: &str| {
        let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
        if !host.is_empty() && !hosts.contains(&host) {
            hosts.push(host);
        }
    };
    // A Gateway's `spec.infrastructure.annotations` go onto the resources its implementation
    // makes for it (its load balancer Service, where external-dns reads them).
    let infrastructure = (kind == Kind::Gateway)
        .then(|| object.data.pointer("/spec/infrastructure/annotations"))
        .flatten();
    for key in HOST_ANNOTATIONS {
        annotation(object, key)
            .into_iter()
            .chain(
                infrastructure
                    .and_then(|a| a.get(key))
                    .and_then(Value::as_str),
            )
            .flat_map(|v| v.split([',', ' ']))
            .for_each(&mut add);
    }
    // A Gateway may ask for its address by name.
    if kind == Kind::Gateway {
        object
            .data
            .pointer("/spec/addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|a| a.get("type").and_then(Value::as_str) == Some("Hostname"))
            .filter_map(|a| a.get("value").and_then(Value::as_str))
            .for_each(&mut add);
    }
    if kind == Kind::Ingress && annotation(object, FROM_TO_WWW) == Some("true") {
        for host in ingress_hosts(object).iter().filter(|h| *h != ANY_HOST) {
            match host.strip_prefix("www.") {
                Some(bare) => add(bare),
                None => add(&format!("www.{host}")),
            }
        }
    }
    hosts
}

/// The names the listeners of a Gateway or ListenerSet serve.
fn listener_hosts(object: &DynamicObject) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    for listener in object
        .data
        .pointer("/spec/listeners")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        // Hostnames are ignored for protocols that do not match on a name.
        if matches!(
            listener.get("protocol").and_then(Value::as_str),
            Some("TCP" | "UDP")
        ) {
            continue;
        }
        let host = match listener.get("hostname").and_then(Value::as_str) {
            Some(host) if !host.trim().is_empty() => {
                host.trim().trim_end_matches('.').to_ascii_lowercase()
            }
            _ => ANY_HOST.to_owned(),
        };
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    hosts
}

/// The names a route serves: its `spec.hostnames`, or [`ANY_HOST`] without any.
fn route_hosts(object: &DynamicObject) -> Vec<String> {
    let mut hosts: Vec<String> = Vec::new();
    for host in object
        .data
        .pointer("/spec/hostnames")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        // A name that is not a string is unknown: every name.
        let host = host
            .as_str()
            .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| ANY_HOST.to_owned());
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    if hosts.is_empty() {
        hosts.push(ANY_HOST.to_owned());
    }
    hosts
}

/// An Ingress rule host: `bind_domain` on a `Domain` (the component computes its suffixes from
/// its name).
fn domain(host: &str, cx: &Context<'_>) -> types::Request {
    request(
        cx,
        "bind_domain",
        types::Entity {
            uid: uid("Cloud::Domain", host),
            attrs: vec![
                attr("name", types::Value::String(host.to_owned())),
                attr("owner", entity("Cloud::Tenant", cx.tenant)),
            ],
            parents: Vec::new(),
        },
    )
}

/// The classes named by a `yungui.io/data-class` label and annotation, together: a label value
/// cannot hold a comma, so several classes go in the annotation.
fn data_classes(object: &DynamicObject) -> Option<Vec<String>> {
    let label = label(object.metadata.labels.as_ref(), DATA_CLASS);
    let annotation = annotation(object, DATA_CLASS);
    if label.is_none() && annotation.is_none() {
        return None;
    }
    let mut classes: Vec<String> = Vec::new();
    for class in [label, annotation]
        .into_iter()
        .flatten()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        if !classes.iter().any(|c| c == class) {
            classes.push(class.to_owned());
        }
    }
    Some(classes)
}

/// The tenant's `serves_domestic_users` in the registry, if it is there.
pub fn serves_domestic_users(registry: &Registry, tenant: &str) -> Option<bool> {
    let text = registry.get("Cloud::Tenant", tenant)?;
    let entity: Value = serde_json::from_str(text).ok()?;
    entity.pointer("/attrs/serves_domestic_users")?.as_bool()
}

/// A PersistentVolumeClaim: `place_data` on a `Dataset` in `region` (see [`claim_regions`]).
fn dataset(id: &str, object: &DynamicObject, region: &str, cx: &Context<'_>) -> types::Request {
    let flag = |key: &str| annotation(object, key) == Some("true");
    let mut attrs = vec![
        attr("region", entity("Cloud::Region", region)),
        attr("owner", entity("Cloud::Tenant", cx.tenant)),
    ];
    if let Some(classes) = data_classes(object) {
        attrs.push(attr("classes", types::Value::StringSet(classes)));
    }
    let subjects_domestic = match annotation(object, SUBJECTS_DOMESTIC) {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => cx
            .registry
            .and_then(|r| serves_domestic_users(r, cx.tenant)),
    };
    if let Some(domestic) = subjects_domestic {
        attrs.push(attr("subjects_domestic", types::Value::Boolean(domestic)));
    }
    attrs.push(attr("encrypted", types::Value::Boolean(flag(ENCRYPTED))));
    attrs.push(attr("backup_enabled", types::Value::Boolean(flag(BACKUP))));
    attrs.push(attr("public", types::Value::Boolean(false)));
    request(
        cx,
        "place_data",
        types::Entity {
            uid: uid("Cloud::Dataset", id),
            attrs,
            parents: Vec::new(),
        },
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The WIT values have no `PartialEq`: compare their debug forms.
    macro_rules! assert_value {
        ($actual:expr, $expected:expr $(,)?) => {
            assert_eq!(format!("{:?}", $actual), format!("{:?}", $expected))
        };
    }

    fn object(value: Value) -> DynamicObject {
        serde_json::from_value(value).unwrap()
    }

    static ONE_REGION: Topology = Topology {
        zones: BTreeMap::new(),
        nodes: BTreeMap::new(),
        storage_classes: BTreeMap::new(),
    };

    fn cx(registry: Option<&Registry>) -> Context<'_> {
        Context {
            namespace: "shop-example",
            tenant: "shop-example",
            cluster_region: "cn-north-1",
            topology: &ONE_REGION,
            now: "2026-11-30T08:00:00Z",
            registry,
        }
    }

    fn attrs(request: &types::Request) -> BTreeMap<&str, &types::Value> {
        request
            .resource
            .attrs
            .iter()
            .map(|a| (a.name.as_str(), &a.value))
            .collect()
    }

    #[test]
    fn kinds_are_matched_by_group() {
        assert_eq!(
            Kind::of("apps", "Deployment"),
            Some(Kind::Template("/spec/template"))
        );
        assert_eq!(Kind::of("example.com", "Deployment"), None);
        assert_eq!(
            Kind::of("batch", "CronJob"),
            Some(Kind::Template("/spec/jobTemplate/spec/template"))
        );
        assert_eq!(Kind::of("", "ConfigMap"), None);
    }

    #[test]
    fn pod_template_reads_security_region_and_purpose() {
        let deployment = object(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"yungui.io/purpose": "erp"}},
            "spec": {"template": {
                "metadata": {"labels": {"yungui.io/purpose": "website"}},
                "spec": {
                    "nodeSelector": {"topology.kubernetes.io/region": "eu-west-1"},
                    "initContainers": [{"name": "i", "securityContext": {"privileged": true}}],
                    "containers": [{"name": "c"}],
                    "volumes": [{"name": "v", "hostPath": {"path": "/"}}]
                }
            }}
        }));
        let items = requests(Kind::Template("/spec/template"), &deployment, &cx(None));
        let [item] = items.as_slice() else {
            panic!("{items:?}")
        };
        let a = attrs(&item.request);
        assert_value!(
            a["region"],
            &types::Value::Entity(uid("Cloud::Region", "eu-west-1"))
        );
        assert_value!(a["purpose"], &types::Value::String("website".to_owned()));
        assert_value!(a["privileged"], &types::Value::Boolean(true));
        assert_value!(a["host_access"], &types::Value::Boolean(true));
        assert_eq!(item.request.resource.uid.id, "shop-example/web");
    }

    #[test]
    fn terms_that_allow_no_region_are_decided_in_the_cluster_region() {
        let nowhere = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": NODE_REGION, "operator": "In", "values": ["cn-north-1"]},
                {"key": NODE_REGION, "operator": "In", "values": ["eu-west-1"]}
            ]}]
        }}}});
        assert_eq!(regions(&nowhere, "cn-east-2", &ONE_REGION), ["cn-east-2"]);
        let empty = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": NODE_REGION, "operator": "In", "values": []}
            ]}]
        }}}});
        assert_eq!(regions(&empty, "cn-east-2", &ONE_REGION), ["cn-east-2"]);
    }

    #[test]
    fn missing_purpose_is_left_out() {
        let pod = object(json!({"metadata": {"generateName": "web-"}, "spec": {"containers": []}}));
        let items = requests(Kind::Pod, &pod, &cx(None));
        let a = attrs(&items[0].request);
        assert!(!a.contains_key("purpose"));
        assert_value!(
            a["region"],
            &types::Value::Entity(uid("Cloud::Region", "cn-north-1"))
        );
        assert_eq!(items[0].request.resource.uid.id, "shop-example/web-");
    }

    #[test]
    fn only_load_balancers_map() {
        let cluster_ip = object(json!({"metadata": {"name": "s"}, "spec": {"type": "ClusterIP"}}));
        assert!(requests(Kind::Service, &cluster_ip, &cx(None)).is_empty());
        let lb = object(json!({
            "metadata": {"name": "s", "annotations": {"yungui.io/carrier": "china-telecom"}},
            "spec": {"type": "LoadBalancer"}
        }));
        let items = requests(Kind::Service, &lb, &cx(None));
        let a = attrs(&items[0].request);
        assert_value!(
            a["carrier"],
            &types::Value::Entity(uid("Cloud::Carrier", "china-telecom"))
        );
    }

    #[test]
    fn claims_merge_label_and_annotation_classes_and_read_the_registry() {
        let registry = Registry::from_json(
            r#"[{"uid": {"type": "Cloud::Tenant", "id": "shop-example"}, "attrs": {"serves_domestic_users": true}, "parents": []}]"#,
        )
        .unwrap();
        let pvc = object(json!({
            "metadata": {
                "name": "data",
                "labels": {"yungui.io/data-class": "personal_info"},
                "annotations": {"yungui.io/data-class": "important_data, personal_info", "yungui.io/encrypted": "true"}
            },
            "spec": {}
        }));
        let items = requests(Kind::Claim, &pvc, &cx(Some(&registry)));
        let a = attrs(&items[0].request);
        assert_value!(
            a["classes"],
            &types::Value::StringSet(vec![
                "personal_info".to_owned(),
                "important_data".to_owned()
            ])
        );
        assert_value!(a["subjects_domestic"], &types::Value::Boolean(true));
        assert_value!(a["encrypted"], &types::Value::Boolean(true));
        assert_value!(a["backup_enabled"], &types::Value::Boolean(false));
        assert_value!(a["public"], &types::Value::Boolean(false));
        // No tenant in the registry and no annotation: left out.
        let items = requests(Kind::Claim, &pvc, &cx(None));
        assert!(!attrs(&items[0].request).contains_key("subjects_domestic"));
    }

    #[test]
    fn ingress_hosts_are_distinct_and_hostless_rules_serve_any_name() {
        let ingress = object(json!({"metadata": {"name": "i"}, "spec": {"rules": [
            {"host": "www.shop.example.cn"}, {"host": "WWW.shop.example.cn"}, {"http": {}}, {"host": "b.cn"}
        ]}}));
        assert_eq!(
            ingress_hosts(&ingress),
            ["www.shop.example.cn", "*", "b.cn"]
        );
        let default_backend = object(json!({"metadata": {"name": "i"}, "spec": {
            "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}},
            "tls": [{"hosts": ["promo.unfiled.example.com"], "secretName": "s"}]
        }}));
        assert_eq!(
            ingress_hosts(&default_backend),
            ["promo.unfiled.example.com", "*"]
        );
    }

    #[test]
    fn node_affinity_names_every_region_a_pod_may_run_in() {
        let spec = |affinity: Value| json!({"affinity": {"nodeAffinity": affinity}});
        let required = |terms: Value| {
            spec(
                json!({"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}),
            )
        };
        let region_in = |values: Value| json!({"matchExpressions": [{"key": NODE_REGION, "operator": "In", "values": values}]});
        assert_eq!(
            regions(
                &required(json!([region_in(json!(["eu-west-1"]))])),
                "cn-north-1",
                &ONE_REGION
            ),
            ["eu-west-1"]
        );
        // Terms are alternatives; a term without a region constraint is the cluster's region.
        assert_eq!(
            regions(
                &required(
                    json!([region_in(json!(["cn-east-2", "eu-west-1"])), {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}])
                ),
                "cn-north-1",
                &ONE_REGION
            ),
            ["cn-east-2", "eu-west-1", "cn-north-1"]
        );
        // Allowed by exclusion: cannot be named.
        let not_in = json!([{"matchExpressions": [{"key": NODE_REGION, "operator": "NotIn", "values": ["cn-north-1"]}]}]);
        assert_eq!(
            regions(&required(not_in), "cn-north-1", &ONE_REGION),
            [ANY_REGION]
        );
        // Preferred regions are places the pod may go too.
        let preferred = spec(json!({"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 1, "preference": region_in(json!(["ap-southeast-1"]))}
        ]}));
        assert_eq!(
            regions(&preferred, "cn-north-1", &ONE_REGION),
            ["cn-north-1", "ap-southeast-1"]
        );
        // A node selector and the affinity both hold: the selector narrows the terms.
        let mut selected = required(json!([region_in(json!(["cn-north-1", "eu-west-1"]))]));
        selected["nodeSelector"] = json!({NODE_REGION: "cn-north-1"});
        assert_eq!(regions(&selected, "cn-east-2", &ONE_REGION), ["cn-north-1"]);
        // ...and a selector that excludes the terms leaves the pod nowhere: decided everywhere.
        selected["nodeSelector"] = json!({NODE_REGION: "ap-southeast-1"});
        assert_eq!(regions(&selected, "cn-east-2", &ONE_REGION), ["cn-east-2"]);
    }

    #[test]
    fn capabilities_beyond_the_baseline_and_host_ports_reach_the_host() {
        let with_caps = |caps: Value| json!({"containers": [{"name": "c", "securityContext": {"capabilities": {"add": caps, "drop": ["ALL"]}}}]});
        for cap in ["SYS_ADMIN", "NET_ADMIN", "ALL", "cap_sys_ptrace", "BPF"] {
            assert!(privileged(&with_caps(json!([cap]))), "{cap}");
        }
        assert!(!privileged(&with_caps(json!([
            "NET_BIND_SERVICE",
            "CHOWN"
        ]))));
        let port = |p: Value| json!({"containers": [{"name": "c", "ports": [p]}]});
        assert!(host_access(&port(
            json!({"containerPort": 80, "hostPort": 80})
        )));
        assert!(!host_access(&port(json!({"containerPort": 80}))));
        assert!(host_access(
            &json!({"initContainers": [{"name": "i", "ports": [{"containerPort": 1, "hostPort": 9}]}]})
        ));
    }

    #[test]
    fn every_listed_kind_maps_and_each_kind_has_one_reading() {
        for (group, kind, resource, decided) in KINDS {
            assert_eq!(
                Kind::of(group, kind),
                Some(decided),
                "{group}/{kind} ({resource})"
            );
        }
        assert_eq!(Kind::of(GATEWAY_API, "TCPRoute"), None);
        assert_eq!(Kind::of("networking.istio.io", "Gateway"), None);
    }

    #[test]
    fn listeners_and_routes_name_their_hosts_or_every_name() {
        let gateway = object(json!({"metadata": {"name": "g"}, "spec": {"listeners": [
            {"name": "a", "protocol": "HTTPS", "hostname": "*.Shop.example.cn."},
            {"name": "b", "protocol": "HTTP"},
            {"name": "c", "protocol": "TCP", "hostname": "ignored.example.com"},
            {"name": "d", "protocol": "UDP"},
            {"name": "e", "protocol": "example.com/custom"}
        ]}}));
        assert_eq!(hosts(Kind::Gateway, &gateway), ["*.shop.example.cn", "*"]);
        let items = requests(Kind::Gateway, &gateway, &cx(None));
        let actions: Vec<_> = items.iter().map(|i| i.request.action.as_str()).collect();
        assert_eq!(
            actions,
            ["allocate_public_ip", "bind_domain", "bind_domain"]
        );
        assert_eq!(items[0].subject.as_deref(), Some("address"));
        let tcp_only = object(json!({"metadata": {"name": "g"}, "spec": {"listeners": [
            {"name": "c", "protocol": "TCP", "port": 5432}
        ]}}));
        assert_eq!(requests(Kind::Gateway, &tcp_only, &cx(None)).len(), 1);
        let named = object(json!({"metadata": {"name": "g"}, "spec": {
            "listeners": [{"name": "c", "protocol": "TCP", "port": 5432}],
            "addresses": [{"type": "IPAddress", "value": "203.0.113.9"}, {"type": "Hostname", "value": "gw.a.cn"}],
            "infrastructure": {"annotations": {"external-dns.alpha.kubernetes.io/hostname": "lb.a.cn"}}
        }}));
        assert_eq!(hosts(Kind::Gateway, &named), ["lb.a.cn", "gw.a.cn"]);

        let route = |spec: Value| object(json!({"metadata": {"name": "r"}, "spec": spec}));
        assert_eq!(hosts(Kind::Route, &route(json!({}))), [ANY_HOST]);
        assert_eq!(
            hosts(Kind::Route, &route(json!({"hostnames": []}))),
            [ANY_HOST]
        );
        assert_eq!(
            hosts(
                Kind::Route,
                &route(json!({"hostnames": ["a.cn", "A.cn", 7]}))
            ),
            ["a.cn", ANY_HOST]
        );
    }

    #[test]
    fn annotations_add_hosts_to_every_kind_that_names_them() {
        let annotated = |annotations: Value, spec: Value| {
            object(json!({"metadata": {"name": "o", "annotations": annotations}, "spec": spec}))
        };
        let ingress = annotated(
            json!({
                "nginx.ingress.kubernetes.io/server-alias": "b.cn, c.cn",
                "konghq.com/host-aliases": "e.cn",
                "external-dns.alpha.kubernetes.io/hostname": "d.cn,b.cn"
            }),
            json!({"rules": [{"host": "a.cn"}]}),
        );
        assert_eq!(
            hosts(Kind::Ingress, &ingress),
            ["a.cn", "b.cn", "c.cn", "e.cn", "d.cn"]
        );
        // A Service that is not public still publishes its name.
        let service = annotated(
            json!({"external-dns.alpha.kubernetes.io/internal-hostname": "db.unfiled.cn"}),
            json!({"type": "ClusterIP"}),
        );
        let items = requests(Kind::Service, &service, &cx(None));
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].request.action, "bind_domain");
        let www = annotated(
            json!({"nginx.ingress.kubernetes.io/from-to-www-redirect": "true"}),
            json!({"rules": [{"host": "a.cn"}, {"host": "www.b.cn"}, {}]}),
        );
        assert_eq!(
            hosts(Kind::Ingress, &www),
            ["a.cn", "www.b.cn", ANY_HOST, "www.a.cn", "b.cn"]
        );
        // Kinds that name no host read no annotation.
        let pod = annotated(
            json!({"external-dns.alpha.kubernetes.io/hostname": "x.cn"}),
            json!({}),
        );
        assert!(hosts(Kind::Pod, &pod).is_empty());
    }

    #[test]
    fn node_ports_and_external_ips_are_public() {
        let service = |spec: Value| object(json!({"metadata": {"name": "s"}, "spec": spec}));
        assert!(exposed(&service(json!({"type": "NodePort"}))));
        assert!(exposed(&service(
            json!({"type": "ClusterIP", "externalIPs": ["203.0.113.9"]})
        )));
        assert!(exposed(&service(json!({"type": "LoadBalancer"}))));
        assert!(!exposed(&service(json!({"type": "ClusterIP"}))));
        assert!(!exposed(&service(
            json!({"type": "ExternalName", "externalIPs": []})
        )));
    }

    /// Two regions: zones `cn-1a`, `eu-1a`; nodes `cn-node-1`, `eu-node-1`; classes `ssd-cn`,
    /// `ssd-eu`.
    fn two_regions() -> Topology {
        let map = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        Topology {
            zones: map(&[("cn-1a", "cn-north-1"), ("eu-1a", "eu-west-1")]),
            nodes: map(&[("cn-node-1", "cn-north-1"), ("eu-node-1", "eu-west-1")]),
            storage_classes: map(&[("ssd-cn", "cn-north-1"), ("ssd-eu", "eu-west-1")]),
        }
    }

    #[test]
    fn the_deprecated_region_key_places_a_pod_like_the_current_one() {
        let selector = json!({"nodeSelector": {DEPRECATED_REGION: "eu-west-1"}});
        assert_eq!(regions(&selector, "cn-north-1", &ONE_REGION), ["eu-west-1"]);
        let affinity = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": DEPRECATED_REGION, "operator": "In", "values": ["ap-southeast-1"]}
            ]}]
        }}}});
        assert_eq!(
            regions(&affinity, "cn-north-1", &ONE_REGION),
            ["ap-southeast-1"]
        );
        let exists = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": DEPRECATED_REGION, "operator": "Exists"}]}]
        }}}});
        assert_eq!(regions(&exists, "cn-north-1", &ONE_REGION), [ANY_REGION]);
    }

    #[test]
    fn zones_and_nodes_do_not_place_a_pod_in_a_one_region_cluster() {
        // As the DaemonSet controller pins its pods: matchFields on metadata.name.
        let daemon_pod = json!({"nodeName": "node-7", "nodeSelector": {NODE_ZONE: "cn-north-1a", NODE_HOSTNAME: "node-7"},
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-7"]}]}]
        }}}});
        assert_eq!(
            regions(&daemon_pod, "cn-north-1", &ONE_REGION),
            ["cn-north-1"]
        );
    }

    #[test]
    fn in_a_cluster_spanning_regions_zones_and_nodes_place_a_pod() {
        let topology = two_regions();
        let place = |spec: Value| regions(&spec, "cn-north-1", &topology);
        // Nowhere in particular: anywhere the cluster is.
        assert_eq!(place(json!({})), ["cn-north-1", "eu-west-1"]);
        for spec in [
            json!({"nodeName": "eu-node-1"}),
            json!({"nodeSelector": {NODE_HOSTNAME: "eu-node-1"}}),
            json!({"nodeSelector": {NODE_ZONE: "eu-1a"}}),
            json!({"nodeSelector": {DEPRECATED_ZONE: "eu-1a"}}),
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["eu-node-1"]}]}]
            }}}}),
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": NODE_ZONE, "operator": "In", "values": ["eu-1a"]}]}]
            }}}}),
        ] {
            assert_eq!(place(spec.clone()), ["eu-west-1"], "{spec}");
        }
        // A zone or node the maps lack: unknown, named.
        assert_eq!(
            place(json!({"nodeName": "node-9"})),
            [unknown_region("node", "node-9")]
        );
        assert_eq!(
            place(json!({"nodeSelector": {NODE_ZONE: "ap-1a"}})),
            [unknown_region("zone", "ap-1a")]
        );
        // A zone allowed by exclusion cannot be named.
        let not_in = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": NODE_ZONE, "operator": "NotIn", "values": ["cn-1a"]}]}]
        }}}});
        assert_eq!(place(not_in), [ANY_REGION]);
        // A known region narrows an unknown node: it can only be there.
        assert_eq!(
            place(json!({"nodeName": "node-9", "nodeSelector": {NODE_REGION: "cn-north-1"}})),
            ["cn-north-1"]
        );
        // A region selector that the node's region contradicts leaves the pod nowhere: decided
        // everywhere.
        assert_eq!(
            place(json!({"nodeName": "eu-node-1", "nodeSelector": {NODE_REGION: "cn-north-1"}})),
            ["cn-north-1", "eu-west-1"]
        );
        // A label merely named `metadata.name` is not the node's name.
        let label = json!({"nodeSelector": {"metadata.name": "eu-node-1"}});
        assert_eq!(place(label), ["cn-north-1", "eu-west-1"]);
        // Spreading over regions chooses among the nodes allowed: no region added.
        let spread = json!({"nodeName": "cn-node-1", "topologySpreadConstraints": [
            {"maxSkew": 1, "topologyKey": NODE_REGION, "whenUnsatisfiable": "DoNotSchedule"}
        ]});
        assert_eq!(place(spread), ["cn-north-1"]);
    }

    #[test]
    fn unknown_regions_name_what_has_no_region() {
        let topology = two_regions();
        let cx = Context {
            topology: &topology,
            ..cx(None)
        };
        let pod = object(json!({"metadata": {"name": "p"}, "spec": {"nodeName": "node-9"}}));
        let items = requests(Kind::Pod, &pod, &cx);
        let [item] = items.as_slice() else {
            panic!("{items:?}")
        };
        assert_eq!(
            item.subject.as_deref(),
            Some("region unknown (node `node-9` is in no region of the operator's node map)")
        );
        assert_value!(
            attrs(&item.request)["region"],
            &types::Value::Entity(uid("Cloud::Region", "unknown:node/node-9"))
        );
    }

    #[test]
    fn the_storage_class_places_a_claim_and_the_tenant_annotation_only_adds() {
        let claim = |spec: Value, annotations: Value| {
            object(json!({"metadata": {"name": "c", "annotations": annotations}, "spec": spec}))
        };
        let topology = two_regions();
        let mapped = Context {
            topology: &topology,
            ..cx(None)
        };
        let class = |name: &str| json!({"storageClassName": name, "volumeName": "pv-1"});
        assert_eq!(
            claim_regions(&claim(class("ssd-eu"), json!({})), &mapped),
            ["eu-west-1"]
        );
        // The tenant cannot bring the data home by annotation; a region it names is added.
        assert_eq!(
            claim_regions(
                &claim(class("ssd-eu"), json!({REGION: "cn-north-1"})),
                &mapped
            ),
            ["eu-west-1", "cn-north-1"]
        );
        assert_eq!(
            claim_regions(&claim(class("nfs"), json!({})), &mapped),
            [unknown_region("storage class", "nfs")]
        );
        assert_eq!(
            claim_regions(&claim(json!({}), json!({})), &mapped),
            [unknown_region("storage class", "(none)")]
        );
        // One region, no class map: the cluster's, and the tenant's word on top.
        assert_eq!(
            claim_regions(
                &claim(class("any"), json!({REGION: "eu-west-1"})),
                &cx(None)
            ),
            ["cn-north-1", "eu-west-1"]
        );
        // Nodes in two regions, no class map: anywhere the cluster is.
        let nodes_only = Topology {
            storage_classes: BTreeMap::new(),
            ..two_regions()
        };
        let spans = Context {
            topology: &nodes_only,
            ..cx(None)
        };
        assert_eq!(
            claim_regions(&claim(class("any"), json!({})), &spans),
            ["cn-north-1", "eu-west-1"]
        );
    }

    /// Each baseline control, set on a container (or the pod), breaks it; the allowed values do
    /// not.
    #[test]
    fn every_baseline_control_is_read() {
        let container =
            |context: Value| json!({"containers": [{"name": "c", "securityContext": context}]});
        let pod =
            |context: Value| json!({"securityContext": context, "containers": [{"name": "c"}]});
        let broken: Vec<(&str, Value, bool)> = vec![
            (
                "HostProcess",
                container(json!({"windowsOptions": {"hostProcess": true}})),
                true,
            ),
            (
                "HostProcess",
                pod(json!({"windowsOptions": {"hostProcess": true}})),
                true,
            ),
            ("Host Namespaces", json!({"hostPID": true}), true),
            ("Host Namespaces", json!({"hostIPC": true}), true),
            ("Host Namespaces", json!({"hostNetwork": true}), true),
            (
                "Privileged Containers",
                container(json!({"privileged": true})),
                false,
            ),
            (
                "Capabilities",
                container(json!({"capabilities": {"add": ["NET_RAW"]}})),
                false,
            ),
            (
                "HostPath Volumes",
                json!({"volumes": [{"name": "v", "hostPath": {"path": "/"}}]}),
                true,
            ),
            (
                "Host Ports",
                json!({"containers": [{"name": "c", "ports": [{"containerPort": 1, "hostPort": 1}]}]}),
                true,
            ),
            (
                "AppArmor",
                container(json!({"appArmorProfile": {"type": "Unconfined"}})),
                false,
            ),
            (
                "AppArmor",
                pod(json!({"appArmorProfile": {"type": "Unconfined"}})),
                false,
            ),
            (
                "SELinux",
                container(json!({"seLinuxOptions": {"type": "spc_t"}})),
                false,
            ),
            (
                "SELinux",
                pod(json!({"seLinuxOptions": {"user": "system_u"}})),
                false,
            ),
            (
                "SELinux",
                pod(json!({"seLinuxOptions": {"role": "system_r"}})),
                false,
            ),
            (
                "/proc Mount Type",
                container(json!({"procMount": "Unmasked"})),
                false,
            ),
            (
                "Seccomp",
                container(json!({"seccompProfile": {"type": "Unconfined"}})),
                false,
            ),
            (
                "Seccomp",
                pod(json!({"seccompProfile": {"type": "Unconfined"}})),
                false,
            ),
            (
                "Sysctls",
                pod(json!({"sysctls": [{"name": "kernel.msgmax", "value": "1"}]})),
                false,
            ),
        ];
        for (control, spec, host) in broken {
            let found = baseline(&spec, []);
            assert!(
                found.iter().any(|v| v.control == control && v.host == host),
                "{control}: {spec} -> {found:?}"
            );
            assert_eq!(privileged(&spec), !host, "{control}: {spec}");
            assert_eq!(host_access(&spec), host, "{control}: {spec}");
        }
        // Every kind of container is read.
        for list in ["initContainers", "ephemeralContainers"] {
            let spec = json!({list: [{"name": "x", "securityContext": {"procMount": "Unmasked"}}]});
            assert!(privileged(&spec), "{list}");
        }
        // The allowed values.
        let allowed = json!({
            "securityContext": {
                "seccompProfile": {"type": "RuntimeDefault"},
                "appArmorProfile": {"type": "Localhost", "localhostProfile": "k8s-web"},
                "seLinuxOptions": {"type": "container_engine_t", "level": "s0:c1,c2"},
                "sysctls": BASELINE_SYSCTLS.map(|name| json!({"name": name, "value": "1"})),
                "windowsOptions": {"hostProcess": false}
            },
            "hostNetwork": false,
            "containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 0}], "securityContext": {
                "privileged": false, "procMount": "Default",
                "capabilities": {"add": BASELINE_CAPABILITIES, "drop": ["ALL"]},
                "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"},
                "appArmorProfile": {"type": "RuntimeDefault"},
                "seLinuxOptions": {"type": "container_t"}
            }}],
            "volumes": [{"name": "v", "emptyDir": {}}]
        });
        let annotations = [
            (
                "container.apparmor.security.beta.kubernetes.io/c",
                "localhost/k8s-web",
            ),
            (
                "seccomp.security.alpha.kubernetes.io/pod",
                "runtime/default",
            ),
        ];
        let found = baseline(&allowed, annotations);
        assert!(found.is_empty(), "{found:?}");
        // The annotations: AppArmor unconfined, and the old seccomp ones.
        for (key, value) in [
            (
                "container.apparmor.security.beta.kubernetes.io/c",
                "unconfined",
            ),
            ("seccomp.security.alpha.kubernetes.io/pod", "unconfined"),
            (
                "container.seccomp.security.alpha.kubernetes.io/c",
                "unconfined",
            ),
        ] {
            let found = baseline(&allowed, [(key, value)]);
            assert_eq!(found.len(), 1, "{key}: {found:?}");
            assert!(found[0].field.contains(key), "{found:?}");
        }
    }

    #[test]
    fn template_annotations_break_the_baseline_of_every_template_kind() {
        let cronjob = object(
            json!({"metadata": {"name": "j"}, "spec": {"jobTemplate": {"spec": {"template": {
                "metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/c": "unconfined"}},
                "spec": {"containers": [{"name": "c"}]}
            }}}}}),
        );
        let kind = Kind::Template("/spec/jobTemplate/spec/template");
        let items = requests(kind, &cronjob, &cx(None));
        assert_value!(
            attrs(&items[0].request)["privileged"],
            &types::Value::Boolean(true)
        );
        assert_eq!(baseline_of(kind, &cronjob)[0].control, "AppArmor");
        let pod = object(json!({"metadata": {"name": "p", "annotations": {
            "seccomp.security.alpha.kubernetes.io/pod": "unconfined"
        }}, "spec": {"containers": [{"name": "c"}]}}));
        let items = requests(Kind::Pod, &pod, &cx(None));
        assert_value!(
            attrs(&items[0].request)["privileged"],
            &types::Value::Boolean(true)
        );
        assert_value!(
            attrs(&items[0].request)["host_access"],
            &types::Value::Boolean(false)
        );
    }
}
