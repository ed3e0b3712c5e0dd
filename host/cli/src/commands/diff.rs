//! `yungui diff OLD NEW`: how two policy folders decide differently, per request environment, with
//! an example request each way (`yungui-analyze`, cvc5).

use std::path::PathBuf;

use clap::Args;
use yungui_analyze::Options;

use super::analyze::{NotAPolicySet, read_folder_or_component};
use super::{Exit, Format};

/// Compare two policy sets for every request: equivalent, more or less permissive.
#[derive(Debug, Args)]
pub struct DiffCommand {
    /// The policy set before: a policy folder, or a component `yungui build` made (its policies).
    pub old: PathBuf,

    /// The policy set after (a folder or a built component); its schema is the one both are
    /// compared under.
    pub new: PathBuf,

    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,

    /// Environments compared at once, each with its own solver. Default: the available cores.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,
}

impl DiffCommand {
    /// Runs the command; returns the exit code (0 equivalent, 1 different, 3 invalid policies).
    pub fn execute(self) -> anyhow::Result<Exit> {
        let mut inputs = Vec::new();
        for path in [&self.old, &self.new] {
            match read_folder_or_component(path) {
                Ok(Ok(input)) => inputs.push(input),
                Ok(Err(e)) if e.is_invalid_input() => {
                    eprintln!("yungui: `{}`: {e}", path.display());
                    return Ok(Exit::NoDecision);
                }
                Ok(Err(e)) => return Err(e.into()),
                Err(e) if e.downcast_ref::<NotAPolicySet>().is_some() => {
                    eprintln!("yungui: {e:#}");
                    return Ok(Exit::NoDecision);
                }
                Err(e) => return Err(e),
            }
        }
        let (Some(old), Some(new)) = (inputs.first(), inputs.get(1)) else {
            return Ok(Exit::CannotRun);
        };
        let options = Options {
            threads: self.threads,
            ..Options::default()
        };
        let diff = yungui_analyze::diff(old, new, &options)?;
        match self.format {
            Format::Json => println!("{}", serde_json::to_string_pretty(&diff)?),
            Format::Text => {
                for env in &diff.environments {
                    println!("{:<16} {}", env.verdict(), env.environment);
                    for example in [&env.newly_allowed, &env.newly_denied]
                        .into_iter()
                        .flatten()
                    {
                        println!("    {}", example.description);
                        println!("    request: {}", example.request);
                        println!("    registry: {}", example.registry);
                    }
                }
                let different = diff
                    .environments
                    .iter()
                    .filter(|e| e.verdict() != "equivalent")
                    .count();
                println!(
                    "{}: {different} of {} environments differ ({:.1} s)",
                    if diff.equivalent() {
                        "equivalent"
                    } else {
                        "different"
                    },
                    diff.environments.len(),
                    diff.millis as f64 / 1000.0
                );
            }
        }
        Ok(if diff.equivalent() {
            Exit::Ok
        } else {
            Exit::Failed
        })
    }
}
