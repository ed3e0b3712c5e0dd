//! The Cedar vocabulary the hosts speak: the names of the entity types in
//! `policies/schema.cedarschema` a host refers to, and the resources front ends ask about
//! (`Workload`, `PublicIp`, `Domain`, `Dataset`, `Backup`, `NetworkLink`), each built one way for
//! the Kubernetes admission webhook, the OpenStack oslo.policy check and any other front end.
//!
//! A resource is a struct with one field per attribute a caller states, `Option` where the schema's
//! attribute is optional (`None`: the front end has no such fact, and the attribute is left out);
//! attributes the engine computes (a domain's `suffixes`) are not the caller's. Attributes come in
//! the schema's order. A test holds every type name and every resource to the shipped schema.
//!
//! It is here, in the engine, rather than in the server: it needs only the WIT types, and a host
//! that embeds the library without the server builds the same entities.

use crate::bindings::build::{attr, entity, uid};
use crate::bindings::types::{Attribute, Entity, Request, Value};

/// `Cloud::Tenant`: a customer of the cloud; the principal of every front end's request, and the
/// owner of what it asks for.
pub const TENANT: &str = "Cloud::Tenant";
/// `Cloud::Namespace`: a Kubernetes namespace, whose one `Cloud::Tenant` parent owns it.
pub const NAMESPACE: &str = "Cloud::Namespace";
/// `Cloud::Region`.
pub const REGION: &str = "Cloud::Region";
/// `Cloud::Carrier`: the carrier of a public address.
pub const CARRIER: &str = "Cloud::Carrier";
/// `Cloud::Workload`: a pod, a pod template, a server.
pub const WORKLOAD: &str = "Cloud::Workload";
/// `Cloud::PublicIp`: a public address.
pub const PUBLIC_IP: &str = "Cloud::PublicIp";
/// `Cloud::Domain`: a name served.
pub const DOMAIN: &str = "Cloud::Domain";
/// `Cloud::Dataset`: a volume, a claim, an image.
pub const DATASET: &str = "Cloud::Dataset";
/// `Cloud::Backup`: a backup of a `Cloud::Dataset`.
pub const BACKUP: &str = "Cloud::Backup";
/// `Cloud::NetworkLink`: a VPN, a dedicated line, a peering, a gateway.
pub const NETWORK_LINK: &str = "Cloud::NetworkLink";

/// Every entity type named here.
pub const TYPES: [&str; 10] = [
    TENANT,
    NAMESPACE,
    REGION,
    CARRIER,
    WORKLOAD,
    PUBLIC_IP,
    DOMAIN,
    DATASET,
    BACKUP,
    NETWORK_LINK,
];

/// The request of the tenant `tenant`: `action` on `resource`, at `now` (the context's `now`), with
/// no other entity.
pub fn request(tenant: &str, action: &str, resource: Entity, now: &str) -> Request {
    Request {
        principal: uid(TENANT, tenant),
        action: action.to_owned(),
        resource,
        context: vec![attr("now", Value::Datetime(now.to_owned()))],
        entities: Vec::new(),
    }
}

/// An entity with no parents.
fn resource(type_name: &str, id: &str, attrs: Vec<Attribute>) -> Entity {
    Entity {
        uid: uid(type_name, id),
        attrs,
        parents: Vec::new(),
    }
}

/// A `Cloud::Workload`.
#[derive(Debug, Clone, Copy)]
pub struct Workload<'a> {
    /// The region it runs in.
    pub region: &'a str,
    /// What it is for (`website`, `erp`...).
    pub purpose: Option<&'a str>,
    /// The tenant that owns it.
    pub owner: &'a str,
    /// It runs with its confinement lifted (a privileged container, added capabilities...).
    pub privileged: bool,
    /// It reaches the host (its namespaces, paths or ports).
    pub host_access: bool,
}

impl Workload<'_> {
    /// The entity `id`.
    pub fn entity(self, id: &str) -> Entity {
        let mut attrs = vec![attr("region", entity(REGION, self.region))];
        if let Some(purpose) = self.purpose {
            attrs.push(attr("purpose", Value::String(purpose.to_owned())));
        }
        attrs.push(attr("owner", entity(TENANT, self.owner)));
        attrs.push(attr("privileged", Value::Boolean(self.privileged)));
        attrs.push(attr("host_access", Value::Boolean(self.host_access)));
        resource(WORKLOAD, id, attrs)
    }
}

/// A `Cloud::PublicIp`.
#[derive(Debug, Clone, Copy)]
pub struct PublicIp<'a> {
    /// The carrier whose address it is.
    pub carrier: Option<&'a str>,
    /// The region it is in.
    pub region: &'a str,
}

impl PublicIp<'_> {
    /// The entity `id`.
    pub fn entity(self, id: &str) -> Entity {
        let mut attrs = Vec::with_capacity(2);
        if let Some(carrier) = self.carrier {
            attrs.push(attr("carrier", entity(CARRIER, carrier)));
        }
        attrs.push(attr("region", entity(REGION, self.region)));
        resource(PUBLIC_IP, id, attrs)
    }
}

/// A `Cloud::Domain`: its id is its name (the component computes its suffixes from it).
#[derive(Debug, Clone, Copy)]
pub struct Domain<'a> {
    /// The name, e.g. `www.shop.example.cn`.
    pub name: &'a str,
    /// The tenant that binds it.
    pub owner: &'a str,
}

impl Domain<'_> {
    /// The entity, named by its name.
    pub fn entity(self) -> Entity {
        resource(
            DOMAIN,
            self.name,
            vec![
                attr("name", Value::String(self.name.to_owned())),
                attr("owner", entity(TENANT, self.owner)),
            ],
        )
    }
}

/// A `Cloud::Dataset`.
#[derive(Debug, Clone)]
pub struct Dataset<'a> {
    /// The region its data is in.
    pub region: &'a str,
    /// The tenant that owns it.
    pub owner: &'a str,
    /// Its data classes (`personal_info`, `important_data`, `network_data`).
    pub classes: Option<Vec<String>>,
    /// Whether the data's subjects are domestic.
    pub subjects_domestic: Option<bool>,
    /// Encrypted at rest.
    pub encrypted: bool,
    /// Backed up.
    pub backup_enabled: bool,
    /// Readable by anyone.
    pub public: bool,
    /// Held for a security review.
    pub review_hold: Option<bool>,
    /// Held for retention.
    pub retention_hold: Option<bool>,
}

impl Dataset<'_> {
    /// The entity `id`.
    pub fn entity(self, id: &str) -> Entity {
        let mut attrs = vec![
            attr("region", entity(REGION, self.region)),
            attr("owner", entity(TENANT, self.owner)),
        ];
        if let Some(classes) = self.classes {
            attrs.push(attr("classes", Value::StringSet(classes)));
        }
        if let Some(domestic) = self.subjects_domestic {
            attrs.push(attr("subjects_domestic", Value::Boolean(domestic)));
        }
        attrs.push(attr("encrypted", Value::Boolean(self.encrypted)));
        attrs.push(attr("backup_enabled", Value::Boolean(self.backup_enabled)));
        attrs.push(attr("public", Value::Boolean(self.public)));
        if let Some(hold) = self.review_hold {
            attrs.push(attr("review_hold", Value::Boolean(hold)));
        }
        if let Some(hold) = self.retention_hold {
            attrs.push(attr("retention_hold", Value::Boolean(hold)));
        }
        resource(DATASET, id, attrs)
    }
}

/// A `Cloud::Backup`.
#[derive(Debug, Clone, Copy)]
pub struct Backup<'a> {
    /// The id of the `Cloud::Dataset` it is a copy of.
    pub dataset: &'a str,
    /// It is the dataset's last copy.
    pub last_copy: bool,
}

impl Backup<'_> {
    /// The entity `id`.
    pub fn entity(self, id: &str) -> Entity {
        resource(
            BACKUP,
            id,
            vec![
                attr("dataset", entity(DATASET, self.dataset)),
                attr("last_copy", Value::Boolean(self.last_copy)),
            ],
        )
    }
}

/// A `Cloud::NetworkLink`.
#[derive(Debug, Clone, Copy)]
pub struct NetworkLink<'a> {
    /// `vpn`, `dedicated_line`, `peering` or `gateway`.
    pub kind: &'a str,
    /// Whether its far end is in the territory.
    pub remote_in_territory: Option<bool>,
}

impl NetworkLink<'_> {
    /// The entity `id`.
    pub fn entity(self, id: &str) -> Entity {
        let mut attrs = vec![attr("kind", Value::String(self.kind.to_owned()))];
        if let Some(remote) = self.remote_in_territory {
            attrs.push(attr("remote_in_territory", Value::Boolean(remote)));
        }
        resource(NETWORK_LINK, id, attrs)
    }
}

/// The uid `type_name::"id"`, as findings and messages write it.
pub fn uid_text(type_name: &str, id: &str) -> String {
    format!("{type_name}::\"{id}\"")
}

#[cfg(test)]
mod tests {
    use std::str::FromStr as _;

    use serde_json::{Value as Json, json};

    use super::*;
    use crate::bindings::types::EntityUid;

    fn schema() -> cedar_policy::Schema {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../policies")
            .join(yungui_policies::SCHEMA_FILE);
        let text = std::fs::read_to_string(&path).unwrap();
        cedar_policy::Schema::from_cedarschema_str(&text).unwrap().0
    }

    fn uid_json(uid: &EntityUid) -> Json {
        json!({"type": uid.type_name, "id": uid.id})
    }

    fn value_json(value: &Value) -> Json {
        match value {
            Value::Boolean(b) => json!(b),
            Value::Long(n) => json!(n),
            Value::String(s) => json!(s),
            Value::Entity(u) => json!({"__entity": uid_json(u)}),
            Value::Datetime(s) => json!({"__extn": {"fn": "datetime", "arg": s}}),
            Value::StringSet(v) => json!(v),
            Value::EntitySet(v) => v.iter().map(|u| json!({"__entity": uid_json(u)})).collect(),
            Value::Json(s) => serde_json::from_str(s).unwrap(),
        }
    }

    fn entity_json(entity: &Entity) -> Json {
        let attrs: serde_json::Map<String, Json> = entity
            .attrs
            .iter()
            .map(|a| (a.name.clone(), value_json(&a.value)))
            .collect();
        json!({"uid": uid_json(&entity.uid), "attrs": attrs, "parents": []})
    }

    /// Every resource, with every optional attribute stated.
    fn every_resource() -> Vec<Entity> {
        vec![
            Workload {
                region: "cn-north-1",
                purpose: Some("website"),
                owner: "shop-example",
                privileged: false,
                host_access: true,
            }
            .entity("web-1"),
            PublicIp {
                carrier: Some("china-telecom"),
                region: "cn-north-1",
            }
            .entity("ip-1"),
            Domain {
                name: "www.shop.example.cn",
                owner: "shop-example",
            }
            .entity(),
            Dataset {
                region: "cn-north-1",
                owner: "shop-example",
                classes: Some(vec!["personal_info".to_owned()]),
                subjects_domestic: Some(true),
                encrypted: true,
                backup_enabled: false,
                public: false,
                review_hold: Some(false),
                retention_hold: Some(true),
            }
            .entity("orders-db"),
            Backup {
                dataset: "orders-db",
                last_copy: true,
            }
            .entity("orders-db-backup-1"),
            NetworkLink {
                kind: "vpn",
                remote_in_territory: Some(false),
            }
            .entity("link-1"),
        ]
    }

    #[test]
    fn every_type_named_is_an_entity_type_of_the_schema() {
        let schema = schema();
        let declared: Vec<String> = schema.entity_types().map(ToString::to_string).collect();
        for name in TYPES {
            assert!(declared.iter().any(|d| d == name), "{name}: {declared:?}");
        }
    }

    #[test]
    fn every_resource_conforms_to_the_schema() {
        let schema = schema();
        for entity in every_resource() {
            let json = json!([entity_json(&entity)]);
            cedar_policy::Entities::from_json_value(json.clone(), Some(&schema))
                .unwrap_or_else(|e| panic!("{json}: {e}"));
        }
        // The test can fail: an attribute of the wrong type is refused.
        let mut wrong = every_resource().swap_remove(0);
        wrong.attrs[0].value = Value::String("cn-north-1".to_owned());
        assert!(
            cedar_policy::Entities::from_json_value(json!([entity_json(&wrong)]), Some(&schema))
                .is_err()
        );
    }

    #[test]
    fn the_request_is_the_tenant_s_at_now() {
        let resource = Domain {
            name: "a.cn",
            owner: "t",
        }
        .entity();
        let request = request("t", "bind_domain", resource, "2026-11-30T08:00:00Z");
        let text = |u: &EntityUid| uid_text(&u.type_name, &u.id);
        assert_eq!(text(&request.principal), r#"Cloud::Tenant::"t""#);
        assert_eq!(text(&request.resource.uid), r#"Cloud::Domain::"a.cn""#);
        // As Cedar writes it.
        let principal = cedar_policy::EntityUid::from_str(&text(&request.principal)).unwrap();
        assert_eq!(principal.to_string(), text(&request.principal));
        assert!(matches!(
            request.context.as_slice(),
            [a] if a.name == "now" && matches!(&a.value, Value::Datetime(t) if t == "2026-11-30T08:00:00Z")
        ));
        assert!(request.entities.is_empty());
    }
}
