//! The mapping's unit tests.
//!
//! Long file: the unit tests of every concern of the mapping, sharing their fixtures (objects, the
//! mapping's context, a two-region topology); tests, not code.

use serde_json::json;
use yungui::bindings::build::uid;

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
    let pod = |context: Value| json!({"securityContext": context, "containers": [{"name": "c"}]});
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
