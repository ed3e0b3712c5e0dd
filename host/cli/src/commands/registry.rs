//! Where the registry comes from (`--registry FILE` or `--registry postgres://…`, and the
//! database's cache options), and `yungui registry`: import a Cedar entities JSON file into
//! PostgreSQL, print the schema.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use yungui::registry::RegistrySource;
use yungui::registry::postgres::{self, PgConfig};

/// A `--registry` value: a Cedar entities JSON file or a directory of them, or a PostgreSQL URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryLocation {
    /// A Cedar entities JSON file, or a directory of them.
    File(PathBuf),
    /// A `postgres://` (or `postgresql://`) URL.
    Database(String),
}

impl std::str::FromStr for RegistryLocation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Err("empty: give a Cedar entities JSON file or a postgres:// URL".to_owned());
        }
        Ok(if postgres::is_database_url(text) {
            Self::Database(text.to_owned())
        } else {
            Self::File(PathBuf::from(text))
        })
    }
}

/// The options of a registry in PostgreSQL (ignored for a file).
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// A registry in PostgreSQL: entities kept in memory at most.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub registry_cache_entities: usize,

    /// A registry in PostgreSQL: while the database is out of reach, cached entities decide for
    /// this many seconds; then every decision fails (closed).
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub registry_staleness_secs: u64,

    /// A registry in PostgreSQL: a lookup not answered within this many milliseconds fails.
    #[arg(long, default_value_t = 2_000, value_name = "MS")]
    pub registry_lookup_timeout_ms: u64,
}

impl DatabaseArgs {
    /// The client configuration for `url`.
    pub fn config(&self, url: &str) -> PgConfig {
        PgConfig {
            cache_entities: self.registry_cache_entities,
            staleness: Duration::from_secs(self.registry_staleness_secs),
            lookup_timeout: Duration::from_millis(self.registry_lookup_timeout_ms),
            ..PgConfig::new(url)
        }
    }

    /// Where the registry at `location` comes from, with these options.
    pub fn source(&self, location: &RegistryLocation) -> RegistrySource {
        match location {
            RegistryLocation::File(path) => RegistrySource::File(path.clone()),
            RegistryLocation::Database(url) => RegistrySource::Database(self.config(url)),
        }
    }
}

/// Manage a registry in PostgreSQL.
#[derive(Debug, Args)]
pub struct RegistryCommand {
    /// What to do.
    #[command(subcommand)]
    pub action: RegistryAction,
}

/// What `yungui registry` does.
#[derive(Debug, Subcommand)]
pub enum RegistryAction {
    /// Load or update entities from a Cedar entities JSON file into the database, in one
    /// transaction (creating the schema if needed), after checking every entity against the
    /// policy set's schema. Idempotent: unchanged entities are not written; entities the file
    /// does not name are kept.
    Import {
        /// The database: a postgres:// URL. Default: `$YUNGUI_REGISTRY`.
        #[arg(long, env = "YUNGUI_REGISTRY", value_name = "URL")]
        registry: String,
        /// Check the entities against this policy folder's schema (default: the policy set
        /// shipped with yungui).
        #[arg(long, value_name = "DIR")]
        policies: Option<PathBuf>,
        /// The Cedar entities JSON file, or a directory of them (every `*.json` file in it).
        file: PathBuf,
    },
    /// Print the database schema (SQL, idempotent), to apply with `psql -f`.
    Schema,
}

impl RegistryCommand {
    /// Runs the command; returns the exit code.
    pub fn execute(self) -> anyhow::Result<super::Exit> {
        match self.action {
            RegistryAction::Schema => {
                print!("{}", postgres::SCHEMA);
                Ok(super::Exit::Ok)
            }
            RegistryAction::Import {
                registry,
                policies,
                file,
            } => {
                if !postgres::is_database_url(&registry) {
                    anyhow::bail!(
                        "`--registry {registry}` is not a database: `yungui registry import` loads a file into PostgreSQL, give a postgres:// URL"
                    );
                }
                let entities = yungui::registry::read_entities(&file)?;
                let sources = match &policies {
                    Some(dir) => yungui_policies::Sources::read_dir(dir)?,
                    None => yungui::builder::shipped_sources(),
                };
                let compiled = sources
                    .compile(yungui_policies::Validate::No)
                    .map_err(|problems| anyhow::anyhow!("the policies do not load: {problems}"))?;
                if let Err(problems) =
                    yungui_policies::check_registry(&compiled, entities.iter().map(|e| e.get()))
                {
                    anyhow::bail!(
                        "`{}`: nothing imported: {}",
                        file.display(),
                        yungui_policies::summarise_problems(&problems)
                    );
                }
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let imported = runtime
                    .block_on(postgres::import(&registry, entities))
                    .with_context(|| format!("cannot import `{}`", file.display()))?;
                println!(
                    "imported {}: {} entities, {} written (new or changed)",
                    file.display(),
                    imported.entities,
                    imported.written
                );
                Ok(super::Exit::Ok)
            }
        }
    }
}
