//! Each control is needed: without its forbid policies, some property of the notice fails, with a
//! counterexample that yungui's own engine allows without the control and denies, by that
//! control, with it. The controls are those the policies name (`@control`), so a new control is
//! covered as soon as it is written. Needs the solver (cvc5: `$CVC5` or on `PATH`, Debian package
//! `cvc5`); without it the test fails saying so.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] functions: a failure should stop the test loudly"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use cedar_policy::{Effect, PolicySet};
use yungui::report::Outcome;
use yungui::{Engine, EngineConfig, Registry, Report};
use yungui_analyze::{Counterexample, Input, Options, check_removals, controls, find_solver};
use yungui_policies::{SourceFile, Sources};

/// Controls whose removal no property can catch, with why. Each must still be a control of the
/// policies, and must indeed go uncaught.
const KNOWN_UNCOVERED: &[(&str, &str)] = &[(
    "art5-complaints",
    "a warning (@severity(\"warn\")), never a denial: article 5 asks for a complaint mechanism, \
     which is organisation, not a refusal; removing it changes no decision",
)];

fn policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}

/// `sources` without the forbid policies of `control`.
fn without(sources: &Sources, control: &str) -> Sources {
    let policies = sources
        .policies
        .iter()
        .map(|file| {
            let set = PolicySet::from_str(&file.text).unwrap();
            let mut kept = String::new();
            for policy in set.policies() {
                if policy.effect() != Effect::Forbid
                    || policy.annotation("control") != Some(control)
                {
                    kept.push_str(&policy.to_string());
                    kept.push_str("\n\n");
                }
            }
            SourceFile {
                name: file.name.clone(),
                text: kept,
            }
        })
        .collect();
    Sources {
        schema: sources.schema.clone(),
        policies,
    }
}

fn engine(sources: &Sources) -> Engine {
    Engine::from_sources_unbuilt(sources, Registry::empty(), EngineConfig::default()).unwrap()
}

/// The engine's decision on a counterexample: the outcome and the controls that deny.
fn decide(engine: &Engine, counterexample: &Counterexample) -> (Outcome, Vec<String>, String) {
    let entities = counterexample
        .registry
        .as_array()
        .unwrap()
        .iter()
        .map(|e| serde_json::value::to_raw_value(e).unwrap())
        .collect();
    let registry = Arc::new(Registry::empty().with(entities).unwrap());
    let request = serde_json::to_string(&counterexample.request).unwrap();
    let report = Report::new(&engine.decide_json_with(&request, registry));
    let denials = report.denials.iter().map(|f| f.control.clone()).collect();
    (report.decision, denials, report.to_text())
}

#[test]
fn every_control_is_needed() {
    if let Err(e) = find_solver(None) {
        panic!("this test needs the SMT solver: {e}");
    }
    let dir = policies();
    let input = Input::read(&dir).unwrap();
    let sources = Sources::read_dir(&dir).unwrap();
    let controls = controls(&input);
    assert!(!controls.is_empty(), "no policy names a @control");
    let uncovered: BTreeMap<&str, &str> = KNOWN_UNCOVERED.iter().copied().collect();
    for control in uncovered.keys() {
        assert!(
            controls.iter().any(|c| c == control),
            "`{control}` is listed as uncovered but no policy names it"
        );
    }

    let full = engine(&sources);
    let weakened: Mutex<BTreeMap<String, Arc<Engine>>> = Mutex::default();
    // A counterexample holds when yungui's engine allows it without the control and denies it,
    // by that control, with it.
    let confirm = |control: &str, counterexample: &Counterexample| -> Result<(), String> {
        let without_control = weakened
            .lock()
            .unwrap()
            .entry(control.to_owned())
            .or_insert_with(|| Arc::new(engine(&without(&sources, control))))
            .clone();
        let case = serde_json::to_string(&counterexample.case()).unwrap();
        let (outcome, _, text) = decide(&without_control, counterexample);
        if outcome != Outcome::Allow {
            return Err(format!(
                "without {control}, the engine does not allow it:\n{text}\n{case}"
            ));
        }
        let (outcome, denials, text) = decide(&full, counterexample);
        if outcome != Outcome::Deny || !denials.iter().any(|d| d == control) {
            return Err(format!(
                "with {control}, the engine does not deny it by {control}:\n{text}\n{case}"
            ));
        }
        Ok(())
    };

    let started = std::time::Instant::now();
    let removals = check_removals(&input, &controls, &Options::default(), &confirm).unwrap();
    println!(
        "{} controls removed one at a time in {} ms",
        removals.len(),
        started.elapsed().as_millis()
    );
    let mut problems = Vec::new();
    for removal in &removals {
        let control = removal.control.as_str();
        println!(
            "{control}: {} forbids removed; {} of {} (property, environment) pairs checked, {} counterexamples turned down, {} ms: {}",
            removal.removed.len(),
            removal.checked,
            removal.candidates,
            removal.rejected.len(),
            removal.millis,
            removal
                .caught
                .as_ref()
                .map_or("nothing fails".to_owned(), |c| format!(
                    "{} fails in {}",
                    c.property, c.counterexample.environment
                ))
        );
        if !removal.unproven.is_empty() {
            problems.push(format!(
                "without {control}, the solver could not decide {:?}",
                removal.unproven
            ));
        }
        if let Some(reason) = uncovered.get(control) {
            if let Some(caught) = &removal.caught {
                problems.push(format!(
                    "`{control}` is listed as uncovered ({reason}), but without it {} fails: drop it from the list",
                    caught.property
                ));
            }
            continue;
        }
        if removal.caught.is_none() {
            let rejected: Vec<String> = removal
                .rejected
                .iter()
                .map(|(p, env, why)| format!("{p} in {env}: {why}"))
                .collect();
            problems.push(format!(
                "without {control} (removed {:?}), no property fails with a counterexample the engine confirms: write the property of its article(s) {:?}\n{}",
                removal.removed,
                removal.articles,
                rejected.join("\n")
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
