//! Where an engine's policy component comes from: a component file, a policy folder (checked and
//! run in memory, or built), or the policy set shipped with yungui. Above both the engine
//! ([`crate::engine`]) and the builder ([`crate::builder`]): it uses them, they do not use it.

use std::path::PathBuf;

use crate::builder::{self, BuildError, SnapshotError};
use crate::engine::{Engine, EngineConfig, Error};
use crate::identity::ENGINE_COMPONENT;
use crate::registry::Registry;

/// Where an engine's policy component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
#[non_exhaustive]
pub enum SourceError {
    /// The component file could not be loaded.
    #[error(transparent)]
    Load(#[from] Error),
    /// The policy folder could not be read.
    #[error(transparent)]
    Read(#[from] yungui_policies::ReadError),
    /// The policies are invalid, or building the component failed.
    #[error(transparent)]
    Build(#[from] BuildError),
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
                &builder::shipped_sources(),
                registry,
                config,
            )?),
        }
    }
}

impl Engine {
    /// Builds `sources` (see [`crate::builder::build`]) and loads the component.
    pub fn from_sources(
        sources: &yungui_policies::Sources,
        registry: Registry,
        config: EngineConfig,
    ) -> Result<Self, BuildError> {
        let built = builder::build(sources, config.cache_dir.as_deref())?;
        Self::from_bytes(&built.wasm, "the built policy component", registry, config)
            .map_err(|e| BuildError::Load(Box::new(e)))
    }

    /// Checks `sources` in strict mode and runs them on yungui's engine component without
    /// snapshotting: each new instance's `init` parses them (the state `yungui build` would
    /// snapshot), and the engine's compiled code comes from the cache, identical for every policy
    /// set. For a policy author's edit-and-test loop; serve built components.
    pub fn from_sources_unbuilt(
        sources: &yungui_policies::Sources,
        registry: Registry,
        config: EngineConfig,
    ) -> Result<Self, BuildError> {
        let identity = builder::check(sources)?;
        let input = serde_json::to_vec(&identity.sources)
            .map_err(|e| BuildError::Snapshot(SnapshotError::Encode(e)))?;
        let engine = Self::from_bytes(
            ENGINE_COMPONENT,
            "yungui's engine component",
            registry,
            config,
        )
        .map_err(|e| BuildError::Load(Box::new(e)))?;
        Ok(engine.with_policy_input(identity, input.into()))
    }
}
