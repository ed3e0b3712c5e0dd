//! A solver that cannot decide (it answers `unknown`, as cvc5 does when its time limit runs out)
//! leaves the property unproven, named, and the analysis goes on: it neither aborts nor counts as
//! proven. A stand-in solver answers `unknown` to every query.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] functions: a failure should stop the test loudly"
)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use yungui_analyze::{Input, Options, analyze, check_removals, prove};

fn policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

/// A solver that reads SMT-LIB and answers `unknown` to every `check-sat`.
fn undecided() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cvc5");
    std::fs::write(
        &path,
        "#!/bin/sh\nwhile IFS= read -r line; do\n  case \"$line\" in *check-sat*) echo unknown ;; esac\ndone\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    (dir, path)
}

#[test]
fn an_unknown_answer_leaves_properties_unproven_and_the_run_goes_on() {
    let (_dir, solver) = undecided();
    let input = Input::read(&policies()).unwrap();
    let options = Options {
        solver: Some(solver),
        threads: 2,
        ..Options::default()
    };
    let report = prove(&input, &options).unwrap();
    assert!(!report.passed());
    assert_eq!(report.properties.len(), input.properties.len());
    // A property the solver is asked about is unproven, never proven nor failed.
    let asked: Vec<_> = report
        .properties
        .iter()
        .filter(|p| !p.unproven.is_empty())
        .collect();
    assert!(!asked.is_empty(), "{:?}", report.properties);
    for p in &asked {
        assert!(!p.proven, "{}", p.id);
        assert!(p.counterexample.is_none(), "{}", p.id);
    }
    let territory = report
        .properties
        .iter()
        .find(|p| p.id == "p7.domestic-tenant-in-territory")
        .unwrap();
    assert!(
        territory
            .unproven
            .iter()
            .any(|env| env == "Tenant place_data Dataset"),
        "{territory:?}"
    );

    // The health checks too: unproven, named, and the run is not passed.
    let report = analyze(&input, &options).unwrap();
    assert!(!report.passed());
    assert!(
        report
            .unproven_checks
            .iter()
            .any(|(_, check)| check.contains("always denies")),
        "{:?}",
        report.unproven_checks
    );

    // A removal the solver cannot decide catches nothing and says so.
    let control = "art7-in-territory".to_owned();
    let removals = check_removals(&input, &[control], &options, &|_, _| Ok(())).unwrap();
    assert!(removals[0].caught.is_none());
    assert!(
        removals[0]
            .unproven
            .iter()
            .any(|(property, _)| property == "p7.domestic-tenant-in-territory"),
        "{:?}",
        removals[0].unproven
    );
}
