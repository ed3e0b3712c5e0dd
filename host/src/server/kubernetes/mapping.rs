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
//! The principal is the tenant that owns the namespace (`Context::tenant`). Any other kind (and a Service of
//! another type) maps to nothing and is allowed without running the policies. [`KINDS`] lists every kind
//! decided, with its API group and resource, for the webhook configuration. Namespaces are decided by
//! the front end itself (who may change a `yungui.io/*` label), not by the policies.

use std::collections::BTreeMap;

use kube_core::DynamicObject;
use serde_json::Value;

use crate::bindings::build::{attr, entity, uid};
use crate::bindings::types;
use crate::registry::Registry;

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
/// Node selector key: the pod's region.
pub const NODE_REGION: &str = "topology.kubernetes.io/region";

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
pub const KINDS: [(&str, &str, &str, Kind); 22] = [
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
    /// The region of a pod without a region node selector, and of a Service or claim without a
    /// region annotation.
    pub cluster_region: &'a str,
    /// `context.now`.
    pub now: &'a str,
    /// The registry in force, for the tenant's `serves_domestic_users`.
    pub registry: Option<&'a Registry>,
}

/// One decision to ask for, and what it is about when one object asks for several.
#[derive(Debug)]
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
        Kind::Claim => vec![one(dataset(&id, object, cx))],
        Kind::Namespace => Vec::new(),
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

/// The regions a pod may be scheduled in: its `topology.kubernetes.io/region` node selector;
/// else the regions its required node affinity terms allow (each term is one way to schedule:
/// `In` names regions, a term without a region constraint means the cluster's region, any other
/// operator on the key [`ANY_REGION`]), plus the regions its preferred terms name; else the
/// cluster's region. Never none: a pod whose terms allow no region is decided in the cluster's.
pub fn regions(spec: &Value, cluster_region: &str) -> Vec<String> {
    if let Some(region) = spec
        .pointer("/nodeSelector")
        .and_then(|s| s.get(NODE_REGION))
        .and_then(Value::as_str)
    {
        return vec![region.to_owned()];
    }
    let affinity = spec.pointer("/affinity/nodeAffinity");
    let terms = |pointer: &str| {
        affinity
            .and_then(|a| a.pointer(pointer))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    };
    let mut out: Vec<String> = Vec::new();
    let mut add = |region: &str| {
        if !out.iter().any(|r| r == region) {
            out.push(region.to_owned());
        }
    };
    let required = terms("/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms");
    for term in required {
        match term_regions(term) {
            None => add(cluster_region),
            Some(regions) => regions.iter().for_each(|r| add(r)),
        }
    }
    if required.is_empty() {
        add(cluster_region);
    }
    for preferred in terms("/preferredDuringSchedulingIgnoredDuringExecution") {
        if let Some(regions) = preferred.get("preference").and_then(term_regions) {
            regions.iter().for_each(|r| add(r));
        }
    }
    // No term can be met (each has `In`s on the key that exclude one another): the pod can run
    // nowhere, yet it is decided, in the cluster's region, so that no other control is skipped.
    // Without a region there would be no request, and the pod would be allowed unseen.
    if out.is_empty() {
        out.push(cluster_region.to_owned());
    }
    out
}

/// The regions one node selector term allows; `None` when it does not constrain the region.
fn term_regions(term: &Value) -> Option<Vec<String>> {
    let expressions = term.get("matchExpressions").and_then(Value::as_array)?;
    let mut allowed: Option<Vec<String>> = None;
    for expression in expressions
        .iter()
        .filter(|e| e.get("key").and_then(Value::as_str) == Some(NODE_REGION))
    {
        let values: Vec<String> = expression
            .get("values")
            .and_then(Value::as_array)
            .map(|v| {
                v.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let these = match expression.get("operator").and_then(Value::as_str) {
            Some("In") => values,
            _ => vec![ANY_REGION.to_owned()],
        };
        // Expressions of one term all hold: keep what every `In` allows.
        allowed = Some(match allowed {
            None => these,
            Some(before) if these.iter().any(|r| r == ANY_REGION) => before,
            Some(before) if before.iter().any(|r| r == ANY_REGION) => these,
            Some(before) => before.into_iter().filter(|r| these.contains(r)).collect(),
        });
    }
    allowed
}

/// A Pod or pod template: `provision_workload` on a `Workload`, once per region it may run in.
fn workloads(
    id: &str,
    spec: Option<&Value>,
    object_labels: Option<&BTreeMap<String, String>>,
    template_labels: Option<&Value>,
    cx: &Context<'_>,
) -> Vec<Item> {
    let spec = spec.unwrap_or(&Value::Null);
    let regions = regions(spec, cx.cluster_region);
    let several = regions.len() > 1;
    regions
        .iter()
        .map(|region| Item {
            subject: several.then(|| format!("region `{region}`")),
            request: workload(id, spec, region, object_labels, template_labels, cx),
        })
        .collect()
}

/// One `provision_workload` request for a pod spec in `region`.
fn workload(
    id: &str,
    spec: &Value,
    region: &str,
    object_labels: Option<&BTreeMap<String, String>>,
    template_labels: Option<&Value>,
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
    attrs.push(attr("privileged", types::Value::Boolean(privileged(spec))));
    attrs.push(attr(
        "host_access",
        types::Value::Boolean(host_access(spec)),
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

/// The capabilities a container may add and still meet the Pod Security Standards' baseline
/// profile; any other (`SYS_ADMIN`, `NET_ADMIN`, `ALL`...) reaches the host.
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

fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["containers", "initContainers", "ephemeralContainers"]
        .into_iter()
        .filter_map(|list| spec.get(list).and_then(Value::as_array))
        .flatten()
}

/// Any container, init container or ephemeral container with `securityContext.privileged`, or
/// adding a capability beyond [`BASELINE_CAPABILITIES`].
pub fn privileged(spec: &Value) -> bool {
    containers(spec).any(|c| {
        is_true(c.pointer("/securityContext/privileged"))
            || c.pointer("/securityContext/capabilities/add")
                .and_then(Value::as_array)
                .is_some_and(|added| {
                    added.iter().any(|cap| {
                        let cap = cap.as_str().unwrap_or_default().to_ascii_uppercase();
                        let cap = cap.strip_prefix("CAP_").unwrap_or(&cap);
                        !BASELINE_CAPABILITIES.contains(&cap)
                    })
                })
    })
}

/// hostNetwork, hostPID, hostIPC, any hostPath volume, or a container port bound on the host
/// (`hostPort`).
pub fn host_access(spec: &Value) -> bool {
    ["hostNetwork", "hostPID", "hostIPC"]
        .into_iter()
        .any(|key| is_true(spec.get(key)))
        || spec
            .get("volumes")
            .and_then(Value::as_array)
            .is_some_and(|volumes| volumes.iter().any(|v| v.get("hostPath").is_some()))
        || containers(spec).any(|c| {
            c.get("ports")
                .and_then(Value::as_array)
                .is_some_and(|ports| {
                    ports
                        .iter()
                        .any(|p| p.get("hostPort").is_some_and(|h| h.as_i64() != Some(0)))
                })
        })
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
        Kind::Pod | Kind::Template(_) | Kind::Claim | Kind::Namespace => return Vec::new(),
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

/// A PersistentVolumeClaim: `place_data` on a `Dataset`.
fn dataset(id: &str, object: &DynamicObject, cx: &Context<'_>) -> types::Request {
    let region = annotation(object, REGION).unwrap_or(cx.cluster_region);
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

    fn cx(registry: Option<&Registry>) -> Context<'_> {
        Context {
            namespace: "shop-example",
            tenant: "shop-example",
            cluster_region: "cn-north-1",
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
        assert_eq!(regions(&nowhere, "cn-east-2"), ["cn-east-2"]);
        let empty = json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": NODE_REGION, "operator": "In", "values": []}
            ]}]
        }}}});
        assert_eq!(regions(&empty, "cn-east-2"), ["cn-east-2"]);
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
                "cn-north-1"
            ),
            ["eu-west-1"]
        );
        // Terms are alternatives; a term without a region constraint is the cluster's region.
        assert_eq!(
            regions(
                &required(
                    json!([region_in(json!(["cn-east-2", "eu-west-1"])), {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}])
                ),
                "cn-north-1"
            ),
            ["cn-east-2", "eu-west-1", "cn-north-1"]
        );
        // Allowed by exclusion: cannot be named.
        let not_in = json!([{"matchExpressions": [{"key": NODE_REGION, "operator": "NotIn", "values": ["cn-north-1"]}]}]);
        assert_eq!(regions(&required(not_in), "cn-north-1"), [ANY_REGION]);
        // Preferred regions are places the pod may go too.
        let preferred = spec(json!({"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 1, "preference": region_in(json!(["ap-southeast-1"]))}
        ]}));
        assert_eq!(
            regions(&preferred, "cn-north-1"),
            ["cn-north-1", "ap-southeast-1"]
        );
        // A node selector decides.
        let mut selected = required(json!([region_in(json!(["eu-west-1"]))]));
        selected["nodeSelector"] = json!({NODE_REGION: "cn-north-1"});
        assert_eq!(regions(&selected, "cn-east-2"), ["cn-north-1"]);
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
}
