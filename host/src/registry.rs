//! The registry: operators, partners, carriers, tenants, staff, regions and gateways, read once
//! from a Cedar entities JSON file and held for the life of the process.
//!
//! Each entity is kept as its JSON text, indexed by uid; the component asks for the few a request
//! reaches, so a decision costs the same whatever the registry's size. The component checks each
//! entity against the schema when it first reads it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;
use serde_json::value::RawValue;

/// The registry could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The file could not be read.
    #[error("cannot read the registry `{path}`: {source}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The JSON is not a list of entities.
    #[error("the registry is not a Cedar entities JSON list: {0}")]
    Json(#[source] serde_json::Error),
    /// An entity lacks a usable `uid`.
    #[error("registry entity #{index}: {message}")]
    Entity {
        /// Its position in the list, from 0.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// Two entities share a uid.
    #[error("the registry holds `{0}` twice: keep one")]
    Duplicate(String),
    /// A `Cloud::Namespace` does not name exactly one tenant.
    #[error(
        "registry entity `Cloud::Namespace::\"{namespace}\"` must have exactly one `Cloud::Tenant` parent (the tenant that owns the namespace), it has {found}"
    )]
    NamespaceTenant {
        /// The namespace.
        namespace: String,
        /// How many tenant parents it has.
        found: usize,
    },
}

/// The entity type that maps a Kubernetes namespace to its tenant (its one `Cloud::Tenant` parent).
pub const NAMESPACE_TYPE: &str = "Cloud::Namespace";

/// The tenant entity type.
pub const TENANT_TYPE: &str = "Cloud::Tenant";

/// A registry held in memory.
#[derive(Debug, Default)]
pub struct Registry {
    entities: HashMap<Key, Box<RawValue>>,
    /// Namespace → tenant, from the `Cloud::Namespace` entities.
    namespaces: HashMap<Box<str>, Box<str>>,
    generation: u64,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Key {
    type_name: Box<str>,
    id: Box<str>,
}

#[derive(Deserialize)]
struct UidOnly {
    uid: Uid,
}

#[derive(Deserialize)]
struct WithParents {
    #[serde(default)]
    parents: Vec<Uid>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Uid {
    Explicit {
        #[serde(rename = "__entity")]
        entity: Plain,
    },
    Plain(Plain),
}

#[derive(Deserialize)]
struct Plain {
    #[serde(rename = "type")]
    type_name: String,
    id: String,
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

impl Registry {
    /// An empty registry: every entity a request names is missing.
    pub fn empty() -> Self {
        Self::from_entities(Vec::new()).unwrap_or_default()
    }

    /// Reads a Cedar entities JSON file.
    pub fn from_file(path: &Path) -> Result<Self, RegistryError> {
        let text = std::fs::read_to_string(path).map_err(|source| RegistryError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text)
    }

    /// Reads Cedar entities JSON text.
    pub fn from_json(text: &str) -> Result<Self, RegistryError> {
        let entities: Vec<Box<RawValue>> =
            serde_json::from_str(text).map_err(RegistryError::Json)?;
        Self::from_entities(entities)
    }

    /// Indexes entities given as JSON texts.
    pub fn from_entities(entities: Vec<Box<RawValue>>) -> Result<Self, RegistryError> {
        let mut map = HashMap::with_capacity(entities.len());
        for (index, raw) in entities.into_iter().enumerate() {
            let key = key_of(&raw).map_err(|message| RegistryError::Entity { index, message })?;
            if map.contains_key(&key) {
                return Err(RegistryError::Duplicate(format!(
                    "{}::\"{}\"",
                    key.type_name, key.id
                )));
            }
            map.insert(key, raw);
        }
        map.shrink_to_fit();
        Ok(Self {
            namespaces: namespaces(&map)?,
            entities: map,
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// This registry with `entities` added; an entity with a uid already held replaces it.
    pub fn with(&self, entities: Vec<Box<RawValue>>) -> Result<Self, RegistryError> {
        let mut map: HashMap<Key, Box<RawValue>> = self
            .entities
            .iter()
            .map(|(k, v)| {
                (
                    Key {
                        type_name: k.type_name.clone(),
                        id: k.id.clone(),
                    },
                    v.clone(),
                )
            })
            .collect();
        for (index, raw) in entities.into_iter().enumerate() {
            let key = key_of(&raw).map_err(|message| RegistryError::Entity { index, message })?;
            map.insert(key, raw);
        }
        Ok(Self {
            namespaces: namespaces(&map)?,
            entities: map,
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// The entity's JSON text.
    pub fn get(&self, type_name: &str, id: &str) -> Option<&str> {
        // A borrowed lookup without allocating would need a custom Borrow; entity keys are short.
        self.entities
            .get(&Key {
                type_name: type_name.into(),
                id: id.into(),
            })
            .map(|raw| raw.get())
    }

    /// The tenant a Kubernetes namespace belongs to: the one `Cloud::Tenant` parent of its
    /// `Cloud::Namespace` entity, else (no such entity) the tenant named like the namespace.
    pub fn tenant_of_namespace<'a>(&'a self, namespace: &'a str) -> &'a str {
        self.namespaces.get(namespace).map_or(namespace, |t| t)
    }

    /// Every entity, as its Cedar entity JSON text.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.entities.values().map(|raw| raw.get())
    }

    /// How many entities it holds.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    /// Unique per registry loaded in this process: the component drops what it cached from
    /// another generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// The namespace → tenant index; a namespace with no or several tenant parents is an error.
fn namespaces(
    entities: &HashMap<Key, Box<RawValue>>,
) -> Result<HashMap<Box<str>, Box<str>>, RegistryError> {
    let mut out = HashMap::new();
    for (key, raw) in entities {
        if &*key.type_name != NAMESPACE_TYPE {
            continue;
        }
        let parents = serde_json::from_str::<WithParents>(raw.get())
            .map_err(|_| RegistryError::NamespaceTenant {
                namespace: key.id.to_string(),
                found: 0,
            })?
            .parents;
        let tenants: Vec<String> = parents
            .into_iter()
            .map(|(Uid::Explicit { entity: p } | Uid::Plain(p))| p)
            .filter(|p| p.type_name == TENANT_TYPE)
            .map(|p| p.id)
            .collect();
        match <[String; 1]>::try_from(tenants) {
            Ok([tenant]) => {
                out.insert(key.id.clone(), tenant.into_boxed_str());
            }
            Err(tenants) => {
                return Err(RegistryError::NamespaceTenant {
                    namespace: key.id.to_string(),
                    found: tenants.len(),
                });
            }
        }
    }
    Ok(out)
}

fn key_of(raw: &RawValue) -> Result<Key, String> {
    let UidOnly { uid } = serde_json::from_str(raw.get())
        .map_err(|err| format!("needs `\"uid\": {{\"type\": …, \"id\": …}}`: {err}"))?;
    let (Uid::Explicit { entity: plain } | Uid::Plain(plain)) = uid;
    if plain.type_name.is_empty() {
        return Err("`uid.type` is empty".to_owned());
    }
    Ok(Key {
        type_name: plain.type_name.into(),
        id: plain.id.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_by_uid_in_both_forms() {
        let registry = Registry::from_json(
            r#"[{"uid": {"type": "Cloud::Tenant", "id": "a"}, "attrs": {}, "parents": []},
                {"uid": {"__entity": {"type": "Cloud::Region", "id": "cn"}}, "attrs": {"in_territory": true}, "parents": []}]"#,
        )
        .unwrap();
        assert_eq!(registry.len(), 2);
        assert!(
            registry
                .get("Cloud::Tenant", "a")
                .unwrap()
                .contains("\"a\"")
        );
        assert!(
            registry
                .get("Cloud::Region", "cn")
                .unwrap()
                .contains("in_territory")
        );
        assert!(registry.get("Cloud::Tenant", "b").is_none());
    }

    #[test]
    fn rejects_duplicates_and_missing_uids() {
        let dup = r#"[{"uid": {"type": "T", "id": "a"}}, {"uid": {"type": "T", "id": "a"}}]"#;
        assert!(
            Registry::from_json(dup)
                .unwrap_err()
                .to_string()
                .contains("`T::\"a\"` twice")
        );
        let err = Registry::from_json(r#"[{"attrs": {}}]"#).unwrap_err();
        assert!(err.to_string().contains("#0"), "{err}");
        assert!(Registry::from_json("{}").is_err());
    }

    #[test]
    fn namespaces_map_to_their_tenant_and_default_to_their_name() {
        let registry = Registry::from_json(
            r#"[{"uid": {"type": "Cloud::Tenant", "id": "shop"}, "attrs": {}, "parents": []},
                {"uid": {"type": "Cloud::Namespace", "id": "shop-web"}, "attrs": {},
                 "parents": [{"type": "Cloud::Tenant", "id": "shop"}]},
                {"uid": {"type": "Cloud::Namespace", "id": "shop-db"}, "attrs": {},
                 "parents": [{"__entity": {"type": "Cloud::Tenant", "id": "shop"}}]}]"#,
        )
        .unwrap();
        assert_eq!(registry.tenant_of_namespace("shop-web"), "shop");
        assert_eq!(registry.tenant_of_namespace("shop-db"), "shop");
        assert_eq!(registry.tenant_of_namespace("other"), "other");
    }

    #[test]
    fn a_namespace_needs_exactly_one_tenant() {
        for parents in [
            "[]",
            r#"[{"type": "Cloud::Region", "id": "cn"}]"#,
            r#"[{"type": "Cloud::Tenant", "id": "a"}, {"type": "Cloud::Tenant", "id": "b"}]"#,
        ] {
            let text = format!(
                r#"[{{"uid": {{"type": "Cloud::Namespace", "id": "ns"}}, "parents": {parents}}}]"#
            );
            let err = Registry::from_json(&text).unwrap_err().to_string();
            assert!(
                err.contains(
                    "`Cloud::Namespace::\"ns\"` must have exactly one `Cloud::Tenant` parent"
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn overlay_replaces_and_bumps_generation() {
        let base = Registry::from_json(r#"[{"uid": {"type": "T", "id": "a"}, "attrs": {"x": 1}}]"#)
            .unwrap();
        let raw: Vec<Box<RawValue>> =
            serde_json::from_str(r#"[{"uid": {"type": "T", "id": "a"}, "attrs": {"x": 2}}]"#)
                .unwrap();
        let over = base.with(raw).unwrap();
        assert!(over.get("T", "a").unwrap().contains('2'));
        assert_ne!(base.generation(), over.generation());
    }
}
