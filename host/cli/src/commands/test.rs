//! `yungui test`: run golden case files and say which pass.

use std::path::PathBuf;

use clap::Args;
use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::{EngineArgs, Exit};
use yungui::cases::{Runner, coverage, discover};

/// Run golden cases (files or folders of `*.json`).
#[derive(Debug, Args)]
pub struct TestCommand {
    /// Case files or folders. Default: `tests/cases`.
    pub cases: Vec<PathBuf>,

    /// Also list every control with the cases that make it fire and stay quiet, and fail when a
    /// control lacks either.
    #[arg(long)]
    pub coverage: bool,

    /// Output format: a line per case (text), one JSON document (json), or a JUnit XML report
    /// for CI systems (junit).
    #[arg(long, value_enum, default_value_t)]
    pub format: TestFormat,

    /// The component and the registry the cases run on.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Output formats of `yungui test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum TestFormat {
    /// For people.
    #[default]
    Text,
    /// For scripts.
    Json,
    /// JUnit XML, for CI systems.
    Junit,
}

impl TestCommand {
    /// Runs the command; returns the exit code (0 all passed, 1 otherwise).
    pub fn execute(self) -> anyhow::Result<Exit> {
        let paths = if self.cases.is_empty() {
            vec![PathBuf::from("tests/cases")]
        } else {
            self.cases.clone()
        };
        let files = discover(&paths).map_err(anyhow::Error::msg)?;
        if files.is_empty() {
            let names: Vec<String> = paths.iter().map(|p| format!("`{}`", p.display())).collect();
            anyhow::bail!(
                "no case files (`*.json`) in {}: nothing was tested",
                names.join(", ")
            );
        }
        self.engine.announce();
        let engine = self.engine.engine()?;
        let runner = Runner::new(&engine);
        let text = self.format == TestFormat::Text;
        let mut results = Vec::with_capacity(files.len());
        let mut durations = Vec::with_capacity(files.len());
        let (mut passed, mut failed) = (0, 0);
        for file in &files {
            let started = std::time::Instant::now();
            let result = runner.run(file);
            durations.push(started.elapsed());
            match &result.failure {
                None => {
                    passed += 1;
                    if text {
                        println!("pass {}", file.display());
                    }
                }
                Some(why) => {
                    failed += 1;
                    if text {
                        println!("FAIL {}: {why}", file.display());
                    }
                }
            }
            results.push(result);
        }
        let mut ok = failed == 0;
        let mut uncovered = Vec::new();
        let table = if self.coverage {
            let controls = engine.controls()?;
            coverage(controls.iter().map(|c| c.control.as_str()), &results)
        } else {
            Default::default()
        };
        for (control, (fires, quiet)) in &table {
            if *fires == 0 || *quiet == 0 {
                ok = false;
                uncovered.push(control.as_str());
            }
        }
        match self.format {
            TestFormat::Text => {
                if self.coverage {
                    println!();
                    println!("{:<36} {:>6} {:>6}", "control", "fires", "quiet");
                    for (control, (fires, quiet)) in &table {
                        let mark = if uncovered.contains(&control.as_str()) {
                            "  <- needs a case that fires and one that stays quiet"
                        } else {
                            ""
                        };
                        println!("{control:<36} {fires:>6} {quiet:>6}{mark}");
                    }
                }
                println!();
                println!("{passed} passed, {failed} failed");
            }
            TestFormat::Json => {
                let cases: Vec<_> = results
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "file": r.path.display().to_string(),
                            "description": r.description,
                            "passed": r.failure.is_none(),
                            "failure": r.failure,
                        })
                    })
                    .collect();
                let mut report = serde_json::Map::new();
                report.insert("passed".to_owned(), passed.into());
                report.insert("failed".to_owned(), failed.into());
                report.insert("cases".to_owned(), cases.into());
                if self.coverage {
                    let rows: Vec<_> = table
                        .iter()
                        .map(|(control, (fires, quiet))| {
                            serde_json::json!({"control": control, "fires": fires, "quiet": quiet})
                        })
                        .collect();
                    report.insert("coverage".to_owned(), rows.into());
                    report.insert("uncovered".to_owned(), serde_json::json!(uncovered));
                }
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            TestFormat::Junit => {
                let mut suite = TestSuite::new("yungui golden cases");
                for (result, took) in results.iter().zip(&durations) {
                    let status = match &result.failure {
                        None => TestCaseStatus::success(),
                        Some(why) => {
                            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                            status.set_message(why.as_str());
                            status
                        }
                    };
                    let mut case = TestCase::new(result.path.display().to_string(), status);
                    case.set_classname("yungui.cases").set_time(*took);
                    if !result.description.is_empty() {
                        case.set_system_out(result.description.as_str());
                    }
                    suite.add_test_case(case);
                }
                for control in &uncovered {
                    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    status.set_message("needs a case that fires and one that stays quiet");
                    let mut case = TestCase::new(format!("coverage {control}"), status);
                    case.set_classname("yungui.coverage");
                    suite.add_test_case(case);
                }
                let mut report = quick_junit::Report::new("yungui test");
                report.add_test_suite(suite);
                println!("{}", report.to_string()?.trim_end());
            }
        }
        Ok(if ok { Exit::Ok } else { Exit::Failed })
    }
}
