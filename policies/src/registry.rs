//! Checks of entities against the schema and its closed vocabularies: registry entities before they
//! are loaded, and request values against `@one_of`.

use crate::{Compiled, Vocabularies};

/// A string, or each string of a set, is one of `allowed`; otherwise an error naming the value and
/// the allowed ones.
pub fn check_one_of(
    attribute: &str,
    value: &cedar_policy::EvalResult,
    allowed: &[String],
) -> Result<(), String> {
    let check = |v: &cedar_policy::EvalResult| match v {
        cedar_policy::EvalResult::String(s) if allowed.iter().any(|a| a == s) => Ok(()),
        cedar_policy::EvalResult::String(s) => Err(format!(
            "`{attribute}`: `{s}` is not one of the allowed values: {}",
            allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        // Not a string: the schema check names the type error.
        _ => Ok(()),
    };
    match value {
        cedar_policy::EvalResult::Set(set) => set.iter().try_for_each(check),
        other => check(other),
    }
}

/// Every `@one_of` attribute of the entity's type holds a value of its vocabulary.
pub fn check_vocabularies(
    vocabularies: &Vocabularies,
    entity: &cedar_policy::Entity,
) -> Result<(), String> {
    let Some(vocabulary) = vocabularies.get(&entity.uid().type_name().to_string()) else {
        return Ok(());
    };
    for (attribute, allowed) in vocabulary {
        if let Some(Ok(value)) = entity.attr(attribute) {
            check_one_of(attribute, &value, allowed)?;
        }
    }
    Ok(())
}

/// `problems` of [`check_registry`] in one line: how many, and the first five.
pub fn summarise_problems(problems: &[String]) -> String {
    let first: Vec<&str> = problems.iter().take(5).map(String::as_str).collect();
    format!(
        "{} entities do not match the schema: {}",
        problems.len(),
        first.join("; ")
    )
}

/// Checks registry entities (Cedar entities JSON, one value each) against the schema and its
/// closed vocabularies, as the engine will read them: every problem, naming the entity.
pub fn check_registry<'a>(
    compiled: &Compiled,
    entities: impl IntoIterator<Item = &'a str>,
) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    for text in entities {
        let entity = serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| e.to_string())
            .and_then(|json| {
                cedar_policy::Entity::from_json_value(json, Some(&compiled.schema))
                    .map_err(|e| error_chain(&e))
            })
            .and_then(|entity| {
                check_vocabularies(&compiled.vocabularies, &entity)
                    .map_err(|e| format!("`{}`: {e}", entity.uid()))
            });
        if let Err(problem) = entity {
            problems.push(problem);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// An error with its causes, on one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}
