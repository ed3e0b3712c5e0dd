//! An analysis: each environment proven and checked, the results gathered into a report.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use cedar_policy::RequestEnv;
use cedar_policy_symcc::CompiledPolicySet;
use serde::Serialize;

use crate::counterexample::Counterexample;
use crate::error::Error;
use crate::health::{Shared, check_health, check_redundancy};
use crate::input::{Check, Input, Kind, Known, Property, environment_name};
use crate::prove::prove_properties;
use crate::solver::{
    Options, block_on, check_error, find_solver, run_parallel, start_solver, thread_count,
};

/// The outcome of one property.
#[derive(Debug, Clone, Serialize)]
pub struct PropertyOutcome {
    /// `@id`.
    pub id: String,
    /// `@article`.
    pub article: String,
    /// `@kind`.
    pub kind: Kind,
    /// `@reason_en`.
    pub reason_en: String,
    /// The environments it speaks of.
    pub environments: usize,
    /// Whether it holds in all of them.
    pub proven: bool,
    /// The environments where the solver could not decide it (it answered `unknown`, e.g. its
    /// time limit ran out): the property is unproven there, neither proven nor failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unproven: Vec<String>,
    /// Time spent proving it (solver and compilation, summed over environments).
    pub millis: u64,
    /// The first counterexample found, when it does not hold.
    pub counterexample: Option<Counterexample>,
}

/// A health finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The check.
    pub check: Check,
    /// The policy (`@id`), for `may_error`, `never_fires`, `redundant` and `shadowed`.
    pub policy: Option<String>,
    /// The action, for `always_denies`.
    pub action: Option<String>,
    /// For `redundant`: the forbid of the same control that matches whenever `policy` does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub covered_by: Option<String>,
    /// The environments it was found in (for `may_error`, `redundant` and `shadowed`).
    pub environments: Vec<String>,
    /// Why it is accepted, when `known.json` accepts it.
    pub accepted: Option<String>,
    /// A request showing it, when the solver gave one.
    pub example: Option<Counterexample>,
}

/// The outcome of an analysis.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The request environments analysed.
    pub environments: usize,
    /// Each property, in file order.
    pub properties: Vec<PropertyOutcome>,
    /// The health findings, accepted ones included.
    pub findings: Vec<Finding>,
    /// Accepted findings that no longer occur (the entry in `known.json` can go).
    pub stale_known: Vec<Known>,
    /// Wall-clock time of the whole analysis.
    pub millis: u64,
    /// The threads used.
    pub threads: usize,
    /// Time spent on the health checks, summed over environments.
    pub health_millis: u64,
    /// The health checks that took a second or more: (environment, check, milliseconds),
    /// slowest first.
    pub slow_checks: Vec<(String, String, u64)>,
    /// The health checks the solver could not decide (it answered `unknown`): (environment,
    /// check).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unproven_checks: Vec<(String, String)>,
    /// Time spent on the redundancy checks (`Options::redundancy`), summed over environments.
    pub redundancy_millis: u64,
    /// Solver queries the redundancy checks made.
    pub redundancy_queries: u64,
    /// Redundancy queries the solver could not decide: (environment, what and why); each pair
    /// is left unreported.
    pub redundancy_undecided: Vec<(String, String)>,
}

impl Report {
    /// Every property holds and every health finding is accepted, warnings (redundant forbids,
    /// shadowed permits) aside.
    pub fn passed(&self) -> bool {
        self.properties.iter().all(|p| p.proven)
            && self
                .findings
                .iter()
                .all(|f| f.accepted.is_some() || f.check.is_warning())
            && self.unproven_checks.is_empty()
    }

    /// Every property holds and every health finding, warnings included, is accepted.
    pub fn passed_strict(&self) -> bool {
        self.properties.iter().all(|p| p.proven)
            && self.findings.iter().all(|f| f.accepted.is_some())
            && self.unproven_checks.is_empty()
    }
}

/// What the solver said of a property in one environment.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// It holds.
    Proven,
    /// It does not: a request showing it.
    Failed(Box<Counterexample>),
    /// The solver answered `unknown` to a check of it, and none failed.
    Unknown,
}

/// What one environment found.
#[derive(Debug, Default)]
pub(crate) struct EnvResult {
    /// Property id → (time, what the solver said).
    pub(crate) properties: Vec<(String, Duration, Verdict)>,
    /// Forbids that can match in this environment.
    pub(crate) fires: Vec<String>,
    /// Forbids that may error here, with an example.
    pub(crate) may_error: Vec<(String, Option<Counterexample>)>,
    /// Whether the environment always denies.
    pub(crate) always_denies: bool,
    /// Health checks the solver could not decide.
    pub(crate) unproven: Vec<String>,
    /// Time spent on the health checks.
    pub(crate) health: Duration,
    /// Health checks that took a second or more: (check, time).
    pub(crate) slow: Vec<(String, Duration)>,
    /// For each forbid that can match here (redundancy checks only), the forbids of its
    /// control that match whenever it does.
    pub(crate) covered: Vec<(String, Vec<String>)>,
    /// The permits every request of which a forbid denies here (redundancy checks only).
    pub(crate) shadowed: Vec<String>,
    /// Time spent on the redundancy checks.
    pub(crate) redundancy: Duration,
    /// Solver queries the redundancy checks made.
    pub(crate) redundancy_queries: u64,
    /// Redundancy queries the solver could not decide.
    pub(crate) redundancy_undecided: Vec<String>,
}

async fn analyze_environment(
    input: &Input,
    env: &RequestEnv,
    options: &Options,
    solver: &Path,
    properties_only: bool,
    shared: &Shared,
) -> Result<EnvResult, Error> {
    let chosen = |p: &&Property| options.only.is_empty() || options.only.contains(&p.id);
    let in_scope = |p: &&Property| input.in_scope(&p.policy, env);
    if properties_only && !input.properties.iter().filter(chosen).any(|p| in_scope(&p)) {
        return Ok(EnvResult::default());
    }
    let mut symcc = start_solver(solver)?;
    let schema = &input.schema;
    let mut result = EnvResult::default();
    let policies = CompiledPolicySet::compile(&input.deciding, env, schema)
        .map_err(check_error(env, "compiling the policies"))?;

    prove_properties(input, env, options, &mut symcc, &policies, &mut result).await?;
    if properties_only {
        return Ok(result);
    }
    check_health(input, env, shared, &mut symcc, &policies, &mut result).await?;
    if options.redundancy {
        check_redundancy(input, env, &mut symcc, &mut result).await?;
    }
    Ok(result)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Proves every property of `input` and checks the policy set's health, per request environment.
pub fn analyze(input: &Input, options: &Options) -> Result<Report, Error> {
    run(input, options, false)
}

/// Proves the properties only (no health checks): what a quick check of an edited policy set
/// needs.
pub fn prove(input: &Input, options: &Options) -> Result<Report, Error> {
    run(input, options, true)
}

fn run(input: &Input, options: &Options, properties_only: bool) -> Result<Report, Error> {
    let started = Instant::now();
    let solver = find_solver(options.solver.as_deref())?;
    let envs = input.environments();
    let threads = thread_count(options);
    let shared = Shared::default();
    let results = run_parallel(&envs, threads, |env| {
        block_on(analyze_environment(
            input,
            env,
            options,
            &solver,
            properties_only,
            &shared,
        ))
    })?;

    let mut properties: Vec<PropertyOutcome> = input
        .properties
        .iter()
        .filter(|p| options.only.is_empty() || options.only.contains(&p.id))
        .map(|p| PropertyOutcome {
            id: p.id.clone(),
            article: p.article.clone(),
            kind: p.kind,
            reason_en: p.reason_en.clone(),
            environments: 0,
            proven: true,
            unproven: Vec::new(),
            millis: 0,
            counterexample: None,
        })
        .collect();
    let mut fires: BTreeSet<String> = BTreeSet::new();
    let mut may_error: BTreeMap<String, (Vec<String>, Option<Counterexample>)> = BTreeMap::new();
    let mut denies_by_action: BTreeMap<String, bool> = BTreeMap::new();
    let mut health_millis = 0;
    let mut slow_checks = Vec::new();
    let mut unproven_checks = Vec::new();
    let (mut redundancy_millis, mut redundancy_queries) = (0, 0);
    let mut redundancy_undecided = Vec::new();
    // Forbid → (environments where it can match, the forbids covering it in all of them).
    let mut covered: BTreeMap<String, (Vec<String>, Option<BTreeSet<String>>)> = BTreeMap::new();
    let mut shadowed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (env, result) in envs.iter().zip(results) {
        for check in result.unproven {
            unproven_checks.push((environment_name(env), check));
        }
        health_millis += millis(result.health);
        redundancy_millis += millis(result.redundancy);
        redundancy_queries += result.redundancy_queries;
        for what in result.redundancy_undecided {
            redundancy_undecided.push((environment_name(env), what));
        }
        for (id, covering) in result.covered {
            let entry = covered.entry(id).or_default();
            entry.0.push(environment_name(env));
            let covering: BTreeSet<String> = covering.into_iter().collect();
            entry.1 = Some(match entry.1.take() {
                None => covering,
                Some(before) => before.intersection(&covering).cloned().collect(),
            });
        }
        for id in result.shadowed {
            shadowed.entry(id).or_default().push(environment_name(env));
        }
        for (check, spent) in result.slow {
            slow_checks.push((environment_name(env), check, millis(spent)));
        }
        for (id, spent, verdict) in result.properties {
            if let Some(outcome) = properties.iter_mut().find(|p| p.id == id) {
                outcome.environments += 1;
                outcome.millis += u64::try_from(spent.as_millis()).unwrap_or(u64::MAX);
                match verdict {
                    Verdict::Proven => {}
                    Verdict::Failed(counterexample) => {
                        outcome.proven = false;
                        if outcome.counterexample.is_none() {
                            outcome.counterexample = Some(*counterexample);
                        }
                    }
                    Verdict::Unknown => {
                        outcome.proven = false;
                        outcome.unproven.push(environment_name(env));
                    }
                }
            }
        }
        fires.extend(result.fires);
        for (id, example) in result.may_error {
            let entry = may_error.entry(id).or_default();
            entry.0.push(environment_name(env));
            if entry.1.is_none() {
                entry.1 = example;
            }
        }
        let action = env.action().id().unescaped().to_owned();
        let all = denies_by_action.entry(action).or_insert(true);
        *all = *all && result.always_denies;
    }

    let mut findings = Vec::new();
    let mut used_known = BTreeSet::new();
    let accept = |check: Check,
                  policy: Option<&str>,
                  action: Option<&str>,
                  used: &mut BTreeSet<usize>| {
        input
            .known
            .iter()
            .enumerate()
            .find(|(_, k)| {
                k.check == check && k.policy.as_deref() == policy && k.action.as_deref() == action
            })
            .map(|(index, k)| {
                used.insert(index);
                k.reason.clone()
            })
    };
    if !properties_only {
        for (id, (environments, example)) in may_error {
            let accepted = accept(Check::MayError, Some(&id), None, &mut used_known);
            findings.push(Finding {
                check: Check::MayError,
                policy: Some(id),
                action: None,
                covered_by: None,
                environments,
                accepted,
                example,
            });
        }
        let mut seen = BTreeSet::new();
        for (id, _) in &input.forbids {
            if fires.contains(id) || !seen.insert(id.clone()) {
                continue;
            }
            let accepted = accept(Check::NeverFires, Some(id), None, &mut used_known);
            findings.push(Finding {
                check: Check::NeverFires,
                policy: Some(id.clone()),
                action: None,
                covered_by: None,
                environments: Vec::new(),
                accepted,
                example: None,
            });
        }
        // A forbid covered wherever it can match is redundant; of two that cover each other
        // (the same condition), the second in id order is.
        for (id, (environments, covering)) in &covered {
            let Some(by) = covering.iter().flatten().find(|other| {
                let mutual = covered
                    .get(*other)
                    .and_then(|(_, c)| c.as_ref())
                    .is_some_and(|c| c.contains(id));
                !mutual || *other < id
            }) else {
                continue;
            };
            let accepted = accept(Check::Redundant, Some(id), None, &mut used_known);
            findings.push(Finding {
                check: Check::Redundant,
                policy: Some(id.clone()),
                action: None,
                covered_by: Some(by.clone()),
                environments: environments.clone(),
                accepted,
                example: None,
            });
        }
        for (id, environments) in shadowed {
            let accepted = accept(Check::Shadowed, Some(&id), None, &mut used_known);
            findings.push(Finding {
                check: Check::Shadowed,
                policy: Some(id),
                action: None,
                covered_by: None,
                environments,
                accepted,
                example: None,
            });
        }
        for (action, always) in denies_by_action {
            if !always {
                continue;
            }
            let accepted = accept(Check::AlwaysDenies, None, Some(&action), &mut used_known);
            findings.push(Finding {
                check: Check::AlwaysDenies,
                policy: None,
                action: Some(action),
                covered_by: None,
                environments: Vec::new(),
                accepted,
                example: None,
            });
        }
    }
    let stale_known = if properties_only {
        Vec::new()
    } else {
        input
            .known
            .iter()
            .enumerate()
            .filter(|(index, _)| !used_known.contains(index))
            // Redundancy is only checked when asked: its accepted findings are stale only then.
            .filter(|(_, k)| options.redundancy || !k.check.is_warning())
            .map(|(_, k)| k.clone())
            .collect()
    };
    Ok(Report {
        environments: envs.len(),
        properties,
        findings,
        stale_known,
        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        threads,
        health_millis,
        slow_checks: {
            slow_checks.sort_by_key(|check| std::cmp::Reverse(check.2));
            slow_checks
        },
        unproven_checks,
        redundancy_millis,
        redundancy_queries,
        redundancy_undecided,
    })
}
