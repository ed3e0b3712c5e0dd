//! `yungui serve`'s application in memory, for the front-end targets (`admission_review`,
//! `openstack_check`): the real router ([`yungui_server::router`]) over an engine running the
//! shipped policy set, built as `yungui serve --plugin shipped` builds it, with the example
//! registry. Each input is one HTTP request sent to the router without a socket
//! (`tower::ServiceExt::oneshot`), on a current-thread runtime kept for the process.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use tower::ServiceExt as _;
use yungui::{EngineConfig, PluginSource, Registry};
use yungui_server::{AppState, kubernetes, openstack, router};

/// What the server answered.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The whole body.
    pub body: Vec<u8>,
}

struct Server {
    runtime: tokio::runtime::Runtime,
    router: Router,
    state: AppState,
}

/// The cluster region of the Kubernetes front end and the region of the OpenStack one.
pub const REGION: &str = "cn-north-1";

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let registry = Registry::from_file(&root.join("examples/registry.json"))
            .unwrap_or_else(|e| panic!("the example registry: {e}"));
        // The deadlines are the server's defaults times ten: a machine busy with other builds
        // must not turn a slow call into a fault. An input that takes that long is a finding.
        let config = EngineConfig::default().with_deadline(Duration::from_secs(2));
        // Built outside any runtime: building runs the component's initialisation, which blocks.
        let engine = PluginSource::Shipped
            .load(registry, config)
            .unwrap_or_else(|e| panic!("the shipped policy set: {e}"));
        let kubernetes = kubernetes::Config {
            cluster_region: REGION.to_owned(),
            review_deadline: Duration::from_secs(5),
            ..kubernetes::Config::default()
        };
        let openstack = openstack::Config::load(REGION, None, None)
            .unwrap_or_else(|e| panic!("the OpenStack front end: {e:#}"));
        let state = AppState::new(2, kubernetes, openstack);
        state.set_engine(Arc::new(engine));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("a runtime: {e}"));
        Server {
            runtime,
            router: router(state.clone()),
            state,
        }
    })
}

/// Builds the engine and the application (for `fuzz_target!(init: ...)`, so that building it is
/// not counted against the first input's timeout).
pub fn init() {
    server();
}

/// The registry the engine decides with.
pub fn registry() -> Arc<Registry> {
    server()
        .state
        .engine()
        .unwrap_or_else(|| panic!("the engine is set at start"))
        .registry()
}

/// POSTs `body` to `path`, with `content_type` if given.
pub fn post(path: &str, content_type: Option<&str>, body: &[u8]) -> Answer {
    let server = server();
    let mut request = Request::builder().method("POST").uri(path);
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let request = request
        .body(Body::from(body.to_vec()))
        .unwrap_or_else(|e| panic!("a request: {e}"));
    server.runtime.block_on(async {
        let response = match server.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_else(|e| panic!("the response body: {e}"));
        Answer {
            status,
            body: body.to_vec(),
        }
    })
}
