//! What an instance keeps of the registry between decisions: the registry entities it has read
//! (parsed and checked against the schema once, forgotten when the registry says they changed),
//! the working sets built from them, and the walk from a request to the registry entities it
//! reaches.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use cedar_policy::{Entities, Entity, EntityUid};
use serde_json::Value as Json;

use super::{Engine, Registry, cedar_message};
use crate::bindings::yungui::policy::types as wit;
use crate::value;

/// Registry entities cached per instance before the cache starts over.
const CACHE_CAPACITY: usize = 16_384;
/// Working sets (see [`Cache`]) kept per instance before they start over.
const SETS_CAPACITY: usize = 4_096;
/// Registry entities one request may reach before it is refused.
const MAX_REACHED: usize = 256;

/// A registry entity, parsed and checked against the schema once.
#[derive(Debug)]
pub(super) struct Cached {
    pub(super) entity: Entity,
    refs: Vec<EntityUid>,
}

#[derive(Debug, Default)]
pub(super) struct Cache {
    generation: Option<u64>,
    entries: HashMap<EntityUid, Option<Rc<Cached>>>,
    /// Working sets: the action, then the registry entities a request reached (sorted), to
    /// those entities and the action entities as one transitively closed [`Entities`]. Built
    /// from `entries`, so whatever forgets an entry must forget the sets holding it.
    sets: HashMap<Vec<EntityUid>, Entities>,
}

impl Cache {
    /// Forgets what the registry changed: the one place entries and working sets are invalidated.
    /// Only the entities changed since the cached generation are dropped, with the working sets
    /// holding them; everything is when the host cannot say which changed (or the cache is full).
    fn refresh(&mut self, types: &value::TypeNames, registry: &dyn Registry) {
        let generation = registry.generation();
        if self.generation != Some(generation) {
            match self.generation.and_then(|g| registry.changed_since(g)) {
                Some(changed) => {
                    // A uid of no known type cannot be cached: nothing to drop for it.
                    let changed: HashSet<EntityUid> = changed
                        .iter()
                        .filter_map(|uid| value::uid(types, uid).ok())
                        .collect();
                    if !changed.is_empty() {
                        self.entries.retain(|uid, _| !changed.contains(uid));
                        self.sets
                            .retain(|key, _| !key.iter().any(|uid| changed.contains(uid)));
                    }
                }
                None => {
                    self.entries.clear();
                    self.sets.clear();
                }
            }
            self.generation = Some(generation);
        }
        if self.entries.len() >= CACHE_CAPACITY {
            self.entries.clear();
            self.sets.clear();
        }
    }
}

impl Engine {
    /// The working set of registry entities `reached` and the action entities decisions on
    /// `action` may look up, transitively closed: built on first use and kept with the parsed
    /// entities (and forgotten with them). `None` if it does not build (a hierarchy cycle): the
    /// unprepared path names the problem.
    pub(super) fn working_set(
        &self,
        action: &EntityUid,
        reached: &[Rc<Cached>],
    ) -> Option<Entities> {
        let mut key: Vec<EntityUid> = Vec::with_capacity(reached.len() + 1);
        key.push(action.clone());
        key.extend(reached.iter().map(|c| c.entity.uid()));
        if let Some(rest) = key.get_mut(1..) {
            rest.sort_unstable();
        }
        let mut cache = self.cache.borrow_mut();
        if let Some(set) = cache.sets.get(&key) {
            return Some(set.clone());
        }
        let actions = self
            .action_entities
            .iter()
            .filter(|e| self.all_actions || &e.uid() == action)
            .cloned();
        let set = Entities::from_entities(
            reached.iter().map(|c| c.entity.clone()).chain(actions),
            None,
        )
        .ok()?;
        if cache.sets.len() >= SETS_CAPACITY {
            cache.sets.clear();
        }
        cache.sets.insert(key, set.clone());
        Some(set)
    }

    /// The registry entities the request reaches (following references from the principal,
    /// the resource and the context), and the uids the registry does not hold.
    pub(super) fn reach(
        &self,
        mut pending: Vec<EntityUid>,
        brought: &HashSet<EntityUid>,
        registry: &dyn Registry,
    ) -> Result<(Vec<Rc<Cached>>, Vec<EntityUid>), wit::Failure> {
        let mut cache = self.cache.borrow_mut();
        cache.refresh(&self.types, registry);
        let mut seen = HashSet::new();
        let mut reached = Vec::new();
        let mut missing = Vec::new();
        while let Some(uid) = pending.pop() {
            if brought.contains(&uid) || self.by_action.contains_key(&uid) || seen.contains(&uid) {
                continue;
            }
            if reached.len() >= MAX_REACHED {
                return Err(wit::Failure::BadEntityData(format!(
                    "the request reaches more than {MAX_REACHED} registry entities: check the registry for reference chains"
                )));
            }
            let cached = match cache.entries.get(&uid) {
                Some(cached) => cached.clone(),
                None => {
                    let loaded = self.load(&uid, registry)?;
                    cache.entries.insert(uid.clone(), loaded.clone());
                    loaded
                }
            };
            match cached {
                Some(cached) => {
                    pending.extend(cached.refs.iter().cloned());
                    reached.push(cached);
                }
                None => missing.push(uid.clone()),
            }
            seen.insert(uid);
        }
        missing.sort_by_key(ToString::to_string);
        Ok((reached, missing))
    }

    fn load(
        &self,
        uid: &EntityUid,
        registry: &dyn Registry,
    ) -> Result<Option<Rc<Cached>>, wit::Failure> {
        let key = wit::EntityUid {
            type_name: uid.type_name().to_string(),
            id: uid.id().unescaped().to_owned(),
        };
        let Some(text) = registry.lookup(&key).map_err(|err| {
            wit::Failure::PluginFault(format!(
                "the host could not read registry entity `{uid}`: {err}"
            ))
        })?
        else {
            return Ok(None);
        };
        let json: Json = serde_json::from_str(&text).map_err(|err| {
            wit::Failure::BadEntityData(format!("registry entity `{uid}` is not JSON: {err}"))
        })?;
        // Read against the schema's attribute types and checked against the schema, as Cedar's
        // parser reads and checks it (a tenant never seen costs 27% fewer instructions, see
        // BENCHMARKS.md); anything else, and any problem, the parser reads and names.
        let entity = match self.json_entity(&json, &mut Vec::new()) {
            Some(entity)
                if Entities::empty()
                    .add_entities([entity.clone()], Some(&self.schema))
                    .is_ok() =>
            {
                entity
            }
            _ => Entity::from_json_value(json, Some(&self.schema)).map_err(|err| {
                wit::Failure::BadEntityData(format!(
                    "registry entity `{uid}`: {}",
                    cedar_message(&err)
                ))
            })?,
        };
        if &entity.uid() != uid {
            return Err(wit::Failure::BadEntityData(format!(
                "the registry answered `{}` when asked for `{uid}`",
                entity.uid()
            )));
        }
        let entity = self
            .registry_entity(entity)
            .map_err(|e| wit::Failure::BadEntityData(format!("registry entity `{uid}`: {e}")))?;
        let mut refs = Vec::new();
        value::entity_refs(&entity, &mut refs);
        Ok(Some(Rc::new(Cached { entity, refs })))
    }
}
