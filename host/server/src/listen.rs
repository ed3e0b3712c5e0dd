//! Starting a server: bind, serve over TLS or plain HTTP, load the component in the background
//! (then watch it and the registry, see [`crate::reload`]), and stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use yungui::PluginSource;
use yungui::registry::RegistrySource;

use crate::config::{Config, Transport};
use crate::error::{Refusal, StartError};
use crate::reload::{Watcher, watch_plugin, watch_registry};
use crate::router::router_with;
use crate::state::{AppState, Permits};
use crate::{conn, tls};

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
pub async fn start(config: &Config) -> Result<Running, StartError> {
    config.check()?;
    let state = AppState::new(
        config.workers,
        config.kubernetes.clone(),
        config.openstack.clone(),
    );
    let header_timeout = config.header_timeout;
    // A peer's raw API or OpenStack bodies are read as many at a time as that front end decides.
    let table = Arc::new(
        conn::Table::new(
            config.max_connections,
            config.max_connections_per_peer,
            (config.workers / 2).max(1),
            config.peer_body_rate,
        )
        .with_floor(config.body_min_rate)
        .with_trusted(config.trusted_peers.clone(), config.trusted_reserve),
    );
    table.count_in(state.metrics.clone());
    let body_times = conn::BodyTimes {
        grace: config.body_timeout,
        min_rate: config.body_min_rate,
        max: config.body_max,
    };
    let app = router_with(state.clone(), body_times)
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
                .first_request_timeout(header_timeout)
                .http1_only();
            bound_http1(&mut server, header_timeout);
            tokio::spawn(async move { server.serve(app).await })
        }
        Transport::PlainHttp => {
            let mut server = axum_server::bind(config.listen)
                .acceptor(limited)
                .handle(handle.clone())
                .first_request_timeout(header_timeout)
                .http1_only();
            bound_http1(&mut server, header_timeout);
            tokio::spawn(async move { server.serve(app).await })
        }
    };
    let addr = handle
        .listening()
        .await
        .ok_or(StartError::Listen(config.listen))?;

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
        config: config
            .engine
            .clone()
            .with_max_idle(Permits::total(config.workers)),
        workers: config.workers,
        pin: config.plugin_sha256.clone(),
        guard: config.reload_guard.clone(),
    };
    let registry_watch = files.zip(config.registry_watch);
    let plugin_watch = match &config.plugin {
        PluginSource::File(path) => Some(path.clone()).zip(config.plugin_watch),
        _ => None,
    };
    if let Some(plugin) = config.oci.clone() {
        tokio::spawn(crate::oci::watch_oci(
            watcher.clone(),
            plugin,
            registry,
            config.plugin_watch,
            registry_watch,
        ));
        return Ok(Running {
            addr,
            state,
            handle,
            task,
        });
    }
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
            let refusal = Refusal(&watcher.source, &err).to_string();
            watcher.state.metrics.component_load(false);
            tracing::error!("{refusal}; every decision is denied");
            watcher.state.set_reload_failure(Some(refusal));
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
///
/// Both transports are HTTP/1 only (`http1_only` above): the connection table counts a request
/// in flight as its connection's, which HTTP/2's streams (up to 200 on one connection) would
/// escape, and hyper's protocol detection would otherwise serve HTTP/2 to a client sending its
/// preface whatever ALPN chose.
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
