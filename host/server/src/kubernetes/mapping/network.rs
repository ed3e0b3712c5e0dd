//! Networking: a Service reachable from outside asks for a public address ([`exposed`]); the
//! names an Ingress, a Gateway, a ListenerSet, a route or a host annotation serves are each a
//! `bind_domain` request ([`hosts`]).

use kube_core::DynamicObject;
use serde_json::Value;

use yungui::bindings::types;
use yungui::vocabulary;

use super::{CARRIER, Context, Kind, REGION, annotation, request};

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
pub(super) fn public_ip(id: &str, object: &DynamicObject, cx: &Context<'_>) -> types::Request {
    let address = vocabulary::PublicIp {
        carrier: annotation(object, CARRIER),
        region: annotation(object, REGION).unwrap_or(cx.cluster_region),
    };
    request(cx, "allocate_public_ip", address.entity(id))
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
pub(super) fn domain(host: &str, cx: &Context<'_>) -> types::Request {
    let domain = vocabulary::Domain {
        name: host,
        owner: cx.tenant,
    };
    request(cx, "bind_domain", domain.entity())
}
