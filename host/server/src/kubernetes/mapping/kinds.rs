//! The kinds yungui decides ([`KINDS`]), for the webhook configuration and [`Kind::of`], and
//! where each keeps what the mapping reads.

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
