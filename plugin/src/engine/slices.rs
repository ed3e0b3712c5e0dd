//! The policy set sliced for decisions: per action, then per principal and resource type, so a
//! decision evaluates only the policies whose scope can match; and whether any policy condition
//! may look up an action entity other than the request's.

use std::collections::HashMap;

use cedar_policy::{EntityTypeName, EntityUid, PolicySet, Schema};
use serde_json::Value as Json;

/// Each action's deciding and warning policies.
pub(super) type ByAction = HashMap<EntityUid, (PolicySet, PolicySet)>;
/// Each action's slices per principal and resource type.
pub(super) type ByTypes = HashMap<EntityUid, Vec<TypedSlice>>;

/// The policies of one action that can apply to a principal type and a resource type.
#[derive(Debug)]
pub(super) struct TypedSlice {
    pub(super) principal: EntityTypeName,
    pub(super) resource: EntityTypeName,
    pub(super) deciding: PolicySet,
    pub(super) warning: PolicySet,
}

/// `deciding` and `warning` sliced per action (only the policies whose scope can match), and each
/// action's slices sliced again per principal and resource type the schema allows for the action.
pub(super) fn slice(
    deciding: &PolicySet,
    warning: &PolicySet,
    schema: &Schema,
) -> Result<(ByAction, ByTypes), String> {
    let deciding_slices = yungui_policies::slice_by_action(deciding, schema)?;
    let mut warning_slices = yungui_policies::slice_by_action(warning, schema)?;
    let by_action: HashMap<EntityUid, (PolicySet, PolicySet)> = deciding_slices
        .into_iter()
        .map(|(action, d)| {
            let w = warning_slices.remove(&action).unwrap_or_default();
            (action, (d, w))
        })
        .collect();
    let mut by_types: HashMap<EntityUid, Vec<TypedSlice>> = HashMap::new();
    for (action, (deciding, warning)) in &by_action {
        let principals: Vec<EntityTypeName> = schema
            .principals_for_action(action)
            .map(|t| t.cloned().collect())
            .unwrap_or_default();
        let resources: Vec<EntityTypeName> = schema
            .resources_for_action(action)
            .map(|t| t.cloned().collect())
            .unwrap_or_default();
        let mut slices = Vec::new();
        for principal in &principals {
            for resource in &resources {
                slices.push(TypedSlice {
                    principal: principal.clone(),
                    resource: resource.clone(),
                    deciding: yungui_policies::slice_by_types(deciding, principal, resource)?,
                    warning: yungui_policies::slice_by_types(warning, principal, resource)?,
                });
            }
        }
        by_types.insert(action.clone(), slices);
    }
    Ok((by_action, by_types))
}

/// Whether a policy's conditions (its JSON form's `conditions`; not its scope, whose action
/// constraint only compares the request's action) may look up an action entity other than the
/// request's: whether they hold an entity literal of the action type anywhere but as the right
/// operand of `action in …` or `action == …` (Cedar looks up the left operand's ancestors there,
/// never the right's).
pub(super) fn names_action(policy: &Json, action_type: &str) -> bool {
    fn is_literal(json: &Json) -> bool {
        json.get("Value").and_then(|v| v.get("__entity")).is_some()
    }
    fn holds(json: &Json, action_type: &str) -> bool {
        match json {
            Json::Object(map) => {
                let is_action = map
                    .get("__entity")
                    .and_then(|e| e.get("type"))
                    .and_then(Json::as_str)
                    .is_some_and(|t| t == action_type);
                if is_action {
                    return true;
                }
                let compares_action = ["in", "=="].iter().find_map(|op| {
                    map.get(*op)
                        .filter(|o| o.get("left") == Some(&serde_json::json!({"Var": "action"})))
                });
                if let Some(operands) = compares_action {
                    let right = operands.get("right");
                    let literals = right.is_some_and(|r| {
                        is_literal(r)
                            || r.get("Set")
                                .and_then(Json::as_array)
                                .is_some_and(|items| items.iter().all(is_literal))
                    });
                    if map.len() == 1 && literals {
                        return false;
                    }
                }
                map.values().any(|v| holds(v, action_type))
            }
            Json::Array(items) => items.iter().any(|v| holds(v, action_type)),
            _ => false,
        }
    }
    policy
        .get("conditions")
        .is_none_or(|conditions| holds(conditions, action_type))
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    fn names(policy: &str) -> bool {
        let policy = cedar_policy::Policy::from_str(policy).unwrap();
        names_action(&policy.to_json().unwrap(), "Cloud::Action")
    }

    #[test]
    fn an_action_literal_outside_comparisons_of_the_action_is_seen() {
        // The scope and `action in`/`action ==` compare the request's action only.
        assert!(!names(
            r#"forbid (principal, action in [Cloud::Action::"a"], resource) when { principal.x };"#
        ));
        assert!(!names(
            r#"forbid (principal, action, resource) unless { action in Cloud::Action::"g" };"#
        ));
        assert!(!names(
            r#"forbid (principal, action, resource) when { action == Cloud::Action::"a" || action in [Cloud::Action::"b", Cloud::Action::"c"] };"#
        ));
        // Anything else may look another action entity up.
        assert!(names(
            r#"forbid (principal, action, resource) when { Cloud::Action::"a" in action };"#
        ));
        assert!(names(
            r#"forbid (principal, action, resource) when { context.x == Cloud::Action::"a" };"#
        ));
        assert!(names(
            r#"forbid (principal, action, resource) when { action in [Cloud::Action::"a", context.y] };"#
        ));
    }
}
