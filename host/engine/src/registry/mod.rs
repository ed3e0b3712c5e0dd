//! The registry: operators, partners, carriers, tenants, staff, regions and gateways, read from a
//! Cedar entities JSON file and held for the life of the process.
//!
//! Each entity is kept as its JSON text, indexed by uid; the component asks for the few a request
//! reaches, so a decision costs the same whatever the registry's size. The component checks each
//! entity against the schema when it first reads it.
//!
//! A registry is an immutable snapshot. A change makes a new snapshot that shares every shard it
//! does not touch with the old one (so applying one changed entity costs one shard's copy, not the
//! registry's), and remembers which uids changed (a bounded log): the component asks
//! [`Registry::changed_since`] and drops exactly those from its parsed-entity cache.

mod error;
mod files;
pub mod postgres;

pub use error::{OpenError, RegistryError, UidError, Unavailable};
pub use files::{Files, Update, read_entities};

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;
use serde_json::value::RawValue;

/// The entity type that maps a Kubernetes namespace to its tenant (its one `Cloud::Tenant` parent).
pub const NAMESPACE_TYPE: &str = "Cloud::Namespace";

/// The tenant entity type.
pub const TENANT_TYPE: &str = "Cloud::Tenant";

/// Shards of the entity index: a change copies only the shards it touches.
const SHARDS: usize = 1024;
/// Changes remembered for [`Registry::changed_since`], in steps and in uids: past either bound the
/// oldest are forgotten (a component that far behind drops its whole cache).
const HISTORY_STEPS: usize = 1024;
const HISTORY_UIDS: usize = 65_536;

type Shard = HashMap<Key, Box<RawValue>>;

/// Where a registry comes from.
#[derive(Debug, Clone)]
pub enum RegistrySource {
    /// A Cedar entities JSON file, or a directory of them, read whole (and, by a server, watched
    /// for changes: see [`Files`]).
    File(std::path::PathBuf),
    /// A PostgreSQL database, looked up on demand.
    Database(postgres::PgConfig),
}

impl RegistrySource {
    /// The registry: the file read, or a database client started (it connects in the
    /// background; [`Registry::health`] says when it cannot).
    pub fn open(&self) -> Result<Registry, OpenError> {
        match self {
            Self::File(path) => Ok(Files::load(path)?.0),
            Self::Database(config) => Ok(Registry::from_database(postgres::Database::start(
                config.clone(),
            )?)),
        }
    }
}

/// A registry held in memory: an immutable snapshot, cheap to clone.
#[derive(Debug, Clone)]
pub struct Registry {
    shards: Vec<Arc<Shard>>,
    len: usize,
    /// Namespace → tenant, from the `Cloud::Namespace` entities.
    namespaces: Arc<HashMap<Box<str>, Box<str>>>,
    generation: u64,
    /// The changes that led to this snapshot, oldest first.
    history: VecDeque<Arc<Step>>,
    /// Uids in `history`.
    history_uids: usize,
    /// The database the entities come from, for a registry in PostgreSQL (then the snapshot
    /// above is empty).
    database: Option<Arc<postgres::Database>>,
}

/// One change: from the snapshot of generation `from` to the next, these uids changed.
#[derive(Debug)]
struct Step {
    from: u64,
    uids: Vec<Key>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Arc::new(Shard::new())).collect(),
            len: 0,
            namespaces: Arc::default(),
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            history: VecDeque::new(),
            history_uids: 0,
            database: None,
        }
    }
}

/// An entity's uid, as the registry indexes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    type_name: Box<str>,
    id: Box<str>,
}

impl Key {
    /// The uid `type_name::"id"`.
    pub fn new(type_name: &str, id: &str) -> Self {
        Self {
            type_name: type_name.into(),
            id: id.into(),
        }
    }

    /// The entity type, e.g. `Cloud::Tenant`.
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The entity id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}::{:?}", self.type_name, &*self.id)
    }
}

/// What changes between a registry and a new version of its entities: the entities to add or
/// replace (new, or their text differs), and the uids to remove.
#[derive(Debug, Default)]
pub struct Diff {
    puts: Vec<(Key, Box<RawValue>)>,
    removes: Vec<Key>,
}

impl Diff {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.removes.is_empty()
    }

    /// Entities added or replaced.
    pub fn puts(&self) -> usize {
        self.puts.len()
    }

    /// Entities removed.
    pub fn removes(&self) -> usize {
        self.removes.len()
    }

    /// The texts of the entities added or replaced (to check them before applying).
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.puts.iter().map(|(_, raw)| raw.get())
    }
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

fn shard_of(key: &Key) -> usize {
    // A fixed hash (SipHash with zero keys): the shard of a uid is the same in every snapshot.
    #[allow(
        deprecated,
        reason = "SipHasher's fixed keys are what is wanted here; DefaultHasher::new is the same"
    )]
    let mut hasher = std::hash::SipHasher::new();
    key.hash(&mut hasher);
    usize::try_from(hasher.finish() % SHARDS as u64).unwrap_or(0)
}

/// Reads a Cedar entities JSON file into its entities' texts.
fn read_file(path: &Path) -> Result<Vec<Box<RawValue>>, RegistryError> {
    let text = std::fs::read_to_string(path).map_err(|source| RegistryError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text)
}

/// Entities' texts from Cedar entities JSON; an object naming a key twice is refused, naming it
/// (`serde_json` would keep the last one, another reader the first: every reader must agree on
/// what an entity says, as for requests).
fn parse(text: &str) -> Result<Vec<Box<RawValue>>, RegistryError> {
    yungui_policies::json::check(text.as_bytes()).map_err(RegistryError::Json)?;
    serde_json::from_str(text).map_err(RegistryError::Json)
}

/// The entities keyed by uid; two with the same uid are an error.
fn keyed(entities: Vec<Box<RawValue>>) -> Result<Vec<(Key, Box<RawValue>)>, RegistryError> {
    let mut out = Vec::with_capacity(entities.len());
    for (index, raw) in entities.into_iter().enumerate() {
        let key = key_of(&raw).map_err(|error| RegistryError::Entity { index, error })?;
        out.push((key, raw));
    }
    let mut seen = HashSet::with_capacity(out.len());
    for (key, _) in &out {
        if !seen.insert(key) {
            return Err(RegistryError::Duplicate(key.to_string()));
        }
    }
    Ok(out)
}

impl Registry {
    /// An empty registry: every entity a request names is missing.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Reads a Cedar entities JSON file, or a directory of them (see [`Files`]).
    pub fn from_file(path: &Path) -> Result<Self, RegistryError> {
        Ok(Files::load(path)?.0)
    }

    /// Reads Cedar entities JSON text.
    pub fn from_json(text: &str) -> Result<Self, RegistryError> {
        Self::from_entities(parse(text)?)
    }

    /// A registry in PostgreSQL (see [`postgres`]).
    pub fn from_database(database: postgres::Database) -> Self {
        Self {
            database: Some(Arc::new(database)),
            ..Self::default()
        }
    }

    /// The database the entities come from, for a registry in PostgreSQL.
    pub fn database(&self) -> Option<&postgres::Database> {
        self.database.as_deref()
    }

    /// The entity's JSON text, or none when the registry does not hold it; an error when the
    /// registry cannot be read (a database out of reach).
    pub fn lookup(&self, type_name: &str, id: &str) -> Result<Option<String>, Unavailable> {
        match &self.database {
            Some(database) => database
                .lookup(&Key::new(type_name, id))
                .map(|text| text.map(|t| t.to_string())),
            None => Ok(self.get(type_name, id).map(str::to_owned)),
        }
    }

    /// Whether decisions may use the registry now, else why not (a database out of reach past
    /// its staleness bound, or not connected yet). A file registry always may.
    pub fn health(&self) -> Result<(), Unavailable> {
        self.database.as_ref().map_or(Ok(()), |db| db.health())
    }

    /// Indexes entities given as JSON texts.
    pub fn from_entities(entities: Vec<Box<RawValue>>) -> Result<Self, RegistryError> {
        let keyed = keyed(entities)?;
        let mut shards: Vec<Shard> = (0..SHARDS).map(|_| Shard::new()).collect();
        let mut namespaces = HashMap::new();
        let len = keyed.len();
        for (key, raw) in keyed {
            if &*key.type_name == NAMESPACE_TYPE {
                namespaces.insert(key.id.clone(), namespace_tenant(&key, &raw)?);
            }
            if let Some(shard) = shards.get_mut(shard_of(&key)) {
                shard.insert(key, raw);
            }
        }
        Ok(Self {
            shards: shards
                .into_iter()
                .map(|mut shard| {
                    shard.shrink_to_fit();
                    Arc::new(shard)
                })
                .collect(),
            len,
            namespaces: Arc::new(namespaces),
            ..Self::default()
        })
    }

    /// This registry with `entities` added; an entity with a uid already held replaces it.
    pub fn with(&self, entities: Vec<Box<RawValue>>) -> Result<Self, RegistryError> {
        let mut puts = Vec::with_capacity(entities.len());
        for (index, raw) in entities.into_iter().enumerate() {
            let key = key_of(&raw).map_err(|error| RegistryError::Entity { index, error })?;
            puts.push((key, raw));
        }
        self.apply(Diff {
            puts,
            removes: Vec::new(),
        })
    }

    /// What differs between this registry and `entities`, a new version of all of it: the
    /// entities new or whose text changed, and the uids no longer there.
    pub fn diff(&self, entities: Vec<Box<RawValue>>) -> Result<Diff, RegistryError> {
        Ok(self.diff_keyed(&keyed(entities)?))
    }

    /// [`Registry::diff`] of entities already keyed (and free of duplicates).
    fn diff_keyed(&self, keyed: &[(Key, Box<RawValue>)]) -> Diff {
        let mut kept = 0;
        let mut puts = Vec::new();
        for (key, raw) in keyed {
            match self.get_key(key) {
                Some(old) if same_entity(old, raw) => kept += 1,
                Some(_) => {
                    kept += 1;
                    puts.push((key.clone(), raw.clone()));
                }
                None => puts.push((key.clone(), raw.clone())),
            }
        }
        let removes = if kept == self.len {
            Vec::new()
        } else {
            let present: HashSet<&Key> = keyed.iter().map(|(key, _)| key).collect();
            self.keys()
                .filter(|k| !present.contains(k))
                .cloned()
                .collect()
        };
        Diff { puts, removes }
    }

    /// Reads a new version of the registry's file and the [`Diff`] to it.
    pub fn diff_file(&self, path: &Path) -> Result<Diff, RegistryError> {
        self.diff(read_file(path)?)
    }

    /// A copy of shard `index`, to change.
    fn shard_copy(&self, index: usize) -> Shard {
        self.shards
            .get(index)
            .map(|s| (**s).clone())
            .unwrap_or_default()
    }

    /// This registry with `diff` applied, as one new generation: the shards it touches are
    /// copied, the others shared.
    pub fn apply(&self, diff: Diff) -> Result<Self, RegistryError> {
        let mut next = self.clone();
        let mut touched: HashMap<usize, Shard> = HashMap::new();
        let mut namespaces: Option<HashMap<Box<str>, Box<str>>> = None;
        let mut changed = Vec::with_capacity(diff.puts.len() + diff.removes.len());
        for key in diff.removes {
            let index = shard_of(&key);
            let shard = touched
                .entry(index)
                .or_insert_with(|| self.shard_copy(index));
            if shard.remove(&key).is_some() {
                next.len -= 1;
                if &*key.type_name == NAMESPACE_TYPE {
                    namespaces
                        .get_or_insert_with(|| (*self.namespaces).clone())
                        .remove(&key.id);
                }
                changed.push(key);
            }
        }
        for (key, raw) in diff.puts {
            if &*key.type_name == NAMESPACE_TYPE {
                let tenant = namespace_tenant(&key, &raw)?;
                namespaces
                    .get_or_insert_with(|| (*self.namespaces).clone())
                    .insert(key.id.clone(), tenant);
            }
            let index = shard_of(&key);
            let shard = touched
                .entry(index)
                .or_insert_with(|| self.shard_copy(index));
            if shard.insert(key.clone(), raw).is_none() {
                next.len += 1;
            }
            changed.push(key);
        }
        for (index, shard) in touched {
            if let Some(slot) = next.shards.get_mut(index) {
                *slot = Arc::new(shard);
            }
        }
        if let Some(namespaces) = namespaces {
            next.namespaces = Arc::new(namespaces);
        }
        next.generation = GENERATION.fetch_add(1, Ordering::Relaxed);
        next.history_uids += changed.len();
        next.history.push_back(Arc::new(Step {
            from: self.generation,
            uids: changed,
        }));
        while next.history.len() > HISTORY_STEPS || next.history_uids > HISTORY_UIDS {
            match next.history.pop_front() {
                Some(step) => next.history_uids -= step.uids.len(),
                None => break,
            }
        }
        Ok(next)
    }

    /// The uids added, replaced or removed since the snapshot of generation `generation`, or
    /// `None` when this snapshot does not descend from it within the changes it remembers.
    pub fn changed_since(&self, generation: u64) -> Option<Vec<Key>> {
        if let Some(database) = &self.database {
            return database.changed_since(generation);
        }
        if generation == self.generation {
            return Some(Vec::new());
        }
        let start = self
            .history
            .iter()
            .rposition(|step| step.from == generation)?;
        let mut seen = HashSet::new();
        Some(
            self.history
                .iter()
                .skip(start)
                .flat_map(|step| &step.uids)
                .filter(|key| seen.insert(*key))
                .cloned()
                .collect(),
        )
    }

    fn get_key(&self, key: &Key) -> Option<&RawValue> {
        self.shards
            .get(shard_of(key))
            .and_then(|shard| shard.get(key))
            .map(|raw| &**raw)
    }

    fn keys(&self) -> impl Iterator<Item = &Key> {
        self.shards.iter().flat_map(|shard| shard.keys())
    }

    /// The entity's JSON text.
    pub fn get(&self, type_name: &str, id: &str) -> Option<&str> {
        // A borrowed lookup without allocating would need a custom Borrow; entity keys are short.
        self.get_key(&Key::new(type_name, id)).map(RawValue::get)
    }

    /// The tenant a Kubernetes namespace belongs to: the one `Cloud::Tenant` parent of its
    /// `Cloud::Namespace` entity, else (no such entity) the tenant named like the namespace.
    pub fn tenant_of_namespace<'a>(&'a self, namespace: &'a str) -> Cow<'a, str> {
        if let Some(database) = &self.database {
            return Cow::Owned(database.tenant_of_namespace(namespace));
        }
        Cow::Borrowed(self.namespaces.get(namespace).map_or(namespace, |t| t))
    }

    /// The tenant of a namespace that a `Cloud::Namespace` entity maps (its one `Cloud::Tenant`
    /// parent); `None` for a namespace the registry does not list.
    pub fn listed_tenant_of_namespace<'a>(&'a self, namespace: &str) -> Option<Cow<'a, str>> {
        if let Some(database) = &self.database {
            return database
                .listed_tenant_of_namespace(namespace)
                .map(Cow::Owned);
        }
        self.namespaces
            .get(namespace)
            .map(|t| Cow::Borrowed(t.as_ref()))
    }

    /// Every entity, as its Cedar entity JSON text.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.shards
            .iter()
            .flat_map(|shard| shard.values().map(|raw| raw.get()))
    }

    /// How many entities it holds (in PostgreSQL: how many are cached).
    pub fn len(&self) -> usize {
        self.database.as_ref().map_or(self.len, |db| db.cached())
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Unique per registry snapshot in this process: the component drops what it cached from
    /// another generation ([`Registry::changed_since`] says what).
    pub fn generation(&self) -> u64 {
        self.database
            .as_ref()
            .map_or(self.generation, |db| db.generation())
    }
}

/// Whether two texts hold the same entity: the same text, or (only when they differ, which is
/// rare) the same JSON written differently.
fn same_entity(old: &RawValue, new: &RawValue) -> bool {
    old.get() == new.get()
        || matches!(
            (
                serde_json::from_str::<serde_json::Value>(old.get()),
                serde_json::from_str::<serde_json::Value>(new.get()),
            ),
            (Ok(a), Ok(b)) if a == b
        )
}

/// The tenant a `Cloud::Namespace` entity names: its one `Cloud::Tenant` parent.
fn namespace_tenant(key: &Key, raw: &RawValue) -> Result<Box<str>, RegistryError> {
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
        Ok([tenant]) => Ok(tenant.into_boxed_str()),
        Err(tenants) => Err(RegistryError::NamespaceTenant {
            namespace: key.id.to_string(),
            found: tenants.len(),
        }),
    }
}

fn key_of(raw: &RawValue) -> Result<Key, UidError> {
    let UidOnly { uid } = serde_json::from_str(raw.get()).map_err(UidError::Missing)?;
    let (Uid::Explicit { entity: plain } | Uid::Plain(plain)) = uid;
    if plain.type_name.is_empty() {
        return Err(UidError::EmptyType);
    }
    Ok(Key {
        type_name: plain.type_name.into(),
        id: plain.id.into(),
    })
}

#[cfg(test)]
mod tests;
