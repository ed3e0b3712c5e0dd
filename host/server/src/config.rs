//! How a server is set up: [`Config`] and [`Transport`], plain data with `yungui serve`'s
//! defaults, and the check that refuses a configuration that could not serve.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use yungui::PluginSource;
use yungui::engine::EngineConfig;
use yungui::registry::RegistrySource;

use crate::error::ConfigError;
use crate::{kubernetes, openstack};

/// How a server is set up: what `yungui serve`'s options describe, as plain data, for an
/// application that embeds the server without the command line ([`Config::new`] gives the
/// command's defaults).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The address to listen on (port 0 picks a free one:
    /// [`Running::addr`](crate::Running::addr) says which).
    pub listen: SocketAddr,
    /// HTTPS with a certificate, or plain HTTP.
    pub transport: Transport,
    /// Decisions running at once (each on a warm instance).
    pub workers: usize,
    /// Connections open at once; past it, a new connection takes an idle one's place (see
    /// [`conn`](crate::conn)), or is closed when every one serves a request.
    pub max_connections: usize,
    /// Connections open at once from one IP address; past it, a new one from that address is
    /// closed when accepted.
    pub max_connections_per_peer: usize,
    /// Bytes a second at which the raw API's and OpenStack's bodies of one IP address are read,
    /// together.
    pub peer_body_rate: u64,
    /// The API server's addresses (`--trusted-peer`): their connections never give way to
    /// others', are not held to `max_connections_per_peer`, and have `trusted_reserve` places
    /// no one else may take (see [`crate::conn`]). Empty: every peer is treated alike.
    pub trusted_peers: Vec<ipnet::IpNet>,
    /// Places only trusted peers may take (when `trusted_peers` is not empty).
    pub trusted_reserve: usize,
    /// Time a client has to send a request's headers (also the TLS handshake and keep-alive
    /// idle time).
    pub header_timeout: Duration,
    /// Time a client has to send a request's body whatever its rate (408 after that, but for
    /// a body arriving at `body_min_rate` or faster: see [`crate::conn::BodyTimes`]).
    pub body_timeout: Duration,
    /// Bytes a second a body must keep arriving at to get time past `body_timeout`.
    pub body_min_rate: u64,
    /// Time no body gets past, whatever its rate.
    pub body_max: Duration,
    /// The policy component.
    pub plugin: PluginSource,
    /// Refuse any component whose sha256 (hex) is not this, at start and at every reload.
    pub plugin_sha256: Option<String>,
    /// How often to check the component file (`PluginSource::File`) and swap in a changed one;
    /// `None` never does.
    pub plugin_watch: Option<Duration>,
    /// The component from an OCI registry, verified against a trust policy (then `plugin` is
    /// not used); `plugin_watch` follows its tag.
    pub oci: Option<crate::oci::OciPlugin>,
    /// A check every reloaded component's policy set must pass against the one in force before
    /// it is swapped in; `None` checks nothing beyond the load and the smoke decision.
    pub reload_guard: Option<ReloadGuard>,
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

/// The check a changed component's policy set must pass against the policy set in force before a
/// reload swaps it in: called with (in force, new), it returns why the new one is refused (e.g.
/// `yungui serve --refuse-more-permissive`: the new set allows a request the one in force
/// denies). It runs on a blocking thread, and may take seconds.
#[derive(Clone)]
pub struct ReloadGuard {
    /// What the check is, for logs (`more permissive than the one in force`).
    pub name: String,
    check: Arc<GuardFn>,
}

type GuardFn = dyn Fn(&yungui_policies::Sources, &yungui_policies::Sources) -> Result<(), String>
    + Send
    + Sync;

impl ReloadGuard {
    /// A guard named `name` running `check(in_force, new)`.
    pub fn new(
        name: impl Into<String>,
        check: impl Fn(&yungui_policies::Sources, &yungui_policies::Sources) -> Result<(), String>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            check: Arc::new(check),
        }
    }

    /// Why `new` is refused in place of `in_force`, if it is.
    pub(crate) fn check(
        &self,
        in_force: &yungui_policies::Sources,
        new: &yungui_policies::Sources,
    ) -> Result<(), String> {
        (self.check)(in_force, new)
    }
}

impl std::fmt::Debug for ReloadGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadGuard")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// How a server talks to its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
            trusted_peers: Vec::new(),
            trusted_reserve: DEFAULT_TRUSTED_RESERVE,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            body_min_rate: crate::conn::DEFAULT_BODY_MIN_KIB_PER_SEC << 10,
            body_max: Duration::from_secs(crate::conn::DEFAULT_BODY_MAX_SECS),
            plugin,
            plugin_sha256: None,
            plugin_watch: None,
            oci: None,
            reload_guard: None,
            registry: None,
            registry_watch: None,
            engine: EngineConfig::default(),
            kubernetes: kubernetes::Config::default(),
            openstack: openstack::Config::default(),
        }
    }

    /// What is wrong with this configuration, if anything.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if self.workers == 0 {
            return Err(ConfigError::NoWorkers);
        }
        if self.max_connections == 0
            || self.max_connections_per_peer == 0
            || self.peer_body_rate == 0
        {
            return Err(ConfigError::NoConnections);
        }
        if !self.trusted_peers.is_empty() && self.trusted_reserve >= self.max_connections {
            return Err(ConfigError::TrustedReserve);
        }
        if self.header_timeout.is_zero() || self.body_timeout.is_zero() {
            return Err(ConfigError::NoTime);
        }
        if self.body_min_rate == 0 || self.body_max < self.body_timeout {
            return Err(ConfigError::BodyTimes);
        }
        if [self.plugin_watch, self.registry_watch]
            .iter()
            .flatten()
            .any(Duration::is_zero)
        {
            return Err(ConfigError::ZeroWatch);
        }
        Ok(())
    }
}

/// The default `trusted_reserve`: a quarter of the default connection limit, as many reviews in
/// flight at once over HTTP/1.1 (one connection each) as a busy API server has, while everyone
/// else keeps three quarters.
pub const DEFAULT_TRUSTED_RESERVE: usize = 128;

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
