//! Golden cases written as manifests: a Kubernetes object and the controls expected, one YAML
//! file each (`*.yaml`, `*.yml`), decided as `yungui check` decides it, so policy authors test
//! with the objects they know. `yungui test` runs them beside the JSON cases.
//!
//! ```yaml
//! description: A privileged Deployment is refused for host security.
//! registry: ../../../examples/registry.json   # relative to the case; none: an empty registry
//! namespace: shop-example                      # for an object that names none (default `default`)
//! mode: enforce                                # the namespace's yungui.io/mode (default enforce)
//! manifest:
//!   apiVersion: apps/v1
//!   kind: Deployment
//!   ...
//! expect:
//!   decision: deny                             # allow, deny, error or skip
//!   denials: [art12-host-security]             # exactly the controls that deny
//!   warnings: []                               # exactly those that warn; not checked when absent
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::manifests::{Document, Origin};
use super::{Level, Rules, Verdict, check_with};
use yungui::cases::CaseResult;
use yungui::engine::Engine;
use yungui::registry::Registry;
use yungui_server::kubernetes;

/// One manifest case file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    #[serde(default)]
    registry: Option<PathBuf>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    manifest: Value,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    decision: Expected,
    #[serde(default)]
    denials: BTreeSet<String>,
    #[serde(default)]
    warnings: Option<BTreeSet<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Expected {
    Allow,
    Deny,
    Error,
    Skip,
}

/// Whether `path` is a manifest case (`*.yaml`, `*.yml`).
pub fn is_manifest_case(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "yaml" || e == "yml")
}

/// The manifest cases in the folders of `paths`, in name order (files named are the caller's).
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if is_manifest_case(&path) {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for path in paths.iter().filter(|p| p.is_dir()) {
        walk(path, &mut out).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    }
    out.sort();
    Ok(out)
}

/// Runs the manifest case in `path` with the webhook's default settings.
pub fn run(engine: &Engine, rules: &Rules, path: &Path) -> CaseResult {
    let mut result = CaseResult {
        path: path.to_owned(),
        description: String::new(),
        failure: None,
        exercised: Vec::new(),
        outcome: String::new(),
    };
    if let Err(why) = try_run(engine, rules, path, &mut result) {
        result.failure = Some(why);
    }
    result
}

fn try_run(
    engine: &Engine,
    rules: &Rules,
    path: &Path,
    result: &mut CaseResult,
) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let case: Case =
        serde_norway::from_str(&text).map_err(|e| format!("not a valid manifest case: {e}"))?;
    result.description.clone_from(&case.description);
    result.exercised = case
        .expect
        .denials
        .iter()
        .chain(case.expect.warnings.iter().flatten())
        .map(|c| (c.clone(), true))
        .collect();
    let registry = match &case.registry {
        Some(rel) => {
            let file = path.parent().unwrap_or(Path::new(".")).join(rel);
            Arc::new(Registry::from_file(&file).map_err(|e| e.to_string())?)
        }
        None => Arc::new(Registry::empty()),
    };
    let origin = |document| Origin {
        file: path.display().to_string(),
        document,
        item: None,
    };
    let mut documents = Vec::new();
    // The namespace's mode, as a Namespace object in the input gives it.
    if let (Some(mode), Some(ns)) = (&case.mode, &case.namespace) {
        documents.push(Document {
            origin: origin(0),
            object: Ok(json!({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "labels": {kubernetes::MODE_LABEL: mode}},
            })),
        });
    }
    documents.push(Document {
        origin: origin(1),
        object: Ok(case.manifest),
    });
    let config = kubernetes::Config::default();
    let checked = check_with(
        engine,
        &registry,
        &config,
        rules,
        case.namespace.as_deref(),
        documents,
    );
    let Some(object) = checked.last() else {
        return Err("no object decided".to_owned());
    };
    let (got, fails, warns) = match &object.verdict {
        Verdict::Decided { findings, .. } => {
            let of = |level| -> BTreeSet<String> {
                findings
                    .iter()
                    .filter(|f| f.result == level)
                    .map(|f| f.control.clone())
                    .collect()
            };
            let got = if object.denied() {
                Expected::Deny
            } else {
                Expected::Allow
            };
            (got, of(Level::Fail), of(Level::Warn))
        }
        Verdict::Skipped { .. } => (Expected::Skip, BTreeSet::new(), BTreeSet::new()),
        Verdict::Error { reason } | Verdict::Unreadable { reason } => {
            result.outcome = format!("error: {reason}");
            if case.expect.decision == Expected::Error {
                return Ok(());
            }
            return Err(format!(
                "expected {:?}, got an error: {reason}",
                case.expect.decision
            ));
        }
    };
    let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(", ");
    result.outcome = match got {
        Expected::Deny => format!("deny: {}", list(&fails)),
        Expected::Allow if warns.is_empty() => "allow".to_owned(),
        Expected::Allow => format!("allow, warn: {}", list(&warns)),
        _ => "skip".to_owned(),
    };
    let mut problems = Vec::new();
    if got != case.expect.decision {
        problems.push(format!(
            "expected {:?}, got {}",
            case.expect.decision, result.outcome
        ));
    }
    if fails != case.expect.denials {
        problems.push(format!(
            "expected denials [{}], got [{}]",
            list(&case.expect.denials),
            list(&fails)
        ));
    }
    if let Some(expected) = &case.expect.warnings
        && *expected != warns
    {
        problems.push(format!(
            "expected warnings [{}], got [{}]",
            list(expected),
            list(&warns)
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
