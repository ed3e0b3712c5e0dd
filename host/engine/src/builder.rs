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

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::component::Instance;
use wasmtime::{AsContextMut, Store};
use wasmtime_wizer::{ComponentInstanceState, Wizer};
use yungui_policies::{Problems, SourceFile, Sources, Validate};

use crate::engine::{self, State};

/// yungui's engine component: policy-free; `yungui build` makes policy components from it.
pub const ENGINE_COMPONENT: &[u8] = include_bytes!(env!("YUNGUI_ENGINE_WASM"));

/// The sha256 of [`ENGINE_COMPONENT`], hex.
pub const ENGINE_SHA256: &str = env!("YUNGUI_ENGINE_SHA256");

/// The digest of the shipped policy set (as `yungui inspect` prints it).
pub const SHIPPED_POLICY_DIGEST: &str = env!("YUNGUI_SHIPPED_POLICY_DIGEST");

/// The name of the custom section that holds a built component's [`Identity`].
pub const IDENTITY_SECTION: &str = "yungui:policy-set";

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

/// The sha256 of some bytes, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub use yungui_policies::wire::{FileText, PolicySources};

/// A control, as a built component's identity lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityControl {
    /// The control id.
    pub control: String,
    /// The article of the notice.
    pub article: String,
    /// `deny` or `warn`.
    pub severity: String,
    /// The policy file it lives in.
    pub file: String,
}

/// What a built component says of itself, in its `yungui:policy-set` custom section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The digest of the policy set it holds ([`Sources::digest`]).
    pub policy_digest: String,
    /// The sha256 of the engine component it was built from.
    pub engine_sha256: String,
    /// The yungui version that built it.
    pub built_by: String,
    /// Every control of the policy set, in control order.
    pub controls: Vec<IdentityControl>,
    /// The policy set itself.
    pub sources: PolicySources,
}

impl Identity {
    /// Reads the identity section of a component, without running it. `Ok(None)` when it has
    /// none (a component not made by `yungui build`).
    pub fn read(wasm: &[u8]) -> Result<Option<Self>, BuildError> {
        let outline = Outline::read(wasm)?;
        outline
            .custom
            .iter()
            .find(|(name, _)| name == IDENTITY_SECTION)
            .map(|(_, data)| {
                serde_json::from_slice(data).map_err(|e| {
                    BuildError::NotAComponent(format!(
                        "its `{IDENTITY_SECTION}` section is not valid: {e}"
                    ))
                })
            })
            .transpose()
    }
}

/// A component's top level, read without compiling it.
#[derive(Debug, Clone, Default)]
pub struct Outline {
    /// The names it imports, e.g. `yungui:policy/registry@0.2.0`.
    pub imports: Vec<String>,
    /// The names it exports, e.g. `yungui:policy/decide@0.2.0`.
    pub exports: Vec<String>,
    /// Its top-level custom sections: (name, data).
    pub custom: Vec<(String, Vec<u8>)>,
}

impl Outline {
    /// Parses the component's top-level sections (nested modules and components are skipped).
    pub fn read(wasm: &[u8]) -> Result<Self, BuildError> {
        use wasmparser::{Encoding, Payload};
        let bad = |e: &dyn std::fmt::Display| BuildError::NotAComponent(e.to_string());
        let mut outline = Self::default();
        let mut depth = 0usize;
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            match payload.map_err(|e| bad(&e))? {
                Payload::Version { encoding, .. }
                    if depth == 0 && encoding != Encoding::Component =>
                {
                    return Err(bad(&"it is a core wasm module; yungui runs components"));
                }
                Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
                Payload::End(_) => depth = depth.saturating_sub(1),
                Payload::ComponentImportSection(reader) if depth == 0 => {
                    for import in reader {
                        outline
                            .imports
                            .push(import.map_err(|e| bad(&e))?.name.name.to_owned());
                    }
                }
                Payload::ComponentExportSection(reader) if depth == 0 => {
                    for export in reader {
                        outline
                            .exports
                            .push(export.map_err(|e| bad(&e))?.name.name.to_owned());
                    }
                }
                Payload::CustomSection(section) if depth == 0 => outline
                    .custom
                    .push((section.name().to_owned(), section.data().to_vec())),
                _ => {}
            }
        }
        Ok(outline)
    }
}

/// Why `yungui build` wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The policy set is invalid: every problem, `file:line:column: message`.
    #[error("the policies are invalid:\n{0}")]
    Invalid(Problems),
    /// Wasmtime or the pre-initialisation failed: a fault of yungui's, not of the policies.
    #[error("cannot pre-initialise the component: {0}")]
    Snapshot(String),
    /// The component was built but could not be loaded: a fault of yungui's.
    #[error("cannot load the built component: {0}")]
    Load(String),
    /// The bytes are not a wasm component yungui can read.
    #[error("not a wasm component: {0}")]
    NotAComponent(String),
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
    let fault =
        |what: &str, err: &dyn std::fmt::Display| BuildError::Snapshot(format!("{what}: {err:#}"));
    let mut wizer = Wizer::new();
    wizer.init_func("init").keep_init_func(true);
    let (context, instrumented) = wizer
        .instrument_component(ENGINE_COMPONENT)
        .map_err(|e| fault("instrumenting the engine", &e))?;
    // The instrumented engine is the same for every policy set: its compiled code is cached.
    let wasmtime = engine::wasmtime_engine().map_err(|e| fault("configuring wasmtime", &e))?;
    let component = engine::compile_cached(&wasmtime, &instrumented, cache_dir)
        .map_err(|e| fault("compiling the instrumented engine", &e))?;
    let linker = engine::linker(&wasmtime).map_err(|e| fault("linking", &e))?;
    let input = serde_json::to_vec(&identity.sources).map_err(|e| fault("encoding", &e))?;
    let mut store = Store::new(&wasmtime, State::for_build(input, BUILD_SEED));
    store.set_epoch_deadline(u64::MAX);
    let instance = linker
        .instantiate(&mut store, &component)
        .map_err(|e| fault("instantiating the engine", &e))?;
    let init = instance
        .get_typed_func::<(), ()>(&mut store, "init")
        .map_err(|e| fault("the engine has no `init`", &e))?;
    init.call(&mut store, ())
        .map_err(|e| fault("running `init`", &e))?;

    let mut state = Snapshotter {
        store: &mut store,
        instance,
        error: None,
    };
    let snapshot = ready(wizer.snapshot_component(&context, &mut state))
        .ok_or_else(|| BuildError::Snapshot("the snapshot did not complete".to_owned()))?
        .map_err(|e| fault("snapshotting", &e))?;
    if let Some(err) = state.error {
        return Err(BuildError::Snapshot(err));
    }
    let mut wasm = snapshot;
    let section = serde_json::to_vec(identity).map_err(|e| fault("encoding", &e))?;
    wasm_encoder::ComponentSection::append_to_component(
        &wasm_encoder::CustomSection {
            name: IDENTITY_SECTION.into(),
            data: section.into(),
        },
        &mut wasm,
    );
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
    error: Option<String>,
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
                .ok_or_else(|| format!("no export `{instance}`"))?;
            let (_, inner) = self
                .instance
                .get_export(self.store.as_context_mut(), Some(&outer), func)
                .ok_or_else(|| format!("no export `{instance}#{func}`"))?;
            let typed = self
                .instance
                .get_typed_func::<(), (R,)>(self.store.as_context_mut(), inner)
                .map_err(|e| format!("`{instance}#{func}`: {e:#}"))?;
            typed
                .call(self.store.as_context_mut(), ())
                .map(|(r,)| r)
                .map_err(|e| format!("`{instance}#{func}`: {e:#}"))
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
