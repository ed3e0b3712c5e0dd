//! The decision core: a request and the registry in, a decision or a failure out.
//!
//! Independent of the component boundary (the registry is a trait) so it can be tested natively.
//!
//! Here: the [`Engine`] (policy set, schema and registry cache of one instance) and the decision
//! path. Beside it, one concern each: `instance` (the instance's engine, loaded by `init`),
//! `request` (requests read into Cedar's terms), `entities` (entities built, and the facts the
//! engine computes put in), `cache` (the registry entities an instance keeps, and what a request
//! reaches), `slices` (the policy set sliced per action and types), `findings` (what a decision
//! says), `errors`, and the notice's `calendar` and `domain` names.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use cedar_policy::{
    Authorizer, Decision as CedarDecision, Entities, Entity, EntityTypeName, EntityUid, PolicyId,
    PolicySet, Request as CedarRequest, Schema,
};
use yungui_policies::{AttrTypes, CONTEXT, Finding, Severity, Validate, Vocabularies};

mod cache;
mod calendar;
mod domain;
mod entities;
mod errors;
mod findings;
mod instance;
mod request;
mod slices;

pub use errors::LoadError;
pub use findings::{DEFAULT_DENY, REGISTRY_MISSING};
pub use instance::{init_from_stdin, with_engine};

use crate::bindings::yungui::policy::types as wit;
use crate::value;
use cache::{Cache, Cached};
use entities::EntityTypes;
use errors::{bad, cedar_message};
use findings::missing_finding;
use request::Prepared;
use slices::{ByAction, ByTypes, names_action};

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

/// Policies, schema and the registry cache of one instance.
#[derive(Debug)]
pub struct Engine {
    schema: Schema,
    /// Permits and deny-severity forbids: these decide.
    deciding: PolicySet,
    /// Warn-severity forbids: these only warn.
    warning: PolicySet,
    /// `deciding` and `warning` sliced per action: only the policies whose scope can match.
    by_action: ByAction,
    /// The action's slices sliced again per principal and resource type the schema allows for
    /// the action: only the policies whose principal and resource scope can match those types.
    by_types: ByTypes,
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

impl Engine {
    /// An engine over the given schema and policy files (validated strictly by `yungui build`).
    pub fn new<'a>(
        schema: (&str, &str),
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, LoadError> {
        let compiled =
            yungui_policies::compile(schema, files, Validate::No).map_err(LoadError::Compile)?;
        let mut deciding = PolicySet::new();
        let mut warning = PolicySet::new();
        for policy in compiled.policies.policies() {
            let warn = compiled
                .findings
                .get(policy.id())
                .is_some_and(|f| f.severity == Severity::Warn);
            let set = if warn { &mut warning } else { &mut deciding };
            set.add(policy.clone())
                .map_err(|err| LoadError::Prepare(err.to_string()))?;
        }
        let (by_action, by_types) =
            slices::slice(&deciding, &warning, &compiled.schema).map_err(LoadError::Prepare)?;
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
            .map_err(|err| LoadError::Prepare(err.to_string()))?
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
            entity_types: EntityTypes::new().map_err(LoadError::Prepare)?,
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

    /// Decides a typed request.
    pub fn decide(
        &self,
        request: wit::Request,
        registry: &dyn Registry,
    ) -> Result<wit::Decision, wit::Failure> {
        let prepared = self.typed_prepared(&request)?;
        self.decide_prepared(prepared, registry)
    }

    /// Decides a request in the JSON format.
    pub fn decide_json(
        &self,
        request: &str,
        registry: &dyn Registry,
    ) -> Result<wit::Decision, wit::Failure> {
        let (request, action) = self.read_json(request)?;
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
        let prepared = self.parsed_prepared(request, action)?;
        self.decide_prepared(prepared, registry)
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
