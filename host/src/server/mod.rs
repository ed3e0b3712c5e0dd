//! `yungui serve`: one HTTPS server, several front ends over one engine.
//!
//! - `/v1/decide`, `/v1/decide/batch`: the JSON request format (custom schedulers, scripts);
//! - `/validate`: Kubernetes admission (AdmissionReview v1);
//! - `/openstack`: oslo.policy's `http:` check;
//! - `/healthz`, `/readyz`, `/metrics`.
//!
//! Wasm work never runs on the async runtime: each decision takes a permit and runs on the
//! blocking pool. Each front end has permits of its own, so callers of one cannot queue another's
//! decisions behind theirs: admission reviews get `--workers` permits; the raw API and OpenStack,
//! whose callers are less trusted, half as many each. A request is checked against the bounds of
//! [`crate::limits`] before the component sees it. The component loads in the background; until it
//! has, `/readyz` answers 503 and every decision fails closed.

pub mod api;
pub mod conn;
pub mod kubernetes;
pub mod metrics;
pub mod openstack;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::Semaphore;

use crate::bindings::types;
use crate::commands::EngineArgs;
use crate::engine::{Engine, Error};

/// Request bodies larger than this are refused with 413 (the Kubernetes API server sends at most
/// 3 MiB).
pub const MAX_BODY: usize = 4 << 20;

/// What a server is started with.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,

    /// The server certificate chain (PEM). Reloaded when the file changes.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The server's private key (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Require client certificates signed by this CA (PEM), e.g. for oslo.policy's
    /// `remote_ssl_client_crt_file`.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,

    /// Serve plain HTTP (for local tests only; admission webhooks require HTTPS).
    #[arg(long, conflicts_with = "tls_cert")]
    pub plain_http: bool,

    /// Decisions running at once (each on a warm instance).
    #[arg(long, default_value_t = default_workers())]
    pub workers: usize,

    /// Connections open at once; further ones are closed when accepted. Keep it below the
    /// process's file limit (`ulimit -n`).
    #[arg(long, default_value_t = 512, value_name = "N")]
    pub max_connections: usize,

    /// Seconds a client has to send a request's headers, from connecting or from the previous
    /// response: slow headers and idle keep-alive connections are closed after this.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub header_timeout_secs: u64,

    /// Seconds a client has to send a request's body (408 after that).
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub body_timeout_secs: u64,

    /// Log one JSON object per line (decision log included).
    #[arg(long)]
    pub log_json: bool,

    /// Check the registry file this often (seconds) and reload it when it changed; 0 never does.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub registry_watch_secs: u64,

    #[command(flatten)]
    pub kubernetes: kubernetes::KubernetesArgs,

    #[command(flatten)]
    pub openstack: openstack::OpenStackArgs,

    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Four per core: measured on 2 cores, 8 workers carry ~25% more reviews per second than 4 (the
/// async side and the wasm side overlap), and each warm instance costs ~1 MB.
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(8, |n| n.get() * 4)
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    engine: Arc<OnceLock<Arc<Engine>>>,
    permits: Arc<Permits>,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// The Kubernetes front end's settings.
    pub kubernetes: Arc<kubernetes::Config>,
    /// The OpenStack front end's settings.
    pub openstack: Arc<openstack::Config>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("ready", &self.engine.get().is_some())
            .finish_non_exhaustive()
    }
}

/// The permits of each front end: decisions of one front end never wait for another's.
#[derive(Debug)]
struct Permits {
    api: Arc<Semaphore>,
    kubernetes: Arc<Semaphore>,
    openstack: Arc<Semaphore>,
}

impl Permits {
    fn new(workers: usize) -> Self {
        let workers = workers.max(1);
        let half = (workers / 2).max(1);
        Self {
            api: Arc::new(Semaphore::new(half)),
            kubernetes: Arc::new(Semaphore::new(workers)),
            openstack: Arc::new(Semaphore::new(half)),
        }
    }

    fn of(&self, front: &str) -> &Arc<Semaphore> {
        match front {
            "kubernetes" => &self.kubernetes,
            "openstack" => &self.openstack,
            _ => &self.api,
        }
    }
}

/// What to decide.
#[derive(Debug)]
pub enum Decide {
    /// A typed request (the adapters build these).
    Typed(types::Request),
    /// A request in the JSON request format.
    Json(String),
}

/// Why no decision came back, as a server sees it.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The component is still loading.
    #[error("the policy component is not loaded yet")]
    NotReady,
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] Error),
    /// The blocking task died.
    #[error("the decision task failed: {0}")]
    Task(String),
    /// The request was refused before the component ran (too complex, a duplicate key, a clock
    /// of its own).
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl From<crate::limits::TooComplex> for ServeError {
    fn from(err: crate::limits::TooComplex) -> Self {
        Self::BadRequest(err.to_string())
    }
}

impl ServeError {
    /// Whether the caller sent a bad request (as opposed to a fault of ours).
    pub fn is_bad_request(&self) -> bool {
        matches!(self, Self::BadRequest(_)) || matches!(self, Self::Engine(e) if e.is_bad_request())
    }

    /// A short kind for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotReady => "not_ready",
            Self::Task(_) => "task",
            Self::BadRequest(_) => "bad_request",
            Self::Engine(e) => crate::report::ErrorReport::from(e).kind,
        }
    }
}

impl AppState {
    /// A state whose engine is loaded later with [`AppState::set_engine`].
    pub fn new(
        workers: usize,
        kubernetes: kubernetes::Config,
        openstack: openstack::Config,
    ) -> Self {
        Self {
            engine: Arc::new(OnceLock::new()),
            permits: Arc::new(Permits::new(workers)),
            metrics: Arc::new(metrics::Metrics::new()),
            kubernetes: Arc::new(kubernetes),
            openstack: Arc::new(openstack),
        }
    }

    /// Makes the engine available; the server is ready from then on.
    pub fn set_engine(&self, engine: Arc<Engine>) {
        let _ = self.engine.set(engine);
    }

    /// The engine, once loaded.
    pub fn engine(&self) -> Option<&Arc<Engine>> {
        self.engine.get()
    }

    /// Decides on the blocking pool, bounded by the front end's permits, and records the metrics.
    /// The request is checked against [`crate::limits`] first.
    pub async fn decide(
        &self,
        front: &'static str,
        request: Decide,
    ) -> Result<types::Decision, ServeError> {
        let started = Instant::now();
        let result = self
            .run(front, move |engine| match request {
                Decide::Typed(request) => {
                    crate::limits::check_typed(&request)?;
                    Ok(engine.decide(&request)?)
                }
                Decide::Json(request) => {
                    crate::limits::read_json(&request).map_err(ServeError::BadRequest)?;
                    Ok(engine.decide_json(&request)?)
                }
            })
            .await
            .and_then(|result| result);
        self.metrics.record(front, &result, started.elapsed());
        result
    }

    /// The front end a path belongs to.
    pub fn front_of(path: &str) -> &'static str {
        if path.starts_with("/validate") {
            "kubernetes"
        } else if path.starts_with("/openstack") {
            "openstack"
        } else {
            "api"
        }
    }

    /// Waits for one of the front end's permits, to read a request body under: bodies of one front
    /// end are read a few at a time, so a flood of large bodies on one costs the others little.
    /// `None` for the paths without a body worth bounding (health, metrics, admission).
    pub async fn body_permit(&self, path: &str) -> Option<tokio::sync::OwnedSemaphorePermit> {
        match Self::front_of(path) {
            "kubernetes" => None,
            _ if path.starts_with("/healthz")
                || path.starts_with("/readyz")
                || path.starts_with("/metrics") =>
            {
                None
            }
            front => self.permits.of(front).clone().acquire_owned().await.ok(),
        }
    }

    /// Runs `f` with the engine on the blocking pool, holding one of the front end's permits.
    pub async fn run<T: Send + 'static>(
        &self,
        front: &'static str,
        f: impl FnOnce(&Engine) -> T + Send + 'static,
    ) -> Result<T, ServeError> {
        let engine = self.engine().ok_or(ServeError::NotReady)?.clone();
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

/// The whole application: every front end and the health endpoints.
pub fn router(state: AppState) -> Router {
    router_with(state, Duration::from_secs(10))
}

/// [`router`], with the time a body has to arrive.
pub fn router_with(state: AppState, body_timeout: Duration) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .merge(api::routes())
        .merge(kubernetes::routes())
        .merge(openstack::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            (state.clone(), body_timeout, MAX_BODY),
            conn::read_body,
        ))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.engine() {
        Some(engine) => (
            StatusCode::OK,
            format!(
                "ready: component loaded, registry of {} entities\n",
                engine.registry().len()
            ),
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the policy component is loading\n".to_owned(),
        ),
    }
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The application state (the engine may still be loading).
    pub state: AppState,
    handle: axum_server::Handle<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting, lets requests in flight finish (up to `grace`), and waits.
    pub async fn shutdown(self, grace: Duration) -> std::io::Result<()> {
        self.handle.graceful_shutdown(Some(grace));
        self.task
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?
    }

    /// Waits until the server stops.
    pub async fn wait(self) -> std::io::Result<()> {
        self.task
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?
    }
}

/// Starts the server: binds, serves, and loads the component in the background.
pub async fn start(args: &ServeArgs) -> anyhow::Result<Running> {
    let state = AppState::new(
        args.workers,
        kubernetes::Config::from_args(&args.kubernetes)?,
        openstack::Config::from_args(&args.openstack)?,
    );
    for (value, flag) in [
        (args.header_timeout_secs, "--header-timeout-secs"),
        (args.body_timeout_secs, "--body-timeout-secs"),
    ] {
        if value == 0 {
            anyhow::bail!("`{flag}` is 0: give clients some time, e.g. 10");
        }
    }
    let header_timeout = Duration::from_secs(args.header_timeout_secs);
    let app = router_with(state.clone(), Duration::from_secs(args.body_timeout_secs));
    let handle = axum_server::Handle::new();
    let limited = conn::Limited::new(
        axum_server::accept::DefaultAcceptor::new(),
        args.max_connections,
    );
    let task = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let tls = tls::Tls::load(cert, key, args.client_ca.as_deref())?;
            tls.watch();
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls.config())
                .handshake_timeout(header_timeout)
                .acceptor(limited);
            let mut server = axum_server::bind(args.listen)
                .acceptor(acceptor)
                .handle(handle.clone())
                .first_request_timeout(header_timeout);
            bound_http1(&mut server, header_timeout);
            tokio::spawn(async move { server.serve(app.into_make_service()).await })
        }
        _ if args.plain_http => {
            let mut server = axum_server::bind(args.listen)
                .acceptor(limited)
                .handle(handle.clone())
                .first_request_timeout(header_timeout);
            bound_http1(&mut server, header_timeout);
            tokio::spawn(async move { server.serve(app.into_make_service()).await })
        }
        _ => anyhow::bail!(
            "no certificate: pass `--tls-cert` and `--tls-key` (see `yungui cert`), or `--plain-http` for a local test"
        ),
    };
    let addr = handle
        .listening()
        .await
        .ok_or_else(|| anyhow::anyhow!("cannot listen on `{}`", args.listen))?;

    let path = args.engine.plugin_path()?;
    let registry = args.engine.load_registry()?;
    let registry_path = args
        .engine
        .registry_path()
        .filter(|_| args.registry_watch_secs > 0);
    let watch_every = Duration::from_secs(args.registry_watch_secs);
    let runtime = tokio::runtime::Handle::current();
    let config = args.engine.config();
    let workers = args.workers;
    let loading = state.clone();
    tokio::task::spawn_blocking(move || {
        match Engine::load(&path, registry, config).and_then(|engine| {
            engine.warm(workers.min(engine.config().max_idle))?;
            Ok(engine)
        }) {
            Ok(engine) => {
                tracing::info!(component = %path.display(), "policy component loaded; ready");
                let engine = Arc::new(engine);
                loading.set_engine(engine.clone());
                if let Some(registry) = registry_path {
                    runtime.spawn(watch_registry(engine, registry, watch_every));
                }
            }
            Err(err) => tracing::error!(
                "the policy component did not load: {err}; every decision is denied"
            ),
        }
    });
    Ok(Running {
        addr,
        state,
        handle,
        task,
    })
}

/// Closes a connection whose request headers do not arrive within `timeout`, counted from the
/// connection's start or the previous response (so an idle keep-alive connection too).
fn bound_http1<A: axum_server::Address, Acc>(
    server: &mut axum_server::Server<A, Acc>,
    timeout: Duration,
) {
    server
        .http_builder()
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(timeout);
}

/// Reloads the registry when its file changes (a ConfigMap update, a new export from the system of
/// record); a file that does not parse keeps the registry in force.
async fn watch_registry(engine: Arc<Engine>, path: PathBuf, every: Duration) {
    let stamp = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut seen = stamp(&path);
    loop {
        tokio::time::sleep(every).await;
        let now = stamp(&path);
        if now == seen {
            continue;
        }
        seen = now;
        let file = path.clone();
        match tokio::task::spawn_blocking(move || crate::registry::Registry::from_file(&file)).await
        {
            Ok(Ok(registry)) => {
                let entities = registry.len();
                engine.set_registry(registry);
                tracing::info!(registry = %path.display(), entities, "registry reloaded");
            }
            Ok(Err(err)) => tracing::warn!(
                registry = %path.display(),
                "the changed registry does not load, keeping the one in force: {err}"
            ),
            Err(err) => tracing::warn!("registry reload failed: {err}"),
        }
    }
}

/// Logs one decision as one line (JSON with `--log-json`), under the target `yungui::decision`.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site per front end, each field a column of the decision log"
)]
pub fn log_decision(
    front: &str,
    uid: &str,
    tenant: &str,
    kind: &str,
    action: &str,
    result: &Result<types::Decision, ServeError>,
    latency: Duration,
    dry_run: bool,
) {
    let (decision, controls) = match result {
        Ok(d) => (
            if d.allowed { "allow" } else { "deny" },
            d.denials
                .iter()
                .chain(&d.warnings)
                .map(|f| f.control.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
        Err(e) => ("error", e.kind().to_owned()),
    };
    tracing::info!(
        target: "yungui::decision",
        front,
        uid,
        tenant,
        kind,
        action,
        decision,
        controls,
        latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        dry_run,
        "decision"
    );
}
