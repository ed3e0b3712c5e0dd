//! `yungui decide`: one request in, the decision out; the exit code is the decision.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use super::{EngineArgs, Exit, Format};
use yungui::report::{Outcome, Report};
use yungui::request::{fill_now, now_utc};

/// Decide one request.
#[derive(Debug, Args)]
pub struct DecideCommand {
    /// The request (JSON request format); `-` or nothing reads standard input.
    pub request: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,

    /// The time to decide at, when the request's context has no `now` (default: the current
    /// time), e.g. `2026-11-30T08:00:00Z`.
    #[arg(long)]
    pub now: Option<String>,

    /// The component and the registry to decide with.
    #[command(flatten)]
    pub engine: EngineArgs,
}

impl DecideCommand {
    /// Runs the command; the exit code is the decision (no decision, as a bad request or a
    /// fault: callers must deny).
    pub fn execute(self) -> anyhow::Result<Exit> {
        let text = match &self.request {
            Some(path) if path.as_os_str() != "-" => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the request `{}`", path.display()))?,
            _ => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("cannot read the request from standard input")?;
                text
            }
        };
        self.engine.announce();
        let engine = self.engine.engine()?;
        let now = self.now.clone().unwrap_or_else(now_utc);
        // A request that is not JSON goes to the component as it is, which names the problem.
        let request = fill_now(&text, &now).unwrap_or(text);
        let report = Report::new(&engine.decide_json(&request));
        match self.format {
            Format::Text => print!("{}", report.to_text()),
            Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        }
        Ok(match report.decision {
            Outcome::Allow => Exit::Ok,
            Outcome::Deny => Exit::Deny,
            Outcome::Error => Exit::NoDecision,
        })
    }
}
