//! Requests as callers send them, read into Cedar's terms: the action named by its id, typed WIT
//! requests, and JSON requests, read against the schema's attribute types without Cedar's JSON
//! parser where they can be and by the parser otherwise (which then names every problem).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{Context, Entity, EntityUid};
use serde_json::Value as Json;
use yungui_policies::AttrType;

use super::entities::{TENANT_TYPE, typed_entity};
use super::{Engine, bad, cedar_message};
use crate::bindings::yungui::policy::types as wit;
use crate::value;

/// A request in Cedar's terms, before the registry is consulted.
pub(super) struct Prepared {
    pub(super) principal: EntityUid,
    pub(super) action: EntityUid,
    pub(super) resource: Entity,
    pub(super) context: Context,
    pub(super) extra: Vec<Entity>,
    pub(super) refs: Vec<EntityUid>,
}

/// The JSON request format.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JsonRequest {
    principal: Json,
    action: Json,
    resource: Json,
    #[serde(default)]
    context: Option<Json>,
    #[serde(default)]
    entities: Vec<Json>,
}

impl Engine {
    fn action(&self, id: &str) -> Result<EntityUid, wit::Failure> {
        // The bare id, as callers write it: no need to try it as a uid first (a parse error is
        // costly to build).
        if let Some(uid) = self.actions.get(id) {
            return Ok(uid.clone());
        }
        // Accept the bare id and the full `Cloud::Action::"id"` form, in no other namespace.
        let key = match EntityUid::from_str(id) {
            Ok(uid) => self.action_id(&uid)?,
            Err(_) => id.to_owned(),
        };
        self.known_action(&key, id)
    }

    /// The action of this id, or a bad request listing the known ones.
    fn known_action(&self, key: &str, id: &str) -> Result<EntityUid, wit::Failure> {
        self.actions.get(key).cloned().ok_or_else(|| {
            let mut known: Vec<&str> = self.actions.keys().map(String::as_str).collect();
            known.sort_unstable();
            bad(format!(
                "unknown action `{id}`: expected one of {}",
                known.join(", ")
            ))
        })
    }

    /// The id of an action given as a uid, which must be of type `Cloud::Action`.
    fn action_id(&self, uid: &EntityUid) -> Result<String, wit::Failure> {
        let expected = self
            .actions
            .values()
            .next()
            .map(|a| a.type_name().to_string())
            .unwrap_or_default();
        if uid.type_name().to_string() != expected {
            return Err(bad(format!(
                "action `{uid}` is not of type `{expected}`: write the action id alone, e.g. \"provision_workload\""
            )));
        }
        Ok(uid.id().unescaped().to_owned())
    }

    /// A typed request in Cedar's terms.
    pub(super) fn typed_prepared(&self, request: &wit::Request) -> Result<Prepared, wit::Failure> {
        let action = self.action(&request.action)?;
        let principal = value::uid(&self.types, &request.principal)
            .map_err(|e| bad(format!("principal: {e}")))?;
        let mut refs = vec![principal.clone()];
        let resource = typed_entity(&self.types, &request.resource, &mut refs)
            .map_err(|e| bad(format!("resource: {e}")))?;
        let mut pairs = Vec::with_capacity(request.context.len());
        for attribute in &request.context {
            let expr = value::expression(&self.types, &attribute.value, &mut refs)
                .map_err(|e| bad(format!("context attribute `{}`: {e}", attribute.name)))?;
            pairs.push((attribute.name.clone(), expr));
        }
        let context = Context::from_pairs(pairs).map_err(|e| bad(format!("context: {e}")))?;
        let mut extra = Vec::with_capacity(request.entities.len());
        for entity in &request.entities {
            extra.push(
                typed_entity(&self.types, entity, &mut refs)
                    .map_err(|e| bad(format!("entities: {e}")))?,
            );
        }
        Ok(Prepared {
            principal,
            action,
            resource,
            context,
            extra,
            refs,
        })
    }

    /// A request in the JSON format, read, and its action.
    pub(super) fn read_json(
        &self,
        request: &str,
    ) -> Result<(JsonRequest, EntityUid), wit::Failure> {
        let request: JsonRequest = yungui_policies::json::from_str(request)
            .and_then(serde_json::from_value)
            .map_err(|err| bad(format!("the request is not valid: {err}")))?;
        let action = match &request.action {
            Json::String(id) => self.action(id)?,
            other => EntityUid::from_json(other.clone())
                .map_err(|err| bad(format!("`action`: {err}")))
                .and_then(|uid| {
                    let key = self.action_id(&uid)?;
                    self.known_action(&key, &uid.to_string())
                })?,
        };
        Ok((request, action))
    }

    /// A JSON request in Cedar's terms as Cedar's JSON parser reads it, which names every problem.
    pub(super) fn parsed_prepared(
        &self,
        request: JsonRequest,
        action: EntityUid,
    ) -> Result<Prepared, wit::Failure> {
        let principal = EntityUid::from_json(request.principal).map_err(|err| {
            bad(format!(
                "`principal`: {err}: write {{\"type\": \"{TENANT_TYPE}\", \"id\": \"…\"}}"
            ))
        })?;
        let mut refs = vec![principal.clone()];
        let resource = Entity::from_json_value(request.resource, Some(&self.schema))
            .map_err(|err| bad(format!("`resource`: {}", cedar_message(&err))))?;
        value::entity_refs(&resource, &mut refs);
        let context_json = request
            .context
            .unwrap_or_else(|| Json::Object(serde_json::Map::new()));
        value::json_refs(&context_json, true, &mut refs);
        let context = Context::from_json_value(context_json, Some((&self.schema, &action)))
            .map_err(|err| bad(format!("`context`: {}", cedar_message(&err))))?;
        let mut extra = Vec::with_capacity(request.entities.len());
        for (index, json) in request.entities.into_iter().enumerate() {
            let entity = Entity::from_json_value(json, Some(&self.schema))
                .map_err(|err| bad(format!("`entities[{index}]`: {}", cedar_message(&err))))?;
            value::entity_refs(&entity, &mut refs);
            extra.push(entity);
        }
        Ok(Prepared {
            principal,
            action,
            resource,
            context,
            extra,
            refs,
        })
    }

    /// A JSON request prepared without Cedar's JSON parser (see [`value::from_typed_json`]), its
    /// context checked against the schema; `None` for anything left to the parser.
    pub(super) fn json_prepared(
        &self,
        request: &JsonRequest,
        action: &EntityUid,
    ) -> Option<Prepared> {
        let principal = value::json_uid(&self.types, &request.principal)?;
        let mut refs = vec![principal.clone()];
        let resource = self.json_entity(&request.resource, &mut refs)?;
        let declared = self.attribute_types.contexts.get(action.id().unescaped())?;
        let context = match &request.context {
            None => Context::empty(),
            Some(Json::Object(map)) => {
                let mut pairs = Vec::with_capacity(map.len());
                for (name, json) in map {
                    let ty = declared.get(name)?;
                    let expr = value::from_typed_json(&self.types, json, Some(ty), &mut refs)?;
                    pairs.push((name.clone(), expr));
                }
                Context::from_pairs(pairs).ok()?
            }
            Some(_) => return None,
        };
        // The parser checks the context against the schema as it reads it: before the registry
        // is consulted (a request with a bad context is a bad request, whatever it reaches).
        context.validate(&self.schema, action).ok()?;
        let mut extra = Vec::with_capacity(request.entities.len());
        for json in &request.entities {
            extra.push(self.json_entity(json, &mut refs)?);
        }
        Some(Prepared {
            principal,
            action: action.clone(),
            resource,
            context,
            extra,
            refs,
        })
    }

    /// An entity in Cedar's JSON entity format (`uid`, `attrs`, `parents`), its attributes read
    /// against the types the schema declares for its type; references go to `refs`. `None` for
    /// anything left to the parser (tags, a key it does not know).
    pub(super) fn json_entity(&self, json: &Json, refs: &mut Vec<EntityUid>) -> Option<Entity> {
        let map = json.as_object()?;
        if map
            .keys()
            .any(|key| !matches!(key.as_str(), "uid" | "attrs" | "parents"))
        {
            return None;
        }
        let uid_json = map.get("uid")?;
        let uid = value::json_uid(&self.types, uid_json)?;
        let declared = self
            .attribute_types
            .entities
            .get(uid.type_name().to_string().as_str());
        let mut attrs = HashMap::new();
        for (name, json) in map.get("attrs")?.as_object()? {
            let ty: Option<&AttrType> = declared.and_then(|d| d.get(name));
            attrs.insert(
                name.clone(),
                value::from_typed_json(&self.types, json, ty, refs)?,
            );
        }
        let mut parents = HashSet::new();
        for parent in map.get("parents")?.as_array()? {
            let parent = value::json_uid(&self.types, parent)?;
            refs.push(parent.clone());
            parents.insert(parent);
        }
        Entity::new(uid, attrs, parents).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped policy set.
    fn shipped() -> Engine {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
        let schema = std::fs::read_to_string(dir.join("schema.cedarschema")).unwrap();
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "cedar") {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                files.push((name, std::fs::read_to_string(&path).unwrap()));
            }
        }
        Engine::new(
            ("schema.cedarschema", &schema),
            files.iter().map(|(n, t)| (n.as_str(), t.as_str())),
        )
        .unwrap()
    }

    fn prepared(engine: &Engine, text: &str) -> Option<Prepared> {
        let request: JsonRequest = serde_json::from_str(text).unwrap();
        let action = engine.action(request.action.as_str().unwrap()).ok()?;
        engine.json_prepared(&request, &action)
    }

    #[test]
    fn json_requests_are_read_against_the_schema_without_cedars_parser() {
        let engine = shipped();
        let examples =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/requests");
        let mut read = 0;
        for entry in std::fs::read_dir(examples).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let request: JsonRequest = serde_json::from_str(&text).unwrap();
            let Ok(action) = engine.action(request.action.as_str().unwrap()) else {
                continue;
            };
            // What the parser builds, and what the schema-directed reading builds, are equal.
            let Some(fast) = engine.json_prepared(&request, &action) else {
                panic!("{} was left to Cedar's parser", path.display());
            };
            let slow =
                Entity::from_json_value(request.resource.clone(), Some(&engine.schema)).unwrap();
            assert_eq!(
                fast.resource.to_json_value().unwrap(),
                slow.to_json_value().unwrap()
            );
            let mut slow_refs = vec![fast.principal.clone()];
            value::entity_refs(&slow, &mut slow_refs);
            if let Some(context) = &request.context {
                value::json_refs(context, true, &mut slow_refs);
            }
            for (json, fast) in request.entities.iter().zip(&fast.extra) {
                let slow = Entity::from_json_value(json.clone(), Some(&engine.schema)).unwrap();
                assert_eq!(fast.to_json_value().unwrap(), slow.to_json_value().unwrap());
                value::entity_refs(&slow, &mut slow_refs);
            }
            let mut fast_refs = fast.refs.clone();
            fast_refs.sort();
            slow_refs.sort();
            assert_eq!(fast_refs, slow_refs, "{}", path.display());
            read += 1;
        }
        assert!(read >= 10, "only {read} examples read");

        // Left to the parser: a context attribute the schema does not declare, a context the
        // schema refuses, an extension escape, tags.
        let base = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../examples/requests/deny-provision.json"),
        )
        .unwrap();
        assert!(prepared(&engine, &base).is_some());
        for (from, to) in [
            (r#""context": {"#, r#""context": {"extra": 1, "#),
            (r#""now": "2026-11-30T08:00:00Z""#, r#""now": 5"#),
            (
                r#""now": "2026-11-30T08:00:00Z""#,
                r#""now": {"__extn": {"fn": "datetime", "arg": "2026-11-30"}}"#,
            ),
            (r#""parents": []"#, r#""parents": [], "tags": {}"#),
        ] {
            let changed = base.replacen(from, to, 1);
            assert_ne!(changed, base);
            assert!(prepared(&engine, &changed).is_none(), "{changed}");
        }
    }

    #[test]
    fn registry_entities_are_read_against_the_schema_as_cedars_parser_reads_them() {
        let engine = shipped();
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/registry.json"),
        )
        .unwrap();
        let entities: Vec<Json> = serde_json::from_str(&text).unwrap();
        for json in &entities {
            let mut refs = Vec::new();
            let fast = engine.json_entity(json, &mut refs).unwrap();
            let slow = Entity::from_json_value(json.clone(), Some(&engine.schema)).unwrap();
            assert_eq!(fast.to_json_value().unwrap(), slow.to_json_value().unwrap());
            let mut slow_refs = Vec::new();
            value::entity_refs(&slow, &mut slow_refs);
            refs.sort();
            slow_refs.sort();
            assert_eq!(refs, slow_refs);
        }
        assert!(entities.len() > 50);
    }
}
