//! Checks of entities against the schema and its closed vocabularies: registry entities before they
//! are loaded, and request values against `@one_of`.

use cedar_policy::entities_errors::EntitiesError;
use cedar_policy::{Entity, EntityUid, EvalResult};

use crate::{Compiled, Vocabularies};

/// A value outside its attribute's closed vocabulary (`@one_of`), named with the allowed ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{attribute}`: `{value}` is not one of the allowed values: {}", quoted(.allowed))]
#[non_exhaustive]
pub struct NotOneOf {
    /// The attribute.
    pub attribute: String,
    /// The value it holds.
    pub value: String,
    /// The values it may hold.
    pub allowed: Vec<String>,
}

/// `` `a`, `b` ``.
fn quoted(values: &[String]) -> String {
    values
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A registry entity the engine would not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EntityError {
    /// The text is not JSON.
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    /// The JSON is not an entity of the schema: Cedar's message, with its causes (the Cedar error
    /// is boxed: it is large).
    #[error("{}", error_chain(.0))]
    Schema(#[source] Box<EntitiesError>),
    /// An attribute holds a value outside its closed vocabulary.
    #[error("`{uid}`: {error}")]
    Vocabulary {
        /// The entity (boxed: it is large).
        uid: Box<EntityUid>,
        /// The attribute, its value and the allowed ones.
        #[source]
        error: NotOneOf,
    },
}

/// A string, or each string of a set, is one of `allowed`; otherwise an error naming the value and
/// the allowed ones.
pub fn check_one_of(
    attribute: &str,
    value: &EvalResult,
    allowed: &[String],
) -> Result<(), NotOneOf> {
    let check = |v: &EvalResult| match v {
        EvalResult::String(s) if allowed.iter().any(|a| a == s) => Ok(()),
        EvalResult::String(s) => Err(NotOneOf {
            attribute: attribute.to_owned(),
            value: s.clone(),
            allowed: allowed.to_vec(),
        }),
        // Not a string: the schema check names the type error.
        _ => Ok(()),
    };
    match value {
        EvalResult::Set(set) => set.iter().try_for_each(check),
        other => check(other),
    }
}

/// Every `@one_of` attribute of the entity's type holds a value of its vocabulary. The error is
/// [`NotOneOf`]'s message (the policy component carries its errors as text); [`check_entity`]
/// keeps it typed.
pub fn check_vocabularies(vocabularies: &Vocabularies, entity: &Entity) -> Result<(), String> {
    in_vocabularies(vocabularies, entity).map_err(|e| e.to_string())
}

/// [`check_vocabularies`], typed.
fn in_vocabularies(vocabularies: &Vocabularies, entity: &Entity) -> Result<(), NotOneOf> {
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

/// Checks one registry entity (Cedar entity JSON) against the schema and its closed vocabularies,
/// as the engine will read it.
pub fn check_entity(compiled: &Compiled, text: &str) -> Result<(), EntityError> {
    let json = serde_json::from_str::<serde_json::Value>(text).map_err(EntityError::Json)?;
    let entity = Entity::from_json_value(json, Some(&compiled.schema))
        .map_err(|e| EntityError::Schema(Box::new(e)))?;
    in_vocabularies(&compiled.vocabularies, &entity).map_err(|error| EntityError::Vocabulary {
        uid: Box::new(entity.uid()),
        error,
    })
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
/// closed vocabularies, as the engine will read them: every problem ([`check_entity`]'s, as text),
/// naming the entity.
pub fn check_registry<'a>(
    compiled: &Compiled,
    entities: impl IntoIterator<Item = &'a str>,
) -> Result<(), Vec<String>> {
    let problems: Vec<String> = entities
        .into_iter()
        .filter_map(|text| check_entity(compiled, text).err())
        .map(|problem| problem.to_string())
        .collect();
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

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;
    use crate::{Validate, compile};

    const SCHEMA: &str = r#"namespace Cloud {
        entity Tenant = {
            @one_of("active|suspended") status: String,
            @one_of("a|b") tags: Set<String>,
            limit: Long,
        };
    }"#;

    fn compiled() -> Compiled {
        compile(("s", SCHEMA), [("a.cedar", "")], Validate::Strict).unwrap()
    }

    fn tenant(status: &str, tags: &str, limit: &str) -> String {
        format!(
            r#"{{"uid": {{"type": "Cloud::Tenant", "id": "t"}}, "attrs": {{"status": "{status}", "tags": {tags}, "limit": {limit}}}, "parents": []}}"#
        )
    }

    #[test]
    fn an_entity_of_the_schema_within_its_vocabularies_passes() {
        let compiled = compiled();
        check_entity(&compiled, &tenant("active", r#"["a", "b"]"#, "1")).unwrap();
        check_registry(&compiled, [tenant("suspended", "[]", "2").as_str()]).unwrap();
    }

    #[test]
    fn a_value_outside_its_vocabulary_is_named_with_the_allowed_ones() {
        let compiled = compiled();
        let err = check_entity(&compiled, &tenant("gone", "[]", "1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"`Cloud::Tenant::"t"`: `status`: `gone` is not one of the allowed values: `active`, `suspended`"#
        );
        let EntityError::Vocabulary { uid, error } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(uid.to_string(), r#"Cloud::Tenant::"t""#);
        assert_eq!(error.value, "gone");
        assert!(err.source().is_some());
        // Each element of a set.
        let err = check_entity(&compiled, &tenant("active", r#"["a", "c"]"#, "1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"`Cloud::Tenant::"t"`: `tags`: `c` is not one of the allowed values: `a`, `b`"#
        );
    }

    #[test]
    fn text_that_is_not_an_entity_of_the_schema_is_refused() {
        let compiled = compiled();
        let err = check_entity(&compiled, "{").unwrap_err();
        assert!(matches!(err, EntityError::Json(_)), "{err:?}");
        let err = check_entity(&compiled, &tenant("active", "[]", r#""many""#)).unwrap_err();
        assert!(matches!(err, EntityError::Schema(_)), "{err:?}");
        assert!(err.to_string().contains("limit"), "{err}");
    }

    #[test]
    fn the_registry_check_lists_every_problem_in_order() {
        let compiled = compiled();
        let good = tenant("active", "[]", "1");
        let gone = tenant("gone", "[]", "1");
        let problems = check_registry(&compiled, ["[", good.as_str(), gone.as_str()]).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(
            problems[0],
            check_entity(&compiled, "[").unwrap_err().to_string()
        );
        assert!(problems[1].contains("`gone`"), "{problems:?}");
        assert_eq!(
            summarise_problems(&problems),
            format!(
                "2 entities do not match the schema: {}; {}",
                problems[0], problems[1]
            )
        );
    }

    #[test]
    fn only_strings_are_checked_against_a_vocabulary() {
        let allowed = ["x".to_owned()];
        check_one_of("n", &EvalResult::Long(3), &allowed).unwrap();
        check_one_of("s", &EvalResult::String("x".to_owned()), &allowed).unwrap();
        let err = check_one_of("s", &EvalResult::String("y".to_owned()), &allowed).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`s`: `y` is not one of the allowed values: `x`"
        );
    }
}
