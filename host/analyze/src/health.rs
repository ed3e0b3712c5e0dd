//! The health checks of the policy set in one request environment: every forbid can fire and
//! never errors, no action is always denied; and, when asked, no forbid is redundant (matched
//! whenever another of its control is) and no permit is shadowed (every request it allows is
//! denied by a forbid).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cedar_policy::{Policy, PolicySet, RequestEnv};
use cedar_policy_symcc::{CompiledPolicy, CompiledPolicySet};

use crate::counterexample::Counterexample;
use crate::error::Error;
use crate::input::{Check, Input};
use crate::report::EnvResult;
use crate::solver::{Symcc, check_error, is_unknown};

/// What the environments learn from each other: a forbid that fired in one environment, or an
/// action allowed in one, needs no further proof of it.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    fired: Mutex<BTreeSet<String>>,
    allowed_actions: Mutex<BTreeSet<String>>,
}

impl Shared {
    fn has_fired(&self, id: &str) -> bool {
        self.fired.lock().is_ok_and(|f| f.contains(id))
    }

    fn fire(&self, id: &str) {
        if let Ok(mut fired) = self.fired.lock() {
            fired.insert(id.to_owned());
        }
    }

    fn is_allowed(&self, action: &str) -> bool {
        self.allowed_actions
            .lock()
            .is_ok_and(|a| a.contains(action))
    }

    fn allow(&self, action: &str) {
        if let Ok(mut allowed) = self.allowed_actions.lock() {
            allowed.insert(action.to_owned());
        }
    }
}

/// Checks the health of the policy set in `env` (the compiled `policies` and each forbid in
/// scope), into `result`.
pub(crate) async fn check_health(
    input: &Input,
    env: &RequestEnv,
    shared: &Shared,
    symcc: &mut Symcc,
    policies: &CompiledPolicySet,
    result: &mut EnvResult,
) -> Result<(), Error> {
    let schema = &input.schema;
    let health_started = Instant::now();
    for (id, forbid) in &input.forbids {
        if !input.in_scope(forbid, env) {
            continue;
        }
        let check_started = Instant::now();
        let compiled = CompiledPolicy::compile(forbid, env, schema)
            .map_err(check_error(env, &format!("compiling {id}")))?;
        // One environment where it fires is enough.
        if !shared.has_fired(id) {
            let what = format!("whether {id} can fire");
            // Unknown: unproven (which fails the analysis), not a false "never fires".
            let fires = match symcc.check_never_matches_opt(&compiled).await {
                Ok(never) => !never,
                Err(e) if is_unknown(&e) => {
                    result.unproven.push(what);
                    true
                }
                Err(e) => return Err(check_error(env, &what)(e)),
            };
            if fires {
                shared.fire(id);
                result.fires.push(id.clone());
            }
            note_slow(&mut result.slow, format!("{id} can fire"), check_started);
        }
        let accepted = input
            .known
            .iter()
            .any(|k| k.check == Check::MayError && k.policy.as_deref() == Some(id.as_str()));
        if accepted {
            // Accepted with its reason; not proven again (the slowest checks are these).
            result.may_error.push((id.clone(), None));
            continue;
        }
        let check_started = Instant::now();
        let what = format!("whether {id} errors");
        let found = match symcc
            .check_never_errors_with_counterexample_opt(&compiled)
            .await
        {
            Ok(found) => found,
            Err(e) if is_unknown(&e) => {
                result.unproven.push(what);
                None
            }
            Err(e) => return Err(check_error(env, &what)(e)),
        };
        note_slow(
            &mut result.slow,
            format!("{id} never errors"),
            check_started,
        );
        if let Some(found) = found {
            let example = Counterexample::from_env(
                input,
                env,
                &found,
                format!("`{id}` errors on this request; the engine denies it"),
                false,
            );
            result.may_error.push((id.clone(), Some(example)));
        }
    }
    // One environment where the action is allowed is enough.
    let action = env.action().id().unescaped().to_owned();
    if !shared.is_allowed(&action) {
        let check_started = Instant::now();
        let what = "whether it always denies";
        result.always_denies = match symcc.check_always_denies_opt(policies).await {
            Ok(always) => always,
            Err(e) if is_unknown(&e) => {
                result.unproven.push(what.to_owned());
                false
            }
            Err(e) => return Err(check_error(env, what)(e)),
        };
        if !result.always_denies {
            shared.allow(&action);
        }
        note_slow(&mut result.slow, "always denies".to_owned(), check_started);
    }
    result.health = health_started.elapsed();
    Ok(())
}

/// The redundancy checks in `env`, into `result`: for each forbid that can match here, the other
/// forbids of its control (`@control`, so with its effect and severity) that match whenever it
/// does; each permit every request of which some forbid denies here.
pub(crate) async fn check_redundancy(
    input: &Input,
    env: &RequestEnv,
    symcc: &mut Symcc,
    result: &mut EnvResult,
) -> Result<(), Error> {
    let started = Instant::now();
    let schema = &input.schema;
    let mut by_control: std::collections::BTreeMap<&str, Vec<(&String, &Policy)>> =
        std::collections::BTreeMap::new();
    for (id, forbid) in &input.forbids {
        if input.in_scope(forbid, env) && input.deciding.policy(forbid.id()).is_some() {
            let control = forbid.annotation("control").unwrap_or(id.as_str());
            by_control.entry(control).or_default().push((id, forbid));
        }
    }
    for forbids in by_control.values().filter(|f| f.len() > 1) {
        let mut live = Vec::new();
        for (id, forbid) in forbids {
            let compiled = CompiledPolicy::compile(forbid, env, schema)
                .map_err(check_error(env, &format!("compiling {id}")))?;
            result.redundancy_queries += 1;
            let vacuous = symcc
                .check_never_matches_opt(&compiled)
                .await
                .map_err(check_error(env, &format!("whether {id} can fire")))?;
            if !vacuous {
                live.push((*id, compiled));
            }
        }
        for (id, compiled) in &live {
            let mut covering = Vec::new();
            for (other, other_compiled) in &live {
                if other == id {
                    continue;
                }
                result.redundancy_queries += 1;
                // A query the solver cannot decide (its time limit) leaves the pair unshown:
                // a warning not given, not an analysis failed.
                match symcc
                    .check_matches_implies_opt(compiled, other_compiled)
                    .await
                {
                    Ok(true) => covering.push((*other).clone()),
                    Ok(false) => {}
                    Err(e) => result
                        .redundancy_undecided
                        .push(format!("whether `{other}` covers `{id}`: {e}")),
                }
            }
            result.covered.push(((*id).clone(), covering));
        }
    }
    let forbids: Vec<Policy> = input
        .deciding
        .policies()
        .filter(|p| p.effect() == cedar_policy::Effect::Forbid)
        .cloned()
        .collect();
    for permit in input
        .deciding
        .policies()
        .filter(|p| p.effect() == cedar_policy::Effect::Permit && input.in_scope(p, env))
    {
        let id = permit
            .annotation("id")
            .map_or_else(|| permit.id().to_string(), str::to_owned);
        let alone =
            PolicySet::from_policies(std::iter::once(permit.clone()).chain(forbids.clone()))
                .map_err(|e| Error::Check {
                    environment: crate::input::environment_name(env),
                    check: format!("whether {id} is shadowed"),
                    message: e.to_string(),
                })?;
        let compiled = CompiledPolicySet::compile(&alone, env, schema).map_err(check_error(
            env,
            &format!("compiling {id} with the forbids"),
        ))?;
        result.redundancy_queries += 1;
        if symcc
            .check_always_denies_opt(&compiled)
            .await
            .map_err(check_error(env, &format!("whether {id} is shadowed")))?
        {
            result.shadowed.push(id);
        }
    }
    result.redundancy = started.elapsed();
    Ok(())
}

fn note_slow(slow: &mut Vec<(String, Duration)>, check: String, started: Instant) {
    let spent = started.elapsed();
    if spent >= Duration::from_secs(1) {
        slow.push((check, spent));
    }
}
