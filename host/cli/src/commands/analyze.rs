//! `yungui analyze`: proves the notice's properties (`policies/properties/*.cedar`) against the
//! policy set for every request, and checks the set's health, with `yungui-analyze` and cvc5.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use std::sync::Arc;

use yungui::engine::Engine;
use yungui::report::{ErrorReport, Outcome};
use yungui::{EngineConfig, PluginSource, Registry, Report as EngineReport};
use yungui_analyze::{Counterexample, Input, Options, PROPERTIES_DIR, Report};

use super::{Exit, Format, LOCAL_POLICIES, announce_policies, local_policies};

/// Prove the notice's properties and check the policy set's health.
#[derive(Debug, Args)]
pub struct AnalyzeCommand {
    /// The policy folder (`schema.cedarschema`, `*.cedar`, `properties/`, `notice.json`).
    /// Default: `./policies` (the properties are files: the built-in set has none).
    #[arg(long, value_name = "DIR")]
    pub policies: Option<PathBuf>,

    /// Analyse the policy set a built component carries (`yungui build`'s output) instead of a
    /// folder; its properties come from `--properties`.
    #[arg(long, value_name = "FILE.wasm", conflicts_with = "policies")]
    pub plugin: Option<PathBuf>,

    /// The properties' folder (`*.cedar`, `known.json`) proven against `--plugin`. Default:
    /// `./policies/properties` when present, else none (the health checks only).
    #[arg(long, value_name = "DIR", requires = "plugin")]
    pub properties: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,

    /// Write each counterexample found as a golden case file into this folder.
    #[arg(long, value_name = "DIR")]
    pub save_case: Option<PathBuf>,

    /// Environments proven at once, each with its own solver. Default: the available cores.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,

    /// Prove the properties only, without the health checks.
    #[arg(long)]
    pub properties_only: bool,

    /// Prove only this property (`@id`); repeat for several. Default: every property.
    #[arg(long = "property", value_name = "ID")]
    pub only: Vec<String>,

    /// Also check that no forbid is redundant (matched only where another forbid of its control
    /// matches) and no permit is shadowed (forbids deny all it allows in an environment): one
    /// solver query per pair of forbids of a control in each environment. Findings are
    /// warnings unless `--strict`.
    #[arg(long, conflicts_with = "properties_only")]
    pub redundancy: bool,

    /// Fail on warnings too (redundant forbids, shadowed permits) unless `known.json` accepts
    /// them.
    #[arg(long)]
    pub strict: bool,
}

impl AnalyzeCommand {
    /// Runs the command; returns the exit code (0 proven, 1 a property or health check fails,
    /// 3 invalid policies or properties).
    pub fn execute(self) -> anyhow::Result<Exit> {
        // What decides a saved counterexample with yungui's engine: the same policy set.
        let engine_source;
        let read = match &self.plugin {
            Some(component) => {
                engine_source = PluginSource::File(component.clone());
                eprintln!("component: {}", component.display());
                let properties = self
                    .properties
                    .clone()
                    .or_else(|| local_policies().map(|dir| dir.join(PROPERTIES_DIR)));
                match &properties {
                    Some(dir) if dir.is_dir() => eprintln!("properties: {}", dir.display()),
                    _ => eprintln!("properties: none (the health checks only)"),
                }
                read_component(component).and_then(|read| match (read, &properties) {
                    (Ok(mut input), Some(dir)) => {
                        input.read_properties(dir)?;
                        Ok(Ok(input))
                    }
                    (read, _) => Ok(read),
                })
            }
            None => {
                let Some(dir) = self.policies.clone().or_else(local_policies) else {
                    anyhow::bail!(
                        "no policy folder: `./{LOCAL_POLICIES}` is not here; give one with --policies DIR"
                    );
                };
                announce_policies(&dir.display().to_string());
                engine_source = PluginSource::Policies(dir.clone());
                Ok(Input::read(&dir))
            }
        };
        let input = match read {
            Ok(Ok(input)) => input,
            Ok(Err(e)) if e.is_invalid_input() => {
                eprintln!("yungui: {e}");
                return Ok(Exit::NoDecision);
            }
            Ok(Err(e)) => return Err(e.into()),
            Err(e) if e.downcast_ref::<NotAPolicySet>().is_some() => {
                eprintln!("yungui: {e:#}");
                return Ok(Exit::NoDecision);
            }
            Err(e) => return Err(e),
        };
        let options = Options {
            threads: self.threads,
            only: self.only.into_iter().collect(),
            redundancy: self.redundancy,
            ..Options::default()
        };
        let report = if self.properties_only {
            yungui_analyze::prove(&input, &options)?
        } else {
            yungui_analyze::analyze(&input, &options)?
        };
        if let Some(folder) = &self.save_case {
            save_cases(folder, &engine_source, &report)?;
        }
        match self.format {
            Format::Text => print!("{}", text(&report, self.strict)),
            Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        }
        let passed = if self.strict {
            report.passed_strict()
        } else {
            report.passed()
        };
        Ok(if passed { Exit::Ok } else { Exit::Failed })
    }
}

/// A component that carries no policy set to analyse (not made by `yungui build`, or not a
/// component).
#[derive(Debug)]
pub(super) struct NotAPolicySet {
    path: String,
    why: String,
}

impl std::fmt::Display for NotAPolicySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` carries no policy set to analyse: {}",
            self.path, self.why
        )
    }
}

impl std::error::Error for NotAPolicySet {}

/// Reads the policy set a built component carries (the identity `yungui build` writes into it),
/// for analysis: the outer error when the file cannot be read or carries none
/// ([`NotAPolicySet`]), the inner one when its policies are not valid.
pub(super) fn read_component(path: &Path) -> anyhow::Result<Result<Input, yungui_analyze::Error>> {
    let not_a_policy_set = |why: String| NotAPolicySet {
        path: path.display().to_string(),
        why,
    };
    let wasm = yungui::engine::read_component(path)?;
    let identity = yungui::builder::Identity::read(&wasm)
        .map_err(|e| not_a_policy_set(e.to_string()))?
        .ok_or_else(|| {
            not_a_policy_set(format!(
                "it has no `{}` section (`yungui build` did not make it)",
                yungui::builder::IDENTITY_SECTION
            ))
        })?;
    let sources = yungui_policies::Sources::from(&identity.sources);
    Ok(Input::from_sources(&sources))
}

/// Reads a policy folder, or the policy set of a built component (a file), for analysis.
pub(super) fn read_folder_or_component(
    path: &Path,
) -> anyhow::Result<Result<Input, yungui_analyze::Error>> {
    if path.is_file() {
        read_component(path)
    } else {
        Ok(Input::read(path))
    }
}

fn text(report: &Report, strict: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for p in &report.properties {
        let _ = writeln!(
            out,
            "{:<7} {:<44} {:<6} {:<8} {:>2} env {:>7} ms",
            if p.proven {
                "proven"
            } else if p.counterexample.is_none() && !p.unproven.is_empty() {
                "UNPROVEN"
            } else {
                "FAILED"
            },
            p.id,
            p.article,
            p.kind,
            p.environments,
            p.millis
        );
        if let Some(c) = &p.counterexample {
            write_example(&mut out, c);
        }
        if !p.unproven.is_empty() {
            let _ = writeln!(
                out,
                "        unproven: the solver answered `unknown` (time limit or an undecided query) in {}",
                p.unproven.join("; ")
            );
        }
    }
    for (environment, check) in &report.unproven_checks {
        let _ = writeln!(
            out,
            "UNPROVEN health: {check} in {environment}: the solver answered `unknown`"
        );
    }
    for f in &report.findings {
        let what = f.policy.as_deref().or(f.action.as_deref()).unwrap_or("");
        let status = if f.accepted.is_some() {
            "known"
        } else if f.check.is_warning() && !strict {
            "warning"
        } else {
            "FAILED"
        };
        let _ = write!(out, "{status:<7} health: {what} {}", f.check);
        if let Some(by) = &f.covered_by {
            let _ = write!(out, " (matched only where `{by}` matches)");
        }
        if f.check.is_warning() {
            let _ = write!(out, " in {}", f.environments.join("; "));
        } else if !f.environments.is_empty() {
            let _ = write!(out, " in {} environments", f.environments.len());
        }
        out.push('\n');
        if let Some(reason) = &f.accepted {
            let _ = writeln!(out, "        accepted: {reason}");
        } else if let Some(c) = &f.example {
            write_example(&mut out, c);
        }
    }
    for k in &report.stale_known {
        let what = k.policy.as_deref().or(k.action.as_deref()).unwrap_or("");
        let _ = writeln!(
            out,
            "note: known.json accepts `{what}` {}, which no longer occurs",
            k.check
        );
    }
    let failed = report.properties.iter().filter(|p| !p.proven).count();
    let unproven = report
        .properties
        .iter()
        .filter(|p| !p.unproven.is_empty())
        .count();
    let unaccepted = report
        .findings
        .iter()
        .filter(|f| f.accepted.is_none() && (strict || !f.check.is_warning()))
        .count();
    let warnings = report
        .findings
        .iter()
        .filter(|f| f.accepted.is_none() && !strict && f.check.is_warning())
        .count();
    for (environment, what) in &report.redundancy_undecided {
        let _ = writeln!(out, "note: redundancy undecided in {environment}: {what}");
    }
    if report.redundancy_queries > 0 {
        let _ = writeln!(
            out,
            "redundancy: {warnings} warning(s); {} solver queries ({} undecided), {:.1} s summed over environments",
            report.redundancy_queries,
            report.redundancy_undecided.len(),
            report.redundancy_millis as f64 / 1000.0
        );
    }
    let passed = if strict {
        report.passed_strict()
    } else {
        report.passed()
    };
    let _ = writeln!(
        out,
        "{}: {} of {} properties proven ({} unproven), {} health findings not accepted, {} health checks unproven; {} environments on {} threads in {:.1} s",
        if passed { "proven" } else { "failed" },
        report.properties.len() - failed,
        report.properties.len(),
        unproven,
        unaccepted,
        report.unproven_checks.len(),
        report.environments,
        report.threads,
        report.millis as f64 / 1000.0
    );
    out
}

fn write_example(out: &mut String, c: &Counterexample) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "        in {}: {}", c.environment, c.description);
    let _ = writeln!(out, "        request: {}", c.request);
    let _ = writeln!(out, "        registry: {}", c.registry);
}

/// Writes each counterexample as a case, once yungui's engine, deciding it with the policies of
/// `dir`, agrees with what the solver found: the case records the engine's decision. One the
/// engine decides otherwise (a forbid erroring at an extreme date, a value the engine refuses) is
/// not saved, and the output says why.
fn save_cases(folder: &Path, source: &PluginSource, report: &Report) -> anyhow::Result<()> {
    std::fs::create_dir_all(folder)
        .with_context(|| format!("cannot create `{}`", folder.display()))?;
    let found: Vec<(String, &Counterexample)> = report
        .properties
        .iter()
        .filter_map(|p| p.counterexample.as_ref().map(|c| (p.id.clone(), c)))
        .chain(report.findings.iter().filter_map(|f| {
            let c = f.example.as_ref().filter(|_| f.accepted.is_none())?;
            Some((format!("{}-{:?}", f.policy.as_deref()?, f.check), c))
        }))
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    let engine = source
        .clone()
        .load(Registry::empty(), EngineConfig::default())
        .with_context(|| format!("cannot load {source:?}"))?;
    for (name, counterexample) in found {
        let path = folder.join(format!("{name}.json"));
        let decided = decide(&engine, counterexample);
        let expected = if counterexample.allowed {
            Outcome::Allow
        } else {
            Outcome::Deny
        };
        let said = outcome_line(&decided);
        if decided.decision != expected {
            eprintln!(
                "yungui: not saved {}: the solver's request is {} by the policies as Cedar reads them, but yungui's engine decides `{said}`{}",
                path.display(),
                if counterexample.allowed {
                    "allowed"
                } else {
                    "denied"
                },
                decided
                    .error
                    .as_ref()
                    .map(|e| format!(": {}", e.message))
                    .unwrap_or_default()
            );
            continue;
        }
        let mut case = counterexample.case();
        if let Some(description) = case.get_mut("description") {
            let text = format!(
                "{} (yungui's engine: {said})",
                description.as_str().unwrap_or_default()
            );
            *description = serde_json::Value::String(text);
        }
        let text = serde_json::to_string_pretty(&case)?;
        std::fs::write(&path, text + "\n")
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        eprintln!("yungui: wrote {} (yungui's engine: {said})", path.display());
    }
    Ok(())
}

/// The engine's decision on a counterexample's request and registry entities.
fn decide(engine: &Engine, counterexample: &Counterexample) -> EngineReport {
    let entities: Result<Vec<_>, _> = counterexample
        .registry
        .as_array()
        .into_iter()
        .flatten()
        .map(serde_json::value::to_raw_value)
        .collect();
    let registry = entities
        .map_err(|e| e.to_string())
        .and_then(|entities| Registry::empty().with(entities).map_err(|e| e.to_string()));
    match registry {
        Ok(registry) => EngineReport::new(
            &engine.decide_json_with(&counterexample.request.to_string(), Arc::new(registry)),
        ),
        Err(message) => EngineReport {
            decision: Outcome::Error,
            denials: Vec::new(),
            warnings: Vec::new(),
            error: Some(ErrorReport {
                kind: "bad_request",
                message: format!("the registry entities: {message}"),
            }),
        },
    }
}

/// A decision in a few words: `allow`, `deny: art7-in-territory`, `error: bad_request`.
fn outcome_line(report: &EngineReport) -> String {
    match report.decision {
        Outcome::Allow => "allow".to_owned(),
        Outcome::Deny => format!(
            "deny: {}",
            report
                .denials
                .iter()
                .map(|f| f.control.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Outcome::Error => format!("error: {}", report.error.as_ref().map_or("", |e| e.kind)),
    }
}
