//! `yungui build`: a policy folder in, a self-contained, pre-initialised policy component out.
//!
//! yungui's engine component (the `plugin/` crate, policy-free, carried inside the `yungui`
//! binary) is instrumented with `wasmtime-wizer`, instantiated, handed the policy set on standard
//! input through its `init` export, and snapshotted: the component written starts with the parsed,
//! validated, per-action sliced policy set and schema already in its memory, so a fresh instance
//! decides without parsing anything. The snapshot is deterministic (the random seed the instance
//! sees during `init` is fixed), so the same engine and policy set always give the same bytes.
//!
//! Every built component carries its identity in a custom section (`yungui:policy-set`): the
//! policy digest, the engine it was built from, its controls and the policy sources, readable
//! without running it ([`Identity::read`], `yungui inspect`).

use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use wasmtime::component::Instance;
use wasmtime::{AsContextMut, Store};
use wasmtime_wizer::{ComponentInstanceState, Wizer};
use yungui_policies::{Problems, SourceFile, Sources, Validate};

pub use crate::identity::{
    ENGINE_COMPONENT, ENGINE_SHA256, IDENTITY_SECTION, Identity, IdentityControl, NotAComponent,
    Outline, sha256_hex,
};
use crate::runtime::{self, State};

/// The digest of the shipped policy set (as `yungui inspect` prints it).
pub const SHIPPED_POLICY_DIGEST: &str = env!("YUNGUI_SHIPPED_POLICY_DIGEST");

/// The seed the instance's hash maps get during `init`: fixed, so builds are reproducible.
const BUILD_SEED: u128 = 0x7975_6e67_7569_2d62_7569_6c64_2d73_6565;

mod shipped {
    include!(concat!(env!("OUT_DIR"), "/policies.rs"));
}

/// The policy set yungui ships (`policies/`), embedded in the binary and checked when it was
/// built.
pub fn shipped_sources() -> Sources {
    let file = |(name, text): (&str, &str)| SourceFile {
        name: name.to_owned(),
        text: text.to_owned(),
    };
    Sources {
        schema: file(shipped::SCHEMA),
        policies: shipped::POLICIES.iter().copied().map(file).collect(),
    }
}

pub use yungui_policies::wire::{FileText, PolicySources};

/// Why `yungui build` wrote nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The policy set is invalid: every problem, `file:line:column: message`.
    #[error("the policies are invalid:\n{0}")]
    Invalid(Problems),
    /// Wasmtime or the pre-initialisation failed: a fault of yungui's, not of the policies.
    #[error("cannot pre-initialise the component: {0}")]
    Snapshot(SnapshotError),
    /// The component was built but could not be loaded: a fault of yungui's.
    #[error("cannot load the built component: {0}")]
    Load(Box<crate::error::Error>),
    /// The bytes are not a wasm component yungui can read.
    #[error(transparent)]
    NotAComponent(#[from] NotAComponent),
}

/// Why the pre-initialisation failed (the message is part of [`BuildError::Snapshot`]'s).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// A step wasmtime or wizer failed.
    #[error("{step}: {error:#}")]
    Wasmtime {
        /// The step.
        step: SnapshotStep,
        /// Why (its message is part of this one's).
        error: wasmtime::Error,
    },
    /// The policy set or the identity could not be encoded.
    #[error("encoding: {0}")]
    Encode(serde_json::Error),
    /// The snapshot waited, which a snapshot over synchronous calls never does.
    #[error("the snapshot did not complete")]
    Incomplete,
    /// The instance lacks an export the snapshot reads.
    #[error("no export `{0}`")]
    NoExport(String),
    /// An export the snapshot reads failed.
    #[error("`{export}`: {error:#}")]
    Call {
        /// The export, `instance#func`.
        export: String,
        /// Why (its message is part of this one's).
        error: wasmtime::Error,
    },
}

/// The steps of the pre-initialisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SnapshotStep {
    /// Instrumenting the engine component.
    Instrument,
    /// Configuring wasmtime.
    Configure,
    /// Compiling the instrumented engine.
    Compile,
    /// Linking.
    Link,
    /// Instantiating the engine.
    Instantiate,
    /// Finding its `init`.
    FindInit,
    /// Running `init`.
    RunInit,
    /// Taking the snapshot.
    Snapshot,
}

impl std::fmt::Display for SnapshotStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Instrument => "instrumenting the engine",
            Self::Configure => "configuring wasmtime",
            Self::Compile => "compiling the instrumented engine",
            Self::Link => "linking",
            Self::Instantiate => "instantiating the engine",
            Self::FindInit => "the engine has no `init`",
            Self::RunInit => "running `init`",
            Self::Snapshot => "snapshotting",
        })
    }
}

// Not `#[from]`: that would make the problems the error's source too, and a report of the error
// with its causes would list every problem twice.
impl From<Problems> for BuildError {
    fn from(problems: Problems) -> Self {
        Self::Invalid(problems)
    }
}

/// A policy component `yungui build` made.
#[derive(Debug, Clone)]
pub struct Built {
    /// The component's bytes.
    pub wasm: Vec<u8>,
    /// What it holds.
    pub identity: Identity,
}

impl Built {
    /// The component's sha256, hex.
    pub fn sha256(&self) -> String {
        sha256_hex(&self.wasm)
    }
}

/// Checks `sources` in strict mode; returns the identity a component built from them has.
pub fn check(sources: &Sources) -> Result<Identity, BuildError> {
    let compiled = sources.compile(Validate::Strict)?;
    Ok(Identity {
        policy_digest: sources.digest(),
        engine_sha256: ENGINE_SHA256.to_owned(),
        built_by: env!("CARGO_PKG_VERSION").to_owned(),
        controls: compiled
            .controls()
            .into_iter()
            .map(|f| IdentityControl {
                control: f.control.clone(),
                article: f.article.clone(),
                severity: match f.severity {
                    yungui_policies::Severity::Deny => "deny".to_owned(),
                    yungui_policies::Severity::Warn => "warn".to_owned(),
                },
                file: f.file.clone(),
            })
            .collect(),
        sources: PolicySources::from(sources),
    })
}

/// Checks `sources` in strict mode and builds the pre-initialised component. With a cache
/// folder, a policy set built before by the same engine is read back instead (the build is
/// deterministic), and the instrumented engine's compiled code is reused across policy sets.
pub fn build(sources: &Sources, cache_dir: Option<&Path>) -> Result<Built, BuildError> {
    let identity = check(sources)?;
    let cache = cache_dir.and_then(crate::cache::Cache::open_or_warn);
    let name = built_name(&identity.policy_digest);
    if let Some(cache) = &cache {
        match cache.read(&name) {
            Ok(Some(wasm)) => match Identity::read(&wasm) {
                Ok(Some(found)) if found == identity => return Ok(Built { wasm, identity }),
                _ => {
                    tracing::warn!(entry = %name, "built component in the cache does not match, building again")
                }
            },
            Ok(None) => {}
            Err(why) => {
                tracing::warn!("built component in the cache is not trusted, building again: {why}")
            }
        }
    }
    let wasm = snapshot(&identity, cache_dir)?;
    if let Some(cache) = &cache
        && let Err(err) = cache.write(&name, &wasm)
    {
        tracing::warn!(entry = %name, "cannot cache the built component: {err}");
    }
    Ok(Built { wasm, identity })
}

/// The shipped policy set, built (or read from the cache).
pub fn shipped(cache_dir: Option<&Path>) -> Result<Built, BuildError> {
    build(&shipped_sources(), cache_dir)
}

/// `built/<engine sha256>-<policy digest>.wasm` in the cache.
fn built_name(policy_digest: &str) -> String {
    let digest = policy_digest.trim_start_matches("sha256:");
    format!("built/{ENGINE_SHA256}-{digest}.wasm")
}

/// Instruments the engine, runs `init` with the policy set, snapshots, and appends the identity.
fn snapshot(identity: &Identity, cache_dir: Option<&Path>) -> Result<Vec<u8>, BuildError> {
    let fault = |step: SnapshotStep| {
        move |error: wasmtime::Error| BuildError::Snapshot(SnapshotError::Wasmtime { step, error })
    };
    let encoding = |e: serde_json::Error| BuildError::Snapshot(SnapshotError::Encode(e));
    let mut wizer = Wizer::new();
    wizer.init_func("init").keep_init_func(true);
    let (context, instrumented) = wizer
        .instrument_component(ENGINE_COMPONENT)
        .map_err(fault(SnapshotStep::Instrument))?;
    // The instrumented engine is the same for every policy set: its compiled code is cached.
    let wasmtime = runtime::wasmtime_engine().map_err(fault(SnapshotStep::Configure))?;
    let component = runtime::compile_cached(&wasmtime, &instrumented, cache_dir)
        .map_err(fault(SnapshotStep::Compile))?;
    let linker = runtime::linker(&wasmtime).map_err(fault(SnapshotStep::Link))?;
    let input = serde_json::to_vec(&identity.sources).map_err(encoding)?;
    let mut store = Store::new(&wasmtime, State::for_build(input, BUILD_SEED));
    store.set_epoch_deadline(u64::MAX);
    let instance = linker
        .instantiate(&mut store, &component)
        .map_err(fault(SnapshotStep::Instantiate))?;
    let init = instance
        .get_typed_func::<(), ()>(&mut store, "init")
        .map_err(fault(SnapshotStep::FindInit))?;
    init.call(&mut store, ())
        .map_err(fault(SnapshotStep::RunInit))?;

    let mut state = Snapshotter {
        store: &mut store,
        instance,
        error: None,
    };
    let snapshot = ready(wizer.snapshot_component(&context, &mut state))
        .ok_or(BuildError::Snapshot(SnapshotError::Incomplete))?
        .map_err(fault(SnapshotStep::Snapshot))?;
    if let Some(err) = state.error {
        return Err(BuildError::Snapshot(err));
    }
    let mut wasm = snapshot;
    identity.append_to(&mut wasm).map_err(encoding)?;
    Ok(wasm)
}

/// Polls a future that never waits (wizer's snapshot over synchronous calls) to completion.
fn ready<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// What wizer reads the instance's state through: synchronous calls on our own store (the host's
/// wasmtime stays without async support). A failed call is kept and fails the build.
struct Snapshotter<'a> {
    store: &'a mut Store<State>,
    instance: Instance,
    error: Option<SnapshotError>,
}

impl Snapshotter<'_> {
    fn call<R>(&mut self, instance: &str, func: &str) -> Option<R>
    where
        R: wasmtime::component::ComponentType + wasmtime::component::Lift + Send + Sync + 'static,
    {
        let result = (|| {
            let (_, outer) = self
                .instance
                .get_export(self.store.as_context_mut(), None, instance)
                .ok_or_else(|| SnapshotError::NoExport(instance.to_owned()))?;
            let (_, inner) = self
                .instance
                .get_export(self.store.as_context_mut(), Some(&outer), func)
                .ok_or_else(|| SnapshotError::NoExport(format!("{instance}#{func}")))?;
            let typed = self
                .instance
                .get_typed_func::<(), (R,)>(self.store.as_context_mut(), inner)
                .map_err(|error| SnapshotError::Call {
                    export: format!("{instance}#{func}"),
                    error,
                })?;
            typed
                .call(self.store.as_context_mut(), ())
                .map(|(r,)| r)
                .map_err(|error| SnapshotError::Call {
                    export: format!("{instance}#{func}"),
                    error,
                })
        })();
        match result {
            Ok(r) => Some(r),
            Err(err) => {
                self.error.get_or_insert(err);
                None
            }
        }
    }
}

impl ComponentInstanceState for Snapshotter<'_> {
    fn call_func_ret_list_u8(
        &mut self,
        instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) -> impl Future<Output = ()> + Send {
        let bytes: Vec<u8> = self.call(instance, func).unwrap_or_default();
        contents(&bytes);
        std::future::ready(())
    }

    fn call_func_ret_s32(
        &mut self,
        instance: &str,
        func: &str,
    ) -> impl Future<Output = i32> + Send {
        std::future::ready(self.call(instance, func).unwrap_or_default())
    }

    fn call_func_ret_s64(
        &mut self,
        instance: &str,
        func: &str,
    ) -> impl Future<Output = i64> + Send {
        std::future::ready(self.call(instance, func).unwrap_or_default())
    }

    fn call_func_ret_f32(
        &mut self,
        instance: &str,
        func: &str,
    ) -> impl Future<Output = u32> + Send {
        std::future::ready(
            self.call::<f32>(instance, func)
                .map(f32::to_bits)
                .unwrap_or_default(),
        )
    }

    fn call_func_ret_f64(
        &mut self,
        instance: &str,
        func: &str,
    ) -> impl Future<Output = u64> + Send {
        std::future::ready(
            self.call::<f64>(instance, func)
                .map(f64::to_bits)
                .unwrap_or_default(),
        )
    }
}
