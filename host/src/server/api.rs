//! The raw decision API, for custom schedulers and scripts.
//!
//! - `POST /v1/decide`: one request in the JSON request format; the report (`decision`,
//!   `denials`, `warnings`, with control ids, articles, reasons and obligations) back. 200 for a
//!   decision (allow or deny), 400 for a malformed request (the message names the field), 503 when
//!   no decision could be reached (a fault: callers must deny).
//! - `POST /v1/decide/batch`: `{"requests": [...]}` in, `{"decisions": [...]}` back in the same
//!   order, each as `/v1/decide` would answer it (a scheduler scoring candidate hosts).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{AppState, Decide, ServeError};
use crate::report::{ErrorReport, Outcome, Report};
use crate::request::{fill_now, now_utc};

/// Requests one batch may hold.
pub const MAX_BATCH: usize = 1_000;

/// The API's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/decide", post(decide))
        .route("/v1/decide/batch", post(batch))
}

async fn decide(State(state): State<AppState>, body: String) -> Response {
    let report = decide_one(&state, body).await;
    (status(&report), Json(report)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    requests: Vec<Box<RawValue>>,
}

async fn batch(State(state): State<AppState>, body: String) -> Response {
    let batch: Batch = match serde_json::from_str(&body) {
        Ok(batch) => batch,
        Err(err) => {
            return bad_request(format!(
                "the batch is not valid: {err}: send {{\"requests\": [request, ...]}}"
            ));
        }
    };
    if batch.requests.len() > MAX_BATCH {
        return bad_request(format!(
            "the batch holds {} requests, more than the limit of {MAX_BATCH}: split it",
            batch.requests.len()
        ));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (index, request) in batch.requests.into_iter().enumerate() {
        let state = state.clone();
        let text = request.get().to_owned();
        tasks.spawn(async move { (index, decide_one(&state, text).await) });
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

async fn decide_one(state: &AppState, body: String) -> Report {
    // A body that is not JSON goes to the component as it is, which names the problem.
    let request = fill_now(&body, &now_utc()).unwrap_or(body);
    match state.decide("api", Decide::Json(request)).await {
        Ok(decision) => Report::new(&Ok(decision)),
        Err(ServeError::Engine(err)) => Report::new(&Err(err)),
        Err(err) => fault(err.to_string()),
    }
}

fn fault(message: String) -> Report {
    Report {
        decision: Outcome::Error,
        denials: Vec::new(),
        warnings: Vec::new(),
        error: Some(ErrorReport {
            kind: "plugin_fault",
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
