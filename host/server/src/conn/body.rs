//! Reading a request's body before any handler runs: its time limits ([`BodyTimes`]), its size
//! limit, and a peer's bodies read a few at a time at a bounded rate ([`PeerBodies`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::table::Receiving;
use super::throttle::{LOG_EVERY, Throttle};

/// How the raw API's and OpenStack's bodies of one peer are read: a few at a time, at a bounded
/// rate together (a request extension set by [`serving`](super::serving), used by [`read_body`]).
#[derive(Debug, Clone)]
pub struct PeerBodies {
    pub(super) places: Arc<Semaphore>,
    pub(super) rate: Arc<Rate>,
}

/// A byte rate shared by a peer's bodies: a token bucket holding at most one second's bytes.
#[derive(Debug)]
pub(super) struct Rate {
    per_sec: f64,
    state: Mutex<(Instant, f64)>,
}

impl Rate {
    pub(super) fn new(per_sec: u64) -> Self {
        #[allow(
            clippy::cast_precision_loss,
            reason = "a rate in bytes a second, far below 2^52"
        )]
        let per_sec = per_sec.max(1) as f64;
        Self {
            per_sec,
            state: Mutex::new((Instant::now(), per_sec)),
        }
    }

    /// Takes `bytes` read at `now`: how long to wait before reading more.
    pub(super) fn take(&self, bytes: usize, now: Instant) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (last, tokens) = &mut *state;
        let refill = now.saturating_duration_since(*last).as_secs_f64() * self.per_sec;
        #[allow(
            clippy::cast_precision_loss,
            reason = "a frame's length, far below 2^52"
        )]
        let bytes = bytes as f64;
        *tokens = (*tokens + refill).min(self.per_sec) - bytes;
        *last = now;
        if *tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-*tokens / self.per_sec)
        }
    }
}

/// How much of a body past the limit is read and thrown away before the 413 is sent, so that a
/// client still writing its body finishes and reads the answer: closing a socket with unread
/// data makes the kernel reset the connection, and the client sees "broken pipe" or "connection
/// reset" instead of the 413 (the lingering close of nginx and Apache). A body larger still is
/// cut: the answer is sent and the connection closed. Kept small: a caller sending oversized bodies
/// should not get more of the server's reading time than a caller sending allowed ones.
pub const DRAIN_PAST_LIMIT: usize = 4 << 20;

/// How long a request's body may take to arrive, in the manner of Apache's `mod_reqtimeout`
/// (`body=10-30,MinRate=8192`): every body has `grace`, each `min_rate` bytes received earn it one
/// second more, and none gets past `max`. A body arriving at `min_rate` or faster is therefore
/// never cut before `max`, nor is one that arrives whole within `grace`, however slowly; one that
/// trickles below the floor is answered 408 soon after `grace`, and its connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTimes {
    /// Time every body has, whatever its rate (`--body-timeout-secs`).
    pub grace: Duration,
    /// Bytes a second: each this many bytes received earn one second (`--body-min-kib-per-sec`).
    pub min_rate: u64,
    /// Time no body gets past (`--body-max-secs`).
    pub max: Duration,
}

/// The default floor (KiB a second) of a body's rate once its grace is spent: 64 kbit/s, far
/// below any link between an API server and its webhooks. With the defaults (10 s, 8 KiB/s,
/// 30 s), a body whole within 10 s is never cut, whatever its size (as before the floor), and one
/// arriving at 8 KiB/s or faster is never cut before 30 s, when the API server stops waiting
/// anyway (`timeoutSeconds` is at most 30, 10 by default): the largest review it sends, 3 MiB,
/// must arrive at 105 KB/s or faster to be answered in time at all, thirteen times the floor. An
/// attacker holding a connection past 10 s must send it 8 KiB a second, and gets 30 s at most.
pub const DEFAULT_BODY_MIN_KIB_PER_SEC: u64 = 8;

/// The default time (seconds) no body gets past: the longest an API server waits for a webhook
/// (`timeoutSeconds` is at most 30), so no review it still waits for is cut.
pub const DEFAULT_BODY_MAX_SECS: u64 = 30;

impl BodyTimes {
    /// `grace` with the default floor and maximum (never below `grace`).
    pub fn with_grace(grace: Duration) -> Self {
        Self {
            grace,
            min_rate: DEFAULT_BODY_MIN_KIB_PER_SEC << 10,
            max: Duration::from_secs(DEFAULT_BODY_MAX_SECS).max(grace),
        }
    }

    /// The time a body that has brought `received` bytes may take in all.
    pub(super) fn allowed(&self, received: usize) -> Duration {
        #[allow(
            clippy::cast_precision_loss,
            reason = "byte counts and rates far below 2^52"
        )]
        let earned = received as f64 / self.min_rate.max(1) as f64;
        let earned = Duration::try_from_secs_f64(earned).unwrap_or(self.max);
        self.grace.saturating_add(earned).min(self.max)
    }
}

/// The bodies' time limits, and the throttled logs of the bodies refused (too slow, too large,
/// unreadable: one line per [`LOG_EVERY`] each, with the count, however many a client sends).
#[derive(Debug)]
pub struct Reading {
    times: BodyTimes,
    limit: usize,
    slow: Throttle,
    refused: Throttle,
    metrics: Arc<crate::metrics::Metrics>,
}

impl Reading {
    /// Bodies of at most `limit` bytes, in `times`; those cut for their slowness counted in
    /// `metrics`.
    pub fn new(times: BodyTimes, limit: usize, metrics: Arc<crate::metrics::Metrics>) -> Arc<Self> {
        Arc::new(Self {
            times,
            limit,
            slow: Throttle::new(LOG_EVERY),
            refused: Throttle::new(LOG_EVERY),
            metrics,
        })
    }
}

/// Reads the whole body in its [`BodyTimes`] and at most `limit` bytes, before any handler runs
/// and before any decision permit is taken: the front ends take a permit for the decision only,
/// once the body is here, so a body that trickles costs its sender and not a decision slot that
/// others wait for. The raw API's and OpenStack's bodies are read under one of their peer's
/// places ([`PeerBodies`]): a peer's many large bodies wait for one another, not for anyone
/// else's (the wait for a place counts against the body's time, the wait imposed by the peer's
/// byte rate does not). While the body arrives the connection may be cut to make room for
/// another peer's ([`Table::admit`](super::Table::admit)): the request is then answered 503.
pub async fn read_body(
    State(reading): State<Arc<Reading>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bodies = match crate::front_of(parts.uri.path()) {
        Some("api" | "openstack") => parts.extensions.get::<PeerBodies>().cloned(),
        _ => None,
    };
    let receiving = parts.extensions.get::<Receiving>().cloned();
    let limit = reading.limit;
    let times = reading.times;
    let started = tokio::time::Instant::now();
    let read = async move {
        let _place = match &bodies {
            Some(bodies) => tokio::time::timeout_at(
                started + times.grace,
                bodies.places.clone().acquire_owned(),
            )
            .await
            .map_err(|_| Collect::TooSlow(0))?
            .ok(),
            None => None,
        };
        collect(
            body,
            limit,
            bodies.as_ref().map(|b| &*b.rate),
            times,
            started,
        )
        .await
    };
    let cut = async {
        match &receiving {
            Some(receiving) => receiving.cut.wait().await,
            None => std::future::pending().await,
        }
    };
    let read = tokio::select! {
        read = read => read,
        () = cut => Err(Collect::Cut),
    };
    let read = match read {
        Ok(bytes) if receiving.as_ref().is_some_and(|r| !r.received()) => {
            drop(bytes);
            Err(Collect::Cut)
        }
        read => read,
    };
    match read {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(Collect::TooLarge) => reading.refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {limit} bytes"),
        ),
        Err(Collect::Unreadable(err)) => reading.refuse(
            StatusCode::BAD_REQUEST,
            format!("the body could not be read: {err}"),
        ),
        Err(Collect::TooSlow(received)) => {
            let message = format!(
                "the body arrived too slowly: {received} bytes in {:.1} s (a body has {} s, one more per {} bytes received, at most {} s): send it whole",
                started.elapsed().as_secs_f64(),
                times.grace.as_secs(),
                times.min_rate,
                times.max.as_secs()
            );
            reading.metrics.cutoff("body_too_slow");
            if let Some(n) = reading.slow.hit(Instant::now()) {
                tracing::warn!(
                    "answered 408 to {n} request(s) whose body arrived too slowly since the last such line (one at most every {} s); the latest: {message}",
                    LOG_EVERY.as_secs()
                );
            }
            answer(StatusCode::REQUEST_TIMEOUT, message)
        }
        // Logged (throttled) where the connection was cut.
        Err(Collect::Cut) => answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is at its connection limit and this body was still arriving: the connection gives way to a peer holding fewer; send the body whole, or from fewer connections".to_owned(),
        ),
    }
}

/// Why a body was not collected.
#[derive(Debug)]
enum Collect {
    /// More than the limit arrived (the rest was drained, up to [`DRAIN_PAST_LIMIT`]).
    TooLarge,
    /// The connection failed or the body was malformed (a bad chunk).
    Unreadable(axum::Error),
    /// The body was not whole in its [`BodyTimes`] (the bytes received so far).
    TooSlow(usize),
    /// The connection gave way to another peer's while the body was arriving.
    Cut,
}

/// The body's bytes, if it holds at most `limit` and arrives in `times` from `started`. A body
/// announcing more than the limit plus [`DRAIN_PAST_LIMIT`] in its `Content-Length` is refused
/// without reading it.
async fn collect(
    body: Body,
    limit: usize,
    rate: Option<&Rate>,
    times: BodyTimes,
    started: tokio::time::Instant,
) -> Result<bytes::Bytes, Collect> {
    use axum::body::HttpBody as _;
    use http_body_util::BodyExt as _;

    let drain_cap = limit.saturating_add(DRAIN_PAST_LIMIT);
    if body
        .size_hint()
        .exact()
        .is_some_and(|n| n > drain_cap as u64)
    {
        return Err(Collect::TooLarge);
    }
    let mut body = body;
    let expected = usize::try_from(body.size_hint().lower()).unwrap_or(limit);
    let mut kept = bytes::BytesMut::with_capacity(expected.min(limit));
    let mut seen = 0usize;
    // The time the server itself made the body wait (the peer's byte rate), not counted.
    let mut held_back = Duration::ZERO;
    loop {
        let deadline = started + held_back + times.allowed(seen);
        let Some(frame) = tokio::time::timeout_at(deadline, body.frame())
            .await
            .map_err(|_| Collect::TooSlow(seen))?
        else {
            break;
        };
        let frame = frame.map_err(Collect::Unreadable)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        seen = seen.saturating_add(data.len());
        if let Some(rate) = rate {
            let wait = rate.take(data.len(), Instant::now());
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
                held_back = held_back.saturating_add(wait);
            }
        }
        if seen <= limit {
            kept.extend_from_slice(&data);
        } else if seen > drain_cap {
            break;
        }
    }
    if seen > limit {
        Err(Collect::TooLarge)
    } else {
        Ok(kept.freeze())
    }
}

impl Reading {
    /// Refuses a request for its body, logged at most once per [`LOG_EVERY`].
    fn refuse(&self, status: StatusCode, message: String) -> Response {
        if let Some(n) = self.refused.hit(Instant::now()) {
            tracing::warn!(
                "refused {n} request(s) for their body since the last such line (one at most every {} s); the latest: {message}",
                LOG_EVERY.as_secs()
            );
        }
        answer(status, message)
    }
}

/// An answer that closes the connection.
fn answer(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONNECTION, "close")],
        format!("{message}\n"),
    )
        .into_response()
}
