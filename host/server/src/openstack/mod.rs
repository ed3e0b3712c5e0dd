//! OpenStack: oslo.policy's `http:` / `https:` check at `/openstack`.
//!
//! oslo.policy (`oslo_policy/_external.py`) posts `rule`, `target` and `credentials`, either as a
//! form whose fields are JSON-encoded strings (`remote_content_type`'s default,
//! `application/x-www-form-urlencoded`) or as one JSON object (`application/json`), to the URL of
//! the check after `%(key)s` substitution from the target. It allows only when the body is
//! exactly `True`. So every answer is `True` or `False`, and every `False` is logged with why: the
//! controls that fired, the unknown rule, or what was malformed.
//!
//! Tenant: `credentials.project_id`, else `target.project_id` (a project id that is not a string
//! is refused, never skipped). Region: the target's availability zone through
//! `--openstack-zone-map` (a zone the map lacks is refused and logged); a target without a zone,
//! or any zone when no map is given (a one-region deployment), is in `--openstack-region`. Action and resource: the rule
//! map (`rules.rs`, shipped as `deploy/openstack/rules.json`).

pub mod rules;

use std::collections::BTreeMap;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::metrics::Answer;
use super::{AppState, Decide, Entry, Front};
pub use rules::{Refusal, RuleMap, RuleMapError};
use yungui::request::now_utc;

/// The OpenStack front end's configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The default region.
    pub region: String,
    /// Availability zone → region.
    pub zones: BTreeMap<String, String>,
    /// The rule map.
    pub rules: RuleMap,
}

/// Why the OpenStack front end cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No region was named.
    #[error("the OpenStack region is empty: name the region of this OpenStack")]
    EmptyRegion,
    /// The rule map cannot be used.
    #[error(transparent)]
    Rules(#[from] RuleMapError),
    /// The zone map cannot be used.
    #[error(transparent)]
    ZoneMap(#[from] crate::RegionMapError),
}

impl Config {
    /// The front end for the region `region`, with the rule map in the file `rules` (else the
    /// shipped one) and the zone map in the file `zone_map` (else every availability zone is in
    /// `region`).
    pub fn load(
        region: &str,
        rules: Option<&std::path::Path>,
        zone_map: Option<&std::path::Path>,
    ) -> Result<Self, ConfigError> {
        if region.trim().is_empty() {
            return Err(ConfigError::EmptyRegion);
        }
        let rules = match rules {
            Some(path) => RuleMap::from_file(path)?,
            None => RuleMap::shipped()?,
        };
        let zones = match zone_map {
            Some(path) => {
                super::region_map::read(path, "availability zone", "--openstack-zone-map")?
            }
            None => {
                tracing::info!(
                    target: "yungui::openstack",
                    region = %region,
                    "no zone map: every availability zone is taken to be in the default region"
                );
                BTreeMap::new()
            }
        };
        Ok(Self {
            region: region.to_owned(),
            zones,
            rules,
        })
    }

    /// The region of an availability zone. A target without a zone is in the default region;
    /// without a zone map, so is every zone (one region per deployment, logged at start); with a
    /// zone map, a zone it lacks is refused: it could be anywhere, abroad included.
    pub fn region_of(&self, zone: Option<&str>) -> Result<String, Refusal> {
        match zone {
            None => Ok(self.region.clone()),
            Some(_) if self.zones.is_empty() => Ok(self.region.clone()),
            Some(zone) => self
                .zones
                .get(zone)
                .cloned()
                .ok_or_else(|| Refusal::UnknownZone(zone.to_owned())),
        }
    }
}

/// The oslo.policy routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/openstack", post(check_root))
        .route("/openstack/{*rest}", post(check_path))
}

async fn check_root(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    check(state, String::new(), headers, body).await
}

async fn check_path(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    check(state, rest, headers, body).await
}

/// One oslo.policy check, however it was encoded.
#[derive(Debug, Deserialize)]
struct Check {
    rule: Option<String>,
    target: Map<String, Value>,
    credentials: Map<String, Value>,
}

/// The form encoding: each field a JSON-encoded string.
#[derive(Debug, Deserialize)]
struct FormCheck {
    rule: String,
    target: String,
    credentials: String,
}

async fn check(state: AppState, path: String, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    let uid = headers
        .get("x-openstack-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let check = match parse(&headers, body).await {
        Ok(check) => check,
        Err(why) => {
            tracing::warn!(
                target: "yungui::openstack",
                uid, path, "answering False: the check's body is malformed: {why}"
            );
            return answer(StatusCode::BAD_REQUEST, false);
        }
    };
    let Some(rule) = check.rule.filter(|r| !r.is_empty()) else {
        tracing::warn!(
            target: "yungui::openstack",
            uid, path, "answering False: the check names no `rule` (oslo.policy sends the rule being enforced)"
        );
        return answer(StatusCode::BAD_REQUEST, false);
    };
    let config = &state.openstack;
    let region_of = |zone: Option<&str>| config.region_of(zone);
    let built = match config.rules.build(
        &rule,
        &check.target,
        &check.credentials,
        &region_of,
        &now_utc(),
    ) {
        Ok(built) => built,
        Err(refusal) => {
            tracing::warn!(
                target: "yungui::openstack",
                uid, path, rule, "answering False: {refusal}"
            );
            return refused(answer(StatusCode::OK, false));
        }
    };
    let tenant = built.tenant;
    let action = built.action;
    let result = state
        .decide(Front::OpenStack, Decide::Typed(built.request))
        .await;
    let entry = Entry {
        front: Front::OpenStack,
        uid: &uid,
        tenant: &tenant,
        kind: &rule,
        action: &action,
        dry_run: false,
    };
    state.answered(&entry, &result, started);
    match &result {
        Ok(decision) if decision.allowed => {
            if !decision.warnings.is_empty() {
                tracing::info!(
                    target: "yungui::openstack",
                    uid, path, rule, tenant, action,
                    "allowed with warnings: {}", findings(&decision.warnings)
                );
            }
            answer(StatusCode::OK, true)
        }
        Ok(decision) => {
            tracing::info!(
                target: "yungui::openstack",
                uid, path, rule, tenant, action,
                "answering False: denied by {}", findings(&decision.denials)
            );
            answer(StatusCode::OK, false)
        }
        Err(err) => {
            tracing::warn!(
                target: "yungui::openstack",
                uid, path, rule, tenant, action,
                "answering False: no decision ({}): {err}", err.kind()
            );
            refused(answer(StatusCode::OK, false))
        }
    }
}

/// `control (art. N): reason; …`
fn findings(findings: &[yungui::types::Finding]) -> String {
    findings
        .iter()
        .map(|f| format!("{} (art. {}): {}", f.control, f.article, f.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

fn answer(status: StatusCode, allowed: bool) -> Response {
    let said = match (allowed, status.is_success()) {
        (true, _) => "allow",
        (false, true) => "deny",
        (false, false) => "refuse",
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        axum::Extension(Answer(said)),
        if allowed { "True" } else { "False" },
    )
        .into_response()
}

/// A `False` that is no policy decision (an unmapped rule, a fault), as the metrics count it.
fn refused(mut response: Response) -> Response {
    response.extensions_mut().insert(Answer("refuse"));
    response
}

/// Reads the check from a JSON or form body. Without a content type, a body that starts with
/// `{` is JSON, anything else a form.
async fn parse(headers: &HeaderMap, body: Bytes) -> Result<Check, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let json = if content_type.starts_with("application/json") {
        true
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        false
    } else {
        body.iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{')
    };
    if json {
        yungui_policies::json::check(&body).map_err(|err| format!("the JSON body: {err}"))?;
        return serde_json::from_slice::<Check>(&body).map_err(|err| {
            format!(
                "the JSON body is not {{\"rule\": …, \"target\": {{…}}, \"credentials\": {{…}}}}: {err}"
            )
        });
    }
    let request = axum::http::Request::builder()
        .method("POST")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .map_err(|err| err.to_string())?;
    let axum::Form(form) = axum::Form::<FormCheck>::from_request(request, &())
        .await
        .map_err(|err| {
            format!(
                "the form body lacks `rule`, `target` or `credentials`: {}",
                err.body_text()
            )
        })?;
    for (name, field) in [
        ("rule", &form.rule),
        ("target", &form.target),
        ("credentials", &form.credentials),
    ] {
        yungui_policies::json::check(field.as_bytes())
            .map_err(|err| format!("field `{name}`: {err}"))?;
    }
    let rule: Option<String> = serde_json::from_str(&form.rule)
        .map_err(|err| format!("field `rule` is not a JSON-encoded string: {err}"))?;
    let target: Map<String, Value> = serde_json::from_str(&form.target)
        .map_err(|err| format!("field `target` is not a JSON-encoded object: {err}"))?;
    let credentials: Map<String, Value> = serde_json::from_str(&form.credentials)
        .map_err(|err| format!("field `credentials` is not a JSON-encoded object: {err}"))?;
    Ok(Check {
        rule,
        target,
        credentials,
    })
}
