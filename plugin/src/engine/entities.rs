//! The entities of a request and of the registry as the engine reads them: typed WIT entities
//! built into Cedar entities, and the facts the engine computes itself put in (a domain's
//! normalised name and suffixes, a service's notice months, an offering's trimmed complaint
//! channel, a tenant's normalised filed domains). The entity types the engine treats specially are
//! named here, and only here.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{Entity, EntityTypeName, EntityUid, EvalResult, RestrictedExpression};

use super::{Engine, calendar, cedar_message, domain};
use crate::bindings::yungui::policy::types as wit;
use crate::value;

/// The entity type whose `suffixes` the engine computes from its `name` (art. 8(1)).
const DOMAIN_TYPE: &str = "Cloud::Domain";
/// The entity type whose `complaint_channel` the engine trims of white space (art. 5).
const OFFERING_TYPE: &str = "Cloud::Offering";
/// The registry entity type whose `icp_domains` the engine normalises like a domain's name.
pub(super) const TENANT_TYPE: &str = "Cloud::Tenant";
/// The entity type whose notice months the engine computes from their dates (art. 9(6)).
const SERVICE_TYPE: &str = "Cloud::Service";
/// The registry's calendar months.
const MONTH_TYPE: &str = "Cloud::Month";
/// A `Service`'s notice dates and the month attribute each one's month goes in.
const NOTICE_MONTHS: [(&str, &str); 2] = [
    ("regulator_reported_at", "regulator_reported_month"),
    ("users_announced_at", "users_announced_month"),
];

/// The entity types the engine computes facts for, parsed once.
#[derive(Debug)]
pub(super) struct EntityTypes {
    domain: EntityTypeName,
    offering: EntityTypeName,
    service: EntityTypeName,
    tenant: EntityTypeName,
}

impl EntityTypes {
    pub(super) fn new() -> Result<Self, String> {
        let type_name = |name: &str| EntityTypeName::from_str(name).map_err(|err| err.to_string());
        Ok(Self {
            domain: type_name(DOMAIN_TYPE)?,
            offering: type_name(OFFERING_TYPE)?,
            service: type_name(SERVICE_TYPE)?,
            tenant: type_name(TENANT_TYPE)?,
        })
    }
}

impl Engine {
    /// A request entity with the facts the engine computes put in (a domain's normalised name and
    /// its suffixes, a service's notice months, an offering's complaint channel without the white
    /// space around it, whatever the caller sent), and its closed vocabularies checked; with the
    /// references the engine put in (the months).
    pub(super) fn request_entity(
        &self,
        entity: Entity,
    ) -> Result<(Entity, Vec<EntityUid>), String> {
        let type_name = entity.uid().type_name().clone();
        let (entity, added) = if type_name == self.entity_types.service {
            notice_months(entity)?
        } else if type_name == self.entity_types.offering {
            (trimmed_channel(entity)?, Vec::new())
        } else {
            (entity, Vec::new())
        };
        let entity = if type_name == self.entity_types.domain {
            let name = match entity.attr("name") {
                Some(Ok(EvalResult::String(name))) => name,
                // The schema requires a string name; Cedar names the problem when it checks.
                _ => return Ok((entity, added)),
            };
            let normalised = domain::normalise(&name).map_err(|e| format!("`name`: {e}"))?;
            let suffixes = domain::suffixes(&normalised);
            let (uid, mut attrs, parents) = entity.into_inner();
            attrs.insert(
                "name".to_owned(),
                RestrictedExpression::new_string(normalised),
            );
            attrs.insert(
                "suffixes".to_owned(),
                RestrictedExpression::new_set(
                    suffixes.into_iter().map(RestrictedExpression::new_string),
                ),
            );
            Entity::new(uid, attrs, parents).map_err(|err| cedar_message(&err))?
        } else {
            entity
        };
        self.check_vocabularies(&entity)?;
        Ok((entity, added))
    }

    /// A registry entity with its vocabularies checked and a tenant's filed domains normalised
    /// the way a domain's name is, so that `Shop.Example.CN.` in the registry files
    /// `www.shop.example.cn`.
    pub(super) fn registry_entity(&self, entity: Entity) -> Result<Entity, String> {
        self.check_vocabularies(&entity)?;
        if entity.uid().type_name() != &self.entity_types.tenant {
            return Ok(entity);
        }
        let filed = match entity.attr("icp_domains") {
            Some(Ok(EvalResult::Set(set))) => set,
            _ => return Ok(entity),
        };
        let mut normalised = Vec::with_capacity(filed.len());
        for value in filed.iter() {
            if let EvalResult::String(name) = value {
                normalised
                    .push(domain::normalise(name).map_err(|e| format!("`icp_domains`: {e}"))?);
            }
        }
        let (uid, mut attrs, parents) = entity.into_inner();
        attrs.insert(
            "icp_domains".to_owned(),
            RestrictedExpression::new_set(
                normalised.into_iter().map(RestrictedExpression::new_string),
            ),
        );
        Entity::new(uid, attrs, parents).map_err(|err| cedar_message(&err))
    }

    /// Every `@one_of` attribute of the entity's type holds a value of its vocabulary.
    fn check_vocabularies(&self, entity: &Entity) -> Result<(), String> {
        yungui_policies::check_vocabularies(&self.vocabularies, entity)
    }
}

pub(super) fn typed_entity(
    types: &value::TypeNames,
    entity: &wit::Entity,
    refs: &mut Vec<EntityUid>,
) -> Result<Entity, String> {
    let uid = value::uid(types, &entity.uid)?;
    let mut attrs = HashMap::with_capacity(entity.attrs.len());
    for attribute in &entity.attrs {
        let expr = value::expression(types, &attribute.value, refs)
            .map_err(|e| format!("attribute `{}`: {e}", attribute.name))?;
        if attrs.insert(attribute.name.clone(), expr).is_some() {
            return Err(format!("attribute `{}` is given twice", attribute.name));
        }
    }
    let mut parents = HashSet::with_capacity(entity.parents.len());
    for parent in &entity.parents {
        let parent = value::uid(types, parent)?;
        refs.push(parent.clone());
        parents.insert(parent);
    }
    Entity::new(uid, attrs, parents).map_err(|err| cedar_message(&err))
}

/// A service with the Beijing month of each notice date it carries, in place of any month the
/// caller named; and the months' uids.
fn notice_months(entity: Entity) -> Result<(Entity, Vec<EntityUid>), String> {
    let mut months = Vec::new();
    for (date, month) in NOTICE_MONTHS {
        if let Some(Ok(EvalResult::ExtensionValue(repr))) = entity.attr(date) {
            let id = calendar::beijing_month(&repr).map_err(|e| format!("`{date}`: {e}"))?;
            let uid = EntityUid::from_str(&format!("{MONTH_TYPE}::\"{id}\""))
                .map_err(|err| format!("`{month}`: {err}"))?;
            months.push((month, uid));
        }
    }
    if months.is_empty() {
        return Ok((entity, Vec::new()));
    }
    let uids = months.iter().map(|(_, uid)| uid.clone()).collect();
    let (uid, mut attrs, parents) = entity.into_inner();
    for (month, uid) in months {
        attrs.insert(month.to_owned(), RestrictedExpression::new_entity_uid(uid));
    }
    let entity = Entity::new(uid, attrs, parents).map_err(|err| cedar_message(&err))?;
    Ok((entity, uids))
}

/// The offering with its `complaint_channel` trimmed of white space (Unicode `White_Space`, the
/// ideographic space U+3000 included), so that a channel of blanks is the empty channel art. 5's
/// control warns about, not a channel.
fn trimmed_channel(entity: Entity) -> Result<Entity, String> {
    let channel = match entity.attr("complaint_channel") {
        Some(Ok(EvalResult::String(channel))) => channel,
        // Absent, or not a string: the schema check names the problem.
        _ => return Ok(entity),
    };
    let trimmed = channel.trim();
    if trimmed.len() == channel.len() {
        return Ok(entity);
    }
    let trimmed = trimmed.to_owned();
    let (uid, mut attrs, parents) = entity.into_inner();
    attrs.insert(
        "complaint_channel".to_owned(),
        RestrictedExpression::new_string(trimmed),
    );
    Entity::new(uid, attrs, parents).map_err(|err| cedar_message(&err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complaint_channel_is_trimmed_of_unicode_white_space() {
        let trimmed = |channel: &str| {
            let offering = Entity::from_json_value(
                serde_json::json!({
                    "uid": {"type": "Cloud::Offering", "id": "gpu-cloud"},
                    "attrs": {"brands": [], "security_assessed": true, "complaint_channel": channel},
                    "parents": []
                }),
                None,
            )
            .unwrap();
            match trimmed_channel(offering).unwrap().attr("complaint_channel") {
                Some(Ok(EvalResult::String(channel))) => channel,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(trimmed("\u{3000}\t \u{3000}"), "");
        assert_eq!(trimmed(" 400-800-0000\n"), "400-800-0000");
        assert_eq!(trimmed("400 800 0000"), "400 800 0000");
    }
}
