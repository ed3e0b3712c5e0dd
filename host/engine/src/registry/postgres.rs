//! The registry in PostgreSQL, for fleets: entities looked up on demand and kept in a bounded
//! in-process cache; every committed change is announced by a trigger (`NOTIFY yungui_registry`)
//! and each process evicts exactly the entity named (see `schema.sql`).
//!
//! The component's lookup is synchronous (inside a wasmtime call, on a blocking thread), so the
//! database is reached through one dedicated client thread with its own single-threaded tokio
//! runtime: a lookup that misses the cache sends its uid over a channel and waits for the answer
//! at most [`PgConfig::lookup_timeout`]. No tokio worker of the caller ever blocks on the
//! database. The client thread keeps the connection, listens for changes, and reconnects with
//! backoff when it is lost.
//!
//! Faults fail closed: a lookup the database cannot answer is an error (the decision fails with
//! a fault naming it), never a "missing" entity. Freshness is measured from the last time the
//! database answered (a lookup, an announcement, or the heartbeat the client sends every quarter
//! of [`PgConfig::staleness`], each bounded by [`PgConfig::lookup_timeout`]), not from a noticed
//! disconnection: a server that stops answering without closing (hung, or behind a partition that
//! drops packets) is treated as lost once a heartbeat goes unanswered, and past the staleness bound
//! after its last answer every decision fails, cached entities included. After a reconnection
//! every cache is dropped (changes made meanwhile were not announced to us).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::{GENERATION, Key, NAMESPACE_TYPE, RegistryError, Unavailable};

mod client;

/// The schema and its triggers (idempotent).
pub const SCHEMA: &str = include_str!("schema.sql");

/// The channel the triggers notify.
pub const CHANNEL: &str = "yungui_registry";

/// Changes remembered for `changed_since`, in uids.
const HISTORY_UIDS: usize = 65_536;
/// Entities per statement when importing.
const IMPORT_BATCH: usize = 5_000;

/// How a process reaches its registry database.
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// `postgres://user@host:port/db` (or a key=value connection string).
    pub url: String,
    /// Entities kept in memory at most (each a few hundred bytes of JSON).
    pub cache_entities: usize,
    /// While the database is out of reach, cached entities decide for this long; then every
    /// decision fails closed.
    pub staleness: Duration,
    /// A lookup the database does not answer within this fails.
    pub lookup_timeout: Duration,
}

impl PgConfig {
    /// The defaults: 100,000 entities, 30 s of staleness, 2 s per lookup.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            cache_entities: 100_000,
            staleness: Duration::from_secs(30),
            lookup_timeout: Duration::from_secs(2),
        }
    }
}

/// Whether a registry argument names a database rather than a file.
pub fn is_database_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// A PostgreSQL operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// The connection string does not parse.
    #[error("the registry database URL is not valid: {}", describe(.0))]
    Url(tokio_postgres::Error),
    /// The database refused or failed.
    #[error("registry database: {}", describe(.0))]
    Database(tokio_postgres::Error),
    /// The entities to import are not a valid registry.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The client thread could not start.
    #[error("cannot start the registry database client: {0}")]
    Start(std::io::Error),
}

impl PgError {
    /// The database client's error, when the database (or its URL) failed.
    pub fn database_error(&self) -> Option<&tokio_postgres::Error> {
        match self {
            Self::Url(err) | Self::Database(err) => Some(err),
            Self::Registry(_) | Self::Start(_) => None,
        }
    }
}

/// A database error with its cause (tokio-postgres puts the server's message in the source).
fn describe(err: &tokio_postgres::Error) -> String {
    use std::error::Error as _;
    match err.source() {
        Some(source) => format!("{err}: {source}"),
        None => err.to_string(),
    }
}

/// Counters of the cache and the source, for metrics.
#[derive(Debug, Default)]
pub struct Counters {
    /// Lookups asked of this source.
    pub lookups: AtomicU64,
    /// Answered from the cache.
    pub hits: AtomicU64,
    /// Not in the cache: asked of the database.
    pub misses: AtomicU64,
    /// Entities dropped from the cache because they changed (or all, counted one by one).
    pub evictions: AtomicU64,
    /// Lookups that failed, connections lost or refused, malformed notifications.
    pub errors: AtomicU64,
}

#[derive(Debug)]
enum Link {
    /// Not connected yet (the first attempt is under way).
    Starting,
    Up,
    /// Lost, or never reached (freshness is counted from the last answer, not from here).
    Down {
        why: String,
    },
}

#[derive(Debug)]
struct Inner {
    cache: HashMap<Key, Option<Arc<str>>>,
    /// Insertion order, for eviction when the cache is full (may name keys already gone).
    order: VecDeque<Key>,
    /// Namespace → tenant, from every `Cloud::Namespace` row (kept whole: the Kubernetes front
    /// end maps a namespace before it decides).
    namespaces: HashMap<Box<str>, Box<str>>,
    generation: u64,
    /// (generation before, uid changed), oldest first.
    log: VecDeque<(u64, Key)>,
    link: Link,
    /// When the last change was announced (or the cache last started over).
    last_change: Instant,
    /// When the database last answered (none before the first connection): the cache is fresh
    /// for [`PgConfig::staleness`] after it, whatever the link looks like.
    last_contact: Option<Instant>,
    /// Connections made so far.
    connections: u64,
}

#[derive(Debug)]
struct Shared {
    config: PgConfig,
    inner: Mutex<Inner>,
    linked: Condvar,
    counters: Counters,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Lookup {
    key: Key,
    reply: std::sync::mpsc::SyncSender<Result<Option<String>, Unavailable>>,
}

/// A registry in PostgreSQL. Cheap to share (`Arc`); dropping the last handle stops its client.
#[derive(Debug)]
pub struct Database {
    shared: Arc<Shared>,
    requests: mpsc::UnboundedSender<Lookup>,
}

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lookup({})", self.key)
    }
}

impl Database {
    /// Starts the client thread, which connects (and keeps reconnecting) in the background: a
    /// database out of reach at start is not an error here, [`Database::health`] says why it is
    /// not usable.
    pub fn start(config: PgConfig) -> Result<Self, PgError> {
        let _: tokio_postgres::Config = config.url.parse().map_err(PgError::Url)?;
        let shared = Arc::new(Shared {
            config,
            inner: Mutex::new(Inner {
                cache: HashMap::new(),
                order: VecDeque::new(),
                namespaces: HashMap::new(),
                generation: GENERATION.fetch_add(1, Ordering::Relaxed),
                log: VecDeque::new(),
                link: Link::Starting,
                last_change: Instant::now(),
                last_contact: None,
                connections: 0,
            }),
            linked: Condvar::new(),
            counters: Counters::default(),
        });
        let (requests, receiver) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(PgError::Start)?;
        let client = shared.clone();
        std::thread::Builder::new()
            .name("yungui-registry-db".to_owned())
            .spawn(move || runtime.block_on(client::client_loop(client, receiver)))
            .map_err(PgError::Start)?;
        Ok(Self { shared, requests })
    }

    /// The entity's JSON text, from the cache or the database; an error when the database
    /// cannot answer (or has been out of reach past the staleness bound).
    pub fn lookup(&self, key: &Key) -> Result<Option<Arc<str>>, Unavailable> {
        let counters = &self.shared.counters;
        counters.lookups.fetch_add(1, Ordering::Relaxed);
        let config = &self.shared.config;
        let mut inner = self.shared.lock();
        if matches!(inner.link, Link::Starting) {
            inner = self
                .shared
                .linked
                .wait_timeout_while(inner, config.lookup_timeout, |i| {
                    matches!(i.link, Link::Starting)
                })
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        if let Err(why) = usable(&inner, config) {
            counters.errors.fetch_add(1, Ordering::Relaxed);
            return Err(why);
        }
        if let Some(hit) = inner.cache.get(key) {
            counters.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(hit.clone());
        }
        counters.misses.fetch_add(1, Ordering::Relaxed);
        match &inner.link {
            Link::Up => {}
            Link::Starting => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                return Err(Unavailable::NotConnected {
                    key: key.clone(),
                    timeout: config.lookup_timeout,
                });
            }
            Link::Down { why, .. } => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                return Err(Unavailable::NotCached {
                    key: key.clone(),
                    why: why.clone(),
                });
            }
        }
        let generation = inner.generation;
        drop(inner);
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        let answer = self
            .requests
            .send(Lookup {
                key: key.clone(),
                reply,
            })
            .map_err(|_| Unavailable::Stopped)
            .and_then(|()| {
                answer
                    .recv_timeout(config.lookup_timeout)
                    .map_err(|_| Unavailable::NoAnswer {
                        key: key.clone(),
                        timeout: config.lookup_timeout,
                    })
            })
            .and_then(|r| r);
        let text = match answer {
            Ok(text) => text.map(Arc::<str>::from),
            Err(why) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                return Err(why);
            }
        };
        let mut inner = self.shared.lock();
        // A change announced while the query ran may be newer than its answer: not cached.
        if inner.generation == generation && matches!(inner.link, Link::Up) {
            insert(&mut inner, config.cache_entities, key.clone(), text.clone());
        }
        Ok(text)
    }

    /// Changes whenever an entity changes (or the cache starts over).
    pub fn generation(&self) -> u64 {
        self.shared.lock().generation
    }

    /// The uids changed since `generation`, or `None` when not known (too old, or the cache
    /// started over since).
    pub fn changed_since(&self, generation: u64) -> Option<Vec<Key>> {
        let inner = self.shared.lock();
        if generation == inner.generation {
            return Some(Vec::new());
        }
        let start = inner.log.iter().position(|(from, _)| *from == generation)?;
        Some(
            inner
                .log
                .iter()
                .skip(start)
                .map(|(_, key)| key.clone())
                .collect(),
        )
    }

    /// The tenant of a Kubernetes namespace, as [`super::Registry::tenant_of_namespace`].
    pub fn tenant_of_namespace(&self, namespace: &str) -> String {
        self.shared
            .lock()
            .namespaces
            .get(namespace)
            .map_or_else(|| namespace.to_owned(), |t| t.to_string())
    }

    /// The tenant of a namespace a `Cloud::Namespace` row maps, as
    /// [`super::Registry::listed_tenant_of_namespace`].
    pub fn listed_tenant_of_namespace(&self, namespace: &str) -> Option<String> {
        self.shared
            .lock()
            .namespaces
            .get(namespace)
            .map(|t| t.to_string())
    }

    /// Whether decisions may use this registry now, else why not. While the first connection
    /// is under way it waits for it, at most the lookup timeout.
    pub fn health(&self) -> Result<(), Unavailable> {
        let inner = self
            .shared
            .linked
            .wait_timeout_while(self.shared.lock(), self.shared.config.lookup_timeout, |i| {
                matches!(i.link, Link::Starting)
            })
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        self.status_of(&inner)
    }

    /// [`Database::health`] without waiting (for a readiness probe).
    pub fn status(&self) -> Result<(), Unavailable> {
        self.status_of(&self.shared.lock())
    }

    fn status_of(&self, inner: &Inner) -> Result<(), Unavailable> {
        match &inner.link {
            Link::Starting => Err(Unavailable::Connecting),
            Link::Down { why, .. } if inner.connections == 0 => {
                Err(Unavailable::Unreachable { why: why.clone() })
            }
            _ => usable(inner, &self.shared.config),
        }
    }

    /// Whether the database is connected now.
    pub fn connected(&self) -> bool {
        matches!(self.shared.lock().link, Link::Up)
    }

    /// Entities cached now.
    pub fn cached(&self) -> usize {
        self.shared.lock().cache.len()
    }

    /// Connections made so far (a reconnection counts).
    pub fn connections(&self) -> u64 {
        self.shared.lock().connections
    }

    /// The age of the last change seen (an announced change, or the cache starting over on
    /// connecting).
    pub fn staleness(&self) -> Duration {
        self.shared.lock().last_change.elapsed()
    }

    /// The cache's and the source's counters.
    pub fn counters(&self) -> &Counters {
        &self.shared.counters
    }
}

/// Whether the cache may still decide: the database answered less than the staleness bound ago
/// (connected or not: a server that hangs without closing stays "connected" until a heartbeat
/// goes unanswered).
fn usable(inner: &Inner, config: &PgConfig) -> Result<(), Unavailable> {
    let Some(contact) = inner.last_contact else {
        return Ok(());
    };
    let silent = contact.elapsed();
    if silent <= config.staleness {
        return Ok(());
    }
    let why = match &inner.link {
        Link::Down { why, .. } => why.clone(),
        Link::Up | Link::Starting => {
            "it stopped answering without closing the connection".to_owned()
        }
    };
    Err(Unavailable::Stale {
        silent,
        staleness: config.staleness,
        why,
    })
}

/// Records an answer from the database.
fn contact(shared: &Shared) {
    shared.lock().last_contact = Some(Instant::now());
}

fn insert(inner: &mut Inner, capacity: usize, key: Key, text: Option<Arc<str>>) {
    while inner.cache.len() >= capacity.max(1) {
        match inner.order.pop_front() {
            Some(old) => {
                inner.cache.remove(&old);
            }
            None => {
                inner.cache.clear();
                break;
            }
        }
    }
    if inner.order.len() > capacity.saturating_mul(2) {
        let live: Vec<Key> = inner
            .order
            .iter()
            .filter(|k| inner.cache.contains_key(*k))
            .cloned()
            .collect();
        inner.order = live.into();
    }
    inner.order.push_back(key.clone());
    inner.cache.insert(key, text);
}

/// Drops everything cached: a new generation no earlier one leads to.
fn start_over(inner: &mut Inner, counters: &Counters) {
    let dropped = inner.cache.len() as u64;
    counters.evictions.fetch_add(dropped, Ordering::Relaxed);
    inner.cache.clear();
    inner.order.clear();
    inner.log.clear();
    inner.generation = GENERATION.fetch_add(1, Ordering::Relaxed);
    inner.last_change = Instant::now();
}

/// One change announced: that entity is evicted, as one new generation.
fn changed(inner: &mut Inner, counters: &Counters, key: Key) {
    if inner.cache.remove(&key).is_some() {
        counters.evictions.fetch_add(1, Ordering::Relaxed);
    }
    let next = GENERATION.fetch_add(1, Ordering::Relaxed);
    inner.log.push_back((inner.generation, key));
    while inner.log.len() > HISTORY_UIDS {
        inner.log.pop_front();
    }
    inner.generation = next;
    inner.last_change = Instant::now();
}

/// What an import changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    /// Entities in the file.
    pub entities: usize,
    /// Rows inserted or updated (an entity already held unchanged is not written).
    pub written: u64,
}

/// Creates the schema if needed and loads `entities` (a Cedar entities JSON list, checked as a
/// registry file is) in one transaction: new entities are inserted, changed ones updated, the
/// same ones left alone (so importing twice writes nothing the second time). Entities the
/// database holds and the file does not are kept.
pub async fn import(url: &str, entities: Vec<Box<RawValue>>) -> Result<Imported, PgError> {
    let keyed = super::keyed(entities)?;
    for (key, raw) in &keyed {
        if key.type_name() == NAMESPACE_TYPE {
            super::namespace_tenant(key, raw)?;
        }
    }
    let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(PgError::Database)?;
    let driver = tokio::spawn(connection);
    let transaction = client.transaction().await.map_err(PgError::Database)?;
    transaction
        .batch_execute(SCHEMA)
        .await
        .map_err(PgError::Database)?;
    let upsert = transaction
        .prepare(
            "INSERT INTO yungui_registry (uid_type, uid_id, entity)
             SELECT t, i, e::jsonb FROM unnest($1::text[], $2::text[], $3::text[]) AS x(t, i, e)
             ON CONFLICT (uid_type, uid_id) DO UPDATE SET entity = EXCLUDED.entity
             WHERE yungui_registry.entity IS DISTINCT FROM EXCLUDED.entity",
        )
        .await
        .map_err(PgError::Database)?;
    let mut written = 0;
    for batch in keyed.chunks(IMPORT_BATCH) {
        let types: Vec<&str> = batch.iter().map(|(k, _)| k.type_name()).collect();
        let ids: Vec<&str> = batch.iter().map(|(k, _)| k.id()).collect();
        let texts: Vec<&str> = batch.iter().map(|(_, raw)| raw.get()).collect();
        written += transaction
            .execute(&upsert, &[&types, &ids, &texts])
            .await
            .map_err(PgError::Database)?;
    }
    transaction.commit().await.map_err(PgError::Database)?;
    drop(client);
    let _ = driver.await;
    Ok(Imported {
        entities: keyed.len(),
        written,
    })
}
