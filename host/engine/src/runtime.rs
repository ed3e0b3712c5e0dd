//! Wasmtime plumbing every yungui engine shares: the configuration, the minimal linker, a store's
//! state (WASI granting nothing, the registry, the memory limiter), the epoch ticker, and the
//! compile cache. Used by [`crate::engine`] (decisions) and [`crate::builder`] (the snapshot `yungui
//! build` takes); it uses neither.

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasData, Linker, ResourceTable};
use wasmtime_wasi::cli::WasiCliView;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::types;
use crate::registry::Registry;

/// How often the epoch advances: the granularity of deadlines.
pub(crate) const TICK: Duration = Duration::from_millis(2);

/// A store's data: the WASI context (granting nothing), the registry, the memory limiter.
pub(crate) struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) registry: Arc<Registry>,
    /// Registry lookups the component made, shared with the engine.
    pub(crate) lookups: Arc<AtomicU64>,
    pub(crate) limiter: Limiter,
}

impl State {
    /// A decision instance's state: no stdin, no environment, the registry given.
    pub(crate) fn new(registry: Arc<Registry>, memory_limit: usize) -> Self {
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
    pub(crate) fn with_policy_input(
        registry: Arc<Registry>,
        memory_limit: usize,
        input: Bytes,
    ) -> Self {
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
        self.registry
            .lookup(&uid.type_name, &uid.id)
            .map_err(|why| why.to_string())
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
pub(crate) struct Limiter {
    limit: usize,
    /// The most memory the instance has had.
    pub(crate) peak: usize,
    /// Whether it asked for more than the limit.
    pub(crate) exceeded: bool,
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

/// Advances the engine's epoch until dropped.
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    pub(crate) fn start(engine: wasmtime::Engine) -> Self {
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
pub(crate) fn cache_name(engine: &wasmtime::Engine, component: &[u8]) -> String {
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
