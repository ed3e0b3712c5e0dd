//! A counterexample brought to what yungui's engine takes: the solver sees the schema only, not
//! the closed vocabularies the engine checks, the domain names it normalises or the notice months
//! it computes.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::counterexample::{civil_from_days, parse_instant_ms};

/// Values outside a closed vocabulary (which the solver does not see, and the engine refuses as a
/// bad request) brought into it: a string becomes the vocabulary's first value, a set keeps only
/// the values in it.
pub(crate) fn fit(attrs: Option<&mut Value>, vocabulary: Option<&BTreeMap<String, Vec<String>>>) {
    let (Some(Value::Object(attrs)), Some(vocabulary)) = (attrs, vocabulary) else {
        return;
    };
    for (attr, allowed) in vocabulary {
        let known = |v: &Value| v.as_str().is_some_and(|s| allowed.iter().any(|a| a == s));
        match attrs.get_mut(attr) {
            Some(Value::String(text)) if !allowed.contains(text) => {
                if let Some(first) = allowed.first() {
                    *text = first.clone();
                }
            }
            Some(Value::Array(items)) => items.retain(known),
            _ => {}
        }
    }
}

pub(crate) fn fit_entity(entity: &mut Value, vocabularies: &yungui_policies::Vocabularies) {
    let ty = entity
        .get("uid")
        .and_then(|uid| uid.get("type"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    fit(entity.get_mut("attrs"), vocabularies.get(&ty));
}

/// The attributes that hold domain names, which the engine refuses unless they are host names:
/// (entity type, attribute).
const DOMAIN_NAMES: [(&str, &str); 3] = [
    ("Cloud::Tenant", "icp_domains"),
    ("Cloud::Domain", "name"),
    ("Cloud::Domain", "suffixes"),
];

/// Whether `name` is a host name the engine takes as it is: labels of ASCII letters, digits and
/// hyphens, none empty or longer than 63, at most 253 in all (a leading `*` label allowed).
fn is_host_name(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Strings the solver chose for domain names that are none (it likes the empty string), each
/// replaced by a host name of its own, the same one wherever it appears, so that equal names stay
/// equal and different names different.
#[derive(Debug, Default)]
pub(crate) struct HostNames(BTreeMap<String, String>);

impl HostNames {
    fn fit(&mut self, value: &mut Value) {
        match value {
            Value::String(name) if !is_host_name(name) => {
                let next = self.0.len() + 1;
                *name = self
                    .0
                    .entry(name.clone())
                    .or_insert_with(|| format!("name-{next}.example"))
                    .clone();
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.fit(item)),
            _ => {}
        }
    }

    pub(crate) fn fit_entity(&mut self, entity: &mut Value) {
        let ty = entity
            .get("uid")
            .and_then(|uid| uid.get("type"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        for (_, attr) in DOMAIN_NAMES.iter().filter(|(t, _)| *t == ty) {
            if let Some(value) = entity.get_mut("attrs").and_then(|a| a.get_mut(*attr)) {
                self.fit(value);
            }
        }
    }
}

/// A service's notice dates and the month attribute the engine computes from each: the month
/// (China's calendar, UTC+8) is a registry entity whose id is `YYYY-MM`.
const NOTICE_MONTHS: [(&str, &str); 2] = [
    ("regulator_reported_at", "regulator_reported_month"),
    ("users_announced_at", "users_announced_month"),
];
const MONTH_TYPE: &str = "Cloud::Month";

/// `YYYY-MM` of the instant `at` in China's calendar (UTC+8).
fn china_month(at: &str) -> Option<String> {
    let ms = parse_instant_ms(at)?.checked_add(8 * 3_600_000)?;
    let (year, month, _) = civil_from_days(ms.div_euclid(86_400_000));
    (0..=9999)
        .contains(&year)
        .then(|| format!("{year:04}-{month:02}"))
}

/// The months a service's notice dates fall in, named as the engine looks them up (`YYYY-MM`
/// of the date), so that the registry month the solver chose is the one the engine reads.
pub(crate) fn name_months(request: &mut Value, registry: &mut Value) {
    let mut renamed: BTreeMap<String, String> = BTreeMap::new();
    if let Some(attrs) = request.get("resource").and_then(|r| r.get("attrs")) {
        for (at, month) in NOTICE_MONTHS {
            let (Some(Value::String(at)), Some(month)) = (attrs.get(at), attrs.get(month)) else {
                continue;
            };
            let (Some(ty), Some(id)) = (
                month.get("type").and_then(Value::as_str),
                month.get("id").and_then(Value::as_str),
            ) else {
                continue;
            };
            if ty == MONTH_TYPE
                && let Some(name) = china_month(at)
            {
                // Two months of the solver's on one calendar month: left as they are.
                if renamed.values().any(|n| *n == name) && renamed.get(id) != Some(&name) {
                    return;
                }
                renamed.insert(id.to_owned(), name);
            }
        }
    }
    fn rename(value: &mut Value, renamed: &BTreeMap<String, String>) {
        match value {
            Value::Object(object) => {
                if object.get("type").and_then(Value::as_str) == Some(MONTH_TYPE)
                    && let Some(new) = object
                        .get("id")
                        .and_then(Value::as_str)
                        .and_then(|id| renamed.get(id))
                {
                    object.insert("id".to_owned(), Value::String(new.clone()));
                    return;
                }
                object.values_mut().for_each(|v| rename(v, renamed));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| rename(v, renamed)),
            _ => {}
        }
    }
    rename(request, &renamed);
    rename(registry, &renamed);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_outside_a_vocabulary_are_brought_into_it() {
        let vocabularies: yungui_policies::Vocabularies = [(
            "Cloud::Tenant".to_owned(),
            [(
                "status".to_owned(),
                vec!["active".to_owned(), "terminated".to_owned()],
            )]
            .into(),
        )]
        .into();
        let mut entity =
            json!({"uid": {"type": "Cloud::Tenant", "id": ""}, "attrs": {"status": "A"}});
        fit_entity(&mut entity, &vocabularies);
        assert_eq!(entity["attrs"]["status"], "active");
        let mut entity =
            json!({"uid": {"type": "Cloud::Tenant", "id": ""}, "attrs": {"status": "terminated"}});
        fit_entity(&mut entity, &vocabularies);
        assert_eq!(entity["attrs"]["status"], "terminated");
        let mut context = json!({"status": ["", "active", "B"]});
        fit(Some(&mut context), vocabularies.get("Cloud::Tenant"));
        assert_eq!(context["status"], json!(["active"]));
    }

    #[test]
    fn strings_that_are_no_domain_names_become_host_names() {
        let mut hosts = HostNames::default();
        let mut tenant = json!({"uid": {"type": "Cloud::Tenant", "id": ""},
            "attrs": {"icp_domains": ["", "shop.example.cn", "a b"]}});
        let mut domain = json!({"uid": {"type": "Cloud::Domain", "id": ""},
            "attrs": {"name": "", "suffixes": ["", "shop.example.cn"], "note": ""}});
        hosts.fit_entity(&mut tenant);
        hosts.fit_entity(&mut domain);
        assert_eq!(
            tenant["attrs"]["icp_domains"],
            json!(["name-1.example", "shop.example.cn", "name-2.example"])
        );
        assert_eq!(domain["attrs"]["name"], "name-1.example");
        assert_eq!(
            domain["attrs"]["suffixes"],
            json!(["name-1.example", "shop.example.cn"])
        );
        assert_eq!(domain["attrs"]["note"], "");
        assert!(is_host_name("*.example.cn"));
        assert!(!is_host_name("example..cn"));
    }

    #[test]
    fn notice_months_are_named_by_their_china_month() {
        assert_eq!(
            china_month("2026-01-31T16:00:00Z").as_deref(),
            Some("2026-02")
        );
        assert_eq!(
            china_month("2026-01-31T15:59:59Z").as_deref(),
            Some("2026-01")
        );
        let month = json!({"type": "Cloud::Month", "id": "month-1"});
        let mut request = json!({"resource": {"attrs": {
            "users_announced_at": "1970-01-01T00:00:00Z",
            "users_announced_month": month.clone(),
        }}});
        let mut registry = json!([{"uid": month, "attrs": {}}]);
        name_months(&mut request, &mut registry);
        assert_eq!(
            request["resource"]["attrs"]["users_announced_month"]["id"],
            "1970-01"
        );
        assert_eq!(registry[0]["uid"]["id"], "1970-01");
    }
}
