//! What every handler shares ([`AppState`]): the engine in force, the permits of each front end,
//! the metrics, the front ends' settings, and why the last reloads were refused. Decisions are
//! run by the pipeline ([`crate::pipeline`]).

use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::Semaphore;

use yungui::engine::Engine;

use crate::front::Front;
use crate::{kubernetes, metrics, openstack};

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    engine: Arc<RwLock<Option<Arc<Engine>>>>,
    /// Why the last component reload was refused, if it was (cleared by a successful one).
    reload_failure: Arc<RwLock<Option<String>>>,
    /// Why the last registry reload was refused, if it was (cleared by a successful one).
    registry_failure: Arc<RwLock<Option<String>>>,
    /// Where the component in force came from, when not a file or folder (`oci://…@sha256:…`).
    origin: Arc<RwLock<Option<String>>>,
    /// Serialises registry and component swaps.
    pub(crate) swapping: Arc<tokio::sync::Mutex<()>>,
    pub(crate) permits: Arc<Permits>,
    /// Counters and histograms for `/metrics`.
    pub(crate) metrics: Arc<metrics::Metrics>,
    /// The Kubernetes front end's settings.
    pub(crate) kubernetes: Arc<kubernetes::Config>,
    /// The OpenStack front end's settings.
    pub(crate) openstack: Arc<openstack::Config>,
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
pub(crate) struct Permits {
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
    pub(crate) fn total(workers: usize) -> usize {
        let workers = workers.max(1);
        workers + 2 * (workers / 2).max(1)
    }

    pub(crate) fn of(&self, front: Front) -> &Arc<Semaphore> {
        match front {
            Front::Api => &self.api,
            Front::Kubernetes => &self.kubernetes,
            Front::OpenStack => &self.openstack,
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
            origin: Arc::new(RwLock::new(None)),
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
    pub(crate) fn swap_in(&self, engine: Engine) {
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

    /// Why the last component load (the first, or a reload) was refused, while no later one
    /// succeeded: one line naming the component.
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

    pub(crate) fn set_registry_failure(&self, why: Option<String>) {
        *self
            .registry_failure
            .write()
            .unwrap_or_else(PoisonError::into_inner) = why;
    }

    /// Where the component in force came from, when the server says (an OCI artefact's digest).
    pub fn origin(&self) -> Option<String> {
        self.origin
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_origin(&self, origin: Option<String>) {
        *self.origin.write().unwrap_or_else(PoisonError::into_inner) = origin;
    }

    pub(crate) fn set_reload_failure(&self, why: Option<String>) {
        *self
            .reload_failure
            .write()
            .unwrap_or_else(PoisonError::into_inner) = why;
    }
}
