//! oslo.policy's `http:` check end to end: any bytes POSTed to `/openstack` of the real router,
//! form-encoded, JSON, or without a content type (the first input byte chooses; the rest is the
//! body). Never a panic; only 200, or 400 for a malformed body; the answer exactly `True` or
//! `False` (oslo.policy allows only on `True`); `True` only for a body that carried a mapped
//! `rule`, a `target` and `credentials` that parse, and a project the registry holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use yungui_fuzz::server::{self, post};
use yungui_server::openstack::RuleMap;

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

fuzz_target!(init: server::init(), |data: &[u8]| {
    let Some((first, body)) = data.split_first() else {
        return;
    };
    let content_type = match first % 3 {
        0 => Some(FORM),
        1 => Some(JSON),
        _ => None,
    };
    let answer = post("/openstack", content_type, body);
    let text = String::from_utf8_lossy(&answer.body);
    match answer.status {
        200 | 400 => assert!(text == "True" || text == "False", "status {}: {text:?}", answer.status),
        413 => assert_ne!(text, "True"),
        status => panic!("status {status}: {text:?}"),
    }
    if text != "True" {
        return;
    }
    assert_eq!(answer.status, 200);
    // As the front end reads it: a JSON content type, or none and a body that starts with `{`.
    let json = match content_type {
        Some(t) => t == JSON,
        None => body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{'),
    };
    let (rule, target, credentials) = carried(json, body)
        .unwrap_or_else(|| panic!("True for a body without a rule, a target and credentials"));
    assert!(
        RuleMap::shipped().is_ok_and(|map| map.rules.contains_key(&rule)),
        "True for rule `{rule}`, which is not in the rule map"
    );
    let project = [(&credentials, "project_id"), (&target, "project_id"), (&target, "tenant_id")]
        .into_iter()
        .find_map(|(map, key)| map.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()))
        .unwrap_or_else(|| panic!("True without a project"));
    assert!(
        server::registry().get("Cloud::Tenant", project).is_some(),
        "True for project `{project}`, which is not in the registry"
    );
});

/// The rule, target and credentials of a check, however it was encoded; `None` if it lacks one.
fn carried(json: bool, body: &[u8]) -> Option<(String, Map<String, Value>, Map<String, Value>)> {
    if json {
        let check: Value = serde_json::from_slice(body).ok()?;
        return Some((
            check.get("rule")?.as_str()?.to_owned(),
            check.get("target")?.as_object()?.clone(),
            check.get("credentials")?.as_object()?.clone(),
        ));
    }
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    Some((
        serde_json::from_str(field("rule")?).ok()?,
        serde_json::from_str(field("target")?).ok()?,
        serde_json::from_str(field("credentials")?).ok()?,
    ))
}
