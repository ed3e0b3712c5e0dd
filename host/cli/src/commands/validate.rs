//! `yungui validate`: the policies against the schema, in strict mode.

use std::path::PathBuf;

use clap::Args;

use super::{Exit, Format, announce_policies, policy_sources};
use yungui_policies::Validate;

/// Check the policies against the schema (strict mode) and their annotations.
#[derive(Debug, Args)]
pub struct ValidateCommand {
    /// The policy folder (`schema.cedarschema` and `*.cedar`). Default: `./policies` when
    /// present, else the policy set shipped with yungui.
    #[arg(long, value_name = "DIR")]
    pub policies: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

impl ValidateCommand {
    /// Runs the command; returns the exit code (0 valid, 3 invalid).
    pub fn execute(self) -> anyhow::Result<Exit> {
        let (sources, which) = policy_sources(self.policies.as_deref())?;
        announce_policies(&which);
        // Problems name files under the folder; the shipped set's by their names alone.
        let dir = self
            .policies
            .or_else(super::local_policies)
            .unwrap_or_default();
        let result = sources.compile(Validate::Strict);
        let problems = match &result {
            Ok(_) => Vec::new(),
            Err(problems) => problems.0.clone(),
        };
        match self.format {
            Format::Text => match &result {
                Ok(compiled) => println!(
                    "valid: {} policies in {} files, {} controls",
                    compiled.policies.policies().count(),
                    sources.policies.len(),
                    compiled.controls().len()
                ),
                Err(problems) => {
                    for problem in &problems.0 {
                        println!("{}", display_path(&dir, problem));
                    }
                    println!("invalid: {} problems", problems.0.len());
                }
            },
            Format::Json => {
                let list: Vec<_> = problems
                    .iter()
                    .map(|p| {
                        serde_json::json!({
                            "file": dir.join(&p.file).display().to_string(),
                            "line": p.line,
                            "column": p.column,
                            "message": p.message,
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "valid": problems.is_empty(),
                        "problems": list,
                    }))?
                );
            }
        }
        Ok(if problems.is_empty() {
            Exit::Ok
        } else {
            Exit::NoDecision
        })
    }
}

fn display_path(dir: &std::path::Path, problem: &yungui_policies::Problem) -> String {
    let mut problem = problem.clone();
    problem.file = dir.join(&problem.file).display().to_string();
    problem.to_string()
}
