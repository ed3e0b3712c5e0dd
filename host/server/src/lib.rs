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
mod config;
pub mod conn;
mod decision_log;
mod error;
mod front;
pub mod kubernetes;
mod listen;
pub mod logging;
pub mod metrics;
pub mod openstack;
mod pipeline;
pub mod region_map;
mod registry_metrics;
mod reload;
mod router;
mod state;
pub mod tls;

pub use config::{
    Config, DEFAULT_MAX_CONNECTIONS_PER_PEER, DEFAULT_PEER_BODY_MIB_PER_SEC, Transport,
    default_workers,
};
pub use error::{ConfigError, ServeError, StartError};
pub use front::Front;
pub use listen::{Running, start};

/// The name of the front end a request path belongs to ([`Front::of_path`]), as [`conn`] reads it.
fn front_of(path: &str) -> Option<&'static str> {
    Front::of_path(path).map(Front::name)
}
use decision_log::Entry;
pub use pipeline::Decide;
pub use router::{MAX_BODY, router, router_with};
pub use state::AppState;
