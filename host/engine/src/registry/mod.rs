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

mod files;
pub mod postgres;

pub use files::{Files, Update, read_entities};

use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
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
    /// Two files of a registry directory hold the same uid.
    #[error("`{uid}` is in both `{first}` and `{second}`: keep it in one")]
    InTwoFiles {
        /// The uid.
        uid: String,
        /// The file holding it already.
        first: String,
        /// The file that holds it too.
        second: String,
    },
    /// What is wrong with one file of a registry directory.
    #[error("`{path}`: {error}")]
    InFile {
        /// The file.
        path: String,
        /// What is wrong with it (its message is part of this one's).
        error: Box<RegistryError>,
    },
    /// A registry directory holds no registry file.
    #[error("the registry directory `{0}` holds no `*.json` file")]
    EmptyDirectory(String),
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

/// Why a registry could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file could not be read or is not a registry.
    #[error(transparent)]
    File(#[from] RegistryError),
    /// The database client could not start.
    #[error(transparent)]
    Database(#[from] postgres::PgError),
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
        let key = key_of(&raw).map_err(|message| RegistryError::Entity { index, message })?;
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
    pub fn lookup(&self, type_name: &str, id: &str) -> Result<Option<String>, String> {
        match &self.database {
            Some(database) => database
                .lookup(&Key::new(type_name, id))
                .map(|text| text.map(|t| t.to_string())),
            None => Ok(self.get(type_name, id).map(str::to_owned)),
        }
    }

    /// Whether decisions may use the registry now, else why not (a database out of reach past
    /// its staleness bound, or not connected yet). A file registry always may.
    pub fn health(&self) -> Result<(), String> {
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
            let key = key_of(&raw).map_err(|message| RegistryError::Entity { index, message })?;
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
    fn a_key_twice_in_an_entity_is_refused_naming_it() {
        let text = r#"[{"uid": {"type": "Cloud::Tenant", "id": "a"},
            "attrs": {"real_name_verified": false, "x": 1, "real_name_verified": true}, "parents": []}]"#;
        let err = Registry::from_json(text).unwrap_err().to_string();
        assert!(err.contains("real_name_verified"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        std::fs::write(&path, text).unwrap();
        let err = Registry::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("real_name_verified"), "{err}");
        let err = read_entities(&path).unwrap_err().to_string();
        assert!(err.contains("real_name_verified"), "{err}");
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
        assert_eq!(
            registry.listed_tenant_of_namespace("shop-web").as_deref(),
            Some("shop")
        );
        assert_eq!(registry.listed_tenant_of_namespace("other"), None);
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

    fn raw(text: &str) -> Vec<Box<RawValue>> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_diff_holds_what_changed_and_the_log_names_it() {
        let base = Registry::from_json(
            r#"[{"uid": {"type": "T", "id": "a"}, "attrs": {"x": 1}},
                {"uid": {"type": "T", "id": "b"}, "attrs": {"x": 1}},
                {"uid": {"type": "T", "id": "c"}, "attrs": {"x": 1}}]"#,
        )
        .unwrap();
        let same = base
            .diff(raw(
                r#"[{"uid": {"type": "T", "id": "c"}, "attrs": {"x": 1}},
                    {"attrs": {"x":1}, "uid": {"id": "a", "type": "T"}},
                    {"uid": {"type": "T", "id": "b"}, "attrs": {"x": 1}}]"#,
            ))
            .unwrap();
        assert!(same.is_empty());
        let diff = base
            .diff(raw(
                r#"[{"uid": {"type": "T", "id": "a"}, "attrs": {"x": 2}},
                    {"uid": {"type": "T", "id": "b"}, "attrs": {"x": 1}},
                    {"uid": {"type": "T", "id": "d"}, "attrs": {}}]"#,
            ))
            .unwrap();
        assert_eq!((diff.puts(), diff.removes()), (2, 1));
        let next = base.apply(diff).unwrap();
        assert_eq!(next.len(), 3);
        assert!(next.get("T", "a").unwrap().contains('2'));
        assert!(next.get("T", "c").is_none());
        assert!(next.get("T", "d").is_some());
        assert!(
            base.get("T", "c").is_some(),
            "the old snapshot is untouched"
        );
        let mut changed: Vec<String> = next
            .changed_since(base.generation())
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        changed.sort();
        assert_eq!(changed, [r#"T::"a""#, r#"T::"c""#, r#"T::"d""#]);
        assert_eq!(next.changed_since(next.generation()).unwrap().len(), 0);
        // Two steps: the union; an unrelated registry: unknown.
        let third = next
            .with(raw(
                r#"[{"uid": {"type": "T", "id": "b"}, "attrs": {"x": 3}}]"#,
            ))
            .unwrap();
        assert_eq!(third.changed_since(base.generation()).unwrap().len(), 4);
        assert_eq!(third.changed_since(next.generation()).unwrap().len(), 1);
        let other = Registry::from_json("[]").unwrap();
        assert!(third.changed_since(other.generation()).is_none());
        // A duplicate in the new version is refused, as on a first load.
        let dup = r#"[{"uid": {"type": "T", "id": "a"}}, {"uid": {"type": "T", "id": "a"}}]"#;
        assert!(base.diff(raw(dup)).is_err());
    }

    #[test]
    fn namespaces_follow_changes() {
        let base = Registry::from_json(
            r#"[{"uid": {"type": "Cloud::Namespace", "id": "web"}, "parents": [{"type": "Cloud::Tenant", "id": "a"}]}]"#,
        )
        .unwrap();
        let moved = base
            .diff(raw(
                r#"[{"uid": {"type": "Cloud::Namespace", "id": "web"}, "parents": [{"type": "Cloud::Tenant", "id": "b"}]}]"#,
            ))
            .and_then(|d| base.apply(d))
            .unwrap();
        assert_eq!(moved.tenant_of_namespace("web"), "b");
        assert_eq!(base.tenant_of_namespace("web"), "a");
        let gone = moved.diff(raw("[]")).and_then(|d| moved.apply(d)).unwrap();
        assert_eq!(gone.tenant_of_namespace("web"), "web");
        let bad = base.diff(raw(
            r#"[{"uid": {"type": "Cloud::Namespace", "id": "web"}, "parents": []}]"#,
        ));
        assert!(bad.and_then(|d| base.apply(d)).is_err());
    }
}
