//! Why an analysis could not run.

use std::path::PathBuf;

use crate::solver::SOLVER_PACKAGE;

/// Why an analysis could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file of the policy folder could not be read.
    #[error(transparent)]
    Read(#[from] yungui_policies::ReadError),
    /// The policies or the schema are not valid.
    #[error("the policies are not valid:\n{0}")]
    InvalidPolicies(yungui_policies::Problems),
    /// A property file is not valid.
    #[error("`{file}`: {message}")]
    InvalidProperty {
        /// The property file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// `known.json` is not valid.
    #[error("`{}`: {message}", path.display())]
    InvalidKnown {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The solver cannot be found or started.
    #[error(
        "cannot run the SMT solver `{program}`: {message}; install it (Debian package `{SOLVER_PACKAGE}`: apt-get install {SOLVER_PACKAGE}) or set CVC5 to its path"
    )]
    SolverMissing {
        /// The program looked for.
        program: String,
        /// Why it could not run.
        message: String,
    },
    /// Symbolic compilation or the solver failed on one check.
    #[error("in {environment}, {check}: {message}")]
    Check {
        /// The request environment.
        environment: String,
        /// The check.
        check: String,
        /// What failed.
        message: String,
    },
    /// A worker thread could not start or failed.
    #[error("analysis thread: {0}")]
    Thread(String),
}

impl Error {
    /// Whether the error is in the policy folder's contents (policies, schema, properties, known
    /// findings) rather than in running the analysis.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Self::InvalidPolicies(_) | Self::InvalidProperty { .. } | Self::InvalidKnown { .. }
        )
    }
}
