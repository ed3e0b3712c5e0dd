//! What the schema declares beyond Cedar's own checks: attribute types (for reading JSON the way
//! Cedar's schema-directed parser does), `@one_of` vocabularies and `@registry` entity types.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use cedar_policy::{EntityNamespace, EntityTypeName, Schema, SchemaFragment};

use crate::annotation;

/// Closed vocabularies: entity type (or `Context` for the request context) → attribute → the
/// values it may hold.
pub type Vocabularies = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// An attribute's type as the schema declares it: what reading a JSON value the way Cedar's
/// schema-directed JSON parser does needs (a string where an extension type is declared is that
/// extension's value; an object of `type` and `id` where an entity type is declared is a reference).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttrType {
    /// `Bool`.
    Bool,
    /// `Long`.
    Long,
    /// `String`.
    String,
    /// An entity type.
    Entity,
    /// An extension type, by its function name: `ip`, `decimal`, `datetime` or `duration`.
    Extension(&'static str),
    /// `Set<T>`.
    Set(Box<AttrType>),
    /// A record, with its attributes.
    Record(BTreeMap<String, AttrType>),
    /// A type this reading does not know (the schema-directed parser decides).
    Unknown,
}

/// The attribute types of every entity type (by full name, `Cloud::Tenant`) and of every action's
/// context (by action id, `provision_workload`).
#[derive(Debug, Clone, Default)]
pub struct AttrTypes {
    /// Entity type → its attributes.
    pub entities: BTreeMap<String, BTreeMap<String, AttrType>>,
    /// Action id → its context's attributes.
    pub contexts: BTreeMap<String, BTreeMap<String, AttrType>>,
}

/// The key of the request context's vocabularies in [`Vocabularies`].
pub const CONTEXT: &str = "Context";

/// The entity types whose declaration carries `@registry`.
pub(crate) fn registry_types(
    fragment: Option<&SchemaFragment>,
    schema: &Schema,
) -> BTreeSet<EntityTypeName> {
    let Some(fragment) = fragment else {
        return BTreeSet::new();
    };
    schema
        .entity_types()
        .filter(|ty| {
            let namespace = ty.namespace();
            let namespace = if namespace.is_empty() {
                None
            } else {
                EntityNamespace::from_str(&namespace).ok()
            };
            fragment
                .entity_type_annotations(namespace, ty.basename())
                .is_some_and(|mut annotations| {
                    annotations.any(|(key, _)| key == annotation::REGISTRY)
                })
        })
        .cloned()
        .collect()
}

/// The attributes whose declaration carries `@one_of("a|b")`, read from the schema's JSON form
/// (annotations on attributes live there). Entity types are keyed by their full name; the common
/// type `Context` by [`CONTEXT`].
pub(crate) fn vocabularies(json: &serde_json::Value) -> Vocabularies {
    let mut out = Vocabularies::new();
    let Some(namespaces) = json.as_object() else {
        return out;
    };
    for (namespace, body) in namespaces {
        let qualify = |name: &str| {
            if namespace.is_empty() {
                name.to_owned()
            } else {
                format!("{namespace}::{name}")
            }
        };
        let shapes = body
            .get("entityTypes")
            .and_then(serde_json::Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(name, ty)| ty.get("shape").map(|shape| (qualify(name), shape)))
            .chain(
                body.get("commonTypes")
                    .and_then(serde_json::Value::as_object)
                    .into_iter()
                    .flatten()
                    .filter(|(name, _)| name.as_str() == CONTEXT)
                    .map(|(_, shape)| (CONTEXT.to_owned(), shape)),
            );
        for (owner, shape) in shapes {
            let attributes = shape
                .get("attributes")
                .and_then(serde_json::Value::as_object)
                .into_iter()
                .flatten();
            for (attribute, declaration) in attributes {
                let Some(values) = declaration
                    .get("annotations")
                    .and_then(|a| a.get(annotation::ONE_OF))
                    .and_then(serde_json::Value::as_str)
                else {
                    continue;
                };
                out.entry(owner.clone()).or_default().insert(
                    attribute.clone(),
                    values.split('|').map(|v| v.trim().to_owned()).collect(),
                );
            }
        }
    }
    out
}

/// The attribute types of the schema's JSON form: entity types' shapes and actions' contexts, common
/// types resolved (in the declaring namespace first, then the empty one, as Cedar resolves them).
pub(crate) fn attribute_types(json: &serde_json::Value) -> AttrTypes {
    use serde_json::Value as Json;
    let mut out = AttrTypes::default();
    let Some(namespaces) = json.as_object() else {
        return out;
    };
    let qualify = |namespace: &str, name: &str| {
        if namespace.is_empty() || name.contains("::") {
            name.to_owned()
        } else {
            format!("{namespace}::{name}")
        }
    };
    let mut common: BTreeMap<String, &Json> = BTreeMap::new();
    let mut entity_types: BTreeSet<String> = BTreeSet::new();
    for (namespace, body) in namespaces {
        for (name, ty) in body
            .get("commonTypes")
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
        {
            common.insert(qualify(namespace, name), ty);
        }
        for name in body
            .get("entityTypes")
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
            .map(|(name, _)| name)
        {
            entity_types.insert(qualify(namespace, name));
        }
    }
    let resolver = Resolver {
        common: &common,
        entity_types: &entity_types,
    };
    for (namespace, body) in namespaces {
        for (name, ty) in body
            .get("entityTypes")
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
        {
            if let Some(AttrType::Record(attributes)) = ty
                .get("shape")
                .map(|shape| resolver.resolve(namespace, shape, 0))
            {
                out.entities.insert(qualify(namespace, name), attributes);
            }
        }
        for (name, action) in body
            .get("actions")
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
        {
            if let Some(AttrType::Record(attributes)) = action
                .pointer("/appliesTo/context")
                .map(|context| resolver.resolve(namespace, context, 0))
            {
                out.contexts.insert(name.clone(), attributes);
            }
        }
    }
    out
}

/// Resolves the types of a schema's JSON form.
struct Resolver<'a> {
    common: &'a BTreeMap<String, &'a serde_json::Value>,
    entity_types: &'a BTreeSet<String>,
}

impl Resolver<'_> {
    /// A type's reading; `depth` bounds common types naming each other.
    fn resolve(&self, namespace: &str, ty: &serde_json::Value, depth: usize) -> AttrType {
        use serde_json::Value as Json;
        if depth > 32 {
            return AttrType::Unknown;
        }
        let Some(kind) = ty.get("type").and_then(Json::as_str) else {
            return AttrType::Unknown;
        };
        let name = ty.get("name").and_then(Json::as_str);
        match (kind, name) {
            ("Boolean", _) => AttrType::Bool,
            ("Long", _) => AttrType::Long,
            ("String", _) => AttrType::String,
            ("Set", _) => AttrType::Set(Box::new(
                ty.get("element")
                    .map_or(AttrType::Unknown, |e| self.resolve(namespace, e, depth + 1)),
            )),
            ("Record", _) => AttrType::Record(
                ty.get("attributes")
                    .and_then(Json::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(name, a)| (name.clone(), self.resolve(namespace, a, depth + 1)))
                    .collect(),
            ),
            ("Entity", Some(_)) => AttrType::Entity,
            ("Extension", Some(name)) => extension(name),
            ("EntityOrCommon", Some(name)) => self.named(namespace, name, depth),
            // A common type named directly as the type.
            (other, None) => self.named(namespace, other, depth),
            _ => AttrType::Unknown,
        }
    }

    /// What a name denotes: a common type, an entity type, a primitive or an extension type.
    fn named(&self, namespace: &str, name: &str, depth: usize) -> AttrType {
        let local = if namespace.is_empty() || name.contains("::") {
            name.to_owned()
        } else {
            format!("{namespace}::{name}")
        };
        for candidate in [local.as_str(), name] {
            if let Some(ty) = self.common.get(candidate) {
                // A common type resolves in its own namespace.
                let home = candidate.rsplit_once("::").map_or("", |(ns, _)| ns);
                return self.resolve(home, ty, depth + 1);
            }
            if self.entity_types.contains(candidate) {
                return AttrType::Entity;
            }
        }
        match name.strip_prefix("__cedar::").unwrap_or(name) {
            "Bool" | "Boolean" => AttrType::Bool,
            "Long" => AttrType::Long,
            "String" => AttrType::String,
            other => extension(other),
        }
    }
}

/// An extension type by its name in a schema.
fn extension(name: &str) -> AttrType {
    match name.strip_prefix("__cedar::").unwrap_or(name) {
        "ipaddr" => AttrType::Extension("ip"),
        "decimal" => AttrType::Extension("decimal"),
        "datetime" => AttrType::Extension("datetime"),
        "duration" => AttrType::Extension("duration"),
        _ => AttrType::Unknown,
    }
}
