//! The health checks of the policy set in one request environment: every forbid can fire and
//! never errors, no action is always denied.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cedar_policy::RequestEnv;
use cedar_policy_symcc::{CompiledPolicy, CompiledPolicySet};

use crate::counterexample::Counterexample;
use crate::error::Error;
use crate::input::{Check, Input};
use crate::report::EnvResult;
use crate::solver::{Symcc, check_error};

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
            let fires = !symcc
                .check_never_matches_opt(&compiled)
                .await
                .map_err(check_error(env, &format!("whether {id} can fire")))?;
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
        let found = symcc
            .check_never_errors_with_counterexample_opt(&compiled)
            .await
            .map_err(check_error(env, &format!("whether {id} errors")))?;
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
        result.always_denies = symcc
            .check_always_denies_opt(policies)
            .await
            .map_err(check_error(env, "whether it always denies"))?;
        if !result.always_denies {
            shared.allow(&action);
        }
        note_slow(&mut result.slow, "always denies".to_owned(), check_started);
    }
    result.health = health_started.elapsed();
    Ok(())
}

fn note_slow(slow: &mut Vec<(String, Duration)>, check: String, started: Instant) {
    let spent = started.elapsed();
    if spent >= Duration::from_secs(1) {
        slow.push((check, spent));
    }
}
