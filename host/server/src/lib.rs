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
//! [`yungui::limits`] before the component sees it. The component loads in the background; until it
//! has, `/readyz` answers 503 and every decision fails closed.

pub mod api;
pub mod conn;
pub mod kubernetes;
pub mod logging;
pub mod metrics;
pub mod openstack;
pub mod region_map;
mod registry_metrics;
pub mod tls;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::Semaphore;

use yungui::bindings::types;
use yungui::engine::{Engine, EngineConfig, Error, PluginSource};
use yungui::registry::RegistrySource;

/// Request bodies larger than this are refused with 413 (the Kubernetes API server sends at most
/// 3 MiB).
pub const MAX_BODY: usize = 4 << 20;

/// How a server is set up: what `yungui serve`'s options describe, as plain data, for an
/// application that embeds the server without the command line ([`Config::new`] gives the
/// command's defaults).
#[derive(Debug, Clone)]
pub struct Config {
    /// The address to listen on (port 0 picks a free one: [`Running::addr`] says which).
    pub listen: SocketAddr,
    /// HTTPS with a certificate, or plain HTTP.
    pub transport: Transport,
    /// Decisions running at once (each on a warm instance).
    pub workers: usize,
    /// Connections open at once; past it, a new connection takes an idle one's place (see
    /// [`conn`]), or is closed when every one serves a request.
    pub max_connections: usize,
    /// Connections open at once from one IP address; past it, a new one from that address is
    /// closed when accepted.
    pub max_connections_per_peer: usize,
    /// Bytes a second at which the raw API's and OpenStack's bodies of one IP address are read,
    /// together.
    pub peer_body_rate: u64,
    /// Time a client has to send a request's headers (also the TLS handshake and keep-alive
    /// idle time).
    pub header_timeout: Duration,
    /// Time a client has to send a request's body (408 after that).
    pub body_timeout: Duration,
    /// The policy component.
    pub plugin: PluginSource,
    /// Refuse any component whose sha256 (hex) is not this, at start and at every reload.
    pub plugin_sha256: Option<String>,
    /// How often to check the component file (`PluginSource::File`) and swap in a changed one;
    /// `None` never does.
    pub plugin_watch: Option<Duration>,
    /// The registry: a file or a database; `None` is an empty registry.
    pub registry: Option<RegistrySource>,
    /// How often to check a registry file and reload it; `None` never does (a database pushes
    /// its changes).
    pub registry_watch: Option<Duration>,
    /// Deadline, memory limit, audit mode, compile cache of the engine.
    pub engine: EngineConfig,
    /// The Kubernetes front end's settings.
    pub kubernetes: kubernetes::Config,
    /// The OpenStack front end's settings.
    pub openstack: openstack::Config,
}

/// How a server talks to its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// HTTPS; the certificate and key are reloaded when their files change.
    Tls {
        /// The server certificate chain (PEM).
        cert: PathBuf,
        /// The server's private key (PEM).
        key: PathBuf,
        /// Require client certificates signed by this CA (PEM).
        client_ca: Option<PathBuf>,
    },
    /// Plain HTTP, for local tests only (admission webhooks require HTTPS).
    PlainHttp,
}

impl Config {
    /// A server on `listen` over `transport` running `plugin`, with `yungui serve`'s defaults
    /// otherwise: an empty registry, both front ends at their defaults.
    pub fn new(listen: SocketAddr, transport: Transport, plugin: PluginSource) -> Self {
        Self {
            listen,
            transport,
            workers: default_workers(),
            max_connections: 512,
            max_connections_per_peer: DEFAULT_MAX_CONNECTIONS_PER_PEER,
            peer_body_rate: DEFAULT_PEER_BODY_MIB_PER_SEC << 20,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            plugin,
            plugin_sha256: None,
            plugin_watch: None,
            registry: None,
            registry_watch: None,
            engine: EngineConfig::default(),
            kubernetes: kubernetes::Config::default(),
            openstack: openstack::Config::default(),
        }
    }

    /// What is wrong with this configuration, if anything.
    fn check(&self) -> anyhow::Result<()> {
        if self.workers == 0 {
            anyhow::bail!("no workers: a server needs at least one to decide");
        }
        if self.max_connections == 0
            || self.max_connections_per_peer == 0
            || self.peer_body_rate == 0
        {
            anyhow::bail!("a connection limit of 0 would refuse every client");
        }
        if self.header_timeout.is_zero() || self.body_timeout.is_zero() {
            anyhow::bail!("a timeout of 0 would refuse every request: give clients some time");
        }
        if [self.plugin_watch, self.registry_watch]
            .iter()
            .flatten()
            .any(Duration::is_zero)
        {
            anyhow::bail!("a watch interval of 0: use `None` for never, or a positive interval");
        }
        Ok(())
    }
}

/// The default `max_connections_per_peer`: an eighth of the default connection limit, so that
/// eight addresses are needed to hold every connection with requests in progress, while a busy
/// API server (one connection per review in flight over HTTP/1.1) has far more than it has
/// reviews deciding at once (`--workers`).
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: usize = 64;

/// The default rate (MiB a second) at which one address's raw API and OpenStack bodies are read:
/// an oslo.policy check is ~1 KiB and a full batch 1,000 requests, so honest callers never wait;
/// 80 connections posting 1.4 MB bodies read ~560 MB/s, most of two cores.
pub const DEFAULT_PEER_BODY_MIB_PER_SEC: u64 = 32;

/// The default number of workers, four per core: measured on 2 cores, 8 workers carry ~25% more reviews per second than 4 (the
/// async side and the wasm side overlap), and each warm instance costs ~1 MB.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(8, |n| n.get() * 4)
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    engine: Arc<RwLock<Option<Arc<Engine>>>>,
    /// Why the last component reload was refused, if it was (cleared by a successful one).
    reload_failure: Arc<RwLock<Option<String>>>,
    /// Why the last registry reload was refused, if it was (cleared by a successful one).
    registry_failure: Arc<RwLock<Option<String>>>,
    /// Serialises registry and component swaps.
    swapping: Arc<tokio::sync::Mutex<()>>,
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
            .field("ready", &self.engine().is_some())
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

    /// The calls that may run at once over every front end.
    fn total(workers: usize) -> usize {
        let workers = workers.max(1);
        workers + 2 * (workers / 2).max(1)
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
    /// A Kubernetes namespace's `yungui.io/mode` label has no known value.
    #[error("the namespace's `yungui.io/mode` label has no known value")]
    Mislabelled,
    /// The request was refused before the component ran (too complex, a duplicate key, a clock
    /// of its own).
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl From<yungui::limits::TooComplex> for ServeError {
    fn from(err: yungui::limits::TooComplex) -> Self {
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
            Self::Mislabelled => "mislabelled",
            Self::BadRequest(_) => "bad_request",
            Self::Engine(e) => yungui::report::ErrorReport::from(e).kind,
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
            engine: Arc::new(RwLock::new(None)),
            reload_failure: Arc::new(RwLock::new(None)),
            registry_failure: Arc::new(RwLock::new(None)),
            swapping: Arc::new(tokio::sync::Mutex::new(())),
            permits: Arc::new(Permits::new(workers)),
            metrics: Arc::new(metrics::Metrics::new()),
            kubernetes: Arc::new(kubernetes),
            openstack: Arc::new(openstack),
        }
    }

    /// Makes the engine available (or replaces the one in force: decisions in flight finish on
    /// the old one); the server is ready from then on.
    pub fn set_engine(&self, engine: Arc<Engine>) {
        *self.engine.write().unwrap_or_else(PoisonError::into_inner) = Some(engine);
    }

    /// The engine in force, once loaded.
    pub fn engine(&self) -> Option<Arc<Engine>> {
        self.engine
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts a loaded component in force: decisions switch to it, `yungui_build_info` and the
    /// logs name it.
    fn swap_in(&self, engine: Engine) {
        tracing::info!(
            component_sha256 = engine.sha256(),
            policy_digest = engine.policy_digest(),
            "policy component in force"
        );
        self.metrics.set_build(&metrics::BuildInfo {
            component_sha256: engine.sha256().to_owned(),
            policy_digest: engine.policy_digest().to_owned(),
            ..metrics::BuildInfo::default()
        });
        self.set_engine(Arc::new(engine));
        self.metrics.component_load(true);
    }

    /// Why the last component reload was refused, while no later one succeeded.
    pub fn reload_failure(&self) -> Option<String> {
        self.reload_failure
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Why the last registry reload was refused, while no later one succeeded.
    pub fn registry_failure(&self) -> Option<String> {
        self.registry_failure
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_registry_failure(&self, why: Option<String>) {
        *self
            .registry_failure
            .write()
            .unwrap_or_else(PoisonError::into_inner) = why;
    }

    fn set_reload_failure(&self, why: Option<String>) {
        *self
            .reload_failure
            .write()
            .unwrap_or_else(PoisonError::into_inner) = why;
    }

    /// Decides on the blocking pool, bounded by the front end's permits, and records the metrics.
    /// The request is checked against [`yungui::limits`] first.
    pub async fn decide(
        &self,
        front: &'static str,
        request: Decide,
    ) -> Result<types::Decision, ServeError> {
        let started = Instant::now();
        let result = self
            .run(front, move |engine| {
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
                        let value =
                            yungui::limits::read_json(&request).map_err(ServeError::BadRequest)?;
                        if database {
                            yungui::limits::refuse_nul_json(&value).map_err(nul)?;
                        }
                        Ok(engine.decide_json(&request)?)
                    }
                }
            })
            .await
            .and_then(|result| result);
        self.metrics.record(front, &result, started.elapsed());
        result
    }

    /// Runs `f` with the engine on the blocking pool, holding one of the front end's permits.
    pub async fn run<T: Send + 'static>(
        &self,
        front: &'static str,
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
            (body_timeout, MAX_BODY),
            conn::read_body,
        ))
        // Outermost, so that the answers of the layers inside (a body too slow: 408) count too.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_answers,
        ))
        .with_state(state)
}

/// The front end a path belongs to, if any.
fn front_of(path: &str) -> Option<&'static str> {
    if path.starts_with("/v1/") {
        Some("api")
    } else if path == "/validate" || path.starts_with("/validate/") {
        Some("kubernetes")
    } else if path == "/openstack" || path.starts_with("/openstack/") {
        Some("openstack")
    } else {
        None
    }
}

/// Counts every answer of every front end (`yungui_answers_total`), whatever happened to the
/// request: decided, refused before the engine (malformed, unmapped, too large), or faulted.
async fn count_answers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let front = front_of(request.uri().path());
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
                "ready: component sha256 {}, policy digest {}, registry generation {} of {} entities\n{}{}",
                engine.sha256(),
                engine.policy_digest(),
                engine.registry().generation(),
                engine.registry().len(),
                state
                    .reload_failure()
                    .map(|why| format!("the last component reload was refused: {why}\n"))
                    .unwrap_or_default(),
                state
                    .registry_failure()
                    .map(|why| format!("the last registry reload was refused: {why}\n"))
                    .unwrap_or_default()
            ),
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the policy component is loading\n".to_owned(),
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
pub async fn start(config: &Config) -> anyhow::Result<Running> {
    config.check()?;
    let state = AppState::new(
        config.workers,
        config.kubernetes.clone(),
        config.openstack.clone(),
    );
    let header_timeout = config.header_timeout;
    // A peer's raw API or OpenStack bodies are read as many at a time as that front end decides.
    let table = Arc::new(conn::Table::new(
        config.max_connections,
        config.max_connections_per_peer,
        (config.workers / 2).max(1),
        config.peer_body_rate,
    ));
    let app = router_with(state.clone(), config.body_timeout)
        .layer(axum::middleware::from_fn_with_state(
            table.clone(),
            conn::serving,
        ))
        .into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let limited = conn::Limited::new(axum_server::accept::DefaultAcceptor::new(), table);
    let task = match &config.transport {
        Transport::Tls {
            cert,
            key,
            client_ca,
        } => {
            let tls = tls::Tls::load(cert, key, client_ca.as_deref())?;
            state.metrics.set_tls_not_after(tls.not_after()?);
            let metrics = state.metrics.clone();
            tls.watch(move |not_after| metrics.set_tls_not_after(not_after));
            let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(tls.config())
                .handshake_timeout(header_timeout)
                .acceptor(limited);
            let mut server = axum_server::bind(config.listen)
                .acceptor(acceptor)
                .handle(handle.clone())
                .first_request_timeout(header_timeout);
            bound_http1(&mut server, header_timeout);
            tokio::spawn(async move { server.serve(app).await })
        }
        Transport::PlainHttp => {
            let mut server = axum_server::bind(config.listen)
                .acceptor(limited)
                .handle(handle.clone())
                .first_request_timeout(header_timeout);
            bound_http1(&mut server, header_timeout);
            tokio::spawn(async move { server.serve(app).await })
        }
    };
    let addr = handle
        .listening()
        .await
        .ok_or_else(|| anyhow::anyhow!("cannot listen on `{}`", config.listen))?;

    let (registry, files) = match &config.registry {
        Some(RegistrySource::File(path)) => {
            let (registry, files) = yungui::registry::Files::load(path)?;
            (registry, Some(files))
        }
        Some(source) => (source.open()?, None),
        None => (yungui::registry::Registry::empty(), None),
    };
    let watcher = Watcher {
        state: state.clone(),
        source: config.plugin.clone(),
        // One warm instance per permit: every call that may run at once finds one.
        config: EngineConfig {
            max_idle: Permits::total(config.workers),
            ..config.engine.clone()
        },
        workers: config.workers,
        pin: config.plugin_sha256.clone(),
    };
    let registry_watch = files.zip(config.registry_watch);
    let plugin_watch = match &config.plugin {
        PluginSource::File(path) => Some(path.clone()).zip(config.plugin_watch),
        PluginSource::Policies(_) | PluginSource::Shipped => None,
    };
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || match watcher.load(registry, false) {
        Ok(engine) => {
            watcher.state.swap_in(engine);
            // Logged once `/readyz` says so.
            tracing::info!("policy component loaded; ready");
            if let Some((registry, every)) = registry_watch {
                runtime.spawn(watch_registry(watcher.state.clone(), registry, every));
            }
            if let Some((path, every)) = plugin_watch {
                runtime.spawn(watch_plugin(watcher, path, every));
            }
        }
        Err(err) => {
            watcher.state.metrics.component_load(false);
            tracing::error!("the policy component did not load: {err:#}; every decision is denied")
        }
    });
    Ok(Running {
        addr,
        state,
        handle,
        task,
    })
}

/// Loads components for the server: the first one and every reload, each checked the same way.
#[derive(Debug, Clone)]
struct Watcher {
    state: AppState,
    source: PluginSource,
    config: EngineConfig,
    workers: usize,
    pin: Option<String>,
}

impl Watcher {
    /// Loads the component, checks the pin, warms the instances and, for a reload (`smoke`),
    /// runs a smoke decision. The first component is served whatever it answers: a component
    /// that faults fails every decision closed, saying so.
    fn load(
        &self,
        registry: yungui::registry::Registry,
        smoke_test: bool,
    ) -> anyhow::Result<Engine> {
        // A server runs a policy folder built (pre-initialised, as `yungui build` writes it), so
        // every new instance starts with the policy set parsed.
        let engine = match &self.source {
            PluginSource::Policies(dir) => Engine::from_sources(
                &yungui_policies::Sources::read_dir(dir)?,
                registry,
                self.config.clone(),
            )?,
            // A pinned component is checked before it is compiled: one refused costs no
            // compilation and leaves nothing in the cache.
            PluginSource::File(path) => {
                let bytes = yungui::engine::read_component(path)?;
                if let Some(pin) = &self.pin {
                    let sha256 = yungui::builder::sha256_hex(&bytes);
                    if !pin.eq_ignore_ascii_case(&sha256) {
                        anyhow::bail!(
                            "the component's sha256 is {sha256}, not the pinned `{pin}` (--plugin-sha256)"
                        );
                    }
                }
                Engine::from_bytes(
                    &bytes,
                    &path.display().to_string(),
                    registry,
                    self.config.clone(),
                )?
            }
            source => source.load(registry, self.config.clone())?,
        };
        if let Some(pin) = &self.pin
            && !pin.eq_ignore_ascii_case(engine.sha256())
        {
            anyhow::bail!(
                "the component's sha256 is {}, not the pinned `{pin}` (--plugin-sha256)",
                engine.sha256()
            );
        }
        engine.warm(self.workers.min(engine.config().max_idle))?;
        if smoke_test {
            smoke(&engine)?;
        }
        Ok(engine)
    }
}

/// A component about to serve must list its controls and answer a request with a decision or a
/// bad request, not a fault.
fn smoke(engine: &Engine) -> anyhow::Result<()> {
    let controls = engine.controls()?;
    if controls.is_empty() {
        anyhow::bail!("the component lists no controls: it holds no policy set");
    }
    match engine.decide_json("{}") {
        Ok(_) => Ok(()),
        Err(err) if err.is_bad_request() => Ok(()),
        Err(err) => anyhow::bail!("the smoke decision failed: {err}"),
    }
}

/// A component file checked every `every` for new content (a ConfigMap update, a deploy renaming
/// a new file over the old one, a file rewritten in place with its old modification time).
///
/// Its metadata (size, modification and change times, inode) is the cheap first check; the content
/// is hashed when the metadata changed, or when it was taken so soon after the file's last change
/// that a later write within the same timestamp tick could go unseen (as git treats a "racy" index
/// entry). A change is reported when the content's sha256 differs from the last one seen.
struct Watched {
    path: PathBuf,
    every: Duration,
    seen: Option<FileStamp>,
    /// The metadata was taken within a timestamp's reach of the file's last change.
    racy: bool,
    sha256: Option<String>,
}

/// What a file's metadata says of its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    changed: (i64, i64),
    inode: (u64, u64),
}

/// A change this close to the moment the metadata is read may be followed by another with the
/// same timestamps (file systems keep them at a coarse clock's resolution).
const RACY: Duration = Duration::from_secs(2);

impl Watched {
    /// Watches `path`, whose content in force has `sha256`.
    fn new(path: PathBuf, every: Duration, sha256: Option<String>) -> Self {
        Self {
            path,
            every,
            seen: None,
            racy: true,
            sha256,
        }
    }

    fn stamp(path: &std::path::Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let (changed, inode) = {
            use std::os::unix::fs::MetadataExt as _;
            ((meta.ctime(), meta.ctime_nsec()), (meta.dev(), meta.ino()))
        };
        #[cfg(not(unix))]
        let (changed, inode) = ((0, 0), (0, 0));
        Some(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            changed,
            inode,
        })
    }

    /// Whether the content changed since the last look (hashing it only when the metadata cannot
    /// vouch for it).
    fn look(&mut self) -> bool {
        let now = Self::stamp(&self.path);
        let stamp_changed = now != self.seen;
        if !stamp_changed && !self.racy {
            return false;
        }
        let read_at = std::time::SystemTime::now();
        self.seen = now;
        self.racy = now.is_some_and(|stamp| {
            let changed = std::time::UNIX_EPOCH
                + Duration::new(
                    u64::try_from(stamp.changed.0).unwrap_or(0),
                    u32::try_from(stamp.changed.1).unwrap_or(0),
                );
            [stamp.modified, Some(changed)]
                .into_iter()
                .any(|t| t.is_none_or(|t| read_at.duration_since(t).unwrap_or_default() < RACY))
        });
        match yungui::engine::read_component(&self.path) {
            Ok(bytes) => {
                let sha256 = yungui::builder::sha256_hex(&bytes);
                let changed = self.sha256.as_deref() != Some(sha256.as_str());
                self.sha256 = Some(sha256);
                changed
            }
            // Unreadable (gone, too large, not a regular file): a change once per change of its
            // metadata, which the load explains.
            Err(_) => self.sha256.take().is_some() || stamp_changed,
        }
    }

    /// Returns once the file changed since the last call (`None`: the runtime is shutting down).
    async fn changed(mut self) -> Option<Self> {
        loop {
            tokio::time::sleep(self.every).await;
            let (back, changed) = tokio::task::spawn_blocking(move || {
                let changed = self.look();
                (self, changed)
            })
            .await
            .ok()?;
            self = back;
            if changed {
                return Some(self);
            }
        }
    }
}

/// Swaps in the component when its file changes: compile, pin check, warm, smoke decision, then
/// swap (decisions in flight finish on the old one). A component failing any step is refused
/// with a log line; the one in force stays.
async fn watch_plugin(watcher: Watcher, path: PathBuf, every: Duration) {
    let in_force = watcher.state.engine().map(|e| e.sha256().to_owned());
    let mut file = Watched::new(path.clone(), every, in_force);
    loop {
        file = match file.changed().await {
            Some(file) => file,
            None => return,
        };
        let _swapping = watcher.state.swapping.lock().await;
        let Some(current) = watcher.state.engine() else {
            continue;
        };
        let loader = watcher.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let engine = loader.load(yungui::registry::Registry::empty(), true)?;
            engine.share_registry(current.registry());
            Ok::<_, anyhow::Error>(engine)
        })
        .await
        .map_err(anyhow::Error::from)
        .and_then(|r| r);
        match loaded {
            Ok(engine) => {
                watcher.state.swap_in(engine);
                watcher.state.set_reload_failure(None);
                tracing::info!(component = %path.display(), "policy component reloaded");
            }
            Err(err) => {
                tracing::warn!(
                    component = %path.display(),
                    "the changed component is refused, keeping the one in force: {err:#}"
                );
                watcher.state.set_reload_failure(Some(format!("{err:#}")));
                watcher.state.metrics.component_load(false);
            }
        }
    }
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

/// Applies changed registry files (a ConfigMap update, a new export from the system of record):
/// only the files that changed are read, and only the entities that changed in them applied,
/// checked against the schema, as one new generation (so the component re-reads exactly those).
/// A file that does not parse, whose changed entities do not match the schema, or that claims a
/// uid another file holds, keeps its last good entities in force; `/readyz` and the metrics say
/// so until it is fixed (see [`yungui::registry::Files`]).
async fn watch_registry(state: AppState, files: yungui::registry::Files, every: Duration) {
    let root = files.root().to_owned();
    let mut files = Some(files);
    // The files whose change is refused, and why: logged once each, in `/readyz` until applied.
    let mut refused: BTreeMap<PathBuf, String> = BTreeMap::new();
    loop {
        tokio::time::sleep(every).await;
        let _swapping = state.swapping.lock().await;
        let Some(engine) = state.engine() else {
            continue;
        };
        let Some(mut held) = files.take() else {
            return;
        };
        let task = tokio::task::spawn_blocking(move || {
            let current = engine.registry();
            let update = held.update(&current, |diff| {
                // A wrong-typed attribute would fail every decision touching the entity: the
                // changed entities are checked against the schema of the component in force.
                engine
                    .check_entities(diff.texts())
                    .map_err(|problems| yungui_policies::summarise_problems(&problems))
            });
            if let Some(registry) = &update.registry {
                engine.set_registry(registry.clone());
            }
            (held, update)
        });
        let Ok((held, update)) = task.await else {
            tracing::error!(registry = %root.display(), "the registry watcher failed; registry changes are no longer applied");
            state.set_registry_failure(Some("the registry watcher failed".to_owned()));
            return;
        };
        files = Some(held);
        for (path, puts, removes) in &update.applied {
            refused.remove(path);
            state.metrics.registry_reload(true);
            tracing::info!(
                registry = %path.display(),
                entities = update.registry.as_ref().map(yungui::registry::Registry::len),
                generation = update.registry.as_ref().map(yungui::registry::Registry::generation),
                changed = puts,
                removed = removes,
                "registry reloaded"
            );
        }
        for (path, why) in update.refused {
            if refused.get(&path) == Some(&why) {
                continue;
            }
            state.metrics.registry_reload(false);
            tracing::warn!(
                registry = %path.display(),
                "the changed registry is refused, keeping the one in force: {why}"
            );
            refused.insert(path, why);
        }
        state.set_registry_failure((!refused.is_empty()).then(|| {
            refused
                .iter()
                .map(|(path, why)| format!("{}: {why}", path.display()))
                .collect::<Vec<_>>()
                .join("; ")
        }));
    }
}

/// Logs one decision as one line (JSON with `--log-json`), under the target `yungui::decision`.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site per front end, each field a column of the decision log"
)]
pub fn log_decision(
    state: &AppState,
    front: &str,
    uid: &str,
    tenant: &str,
    kind: &str,
    action: &str,
    result: &Result<types::Decision, ServeError>,
    latency: Duration,
    dry_run: bool,
) {
    let (decision, controls, error) = match result {
        Ok(d) => (
            if d.allowed { "allow" } else { "deny" },
            distinct_controls(d),
            None,
        ),
        Err(e) => ("error", Vec::new(), Some(e.kind())),
    };
    // The component in force when the decision is logged: the one that decided, but for a
    // decision that straddles a component swap (logged just after it).
    let engine = state.engine();
    let component_sha256 = engine.as_ref().map_or("none", |e| e.sha256());
    let policy_digest = engine.as_ref().map_or("none", |e| e.policy_digest());
    tracing::info!(
        target: "yungui::decision",
        front,
        uid,
        tenant,
        kind,
        action,
        decision,
        controls = ?crate::logging::Json(serde_json::json!(controls)),
        error,
        latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        dry_run,
        component_sha256,
        policy_digest,
        "decision"
    );
}

/// The controls a decision lists (denials, then warnings), each once, in order.
pub fn distinct_controls(decision: &types::Decision) -> Vec<&str> {
    let mut ids: Vec<&str> = Vec::new();
    for f in decision.denials.iter().chain(&decision.warnings) {
        if !ids.contains(&f.control.as_str()) {
            ids.push(&f.control);
        }
    }
    ids
}
