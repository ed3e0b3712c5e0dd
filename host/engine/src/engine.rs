//! The engine: a loaded policy component, its instance pool and the bounds of every call. The
//! wasmtime plumbing it stands on (configuration, linker, store state, compile cache) is in
//! `runtime`; where a component comes from, in `source`.
//!
//! The component is compiled once (and the compiled artifact cached on disk, keyed by the
//! component's sha256 and the engine's compatibility hash, which covers the wasmtime version and
//! configuration), linked once (`instantiate_pre`), and kept warm: each worker takes a ready
//! instance from a pool and gives it back after the call. Every call is bounded in time (epoch
//! interruption against a deadline) and memory (a per-instance limit). A trap, a timeout or an
//! exhausted memory drops the instance, so the next call starts from a fresh one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use wasmtime::{Store, Trap};

use crate::bindings::{Plugin, PluginPre, types};
pub use crate::error::{Error, ErrorKind, LoadError};
pub use crate::identity::MAX_COMPONENT_BYTES;
use crate::identity::{Identity, sha256_hex};
use crate::registry::Registry;
use crate::runtime::{State, TICK, Ticker, compile_cached, linker, wasmtime_engine};

/// What bounds a call and where compiled code is cached. Start from [`EngineConfig::default`]
/// and change what differs with the `with_` methods (or the public fields).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

    /// With this deadline per call.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// With this memory limit per instance, in bytes.
    #[must_use]
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// With instances dropped after a call once their memory grew past this many bytes.
    #[must_use]
    pub fn with_recycle_above(mut self, bytes: usize) -> Self {
        self.recycle_above = bytes;
        self
    }

    /// With this many warm instances kept for reuse.
    #[must_use]
    pub fn with_max_idle(mut self, instances: usize) -> Self {
        self.max_idle = instances;
        self
    }

    /// With instances dropped after this many calls.
    #[must_use]
    pub fn with_max_reuse(mut self, calls: u64) -> Self {
        self.max_reuse = calls;
        self
    }

    /// With JSON requests larger than this many bytes refused.
    #[must_use]
    pub fn with_max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes;
        self
    }

    /// With compiled components cached in this folder, or (`None`) compiled every time.
    #[must_use]
    pub fn with_cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    /// In audit mode or not.
    #[must_use]
    pub fn with_audit(mut self, audit: bool) -> Self {
        self.audit = audit;
        self
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

struct Warm {
    store: Store<State>,
    plugin: Plugin,
    /// Calls made on this instance.
    calls: u64,
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
        let load_err = |error: LoadError| Error::load(label, error);
        let identity = Identity::read(bytes).map_err(|e| load_err(LoadError::NotAComponent(e)))?;
        let engine = wasmtime_engine().map_err(|e| load_err(LoadError::Configure(e)))?;
        let component = compile_cached(&engine, bytes, config.cache_dir.as_deref())
            .map_err(|e| load_err(LoadError::Compile(e)))?;
        let linker = linker(&engine).map_err(|e| load_err(LoadError::Link(e)))?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| load_err(LoadError::Imports(e)))?;
        let pre = PluginPre::new(instance_pre).map_err(|e| load_err(LoadError::Exports(e)))?;
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

    /// This engine running `identity`'s policy set on yungui's engine component: each new
    /// instance's `init` reads `input` (see [`Engine::from_sources_unbuilt`]).
    pub(crate) fn with_policy_input(mut self, identity: Identity, input: Bytes) -> Self {
        self.identity = Some(identity);
        self.policy_input = Some(input);
        self
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
                .map_err(Error::Instantiate)?;
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
            Err(err) => Err(self.fault(&warm, err)),
        }
    }

    fn fault(&self, warm: &Warm, err: wasmtime::Error) -> Error {
        if warm.store.data().limiter.exceeded {
            return Error::OutOfMemory(self.config.memory_limit);
        }
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Error::Timeout(self.config.deadline),
            _ => Error::Trap(err),
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
        let mut state = match &self.policy_input {
            None => State::new(self.registry(), self.config.memory_limit),
            Some(input) => {
                State::with_policy_input(self.registry(), self.config.memory_limit, input.clone())
            }
        };
        state.lookups = self.lookups.clone();
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(self.deadline_ticks().saturating_mul(20));
        let failed = Error::Instantiate;
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

/// Reads a component file: a regular file (a link to one is followed) of at most
/// [`MAX_COMPONENT_BYTES`]; anything else (a device, a pipe, a folder) is refused before it is
/// read, never read without end.
pub fn read_component(path: &Path) -> Result<Vec<u8>, Error> {
    crate::identity::read_file(path)
        .map_err(|e| Error::load(path.display().to_string(), LoadError::File(e)))
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
