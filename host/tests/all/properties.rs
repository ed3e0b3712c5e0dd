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

fn suffixes(name: &str) -> Vec<String> {
    yungui::server::kubernetes::mapping::suffixes(name)
}

impl Case {
    fn json(&self) -> Value {
        let (action, resource) = match self.domain {
            Some(name) => (
                "bind_domain",
                json!({
                    "uid": {"type": "Cloud::Domain", "id": name},
                    "attrs": {"name": name, "owner": {"type": "Cloud::Tenant", "id": self.owner},
                              "suffixes": suffixes(name)},
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
                        attr("suffixes", types::Value::StringSet(suffixes(name))),
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
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/registry.json"),
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
