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
    /// Trusted peers are set and their reserve leaves no place for anyone else.
    #[error("the trusted peers' reserve must be smaller than the connection limit")]
    TrustedReserve,
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
    #[error("its sha256 {actual} does not match the pin {pinned} (--plugin-sha256)")]
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

impl LoadError {
    /// Why, without the name of the component (which [`Refusal`] gives once).
    fn reason(&self) -> String {
        match self {
            Self::Engine(Error::Load { error, .. }) => Chain(error).to_string(),
            Self::Source(yungui::SourceError::Load(Error::Load { error, .. })) => {
                Chain(error).to_string()
            }
            other => Chain(other).to_string(),
        }
    }
}

/// A component not put in force, as logs and `/readyz` say it: one line naming the component
/// (its file, or its policy folder) and why, e.g. `component /etc/yungui/policies.wasm refused:
/// its sha256 … does not match the pin … (--plugin-sha256)`.
pub(crate) struct Refusal<'a>(pub &'a yungui::PluginSource, pub &'a LoadError);

impl fmt::Display for Refusal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            yungui::PluginSource::File(path) => write!(f, "component {}", path.display())?,
            yungui::PluginSource::Policies(dir) => {
                write!(f, "the component built from {}", dir.display())?;
            }
            yungui::PluginSource::Shipped => f.write_str("the shipped component")?,
            _ => f.write_str("the component")?,
        }
        write!(f, " refused: {}", one_line(&self.1.reason()))
    }
}

/// A message on one line: each line of a multi-line one (wasmtime's, a validator's) trimmed and
/// joined with `; `, blank ones dropped; a line that opens or continues a list (`[`, `(`, `{`,
/// `,`) is joined to the next with a space.
pub(crate) fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            let continues =
                out.ends_with(['[', '(', '{', ',']) || line.starts_with([']', ')', '}']);
            out.push_str(if continues { " " } else { "; " });
        }
        out.push_str(line);
    }
    out
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use yungui::PluginSource;
    use yungui::engine::{Engine, EngineConfig};

    use super::*;

    fn file() -> PluginSource {
        PluginSource::File(PathBuf::from("/etc/yungui/policies.wasm"))
    }

    #[test]
    fn a_refused_pin_is_one_line_naming_the_file_and_both_digests() {
        let err = LoadError::Pinned {
            actual: "ab12".to_owned(),
            pinned: "cd34".to_owned(),
        };
        assert_eq!(
            Refusal(&file(), &err).to_string(),
            "component /etc/yungui/policies.wasm refused: its sha256 ab12 does not match the pin cd34 (--plugin-sha256)"
        );
    }

    /// The engine names the component too: the line names it once, and says what is wrong with
    /// the bytes, not how the error is built.
    #[test]
    fn a_file_that_is_no_component_is_named_once_on_one_line() {
        for bytes in [b"not wasm".as_slice(), b"\0asm\x01\0\0\0".as_slice(), b""] {
            let Err(err) = Engine::from_bytes(
                bytes,
                "/etc/yungui/policies.wasm",
                yungui::registry::Registry::empty(),
                EngineConfig::default(),
            ) else {
                panic!("{bytes:?} loaded");
            };
            let line = Refusal(&file(), &LoadError::Engine(err)).to_string();
            assert!(
                line.starts_with("component /etc/yungui/policies.wasm refused: "),
                "{line}"
            );
            assert_eq!(line.matches("policies.wasm").count(), 1, "{line}");
            assert!(!line.contains('\n'), "{line}");
            assert!(line.contains("not a wasm component"), "{line}");
            for debug in ["Error {", "Some(", "{ ", "\\n", "[;"] {
                assert!(!line.contains(debug), "{line}");
            }
        }
        let Err(err) = Engine::from_bytes(
            b"not wasm",
            "/etc/yungui/policies.wasm",
            yungui::registry::Registry::empty(),
            EngineConfig::default(),
        ) else {
            panic!("loaded");
        };
        assert_eq!(
            Refusal(&file(), &LoadError::Engine(err)).to_string(),
            "component /etc/yungui/policies.wasm refused: not a wasm component: it does not start with the wasm magic bytes `00 61 73 6d` (it starts with `6e 6f 74 20 77 61 73 6d`)"
        );
    }

    #[test]
    fn a_failed_smoke_decision_is_one_line_with_its_cause() {
        let err = LoadError::Smoke(Error::Timeout(std::time::Duration::from_millis(200)));
        let source = PluginSource::Policies(PathBuf::from("/srv/policies"));
        assert_eq!(
            Refusal(&source, &err).to_string(),
            "the component built from /srv/policies refused: the smoke decision failed: the plugin did not decide within 200ms and was stopped"
        );
    }

    #[test]
    fn a_message_of_several_lines_is_joined_on_one() {
        assert_eq!(
            one_line("failed to parse\n\n  Caused by:\n    bad magic\n"),
            "failed to parse; Caused by:; bad magic"
        );
        assert_eq!(
            one_line("expected=[\n    0x0,\n    0x61,\n] actual=[\n    0x6e,\n]"),
            "expected=[ 0x0, 0x61, ] actual=[ 0x6e, ]"
        );
    }
}
