//! Why no decision came back, or no engine was loaded: [`Error`], and the typed causes it holds.
//!
//! Every message names what failed; a cause whose message is part of its holder's is reached
//! through an accessor, not [`std::error::Error::source`], so a report of an error with its causes
//! says each thing once.

use std::time::Duration;

use crate::bindings::types;
use crate::identity::{FileError, NotAComponent};

/// Why no decision came back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The component could not be read, compiled or linked.
    #[error("cannot load the component `{path}`: {error}")]
    Load {
        /// The component's path (or what names it, for one loaded from memory).
        path: String,
        /// Why (its message is part of this one's).
        error: LoadError,
    },
    /// The component could not be instantiated (or its first call failed while warming up).
    #[error("cannot instantiate the component: {0:#}")]
    Instantiate(wasmtime::Error),
    /// The component answered with a failure.
    #[error("{}", failure_message(.0))]
    Failure(types::Failure),
    /// The call ran past its deadline and was interrupted.
    #[error("the plugin did not decide within {0:?} and was stopped")]
    Timeout(Duration),
    /// The call needed more memory than the limit.
    #[error("the plugin exceeded its memory limit of {0} bytes and was stopped")]
    OutOfMemory(usize),
    /// The component trapped.
    #[error("the plugin trapped: {0:#}")]
    Trap(wasmtime::Error),
}

/// Why a component could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The component file could not be read.
    #[error("{0}")]
    File(FileError),
    /// The bytes are not a component yungui can read.
    #[error("{0}")]
    NotAComponent(NotAComponent),
    /// Wasmtime could not be configured.
    #[error("{0}")]
    Configure(wasmtime::Error),
    /// The component does not compile.
    #[error("{0:#}")]
    Compile(wasmtime::Error),
    /// The linker could not be set up.
    #[error("{0:#}")]
    Link(wasmtime::Error),
    /// The component imports something yungui does not grant.
    #[error(
        "{0:#} (yungui grants only the registry, WASI streams, an empty environment, closed stdio and a random seed)"
    )]
    Imports(wasmtime::Error),
    /// The component does not export the plugin world.
    #[error("{0:#}")]
    Exports(wasmtime::Error),
}

/// What kind of failure an [`Error`] is, as reports and metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is bad (the caller's fault).
    BadRequest,
    /// The registry holds bad data.
    BadEntityData,
    /// The component failed.
    PluginFault,
    /// The call ran past its deadline.
    Timeout,
    /// The call needed more memory than the limit.
    OutOfMemory,
    /// The component trapped.
    Trap,
    /// The component could not be loaded or instantiated.
    Load,
}

impl ErrorKind {
    /// Its name in reports: `bad_request`, `bad_entity_data`, `plugin_fault`, `timeout`,
    /// `out_of_memory`, `trap`, `load`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::BadEntityData => "bad_entity_data",
            Self::PluginFault => "plugin_fault",
            Self::Timeout => "timeout",
            Self::OutOfMemory => "out_of_memory",
            Self::Trap => "trap",
            Self::Load => "load",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// Whether the fault lies with the request (bad input) rather than with yungui.
    pub fn is_bad_request(&self) -> bool {
        matches!(self, Self::Failure(types::Failure::BadRequest(_)))
    }

    /// What kind of failure it is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Failure(types::Failure::BadRequest(_)) => ErrorKind::BadRequest,
            Self::Failure(types::Failure::BadEntityData(_)) => ErrorKind::BadEntityData,
            Self::Failure(types::Failure::PluginFault(_)) => ErrorKind::PluginFault,
            Self::Timeout(_) => ErrorKind::Timeout,
            Self::OutOfMemory(_) => ErrorKind::OutOfMemory,
            Self::Trap(_) => ErrorKind::Trap,
            Self::Load { .. } | Self::Instantiate(_) => ErrorKind::Load,
        }
    }

    /// The wasmtime error behind a trap, a failed instantiation or a component wasmtime could
    /// not compile or link.
    pub fn wasmtime_error(&self) -> Option<&wasmtime::Error> {
        match self {
            Self::Instantiate(err) | Self::Trap(err) => Some(err),
            Self::Load { error, .. } => error.wasmtime_error(),
            _ => None,
        }
    }

    /// The failure the component answered with.
    pub fn failure(&self) -> Option<&types::Failure> {
        match self {
            Self::Failure(failure) => Some(failure),
            _ => None,
        }
    }

    /// Why the component could not be loaded.
    pub fn load_error(&self) -> Option<&LoadError> {
        match self {
            Self::Load { error, .. } => Some(error),
            _ => None,
        }
    }

    /// A load error naming the component by `path`.
    pub(crate) fn load(path: impl Into<String>, error: LoadError) -> Self {
        Self::Load {
            path: path.into(),
            error,
        }
    }
}

impl LoadError {
    /// The wasmtime error, when wasmtime failed to configure, compile or link.
    pub fn wasmtime_error(&self) -> Option<&wasmtime::Error> {
        match self {
            Self::Configure(err)
            | Self::Compile(err)
            | Self::Link(err)
            | Self::Imports(err)
            | Self::Exports(err) => Some(err),
            Self::File(_) | Self::NotAComponent(_) => None,
        }
    }
}

fn failure_message(failure: &types::Failure) -> String {
    match failure {
        types::Failure::BadRequest(m) => format!("bad request: {m}"),
        types::Failure::BadEntityData(m) => format!("bad registry data: {m}"),
        types::Failure::PluginFault(m) => format!("plugin fault: {m}"),
    }
}
