//! Slices of the policy set: the policies that can apply to an action, or to a principal and
//! resource type, so a decision evaluates only those.

use std::collections::HashMap;

use cedar_policy::entities_errors::EntitiesError;
use cedar_policy::{
    ActionConstraint, EntityTypeName, EntityUid, PolicySet, PolicySetError, PrincipalConstraint,
    ResourceConstraint, Schema,
};

/// A slice could not be made. The message is Cedar's own; the Cedar error (boxed: it is large) is
/// the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SliceError {
    /// The schema's actions (and the groups they are in) could not be read as entities.
    #[error("{0}")]
    Actions(#[source] Box<EntitiesError>),
    /// A policy could not be added to a slice.
    #[error("{0}")]
    Add(#[source] Box<PolicySetError>),
}

/// The policy component carries its errors as text: `?` turns a slice error into its message.
impl From<SliceError> for String {
    fn from(err: SliceError) -> Self {
        err.to_string()
    }
}

/// The policies that can apply to each action of the schema: those whose action scope is
/// unconstrained, names the action, or names a group the action is in. A policy whose scope does
/// not match an action is never satisfied and never errors for it, so deciding with the slice
/// gives the same answer as deciding with the whole set, faster.
pub fn slice_by_action(
    policies: &PolicySet,
    schema: &Schema,
) -> Result<HashMap<EntityUid, PolicySet>, SliceError> {
    let hierarchy = schema
        .action_entities()
        .map_err(|e| SliceError::Actions(Box::new(e)))?;
    let mut slices = HashMap::new();
    for action in schema.actions() {
        let mut slice = PolicySet::new();
        for policy in policies.policies() {
            let applies = match policy.action_constraint() {
                ActionConstraint::Any => true,
                ActionConstraint::Eq(uid) => &uid == action,
                ActionConstraint::In(groups) => groups
                    .iter()
                    .any(|g| g == action || hierarchy.is_ancestor_of(g, action)),
            };
            if applies {
                slice
                    .add(policy.clone())
                    .map_err(|e| SliceError::Add(Box::new(e)))?;
            }
        }
        slices.insert(action.clone(), slice);
    }
    Ok(slices)
}

/// The policies of `policies` whose principal and resource scope can match a principal of type
/// `principal` and a resource of type `resource`. A policy whose scope cannot match is never
/// satisfied and never errors (the scope is checked first, and `&&` stops at false), so deciding a
/// request of these types with the slice gives the same answer as with the whole set, faster.
pub fn slice_by_types(
    policies: &PolicySet,
    principal: &EntityTypeName,
    resource: &EntityTypeName,
) -> Result<PolicySet, SliceError> {
    let mut slice = PolicySet::new();
    for policy in policies.policies() {
        let principal_may = match policy.principal_constraint() {
            PrincipalConstraint::Eq(uid) => uid.type_name() == principal,
            PrincipalConstraint::Is(t) | PrincipalConstraint::IsIn(t, _) => &t == principal,
            // `in` may hold of an entity of any type (the entity itself or a member of it).
            PrincipalConstraint::Any | PrincipalConstraint::In(_) => true,
        };
        let resource_may = match policy.resource_constraint() {
            ResourceConstraint::Eq(uid) => uid.type_name() == resource,
            ResourceConstraint::Is(t) | ResourceConstraint::IsIn(t, _) => &t == resource,
            ResourceConstraint::Any | ResourceConstraint::In(_) => true,
        };
        if principal_may && resource_may {
            slice
                .add(policy.clone())
                .map_err(|e| SliceError::Add(Box::new(e)))?;
        }
    }
    Ok(slice)
}
