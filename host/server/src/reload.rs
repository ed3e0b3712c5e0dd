//! Hot reload: the component file and the registry files, watched and swapped in when they
//! change, each new one checked first (a component is compiled, pinned, warmed and tried on a
//! smoke decision; registry entities are checked against the schema); a refused one keeps the one
//! in force, and `/readyz` says why.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use yungui::PluginSource;
use yungui::engine::{Engine, EngineConfig};

use crate::error::{LoadError, Refusal};
use crate::state::AppState;

/// Loads components for the server: the first one and every reload, each checked the same way.
#[derive(Debug, Clone)]
pub(crate) struct Watcher {
    pub(crate) state: AppState,
    pub(crate) source: PluginSource,
    pub(crate) config: EngineConfig,
    pub(crate) workers: usize,
    pub(crate) pin: Option<String>,
    pub(crate) guard: Option<crate::config::ReloadGuard>,
}

impl Watcher {
    /// Loads the component, checks the pin, warms the instances and, for a reload (`smoke`),
    /// runs a smoke decision. The first component is served whatever it answers: a component
    /// that faults fails every decision closed, saying so.
    pub(crate) fn load(
        &self,
        registry: yungui::registry::Registry,
        smoke_test: bool,
    ) -> Result<Engine, LoadError> {
        // A server runs a policy folder built (pre-initialised, as `yungui build` writes it), so
        // every new instance starts with the policy set parsed.
        let engine = match &self.source {
            PluginSource::Policies(dir) => Engine::from_sources(
                &yungui_policies::Sources::read_dir(dir)?,
                registry,
                self.config.clone(),
            )?,
            // A pinned component is checked before it is compiled: one refused costs no
            // compilation and leaves nothing in the cache.
            PluginSource::File(path) => {
                let bytes = yungui::engine::read_component(path)?;
                self.compile(&bytes, &path.display().to_string(), registry)?
            }
            source => source.load(registry, self.config.clone())?,
        };
        self.ready(engine, smoke_test)
    }

    /// Loads a component from its bytes (a file's, or a verified artefact's from an OCI
    /// registry), checked exactly as [`Watcher::load`] checks a file.
    pub(crate) fn load_bytes(
        &self,
        bytes: &[u8],
        label: &str,
        registry: yungui::registry::Registry,
        smoke_test: bool,
    ) -> Result<Engine, LoadError> {
        let engine = self.compile(bytes, label, registry)?;
        self.ready(engine, smoke_test)
    }

    /// Checks the pin, then compiles: a component refused by its pin costs no compilation and
    /// leaves nothing in the cache.
    fn compile(
        &self,
        bytes: &[u8],
        label: &str,
        registry: yungui::registry::Registry,
    ) -> Result<Engine, LoadError> {
        if let Some(pin) = &self.pin {
            let sha256 = yungui::builder::sha256_hex(bytes);
            if !pin.eq_ignore_ascii_case(&sha256) {
                return Err(LoadError::Pinned {
                    actual: sha256,
                    pinned: pin.clone(),
                });
            }
        }
        Ok(Engine::from_bytes(
            bytes,
            label,
            registry,
            self.config.clone(),
        )?)
    }

    /// The pin (again, for sources built in memory), warm instances and the smoke decision.
    fn ready(&self, engine: Engine, smoke_test: bool) -> Result<Engine, LoadError> {
        if let Some(pin) = &self.pin
            && !pin.eq_ignore_ascii_case(engine.sha256())
        {
            return Err(LoadError::Pinned {
                actual: engine.sha256().to_owned(),
                pinned: pin.clone(),
            });
        }
        engine.warm(self.workers.min(engine.config().max_idle))?;
        if smoke_test {
            smoke(&engine)?;
        }
        Ok(engine)
    }
}

/// The reload guard's verdict on `new` in place of `in_force`, when one is set (for a file's
/// reload and an OCI artefact's alike).
pub(crate) fn guard(
    guard: Option<&crate::config::ReloadGuard>,
    in_force: &Engine,
    new: &Engine,
) -> Result<(), LoadError> {
    let Some(guard) = guard else { return Ok(()) };
    let sources = |engine: &Engine, which| {
        engine
            .identity()
            .map(|identity| yungui_policies::Sources::from(&identity.sources))
            .ok_or(LoadError::NoPolicySet { which })
    };
    let (old, new) = (sources(in_force, "in-force")?, sources(new, "new")?);
    if old.digest() == new.digest() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let verdict = guard.check(&old, &new);
    tracing::info!(
        guard = %guard.name,
        refused = verdict.is_err(),
        millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "reload guard checked the new policy set"
    );
    verdict.map_err(|why| LoadError::Guarded {
        guard: guard.name.clone(),
        why,
    })
}

/// A component about to serve must list its controls and answer a request with a decision or a
/// bad request, not a fault.
fn smoke(engine: &Engine) -> Result<(), LoadError> {
    let controls = engine.controls()?;
    if controls.is_empty() {
        return Err(LoadError::NoControls);
    }
    match engine.decide_json("{}") {
        Ok(_) => Ok(()),
        Err(err) if err.is_bad_request() => Ok(()),
        Err(err) => Err(LoadError::Smoke(err)),
    }
}

/// A component file checked every `every` for new content (a ConfigMap update, a deploy renaming
/// a new file over the old one, a file rewritten in place with its old modification time).
///
/// Its metadata (size, modification and change times, inode) is the cheap first check; the content
/// is hashed when the metadata changed, or when it was taken so soon after the file's last change
/// that a later write within the same timestamp tick could go unseen (as git treats a "racy" index
/// entry). A change is reported when the content's sha256 differs from the last one seen.
struct Watched {
    path: PathBuf,
    every: Duration,
    seen: Option<FileStamp>,
    /// The metadata was taken within a timestamp's reach of the file's last change.
    racy: bool,
    sha256: Option<String>,
}

/// What a file's metadata says of its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    changed: (i64, i64),
    inode: (u64, u64),
}

/// A change this close to the moment the metadata is read may be followed by another with the
/// same timestamps (file systems keep them at a coarse clock's resolution).
const RACY: Duration = Duration::from_secs(2);

impl Watched {
    /// Watches `path`, whose content in force has `sha256`.
    fn new(path: PathBuf, every: Duration, sha256: Option<String>) -> Self {
        Self {
            path,
            every,
            seen: None,
            racy: true,
            sha256,
        }
    }

    fn stamp(path: &std::path::Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let (changed, inode) = {
            use std::os::unix::fs::MetadataExt as _;
            ((meta.ctime(), meta.ctime_nsec()), (meta.dev(), meta.ino()))
        };
        #[cfg(not(unix))]
        let (changed, inode) = ((0, 0), (0, 0));
        Some(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            changed,
            inode,
        })
    }

    /// Whether the content changed since the last look (hashing it only when the metadata cannot
    /// vouch for it).
    fn look(&mut self) -> bool {
        let now = Self::stamp(&self.path);
        let stamp_changed = now != self.seen;
        if !stamp_changed && !self.racy {
            return false;
        }
        let read_at = std::time::SystemTime::now();
        self.seen = now;
        self.racy = now.is_some_and(|stamp| {
            let changed = std::time::UNIX_EPOCH
                + Duration::new(
                    u64::try_from(stamp.changed.0).unwrap_or(0),
                    u32::try_from(stamp.changed.1).unwrap_or(0),
                );
            [stamp.modified, Some(changed)]
                .into_iter()
                .any(|t| t.is_none_or(|t| read_at.duration_since(t).unwrap_or_default() < RACY))
        });
        match yungui::engine::read_component(&self.path) {
            Ok(bytes) => {
                let sha256 = yungui::builder::sha256_hex(&bytes);
                let changed = self.sha256.as_deref() != Some(sha256.as_str());
                self.sha256 = Some(sha256);
                changed
            }
            // Unreadable (gone, too large, not a regular file): a change once per change of its
            // metadata, which the load explains.
            Err(_) => self.sha256.take().is_some() || stamp_changed,
        }
    }

    /// Returns once the file changed since the last call (`None`: the runtime is shutting down).
    async fn changed(mut self) -> Option<Self> {
        loop {
            tokio::time::sleep(self.every).await;
            let (back, changed) = tokio::task::spawn_blocking(move || {
                let changed = self.look();
                (self, changed)
            })
            .await
            .ok()?;
            self = back;
            if changed {
                return Some(self);
            }
        }
    }
}

/// Swaps in the component when its file changes: compile, pin check, warm, smoke decision, the
/// reload guard when one is set, then swap (decisions in flight finish on the old one). A
/// component failing any step is refused with a log line; the one in force stays.
pub(crate) async fn watch_plugin(watcher: Watcher, path: PathBuf, every: Duration) {
    let in_force = watcher.state.engine().map(|e| e.sha256().to_owned());
    let mut file = Watched::new(path.clone(), every, in_force);
    loop {
        file = match file.changed().await {
            Some(file) => file,
            None => return,
        };
        let _swapping = watcher.state.swapping.lock().await;
        let Some(current) = watcher.state.engine() else {
            continue;
        };
        let loader = watcher.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let engine = loader.load(yungui::registry::Registry::empty(), true)?;
            guard(loader.guard.as_ref(), &current, &engine)?;
            engine.share_registry(current.registry());
            Ok::<_, LoadError>(engine)
        })
        .await
        .map_err(LoadError::from)
        .and_then(|r| r);
        match loaded {
            Ok(engine) => {
                watcher.state.swap_in(engine);
                watcher.state.set_reload_failure(None);
                tracing::info!(component = %path.display(), "policy component reloaded");
            }
            Err(err) => {
                let refusal = Refusal(&watcher.source, &err).to_string();
                tracing::warn!(
                    component = %path.display(),
                    "{refusal}; keeping the one in force"
                );
                watcher.state.set_reload_failure(Some(refusal));
                watcher.state.metrics.component_load(false);
            }
        }
    }
}
/// Applies changed registry files (a ConfigMap update, a new export from the system of record):
/// only the files that changed are read, and only the entities that changed in them applied,
/// checked against the schema, as one new generation (so the component re-reads exactly those).
/// A file that does not parse, whose changed entities do not match the schema, or that claims a
/// uid another file holds, keeps its last good entities in force; `/readyz` and the metrics say
/// so until it is fixed (see [`yungui::registry::Files`]).
pub(crate) async fn watch_registry(
    state: AppState,
    files: yungui::registry::Files,
    every: Duration,
) {
    let root = files.root().to_owned();
    let mut files = Some(files);
    // The files whose change is refused, and why: logged once each, in `/readyz` until applied.
    let mut refused: BTreeMap<PathBuf, String> = BTreeMap::new();
    loop {
        tokio::time::sleep(every).await;
        let _swapping = state.swapping.lock().await;
        let Some(engine) = state.engine() else {
            continue;
        };
        let Some(mut held) = files.take() else {
            return;
        };
        let task = tokio::task::spawn_blocking(move || {
            let current = engine.registry();
            let update = held.update(&current, |diff| {
                // A wrong-typed attribute would fail every decision touching the entity: the
                // changed entities are checked against the schema of the component in force.
                engine
                    .check_entities(diff.texts())
                    .map_err(|problems| yungui_policies::summarise_problems(&problems))
            });
            if let Some(registry) = &update.registry {
                engine.set_registry(registry.clone());
            }
            (held, update)
        });
        let Ok((held, update)) = task.await else {
            tracing::error!(registry = %root.display(), "the registry watcher failed; registry changes are no longer applied");
            state.set_registry_failure(Some("the registry watcher failed".to_owned()));
            return;
        };
        files = Some(held);
        for (path, puts, removes) in &update.applied {
            refused.remove(path);
            state.metrics.registry_reload(true);
            tracing::info!(
                registry = %path.display(),
                entities = update.registry.as_ref().map(yungui::registry::Registry::len),
                generation = update.registry.as_ref().map(yungui::registry::Registry::generation),
                changed = puts,
                removed = removes,
                "registry reloaded"
            );
        }
        for (path, why) in update.refused {
            if refused.get(&path) == Some(&why) {
                continue;
            }
            state.metrics.registry_reload(false);
            tracing::warn!(
                registry = %path.display(),
                "the changed registry is refused, keeping the one in force: {why}"
            );
            refused.insert(path, why);
        }
        state.set_registry_failure((!refused.is_empty()).then(|| {
            refused
                .iter()
                .map(|(path, why)| format!("{}: {why}", path.display()))
                .collect::<Vec<_>>()
                .join("; ")
        }));
    }
}
