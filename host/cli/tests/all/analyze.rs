//! `yungui analyze` with the solver (cvc5: `$CVC5` or on `PATH`, Debian package `cvc5`): a
//! saved counterexample is first decided by yungui's engine, and a solver that cannot decide
//! leaves properties unproven, named, with exit code 1.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};
use std::str::FromStr;

use cedar_policy::{Effect, PolicySet};

use super::*;

fn yungui(args: &[&str], solver: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_yungui"));
    command
        .args(args)
        .env("YUNGUI_CACHE_DIR", cache_dir())
        .env_remove("YUNGUI_REGISTRY")
        .env_remove("YUNGUI_PLUGIN");
    if let Some(solver) = solver {
        command.env("CVC5", solver);
    }
    command.output().unwrap()
}

/// A copy of the shipped policy folder (properties and notice included) without the forbids of
/// `control`.
fn without(control: &str) -> tempfile::TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let path = entry.unwrap().path();
        let to = dir.path().join(path.file_name().unwrap());
        if path.extension().is_some_and(|e| e == "cedar") {
            let set = PolicySet::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let kept: Vec<String> = set
                .policies()
                .filter(|p| {
                    p.effect() != Effect::Forbid || p.annotation("control") != Some(control)
                })
                .map(ToString::to_string)
                .collect();
            std::fs::write(to, kept.join("\n\n")).unwrap();
        } else if path.is_file() {
            std::fs::copy(&path, to).unwrap();
        }
    }
    let properties = dir.path().join("properties");
    std::fs::create_dir(&properties).unwrap();
    for entry in std::fs::read_dir(from.join("properties")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, properties.join(path.file_name().unwrap())).unwrap();
    }
    dir
}

#[test]
fn a_saved_counterexample_carries_the_engines_decision_and_fails_until_fixed() {
    let policies = without("art7-in-territory");
    let out = tempfile::tempdir().unwrap();
    let cases = out.path().join("cases");
    let policies_arg = policies.path().to_str().unwrap();
    let output = yungui(
        &[
            "analyze",
            "--policies",
            policies_arg,
            "--properties-only",
            "--property",
            "p7.domestic-tenant-in-territory",
            "--save-case",
            cases.to_str().unwrap(),
        ],
        None,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("FAILED  p7.domestic-tenant-in-territory"),
        "{stdout}"
    );
    let case = cases.join("p7.domestic-tenant-in-territory.json");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&case).unwrap()).unwrap();
    assert!(
        saved["description"]
            .as_str()
            .unwrap()
            .ends_with("(yungui's engine: allow)"),
        "{saved}"
    );
    assert!(stderr.contains("(yungui's engine: allow)"), "{stderr}");
    // The case is what the fix must make pass: the weakened set still allows it.
    let run = yungui(
        &["test", "--policies", policies_arg, case.to_str().unwrap()],
        None,
    );
    let text = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "{text}");
    assert!(text.contains("expected Deny, got Allow"), "{text}");
}

#[test]
fn a_solver_that_cannot_decide_leaves_properties_unproven() {
    let dir = tempfile::tempdir().unwrap();
    let solver = dir.path().join("cvc5");
    std::fs::write(
        &solver,
        "#!/bin/sh\nwhile IFS= read -r line; do\n  case \"$line\" in *check-sat*) echo unknown ;; esac\ndone\n",
    )
    .unwrap();
    std::fs::set_permissions(&solver, std::fs::Permissions::from_mode(0o755)).unwrap();
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
    let output = yungui(
        &[
            "analyze",
            "--policies",
            policies.to_str().unwrap(),
            "--properties-only",
            "--property",
            "p8-1.real-name",
        ],
        Some(&solver),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("UNPROVEN p8-1.real-name"), "{stdout}");
    assert!(stdout.contains("(1 unproven)"), "{stdout}");
}
