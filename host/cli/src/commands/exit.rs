//! How the `yungui` command ends: one exit code per meaning (README, "Exit codes"), as [`Exit`],
//! which `main` returns. A usage error is never 2, the code of a denial.

use std::process::{ExitCode, Termination};

use yungui::SourceError;
use yungui::builder::BuildError;

/// The exit codes of the `yungui` command; the process exits with [`Exit::code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Allowed, valid, every case passed, done.
    Ok = 0,
    /// `test`: a case failed, or (with `--coverage`) a control lacks a case; `report`: a case
    /// failed, or (with `--check`) a file is out of date.
    Failed = 1,
    /// `decide`: denied by policy.
    Deny = 2,
    /// `decide`: no decision (a bad request or a fault; callers deny); `validate`, `build` and
    /// `--policies`: invalid policies; `inspect`: not a component `yungui build` made.
    NoDecision = 3,
    /// The command could not run: a file missing or unreadable, no case files, the component not
    /// loading, a bad configuration, a server that could not start.
    CannotRun = 4,
    /// The command line is wrong: an unknown option, a missing or bad value (sysexits' EX_USAGE).
    Usage = 64,
}

impl Exit {
    /// The process's exit status.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// How a command that returned `err` ends: invalid policies (`--policies`) mean no decision
    /// and no component; anything else, the command could not run.
    pub fn of_error(err: &anyhow::Error) -> Self {
        let invalid = matches!(err.downcast_ref(), Some(BuildError::Invalid(_)))
            || matches!(
                err.downcast_ref(),
                Some(SourceError::Build(BuildError::Invalid(_)))
            );
        if invalid {
            Self::NoDecision
        } else {
            Self::CannotRun
        }
    }
}

impl Termination for Exit {
    fn report(self) -> ExitCode {
        ExitCode::from(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use yungui_policies::Problems;

    #[test]
    fn codes_are_the_documented_ones() {
        let codes = [
            Exit::Ok,
            Exit::Failed,
            Exit::Deny,
            Exit::NoDecision,
            Exit::CannotRun,
            Exit::Usage,
        ]
        .map(Exit::code);
        assert_eq!(codes, [0, 1, 2, 3, 4, 64]);
    }

    #[test]
    fn invalid_policies_are_no_decision_and_other_errors_cannot_run() {
        let invalid = || BuildError::Invalid(Problems(Vec::new()));
        assert_eq!(
            Exit::of_error(&anyhow::Error::from(invalid())),
            Exit::NoDecision
        );
        assert_eq!(
            Exit::of_error(&anyhow::Error::from(SourceError::Build(invalid()))),
            Exit::NoDecision
        );
        let fault = BuildError::Snapshot(yungui::builder::SnapshotError::Incomplete);
        assert_eq!(Exit::of_error(&anyhow::Error::from(fault)), Exit::CannotRun);
        assert_eq!(
            Exit::of_error(&anyhow::anyhow!("cannot read `x`")),
            Exit::CannotRun
        );
    }
}
