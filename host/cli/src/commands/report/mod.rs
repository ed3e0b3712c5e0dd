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
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use yungui_policies::{Finding, Sources, Validate, slice_by_action};

use super::{EngineArgs, Exit, SHIPPED_POLICIES, announce_policies, local_policies};
use lint::check_mapping;
use model::{CaseRow, Model, Notice, Proof, ProofRun, PropertyRow, Provenance};
use yungui::Engine;
use yungui::cases::{CaseResult, Runner, discover};

/// The notice's file, inside the policy folder.
pub use yungui_policies::NOTICE_FILE;

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

    /// Prove the notice's properties (`properties/*.cedar` of the policy folder) for every
    /// request, with `yungui analyze`'s prover and cvc5, and show each proof in the report.
    /// Without it the report lists the properties as not proven in this report.
    #[arg(long)]
    pub prove: bool,

    /// The policy folder (`schema.cedarschema`, `*.cedar`, `notice.json`) is `--policies`
    /// (default: `./policies` when present, else the policy set shipped with yungui); the cases
    /// run on the component `yungui build` makes of it (or on `--plugin`, which must hold the
    /// same policy set).
    #[command(flatten)]
    pub engine: EngineArgs,
}

impl ReportCommand {
    /// Runs the command; returns the exit code (0 written or up to date, 1 stale or a case
    /// failed).
    pub fn execute(self) -> anyhow::Result<Exit> {
        let folder = self.engine.policies.clone().or_else(local_policies);
        let (sources, notice_text, notice_name) = match &folder {
            Some(dir) => {
                let path = dir.join(NOTICE_FILE);
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read `{}`", path.display()))?;
                (Sources::read_dir(dir)?, text, path.display().to_string())
            }
            None => (
                yungui::builder::shipped_sources(),
                yungui_policies::SHIPPED_NOTICE.to_owned(),
                format!("{NOTICE_FILE} of {SHIPPED_POLICIES}"),
            ),
        };
        announce_policies(
            &folder
                .as_ref()
                .map_or_else(|| SHIPPED_POLICIES.to_owned(), |d| d.display().to_string()),
        );
        let compiled = sources
            .compile(Validate::Strict)
            .map_err(|problems| anyhow::anyhow!("the policies are not valid:\n{problems}"))?;
        let notice: Notice = serde_json::from_str(&notice_text)
            .with_context(|| format!("`{notice_name}` is not a notice file"))?;

        let mut policies: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
        let mut texts: BTreeMap<String, String> = BTreeMap::new();
        for (id, finding) in &compiled.findings {
            if let Some(text) = compiled.policies.policy(id).and_then(|p| p.to_cedar()) {
                texts.insert(finding.id.clone(), text.trim_end().to_owned());
            }
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

        let (properties, proofs) = properties(folder.as_deref(), self.prove)?;
        let unproven = properties
            .values()
            .filter(|p| matches!(p.proof, Proof::Failed { .. }))
            .count();

        let paths = if self.cases.is_empty() {
            vec![PathBuf::from("tests/cases")]
        } else {
            self.cases.clone()
        };
        let files = discover(&paths).map_err(anyhow::Error::msg)?;
        self.engine.announce_registry();
        let registry = self.engine.load_registry()?;
        // The cases run on the component `yungui build` writes from these sources (or the one
        // given), so the sha256 the report names is that of a component one can deploy.
        let engine = match &self.engine.plugin {
            Some(path) => {
                let engine = Engine::load(path, registry, self.engine.config())?;
                if engine.policy_digest() != sources.digest() {
                    anyhow::bail!(
                        "the component `{}` holds the policy set {}, not the one reported on ({}): pass `--policies` with the folder it was built from",
                        path.display(),
                        engine.policy_digest(),
                        sources.digest()
                    );
                }
                engine
            }
            None => Engine::from_sources(&sources, registry, self.engine.config())?,
        };
        let runner = Runner::new(&engine);
        let results: Vec<CaseResult> = files.iter().map(|f| runner.run(f)).collect();
        let failed = results.iter().filter(|r| r.failure.is_some()).count();
        let mut cases: BTreeMap<String, (Vec<CaseRow>, Vec<CaseRow>)> = BTreeMap::new();
        for result in &results {
            for (control, fires) in &result.exercised {
                let row = CaseRow {
                    path: shown(&result.path),
                    file: absolute(&result.path),
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

        let mut inputs: Vec<PathBuf> = folder.iter().cloned().collect();
        inputs.extend(paths.iter().cloned());
        let model = Model {
            notice,
            policies,
            texts,
            cases,
            actions,
            all_actions,
            vocabularies: compiled.vocabularies.clone(),
            properties,
            proofs,
            provenance: Provenance {
                generated: yungui::request::now_utc(),
                commit: commit(&inputs),
                policy_digest: sources.digest(),
                component_sha256: engine.sha256().to_owned(),
            },
            policy_count: compiled.policies.policies().count(),
            case_count: results.len(),
            failed,
        };
        let markdown = model.markdown(&Links::from(&self.markdown));
        let html = model.html(&Links::from(&self.html));

        let mut code = Exit::Ok;
        if failed > 0 {
            eprintln!("{failed} case(s) failed: run `yungui test` to see which");
            code = Exit::Failed;
        }
        if unproven > 0 {
            eprintln!(
                "{unproven} propert{} not proven: run `yungui analyze` to see the counterexamples",
                if unproven == 1 { "y" } else { "ies" }
            );
            code = Exit::Failed;
        }
        for (path, text) in [(&self.markdown, &markdown), (&self.html, &html)] {
            if self.check {
                let current = std::fs::read_to_string(path).unwrap_or_default();
                if without_provenance(&current) == without_provenance(text) {
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

/// The properties of the policy folder (none without one: the shipped set built into yungui
/// carries no property files), each proven when `prove` is set.
fn properties(
    folder: Option<&Path>,
    prove: bool,
) -> anyhow::Result<(BTreeMap<String, PropertyRow>, Option<ProofRun>)> {
    let Some(dir) = folder else {
        if prove {
            anyhow::bail!(
                "--prove needs the policy folder with its `{}/` (give it with --policies DIR)",
                yungui_analyze::PROPERTIES_DIR
            );
        }
        return Ok((BTreeMap::new(), None));
    };
    let input = yungui_analyze::Input::read(dir)?;
    let mut rows: BTreeMap<String, PropertyRow> = input
        .properties
        .iter()
        .map(|p| {
            (
                p.id.clone(),
                PropertyRow {
                    kind: p.kind.to_string(),
                    reason_en: p.reason_en.clone(),
                    reason_zh: p.reason_zh.clone(),
                    file: p.file.clone(),
                    proof: Proof::NotProven,
                },
            )
        })
        .collect();
    if !prove {
        return Ok((rows, None));
    }
    eprintln!(
        "proving {} properties (cvc5, {} request environments)",
        rows.len(),
        input.environments().len()
    );
    let report = yungui_analyze::prove(&input, &yungui_analyze::Options::default())?;
    for outcome in report.properties {
        if let Some(row) = rows.get_mut(&outcome.id) {
            row.proof = match (outcome.proven, outcome.counterexample) {
                (true, _) => Proof::Proven {
                    millis: outcome.millis,
                    environments: outcome.environments,
                },
                (false, Some(found)) => Proof::Failed {
                    environment: found.environment,
                    description: found.description,
                },
                (false, None) => Proof::Failed {
                    environment: "an environment".to_owned(),
                    description: "the solver found a counterexample".to_owned(),
                },
            };
        }
    }
    Ok((
        rows,
        Some(ProofRun {
            millis: report.millis,
            environments: report.environments,
        }),
    ))
}

/// The commit the report's inputs come from: `git rev-parse HEAD` in the working directory,
/// marked when the policy folder or the cases have uncommitted changes; `unknown` without git
/// or outside a repository.
fn commit(inputs: &[PathBuf]) -> String {
    let git = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new("git")
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let Some(head) = git(&["rev-parse".as_ref(), "HEAD".as_ref()]).filter(|h| !h.is_empty()) else {
        return "unknown".to_owned();
    };
    let mut status: Vec<&std::ffi::OsStr> =
        vec!["status".as_ref(), "--porcelain".as_ref(), "--".as_ref()];
    status.extend(inputs.iter().map(|p| p.as_os_str()));
    match git(&status) {
        Some(changes) if changes.is_empty() => head,
        Some(_) => format!("{head} {DIRTY}"),
        None => head,
    }
}

/// How [`commit`] marks inputs with uncommitted changes.
const DIRTY: &str = "(with uncommitted changes to the policies or cases)";

/// The report without its provenance lines (generation time, commit, component sha256), which
/// `--check` leaves out of the comparison: they say when, from which commit and on which
/// component bytes the report was made, which changes with every commit and toolchain while what
/// the report shows does not (a committed report cannot name the commit that holds it). The
/// policy digest, which names the policies' content, stays compared.
fn without_provenance(text: &str) -> String {
    text.lines()
        .filter(|line| !line.contains(model::PROVENANCE_MARK))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A path as the report shows it: relative to the working directory when under it.
fn shown(path: &Path) -> String {
    let absolute = absolute(path);
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| cwd.canonicalize().ok())
        .and_then(|cwd| absolute.strip_prefix(cwd).ok().map(Path::to_owned))
        .unwrap_or(absolute);
    slashes(&relative)
}

/// A path made absolute, symbolic links resolved where it exists.
fn absolute(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_owned())
    })
}

fn slashes(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Links from a report file to the files it names: relative to the report's own folder, so the
/// report reads the same wherever the checkout is.
#[derive(Debug)]
pub(super) struct Links {
    from: PathBuf,
}

impl Links {
    /// Links from a report in `dir` (absolute).
    #[cfg(test)]
    pub(super) fn at(dir: PathBuf) -> Self {
        Self { from: dir }
    }

    fn from(report: &Path) -> Self {
        let parent = report.parent().unwrap_or(Path::new(""));
        // The folder may not exist yet (it is created when written): resolve what does.
        let from = match parent.canonicalize() {
            Ok(dir) => dir,
            Err(_) => absolute(parent),
        };
        Self { from }
    }

    /// The link to `file` (absolute), relative to the report's folder.
    pub(super) fn to(&self, file: &Path) -> String {
        pathdiff::diff_paths(file, &self.from).map_or_else(|| slashes(file), |p| slashes(&p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_relative_to_the_report_folder() {
        let links = Links {
            from: PathBuf::from("/repo/docs"),
        };
        assert_eq!(
            links.to(Path::new("/repo/tests/cases/a.json")),
            "../tests/cases/a.json"
        );
        assert_eq!(links.to(Path::new("/repo/docs/a.json")), "a.json");
    }

    #[test]
    fn provenance_lines_are_left_out_of_the_check() {
        let mark = model::PROVENANCE_MARK;
        let a = format!("a\ngenerated 1 {mark}\nb");
        let b = format!("a\ngenerated 2 {mark}\nb");
        assert_eq!(without_provenance(&a), without_provenance(&b));
        assert_ne!(without_provenance("a\nb"), without_provenance("a\nc"));
    }
}
