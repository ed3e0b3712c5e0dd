//! The shipped policies against the shipped properties. Needs the solver (cvc5: `$CVC5` or on
//! `PATH`, Debian package `cvc5`); without it the tests fail saying so.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] functions: a failure should stop the test loudly"
)]

use std::path::{Path, PathBuf};

use yungui_analyze::{Input, Options, Report, analyze, find_solver};

fn policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

fn solver() {
    if let Err(e) = find_solver(None) {
        panic!("these tests need the SMT solver: {e}");
    }
}

fn summary(report: &Report) -> String {
    let mut out = String::new();
    for p in &report.properties {
        out.push_str(&format!(
            "{} {} [{}] {} envs {} ms{}\n",
            if p.proven { "proven" } else { "FAILED" },
            p.id,
            p.article,
            p.environments,
            p.millis,
            p.counterexample
                .as_ref()
                .map(|c| format!("\n  {}\n  {}\n  {}", c.environment, c.request, c.registry))
                .unwrap_or_default()
        ));
    }
    for f in &report.findings {
        out.push_str(&format!(
            "{} {:?} {:?} {:?} {}\n",
            f.check,
            f.policy,
            f.action,
            f.accepted,
            f.environments.join("; ")
        ));
    }
    out.push_str(&format!("health {} ms\n", report.health_millis));
    for (env, check, ms) in &report.slow_checks {
        out.push_str(&format!("slow: {env}: {check} {ms} ms\n"));
    }
    out
}

#[test]
fn shipped_policies_prove_every_property() {
    solver();
    let input = Input::read(&policies()).unwrap();
    assert!(!input.properties.is_empty());
    let report = analyze(&input, &Options::default()).unwrap();
    let text = summary(&report);
    println!("{text}\n{} ms on {} threads", report.millis, report.threads);
    assert!(report.passed(), "{text}");
}
