//! The redundancy checks (`Options::redundancy`) on a small policy set: a forbid matched only
//! where another of its control matches is redundant, two alike are reported once, a permit all
//! of whose requests are denied is shadowed; both are warnings, failing only a strict analysis.
//! Needs the solver (cvc5: `$CVC5` or on `PATH`, Debian package `cvc5`).

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a failure should stop the test loudly"
)]

use yungui_analyze::{Check, Finding, Input, Options, analyze, find_solver};

const SCHEMA: &str = r#"namespace Cloud {
    entity Tenant = { real_name_verified: Bool };
    entity Workload = { privileged: Bool };
    action provision_workload appliesTo { principal: Tenant, resource: Workload, context: {} };
    action delete_workload appliesTo { principal: Tenant, resource: Workload, context: {} };
}"#;

fn forbid(id: &str, control: &str, action: &str, condition: &str) -> String {
    format!(
        "@id(\"{id}\")\n@control(\"{control}\")\n@article(\"8(1)\")\n@reason(\"r\")\n@reason_zh(\"理由\")\nforbid (principal, action == Cloud::Action::\"{action}\", resource)\n{condition};\n\n"
    )
}

fn input(extra: &str) -> Input {
    if let Err(e) = find_solver(None) {
        panic!("these tests need the SMT solver: {e}");
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("schema.cedarschema"), SCHEMA).unwrap();
    let mut policies = "@id(\"base-permit\")\npermit (principal, action, resource);\n\n".to_owned();
    policies += &forbid(
        "c1.unverified",
        "c1",
        "provision_workload",
        "unless { principal.real_name_verified }",
    );
    policies += &forbid(
        "c1.unverified-privileged",
        "c1",
        "provision_workload",
        "when { resource.privileged && !principal.real_name_verified }",
    );
    // Of another control: covering it is not redundancy (each states its own duty).
    policies += &forbid(
        "c2.privileged",
        "c2",
        "provision_workload",
        "when { resource.privileged }",
    );
    policies += &forbid(
        "c3.dup-a",
        "c3",
        "delete_workload",
        "when { resource.privileged }",
    );
    policies += &forbid(
        "c3.dup-b",
        "c3",
        "delete_workload",
        "unless { !resource.privileged }",
    );
    policies += extra;
    std::fs::write(dir.path().join("a.cedar"), policies).unwrap();
    Input::read(dir.path()).unwrap()
}

fn found(findings: &[Finding], check: Check) -> Vec<(String, Option<String>, Vec<String>)> {
    findings
        .iter()
        .filter(|f| f.check == check)
        .map(|f| {
            (
                f.policy.clone().unwrap_or_default(),
                f.covered_by.clone(),
                f.environments.clone(),
            )
        })
        .collect()
}

#[test]
fn a_forbid_covered_within_its_control_is_redundant_and_a_warning() {
    let options = Options {
        redundancy: true,
        ..Options::default()
    };
    let report = analyze(&input(""), &options).unwrap();
    assert_eq!(
        found(&report.findings, Check::Redundant),
        vec![
            (
                "c1.unverified-privileged".to_owned(),
                Some("c1.unverified".to_owned()),
                vec!["Tenant provision_workload Workload".to_owned()]
            ),
            (
                "c3.dup-b".to_owned(),
                Some("c3.dup-a".to_owned()),
                vec!["Tenant delete_workload Workload".to_owned()]
            ),
        ],
        "{:?}",
        report.findings
    );
    assert!(found(&report.findings, Check::Shadowed).is_empty());
    assert!(report.redundancy_queries > 0);
    assert!(report.passed(), "{:?}", report.findings);
    assert!(!report.passed_strict());

    // Without the option nothing of it is checked.
    let plain = analyze(&input(""), &Options::default()).unwrap();
    assert!(plain.findings.iter().all(|f| !f.check.is_warning()));
    assert_eq!(plain.redundancy_queries, 0);
}

#[test]
fn a_permit_whose_requests_are_all_denied_is_shadowed() {
    let options = Options {
        redundancy: true,
        ..Options::default()
    };
    let extra = forbid("c4.no-deletes", "c4", "delete_workload", "when { true }");
    let report = analyze(&input(&extra), &options).unwrap();
    assert_eq!(
        found(&report.findings, Check::Shadowed),
        vec![(
            "base-permit".to_owned(),
            None,
            vec!["Tenant delete_workload Workload".to_owned()]
        )],
        "{:?}",
        report.findings
    );
    // The action it leaves denied is the failing finding it always was.
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.check == Check::AlwaysDenies
                && f.action.as_deref() == Some("delete_workload"))
    );
}
