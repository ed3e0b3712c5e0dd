//! The one pipeline every front end's decisions go through, so that the front ends only parse,
//! map and render:
//!
//! 1. [`AppState::decide`] (or `decide_with`, for the raw API, which reads its request under the
//!    permit): one of the front end's permits, the blocking pool, the bounds of
//!    [`yungui::limits`], the engine. Each call is counted by front end and outcome, with its
//!    latency and, for a fault, its kind.
//! 2. `answered`, once per answer (a review may ask for several decisions, or none): the controls
//!    that fired, each counted once, and one line of the decision log ([`crate::decision_log`]).

use std::time::Instant;

use yungui::bindings::types;
use yungui::engine::Engine;

use crate::decision_log::{Entry, log_decision};
use crate::error::ServeError;
use crate::front::Front;
use crate::state::AppState;

/// What to decide.
#[derive(Debug)]
#[non_exhaustive]
pub enum Decide {
    /// A typed request (the adapters build these).
    Typed(types::Request),
    /// A request in the JSON request format.
    Json(String),
}

impl AppState {
    /// Decides on the blocking pool, bounded by the front end's permits, and records the metrics.
    /// The request is checked against [`yungui::limits`] first.
    #[doc(hidden)]
    pub async fn decide(
        &self,
        front: Front,
        request: Decide,
    ) -> Result<types::Decision, ServeError> {
        self.decide_with(front, move |engine| ((), checked(engine, request)))
            .await
            .1
    }

    /// Runs `decide` (which reads the request, and decides) on the blocking pool, bounded by the
    /// front end's permits, and records the metrics; what it read for the decision log comes back
    /// with the decision (the default when it could not run).
    pub(crate) async fn decide_with<M: Default + Send + 'static>(
        &self,
        front: Front,
        decide: impl FnOnce(&Engine) -> (M, Result<types::Decision, ServeError>) + Send + 'static,
    ) -> (M, Result<types::Decision, ServeError>) {
        let started = Instant::now();
        let (read, result) = self
            .run(front, decide)
            .await
            .unwrap_or_else(|err| (M::default(), Err(err)));
        self.metrics.record(front, &result, started.elapsed());
        (read, result)
    }

    /// Records an answer (`result`: its decisions as one) begun at `started`: the controls that
    /// fired, each counted once, and one line of the decision log.
    pub(crate) fn answered(
        &self,
        entry: &Entry<'_>,
        result: &Result<types::Decision, ServeError>,
        started: Instant,
    ) {
        self.metrics.record_controls(result);
        log_decision(self, entry, result, started.elapsed());
    }

    /// Runs `f` with the engine on the blocking pool, holding one of the front end's permits.
    #[doc(hidden)]
    pub async fn run<T: Send + 'static>(
        &self,
        front: Front,
        f: impl FnOnce(&Engine) -> T + Send + 'static,
    ) -> Result<T, ServeError> {
        let engine = self.engine().ok_or(ServeError::NotReady)?;
        let _permit = self
            .permits
            .of(front)
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| ServeError::Task(e.to_string()))?;
        tokio::task::spawn_blocking(move || f(&engine))
            .await
            .map_err(|e| ServeError::Task(e.to_string()))
    }
}

/// Checks `request` against [`yungui::limits`], then decides it.
fn checked(engine: &Engine, request: Decide) -> Result<types::Decision, ServeError> {
    // A registry in PostgreSQL cannot hold a NUL: such an id is the caller's error,
    // not a fault of the database.
    let database = engine.registry().database().is_some();
    let nul = |err: yungui::limits::HoldsNul| ServeError::BadRequest(err.to_string());
    match request {
        Decide::Typed(request) => {
            yungui::limits::check_typed(&request)?;
            if database {
                yungui::limits::refuse_nul_typed(&request).map_err(nul)?;
            }
            Ok(engine.decide(&request)?)
        }
        Decide::Json(request) => {
            let value = yungui::limits::read_json(&request).map_err(ServeError::BadRequest)?;
            if database {
                yungui::limits::refuse_nul_json(&value).map_err(nul)?;
            }
            Ok(engine.decide_json(&request)?)
        }
    }
}
