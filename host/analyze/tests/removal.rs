//! Each control is needed: without its forbid policies, some property fails, with a
//! counterexample. Needs the solver (cvc5: `$CVC5` or on `PATH`, Debian package `cvc5`); without
//! it the tests fail saying so.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] functions: a failure should stop the test loudly"
)]

use std::path::{Path, PathBuf};
use std::str::FromStr;

use cedar_policy::PolicySet;
use yungui_analyze::{Input, Options, find_solver, prove};

fn policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

/// A copy of the shipped policy folder without the policies of `control`.
fn without(control: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let from = policies();
    let mut removed = 0;
    for entry in std::fs::read_dir(&from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        if path.extension().is_some_and(|e| e == "cedar") {
            let text = std::fs::read_to_string(&path).unwrap();
            let set = PolicySet::from_str(&text).unwrap();
            let mut kept = String::new();
            for policy in set.policies() {
                if policy.annotation("control") == Some(control) {
                    removed += 1;
                } else {
                    kept.push_str(&policy.to_string());
                    kept.push_str("\n\n");
                }
            }
            std::fs::write(dir.path().join(name), kept).unwrap();
        } else if path.is_file() {
            std::fs::copy(&path, dir.path().join(name)).unwrap();
        }
    }
    let properties = dir.path().join("properties");
    std::fs::create_dir(&properties).unwrap();
    for entry in std::fs::read_dir(from.join("properties")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, properties.join(path.file_name().unwrap())).unwrap();
    }
    assert!(removed > 0, "no policy has @control(\"{control}\")");
    dir
}

/// Removing `control` makes `property` fail, with a counterexample the policies allow.
fn needed(control: &str, property: &str) {
    if let Err(e) = find_solver(None) {
        panic!("these tests need the SMT solver: {e}");
    }
    let dir = without(control);
    let input = Input::read(dir.path()).unwrap();
    let options = Options {
        only: [property.to_owned()].into(),
        ..Options::default()
    };
    let report = prove(&input, &options).unwrap();
    let failed: Vec<&str> = report
        .properties
        .iter()
        .filter(|p| !p.proven)
        .map(|p| p.id.as_str())
        .collect();
    let outcome = report
        .properties
        .iter()
        .find(|p| p.id == property)
        .unwrap_or_else(|| panic!("no property `{property}`"));
    assert!(
        !outcome.proven,
        "without {control}, {property} still holds (failed: {failed:?})"
    );
    let counterexample = outcome.counterexample.as_ref().unwrap();
    assert!(counterexample.allowed, "{counterexample:?}");
    let case = counterexample.case();
    assert_eq!(case["expect"]["decision"], "deny");
    assert!(
        case["request"]["principal"]["id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    println!(
        "without {control}: {failed:?} fail; {property}: {} ({} ms)\n{}",
        counterexample.environment,
        report.millis,
        serde_json::to_string(&case).unwrap()
    );
}

#[test]
fn real_name_is_needed() {
    needed("art8-1-real-name", "p8-1.real-name");
}

#[test]
fn territory_is_needed() {
    needed("art7-in-territory", "p7.domestic-tenant-in-territory");
}

#[test]
fn tenant_isolation_is_needed() {
    needed("art12-tenant-isolation", "p12.tenant-own-resources");
}

#[test]
fn licence_is_needed() {
    needed("art2-licence", "p2.tenant-operator-scope");
}

#[test]
fn termination_notice_is_needed() {
    needed("art9-6-termination-notice", "p9-6.termination-notice");
}
