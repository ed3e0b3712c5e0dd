//! Why a server gave no decision.

use yungui::engine::Error;

/// Why no decision came back, as a server sees it.
#[derive(Debug, thiserror::Error)]
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
