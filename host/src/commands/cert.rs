//! `yungui cert`: a CA and a server certificate for the webhook, with rcgen.

use clap::Args;

/// Make a CA and a server certificate for `yungui serve`.
#[derive(Debug, Args)]
pub struct CertCommand {}

impl CertCommand {
    /// Runs the command.
    pub fn execute(self) -> anyhow::Result<u8> {
        anyhow::bail!("not available yet")
    }
}
