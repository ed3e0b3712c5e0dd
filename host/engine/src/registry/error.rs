//! Why a registry could not be read or opened.

use std::time::Duration;

use super::{Key, postgres};

/// The registry could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The file could not be read.
    #[error("cannot read the registry `{path}`: {source}")]
    Io {
        /// The path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The JSON is not a list of entities.
    #[error("the registry is not a Cedar entities JSON list: {0}")]
    Json(#[source] serde_json::Error),
    /// An entity lacks a usable `uid`.
    #[error("registry entity #{index}: {error}")]
    Entity {
        /// Its position in the list, from 0.
        index: usize,
        /// What is wrong (its message is part of this one's).
        error: UidError,
    },
    /// Two entities share a uid.
    #[error("the registry holds `{0}` twice: keep one")]
    Duplicate(String),
    /// Two files of a registry directory hold the same uid.
    #[error("`{uid}` is in both `{first}` and `{second}`: keep it in one")]
    InTwoFiles {
        /// The uid.
        uid: String,
        /// The file holding it already.
        first: String,
        /// The file that holds it too.
        second: String,
    },
    /// What is wrong with one file of a registry directory.
    #[error("`{path}`: {error}")]
    InFile {
        /// The file.
        path: String,
        /// What is wrong with it (its message is part of this one's).
        error: Box<RegistryError>,
    },
    /// A registry directory holds no registry file.
    #[error("the registry directory `{0}` holds no `*.json` file")]
    EmptyDirectory(String),
    /// A `Cloud::Namespace` does not name exactly one tenant.
    #[error(
        "registry entity `Cloud::Namespace::\"{namespace}\"` must have exactly one `Cloud::Tenant` parent (the tenant that owns the namespace), it has {found}"
    )]
    NamespaceTenant {
        /// The namespace.
        namespace: String,
        /// How many tenant parents it has.
        found: usize,
    },
}

/// What is wrong with an entity's `uid`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UidError {
    /// No `uid` object with a `type` and an `id`.
    #[error("needs `\"uid\": {{\"type\": …, \"id\": …}}`: {0}")]
    Missing(serde_json::Error),
    /// `uid.type` is empty.
    #[error("`uid.type` is empty")]
    EmptyType,
}

/// Why a registry could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The file could not be read or is not a registry.
    #[error(transparent)]
    File(#[from] RegistryError),
    /// The database client could not start.
    #[error(transparent)]
    Database(#[from] postgres::PgError),
}

/// Why the registry cannot be read now: a registry in PostgreSQL not connected yet, out of reach,
/// or silent past its staleness bound. Decisions fail closed on it, saying so.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Unavailable {
    /// The first connection is still under way.
    #[error("the registry database is not connected yet")]
    Connecting,
    /// The first connection did not come up within the lookup timeout.
    #[error(
        "the registry database is not connected yet (no answer within {timeout:?}): `{key}` cannot be read"
    )]
    NotConnected {
        /// The entity asked for.
        key: Key,
        /// The lookup timeout.
        timeout: Duration,
    },
    /// The database has never been reached.
    #[error("the registry database cannot be reached: {why}")]
    Unreachable {
        /// Why the connection failed, as the database client said.
        why: String,
    },
    /// The database is out of reach and the entity is not cached.
    #[error("the registry database is out of reach and `{key}` is not cached: {why}")]
    NotCached {
        /// The entity asked for.
        key: Key,
        /// Why the connection was lost, as the database client said.
        why: String,
    },
    /// The database has been silent longer than cached entities may be used.
    #[error(
        "the registry database has been out of reach for {} ms (no answer since), longer than the {} ms its cached entities may be used (--registry-staleness-secs), so nothing is decided on them: {why}",
        silent.as_millis(),
        staleness.as_millis()
    )]
    Stale {
        /// How long since its last answer.
        silent: Duration,
        /// The staleness bound.
        staleness: Duration,
        /// Why it is silent, as far as the client knows.
        why: String,
    },
    /// The connection went down while the lookup waited.
    #[error("the registry database is out of reach")]
    OutOfReach,
    /// The client thread has stopped.
    #[error("the registry database client has stopped")]
    Stopped,
    /// The database did not answer the lookup in time.
    #[error("the registry database did not answer for `{key}` within {timeout:?}")]
    NoAnswer {
        /// The entity asked for.
        key: Key,
        /// The lookup timeout.
        timeout: Duration,
    },
    /// The lookup query failed.
    #[error("{why}")]
    Query {
        /// The database's error, with its cause.
        why: String,
    },
}
