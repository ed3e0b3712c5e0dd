//! Properties over random requests (proptest): the JSON and typed paths decide the same; a
//! request entity of a registry type never changes a decision; no JSON value makes the component
//! trap or allow without a well-formed request.

use proptest::prelude::*;
use serde_json::{Value, json};
use yungui::bindings::build::{attr, uid};
use yungui::types::{self, Failure};
use yungui::{Error, Registry};

use super::{engine, example_registry};

const TENANTS: &[&str] = &[
    "shop-example",
    "shop-twin",
    "appdev-example",
    "corp-example",
    "unverified-example",
    "paused-example",
    "closed-example",
    "overseas-example",
    "resold-example",
    "shellsold-example",
    "ghost-tenant",
];
const REGIONS: &[&str] = &[
    "cn-north-1",
    "cn-east-2",
    "ap-southeast-1",
    "eu-west-1",
    "mars-1",
];
const PURPOSES: &[&str] = &["website", "erp", "data-analytics", "mining"];
const DOMAINS: &[&str] = &[
    "www.shop.example.cn",
    "shop.example.cn",
    "unverified.example.cn",
    "promo.unfiled.example.com",
    "cn",
];
const REGISTRY_TYPES: &[&str] = &[
    "Cloud::Operator",
    "Cloud::Partner",
    "Cloud::Carrier",
    "Cloud::Tenant",
    "Cloud::Staff",
    "Cloud::Region",
    "Cloud::Gateway",
    "Cloud::Month",
];

/// A provision_workload or bind_domain request, in both forms.
#[derive(Debug, Clone)]
struct Case {
    tenant: &'static str,
    owner: &'static str,
    region: &'static str,
    purpose: Option<&'static str>,
    privileged: bool,
    host_access: bool,
    domain: Option<&'static str>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(TENANTS),
        prop::sample::select(TENANTS),
        prop::sample::select(REGIONS),
        prop::option::of(prop::sample::select(PURPOSES)),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(prop::sample::select(DOMAINS)),
    )
        .prop_map(
            |(tenant, owner, region, purpose, privileged, host_access, domain)| Case {
                tenant,
                owner: if privileged { owner } else { tenant },
                region,
                purpose,
                privileged,
                host_access,
                domain,
            },
        )
}

const NOW: &str = "2026-11-30T08:00:00Z";

impl Case {
    fn json(&self) -> Value {
        let (action, resource) = match self.domain {
            Some(name) => (
                "bind_domain",
                json!({
                    "uid": {"type": "Cloud::Domain", "id": name},
                    "attrs": {"name": name, "owner": {"type": "Cloud::Tenant", "id": self.owner}},
                    "parents": []
                }),
            ),
            None => {
                let mut attrs = json!({
                    "region": {"type": "Cloud::Region", "id": self.region},
                    "owner": {"type": "Cloud::Tenant", "id": self.owner},
                    "privileged": self.privileged, "host_access": self.host_access
                });
                if let Some(purpose) = self.purpose {
                    attrs["purpose"] = json!(purpose);
                }
                (
                    "provision_workload",
                    json!({"uid": {"type": "Cloud::Workload", "id": "w"}, "attrs": attrs, "parents": []}),
                )
            }
        };
        json!({
            "principal": {"type": "Cloud::Tenant", "id": self.tenant},
            "action": action,
            "resource": resource,
            "context": {"now": NOW},
            "entities": []
        })
    }

    fn typed(&self) -> types::Request {
        let entity = |t: &str, id: &str| types::Value::Entity(uid(t, id));
        let (action, resource) = match self.domain {
            Some(name) => (
                "bind_domain",
                types::Entity {
                    uid: uid("Cloud::Domain", name),
                    attrs: vec![
                        attr("name", types::Value::String(name.to_owned())),
                        attr("owner", entity("Cloud::Tenant", self.owner)),
                    ],
                    parents: vec![],
                },
            ),
            None => {
                let mut attrs = vec![
                    attr("region", entity("Cloud::Region", self.region)),
                    attr("owner", entity("Cloud::Tenant", self.owner)),
                    attr("privileged", types::Value::Boolean(self.privileged)),
                    attr("host_access", types::Value::Boolean(self.host_access)),
                ];
                if let Some(purpose) = self.purpose {
                    attrs.push(attr("purpose", types::Value::String(purpose.to_owned())));
                }
                (
                    "provision_workload",
                    types::Entity {
                        uid: uid("Cloud::Workload", "w"),
                        attrs,
                        parents: vec![],
                    },
                )
            }
        };
        types::Request {
            principal: uid("Cloud::Tenant", self.tenant),
            action: action.to_owned(),
            resource,
            context: vec![attr("now", types::Value::Datetime(NOW.to_owned()))],
            entities: vec![],
        }
    }
}

/// A decision as comparable data: allowed, and the sorted (control, reason) pairs.
fn summary(
    result: &Result<types::Decision, Error>,
) -> Result<(bool, Vec<(String, String)>), String> {
    match result {
        Ok(d) => {
            let mut fired: Vec<(String, String)> = d
                .denials
                .iter()
                .chain(&d.warnings)
                .map(|f| (f.control.clone(), f.reason.clone()))
                .collect();
            fired.sort();
            Ok((d.allowed, fired))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// A registry entity of `type_name` (taken from the registry when it holds one, so the copy is
/// schema-valid), with every boolean attribute flipped.
fn forged(registry: &Registry, type_name: &str, id: &str) -> Option<Value> {
    let mut entity: Value = serde_json::from_str(registry.get(type_name, id)?).ok()?;
    if let Some(attrs) = entity["attrs"].as_object_mut() {
        for value in attrs.values_mut() {
            if let Some(b) = value.as_bool() {
                *value = json!(!b);
            }
        }
    }
    Some(entity)
}

fn registry_ids(registry: &Registry, type_name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/registry.json"),
    )
    .unwrap();
    let all: Vec<Value> = serde_json::from_str(&text).unwrap();
    all.iter()
        .filter(|e| e["uid"]["type"] == type_name)
        .filter_map(|e| e["uid"]["id"].as_str().map(str::to_owned))
        .filter(|id| registry.get(type_name, id).is_some())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn json_and_typed_paths_decide_the_same(case in case()) {
        let json = engine().decide_json(&case.json().to_string());
        let typed = engine().decide(&case.typed());
        prop_assert!(json.is_ok(), "{:?}: {json:?}", case);
        prop_assert_eq!(summary(&json), summary(&typed), "{:?}", case);
    }

    #[test]
    fn a_registry_type_entity_in_a_request_never_changes_a_decision(
        case in case(),
        type_index in 0..REGISTRY_TYPES.len(),
        pick in any::<prop::sample::Index>(),
        as_resource in any::<bool>(),
    ) {
        let registry = example_registry();
        let type_name = REGISTRY_TYPES[type_index];
        let ids = registry_ids(&registry, type_name);
        let id = pick.get(&ids);
        let entity = forged(&registry, type_name, id).unwrap();
        let baseline = summary(&engine().decide_json(&case.json().to_string()));

        let mut request = case.json();
        if as_resource {
            request["resource"] = entity.clone();
        } else {
            request["entities"] = json!([entity.clone()]);
        }
        let result = engine().decide_json(&request.to_string());
        match &result {
            Err(Error::Failure(Failure::BadRequest(message))) => {
                prop_assert!(message.contains("registry entity"), "{message}");
                prop_assert!(message.contains(type_name), "{message}");
            }
            other => prop_assert_eq!(summary(other), baseline.clone(), "{} {}", type_name, id),
        }

        // The typed path refuses it the same way.
        let mut typed = case.typed();
        let forged_typed = types::Entity {
            uid: uid(type_name, id),
            attrs: entity["attrs"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| attr(k, types::Value::Json(v.to_string())))
                .collect(),
            parents: vec![],
        };
        typed.entities.push(forged_typed);
        let result = engine().decide(&typed);
        match &result {
            Err(Error::Failure(Failure::BadRequest(message))) => {
                prop_assert!(message.contains("registry entity"), "{message}");
            }
            other => prop_assert_eq!(summary(other), baseline, "{} {}", type_name, id),
        }
    }

    #[test]
    fn no_json_value_traps_or_allows_without_a_request(value in arb_json()) {
        let result = engine().decide_json(&value.to_string());
        match &result {
            Ok(decision) => prop_assert!(
                !decision.allowed || value.get("principal").is_some(),
                "{value}: {decision:?}"
            ),
            Err(Error::Failure(_)) => {}
            Err(other) => prop_assert!(false, "{value}: {other}"),
        }
    }
}

/// Random JSON, biased toward the request format's keys.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec![
            "shop-example",
            "Cloud::Tenant",
            "provision_workload",
            NOW,
            ""
        ])
        .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "principal",
                    "action",
                    "resource",
                    "context",
                    "entities",
                    "uid",
                    "attrs",
                    "type",
                    "id",
                    "parents",
                    "now",
                    "__entity",
                    "__extn",
                ])
                .prop_map(str::to_owned),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Random JSON shaped like Kubernetes objects' specs.
fn arb_spec() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-2i64..100_000).prop_map(Value::from),
        prop::sample::select(vec![
            "SYS_ADMIN",
            "NET_BIND_SERVICE",
            "In",
            "NotIn",
            "Exists",
            "LoadBalancer",
            "NodePort",
            "topology.kubernetes.io/region",
            "eu-west-1",
            "cn-north-1",
            "www.shop.example.cn",
            "",
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 96, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "containers",
                    "initContainers",
                    "securityContext",
                    "privileged",
                    "capabilities",
                    "add",
                    "ports",
                    "hostPort",
                    "hostNetwork",
                    "volumes",
                    "hostPath",
                    "affinity",
                    "nodeAffinity",
                    "requiredDuringSchedulingIgnoredDuringExecution",
                    "nodeSelectorTerms",
                    "matchExpressions",
                    "key",
                    "operator",
                    "values",
                    "nodeSelector",
                    "rules",
                    "host",
                    "tls",
                    "hosts",
                    "defaultBackend",
                    "type",
                    "externalIPs",
                    "template",
                    "spec",
                    "metadata",
                    "labels",
                ])
                .prop_map(str::to_owned),
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Any object of a mapped kind maps without a panic to requests within the bounds, and the
    /// component decides them (no trap, no bad request from the mapping itself).
    #[test]
    fn admission_mapping_takes_any_object(
        spec in arb_spec(),
        kind in prop::sample::select(vec![
            ("", "Pod"), ("apps", "Deployment"), ("batch", "CronJob"), ("", "Service"),
            ("networking.k8s.io", "Ingress"), ("", "PersistentVolumeClaim"),
        ]),
    ) {
        use yungui_server::kubernetes::{mapping, parse};
        let review = json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {
                "uid": "u-1", "kind": {"group": kind.0, "version": "v1", "kind": kind.1},
                "resource": {"group": kind.0, "version": "v1", "resource": "x"},
                "operation": "CREATE", "namespace": "shop-example",
                "userInfo": {"username": "u"},
                "object": {"apiVersion": "v1", "kind": kind.1,
                           "metadata": {"name": "o", "namespace": "shop-example"}, "spec": spec}
            }
        });
        let Ok(request) = parse(review.to_string().as_bytes()) else {
            return Ok(());
        };
        let registry = example_registry();
        let cx = mapping::Context {
            namespace: "shop-example",
            tenant: "shop-example",
            cluster_region: "cn-north-1",
            topology: &mapping::Topology::default(),
            now: NOW,
            registry: Some(&registry),
        };
        let object = request.object.as_ref().unwrap();
        let kind = mapping::Kind::of(kind.0, kind.1).unwrap();
        for item in mapping::requests(kind, object, &cx) {
            prop_assert!(yungui::limits::check_typed(&item.request).is_ok());
            match engine().decide(&item.request) {
                Ok(_) => {}
                Err(Error::Failure(Failure::BadRequest(m))) if m.contains("purpose") => {}
                Err(other) => prop_assert!(false, "{item:?}: {other}"),
            }
        }
    }

    /// Any target and credentials build a request or a refusal, never a panic; a refusal answers
    /// False, and what is built decides without a trap.
    #[test]
    fn openstack_rules_take_any_target(
        target in prop::collection::btree_map(
            prop::sample::select(vec!["project_id", "tenant_id", "availability_zone", "id",
                "availability_zone_hints", "floating_network_id", "volume_id", "external_gateway_info"])
                .prop_map(str::to_owned),
            arb_json(), 0..6),
        credentials in prop::collection::btree_map(
            prop::sample::select(vec!["project_id", "roles", "user_id"]).prop_map(str::to_owned),
            arb_json(), 0..3),
        rule in prop::sample::select(vec![
            "os_compute_api:servers:create", "create_floatingip", "volume:create", "backup:delete",
            "create_ipsec_site_connection", "nope",
        ]),
    ) {
        use yungui_server::openstack::{Config, RuleMap};
        let config = Config {
            region: "cn-north-1".to_owned(),
            zones: [("nova".to_owned(), "cn-north-1".to_owned())].into(),
            rules: RuleMap::shipped().unwrap(),
        };
        let region_of = |zone: Option<&str>| config.region_of(zone);
        let target: serde_json::Map<String, Value> = target.into_iter().collect();
        let credentials: serde_json::Map<String, Value> = credentials.into_iter().collect();
        if let Ok(built) = config.rules.build(rule, &target, &credentials, &region_of, NOW) {
            prop_assert!(yungui::limits::check_typed(&built.request).is_ok());
            if let Err(err) = engine().decide(&built.request) {
                prop_assert!(matches!(err, Error::Failure(_)), "{err}");
            }
        }
    }
}
