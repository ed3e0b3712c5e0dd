//! WIT values to Cedar values, and the entity references a value holds.

use std::cell::RefCell;
use std::collections::HashMap;
use std::str::FromStr;

use cedar_policy::{EntityId, EntityTypeName, EntityUid, RestrictedExpression};
use serde_json::Value as Json;
use yungui_policies::AttrType;

use crate::bindings::yungui::policy::types as wit;

/// What converting values needs to remember: the schema's entity type names by their text,
/// parsed once (a request's uids name these types; a name not here is parsed, and refused if it
/// is not a name), and the last datetime built (`RestrictedExpression::new_datetime` parses the
/// name `datetime` with Cedar's parser on every call; a request's `now` changes once a second).
#[derive(Debug, Default)]
pub struct TypeNames(
    HashMap<String, EntityTypeName>,
    RefCell<Option<(String, RestrictedExpression)>>,
);

impl TypeNames {
    /// The given type names, each parsed from its own text as a caller's would be.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a EntityTypeName>) -> Self {
        Self(
            names
                .into_iter()
                .filter_map(|name| {
                    let text = name.to_string();
                    EntityTypeName::from_str(&text)
                        .ok()
                        .map(|parsed| (text, parsed))
                })
                .collect(),
            RefCell::new(None),
        )
    }

    /// `datetime(text)`, the same expression `RestrictedExpression::new_datetime` builds.
    fn datetime(&self, text: &str) -> RestrictedExpression {
        let mut last = self.1.borrow_mut();
        if let Some((seen, expr)) = last.as_ref()
            && seen == text
        {
            return expr.clone();
        }
        let expr = RestrictedExpression::new_datetime(text);
        *last = Some((text.to_owned(), expr.clone()));
        expr
    }

    /// The type name `text` names: the same value Cedar's parser gives for it.
    pub fn parse(&self, text: &str) -> Result<EntityTypeName, String> {
        match self.0.get(text) {
            Some(name) => Ok(name.clone()),
            None => EntityTypeName::from_str(text)
                .map_err(|err| format!("`{text}` is not an entity type name: {err}")),
        }
    }
}

/// A WIT entity uid as a Cedar one.
pub fn uid(types: &TypeNames, uid: &wit::EntityUid) -> Result<EntityUid, String> {
    Ok(EntityUid::from_type_name_and_id(
        types.parse(&uid.type_name)?,
        EntityId::new(&uid.id),
    ))
}

/// A WIT value as a Cedar restricted expression; entity references it holds go to `refs`.
pub fn expression(
    types: &TypeNames,
    value: &wit::Value,
    refs: &mut Vec<EntityUid>,
) -> Result<RestrictedExpression, String> {
    Ok(match value {
        wit::Value::Boolean(b) => RestrictedExpression::new_bool(*b),
        wit::Value::Long(n) => RestrictedExpression::new_long(*n),
        wit::Value::String(s) => RestrictedExpression::new_string(s.clone()),
        wit::Value::Entity(e) => {
            let e = uid(types, e)?;
            refs.push(e.clone());
            RestrictedExpression::new_entity_uid(e)
        }
        wit::Value::Datetime(s) => types.datetime(s),
        wit::Value::StringSet(items) => RestrictedExpression::new_set(
            items
                .iter()
                .map(|s| RestrictedExpression::new_string(s.clone())),
        ),
        wit::Value::EntitySet(items) => {
            let mut set = Vec::with_capacity(items.len());
            for item in items {
                let e = uid(types, item)?;
                refs.push(e.clone());
                set.push(RestrictedExpression::new_entity_uid(e));
            }
            RestrictedExpression::new_set(set)
        }
        wit::Value::Json(text) => {
            let json: Json = yungui_policies::json::from_str(text)
                .map_err(|err| format!("invalid JSON value: {err}"))?;
            from_json(&json, refs)?
        }
    })
}

/// An entity uid in Cedar's JSON forms: `{"type": …, "id": …}` or `{"__entity": {…}}`. `None` for
/// anything else (Cedar's parser then names the problem).
pub fn json_uid(types: &TypeNames, json: &Json) -> Option<EntityUid> {
    let map = json.as_object()?;
    let map = match map.get("__entity") {
        Some(inner) if map.len() == 1 => inner.as_object()?,
        Some(_) => return None,
        None => map,
    };
    if map.len() != 2 {
        return None;
    }
    let type_name = map.get("type")?.as_str()?;
    let id = map.get("id")?.as_str()?;
    Some(EntityUid::from_type_name_and_id(
        types.parse(type_name).ok()?,
        EntityId::new(id),
    ))
}

/// A JSON value read as Cedar's schema-directed JSON parser reads a value of type `ty` (`None`: a
/// type the schema does not declare): a string where an extension type is declared is that
/// extension's value, an object of `type` and `id` where an entity type is declared is a
/// reference, `__entity` anywhere is one. Entity references go to `refs`. `None` for the forms
/// left to Cedar's parser (it names the problem, or reads what this does not: `__extn`, `null`,
/// numbers that are not 64-bit integers). Types are not checked here: Cedar checks the built
/// entities and context against the schema.
pub fn from_typed_json(
    types: &TypeNames,
    json: &Json,
    ty: Option<&AttrType>,
    refs: &mut Vec<EntityUid>,
) -> Option<RestrictedExpression> {
    Some(match json {
        Json::Null => return None,
        Json::Bool(b) => RestrictedExpression::new_bool(*b),
        Json::Number(n) => RestrictedExpression::new_long(n.as_i64()?),
        Json::String(s) => match ty {
            Some(AttrType::Extension("datetime")) => types.datetime(s),
            Some(AttrType::Extension("ip")) => RestrictedExpression::new_ip(s),
            Some(AttrType::Extension("decimal")) => RestrictedExpression::new_decimal(s),
            Some(AttrType::Extension("duration")) => RestrictedExpression::new_duration(s),
            _ => RestrictedExpression::new_string(s.clone()),
        },
        Json::Array(items) => {
            let element = match ty {
                Some(AttrType::Set(element)) => Some(&**element),
                _ => None,
            };
            let mut set = Vec::with_capacity(items.len());
            for item in items {
                set.push(from_typed_json(types, item, element, refs)?);
            }
            RestrictedExpression::new_set(set)
        }
        Json::Object(map) => {
            if map.contains_key("__extn") {
                return None;
            }
            if map.contains_key("__entity") || matches!(ty, Some(AttrType::Entity)) {
                let uid = json_uid(types, json)?;
                refs.push(uid.clone());
                return Some(RestrictedExpression::new_entity_uid(uid));
            }
            let attributes = match ty {
                Some(AttrType::Record(attributes)) => Some(attributes),
                _ => None,
            };
            let mut fields = Vec::with_capacity(map.len());
            for (name, value) in map {
                let ty = attributes.and_then(|a| a.get(name));
                fields.push((name.clone(), from_typed_json(types, value, ty, refs)?));
            }
            RestrictedExpression::new_record(fields).ok()?
        }
    })
}

/// A Cedar JSON value with explicit `__entity` and `__extn` escapes.
fn from_json(json: &Json, refs: &mut Vec<EntityUid>) -> Result<RestrictedExpression, String> {
    Ok(match json {
        Json::Null => return Err("`null` is not a Cedar value".to_owned()),
        Json::Bool(b) => RestrictedExpression::new_bool(*b),
        Json::Number(n) => RestrictedExpression::new_long(
            n.as_i64()
                .ok_or_else(|| format!("`{n}` is not a Cedar long (a 64-bit integer)"))?,
        ),
        Json::String(s) => RestrictedExpression::new_string(s.clone()),
        Json::Array(items) => RestrictedExpression::new_set(
            items
                .iter()
                .map(|item| from_json(item, refs))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Json::Object(map) => {
            if let Some(inner) = map.get("__entity") {
                let e = EntityUid::from_json(inner.clone())
                    .map_err(|err| format!("invalid `__entity`: {err}"))?;
                refs.push(e.clone());
                RestrictedExpression::new_entity_uid(e)
            } else if let Some(extn) = map.get("__extn") {
                let function = extn.get("fn").and_then(Json::as_str).unwrap_or_default();
                let arg = extn
                    .get("arg")
                    .and_then(Json::as_str)
                    .ok_or_else(|| "`__extn` needs `fn` and a string `arg`".to_owned())?;
                match function {
                    "datetime" => RestrictedExpression::new_datetime(arg),
                    "duration" => RestrictedExpression::new_duration(arg),
                    "decimal" => RestrictedExpression::new_decimal(arg),
                    "ip" => RestrictedExpression::new_ip(arg),
                    other => {
                        return Err(format!(
                            "`{other}` is not an extension function: use datetime, duration, decimal or ip"
                        ));
                    }
                }
            } else {
                let fields = map
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), from_json(v, refs)?)))
                    .collect::<Result<Vec<_>, String>>()?;
                RestrictedExpression::new_record(fields).map_err(|err| err.to_string())?
            }
        }
    })
}

/// Entity references in a JSON value. With `implicit`, an object of exactly `type` and `id`
/// strings counts too (Cedar's schema-based form, as a context may write it).
pub fn json_refs(json: &Json, implicit: bool, refs: &mut Vec<EntityUid>) {
    match json {
        Json::Array(items) => items.iter().for_each(|i| json_refs(i, implicit, refs)),
        Json::Object(map) => {
            if let Some(inner) = map.get("__entity") {
                if let Ok(e) = EntityUid::from_json(inner.clone()) {
                    refs.push(e);
                }
                return;
            }
            let is_implicit = implicit
                && map.len() == 2
                && map.get("type").is_some_and(Json::is_string)
                && map.get("id").is_some_and(Json::is_string);
            if is_implicit {
                if let Ok(e) = EntityUid::from_json(json.clone()) {
                    refs.push(e);
                }
                return;
            }
            map.values().for_each(|v| json_refs(v, implicit, refs));
        }
        _ => {}
    }
}

/// Entity references of an entity: its parents and the entities its attributes name.
pub fn entity_refs(entity: &cedar_policy::Entity, refs: &mut Vec<EntityUid>) {
    if let Ok(json) = entity.to_json_value() {
        if let Some(attrs) = json.get("attrs") {
            json_refs(attrs, false, refs);
        }
        if let Some(parents) = json.get("parents").and_then(Json::as_array) {
            for parent in parents {
                if let Ok(e) = EntityUid::from_json(parent.clone()) {
                    refs.push(e);
                }
            }
        }
        if let Some(tags) = json.get("tags") {
            json_refs(tags, false, refs);
        }
    }
}
