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

use super::{GENERATION, Key, NAMESPACE_TYPE, RegistryError};

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
pub enum PgError {
    /// The connection string does not parse.
    #[error("the registry database URL is not valid: {0}")]
    Url(String),
    /// The database refused or failed.
    #[error("registry database: {0}")]
    Database(String),
    /// The entities to import are not a valid registry.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The client thread could not start.
    #[error("cannot start the registry database client: {0}")]
    Start(String),
}

fn db_error(err: &tokio_postgres::Error) -> PgError {
    PgError::Database(describe(err))
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
    reply: std::sync::mpsc::SyncSender<Result<Option<String>, String>>,
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
        let _: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e: tokio_postgres::Error| PgError::Url(describe(&e)))?;
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
            .map_err(|e| PgError::Start(e.to_string()))?;
        let client = shared.clone();
        std::thread::Builder::new()
            .name("yungui-registry-db".to_owned())
            .spawn(move || runtime.block_on(client_loop(client, receiver)))
            .map_err(|e| PgError::Start(e.to_string()))?;
        Ok(Self { shared, requests })
    }

    /// The entity's JSON text, from the cache or the database; an error when the database
    /// cannot answer (or has been out of reach past the staleness bound).
    pub fn lookup(&self, key: &Key) -> Result<Option<Arc<str>>, String> {
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
                return Err(format!(
                    "the registry database is not connected yet (no answer within {:?}): `{key}` cannot be read",
                    config.lookup_timeout
                ));
            }
            Link::Down { why, .. } => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                return Err(format!(
                    "the registry database is out of reach and `{key}` is not cached: {why}"
                ));
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
            .map_err(|_| "the registry database client has stopped".to_owned())
            .and_then(|()| {
                answer.recv_timeout(config.lookup_timeout).map_err(|_| {
                    format!(
                        "the registry database did not answer for `{key}` within {:?}",
                        config.lookup_timeout
                    )
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
    pub fn health(&self) -> Result<(), String> {
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
    pub fn status(&self) -> Result<(), String> {
        self.status_of(&self.shared.lock())
    }

    fn status_of(&self, inner: &Inner) -> Result<(), String> {
        match &inner.link {
            Link::Starting => Err("the registry database is not connected yet".to_owned()),
            Link::Down { why, .. } if inner.connections == 0 => {
                Err(format!("the registry database cannot be reached: {why}"))
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
fn usable(inner: &Inner, config: &PgConfig) -> Result<(), String> {
    let Some(contact) = inner.last_contact else {
        return Ok(());
    };
    let silent = contact.elapsed();
    if silent <= config.staleness {
        return Ok(());
    }
    let why = match &inner.link {
        Link::Down { why, .. } => why.as_str(),
        Link::Up | Link::Starting => "it stopped answering without closing the connection",
    };
    Err(format!(
        "the registry database has been out of reach for {} ms (no answer since), longer than the {} ms its cached entities may be used (--registry-staleness-secs), so nothing is decided on them: {why}",
        silent.as_millis(),
        config.staleness.as_millis()
    ))
}

/// Records an answer from the database.
fn contact(shared: &Shared) {
    shared.lock().last_contact = Some(Instant::now());
}

/// How often an idle connection is checked: four times per staleness bound, so a healthy
/// connection is never stale.
fn heartbeat_every(config: &PgConfig) -> Duration {
    (config.staleness / 4).clamp(Duration::from_millis(20), Duration::from_secs(10))
}

/// The connection's driver, stopped when the session ends (a silent server would otherwise keep
/// it waiting forever).
struct Driver(tokio::task::JoinHandle<()>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
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

#[derive(serde::Deserialize)]
struct Announced {
    #[serde(rename = "type")]
    type_name: String,
    id: String,
}

/// Connects, serves lookups and listens for changes; reconnects with backoff when the
/// connection is lost; ends when the [`Database`] is dropped.
async fn client_loop(shared: Arc<Shared>, mut requests: mpsc::UnboundedReceiver<Lookup>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match session(&shared, &mut requests, &mut backoff).await {
            Ok(()) => return,
            Err(why) => {
                shared.counters.errors.fetch_add(1, Ordering::Relaxed);
                {
                    let mut inner = shared.lock();
                    tracing::warn!(
                        "registry database out of reach (retrying in {backoff:?}): {why}"
                    );
                    inner.link = Link::Down { why };
                }
                shared.linked.notify_all();
            }
        }
        // Lookups sent just before the link went down get their answer now.
        let pause = tokio::time::sleep(backoff);
        tokio::pin!(pause);
        loop {
            tokio::select! {
                () = &mut pause => break,
                request = requests.recv() => match request {
                    Some(request) => {
                        let _ = request.reply.send(Err("the registry database is out of reach".to_owned()));
                    }
                    None => return,
                },
            }
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// One connection's life: `Ok` when the [`Database`] was dropped, `Err` why it was lost.
async fn session(
    shared: &Arc<Shared>,
    requests: &mut mpsc::UnboundedReceiver<Lookup>,
    backoff: &mut Duration,
) -> Result<(), String> {
    let config = &shared.config;
    // A server that accepts and never answers must not hold the client here: connecting (and
    // reading the namespaces) is bounded.
    let setup = config.staleness.max(config.lookup_timeout);
    let (client, select, namespaces, _driver, mut announced) =
        tokio::time::timeout(setup, connect(config))
            .await
            .map_err(|_| {
                format!("the registry database did not complete a connection within {setup:?}")
            })??;
    {
        let mut inner = shared.lock();
        // Changes made while we were not listening were not announced: start over.
        start_over(&mut inner, &shared.counters);
        inner.namespaces = namespaces;
        inner.link = Link::Up;
        inner.connections += 1;
        inner.last_contact = Some(Instant::now());
    }
    shared.linked.notify_all();
    *backoff = Duration::from_millis(100);
    tracing::info!("registry database connected, listening on `{CHANNEL}`");
    let client = Arc::new(client);
    let mut heartbeat = tokio::time::interval(heartbeat_every(config));
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Heartbeats run beside the lookups (a slow one never delays a lookup) and report here why
    // one failed.
    let (beats, mut beat_failed) = mpsc::unbounded_channel::<String>();
    loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else { return Ok(()) };
                let client = client.clone();
                let select = select.clone();
                let shared = shared.clone();
                tokio::spawn(async move {
                    let answer = client
                        .query_opt(&select, &[&request.key.type_name(), &request.key.id()])
                        .await
                        .map_err(|e| describe(&e))
                        .and_then(|row| match row {
                            None => Ok(None),
                            Some(row) => row.try_get::<_, String>(0).map(Some).map_err(|e| describe(&e)),
                        });
                    if answer.is_ok() {
                        contact(&shared);
                    }
                    let _ = request.reply.send(answer);
                });
            }
            _ = heartbeat.tick() => {
                let client = client.clone();
                let shared = shared.clone();
                let beats = beats.clone();
                let timeout = config.lookup_timeout;
                tokio::spawn(async move {
                    let failed = match tokio::time::timeout(timeout, client.simple_query("")).await {
                        Ok(Ok(_)) => return contact(&shared),
                        Ok(Err(e)) => describe(&e),
                        Err(_) => format!(
                            "the registry database did not answer a heartbeat within {timeout:?}"
                        ),
                    };
                    let _ = beats.send(failed);
                });
            }
            Some(why) = beat_failed.recv() => return Err(why),
            note = announced.recv() => match note {
                Some(Ok(payload)) => {
                    contact(shared);
                    tokio::time::timeout(config.lookup_timeout, announce(shared, &client, &payload))
                        .await
                        .map_err(|_| format!(
                            "the registry database did not answer within {:?} while applying a change",
                            config.lookup_timeout
                        ))??;
                }
                Some(Err(why)) => return Err(why),
                None => return Err("the connection was closed".to_owned()),
            },
        }
    }
}

type Connected = (
    tokio_postgres::Client,
    tokio_postgres::Statement,
    HashMap<Box<str>, Box<str>>,
    Driver,
    mpsc::UnboundedReceiver<Result<String, String>>,
);

/// Connects, listens for changes, prepares the lookup and reads the namespaces.
async fn connect(config: &PgConfig) -> Result<Connected, String> {
    use futures_util::StreamExt as _;
    let (client, mut connection) = tokio_postgres::connect(&config.url, tokio_postgres::NoTls)
        .await
        .map_err(|e| describe(&e))?;
    let (notes, announced) = mpsc::unbounded_channel::<Result<String, String>>();
    let driver = Driver(tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                    let _ = notes.send(Ok(n.payload().to_owned()));
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = notes.send(Err(describe(&e)));
                    return;
                }
            }
        }
        let _ = notes.send(Err("the connection was closed".to_owned()));
    }));
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .await
        .map_err(|e| describe(&e))?;
    let select = client
        .prepare("SELECT entity::text FROM yungui_registry WHERE uid_type = $1 AND uid_id = $2")
        .await
        .map_err(|e| describe(&e))?;
    let namespaces = load_namespaces(&client).await?;
    Ok((client, select, namespaces, driver, announced))
}

/// Applies one announcement: `*` drops everything, else the entity named is evicted (and a
/// namespace's tenant read again).
async fn announce(
    shared: &Shared,
    client: &tokio_postgres::Client,
    payload: &str,
) -> Result<(), String> {
    if payload == "*" {
        let namespaces = load_namespaces(client).await?;
        let mut inner = shared.lock();
        start_over(&mut inner, &shared.counters);
        inner.namespaces = namespaces;
        return Ok(());
    }
    let Ok(Announced { type_name, id }) = serde_json::from_str(payload) else {
        // Not ours to read: drop everything rather than miss a change.
        shared.counters.errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!("unreadable registry change announcement `{payload}`: dropping the cache");
        let mut inner = shared.lock();
        start_over(&mut inner, &shared.counters);
        return Ok(());
    };
    let key = Key::new(&type_name, &id);
    let tenant = if type_name == NAMESPACE_TYPE {
        Some(namespace_row(client, &id).await?)
    } else {
        None
    };
    let mut inner = shared.lock();
    if let Some(tenant) = tenant {
        match tenant {
            Some(tenant) => inner.namespaces.insert(id.into(), tenant),
            None => inner.namespaces.remove(id.as_str()),
        };
    }
    changed(&mut inner, &shared.counters, key);
    Ok(())
}

/// A namespace that names no single tenant maps to no tenant at all (an empty id no registry
/// holds): its decisions are denied as missing from the registry, never made for a tenant
/// named like the namespace.
const NO_TENANT: &str = "";

async fn load_namespaces(
    client: &tokio_postgres::Client,
) -> Result<HashMap<Box<str>, Box<str>>, String> {
    let rows = client
        .query(
            "SELECT uid_id, entity::text FROM yungui_registry WHERE uid_type = $1",
            &[&NAMESPACE_TYPE],
        )
        .await
        .map_err(|e| describe(&e))?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get(0).map_err(|e| describe(&e))?;
        let text: String = row.try_get(1).map_err(|e| describe(&e))?;
        out.insert(id.clone().into(), namespace_tenant(&id, &text));
    }
    Ok(out)
}

async fn namespace_row(
    client: &tokio_postgres::Client,
    id: &str,
) -> Result<Option<Box<str>>, String> {
    let row = client
        .query_opt(
            "SELECT entity::text FROM yungui_registry WHERE uid_type = $1 AND uid_id = $2",
            &[&NAMESPACE_TYPE, &id],
        )
        .await
        .map_err(|e| describe(&e))?;
    match row {
        None => Ok(None),
        Some(row) => {
            let text: String = row.try_get(0).map_err(|e| describe(&e))?;
            Ok(Some(namespace_tenant(id, &text)))
        }
    }
}

fn namespace_tenant(id: &str, text: &str) -> Box<str> {
    let key = Key::new(NAMESPACE_TYPE, id);
    match RawValue::from_string(text.to_owned())
        .map_err(|e| e.to_string())
        .and_then(|raw| super::namespace_tenant(&key, &raw).map_err(|e| e.to_string()))
    {
        Ok(tenant) => tenant,
        Err(why) => {
            tracing::warn!("registry database: {why}; the namespace maps to no tenant");
            NO_TENANT.into()
        }
    }
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
        .map_err(|e| db_error(&e))?;
    let driver = tokio::spawn(connection);
    let transaction = client.transaction().await.map_err(|e| db_error(&e))?;
    transaction
        .batch_execute(SCHEMA)
        .await
        .map_err(|e| db_error(&e))?;
    let upsert = transaction
        .prepare(
            "INSERT INTO yungui_registry (uid_type, uid_id, entity)
             SELECT t, i, e::jsonb FROM unnest($1::text[], $2::text[], $3::text[]) AS x(t, i, e)
             ON CONFLICT (uid_type, uid_id) DO UPDATE SET entity = EXCLUDED.entity
             WHERE yungui_registry.entity IS DISTINCT FROM EXCLUDED.entity",
        )
        .await
        .map_err(|e| db_error(&e))?;
    let mut written = 0;
    for batch in keyed.chunks(IMPORT_BATCH) {
        let types: Vec<&str> = batch.iter().map(|(k, _)| k.type_name()).collect();
        let ids: Vec<&str> = batch.iter().map(|(k, _)| k.id()).collect();
        let texts: Vec<&str> = batch.iter().map(|(_, raw)| raw.get()).collect();
        written += transaction
            .execute(&upsert, &[&types, &ids, &texts])
            .await
            .map_err(|e| db_error(&e))?;
    }
    transaction.commit().await.map_err(|e| db_error(&e))?;
    drop(client);
    let _ = driver.await;
    Ok(Imported {
        entities: keyed.len(),
        written,
    })
}
