//! The decision core: a request and the registry in, a decision or a failure out.
//!
//! Independent of the component boundary (the registry is a trait) so it can be tested natively.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityTypeName, EntityUid,
    PolicyId, PolicySet, Request as CedarRequest, Schema,
};
use serde_json::Value as Json;
use yungui_policies::{AttrType, AttrTypes, CONTEXT, Finding, Severity, Validate, Vocabularies};

mod cache;
mod calendar;
mod domain;
mod entities;
mod findings;

pub use findings::{DEFAULT_DENY, REGISTRY_MISSING};

use crate::bindings::yungui::policy::types as wit;
use crate::value;
use cache::{Cache, Cached};
use entities::{EntityTypes, TENANT_TYPE, typed_entity};
use findings::missing_finding;

/// Where registry entities come from.
pub trait Registry {
    /// The entity in Cedar entity JSON, if the registry holds it; an error when the host could
    /// not read its registry.
    fn lookup(&self, uid: &wit::EntityUid) -> Result<Option<String>, String>;
    /// Changes whenever the registry changes.
    fn generation(&self) -> u64;
    /// The uids whose entity changed since `generation`, or none when the host cannot tell
    /// (then everything cached is dropped).
    fn changed_since(&self, generation: u64) -> Option<Vec<wit::EntityUid>>;
}

thread_local! {
    /// The instance's engine, set by `init` (at build time, before the snapshot).
    static ENGINE: RefCell<Option<Result<Rc<Engine>, String>>> = const { RefCell::new(None) };
}

/// A policy set as `yungui build` hands it to `init`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicySources {
    schema: SourceFile,
    policies: Vec<SourceFile>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceFile {
    name: String,
    text: String,
}

/// Loads the policy set from standard input into this instance; nothing on standard input leaves
/// it without one. Called once, by `yungui build`, before the instance is snapshotted.
pub fn init_from_stdin() {
    use std::io::Read as _;
    let mut text = String::new();
    let loaded = match std::io::stdin().read_to_string(&mut text) {
        Ok(0) => return,
        Ok(_) => serde_json::from_str::<PolicySources>(&text)
            .map_err(|err| format!("the policy set handed to `init` is not valid: {err}"))
            .and_then(|sources| {
                Engine::new(
                    (&sources.schema.name, &sources.schema.text),
                    sources
                        .policies
                        .iter()
                        .map(|f| (f.name.as_str(), f.text.as_str())),
                )
            })
            .map(Rc::new),
        Err(err) => Err(format!("cannot read the policy set: {err}")),
    };
    ENGINE.with(|cell| *cell.borrow_mut() = Some(loaded));
}

/// Runs `f` with this instance's engine.
pub fn with_engine<T>(
    f: impl FnOnce(&Engine) -> Result<T, wit::Failure>,
) -> Result<T, wit::Failure> {
    let engine = ENGINE.with(|cell| cell.borrow().clone());
    match engine {
        Some(Ok(engine)) => f(&engine),
        Some(Err(message)) => Err(wit::Failure::PluginFault(message)),
        None => Err(wit::Failure::PluginFault(
            "this is yungui's engine component, which holds no policy set: build a policy component with `yungui build`".to_owned(),
        )),
    }
}

/// Policies, schema and the registry cache of one instance.
#[derive(Debug)]
pub struct Engine {
    schema: Schema,
    /// Permits and deny-severity forbids: these decide.
    deciding: PolicySet,
    /// Warn-severity forbids: these only warn.
    warning: PolicySet,
    /// `deciding` and `warning` sliced per action: only the policies whose scope can match.
    by_action: HashMap<EntityUid, (PolicySet, PolicySet)>,
    /// The action's slices sliced again per principal and resource type the schema allows for
    /// the action: only the policies whose principal and resource scope can match those types.
    by_types: HashMap<EntityUid, Vec<TypedSlice>>,
    findings: BTreeMap<PolicyId, Finding>,
    /// Action id (`provision_workload`) to its uid.
    actions: HashMap<String, EntityUid>,
    /// The schema's entity type names, parsed once.
    types: value::TypeNames,
    /// The schema's action entities.
    action_entities: Vec<Entity>,
    /// Whether a policy condition names an action entity: then decisions may look up any action
    /// entity, and working sets hold them all; otherwise only the request's action is looked up
    /// (as `action`), since no attribute can hold an action (the schema types them all).
    all_actions: bool,
    /// The entity types the engine computes facts for, parsed once.
    entity_types: EntityTypes,
    /// Types the registry alone provides (`@registry` in the schema).
    registry_types: BTreeSet<EntityTypeName>,
    /// Closed vocabularies (`@one_of` in the schema): entity type or context → attribute → values.
    vocabularies: Vocabularies,
    /// The attribute types the schema declares, to read JSON requests without Cedar's parser.
    attribute_types: AttrTypes,
    authorizer: Authorizer,
    cache: RefCell<Cache>,
}

/// The policies of one action that can apply to a principal type and a resource type.
#[derive(Debug)]
struct TypedSlice {
    principal: EntityTypeName,
    resource: EntityTypeName,
    deciding: PolicySet,
    warning: PolicySet,
}

/// A request in Cedar's terms, before the registry is consulted.
struct Prepared {
    principal: EntityUid,
    action: EntityUid,
    resource: Entity,
    context: Context,
    extra: Vec<Entity>,
    refs: Vec<EntityUid>,
}

/// The JSON request format.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRequest {
    principal: Json,
    action: Json,
    resource: Json,
    #[serde(default)]
    context: Option<Json>,
    #[serde(default)]
    entities: Vec<Json>,
}

fn bad(message: impl Into<String>) -> wit::Failure {
    wit::Failure::BadRequest(message.into())
}

impl Engine {
    /// An engine over the given schema and policy files (validated strictly by `yungui build`).
    pub fn new<'a>(
        schema: (&str, &str),
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, String> {
        let compiled = yungui_policies::compile(schema, files, Validate::No)
            .map_err(|problems| format!("the policy set does not load: {problems}"))?;
        let mut deciding = PolicySet::new();
        let mut warning = PolicySet::new();
        for policy in compiled.policies.policies() {
            let warn = compiled
                .findings
                .get(policy.id())
                .is_some_and(|f| f.severity == Severity::Warn);
            let set = if warn { &mut warning } else { &mut deciding };
            set.add(policy.clone()).map_err(|err| err.to_string())?;
        }
        let deciding_slices = yungui_policies::slice_by_action(&deciding, &compiled.schema)?;
        let mut warning_slices = yungui_policies::slice_by_action(&warning, &compiled.schema)?;
        let by_action: HashMap<EntityUid, (PolicySet, PolicySet)> = deciding_slices
            .into_iter()
            .map(|(action, d)| {
                let w = warning_slices.remove(&action).unwrap_or_default();
                (action, (d, w))
            })
            .collect();
        let mut by_types: HashMap<EntityUid, Vec<TypedSlice>> = HashMap::new();
        for (action, (deciding, warning)) in &by_action {
            let principals: Vec<EntityTypeName> = compiled
                .schema
                .principals_for_action(action)
                .map(|t| t.cloned().collect())
                .unwrap_or_default();
            let resources: Vec<EntityTypeName> = compiled
                .schema
                .resources_for_action(action)
                .map(|t| t.cloned().collect())
                .unwrap_or_default();
            let mut slices = Vec::new();
            for principal in &principals {
                for resource in &resources {
                    slices.push(TypedSlice {
                        principal: principal.clone(),
                        resource: resource.clone(),
                        deciding: yungui_policies::slice_by_types(deciding, principal, resource)?,
                        warning: yungui_policies::slice_by_types(warning, principal, resource)?,
                    });
                }
            }
            by_types.insert(action.clone(), slices);
        }
        let actions = compiled
            .schema
            .actions()
            .map(|uid| (uid.id().unescaped().to_owned(), uid.clone()))
            .collect();
        let types = value::TypeNames::new(
            compiled
                .schema
                .entity_types()
                .chain(compiled.schema.actions().map(EntityUid::type_name)),
        );
        let action_entities: Vec<Entity> = compiled
            .schema
            .action_entities()
            .map_err(|err| err.to_string())?
            .iter()
            .cloned()
            .collect();
        let action_type = action_entities
            .first()
            .map(|e| e.uid().type_name().to_string())
            .unwrap_or_default();
        let all_actions = deciding.policies().chain(warning.policies()).any(|policy| {
            policy
                .to_json()
                .map_or(true, |json| names_action(&json, &action_type))
        });
        Ok(Self {
            types,
            action_entities,
            all_actions,
            entity_types: EntityTypes::new()?,
            schema: compiled.schema,
            deciding,
            warning,
            by_action,
            by_types,
            findings: compiled.findings,
            actions,
            registry_types: compiled.registry_types,
            vocabularies: compiled.vocabularies,
            attribute_types: compiled.attribute_types,
            authorizer: Authorizer::new(),
            cache: RefCell::default(),
        })
    }

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

    /// Decides a typed request.
    pub fn decide(
        &self,
        request: wit::Request,
        registry: &dyn Registry,
    ) -> Result<wit::Decision, wit::Failure> {
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
        self.decide_prepared(
            Prepared {
                principal,
                action,
                resource,
                context,
                extra,
                refs,
            },
            registry,
        )
    }

    /// Decides a request in the JSON format.
    pub fn decide_json(
        &self,
        request: &str,
        registry: &dyn Registry,
    ) -> Result<wit::Decision, wit::Failure> {
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
        // The request read against the schema's attribute types, as Cedar's schema-directed JSON
        // parser reads it, without the parser's cost (most of a JSON decision's before). Whatever
        // this reading leaves to the parser, and any bad request it leads to, goes the parser's
        // way below, so that every problem is named as the parser names it.
        if let Some(prepared) = self.json_prepared(&request, &action) {
            match self.decide_prepared(prepared, registry) {
                Err(wit::Failure::BadRequest(_)) => {}
                decided => return decided,
            }
        }
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
        self.decide_prepared(
            Prepared {
                principal,
                action,
                resource,
                context,
                extra,
                refs,
            },
            registry,
        )
    }

    /// A JSON request prepared without Cedar's JSON parser (see [`value::from_typed_json`]), its
    /// context checked against the schema; `None` for anything left to the parser.
    fn json_prepared(&self, request: &JsonRequest, action: &EntityUid) -> Option<Prepared> {
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
    fn json_entity(&self, json: &Json, refs: &mut Vec<EntityUid>) -> Option<Entity> {
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

    fn decide_prepared(
        &self,
        prepared: Prepared,
        registry: &dyn Registry,
    ) -> Result<wit::Decision, wit::Failure> {
        let Prepared {
            principal,
            action,
            resource,
            context,
            extra,
            mut refs,
        } = prepared;
        // The engine may put references in (a notice's month): reach them too. The references the
        // caller wrote are in `refs` already.
        let (resource, added) = self
            .request_entity(resource)
            .map_err(|e| bad(format!("`resource`: {e}")))?;
        refs.extend(added);
        let mut request_entities = Vec::with_capacity(1 + extra.len());
        request_entities.push(resource);
        for (index, entity) in extra.into_iter().enumerate() {
            let (entity, added) = self
                .request_entity(entity)
                .map_err(|e| bad(format!("`entities[{index}]`: {e}")))?;
            refs.extend(added);
            request_entities.push(entity);
        }
        if let Some(vocabulary) = self.vocabularies.get(CONTEXT) {
            for (attribute, allowed) in vocabulary {
                if let Some(value) = context.get(attribute) {
                    yungui_policies::check_one_of(attribute, &value, allowed)
                        .map_err(|e| bad(format!("`context`: {e}")))?;
                }
            }
        }
        let resource_uid = request_entities
            .first()
            .map(Entity::uid)
            .ok_or_else(|| bad("no resource"))?;
        for (index, entity) in request_entities.iter().enumerate() {
            let uid = entity.uid();
            if self.registry_types.contains(uid.type_name()) {
                let place = match index {
                    0 => "`resource`".to_owned(),
                    n => format!("`entities[{}]`", n - 1),
                };
                return Err(bad(format!(
                    "{place}: `{uid}` is a registry entity: entities of type `{}` come only from the registry, never with a request; remove it",
                    uid.type_name()
                )));
            }
        }
        let brought: HashSet<EntityUid> = request_entities.iter().map(Entity::uid).collect();
        let entities = match self.reach(refs, &brought, registry) {
            Ok((reached, missing)) if missing.is_empty() => {
                self.entities(&action, reached, request_entities)?
            }
            // A problem with what the caller sent is named before the registry's.
            Ok((_, missing)) => {
                self.checked(request_entities)?;
                let denials = missing.iter().map(missing_finding).collect();
                return Ok(wit::Decision {
                    allowed: false,
                    denials,
                    warnings: Vec::new(),
                });
            }
            Err(failure) => {
                self.checked(request_entities)?;
                return Err(failure);
            }
        };
        let typed = self.by_types.get(&action).and_then(|slices| {
            slices.iter().find(|s| {
                &s.principal == principal.type_name() && &s.resource == resource_uid.type_name()
            })
        });
        let (deciding, warning) = match typed {
            Some(slice) => (&slice.deciding, &slice.warning),
            // Types the schema does not allow for the action: the request check refuses them.
            None => self
                .by_action
                .get(&action)
                .map_or((&self.deciding, &self.warning), |(d, w)| (d, w)),
        };
        let request =
            CedarRequest::new(principal, action, resource_uid, context, Some(&self.schema))
                .map_err(|err| bad(cedar_message(&err)))?;

        let response = self.authorizer.is_authorized(&request, deciding, &entities);
        let mut denials = self.fired(&response);
        if response.decision() == CedarDecision::Deny && denials.is_empty() {
            denials.push(self.default_deny(&response));
        }
        let warnings = if warning.is_empty() {
            Vec::new()
        } else {
            let response = self.authorizer.is_authorized(&request, warning, &entities);
            self.fired(&response)
        };
        Ok(wit::Decision {
            allowed: denials.is_empty(),
            denials,
            warnings,
        })
    }

    /// The request's entities checked against the schema, alone: the check the caller's entities
    /// pass before the registry is consulted, for the paths that stop before deciding.
    fn checked(&self, request_entities: Vec<Entity>) -> Result<Entities, wit::Failure> {
        Entities::from_entities(request_entities, Some(&self.schema))
            .map_err(|err| bad(format!("the request's entities: {}", cedar_message(&err))))
    }

    /// The entities a decision sees: the working set of registry entities the request reaches
    /// (with the action entities), prepared once per instance, and the request's own entities,
    /// checked against the schema as they are added: the one schema check of the entities the
    /// caller sent. Any error is named as the unprepared path names it.
    fn entities(
        &self,
        action: &EntityUid,
        reached: Vec<Rc<Cached>>,
        request_entities: Vec<Entity>,
    ) -> Result<Entities, wit::Failure> {
        // An action entity sent with the request is checked against the schema's and replaced by
        // it: the unprepared path does that.
        let sends_action = request_entities
            .iter()
            .any(|e| self.by_action.contains_key(&e.uid()));
        if !sends_action
            && let Some(set) = self.working_set(action, &reached)
            && let Ok(entities) =
                set.add_entities(request_entities.iter().cloned(), Some(&self.schema))
        {
            return Ok(entities);
        }
        self.entities_unprepared(&reached, request_entities)
    }

    /// The entities a decision sees, built as they were before working sets: the request's
    /// entities checked against the schema (with the schema's action entities), then the
    /// registry's added.
    fn entities_unprepared(
        &self,
        reached: &[Rc<Cached>],
        request_entities: Vec<Entity>,
    ) -> Result<Entities, wit::Failure> {
        self.checked(request_entities)?
            .add_entities(reached.iter().map(|c| c.entity.clone()), None)
            .map_err(|err| wit::Failure::BadEntityData(cedar_message(&err)))
    }
}

/// Whether a policy's conditions (its JSON form's `conditions`; not its scope, whose action
/// constraint only compares the request's action) may look up an action entity other than the
/// request's: whether they hold an entity literal of the action type anywhere but as the right
/// operand of `action in …` or `action == …` (Cedar looks up the left operand's ancestors there,
/// never the right's).
fn names_action(policy: &Json, action_type: &str) -> bool {
    fn is_literal(json: &Json) -> bool {
        json.get("Value").and_then(|v| v.get("__entity")).is_some()
    }
    fn holds(json: &Json, action_type: &str) -> bool {
        match json {
            Json::Object(map) => {
                let is_action = map
                    .get("__entity")
                    .and_then(|e| e.get("type"))
                    .and_then(Json::as_str)
                    .is_some_and(|t| t == action_type);
                if is_action {
                    return true;
                }
                let compares_action = ["in", "=="].iter().find_map(|op| {
                    map.get(*op)
                        .filter(|o| o.get("left") == Some(&serde_json::json!({"Var": "action"})))
                });
                if let Some(operands) = compares_action {
                    let right = operands.get("right");
                    let literals = right.is_some_and(|r| {
                        is_literal(r)
                            || r.get("Set")
                                .and_then(Json::as_array)
                                .is_some_and(|items| items.iter().all(is_literal))
                    });
                    if map.len() == 1 && literals {
                        return false;
                    }
                }
                map.values().any(|v| holds(v, action_type))
            }
            Json::Array(items) => items.iter().any(|v| holds(v, action_type)),
            _ => false,
        }
    }
    policy
        .get("conditions")
        .is_none_or(|conditions| holds(conditions, action_type))
}

/// A Cedar error with its causes and help, on one line.
fn cedar_message<E: miette::Diagnostic + 'static>(err: &E) -> String {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    if let Some(help) = err.help() {
        message.push_str(&format!(" (help: {help})"));
    }
    message
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

    fn names(policy: &str) -> bool {
        let policy = cedar_policy::Policy::from_str(policy).unwrap();
        names_action(&policy.to_json().unwrap(), "Cloud::Action")
    }

    #[test]
    fn an_action_literal_outside_comparisons_of_the_action_is_seen() {
        // The scope and `action in`/`action ==` compare the request's action only.
        assert!(!names(
            r#"forbid (principal, action in [Cloud::Action::"a"], resource) when { principal.x };"#
        ));
        assert!(!names(
            r#"forbid (principal, action, resource) unless { action in Cloud::Action::"g" };"#
        ));
        assert!(!names(
            r#"forbid (principal, action, resource) when { action == Cloud::Action::"a" || action in [Cloud::Action::"b", Cloud::Action::"c"] };"#
        ));
        // Anything else may look another action entity up.
        assert!(names(
            r#"forbid (principal, action, resource) when { Cloud::Action::"a" in action };"#
        ));
        assert!(names(
            r#"forbid (principal, action, resource) when { context.x == Cloud::Action::"a" };"#
        ));
        assert!(names(
            r#"forbid (principal, action, resource) when { action in [Cloud::Action::"a", context.y] };"#
        ));
    }
}
