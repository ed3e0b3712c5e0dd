//! Proving the properties in one request environment.

use std::time::Instant;

use cedar_policy::{Policy, PolicyId, PolicySet, RequestEnv};
use cedar_policy_symcc::{CompiledPolicy, CompiledPolicySet};

use crate::counterexample::Counterexample;
use crate::error::Error;
use crate::input::{Input, Kind, Property, environment_name};
use crate::report::EnvResult;
use crate::solver::{Options, Symcc, check_error};

/// A copy of `policy` with `conditions` in place of its own, as a permit, without annotations.
fn with_conditions(
    policy: &Policy,
    conditions: serde_json::Value,
    id: &str,
) -> Result<Policy, String> {
    let mut json = policy.to_json().map_err(|e| e.to_string())?;
    if let Some(object) = json.as_object_mut() {
        object.insert("effect".to_owned(), "permit".into());
        object.insert("conditions".to_owned(), conditions);
        object.remove("annotations");
    }
    Policy::from_json(Some(PolicyId::new(id)), json).map_err(|e| e.to_string())
}

fn conditions(policy: &Policy) -> Result<Vec<serde_json::Value>, String> {
    let json = policy.to_json().map_err(|e| e.to_string())?;
    Ok(json
        .get("conditions")
        .and_then(|c| c.as_array())
        .cloned()
        .unwrap_or_default())
}

/// Proves the chosen properties in scope of `env` against the compiled `policies`, into `result`.
pub(crate) async fn prove_properties(
    input: &Input,
    env: &RequestEnv,
    options: &Options,
    symcc: &mut Symcc,
    policies: &CompiledPolicySet,
    result: &mut EnvResult,
) -> Result<(), Error> {
    let chosen = |p: &&Property| options.only.is_empty() || options.only.contains(&p.id);
    let schema = &input.schema;
    for property in input.properties.iter().filter(chosen) {
        if !input.in_scope(&property.policy, env) {
            continue;
        }
        let started = Instant::now();
        let single = PolicySet::from_policies([property.policy.clone()]).map_err(|e| {
            Error::InvalidProperty {
                file: property.file.clone(),
                message: e.to_string(),
            }
        })?;
        let compiled = CompiledPolicySet::compile(&single, env, schema).map_err(check_error(
            env,
            &format!("compiling property {}", property.id),
        ))?;
        let what = format!("property {}", property.id);
        let counterexample = match property.kind {
            Kind::Safety => symcc
                .check_implies_with_counterexample_opt(policies, &compiled)
                .await
                .map_err(check_error(env, &what))?
                .map(|found| {
                    Counterexample::from_env(
                        input,
                        env,
                        &found,
                        format!(
                            "{} ({}): allowed, but the property does not hold: {}",
                            property.id, property.article, property.reason_en
                        ),
                        true,
                    )
                }),
            Kind::Liveness => {
                let mut counterexample = symcc
                    .check_implies_with_counterexample_opt(&compiled, policies)
                    .await
                    .map_err(check_error(env, &what))?
                    .map(|found| {
                        Counterexample::from_env(
                            input,
                            env,
                            &found,
                            format!(
                                "{} ({}): the property holds, but the request is denied: {}",
                                property.id, property.article, property.reason_en
                            ),
                            false,
                        )
                    });
                // The engine denies on an erroring forbid: none may error where the property
                // holds.
                let own =
                    conditions(&property.policy).map_err(|message| Error::InvalidProperty {
                        file: property.file.clone(),
                        message,
                    })?;
                for (id, forbid) in &input.forbids {
                    if counterexample.is_some() {
                        break;
                    }
                    if !input.in_scope(forbid, env) || input.deciding.policy(forbid.id()).is_none()
                    {
                        continue;
                    }
                    let mut all = own.clone();
                    all.extend(conditions(forbid).map_err(|message| Error::Check {
                        environment: environment_name(env),
                        check: what.clone(),
                        message,
                    })?);
                    let guarded = with_conditions(
                        forbid,
                        serde_json::Value::Array(all),
                        &format!("{}-under-{}", id, property.id),
                    )
                    .map_err(|message| Error::Check {
                        environment: environment_name(env),
                        check: what.clone(),
                        message,
                    })?;
                    let compiled = CompiledPolicy::compile(&guarded, env, schema)
                        .map_err(check_error(env, &what))?;
                    if let Some(found) = symcc
                        .check_never_errors_with_counterexample_opt(&compiled)
                        .await
                        .map_err(check_error(env, &what))?
                    {
                        counterexample = Some(Counterexample::from_env(
                            input,
                            env,
                            &found,
                            format!(
                                "{} ({}): the property holds, but `{id}` errors, which the engine counts as a denial: {}",
                                property.id, property.article, property.reason_en
                            ),
                            false,
                        ));
                    }
                }
                counterexample
            }
        };
        result
            .properties
            .push((property.id.clone(), started.elapsed(), counterexample));
    }
    Ok(())
}
