//! `yungui test`: run golden case files and say which pass.

use std::path::PathBuf;

use clap::Args;

use super::EngineArgs;
use crate::cases::{Runner, coverage, discover};

/// Run golden cases (files or folders of `*.json`).
#[derive(Debug, Args)]
pub struct TestCommand {
    /// Case files or folders. Default: `tests/cases`.
    pub cases: Vec<PathBuf>,

    /// Also list every control with the cases that make it fire and stay quiet, and fail when a
    /// control lacks either.
    #[arg(long)]
    pub coverage: bool,

    #[command(flatten)]
    pub engine: EngineArgs,
}

impl TestCommand {
    /// Runs the command; returns the exit code (0 all passed, 1 otherwise).
    pub fn execute(self) -> anyhow::Result<u8> {
        let paths = if self.cases.is_empty() {
            vec![PathBuf::from("tests/cases")]
        } else {
            self.cases.clone()
        };
        let files = discover(&paths).map_err(anyhow::Error::msg)?;
        let engine = self.engine.engine()?;
        let runner = Runner::new(&engine);
        let mut results = Vec::with_capacity(files.len());
        let (mut passed, mut failed) = (0, 0);
        for file in &files {
            let result = runner.run(file);
            match &result.failure {
                None => {
                    passed += 1;
                    println!("pass {}", file.display());
                }
                Some(why) => {
                    failed += 1;
                    println!("FAIL {}: {why}", file.display());
                }
            }
            results.push(result);
        }
        let mut ok = failed == 0;
        if self.coverage {
            let controls = engine.controls()?;
            let table = coverage(controls.iter().map(|c| c.control.as_str()), &results);
            println!();
            println!("{:<36} {:>6} {:>6}", "control", "fires", "quiet");
            for (control, (fires, quiet)) in &table {
                let mark = if *fires == 0 || *quiet == 0 {
                    ok = false;
                    "  <- needs a case that fires and one that stays quiet"
                } else {
                    ""
                };
                println!("{control:<36} {fires:>6} {quiet:>6}{mark}");
            }
        }
        println!();
        println!("{passed} passed, {failed} failed");
        Ok(if ok { 0 } else { 1 })
    }
}
