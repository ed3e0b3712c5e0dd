//! The subcommands of the `yungui` binary, one module each; `main` parses and dispatches.

pub mod build;
pub mod cert;
pub mod decide;
pub mod exit;
pub mod inspect;
pub mod oci;
pub mod registry;
pub mod report;
pub mod serve;
pub mod test;
pub mod validate;

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use yungui::engine::{Engine, EngineConfig, PluginSource};
use yungui::registry::Registry;

pub use exit::Exit;

/// Where the shipped example registry is, in a source checkout.
pub const EXAMPLE_REGISTRY: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/registry.json");

/// Where the policies are, in a source checkout.
pub const SOURCE_POLICIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies");

/// Options every command that runs the component takes.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// The policy component (.wasm), e.g. one `yungui build` wrote. Default: `$YUNGUI_PLUGIN`,
    /// else the policy set shipped with yungui.
    #[arg(
        long,
        env = "YUNGUI_PLUGIN",
        value_name = "WASM",
        conflicts_with = "policies"
    )]
    pub plugin: Option<PathBuf>,

    /// Build the component from this policy folder (schema.cedarschema and *.cedar) in memory
    /// and use it, as `yungui build` would write it.
    #[arg(long, value_name = "DIR")]
    pub policies: Option<PathBuf>,

    /// The registry: a Cedar entities JSON file, a directory of them (every `*.json` file in it), or
    /// a PostgreSQL database (`postgres://…`, see
    /// `yungui registry`). Default: `$YUNGUI_REGISTRY`, else the shipped
    /// `examples/registry.json`.
    #[arg(long, env = "YUNGUI_REGISTRY", value_name = "JSON|DIR|URL")]
    pub registry: Option<registry::RegistryLocation>,

    /// How to reach a registry in PostgreSQL.
    #[command(flatten)]
    pub database: registry::DatabaseArgs,

    /// A call that runs longer than this many milliseconds is stopped and denied.
    #[arg(long, default_value_t = 200, value_name = "MS")]
    pub deadline_ms: u64,

    /// The most memory the component may use, in MiB.
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    pub memory_mib: usize,

    /// Audit mode: denials are reported as warnings and the request is allowed.
    #[arg(long)]
    pub audit: bool,

    /// Do not cache the compiled component on disk.
    #[arg(long)]
    pub no_cache: bool,
}

impl EngineArgs {
    /// Where the component comes from.
    pub fn source(&self) -> PluginSource {
        match (&self.plugin, &self.policies) {
            (Some(path), _) => PluginSource::File(path.clone()),
            (None, Some(dir)) => PluginSource::Policies(dir.clone()),
            (None, None) => PluginSource::Shipped,
        }
    }

    /// The registry file: the one given, else the shipped example when it exists; none for a
    /// registry in a database.
    pub fn registry_path(&self) -> Option<PathBuf> {
        match &self.registry {
            Some(registry::RegistryLocation::File(path)) => Some(path.clone()),
            Some(registry::RegistryLocation::Database(_)) => None,
            None => Some(PathBuf::from(EXAMPLE_REGISTRY)).filter(|p| p.is_file()),
        }
    }

    /// Where the registry comes from: the one given, else the shipped example when it exists.
    pub fn registry_source(&self) -> Option<yungui::registry::RegistrySource> {
        match &self.registry {
            Some(location) => Some(self.database.source(location)),
            None => self
                .registry_path()
                .map(yungui::registry::RegistrySource::File),
        }
    }

    /// The registry: read from its file (empty when there is none), or a database client.
    pub fn load_registry(&self) -> anyhow::Result<Registry> {
        match self.registry_source() {
            Some(source) => Ok(source.open()?),
            None => Ok(Registry::empty()),
        }
    }

    /// The engine configuration these options describe.
    pub fn config(&self) -> EngineConfig {
        let mut config = EngineConfig {
            deadline: Duration::from_millis(self.deadline_ms),
            memory_limit: self.memory_mib.saturating_mul(1 << 20),
            audit: self.audit,
            ..EngineConfig::default()
        };
        if self.no_cache {
            config.cache_dir = None;
        }
        config
    }

    /// The engine, loaded.
    pub fn engine(&self) -> anyhow::Result<Engine> {
        let registry = self.load_registry()?;
        Ok(self.source().load(registry, self.config())?)
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// For people.
    #[default]
    Text,
    /// For scripts.
    Json,
}
