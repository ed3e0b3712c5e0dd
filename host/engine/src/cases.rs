//! Golden cases: a request, the registry it runs against and the decision expected, one JSON
//! file each. `yungui test` and `cargo test` run the same files.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::engine::Engine;
use crate::registry::Registry;
use crate::report::{Outcome, Report};

/// One case file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case shows.
    pub description: String,
    /// The registry file, relative to the case file. Without it the registry is empty.
    #[serde(default)]
    pub registry: Option<PathBuf>,
    /// Entities added to the registry for this case; one with a uid the registry holds
    /// replaces it.
    #[serde(default)]
    pub entities: Vec<Box<RawValue>>,
    /// The request, in the JSON request format.
    pub request: Box<RawValue>,
    /// What must come back.
    pub expect: Expect,
}

/// The expected decision.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `allow`, `deny` or `error`.
    pub decision: Expected,
    /// Exactly the control ids that deny.
    #[serde(default)]
    pub denials: BTreeSet<String>,
    /// Exactly the warn-severity control ids that fire; not checked when absent.
    #[serde(default)]
    pub warnings: Option<BTreeSet<String>>,
    /// For `error`: the error kind (`bad_request`, ...); not checked when absent.
    #[serde(default)]
    pub error: Option<String>,
}

/// The decision a case expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expected {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
    /// No decision.
    Error,
}

/// The result of one case.
#[derive(Debug)]
pub struct CaseResult {
    /// The case file.
    pub path: PathBuf,
    /// Its description, when it loaded.
    pub description: String,
    /// `None` when it passed; what differs otherwise.
    pub failure: Option<String>,
    /// Controls the case exercises, with whether it expects them to fire.
    pub exercised: Vec<(String, bool)>,
    /// What was decided, in one line (`allow`, `deny: art7-in-territory`, `error: bad_request`);
    /// empty when the case did not run.
    pub outcome: String,
}

/// Runs cases against one engine, reading each registry file once.
#[derive(Debug)]
pub struct Runner<'e> {
    engine: &'e Engine,
    registries: Mutex<HashMap<PathBuf, Arc<Registry>>>,
}

impl<'e> Runner<'e> {
    /// A runner over `engine`.
    pub fn new(engine: &'e Engine) -> Self {
        Self {
            engine,
            registries: Mutex::new(HashMap::new()),
        }
    }

    /// Runs the case in `path`.
    pub fn run(&self, path: &Path) -> CaseResult {
        let mut result = CaseResult {
            path: path.to_owned(),
            description: String::new(),
            failure: None,
            exercised: Vec::new(),
            outcome: String::new(),
        };
        match self.try_run(path, &mut result) {
            Ok(()) => {}
            Err(message) => result.failure = Some(message),
        }
        result
    }

    fn try_run(&self, path: &Path, result: &mut CaseResult) -> Result<(), String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
        let case: Case =
            serde_json::from_str(&text).map_err(|e| format!("not a valid case file: {e}"))?;
        result.description.clone_from(&case.description);
        let folder_control = path
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned());
        let fires = |c: &str| {
            case.expect.denials.contains(c)
                || case.expect.warnings.as_ref().is_some_and(|w| w.contains(c))
        };
        let mut exercised: BTreeMap<String, bool> = BTreeMap::new();
        if let Some(folder) = folder_control {
            exercised.insert(folder.clone(), fires(&folder));
        }
        for c in case
            .expect
            .denials
            .iter()
            .chain(case.expect.warnings.iter().flatten())
        {
            exercised.insert(c.clone(), true);
        }
        result.exercised = exercised.into_iter().collect();

        let base = match &case.registry {
            Some(rel) => self.registry(&path.parent().unwrap_or(Path::new(".")).join(rel))?,
            None => Arc::new(Registry::empty()),
        };
        let registry = if case.entities.is_empty() {
            base
        } else {
            Arc::new(
                base.with(case.entities)
                    .map_err(|e| format!("`entities`: {e}"))?,
            )
        };
        let decision = self.engine.decide_json_with(case.request.get(), registry);
        let report = Report::new(&decision);
        result.outcome = outcome(&report);
        check(&case.expect, &report)
    }

    fn registry(&self, path: &Path) -> Result<Arc<Registry>, String> {
        let key = path.canonicalize().unwrap_or_else(|_| path.to_owned());
        let mut cache = self
            .registries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(registry) = cache.get(&key) {
            return Ok(registry.clone());
        }
        let registry = Arc::new(Registry::from_file(path).map_err(|e| e.to_string())?);
        cache.insert(key, registry.clone());
        Ok(registry)
    }
}

/// A decision in one line.
fn outcome(report: &Report) -> String {
    match (&report.decision, &report.error) {
        (Outcome::Allow, _) if report.warnings.is_empty() => "allow".to_owned(),
        (Outcome::Allow, _) => format!("allow, warn: {}", controls_of(&report.warnings)),
        (Outcome::Deny, _) => format!("deny: {}", controls_of(&report.denials)),
        (Outcome::Error, Some(err)) => format!("error: {}", err.kind),
        (Outcome::Error, None) => "error".to_owned(),
    }
}

fn controls_of(findings: &[crate::report::Finding]) -> String {
    let ids: BTreeSet<&str> = findings.iter().map(|f| f.control.as_str()).collect();
    ids.into_iter().collect::<Vec<_>>().join(", ")
}

fn check(expect: &Expect, report: &Report) -> Result<(), String> {
    let got: BTreeSet<String> = report.denials.iter().map(|f| f.control.clone()).collect();
    let got_warnings: BTreeSet<String> =
        report.warnings.iter().map(|f| f.control.clone()).collect();
    let mut problems = Vec::new();
    let decision_ok = matches!(
        (expect.decision, report.decision),
        (Expected::Allow, Outcome::Allow)
            | (Expected::Deny, Outcome::Deny)
            | (Expected::Error, Outcome::Error)
    );
    if !decision_ok {
        problems.push(format!(
            "expected {:?}, got {:?}",
            expect.decision, report.decision
        ));
    }
    if got != expect.denials {
        problems.push(format!(
            "denials: expected {:?}, got {:?}",
            expect.denials, got
        ));
    }
    if let Some(warnings) = &expect.warnings
        && &got_warnings != warnings
    {
        problems.push(format!(
            "warnings: expected {warnings:?}, got {got_warnings:?}"
        ));
    }
    if let (Some(kind), Some(err)) = (&expect.error, &report.error)
        && kind != err.kind
    {
        problems.push(format!("error: expected {kind}, got {}", err.kind));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        let mut message = problems.join("; ");
        if !report.denials.is_empty() || report.error.is_some() {
            message.push_str("\n    the decision was:\n");
            for line in report.to_text().lines() {
                message.push_str("      ");
                message.push_str(line);
                message.push('\n');
            }
        }
        Err(message)
    }
}

/// Every `*.json` case file under `paths` (files as given, folders searched), sorted.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut out).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        } else if path.is_file() {
            out.push(path.clone());
        } else {
            return Err(format!(
                "`{}` is neither a case file nor a folder",
                path.display()
            ));
        }
    }
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

/// Per control: how many cases expect it to fire and how many (in its folder) expect it not to.
pub fn coverage<'a>(
    controls: impl IntoIterator<Item = &'a str>,
    results: &[CaseResult],
) -> BTreeMap<String, (usize, usize)> {
    let mut table: BTreeMap<String, (usize, usize)> = controls
        .into_iter()
        .map(|c| (c.to_owned(), (0, 0)))
        .collect();
    for result in results {
        for (control, fires) in &result.exercised {
            if let Some((fire, quiet)) = table.get_mut(control) {
                if *fires {
                    *fire += 1;
                } else {
                    *quiet += 1;
                }
            }
        }
    }
    table
}
