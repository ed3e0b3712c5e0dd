//! Why a server did not start ([`StartError`], [`ConfigError`]), why a component was not put in
//! force ([`LoadError`]), and why a server gave no decision ([`ServeError`]). The engine's,
//! registry's and TLS errors are kept as sources; logs and `/readyz` print an error with its
//! sources ([`Chain`]).

use std::fmt;
use std::net::SocketAddr;

use yungui::engine::Error;

use crate::tls::TlsError;

/// Why a server did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration could not serve.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The certificate, its key or the client CA cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The address cannot be listened on.
    #[error("cannot listen on `{0}`")]
    Listen(SocketAddr),
    /// The registry file cannot be read, or is not a registry.
    #[error(transparent)]
    Registry(#[from] yungui::registry::RegistryError),
    /// The registry cannot be opened.
    #[error(transparent)]
    OpenRegistry(#[from] yungui::registry::OpenError),
}

/// What is wrong with a [`Config`](crate::Config): a setting that would refuse every client or
/// every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `workers` is 0.
    #[error("no workers: a server needs at least one to decide")]
    NoWorkers,
    /// A connection limit or the body rate is 0.
    #[error("a connection limit of 0 would refuse every client")]
    NoConnections,
    /// A timeout is 0.
    #[error("a timeout of 0 would refuse every request: give clients some time")]
    NoTime,
    /// A body's minimum rate is 0, or its maximum time shorter than its timeout.
    #[error(
        "a body's minimum rate must be positive and its maximum time no shorter than its timeout"
    )]
    BodyTimes,
    /// A watch interval is 0.
    #[error("a watch interval of 0: use `None` for never, or a positive interval")]
    ZeroWatch,
}

/// Why a component was not put in force, at start or at a reload.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    /// The policy folder cannot be read.
    #[error(transparent)]
    Read(#[from] yungui_policies::ReadError),
    /// The policies are invalid, or building the component failed.
    #[error(transparent)]
    Build(#[from] yungui::builder::BuildError),
    /// The component cannot be loaded from its source.
    #[error(transparent)]
    Source(#[from] yungui::SourceError),
    /// The component cannot be read, loaded or warmed, or lists no controls.
    #[error(transparent)]
    Engine(#[from] Error),
    /// The component is not the pinned one.
    #[error("the component's sha256 is {actual}, not the pinned `{pinned}` (--plugin-sha256)")]
    Pinned {
        /// The component's sha256 (hex).
        actual: String,
        /// The pin.
        pinned: String,
    },
    /// The component lists no controls.
    #[error("the component lists no controls: it holds no policy set")]
    NoControls,
    /// The smoke decision faulted.
    #[error("the smoke decision failed")]
    Smoke(#[source] Error),
    /// The reload guard refused the new policy set.
    #[error("the new policy set is {guard}: {why}")]
    Guarded {
        /// What the guard checks.
        guard: String,
        /// Why it refused.
        why: String,
    },
    /// A reload guard is set and a component carries no policy set to check.
    #[error(
        "the {which} component carries no policy set (it was not made by `yungui build`) for the reload guard to compare"
    )]
    NoPolicySet {
        /// `new` or `in-force`.
        which: &'static str,
    },
    /// The loading task died.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
}

/// An error and its sources, each after `: ` (as `anyhow` writes `{:#}`): how logs and `/readyz`
/// say why.
pub(crate) struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

/// Why no decision came back, as a server sees it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The component is still loading.
    #[error("the policy component is not loaded yet")]
    NotReady,
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] Error),
    /// The blocking task died.
    #[error("the decision task failed: {0}")]
    Task(String),
    /// A Kubernetes namespace's `yungui.io/mode` label has no known value.
    #[error("the namespace's `yungui.io/mode` label has no known value")]
    Mislabelled,
    /// The request was refused before the component ran (too complex, a duplicate key, a clock
    /// of its own).
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl From<yungui::limits::TooComplex> for ServeError {
    fn from(err: yungui::limits::TooComplex) -> Self {
        Self::BadRequest(err.to_string())
    }
}

impl ServeError {
    /// Whether the caller sent a bad request (as opposed to a fault of ours).
    pub fn is_bad_request(&self) -> bool {
        matches!(self, Self::BadRequest(_)) || matches!(self, Self::Engine(e) if e.is_bad_request())
    }

    /// A short kind for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotReady => "not_ready",
            Self::Task(_) => "task",
            Self::Mislabelled => "mislabelled",
            Self::BadRequest(_) => "bad_request",
            Self::Engine(e) => yungui::report::ErrorReport::from(e).kind,
        }
    }
}
