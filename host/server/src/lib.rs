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
//!
//! An application embeds the server with a [`Config`] (plain data, no command-line types) and
//! [`start`], or mounts [`router`] over an [`AppState`] in an application of its own. The
//! front ends' settings are [`kubernetes::Config`] and [`openstack::Config`];
//! [`logging::init`] sets up the logs and the decision log.
//!
//! Inside, one module per concern: `config` (what a server is set up with), `state` (what
//! handlers share, the permits of each [`Front`]), `pipeline` (decide, count, log: the one path
//! of every front end's decisions), `router` (routes, health, answer counts), `listen` (bind,
//! serve, stop), `reload` (the component and registry watchers), `decision_log`, `error`, and
//! the front ends (`api`, [`kubernetes`], [`openstack`]), which only parse, map and render.
//!
//! This crate depends on the engine (`yungui`) and on HTTP, TLS and Kubernetes crates; the engine
//! never depends on it, and it takes no command-line types (the `yungui` command, `yungui-cli`,
//! turns its options into a [`Config`]).

#![deny(missing_docs)]

mod api;
mod config;
// Hidden rather than private: `conn::Table::len` and `is_empty` have no user in the crate.
#[doc(hidden)]
pub mod conn;
mod decision_log;
mod error;
mod front;
pub mod kubernetes;
mod listen;
pub mod logging;
mod metrics;
mod oci;
pub mod openstack;
mod pipeline;
mod process_metrics;
mod region_map;
mod registry_metrics;
mod reload;
mod router;
mod state;
mod tls;

pub use config::{
    Config, DEFAULT_MAX_CONNECTIONS_PER_PEER, DEFAULT_PEER_BODY_MIB_PER_SEC,
    DEFAULT_TRUSTED_RESERVE, ReloadGuard, Transport, default_workers,
};
pub use error::{ConfigError, ServeError, StartError};
pub use front::Front;
/// An address range (`--trusted-peer`), as [`Config::trusted_peers`] takes it.
pub use ipnet::IpNet;
pub use listen::{Running, start};
#[doc(hidden)]
pub use oci::{OciPlugin, OciSource};
pub use pipeline::Decide;
pub use region_map::RegionMapError;
pub use router::{MAX_BODY, router, router_with};
pub use state::AppState;
pub use tls::TlsError;

use decision_log::Entry;

/// The name of the front end a request path belongs to ([`Front::of_path`]), as [`conn`] reads it.
fn front_of(path: &str) -> Option<&'static str> {
    Front::of_path(path).map(Front::name)
}
