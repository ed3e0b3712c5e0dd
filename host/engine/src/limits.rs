//! Bounds on a request's complexity, checked by the servers before the component runs.
//!
//! Decision time grows with what a request carries (the component parses every value against the
//! schema), so a caller could otherwise hold a worker for the whole deadline with one large set.
//! A request past a bound is a bad request naming the field and the bound; no legitimate request
//! of the data contract comes near them (the largest sets are a domain's suffixes and an owner's
//! purposes, a handful of strings each).

use serde_json::Value;

use crate::types;

/// Elements of any one set (JSON array).
pub const MAX_SET: usize = 256;
/// Attributes of any one record or entity (JSON object keys).
pub const MAX_ATTRIBUTES: usize = 128;
/// Values in the whole request, every element and attribute counted.
pub const MAX_VALUES: usize = 4_096;
/// Nesting of records and sets.
pub const MAX_DEPTH: usize = 16;
/// Bytes of any one string (or attribute name).
pub const MAX_STRING: usize = 4_096;
/// Entities a request brings besides its resource.
pub const MAX_ENTITIES: usize = 64;

/// A request past one of the bounds, naming where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{at}` {what}, more than the limit of {limit}")]
pub struct TooComplex {
    /// Where in the request, e.g. `context.tags`.
    pub at: String,
    /// What is too large, e.g. `holds 100000 elements`.
    pub what: String,
    /// The bound.
    pub limit: usize,
}

struct Walk {
    values: usize,
}

impl Walk {
    fn count(&mut self, at: &dyn Fn() -> String) -> Result<(), TooComplex> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(TooComplex {
                at: at(),
                what: "brings the request past its number of values".to_owned(),
                limit: MAX_VALUES,
            });
        }
        Ok(())
    }

    fn string(&mut self, s: &str, at: &dyn Fn() -> String) -> Result<(), TooComplex> {
        if s.len() > MAX_STRING {
            return Err(TooComplex {
                at: at(),
                what: format!("is a string of {} bytes", s.len()),
                limit: MAX_STRING,
            });
        }
        Ok(())
    }

    fn set(&mut self, len: usize, at: &dyn Fn() -> String) -> Result<(), TooComplex> {
        if len > MAX_SET {
            return Err(TooComplex {
                at: at(),
                what: format!("holds {len} elements"),
                limit: MAX_SET,
            });
        }
        Ok(())
    }

    fn record(&mut self, len: usize, at: &dyn Fn() -> String) -> Result<(), TooComplex> {
        if len > MAX_ATTRIBUTES {
            return Err(TooComplex {
                at: at(),
                what: format!("has {len} attributes"),
                limit: MAX_ATTRIBUTES,
            });
        }
        Ok(())
    }

    fn json(&mut self, value: &Value, depth: usize, at: &str) -> Result<(), TooComplex> {
        let here = || at.to_owned();
        self.count(&here)?;
        if depth > MAX_DEPTH {
            return Err(TooComplex {
                at: here(),
                what: format!("is nested {depth} levels deep"),
                limit: MAX_DEPTH,
            });
        }
        match value {
            Value::String(s) => self.string(s, &here),
            Value::Array(items) => {
                self.set(items.len(), &here)?;
                for (index, item) in items.iter().enumerate() {
                    self.json(item, depth + 1, &format!("{at}[{index}]"))?;
                }
                Ok(())
            }
            Value::Object(map) => {
                self.record(map.len(), &here)?;
                for (key, item) in map {
                    let inner = if at.is_empty() {
                        key.clone()
                    } else {
                        format!("{at}.{key}")
                    };
                    self.string(key, &|| inner.clone())?;
                    self.json(item, depth + 1, &inner)?;
                }
                Ok(())
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
        }
    }

    fn value(&mut self, value: &types::Value, at: &str) -> Result<(), TooComplex> {
        let here = || at.to_owned();
        self.count(&here)?;
        match value {
            types::Value::Boolean(_) | types::Value::Long(_) => Ok(()),
            types::Value::String(s) | types::Value::Datetime(s) => self.string(s, &here),
            types::Value::Entity(uid) => self.uid(uid, at),
            types::Value::StringSet(items) => {
                self.set(items.len(), &here)?;
                for (index, s) in items.iter().enumerate() {
                    let inner = || format!("{at}[{index}]");
                    self.count(&inner)?;
                    self.string(s, &inner)?;
                }
                Ok(())
            }
            types::Value::EntitySet(items) => {
                self.set(items.len(), &here)?;
                for (index, uid) in items.iter().enumerate() {
                    let inner = format!("{at}[{index}]");
                    self.count(&|| inner.clone())?;
                    self.uid(uid, &inner)?;
                }
                Ok(())
            }
            types::Value::Json(text) => {
                self.string(text, &here)?;
                // Unparsable text is for the component to refuse, naming the attribute.
                match yungui_policies::json::from_str(text) {
                    Ok(json) => self.json(&json, 1, at),
                    Err(_) => Ok(()),
                }
            }
        }
    }

    fn uid(&mut self, uid: &types::EntityUid, at: &str) -> Result<(), TooComplex> {
        self.string(&uid.type_name, &|| format!("{at}.type"))?;
        self.string(&uid.id, &|| format!("{at}.id"))
    }

    fn attributes(&mut self, attrs: &[types::Attribute], at: &str) -> Result<(), TooComplex> {
        self.record(attrs.len(), &|| at.to_owned())?;
        for attribute in attrs {
            let inner = format!("{at}.{}", attribute.name);
            self.string(&attribute.name, &|| inner.clone())?;
            self.value(&attribute.value, &inner)?;
        }
        Ok(())
    }

    fn entity(&mut self, entity: &types::Entity, at: &str) -> Result<(), TooComplex> {
        self.uid(&entity.uid, &format!("{at}.uid"))?;
        self.attributes(&entity.attrs, &format!("{at}.attrs"))?;
        self.set(entity.parents.len(), &|| format!("{at}.parents"))?;
        for (index, parent) in entity.parents.iter().enumerate() {
            self.uid(parent, &format!("{at}.parents[{index}]"))?;
        }
        Ok(())
    }
}

/// The bounds as the strict JSON reader takes them.
pub const BOUNDS: yungui_policies::json::Bounds = yungui_policies::json::Bounds {
    max_items: MAX_SET,
    max_keys: MAX_ATTRIBUTES,
    max_depth: MAX_DEPTH,
    max_values: MAX_VALUES,
    max_string: MAX_STRING,
};

/// Reads a request in the JSON request format within the bounds, stopping at the first bound
/// passed (a 100,000-element set costs no more to refuse than a 257-element one) or duplicate
/// key; the message names where.
pub fn read_json(text: &str) -> Result<Value, String> {
    let value = yungui_policies::json::from_str_bounded(text, &BOUNDS).map_err(|err| match err
        .classify()
    {
        serde_json::error::Category::Data => err.to_string(),
        _ => format!("the request is not valid JSON: {err}"),
    })?;
    if let Some(entities) = value.get("entities").and_then(Value::as_array)
        && entities.len() > MAX_ENTITIES
    {
        return Err(TooComplex {
            at: "entities".to_owned(),
            what: format!("holds {} entities", entities.len()),
            limit: MAX_ENTITIES,
        }
        .to_string());
    }
    Ok(value)
}

/// Checks a request in the JSON request format (already read as JSON).
pub fn check_json(request: &Value) -> Result<(), TooComplex> {
    if let Some(entities) = request.get("entities").and_then(Value::as_array)
        && entities.len() > MAX_ENTITIES
    {
        return Err(TooComplex {
            at: "entities".to_owned(),
            what: format!("holds {} entities", entities.len()),
            limit: MAX_ENTITIES,
        });
    }
    Walk { values: 0 }.json(request, 0, "")
}

/// A request holding a NUL character, which a registry in PostgreSQL cannot hold (its text type
/// has no NUL): no entity it names can be there, and a lookup for one would fail. Refused as a
/// bad request naming where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` holds a NUL character: the registry (PostgreSQL) cannot hold one, so no entity has such an id"
)]
pub struct HoldsNul(pub String);

/// Refuses a request in the JSON request format holding a NUL character in any key or string.
pub fn refuse_nul_json(request: &Value) -> Result<(), HoldsNul> {
    fn walk(value: &Value, at: &str) -> Result<(), HoldsNul> {
        match value {
            Value::String(s) if s.contains('\0') => Err(HoldsNul(at.to_owned())),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(index, item)| walk(item, &format!("{at}[{index}]"))),
            Value::Object(map) => map.iter().try_for_each(|(key, item)| {
                let inner = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                if key.contains('\0') {
                    return Err(HoldsNul(inner));
                }
                walk(item, &inner)
            }),
            _ => Ok(()),
        }
    }
    walk(request, "")
}

/// Refuses a typed request holding a NUL character in an entity's type or id.
pub fn refuse_nul_typed(request: &types::Request) -> Result<(), HoldsNul> {
    let uid = |uid: &types::EntityUid, at: &dyn Fn() -> String| {
        if uid.type_name.contains('\0') || uid.id.contains('\0') {
            Err(HoldsNul(at()))
        } else {
            Ok(())
        }
    };
    let attributes = |attrs: &[types::Attribute], at: &str| {
        attrs.iter().try_for_each(|a| match &a.value {
            types::Value::Entity(u) => uid(u, &|| format!("{at}.{}", a.name)),
            types::Value::EntitySet(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, u)| uid(u, &|| format!("{at}.{}[{i}]", a.name))),
            types::Value::Json(text) if text.contains("\\u0000") => {
                Err(HoldsNul(format!("{at}.{}", a.name)))
            }
            _ => Ok(()),
        })
    };
    let entity = |e: &types::Entity, at: &str| {
        uid(&e.uid, &|| format!("{at}.uid"))?;
        attributes(&e.attrs, &format!("{at}.attrs"))?;
        e.parents
            .iter()
            .enumerate()
            .try_for_each(|(i, p)| uid(p, &|| format!("{at}.parents[{i}]")))
    };
    uid(&request.principal, &|| "principal".to_owned())?;
    entity(&request.resource, "resource")?;
    attributes(&request.context, "context")?;
    request
        .entities
        .iter()
        .enumerate()
        .try_for_each(|(i, e)| entity(e, &format!("entities[{i}]")))
}

/// Checks a typed request.
pub fn check_typed(request: &types::Request) -> Result<(), TooComplex> {
    if request.entities.len() > MAX_ENTITIES {
        return Err(TooComplex {
            at: "entities".to_owned(),
            what: format!("holds {} entities", request.entities.len()),
            limit: MAX_ENTITIES,
        });
    }
    let mut walk = Walk { values: 0 };
    walk.uid(&request.principal, "principal")?;
    walk.string(&request.action, &|| "action".to_owned())?;
    walk.entity(&request.resource, "resource")?;
    walk.attributes(&request.context, "context")?;
    for (index, entity) in request.entities.iter().enumerate() {
        walk.entity(entity, &format!("entities[{index}]"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::bindings::build::{attr, uid};

    #[test]
    fn a_large_set_is_named_with_its_bound() {
        let items: Vec<u32> = (0..100_000).collect();
        let err = check_json(&json!({"context": {"tags": items}})).unwrap_err();
        assert_eq!(err.at, "context.tags");
        assert_eq!(
            err.to_string(),
            "`context.tags` holds 100000 elements, more than the limit of 256"
        );
    }

    #[test]
    fn reading_stops_at_a_bound_and_names_it() {
        let items: Vec<u32> = (0..100_000).collect();
        let text = json!({"context": {"tags": items}}).to_string();
        let err = read_json(&text).unwrap_err();
        assert!(
            err.starts_with(
                "`context.tags` holds more than 256 elements, more than the limit of 256"
            ),
            "{err}"
        );
        assert!(
            read_json("{")
                .unwrap_err()
                .starts_with("the request is not valid JSON")
        );
        let entities: Vec<Value> = (0..65).map(|i| json!({ "id": i })).collect();
        assert!(read_json(&json!({ "entities": entities }).to_string()).is_err());
        assert!(
            read_json(r#"{"a": 1, "a": 2}"#)
                .unwrap_err()
                .contains("duplicate key `a`")
        );
    }

    #[test]
    fn every_bound_is_checked_in_json() {
        let deep = (0..40).fold(json!(1), |inner, _| json!({ "a": inner }));
        assert!(
            check_json(&json!({ "context": deep }))
                .unwrap_err()
                .what
                .contains("nested")
        );
        let long = "x".repeat(MAX_STRING + 1);
        assert_eq!(
            check_json(&json!({"resource": {"attrs": {"name": long}}}))
                .unwrap_err()
                .at,
            "resource.attrs.name"
        );
        let wide: serde_json::Map<String, Value> =
            (0..200).map(|i| (format!("k{i}"), json!(i))).collect();
        assert!(check_json(&json!({ "context": wide })).is_err());
        let many: Vec<Value> = (0..40)
            .map(|_| json!((0..200).collect::<Vec<_>>()))
            .collect();
        assert_eq!(
            check_json(&json!({ "context": {"s": many} }))
                .unwrap_err()
                .limit,
            MAX_VALUES
        );
        let entities: Vec<Value> = (0..65).map(|i| json!({ "id": i })).collect();
        assert_eq!(
            check_json(&json!({ "entities": entities })).unwrap_err().at,
            "entities"
        );
        assert!(check_json(&json!({"context": {"tags": [1, 2, 3]}, "entities": []})).is_ok());
    }

    #[test]
    fn every_bound_is_checked_in_typed_requests() {
        let request = |context: Vec<types::Attribute>| types::Request {
            principal: uid("Cloud::Tenant", "t"),
            action: "provision_workload".to_owned(),
            resource: types::Entity {
                uid: uid("Cloud::Workload", "w"),
                attrs: vec![],
                parents: vec![],
            },
            context,
            entities: vec![],
        };
        assert!(check_typed(&request(vec![])).is_ok());
        let set = types::Value::StringSet((0..1000).map(|i| i.to_string()).collect());
        assert_eq!(
            check_typed(&request(vec![attr("tags", set)]))
                .unwrap_err()
                .at,
            "context.tags"
        );
        let json = types::Value::Json(json!({"a": (0..1000).collect::<Vec<_>>()}).to_string());
        assert_eq!(
            check_typed(&request(vec![attr("r", json)])).unwrap_err().at,
            "context.r.a"
        );
        let long = types::Value::String("x".repeat(MAX_STRING + 1));
        assert!(check_typed(&request(vec![attr("s", long)])).is_err());
    }
}
