//! The application: every front end's routes, the health endpoints (`/healthz`, `/readyz`,
//! `/metrics`), the body limits, and the count of every answer by front end.

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::front::Front;
use crate::state::AppState;
use crate::{api, conn, kubernetes, metrics, openstack};

/// Request bodies larger than this are refused with 413 (the Kubernetes API server sends at most
/// 3 MiB).
pub const MAX_BODY: usize = 4 << 20;
/// The whole application: every front end and the health endpoints.
pub fn router(state: AppState) -> Router {
    router_with(state, conn::BodyTimes::with_grace(Duration::from_secs(10)))
}

/// [`router`], with the time a body has to arrive.
pub fn router_with(state: AppState, body_times: conn::BodyTimes) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .merge(api::routes())
        .merge(kubernetes::routes())
        .merge(openstack::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            conn::Reading::new(body_times, MAX_BODY, state.metrics.clone()),
            conn::read_body,
        ))
        // Outermost, so that the answers of the layers inside (a body too slow: 408) count too.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_answers,
        ))
        .with_state(state)
}

/// Counts every answer of every front end (`yungui_answers_total`), whatever happened to the
/// request: decided, refused before the engine (malformed, unmapped, too large), or faulted.
async fn count_answers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let front = Front::of_path(request.uri().path());
    let response = next.run(request).await;
    if let Some(front) = front {
        let status = response.status();
        let answer = response.extensions().get::<metrics::Answer>().map_or(
            if status.is_success() {
                "none"
            } else {
                "refuse"
            },
            |a| a.0,
        );
        state.metrics.answer(front, status.as_u16(), answer);
    }
    response
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    // A registry in a database that cannot be used (not reached yet, or out of reach past its
    // staleness bound) makes every decision fail: not ready, and why.
    let registry_down = state.engine().and_then(|engine| {
        engine
            .registry()
            .database()
            .and_then(|db| db.status().err())
    });
    if let Some(why) = registry_down {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        );
    }
    match state.engine() {
        Some(engine) => (
            StatusCode::OK,
            format!(
                "ready: component sha256 {}, policy digest {}, registry generation {} of {} entities\n{}{}{}",
                engine.sha256(),
                engine.policy_digest(),
                engine.registry().generation(),
                engine.registry().len(),
                state
                    .origin()
                    .map(|origin| format!("component from {origin}\n"))
                    .unwrap_or_default(),
                state
                    .reload_failure()
                    .map(|why| format!("{why}; the component above stays in force\n"))
                    .unwrap_or_default(),
                state
                    .registry_failure()
                    .map(|why| format!("the last registry reload was refused: {why}\n"))
                    .unwrap_or_default()
            ),
        ),
        // The first component refused (a bad file, or an artefact from a registry that does not
        // verify): no decision until one loads.
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            match state.reload_failure() {
                Some(why) => format!("not ready: {why}\n"),
                None => "not ready: the policy component is loading\n".to_owned(),
            },
        ),
    }
}

async fn metrics_text(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let format =
        metrics::Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    if let Some(engine) = state.engine() {
        state.metrics.set_instantiations(engine.instantiations());
        state.metrics.set_registry(&engine);
    }
    (
        [(header::CONTENT_TYPE, format.content_type())],
        state.metrics.encode_as(format),
    )
}
