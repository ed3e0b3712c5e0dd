//! The engine's errors: why an instance holds no engine, and how a request's problems and Cedar's
//! errors are rendered into the WIT interface's failures.

use crate::bindings::yungui::policy::types as wit;

/// Why an instance holds no engine: the policy set handed to `init` could not be read or does not
/// load. Every call then fails with it as a plugin fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// Standard input could not be read.
    #[error("cannot read the policy set: {0}")]
    Read(std::io::Error),
    /// What `init` was handed is not a policy set in the wire form.
    #[error("the policy set handed to `init` is not valid: {0}")]
    Invalid(serde_json::Error),
    /// The schema or the policies do not compile.
    #[error("the policy set does not load: {0}")]
    Compile(yungui_policies::Problems),
    /// The compiled policy set could not be prepared for decisions (sliced, its action entities
    /// built).
    #[error("{0}")]
    Prepare(String),
}

/// A bad request, saying what is wrong.
pub(super) fn bad(message: impl Into<String>) -> wit::Failure {
    wit::Failure::BadRequest(message.into())
}

/// A Cedar error with its causes and help, on one line.
pub(super) fn cedar_message<E: miette::Diagnostic + 'static>(err: &E) -> String {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    if let Some(help) = err.help() {
        message.push_str(&format!(" (help: {help})"));
    }
    message
}
