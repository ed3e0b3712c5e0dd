//! The raw decision API, for custom schedulers and scripts.
//!
//! - `POST /v1/decide`: one request in the JSON request format; the report (`decision`,
//!   `denials`, `warnings`, with control ids, articles, reasons and obligations) back. 200 for a
//!   decision (allow or deny), 400 for a malformed request (the message names the field), 503 when
//!   no decision could be reached (a fault: callers must deny).
//! - `POST /v1/decide/batch`: `{"requests": [...]}` in, `{"decisions": [...]}` back in the same
//!   order, each as `/v1/decide` would answer it (a scheduler scoring candidate hosts).
//!
//! `context.now` is the server's clock: a caller's `now` more than
//! [`yungui::request::MAX_CLOCK_SKEW_SECS`] away is a bad request. A request past a bound of
//! [`yungui::limits`] or with a duplicate key is a bad request naming it.
//!
//! Every decision is written to the decision log (front `api`, tenant = the principal's id, uid =
//! the `X-Request-Id` header).

use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::metrics::Answer;
use super::{AppState, Entry, Front, ServeError};
use yungui::report::{ErrorReport, Outcome, Report};
use yungui::request::{now_secs, server_now};

/// Requests one batch may hold.
pub const MAX_BATCH: usize = 1_000;

/// The API's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/decide", post(decide))
        .route("/v1/decide/batch", post(batch))
}

async fn decide(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match utf8(body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let report = decide_one(&state, &request_id(&headers), body).await;
    let answer = Answer(match report.decision {
        Outcome::Allow => "allow",
        Outcome::Deny => "deny",
        Outcome::Error => "refuse",
    });
    (status(&report), Extension(answer), Json(report)).into_response()
}

/// The batch's outer shape; `requests` is read in a second step so a wrong type names it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    requests: Box<RawValue>,
}

async fn batch(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let body = match utf8(body) {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let batch: Batch = match serde_json::from_str(&body) {
        Ok(batch) => batch,
        Err(err) => {
            return bad_request(format!(
                "the batch is not valid: {err}: send {{\"requests\": [request, ...]}}"
            ));
        }
    };
    let requests: Vec<Box<RawValue>> = match serde_json::from_str(batch.requests.get()) {
        Ok(requests) => requests,
        Err(err) => {
            return bad_request(format!(
                "field `requests` is not a list of requests: {err}: send {{\"requests\": [request, ...]}}"
            ));
        }
    };
    if requests.len() > MAX_BATCH {
        return bad_request(format!(
            "field `requests` holds {} requests, more than the limit of {MAX_BATCH}: split the batch",
            requests.len()
        ));
    }
    let uid: Arc<str> = request_id(&headers).into();
    let mut tasks = tokio::task::JoinSet::new();
    for (index, request) in requests.into_iter().enumerate() {
        let state = state.clone();
        let uid = uid.clone();
        let text = request.get().to_owned();
        tasks.spawn(async move { (index, decide_one(&state, &uid, text).await) });
    }
    let mut decisions: Vec<Option<Report>> = Vec::new();
    decisions.resize_with(tasks.len(), || None);
    while let Some(joined) = tasks.join_next().await {
        if let Ok((index, report)) = joined
            && let Some(slot) = decisions.get_mut(index)
        {
            *slot = Some(report);
        }
    }
    let decisions: Vec<Report> = decisions
        .into_iter()
        .map(|r| r.unwrap_or_else(|| fault("the decision task failed".to_owned())))
        .collect();
    Json(serde_json::json!({ "decisions": decisions })).into_response()
}

async fn decide_one(state: &AppState, uid: &str, body: String) -> Report {
    let started = Instant::now();
    let server_secs = now_secs();
    // Reading the body, bounding it and deciding all run under one of the API's permits, off the
    // async runtime: a large body costs its caller's permit, not everyone's runtime threads.
    let ((tenant, action), result) = state
        .decide_with(Front::Api, move |engine| {
            match prepare(&body, server_secs, engine.registry().database().is_some()) {
                Ok(prepared) => {
                    let result = engine
                        .decide_json(&prepared.request)
                        .map_err(ServeError::from);
                    ((prepared.tenant, prepared.action), result)
                }
                Err(err) => (Default::default(), Err(err)),
            }
        })
        .await;
    let entry = Entry {
        front: Front::Api,
        uid,
        tenant: &tenant,
        kind: "",
        action: &action,
        dry_run: false,
    };
    state.answered(&entry, &result, started);
    match result {
        Ok(decision) => Report::new(&Ok(decision)),
        Err(ServeError::Engine(err)) => Report::new(&Err(err)),
        Err(err) => Report {
            decision: Outcome::Error,
            denials: Vec::new(),
            warnings: Vec::new(),
            error: Some(ErrorReport {
                kind: err.kind(),
                message: err.to_string(),
            }),
        },
    }
}

/// A request ready for the component, and what the decision log records of it.
struct Prepared {
    request: String,
    tenant: String,
    action: String,
}

/// Reads the body strictly (a duplicate key is refused, naming it), checks it against the bounds
/// of [`yungui::limits`], sets `context.now` from the server's clock (a caller's `now` is refused
/// unless within [`yungui::request::MAX_CLOCK_SKEW_SECS`]), and reads the principal's id and the
/// action for the decision log. With a registry in PostgreSQL (`database`), a NUL character is
/// refused (see [`yungui::limits::HoldsNul`]).
fn prepare(body: &str, server_secs: u64, database: bool) -> Result<Prepared, ServeError> {
    let value = yungui::limits::read_json(body).map_err(ServeError::BadRequest)?;
    if database {
        yungui::limits::refuse_nul_json(&value)
            .map_err(|err| ServeError::BadRequest(err.to_string()))?;
    }
    let Value::Object(mut map) = value else {
        return Err(ServeError::BadRequest(
            "the request is not a JSON object: send {\"principal\": …, \"action\": …, \"resource\": …}".to_owned(),
        ));
    };
    let tenant = map
        .get("principal")
        .and_then(|p| p.get("id"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let action = map
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match map
        .entry("context")
        .or_insert_with(|| Value::Object(serde_json::Map::new()))
    {
        Value::Object(context) => {
            let now =
                server_now(context.get("now"), server_secs).map_err(ServeError::BadRequest)?;
            context.insert("now".to_owned(), Value::String(now));
        }
        other => {
            return Err(ServeError::BadRequest(format!(
                "`context` is `{other}`, not an object of attributes"
            )));
        }
    }
    let request = serde_json::to_string(&map).map_err(|err| {
        ServeError::BadRequest(format!("the request cannot be written back: {err}"))
    })?;
    Ok(Prepared {
        request,
        tenant,
        action,
    })
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn utf8(body: Bytes) -> Result<String, Box<Response>> {
    String::from_utf8(body.to_vec()).map_err(|err| {
        Box::new(bad_request(format!(
            "the body is not UTF-8 text: {err}: send JSON"
        )))
    })
}

fn fault(message: String) -> Report {
    Report {
        decision: Outcome::Error,
        denials: Vec::new(),
        warnings: Vec::new(),
        error: Some(ErrorReport {
            kind: "task",
            message,
        }),
    }
}

fn status(report: &Report) -> StatusCode {
    match &report.error {
        None => StatusCode::OK,
        Some(err) if err.kind == "bad_request" => StatusCode::BAD_REQUEST,
        Some(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn bad_request(message: String) -> Response {
    let report = Report {
        decision: Outcome::Error,
        denials: Vec::new(),
        warnings: Vec::new(),
        error: Some(ErrorReport {
            kind: "bad_request",
            message,
        }),
    };
    (StatusCode::BAD_REQUEST, Json(report)).into_response()
}
