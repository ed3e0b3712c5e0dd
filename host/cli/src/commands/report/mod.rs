//! `yungui report`: the trace from the notice to the policies and the cases that exercise them, as
//! a Markdown file and a self-contained HTML page, generated and never written by hand.
//!
//! Article → sub-item (quoted in Chinese and English, from `policies/notice.json`) → control →
//! its policies (`file:line`, reasons, obligations with the clause they come from) → the golden
//! cases that make it fire and those that keep it quiet, run at report time with their decisions
//! → or, for a duty no request can show, why. `--check` compares with the committed files instead
//! of writing them, for CI.
//!
//! By concern: `model` (what the report shows), `lint` (the notice and the policies agree),
//! `markdown` and `html` (the two renderings, the page's style sheet in `report.css`).

mod html;
mod lint;
mod markdown;
mod model;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use yungui_policies::{Finding, Sources, Validate, slice_by_action};

use super::{EngineArgs, Exit, SOURCE_POLICIES};
use lint::check_mapping;
use model::{CaseRow, Model, Notice};
use yungui::cases::{CaseResult, Runner, discover};

/// The notice's file, inside the policy folder.
pub const NOTICE_FILE: &str = "notice.json";

/// Write (or check) the trace report: notice → controls → policies → cases.
#[derive(Debug, Args)]
pub struct ReportCommand {
    /// Case files or folders. Default: `tests/cases`.
    pub cases: Vec<PathBuf>,

    /// Where the Markdown report goes.
    #[arg(long, default_value = "docs/controls.md", value_name = "FILE")]
    pub markdown: PathBuf,

    /// Where the HTML report goes.
    #[arg(long, default_value = "docs/controls.html", value_name = "FILE")]
    pub html: PathBuf,

    /// Do not write: exit 1 when the files differ from what would be written (for CI).
    #[arg(long)]
    pub check: bool,

    /// The policy folder (`schema.cedarschema`, `*.cedar`, `notice.json`) is `--policies`
    /// (default: the source checkout's `policies/`, which the shipped policy set is built from);
    /// the cases run on the same policy set.
    #[command(flatten)]
    pub engine: EngineArgs,
}

impl ReportCommand {
    /// Runs the command; returns the exit code (0 written or up to date, 1 stale or a case
    /// failed).
    pub fn execute(self) -> anyhow::Result<Exit> {
        let dir = self
            .engine
            .policies
            .clone()
            .unwrap_or_else(|| PathBuf::from(SOURCE_POLICIES));
        let sources = Sources::read_dir(&dir)?;
        let compiled = sources
            .compile(Validate::Strict)
            .map_err(|problems| anyhow::anyhow!("the policies are not valid:\n{problems}"))?;
        let notice_path = dir.join(NOTICE_FILE);
        let notice: Notice = serde_json::from_str(
            &std::fs::read_to_string(&notice_path)
                .with_context(|| format!("cannot read `{}`", notice_path.display()))?,
        )
        .with_context(|| format!("`{}` is not a notice file", notice_path.display()))?;

        let mut policies: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
        for finding in compiled.findings.values() {
            policies
                .entry(finding.control.clone())
                .or_default()
                .push(finding.clone());
        }
        for list in policies.values_mut() {
            list.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        }
        check_mapping(&notice, &policies)?;
        let slices = slice_by_action(&compiled.policies, &compiled.schema)
            .map_err(|e| anyhow::anyhow!("cannot slice the policies by action: {e}"))?;
        let mut actions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut all_actions = BTreeSet::new();
        for (action, slice) in &slices {
            // Action groups have no principals: a request never names them.
            let requestable = compiled
                .schema
                .principals_for_action(action)
                .is_some_and(|mut principals| principals.next().is_some());
            if !requestable {
                continue;
            }
            let name = action.id().unescaped().to_owned();
            all_actions.insert(name.clone());
            for policy in slice.policies() {
                if let Some(finding) = compiled.findings.get(policy.id()) {
                    actions
                        .entry(finding.control.clone())
                        .or_default()
                        .insert(name.clone());
                }
            }
        }

        let paths = if self.cases.is_empty() {
            vec![PathBuf::from("tests/cases")]
        } else {
            self.cases.clone()
        };
        let files = discover(&paths).map_err(anyhow::Error::msg)?;
        let engine = self.engine.engine()?;
        let runner = Runner::new(&engine);
        let results: Vec<CaseResult> = files.iter().map(|f| runner.run(f)).collect();
        let failed = results.iter().filter(|r| r.failure.is_some()).count();
        let mut cases: BTreeMap<String, (Vec<CaseRow>, Vec<CaseRow>)> = BTreeMap::new();
        for result in &results {
            for (control, fires) in &result.exercised {
                let row = CaseRow {
                    path: shown(&result.path),
                    description: result.description.clone(),
                    outcome: result.outcome.clone(),
                    passed: result.failure.is_none(),
                };
                let entry = cases.entry(control.clone()).or_default();
                if *fires {
                    entry.0.push(row);
                } else {
                    entry.1.push(row);
                }
            }
        }

        let model = Model {
            notice,
            policies,
            cases,
            actions,
            all_actions,
            vocabularies: compiled.vocabularies.clone(),
            policy_dir: shown(&dir),
            policy_count: compiled.policies.policies().count(),
            case_count: results.len(),
            failed,
        };
        let markdown = model.markdown(&link_base(&self.markdown));
        let html = model.html(&link_base(&self.html));

        let mut code = Exit::Ok;
        if failed > 0 {
            eprintln!("{failed} case(s) failed: run `yungui test` to see which");
            code = Exit::Failed;
        }
        for (path, text) in [(&self.markdown, &markdown), (&self.html, &html)] {
            if self.check {
                let current = std::fs::read_to_string(path).unwrap_or_default();
                if &current == text {
                    println!("up to date: {}", path.display());
                } else {
                    println!(
                        "out of date: {} (run `yungui report` and commit it)",
                        path.display()
                    );
                    code = Exit::Failed;
                }
            } else {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create `{}`", parent.display()))?;
                }
                std::fs::write(path, text)
                    .with_context(|| format!("cannot write `{}`", path.display()))?;
                println!("wrote {}", path.display());
            }
        }
        Ok(code)
    }
}

/// A path as the report shows it: relative to the working directory when under it.
fn shown(path: &Path) -> String {
    let absolute = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| cwd.canonicalize().ok())
        .and_then(|cwd| absolute.strip_prefix(cwd).ok().map(Path::to_owned))
        .unwrap_or(absolute);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The prefix that turns a path shown relative to the working directory into a link from the
/// report's own folder (`docs/controls.md` → `../`).
fn link_base(report: &Path) -> String {
    let depth = report.parent().map_or(0, |p| {
        p.components()
            .filter(|c| matches!(c, Component::Normal(_)))
            .count()
    });
    "../".repeat(depth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_climb_out_of_the_report_folder() {
        assert_eq!(link_base(Path::new("docs/controls.md")), "../");
        assert_eq!(link_base(Path::new("controls.md")), "");
        assert_eq!(link_base(Path::new("a/b/c.html")), "../../");
    }
}
