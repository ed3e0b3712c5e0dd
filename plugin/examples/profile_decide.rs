//! A profiling harness for the decision core, natively (no component boundary): decides the
//! benchmark request (a compliant `provision_workload` of `shop-example`) `N` times.
//!
//! `cargo run --release -p yungui-plugin --example profile_decide -- typed|json|cold N`, under
//! `valgrind --tool=callgrind` or `perf record`. Prints nothing but the decision count; asserts
//! the decision is an allow. `cold` names a new tenant each call (one registry parse per call).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a profiling harness: a setup failure should stop it loudly"
)]

use std::collections::HashMap;
use std::path::Path;

use yungui_plugin::bindings::yungui::policy::types as wit;
use yungui_plugin::engine::{Engine, Registry};

const NOW: &str = "2026-11-30T08:00:00Z";

struct Entities {
    by_uid: HashMap<(String, String), String>,
}

impl Registry for Entities {
    fn lookup(&self, uid: &wit::EntityUid) -> Result<Option<String>, String> {
        if uid.id.starts_with("cold-") {
            return Ok(Some(format!(
                r#"{{"uid":{{"type":"Cloud::Tenant","id":"{}"}},"attrs":{{"operator":{{"type":"Cloud::Operator","id":"acme-cloud"}},"kind":"website","real_name_verified":true,"icp_domains":["{}.example.cn"],"agreed_purposes":["website"],"status":"active","serves_domestic_users":true}},"parents":[]}}"#,
                uid.id, uid.id
            )));
        }
        Ok(self
            .by_uid
            .get(&(uid.type_name.clone(), uid.id.clone()))
            .cloned())
    }

    fn generation(&self) -> u64 {
        1
    }

    fn changed_since(&self, _generation: u64) -> Option<Vec<wit::EntityUid>> {
        Some(Vec::new())
    }
}

fn uid(type_name: &str, id: &str) -> wit::EntityUid {
    wit::EntityUid {
        type_name: type_name.to_owned(),
        id: id.to_owned(),
    }
}

fn attr(name: &str, value: wit::Value) -> wit::Attribute {
    wit::Attribute {
        name: name.to_owned(),
        value,
    }
}

fn typed(tenant: &str) -> wit::Request {
    wit::Request {
        principal: uid("Cloud::Tenant", tenant),
        action: "provision_workload".to_owned(),
        resource: wit::Entity {
            uid: uid("Cloud::Workload", "web-1"),
            attrs: vec![
                attr(
                    "region",
                    wit::Value::Entity(uid("Cloud::Region", "cn-north-1")),
                ),
                attr("purpose", wit::Value::String("website".to_owned())),
                attr("owner", wit::Value::Entity(uid("Cloud::Tenant", tenant))),
                attr("privileged", wit::Value::Boolean(false)),
                attr("host_access", wit::Value::Boolean(false)),
            ],
            parents: vec![],
        },
        context: vec![attr("now", wit::Value::Datetime(NOW.to_owned()))],
        entities: vec![],
    }
}

fn json(tenant: &str) -> String {
    serde_json::json!({
        "principal": {"type": "Cloud::Tenant", "id": tenant},
        "action": "provision_workload",
        "resource": {
            "uid": {"type": "Cloud::Workload", "id": "web-1"},
            "attrs": {
                "region": {"type": "Cloud::Region", "id": "cn-north-1"},
                "purpose": "website",
                "owner": {"type": "Cloud::Tenant", "id": tenant},
                "privileged": false,
                "host_access": false
            },
            "parents": []
        },
        "context": {"now": NOW}
    })
    .to_string()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("typed", String::as_str);
    let n: usize = args.get(2).map_or(1000, |s| s.parse().unwrap());
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let sources = yungui_policies::Sources::read_dir(&root.join("policies")).unwrap();
    let engine = Engine::new(
        (&sources.schema.name, &sources.schema.text),
        sources
            .policies
            .iter()
            .map(|f| (f.name.as_str(), f.text.as_str())),
    )
    .unwrap();
    let text = std::fs::read_to_string(root.join("examples/registry.json")).unwrap();
    let list: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let by_uid = list
        .into_iter()
        .map(|e| {
            let key = (
                e["uid"]["type"].as_str().unwrap().to_owned(),
                e["uid"]["id"].as_str().unwrap().to_owned(),
            );
            (key, e.to_string())
        })
        .collect();
    let registry = Entities { by_uid };
    let request = typed("shop-example");
    let text = json("shop-example");
    let mut allowed = 0;
    for i in 0..n {
        let decision = match mode {
            "typed" => engine.decide(request.clone(), &registry),
            "json" => engine.decide_json(&text, &registry),
            "cold" => engine.decide(typed(&format!("cold-{i}")), &registry),
            other => panic!("unknown mode {other}"),
        }
        .unwrap();
        assert!(decision.allowed, "{:?}", decision.denials);
        allowed += 1;
    }
    println!("{allowed} decisions ({mode})");
}
