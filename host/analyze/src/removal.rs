//! Whether each control is needed: without its forbid policies, some property of the notice fails.
//!
//! Removing forbids only adds allowed requests, which narrows what can change:
//!
//! - a liveness property cannot fail: every request it describes stays allowed, and the forbids
//!   that remain are the ones already proven not to error where it holds;
//! - a safety property can fail only in a request environment where a removed forbid is in
//!   scope: elsewhere the policies in scope, hence every decision, are the full set's.
//!
//! So only the (safety property, environment) pairs where both the property and a removed forbid
//! are in scope are checked, the properties of the control's own articles first, and the search
//! stops at the first property that fails. The compiled properties and the symbolic environments
//! are built once and shared by every removal. The narrowing assumes the full set proves every
//! property ([`analyze`](crate::analyze) checks it): a counterexample is the removal's doing only
//! if the full set denies it, which a caller with the engine can confirm.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cedar_policy::{Effect, Policy, PolicySet, RequestEnv};
use cedar_policy_symcc::{CompiledPolicySet, SymEnv};
use serde::Serialize;

use crate::counterexample::Counterexample;
use crate::error::Error;
use crate::input::{Input, Kind, Property, environment_name};
use crate::solver::{
    Options, block_on, check_error, find_solver, is_unknown, run_parallel, start_solver,
    thread_count,
};

/// What removing one control's forbid policies does to the properties.
#[derive(Debug, Clone, Serialize)]
pub struct Removal {
    /// The control (`@control`).
    pub control: String,
    /// The articles its policies state (`@article`).
    pub articles: Vec<String>,
    /// The forbids removed (`@id`), the ones that decide: a warn-severity forbid never denies,
    /// so removing it changes nothing.
    pub removed: Vec<String>,
    /// The first property found to fail without them, with its counterexample.
    pub caught: Option<Caught>,
    /// Checks the solver could not decide (it answered `unknown`): property and environment.
    pub unproven: Vec<(String, String)>,
    /// Counterexamples the caller's confirmation turned down, and why: property, environment,
    /// reason. The search went on past each, up to [`MAX_REJECTED`].
    pub rejected: Vec<(String, String, String)>,
    /// The (property, environment) pairs that could fail, and how many were checked before one
    /// failed.
    pub candidates: usize,
    /// The pairs checked.
    pub checked: usize,
    /// Wall-clock time spent on this control.
    pub millis: u64,
}

/// A property that fails once a control is removed.
#[derive(Debug, Clone, Serialize)]
pub struct Caught {
    /// The property (`@id`).
    pub property: String,
    /// Its article (`@article`).
    pub article: String,
    /// A request the weakened set allows and the property forbids.
    pub counterexample: Counterexample,
}

/// The counterexamples turned down per control before its search stops.
pub const MAX_REJECTED: usize = 4;

/// The controls of the policy set (`@control` of its forbids), sorted.
pub fn controls(input: &Input) -> Vec<String> {
    input
        .forbids
        .iter()
        .filter_map(|(_, policy)| policy.annotation("control").map(str::to_owned))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// What every removal shares, per environment: the symbolic environment and the compiled
/// properties, built on first use.
struct Shared<'a> {
    input: &'a Input,
    envs: Vec<RequestEnv>,
    symenvs: Mutex<BTreeMap<usize, Arc<SymEnv>>>,
    properties: Mutex<BTreeMap<(usize, String), Arc<CompiledPolicySet>>>,
}

impl Shared<'_> {
    fn symenv(&self, index: usize, env: &RequestEnv) -> Result<Arc<SymEnv>, Error> {
        if let Some(found) = self
            .symenvs
            .lock()
            .ok()
            .and_then(|m| m.get(&index).cloned())
        {
            return Ok(found);
        }
        let symenv = Arc::new(
            SymEnv::new(&self.input.schema, env)
                .map_err(check_error(env, "building the symbolic environment"))?,
        );
        if let Ok(mut map) = self.symenvs.lock() {
            map.insert(index, symenv.clone());
        }
        Ok(symenv)
    }

    fn compile(
        &self,
        set: &PolicySet,
        index: usize,
        what: &str,
    ) -> Result<CompiledPolicySet, Error> {
        let Some(env) = self.envs.get(index) else {
            return Err(Error::Thread(format!("no environment {index}")));
        };
        let symenv = self.symenv(index, env)?;
        CompiledPolicySet::compile_with_custom_symenv(
            set,
            env,
            &self.input.schema,
            SymEnv::clone(&symenv),
        )
        .map_err(check_error(env, what))
    }

    fn property(&self, index: usize, property: &Property) -> Result<Arc<CompiledPolicySet>, Error> {
        let key = (index, property.id.clone());
        if let Some(found) = self
            .properties
            .lock()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return Ok(found);
        }
        let single = PolicySet::from_policies([property.policy.clone()]).map_err(|e| {
            Error::InvalidProperty {
                file: property.file.clone(),
                message: e.to_string(),
            }
        })?;
        let compiled = Arc::new(self.compile(
            &single,
            index,
            &format!("compiling property {}", property.id),
        )?);
        if let Ok(mut map) = self.properties.lock() {
            map.insert(key, compiled.clone());
        }
        Ok(compiled)
    }
}

/// How a caller confirms a counterexample found without a control (e.g. by deciding it with
/// yungui's engine, which computes facts the solver chooses freely): `Err` says why it does not
/// hold, and the search goes on.
pub type Confirm<'a> = &'a (dyn Fn(&str, &Counterexample) -> Result<(), String> + Sync);

/// Removes each of `controls` in turn from the policy set of `input` and looks for a property
/// that fails without it (see the module documentation for which are checked), each
/// counterexample put to `confirm`; the controls run in parallel over `options.threads`, each
/// with its own solver.
pub fn check_removals(
    input: &Input,
    controls: &[String],
    options: &Options,
    confirm: Confirm<'_>,
) -> Result<Vec<Removal>, Error> {
    let solver = find_solver(options.solver.as_deref())?;
    let shared = Shared {
        input,
        envs: input.environments(),
        symenvs: Mutex::default(),
        properties: Mutex::default(),
    };
    run_parallel(controls, thread_count(options), |control| {
        block_on(remove(&shared, control, options, &solver, confirm))
    })
}

fn has_control(policy: &Policy, control: &str) -> bool {
    policy.effect() == Effect::Forbid && policy.annotation("control") == Some(control)
}

async fn remove(
    shared: &Shared<'_>,
    control: &str,
    options: &Options,
    solver: &std::path::Path,
    confirm: Confirm<'_>,
) -> Result<Removal, Error> {
    let started = Instant::now();
    let input = shared.input;
    let articles: BTreeSet<String> = input
        .forbids
        .iter()
        .filter(|(_, p)| has_control(p, control))
        .filter_map(|(_, p)| p.annotation("article").map(str::to_owned))
        .collect();
    let removed: Vec<&Policy> = input
        .deciding
        .policies()
        .filter(|p| has_control(p, control))
        .collect();
    let mut removal = Removal {
        control: control.to_owned(),
        articles: articles.iter().cloned().collect(),
        removed: removed
            .iter()
            .map(|p| {
                p.annotation("id")
                    .map_or_else(|| p.id().to_string(), str::to_owned)
            })
            .collect(),
        caught: None,
        unproven: Vec::new(),
        rejected: Vec::new(),
        candidates: 0,
        checked: 0,
        millis: 0,
    };
    let weakened: Vec<&Policy> = input
        .deciding
        .policies()
        .filter(|p| !has_control(p, control))
        .collect();

    // The pairs that can fail, the control's own articles first.
    let affected: Vec<usize> = (0..shared.envs.len())
        .filter(|&i| {
            shared
                .envs
                .get(i)
                .is_some_and(|env| removed.iter().any(|p| input.in_scope(p, env)))
        })
        .collect();
    let chosen = |p: &&Property| {
        p.kind == Kind::Safety && (options.only.is_empty() || options.only.contains(&p.id))
    };
    let mut pairs: Vec<(bool, usize, &Property)> = Vec::new();
    for property in input.properties.iter().filter(chosen) {
        for &index in &affected {
            if shared
                .envs
                .get(index)
                .is_some_and(|env| input.in_scope(&property.policy, env))
            {
                pairs.push((!articles.contains(&property.article), index, property));
            }
        }
    }
    // Stable: within each group, file order of the properties, then environment order.
    pairs.sort_by_key(|(other, _, _)| *other);
    removal.candidates = pairs.len();
    if pairs.is_empty() {
        removal.millis = millis_since(started);
        return Ok(removal);
    }

    let mut symcc = start_solver(solver)?;
    let mut compiled_sets: BTreeMap<usize, CompiledPolicySet> = BTreeMap::new();
    for (_, index, property) in pairs {
        let Some(env) = shared.envs.get(index) else {
            continue;
        };
        let policies = match compiled_sets.get(&index) {
            Some(found) => found,
            None => {
                // Only the policies in scope of the environment: the others cannot apply there.
                let in_scope = PolicySet::from_policies(
                    weakened
                        .iter()
                        .filter(|p| input.in_scope(p, env))
                        .map(|p| (*p).clone()),
                )
                .map_err(|e| Error::Check {
                    environment: environment_name(env),
                    check: format!("removing {control}"),
                    message: e.to_string(),
                })?;
                let compiled =
                    shared.compile(&in_scope, index, &format!("compiling without {control}"))?;
                compiled_sets.entry(index).or_insert(compiled)
            }
        };
        let compiled = shared.property(index, property)?;
        removal.checked += 1;
        let what = format!("property {} without {control}", property.id);
        match symcc
            .check_implies_with_counterexample_opt(policies, &compiled)
            .await
        {
            Ok(Some(found)) => {
                let counterexample = Counterexample::from_env(
                    input,
                    env,
                    &found,
                    format!(
                        "{} ({}): allowed without {control}, but the property does not hold: {}",
                        property.id, property.article, property.reason_en
                    ),
                    true,
                );
                // On a thread of its own, outside the solver's async runtime: the caller may well
                // block (yungui's engine does).
                let confirmed = std::thread::scope(|scope| {
                    scope
                        .spawn(|| confirm(control, &counterexample))
                        .join()
                        .map_err(|_| {
                            Error::Thread(format!(
                                "confirming a counterexample without {control} panicked"
                            ))
                        })
                })?;
                match confirmed {
                    Ok(()) => {
                        removal.caught = Some(Caught {
                            property: property.id.clone(),
                            article: property.article.clone(),
                            counterexample,
                        });
                        break;
                    }
                    Err(why) => {
                        removal
                            .rejected
                            .push((property.id.clone(), environment_name(env), why));
                        if removal.rejected.len() >= MAX_REJECTED {
                            break;
                        }
                    }
                }
            }
            Ok(None) => {}
            Err(e) if is_unknown(&e) => removal
                .unproven
                .push((property.id.clone(), environment_name(env))),
            Err(e) => return Err(check_error(env, &what)(e)),
        }
    }
    removal.millis = millis_since(started);
    Ok(removal)
}

fn millis_since(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
