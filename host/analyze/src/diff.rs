//! Comparing two policy sets.

use std::time::Instant;

use cedar_policy_symcc::CompiledPolicySet;
use serde::Serialize;

use crate::counterexample::Counterexample;
use crate::error::Error;
use crate::input::{Input, environment_name};
use crate::solver::{
    Options, block_on, check_error, find_solver, run_parallel, start_solver, thread_count,
};

/// How two policy sets compare in one request environment.
#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentDiff {
    /// The request environment.
    pub environment: String,
    /// A request the new set allows and the old denies, if any.
    pub newly_allowed: Option<Counterexample>,
    /// A request the old set allows and the new denies, if any.
    pub newly_denied: Option<Counterexample>,
}

impl EnvironmentDiff {
    /// `equivalent`, `more permissive`, `less permissive` or `both`.
    pub fn verdict(&self) -> &'static str {
        match (&self.newly_allowed, &self.newly_denied) {
            (None, None) => "equivalent",
            (Some(_), None) => "more permissive",
            (None, Some(_)) => "less permissive",
            (Some(_), Some(_)) => "both",
        }
    }
}

/// The comparison of two policy sets.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    /// Per environment of the new schema, in order.
    pub environments: Vec<EnvironmentDiff>,
    /// Wall-clock time.
    pub millis: u64,
}

impl Diff {
    /// Whether the two sets decide every request alike.
    pub fn equivalent(&self) -> bool {
        self.environments
            .iter()
            .all(|e| e.newly_allowed.is_none() && e.newly_denied.is_none())
    }
}

/// Compares the policies of `old` and `new` (as the engine decides: warnings left out) per
/// request environment of the new schema, which both sets must validate against.
pub fn diff(old: &Input, new: &Input, options: &Options) -> Result<Diff, Error> {
    let started = Instant::now();
    let solver = find_solver(options.solver.as_deref())?;
    let envs = new.environments();
    let threads = thread_count(options);
    let environments = run_parallel(&envs, threads, |env| {
        block_on(async {
            let mut symcc = start_solver(&solver)?;
            let schema = &new.schema;
            let before = CompiledPolicySet::compile(&old.deciding, env, schema)
                .map_err(check_error(env, "compiling the old policies"))?;
            let after = CompiledPolicySet::compile(&new.deciding, env, schema)
                .map_err(check_error(env, "compiling the new policies"))?;
            let newly_allowed = symcc
                .check_implies_with_counterexample_opt(&after, &before)
                .await
                .map_err(check_error(env, "new implies old"))?
                .map(|found| {
                    Counterexample::from_env(
                        new,
                        env,
                        &found,
                        "allowed by the new policies, denied by the old".to_owned(),
                        true,
                    )
                });
            let newly_denied = symcc
                .check_implies_with_counterexample_opt(&before, &after)
                .await
                .map_err(check_error(env, "old implies new"))?
                .map(|found| {
                    Counterexample::from_env(
                        new,
                        env,
                        &found,
                        "allowed by the old policies, denied by the new".to_owned(),
                        false,
                    )
                });
            Ok(EnvironmentDiff {
                environment: environment_name(env),
                newly_allowed,
                newly_denied,
            })
        })
    })?;
    Ok(Diff {
        environments,
        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}
