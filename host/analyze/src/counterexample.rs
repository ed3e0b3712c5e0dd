//! A counterexample as yungui's request JSON and as a golden case file.
//!
//! The solver names entities with empty or arbitrary ids, and writes datetimes as offsets from
//! the epoch; both are rewritten here into what a case author reads: ids such as `tenant-1`, and
//! datetimes as RFC 3339 instants.

use std::collections::{BTreeMap, BTreeSet};

use cedar_policy::{EntityUid, RequestEnv};
use cedar_policy_symcc::Env;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::input::{Input, environment_name};

/// A request and entities the solver found.
#[derive(Debug, Clone, Serialize)]
pub struct Counterexample {
    /// The request environment.
    pub environment: String,
    /// What it shows.
    pub description: String,
    /// The request, as yungui's engine reads it (`principal`, `action`, `resource` with its
    /// attributes, `context`, `entities`), with the registry entities beside it.
    pub request: serde_json::Value,
    /// The registry entities the request reaches.
    pub registry: serde_json::Value,
    /// Whether Cedar allows the request with the policies.
    pub allowed: bool,
}

impl Counterexample {
    pub(crate) fn from_env(
        input: &Input,
        env: &RequestEnv,
        found: &Env,
        description: String,
        allowed: bool,
    ) -> Self {
        let (request, registry) = request_json(found, &input.registry_types, &input.vocabularies);
        Self {
            environment: environment_name(env),
            description,
            request,
            registry,
            allowed,
        }
    }

    /// The counterexample as a golden case file (see `tests/cases/README.md`): the decision it
    /// must get once fixed is `expect.decision`; the controls that should deny are left for the
    /// author to fill in. Values the solver invented outside a closed vocabulary are brought into
    /// it (the engine refuses them as a bad request), which can change the decision: run the case.
    pub fn case(&self) -> serde_json::Value {
        case_json(self)
    }
}

/// The uid of an entity as the case files write it.
fn uid_json(uid: &EntityUid) -> serde_json::Value {
    serde_json::json!({"type": uid.type_name().to_string(), "id": uid.id().unescaped()})
}

/// Renames entity ids: (type, old id) → readable id, given in order of first sight.
#[derive(Debug, Default)]
struct Names {
    names: BTreeMap<(String, String), String>,
    per_type: BTreeMap<String, usize>,
}

impl Names {
    fn name(&mut self, ty: &str, id: &str) -> String {
        if let Some(name) = self.names.get(&(ty.to_owned(), id.to_owned())) {
            return name.clone();
        }
        let short = ty.rsplit("::").next().unwrap_or(ty).to_lowercase();
        let count = self.per_type.entry(short.clone()).or_insert(0);
        *count += 1;
        let name = format!("{short}-{count}");
        self.names
            .insert((ty.to_owned(), id.to_owned()), name.clone());
        name
    }

    /// Rewrites every entity reference (`{"type", "id"}` or `{"__entity": {...}}`) and every
    /// datetime in `value`.
    fn rewrite(&mut self, value: &mut Value) {
        match value {
            Value::Object(object) => {
                if let Some(inner) = object.get_mut("__entity") {
                    self.rewrite(inner);
                    let inner = inner.clone();
                    *value = inner;
                    return;
                }
                if let Some(text) = extension_text(object) {
                    *value = Value::String(text);
                    return;
                }
                if object.len() == 2
                    && let (Some(Value::String(ty)), Some(Value::String(id))) =
                        (object.get("type"), object.get("id"))
                {
                    if !ty.ends_with("::Action") {
                        let name = self.name(ty, id);
                        object.insert("id".to_owned(), Value::String(name));
                    }
                    return;
                }
                for item in object.values_mut() {
                    self.rewrite(item);
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.rewrite(item);
                }
            }
            _ => {}
        }
    }
}

/// An extension value (`{"__extn": {"fn": ..., "arg"/"args": ...}}`) as the string the case
/// files write: `datetime`, `duration`, `decimal`, `ip` take their argument; `offset(datetime,
/// duration)` is computed into an RFC 3339 instant.
fn extension_text(object: &Map<String, Value>) -> Option<String> {
    let extn = object.get("__extn")?.as_object()?;
    let function = extn.get("fn")?.as_str()?;
    if let Some(arg) = extn.get("arg") {
        return match arg {
            Value::String(text) => Some(text.clone()),
            Value::Object(inner) => extension_text(inner),
            _ => None,
        };
    }
    let args = extn.get("args")?.as_array()?;
    let text = |arg: &Value| match arg {
        Value::String(text) => Some(text.clone()),
        Value::Object(inner) => extension_text(inner),
        _ => None,
    };
    match (function, args.as_slice()) {
        ("offset", [base, by]) => offset_text(&text(base)?, &text(by)?),
        _ => None,
    }
}

/// `base` (an RFC 3339 date or instant) moved by `by` (a Cedar duration such as `1d2h3ms`),
/// as an RFC 3339 instant in UTC.
fn offset_text(base: &str, by: &str) -> Option<String> {
    let base_ms = parse_instant_ms(base)?;
    let by_ms = parse_duration_ms(by)?;
    format_instant_ms(base_ms.checked_add(by_ms)?)
}

fn parse_instant_ms(text: &str) -> Option<i64> {
    // Only the forms the solver writes: a date, or a date and time in UTC.
    let date = text.get(..10)?;
    let mut parts = date.split('-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    let mut ms = days_from_civil(year, month, day).checked_mul(86_400_000)?;
    if let Some(time) = text.get(11..19) {
        let mut hms = time.split(':');
        let h: i64 = hms.next()?.parse().ok()?;
        let m: i64 = hms.next()?.parse().ok()?;
        let s: i64 = hms.next()?.parse().ok()?;
        ms += ((h * 60 + m) * 60 + s) * 1000;
    }
    Some(ms)
}

fn parse_duration_ms(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let number: i64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let (unit, len) = if rest.starts_with("ms") {
            (1, 2)
        } else if rest.starts_with('d') {
            (86_400_000, 1)
        } else if rest.starts_with('h') {
            (3_600_000, 1)
        } else if rest.starts_with('m') {
            (60_000, 1)
        } else if rest.starts_with('s') {
            (1000, 1)
        } else {
            return None;
        };
        total = total.checked_add(number.checked_mul(unit)?)?;
        rest = rest.get(len..)?;
    }
    Some(if negative { -total } else { total })
}

fn format_instant_ms(ms: i64) -> Option<String> {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let (h, m, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    Some(if milli == 0 {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
    })
}

// Howard Hinnant's civil calendar algorithms (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Values outside a closed vocabulary (which the solver does not see, and the engine refuses as a
/// bad request) brought into it: a string becomes the vocabulary's first value, a set keeps only
/// the values in it.
fn fit(attrs: Option<&mut Value>, vocabulary: Option<&BTreeMap<String, Vec<String>>>) {
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

fn fit_entity(entity: &mut Value, vocabularies: &yungui_policies::Vocabularies) {
    let ty = entity
        .get("uid")
        .and_then(|uid| uid.get("type"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    fit(entity.get_mut("attrs"), vocabularies.get(&ty));
}

/// The request (as the engine reads it) and the registry entities of a counterexample.
pub(crate) fn request_json(
    found: &Env,
    registry_types: &BTreeSet<String>,
    vocabularies: &yungui_policies::Vocabularies,
) -> (Value, Value) {
    let mut names = Names::default();
    let entity_json = found
        .entities
        .to_json_value()
        .unwrap_or_else(|e| json!([{"error": e.to_string()}]));
    let uid_of = |uid: Option<&EntityUid>| uid.map_or(Value::Null, uid_json);
    let principal = uid_of(found.request.principal());
    let resource = uid_of(found.request.resource());
    let action = found.request.action().map_or(Value::Null, |a| {
        Value::String(a.id().unescaped().to_owned())
    });
    let context = found
        .request
        .context()
        .map(|c| {
            c.to_json_value()
                .unwrap_or_else(|e| json!({"error": e.to_string()}))
        })
        .unwrap_or_else(|| json!({}));

    let mut registry = Vec::new();
    let mut scoped = Vec::new();
    let mut resource_entity = None;
    for entity in entity_json.as_array().cloned().unwrap_or_default() {
        let uid = entity.get("uid").cloned().unwrap_or(Value::Null);
        let ty = uid
            .get("type")
            .or_else(|| uid.get("__entity").and_then(|e| e.get("type")))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let same = |other: &Value| {
            other.get("type") == uid.get("type") && other.get("id") == uid.get("id")
        };
        if ty.ends_with("::Action") {
            continue;
        }
        if same(&resource) {
            resource_entity = Some(entity);
        } else if registry_types.contains(&ty) {
            registry.push(entity);
        } else {
            scoped.push(entity);
        }
    }
    let resource_entity = resource_entity
        .unwrap_or_else(|| json!({"uid": resource.clone(), "attrs": {}, "parents": []}));
    // Names in a stable order: principal, resource, then the rest as they come.
    let mut request = json!({
        "principal": principal,
        "action": action,
        "resource": resource_entity,
        "context": context,
        "entities": scoped,
    });
    for entity in &mut registry {
        fit_entity(entity, vocabularies);
    }
    if let Some(resource) = request.get_mut("resource") {
        fit_entity(resource, vocabularies);
    }
    if let Some(Value::Array(scoped)) = request.get_mut("entities") {
        for entity in scoped {
            fit_entity(entity, vocabularies);
        }
    }
    fit(
        request.get_mut("context"),
        vocabularies.get(yungui_policies::CONTEXT),
    );
    let mut registry = Value::Array(registry);
    names.rewrite(&mut request);
    names.rewrite(&mut registry);
    (request, registry)
}

/// The counterexample as a golden case.
pub(crate) fn case_json(counterexample: &Counterexample) -> Value {
    let expect = if counterexample.allowed {
        // Allowed, but the property says it must not be: the fix makes it a denial, by controls
        // the author names.
        json!({"decision": "deny", "denials": []})
    } else {
        json!({"decision": "allow", "denials": []})
    };
    json!({
        "description": format!("{} [{}]", counterexample.description, counterexample.environment),
        "entities": counterexample.registry,
        "request": counterexample.request,
        "expect": expect,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_instants() {
        assert_eq!(
            offset_text("1970-01-01", "86400000ms").as_deref(),
            Some("1970-01-02T00:00:00Z")
        );
        assert_eq!(
            offset_text("1970-01-01", "-1ms").as_deref(),
            Some("1969-12-31T23:59:59.999Z")
        );
        assert_eq!(
            offset_text("2026-11-30T08:00:00Z", "1d2h").as_deref(),
            Some("2026-12-01T10:00:00Z")
        );
        assert_eq!(offset_text("1970-01-01", "9999999999999999ms"), None);
    }

    #[test]
    fn extension_values_become_strings() {
        let mut names = Names::default();
        let mut value = json!({
            "now": {"__extn": {"fn": "offset", "args": ["1970-01-01", "1d"]}},
            "at": {"__extn": {"fn": "offset", "args": [
                {"__extn": {"fn": "datetime", "arg": "1970-01-01"}},
                {"__extn": {"fn": "duration", "arg": "2h"}}
            ]}},
            "far": {"__extn": {"fn": "offset", "args": ["1970-01-01", "9223372036825980927ms"]}},
            "three_months": {"__extn": {"fn": "duration", "arg": "90d"}},
        });
        names.rewrite(&mut value);
        assert_eq!(value["now"], "1970-01-02T00:00:00Z");
        assert_eq!(value["at"], "1970-01-01T02:00:00Z");
        assert_eq!(value["three_months"], "90d");
        // Beyond year 9999 RFC 3339 has no form: Cedar's own stays.
        assert_eq!(value["far"]["__extn"]["fn"], "offset");
    }

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
    fn entity_ids_are_named_by_type() {
        let mut names = Names::default();
        let mut value = json!({
            "principal": {"type": "Cloud::Tenant", "id": ""},
            "owner": {"__entity": {"type": "Cloud::Tenant", "id": ""}},
            "other": {"type": "Cloud::Tenant", "id": "x"},
            "action": {"type": "Cloud::Action", "id": "export_data"},
        });
        names.rewrite(&mut value);
        assert_eq!(value["principal"]["id"], "tenant-1");
        assert_eq!(value["owner"]["id"], "tenant-1");
        assert_eq!(value["other"]["id"], "tenant-2");
        assert_eq!(value["action"]["id"], "export_data");
    }
}
