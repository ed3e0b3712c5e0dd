//! The one narrow wrapper over wasmtime: configuration, compile cache, instance pool, bounds.
//!
//! The component is compiled once (and the compiled artifact cached on disk, keyed by the
//! component's sha256 and the engine's compatibility hash, which covers the wasmtime version and
//! configuration), linked once (`instantiate_pre`), and kept warm: each worker takes a ready
//! instance from a pool and gives it back after the call. Every call is bounded in time (epoch
//! interruption against a deadline) and memory (a per-instance limit). A trap, a timeout or an
//! exhausted memory drops the instance, so the next call starts from a fresh one.

use std::hash::{Hash, Hasher};

use bytes::Bytes;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasData, Linker, ResourceTable};
use wasmtime::{Store, Trap};
use wasmtime_wasi::cli::WasiCliView;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::{Plugin, PluginPre, types};
use crate::builder::{Identity, sha256_hex};
use crate::registry::Registry;

/// How often the epoch advances: the granularity of deadlines.
const TICK: Duration = Duration::from_millis(2);

/// What bounds a call and where compiled code is cached.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// A call that runs longer is interrupted and fails.
    pub deadline: Duration,
    /// The most linear memory one instance may have.
    pub memory_limit: usize,
    /// An instance whose memory grew past this (or past half of `memory_limit`, whichever is
    /// lower) is dropped after its call, not reused: its caches start over in a fresh instance
    /// before they could reach the limit and fail a decision.
    pub recycle_above: usize,
    /// Warm instances kept for reuse: at least the calls that may run at once (a server sets it
    /// to its permits), or the instances past it are dropped after each call and rebuilt.
    pub max_idle: usize,
    /// An instance is dropped after this many calls, so its long-lived caches are renewed (as
    /// wasmtime serve bounds instance reuse).
    pub max_reuse: u64,
    /// A JSON request larger than this is refused before it reaches the component (whose memory
    /// never shrinks).
    pub max_request_bytes: usize,
    /// Where compiled components are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Audit mode: every denial comes back as a warning and the request is allowed. Failures
    /// still fail: they are not policy decisions.
    pub audit: bool,
}

impl EngineConfig {
    /// The memory past which an instance is not reused: `recycle_above`, and never more than half
    /// of `memory_limit`, so an instance whose caches grow is renewed well before a call could
    /// run out of memory (a fault that fails the decision).
    pub fn recycle_threshold(&self) -> usize {
        self.recycle_above.min(self.memory_limit / 2)
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            deadline: Duration::from_millis(200),
            memory_limit: 256 << 20,
            recycle_above: 64 << 20,
            max_idle: 16,
            max_reuse: 100_000,
            max_request_bytes: 1 << 20,
            cache_dir: default_cache_dir(),
            audit: false,
        }
    }
}

/// `$YUNGUI_CACHE_DIR`, else `$XDG_CACHE_HOME/yungui`, else `~/.cache/yungui`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("YUNGUI_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("yungui"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("yungui"))
}

/// Where an engine's policy component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// A component file, e.g. one `yungui build` wrote.
    File(PathBuf),
    /// A policy folder (schema.cedarschema and *.cedar), checked and run in memory.
    Policies(PathBuf),
    /// The policy set shipped with yungui, built (and cached) on first use.
    Shipped,
}

/// Why an engine could not be loaded from its [`PluginSource`].
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The component file could not be loaded.
    #[error(transparent)]
    Load(#[from] Error),
    /// The policy folder could not be read.
    #[error(transparent)]
    Read(#[from] yungui_policies::ReadError),
    /// The policies are invalid, or building the component failed.
    #[error(transparent)]
    Build(#[from] crate::builder::BuildError),
}

impl PluginSource {
    /// Loads the engine over this component. Building (`Policies`, `Shipped`) runs the component's
    /// initialisation, which blocks: call it outside an async runtime's workers.
    pub fn load(&self, registry: Registry, config: EngineConfig) -> Result<Engine, SourceError> {
        match self {
            Self::File(path) => Ok(Engine::load(path, registry, config)?),
            Self::Policies(dir) => {
                let sources = yungui_policies::Sources::read_dir(dir)?;
                Ok(Engine::from_sources_unbuilt(&sources, registry, config)?)
            }
            Self::Shipped => Ok(Engine::from_sources(
                &crate::builder::shipped_sources(),
                registry,
                config,
            )?),
        }
    }
}

/// Why no decision came back.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The component could not be read, compiled or linked.
    #[error("cannot load the component `{path}`: {message}")]
    Load {
        /// The component's path.
        path: String,
        /// Why.
        message: String,
    },
    /// The component could not be instantiated.
    #[error("cannot instantiate the component: {0}")]
    Instantiate(String),
    /// The component answered with a failure.
    #[error("{}", failure_message(.0))]
    Failure(types::Failure),
    /// The call ran past its deadline and was interrupted.
    #[error("the plugin did not decide within {0:?} and was stopped")]
    Timeout(Duration),
    /// The call needed more memory than the limit.
    #[error("the plugin exceeded its memory limit of {0} bytes and was stopped")]
    OutOfMemory(usize),
    /// The component trapped.
    #[error("the plugin trapped: {0}")]
    Trap(String),
}

impl Error {
    /// Whether the fault lies with the request (bad input) rather than with yungui.
    pub fn is_bad_request(&self) -> bool {
        matches!(self, Self::Failure(types::Failure::BadRequest(_)))
    }
}

fn failure_message(failure: &types::Failure) -> String {
    match failure {
        types::Failure::BadRequest(m) => format!("bad request: {m}"),
        types::Failure::BadEntityData(m) => format!("bad registry data: {m}"),
        types::Failure::PluginFault(m) => format!("plugin fault: {m}"),
    }
}

/// A store's data: the WASI context (granting nothing), the registry, the memory limiter.
pub(crate) struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    registry: Arc<Registry>,
    /// Registry lookups the component made, shared with the engine.
    lookups: Arc<AtomicU64>,
    limiter: Limiter,
}

impl State {
    /// A decision instance's state: no stdin, no environment, the registry given.
    fn new(registry: Arc<Registry>, memory_limit: usize) -> Self {
        Self {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            registry,
            lookups: Arc::default(),
            limiter: Limiter {
                limit: memory_limit,
                peak: 0,
                exceeded: false,
            },
        }
    }

    /// The state `yungui build` runs `init` in: `input` on standard input, a fixed random seed
    /// (so the snapshot is reproducible), an empty registry.
    pub(crate) fn for_build(input: Vec<u8>, seed: u128) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.stdin(wasmtime_wasi::p2::pipe::MemoryInputPipe::new(input))
            .insecure_random_seed(seed);
        Self {
            wasi: wasi.build(),
            ..Self::new(Arc::new(Registry::empty()), 1 << 30)
        }
    }

    /// A decision instance whose `init` reads the policy set `input` from standard input.
    fn with_policy_input(registry: Arc<Registry>, memory_limit: usize, input: Bytes) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.stdin(wasmtime_wasi::p2::pipe::MemoryInputPipe::new(input));
        Self {
            wasi: wasi.build(),
            ..Self::new(registry, memory_limit)
        }
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl crate::bindings::yungui::policy::registry::Host for State {
    fn lookup(&mut self, uid: types::EntityUid) -> Result<Option<String>, String> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        self.registry.lookup(&uid.type_name, &uid.id)
    }

    fn generation(&mut self) -> u64 {
        self.registry.generation()
    }

    fn changed_since(&mut self, generation: u64) -> Option<Vec<types::EntityUid>> {
        self.registry.changed_since(generation).map(|keys| {
            keys.into_iter()
                .map(|key| types::EntityUid {
                    type_name: key.type_name().to_owned(),
                    id: key.id().to_owned(),
                })
                .collect()
        })
    }
}

impl crate::bindings::yungui::policy::types::Host for State {}

/// Caps an instance's memory and remembers how large it grew.
struct Limiter {
    limit: usize,
    peak: usize,
    exceeded: bool,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.exceeded = true;
            return Err(wasmtime::format_err!(
                "memory of {desired} bytes requested, limit {}",
                self.limit
            ));
        }
        self.peak = self.peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

struct Warm {
    store: Store<State>,
    plugin: Plugin,
    /// Calls made on this instance.
    calls: u64,
}

/// Advances the engine's epoch until dropped.
struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: wasmtime::Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("yungui-epoch".to_owned())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })
            .ok();
        Self { stop, thread }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The policy component, loaded and ready to decide. Share it between threads.
pub struct Engine {
    engine: wasmtime::Engine,
    pre: PluginPre<State>,
    sha256: String,
    identity: Option<Identity>,
    /// For an engine over policy sources (`--policies`): the policy set each new instance's
    /// `init` reads. `None` for built components, whose instances start with it loaded.
    policy_input: Option<Bytes>,
    /// Instances created so far (a steady load should not keep creating them).
    instantiations: AtomicU64,
    /// Registry lookups the component made (each one an entity it parsed, not having it cached).
    lookups: Arc<AtomicU64>,
    registry: RwLock<Arc<Registry>>,
    idle: Mutex<Vec<Warm>>,
    config: EngineConfig,
    _ticker: Ticker,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

struct HasSelf;
impl HasData for HasSelf {
    type Data<'a> = &'a mut State;
}

struct HasTable;
impl HasData for HasTable {
    type Data<'a> = &'a mut ResourceTable;
}

/// A wasmtime engine with the configuration every yungui engine uses.
pub(crate) fn wasmtime_engine() -> wasmtime::Result<wasmtime::Engine> {
    wasmtime::Engine::new(&wasmtime_config())
}

/// The wasmtime configuration every yungui engine uses.
fn wasmtime_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    config
}

/// Links only what the component may use: the registry, and from WASI the streams, the CLI
/// environment (empty) and stdio (closed), and an insecure seed for hash maps. No filesystem,
/// no network, no clocks.
pub(crate) fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<State>> {
    use wasmtime_wasi::p2::bindings::{cli, random, sync};
    let mut l = Linker::new(engine);
    crate::bindings::Plugin::add_to_linker::<State, HasSelf>(&mut l, |s| s)?;
    sync::io::error::add_to_linker::<State, HasTable>(&mut l, |s| &mut s.table)?;
    sync::io::poll::add_to_linker::<State, HasTable>(&mut l, |s| &mut s.table)?;
    sync::io::streams::add_to_linker::<State, HasTable>(&mut l, |s| &mut s.table)?;
    cli::environment::add_to_linker::<State, wasmtime_wasi::cli::WasiCli>(&mut l, State::cli)?;
    cli::exit::add_to_linker::<State, wasmtime_wasi::cli::WasiCli>(&mut l, State::cli)?;
    cli::stdin::add_to_linker::<State, wasmtime_wasi::cli::WasiCli>(&mut l, State::cli)?;
    cli::stdout::add_to_linker::<State, wasmtime_wasi::cli::WasiCli>(&mut l, State::cli)?;
    cli::stderr::add_to_linker::<State, wasmtime_wasi::cli::WasiCli>(&mut l, State::cli)?;
    cli::terminal_input::add_to_linker::<State, wasmtime_wasi::cli::WasiCli>(&mut l, State::cli)?;
    cli::terminal_output::add_to_linker::<State, wasmtime_wasi::cli::WasiCli>(&mut l, State::cli)?;
    cli::terminal_stdin::add_to_linker::<State, wasmtime_wasi::cli::WasiCli>(&mut l, State::cli)?;
    cli::terminal_stdout::add_to_linker::<State, wasmtime_wasi::cli::WasiCli>(&mut l, State::cli)?;
    cli::terminal_stderr::add_to_linker::<State, wasmtime_wasi::cli::WasiCli>(&mut l, State::cli)?;
    random::insecure_seed::add_to_linker::<State, wasmtime_wasi::random::WasiRandom>(
        &mut l,
        |s| s.wasi.random(),
    )?;
    Ok(l)
}

impl Engine {
    /// Loads the component at `path` (from the compile cache when it can) and links it.
    pub fn load(path: &Path, registry: Registry, config: EngineConfig) -> Result<Self, Error> {
        let bytes = read_component(path)?;
        Self::from_bytes(&bytes, &path.display().to_string(), registry, config)
    }

    /// Loads a component from its bytes (`label` names it in errors) and links it.
    pub fn from_bytes(
        bytes: &[u8],
        label: &str,
        registry: Registry,
        config: EngineConfig,
    ) -> Result<Self, Error> {
        let load_err = |message: String| Error::Load {
            path: label.to_owned(),
            message,
        };
        let identity = Identity::read(bytes).map_err(|e| load_err(e.to_string()))?;
        let engine = wasmtime_engine().map_err(|e| load_err(e.to_string()))?;
        let component = compile_cached(&engine, bytes, config.cache_dir.as_deref())
            .map_err(|e| load_err(format!("{e:#}")))?;
        let linker = linker(&engine).map_err(|e| load_err(format!("{e:#}")))?;
        let instance_pre = linker.instantiate_pre(&component).map_err(|e| {
            load_err(format!(
                "{e:#} (yungui grants only the registry, WASI streams, an empty environment, closed stdio and a random seed)"
            ))
        })?;
        let pre = PluginPre::new(instance_pre).map_err(|e| load_err(format!("{e:#}")))?;
        Ok(Self {
            _ticker: Ticker::start(engine.clone()),
            engine,
            pre,
            sha256: sha256_hex(bytes),
            identity,
            policy_input: None,
            instantiations: AtomicU64::new(0),
            lookups: Arc::default(),
            registry: RwLock::new(Arc::new(registry)),
            idle: Mutex::new(Vec::new()),
            config,
        })
    }

    /// Builds `sources` (see [`crate::builder::build`]) and loads the component.
    pub fn from_sources(
        sources: &yungui_policies::Sources,
        registry: Registry,
        config: EngineConfig,
    ) -> Result<Self, crate::builder::BuildError> {
        let built = crate::builder::build(sources, config.cache_dir.as_deref())?;
        Self::from_bytes(&built.wasm, "the built policy component", registry, config)
            .map_err(|e| crate::builder::BuildError::Load(e.to_string()))
    }

    /// Checks `sources` in strict mode and runs them on yungui's engine component without
    /// snapshotting: each new instance's `init` parses them (the state `yungui build` would
    /// snapshot), and the engine's compiled code comes from the cache, identical for every policy
    /// set. For a policy author's edit-and-test loop; serve built components.
    pub fn from_sources_unbuilt(
        sources: &yungui_policies::Sources,
        registry: Registry,
        config: EngineConfig,
    ) -> Result<Self, crate::builder::BuildError> {
        let identity = crate::builder::check(sources)?;
        let input = serde_json::to_vec(&identity.sources)
            .map_err(|e| crate::builder::BuildError::Snapshot(e.to_string()))?;
        let mut engine = Self::from_bytes(
            crate::builder::ENGINE_COMPONENT,
            "yungui's engine component",
            registry,
            config,
        )
        .map_err(|e| crate::builder::BuildError::Load(e.to_string()))?;
        engine.identity = Some(identity);
        engine.policy_input = Some(input.into());
        Ok(engine)
    }

    /// Instances created since the engine was loaded (warm-up included).
    pub fn instantiations(&self) -> u64 {
        self.instantiations.load(Ordering::Relaxed)
    }

    /// Registry lookups the component made since the engine was loaded: each is an entity it
    /// did not hold parsed (first use, or changed since).
    pub fn registry_lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    /// The component's sha256, hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// What the component says of itself, when `yungui build` made it.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The policy digest of the component, or `unknown` for one `yungui build` did not make.
    pub fn policy_digest(&self) -> &str {
        self.identity
            .as_ref()
            .map_or("unknown", |i| i.policy_digest.as_str())
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Replaces the registry; calls in flight finish with the old one.
    pub fn set_registry(&self, registry: Registry) {
        *self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(registry);
    }

    /// Uses the registry another engine holds (a component swap keeps the registry in force).
    pub fn share_registry(&self, registry: Arc<Registry>) {
        *self
            .registry
            .write()
            .unwrap_or_else(PoisonError::into_inner) = registry;
    }

    /// Checks every entity of `registry` against the schema and closed vocabularies of the policy
    /// set this component holds (from its identity), as the component will read them; every
    /// problem, naming the entity. A component `yungui build` did not make names no schema:
    /// nothing is checked.
    pub fn check_registry(&self, registry: &Registry) -> Result<(), Vec<String>> {
        self.check_entities(registry.texts())
    }

    /// Checks registry entities (their texts) as [`Engine::check_registry`] does.
    pub fn check_entities<'a>(
        &self,
        texts: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), Vec<String>> {
        let Some(identity) = &self.identity else {
            return Ok(());
        };
        let compiled = yungui_policies::Sources::from(&identity.sources)
            .compile(yungui_policies::Validate::No)
            .map_err(|problems| vec![problems.to_string()])?;
        yungui_policies::check_registry(&compiled, texts)
    }

    /// The registry in force.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes `n` instances ready (policies parsed), so the first requests do not pay for it.
    pub fn warm(&self, n: usize) -> Result<(), Error> {
        let mut ready = Vec::with_capacity(n);
        for _ in 0..n {
            let mut warm = self.instantiate()?;
            // The first call on an instance touches its code and the snapshot's pages.
            warm.store.set_epoch_deadline(self.deadline_ticks() * 50);
            warm.plugin
                .yungui_policy_decide()
                .call_controls(&mut warm.store)
                .map_err(|e| Error::Instantiate(format!("{e:#}")))?;
            ready.push(warm);
        }
        for warm in ready {
            self.give_back(warm);
        }
        Ok(())
    }

    /// Decides a typed request against the registry in force.
    pub fn decide(&self, request: &types::Request) -> Result<types::Decision, Error> {
        self.decide_with(request, self.registry())
    }

    /// Decides a typed request against the given registry.
    pub fn decide_with(
        &self,
        request: &types::Request,
        registry: Arc<Registry>,
    ) -> Result<types::Decision, Error> {
        usable(&registry)?;
        self.call(registry, |plugin, store| {
            plugin.yungui_policy_decide().call_decide(store, request)
        })
        .map(|d| self.audited(d))
    }

    /// Decides a request in the JSON request format against the registry in force.
    pub fn decide_json(&self, request: &str) -> Result<types::Decision, Error> {
        self.decide_json_with(request, self.registry())
    }

    /// Decides a request in the JSON request format against the given registry.
    pub fn decide_json_with(
        &self,
        request: &str,
        registry: Arc<Registry>,
    ) -> Result<types::Decision, Error> {
        if request.len() > self.config.max_request_bytes {
            return Err(Error::Failure(types::Failure::BadRequest(format!(
                "the request has {} bytes, more than the limit of {}",
                request.len(),
                self.config.max_request_bytes
            ))));
        }
        usable(&registry)?;
        self.call(registry, |plugin, store| {
            plugin
                .yungui_policy_decide()
                .call_decide_json(store, request)
        })
        .map(|d| self.audited(d))
    }

    /// Every control the component enforces.
    pub fn controls(&self) -> Result<Vec<types::Control>, Error> {
        self.call(self.registry(), |plugin, store| {
            plugin.yungui_policy_decide().call_controls(store).map(Ok)
        })
    }

    fn audited(&self, decision: types::Decision) -> types::Decision {
        if self.config.audit {
            audit(decision)
        } else {
            decision
        }
    }

    fn deadline_ticks(&self) -> u64 {
        let ticks = self.config.deadline.as_nanos() / TICK.as_nanos();
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }

    fn call<T>(
        &self,
        registry: Arc<Registry>,
        f: impl FnOnce(&Plugin, &mut Store<State>) -> wasmtime::Result<Result<T, types::Failure>>,
    ) -> Result<T, Error> {
        let mut warm = self.take()?;
        warm.store.data_mut().registry = registry;
        let fresh = warm.store.data().limiter.peak == 0;
        // A fresh instance's first call pays for its first page faults: give it more time.
        let ticks = if fresh {
            self.deadline_ticks().saturating_mul(20)
        } else {
            self.deadline_ticks()
        };
        warm.store.set_epoch_deadline(ticks);
        match f(&warm.plugin, &mut warm.store) {
            Ok(result) => {
                self.give_back(warm);
                result.map_err(Error::Failure)
            }
            Err(err) => Err(self.fault(&warm, &err)),
        }
    }

    fn fault(&self, warm: &Warm, err: &wasmtime::Error) -> Error {
        if warm.store.data().limiter.exceeded {
            return Error::OutOfMemory(self.config.memory_limit);
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Error::Timeout(self.config.deadline),
            _ => Error::Trap(format!("{err:#}")),
        }
    }

    fn take(&self) -> Result<Warm, Error> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(warm) => Ok(warm),
            None => self.instantiate(),
        }
    }

    fn give_back(&self, mut warm: Warm) {
        warm.calls += 1;
        if warm.store.data().limiter.peak > self.config.recycle_threshold()
            || warm.calls >= self.config.max_reuse
        {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.config.max_idle {
            idle.push(warm);
        }
    }

    fn instantiate(&self) -> Result<Warm, Error> {
        let state = match &self.policy_input {
            None => State::new(self.registry(), self.config.memory_limit),
            Some(input) => {
                State::with_policy_input(self.registry(), self.config.memory_limit, input.clone())
            }
        };
        let mut store = Store::new(
            &self.engine,
            State {
                lookups: self.lookups.clone(),
                ..state
            },
        );
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(self.deadline_ticks().saturating_mul(20));
        let failed = |e: wasmtime::Error| Error::Instantiate(format!("{e:#}"));
        let plugin = if self.policy_input.is_some() {
            let instance = self
                .pre
                .instance_pre()
                .instantiate(&mut store)
                .map_err(failed)?;
            instance
                .get_typed_func::<(), ()>(&mut store, "init")
                .and_then(|init| init.call(&mut store, ()))
                .map_err(failed)?;
            Plugin::new(&mut store, &instance).map_err(failed)?
        } else {
            self.pre.instantiate(&mut store).map_err(failed)?
        };
        self.instantiations.fetch_add(1, Ordering::Relaxed);
        Ok(Warm {
            store,
            plugin,
            calls: 0,
        })
    }
}

/// A registry past its staleness bound (a database out of reach too long) decides nothing, not
/// even from the entities an instance holds parsed: a fault, so the caller denies.
fn usable(registry: &Registry) -> Result<(), Error> {
    registry.health().map_err(|why| {
        Error::Failure(types::Failure::PluginFault(format!(
            "the registry cannot be used: {why}"
        )))
    })
}

/// Audit mode: the denials become warnings and the request is allowed.
pub fn audit(mut decision: types::Decision) -> types::Decision {
    let denials = std::mem::take(&mut decision.denials);
    decision.warnings.extend(denials);
    decision.allowed = true;
    decision
}

/// A component file larger than this is refused (a built policy component is a few MB).
pub const MAX_COMPONENT_BYTES: u64 = 64 << 20;

/// Reads a component file: a regular file (a link to one is followed) of at most
/// [`MAX_COMPONENT_BYTES`]; anything else (a device, a pipe, a folder) is refused before it is
/// read, never read without end.
pub fn read_component(path: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read as _;
    let fail = |message: String| Error::Load {
        path: path.display().to_string(),
        message,
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Opening a named pipe would wait for a writer.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(|e| fail(e.to_string()))?;
    let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail(format!(
            "not a regular file (a {}): a component is read from a regular file",
            file_kind(&meta.file_type())
        )));
    }
    let too_large = || {
        fail(format!(
            "larger than {} MiB: not a policy component",
            MAX_COMPONENT_BYTES >> 20
        ))
    };
    if meta.len() > MAX_COMPONENT_BYTES {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_COMPONENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_COMPONENT_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

fn file_kind(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_char_device() {
            return "character device";
        }
        if kind.is_block_device() {
            return "block device";
        }
        if kind.is_fifo() {
            return "named pipe";
        }
        if kind.is_socket() {
            return "socket";
        }
    }
    if kind.is_dir() {
        "folder"
    } else {
        "special file"
    }
}

/// Compiles the component, or loads it from the cache compiled by an identical engine (only an
/// entry the cache itself wrote, see [`crate::cache`]).
pub(crate) fn compile_cached(
    engine: &wasmtime::Engine,
    bytes: &[u8],
    cache_dir: Option<&Path>,
) -> wasmtime::Result<Component> {
    let Some(cache) = cache_dir.and_then(crate::cache::Cache::open_or_warn) else {
        return Component::new(engine, bytes);
    };
    let name = cache_name(engine, bytes);
    // Engines loading at the same time in one process compile once; the others read the cache.
    static COMPILING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = COMPILING.lock().unwrap_or_else(PoisonError::into_inner);
    match cache.read(&name) {
        Ok(Some(compiled)) => match deserialize(engine, &compiled) {
            Ok(component) => return Ok(component),
            Err(err) => tracing::warn!(
                dir = %cache.dir().display(),
                "compiled component in the cache is unusable, compiling again: {err:#}"
            ),
        },
        Ok(None) => {}
        Err(why) => {
            tracing::warn!("compiled component in the cache is not trusted, compiling again: {why}")
        }
    }
    let component = Component::new(engine, bytes)?;
    if let Err(err) = cache.write(&name, &component.serialize()?) {
        tracing::warn!(dir = %cache.dir().display(), "cannot cache the compiled component: {err:#}");
    }
    Ok(component)
}

/// `<sha256 of the component>-<engine compatibility hash>.cwasm`.
pub fn cache_name(engine: &wasmtime::Engine, component: &[u8]) -> String {
    let digest = Sha256::digest(component);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{hex}-{:016x}.cwasm", hasher.finish())
}

#[allow(
    unsafe_code,
    reason = "deserializing compiled code is unsafe: the bytes are an entry this user's cache wrote (its MAC checked), named by the component's hash and the engine's compatibility hash"
)]
fn deserialize(engine: &wasmtime::Engine, compiled: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: see the reason above; wasmtime also checks the header against the engine.
    unsafe { Component::deserialize(engine, compiled) }
}

#[cfg(test)]
mod tests {
    use super::EngineConfig;

    /// With `--memory-mib 64` (the deployment's setting) and the default `recycle_above` of 64 MiB,
    /// an instance would only be renewed after it could already have failed a call for want of
    /// memory; the threshold is capped at half the limit.
    #[test]
    fn instances_are_renewed_well_below_their_memory_limit() {
        let deployed = EngineConfig {
            memory_limit: 64 << 20,
            ..EngineConfig::default()
        };
        assert_eq!(deployed.recycle_threshold(), 32 << 20);
        let roomy = EngineConfig {
            memory_limit: 1 << 30,
            ..EngineConfig::default()
        };
        assert_eq!(roomy.recycle_threshold(), roomy.recycle_above);
    }
}
