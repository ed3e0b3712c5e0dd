//! The subcommands of the `yungui` binary, one module each; `main` parses and dispatches.

pub mod analyze;
pub mod build;
pub mod cert;
pub mod check;
pub mod decide;
pub mod diff;
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

use yungui::PluginSource;
use yungui::engine::{Engine, EngineConfig};
use yungui::registry::Registry;
use yungui_policies::Sources;

pub use exit::Exit;

/// The policy folder every command uses when given none, relative to the working directory.
pub const LOCAL_POLICIES: &str = "policies";

/// The registry files the commands look for, in this order, in the working directory when given
/// none: the user's own export, then the example of a yungui source checkout (run from its
/// root). Neither present: an empty registry.
pub const LOCAL_REGISTRIES: [&str; 2] = ["registry.json", "examples/registry.json"];

/// The policy folder to use when none is given: `./policies` when present, else none (the
/// shipped policy set, built into the binary). Never a folder that depends on where the binary
/// was built.
pub fn local_policies() -> Option<PathBuf> {
    Some(PathBuf::from(LOCAL_POLICIES)).filter(|dir| dir.is_dir())
}

/// The policy set a command reads when given no folder: `./policies`, else the shipped one.
pub fn policy_sources(given: Option<&std::path::Path>) -> anyhow::Result<(Sources, String)> {
    match given.map(std::path::Path::to_owned).or_else(local_policies) {
        Some(dir) => Ok((Sources::read_dir(&dir)?, dir.display().to_string())),
        None => Ok((
            yungui::builder::shipped_sources(),
            SHIPPED_POLICIES.to_owned(),
        )),
    }
}

/// How the shipped policy set is named in messages.
pub const SHIPPED_POLICIES: &str = "the shipped set (built into yungui)";

/// Says on standard error which policy set a command uses.
pub fn announce_policies(which: &str) {
    eprintln!("policies: {which}");
}

/// Says on standard error which component is used: `component: FILE` or `policies: ...`.
fn announce_source(source: &PluginSource) {
    match source {
        PluginSource::File(path) => eprintln!("component: {}", path.display()),
        PluginSource::Policies(dir) => announce_policies(&dir.display().to_string()),
        PluginSource::Shipped => announce_policies(SHIPPED_POLICIES),
        other => eprintln!("component: {other:?}"),
    }
}

/// Options every command that runs the component takes.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// The policy component (.wasm), e.g. one `yungui build` wrote. Default: `$YUNGUI_PLUGIN`,
    /// else the folder `./policies` when present, else the policy set shipped with yungui
    /// (`serve` never looks in its working directory: the shipped set).
    /// `yungui serve` also takes `oci://REGISTRY/REPOSITORY:TAG|@sha256:…` and
    /// `oci-layout://DIR[:TAG]`, verified first (`--verify-key` or `--trust-policy`).
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
    /// `yungui registry`). Default: `$YUNGUI_REGISTRY`, else `./registry.json`, else
    /// `./examples/registry.json` (a yungui checkout), else an empty registry (`serve` never
    /// looks in its working directory: empty); the registry used is named on standard error.
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
    /// Where the component comes from: the one given, else `./policies` when present, else the
    /// shipped policy set.
    pub fn source(&self) -> PluginSource {
        self.given_source().unwrap_or_else(|| {
            local_policies().map_or(PluginSource::Shipped, PluginSource::Policies)
        })
    }

    /// The component given by option or environment, if any; nothing found in the working
    /// directory.
    fn given_source(&self) -> Option<PluginSource> {
        match (&self.plugin, &self.policies) {
            (Some(path), _) => Some(PluginSource::File(path.clone())),
            (None, Some(dir)) => Some(PluginSource::Policies(dir.clone())),
            (None, None) => None,
        }
    }

    /// Where a server's component comes from: the one given by option or environment, else the
    /// shipped policy set. A server never takes `./policies` from its working directory: a
    /// folder nobody configured must not decide.
    pub fn server_source(&self) -> PluginSource {
        self.given_source().unwrap_or(PluginSource::Shipped)
    }

    /// Where a server's registry comes from: the one given by option or environment, else none
    /// (an empty registry). A server never reads `./registry.json` or `./examples/registry.json`
    /// from its working directory: a file nobody configured must not decide.
    pub fn server_registry_source(&self) -> Option<yungui::registry::RegistrySource> {
        self.registry
            .as_ref()
            .map(|location| self.database.source(location))
    }

    /// Says on standard error which component and which registry a server uses, as
    /// [`EngineArgs::announce`] does for a command.
    pub fn announce_server(&self) {
        announce_source(&self.server_source());
        match &self.registry {
            Some(registry::RegistryLocation::Database(_)) => {
                eprintln!("registry: the PostgreSQL database given");
            }
            Some(registry::RegistryLocation::File(path)) => {
                eprintln!("registry: {}", path.display());
            }
            None => eprintln!("registry: none (empty; give `--registry` or `$YUNGUI_REGISTRY`)"),
        }
    }

    /// The registry file: the one given, else the first of [`LOCAL_REGISTRIES`] present in the
    /// working directory; none for a registry in a database, or when none is present.
    pub fn registry_path(&self) -> Option<PathBuf> {
        match &self.registry {
            Some(registry::RegistryLocation::File(path)) => Some(path.clone()),
            Some(registry::RegistryLocation::Database(_)) => None,
            None => LOCAL_REGISTRIES
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file()),
        }
    }

    /// Says on standard error which component and which registry the command uses:
    /// `policies: ...` and `registry: ...` (`registry: none (empty)` when there is none).
    pub fn announce(&self) {
        announce_source(&self.source());
        self.announce_registry();
    }

    /// Says on standard error which registry the command uses (`registry: none (empty)` when
    /// there is none).
    pub fn announce_registry(&self) {
        match &self.registry {
            Some(registry::RegistryLocation::Database(_)) => {
                eprintln!("registry: the PostgreSQL database given");
            }
            _ => match self.registry_path() {
                Some(path) => eprintln!("registry: {}", path.display()),
                None => eprintln!("registry: none (empty)"),
            },
        }
    }

    /// Where the registry comes from: the one given, else a local file when present.
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
        let mut config = EngineConfig::default()
            .with_deadline(Duration::from_millis(self.deadline_ms))
            .with_memory_limit(self.memory_mib.saturating_mul(1 << 20))
            .with_audit(self.audit);
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
