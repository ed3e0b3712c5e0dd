//! Components from an OCI registry (`--plugin oci://REGISTRY/REPOSITORY:TAG|@sha256:…`): the
//! reference is resolved to a manifest digest, that digest's signature verified against the trust
//! policy, the artefact pulled by digest (every byte checked against it), and only then are the
//! component's bytes handed to the loader, which checks, compiles, warms and swaps them in as it
//! does a file's. A tag is followed every `--plugin-watch-secs`: a new digest goes through the
//! same steps; one refused at any step (no signature, a signature by no trusted key, bytes that
//! do not match) leaves the one in force serving, and is never compiled.

use std::time::Duration;

use yungui_oci::{OciError, OciRef, Registry, RegistryOptions, TrustPolicy};

use crate::error::{Chain, LoadError};
use crate::reload::Watcher;

/// Where a server takes its component from in an OCI registry, and whom it trusts.
#[derive(Debug, Clone)]
pub struct OciPlugin {
    /// The artefact: in a registry by tag (followed) or digest (fixed), or in an OCI image
    /// layout `yungui save` wrote (an air-gapped site).
    pub source: OciSource,
    /// Which keys may sign which repositories.
    pub trust: TrustPolicy,
    /// How to reach the registry (plain HTTP, docker config).
    pub registry: RegistryOptions,
}

/// Where the artefact is.
#[derive(Debug, Clone)]
pub enum OciSource {
    /// In a registry.
    Registry(OciRef),
    /// In an OCI image layout folder, by tag (or the only one there).
    Layout {
        /// The layout's folder.
        dir: std::path::PathBuf,
        /// The tag, if any.
        tag: Option<String>,
    },
}

impl OciSource {
    /// `oci://…@sha256:…` or `oci-layout://DIR@sha256:…`: what `/readyz` and the logs name.
    fn at(&self, digest: &str) -> String {
        match self {
            Self::Registry(reference) => format!("oci://{}", reference.at_digest(digest)),
            Self::Layout { dir, .. } => format!("oci-layout://{}@{digest}", dir.display()),
        }
    }

    /// Whether the source can change (a tag or a layout folder).
    fn moves(&self) -> bool {
        match self {
            Self::Registry(reference) => reference.digest().is_none(),
            Self::Layout { .. } => true,
        }
    }
}

impl std::fmt::Display for OciSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Registry(reference) => write!(f, "oci://{reference}"),
            Self::Layout { dir, tag: None } => write!(f, "oci-layout://{}", dir.display()),
            Self::Layout {
                dir,
                tag: Some(tag),
            } => {
                write!(f, "oci-layout://{}:{tag}", dir.display())
            }
        }
    }
}

/// Why an artefact from the registry was not loaded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OciLoadError {
    /// Not fetched or not verified: nothing was compiled.
    #[error("refused before compiling: {0}")]
    Refused(#[from] OciError),
    /// Verified, but the loader refused it (the same checks as a file).
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// The manifest digest `reference` names now, and its verified component bytes.
async fn fetch(
    client: &Registry,
    reference: &OciRef,
    trust: &TrustPolicy,
) -> Result<(String, Vec<u8>), OciError> {
    let digest = client.resolve(reference).await?;
    let pinned = reference.at_digest(&digest);
    if let Some(wanted) = reference.digest()
        && wanted != digest
    {
        return Err(OciError::NotVerified {
            reference: reference.to_string(),
            reason: format!("the registry serves {digest} for it"),
        });
    }
    let keys = trust.keys_for(&reference.repository());
    client.verify(&pinned, keys).await?;
    let pulled = client.pull(&pinned).await?;
    Ok((digest, pulled.wasm))
}

/// Loads the component `plugin` names, then follows its tag every `every` (a digest never
/// changes: it is loaded once). The first load uses `registry`; later ones share the registry in
/// force. Until one loads, every decision is denied, and the server keeps trying.
pub(crate) async fn watch_oci(
    watcher: Watcher,
    plugin: OciPlugin,
    registry: yungui::registry::Registry,
    every: Option<Duration>,
    mut registry_watch: Option<(yungui::registry::Files, Duration)>,
) {
    let client = Registry::new(plugin.registry.clone());
    let mut in_force: Option<String> = None;
    // The last refusal logged: a digest refused for the same reason is not logged again.
    let mut refused: Option<String> = None;
    let retry = every.unwrap_or(Duration::from_secs(10));
    loop {
        match step(&watcher, &client, &plugin, &registry, in_force.as_deref()).await {
            Ok(Some(digest)) => {
                tracing::info!(
                    component = %plugin.source,
                    %digest,
                    "policy component from the registry verified and loaded"
                );
                watcher.state.set_reload_failure(None);
                watcher.state.set_origin(Some(plugin.source.at(&digest)));
                in_force = Some(digest);
                refused = None;
                // Registry files are followed once a component holds them, as for a file.
                if let Some((files, every)) = registry_watch.take() {
                    tokio::spawn(crate::reload::watch_registry(
                        watcher.state.clone(),
                        files,
                        every,
                    ));
                }
            }
            Ok(None) => {}
            Err(err) => {
                let why = Chain(&err).to_string();
                if refused.as_deref() != Some(why.as_str()) {
                    if in_force.is_some() {
                        tracing::warn!(
                            component = %plugin.source,
                            "the registry's component is refused, keeping the one in force: {why}"
                        );
                    } else {
                        tracing::error!(
                            component = %plugin.source,
                            "the policy component did not load: {why}; every decision is denied"
                        );
                    }
                    watcher.state.metrics.component_load(false);
                    watcher.state.set_reload_failure(Some(why.clone()));
                    refused = Some(why);
                }
            }
        }
        // A digest is fixed: once loaded there is nothing to follow.
        if in_force.is_some()
            && registry_watch.is_none()
            && (every.is_none() || !plugin.source.moves())
        {
            return;
        }
        tokio::time::sleep(retry).await;
    }
}

/// One look at the registry: `Some(digest)` when a new component was swapped in, `None` when the
/// reference still names the one in force.
async fn step(
    watcher: &Watcher,
    client: &Registry,
    plugin: &OciPlugin,
    registry: &yungui::registry::Registry,
    in_force: Option<&str>,
) -> Result<Option<String>, OciLoadError> {
    let (digest, bytes) = match &plugin.source {
        OciSource::Registry(reference) => {
            if let Some(in_force) = in_force
                && client.resolve(reference).await? == in_force
            {
                return Ok(None);
            }
            fetch(client, reference, &plugin.trust).await?
        }
        OciSource::Layout { dir, tag } => {
            let (dir, tag, trust) = (dir.clone(), tag.clone(), plugin.trust.clone());
            let read = tokio::task::spawn_blocking(move || {
                yungui_oci::layout::read_layout(&dir, tag.as_deref(), &trust)
            })
            .await
            .map_err(LoadError::from)??;
            (read.digest, read.wasm)
        }
    };
    if in_force == Some(digest.as_str()) {
        return Ok(None);
    }
    let _swapping = watcher.state.swapping.lock().await;
    let current = watcher.state.engine();
    let loader = watcher.clone();
    let label = plugin.source.at(&digest);
    let first = registry.clone();
    let engine = tokio::task::spawn_blocking(move || match current {
        Some(current) => {
            let engine =
                loader.load_bytes(&bytes, &label, yungui::registry::Registry::empty(), true)?;
            crate::reload::guard(loader.guard.as_ref(), &current, &engine)?;
            engine.share_registry(current.registry());
            Ok::<_, LoadError>(engine)
        }
        None => loader.load_bytes(&bytes, &label, first, false),
    })
    .await
    .map_err(LoadError::from)??;
    watcher.state.swap_in(engine);
    Ok(Some(digest))
}
