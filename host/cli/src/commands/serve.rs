//! `yungui serve`: the HTTPS server (raw API, Kubernetes admission, OpenStack checks). The options
//! here become a [`server::Config`]; the server itself takes no command-line types.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{EngineArgs, Exit};
use yungui_server as server;
use yungui_server::kubernetes::SYSTEM_NAMESPACES;
use yungui_server::{Transport, default_workers, kubernetes, openstack, start};

/// Serve decisions over HTTPS.
#[derive(Debug, Args)]
pub struct ServeCommand {
    /// Its options.
    #[command(flatten)]
    pub args: ServeArgs,
}

impl ServeCommand {
    /// Runs until SIGINT or SIGTERM, then drains requests in flight.
    pub fn execute(self) -> anyhow::Result<Exit> {
        let config = self.args.config()?;
        // Plain logs only: with `--log-json`, standard error carries JSON lines alone.
        if !self.args.log_json {
            self.args.engine.announce_server();
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let running = start(&config).await?;
            tracing::info!(addr = %running.addr, "listening");
            // For scripts reading plain logs, whatever the filter; `--log-json` has the line above.
            if !self.args.log_json {
                eprintln!("yungui: listening on {}", running.addr);
            }
            shutdown_signal().await;
            tracing::info!("shutting down");
            running.shutdown(Duration::from_secs(10)).await?;
            Ok(Exit::Ok)
        })
    }
}

/// `yungui serve`'s options.
#[derive(Debug, Clone, Args)]
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

    /// Connections open at once. Past it, a new connection takes the place of a request whose
    /// body has fallen behind `--body-min-kib-per-sec` (503), or else of an idle connection (in
    /// its TLS handshake, sending its headers or kept alive), of an address holding more; or is
    /// closed. A body arriving at the floor or faster never gives way. Keep it below the
    /// process's file limit (`ulimit -n`).
    #[arg(long, default_value_t = 512, value_name = "N")]
    pub max_connections: usize,

    /// Connections open at once from one IP address. Past it, a new one from that address is
    /// closed when accepted. Behind a proxy or source NAT every client
    /// has the proxy's address: raise it there.
    #[arg(long, default_value_t = server::DEFAULT_MAX_CONNECTIONS_PER_PEER, value_name = "N")]
    pub max_connections_per_peer: usize,

    /// The API server's address or range (CIDR; repeatable). Its connections never give way
    /// to other peers', are not held to `--max-connections-per-peer`, and have
    /// `--trusted-reserve` places no other peer can take: pods attacking from any number of
    /// addresses cannot keep reviews out. Give the address the webhook's connections come from
    /// (the API server's, or the proxy's in front of it); without it every peer is alike.
    #[arg(long = "trusted-peer", value_name = "CIDR", value_parser = parse_cidr)]
    pub trusted_peers: Vec<server::IpNet>,

    /// Places of `--max-connections` only `--trusted-peer` addresses may take (a review in flight
    /// over HTTP/1.1 holds one). Ignored without `--trusted-peer`.
    #[arg(long, default_value_t = server::DEFAULT_TRUSTED_RESERVE, value_name = "N")]
    pub trusted_reserve: usize,

    /// MiB a second at which the raw API's and OpenStack's request bodies from one IP address
    /// are read, together (admission bodies are not bounded so). A flood of large bodies from
    /// one address then takes a bounded share of the CPU.
    #[arg(long, default_value_t = server::DEFAULT_PEER_BODY_MIB_PER_SEC, value_name = "MIB")]
    pub peer_body_mib_per_sec: u64,

    /// Seconds a client has to send a request's headers, from connecting or from the previous
    /// response: slow headers and idle keep-alive connections are closed after this.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub header_timeout_secs: u64,

    /// Seconds a client has to send a request's body whatever its rate (408 after that), more
    /// for a body arriving at `--body-min-kib-per-sec` or faster.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub body_timeout_secs: u64,

    /// A body earns one second past `--body-timeout-secs` per this many KiB received: one
    /// arriving slower is answered 408 and its connection closed, freeing its place.
    #[arg(long, default_value_t = server::conn::DEFAULT_BODY_MIN_KIB_PER_SEC, value_name = "KIB")]
    pub body_min_kib_per_sec: u64,

    /// Seconds no body gets past, whatever its rate (408; taken as `--body-timeout-secs` if
    /// lower). The default is the longest an API server waits for a webhook.
    #[arg(long, default_value_t = server::conn::DEFAULT_BODY_MAX_SECS, value_name = "SECONDS")]
    pub body_max_secs: u64,

    /// Log one JSON object per line (decision log included).
    #[arg(long)]
    pub log_json: bool,

    /// Check the registry file (or each file of a registry directory) this often (seconds) and
    /// apply the changes of the files that changed; 0 never does.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub registry_watch_secs: u64,

    /// Check the component file (`--plugin`) this often (seconds) and, when it changed, load it,
    /// run a smoke decision and swap it in; a component that fails any step is refused and the
    /// one in force stays. 0 never does.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    pub plugin_watch_secs: u64,

    /// Refuse any component whose sha256 is not this (hex), at start and at every reload.
    #[arg(long, value_name = "HEX")]
    pub plugin_sha256: Option<String>,

    /// With `--plugin oci://REGISTRY/REPOSITORY:TAG|@sha256:…`: a public key (PEM, ECDSA P-256)
    /// whose cosign signature makes an artefact trusted, for any repository (repeat for several).
    #[arg(long, value_name = "PEM", conflicts_with = "trust_policy")]
    pub verify_key: Vec<PathBuf>,

    /// With `--plugin oci://…`: which keys may sign which repositories (JSON or YAML; see the
    /// README's "Policy sets in an OCI registry").
    #[arg(long, value_name = "FILE")]
    pub trust_policy: Option<PathBuf>,

    /// With `--plugin oci://…`: speak plain HTTP to the registry (a loopback test registry).
    #[arg(long)]
    pub registry_plain_http: bool,

    /// With `--plugin oci://…`: the docker `config.json` with the registry's credentials.
    /// Default: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`; anonymous when none.
    #[arg(long, value_name = "FILE")]
    pub docker_config: Option<PathBuf>,

    /// Refuse a reloaded component whose policy set allows, in any request environment, a
    /// request the one in force denies (as `yungui diff` proves it, with cvc5); the refusal is
    /// logged with such a request, and the one in force stays. Needs the SMT solver cvc5
    /// (Debian package `cvc5`, on PATH or `$CVC5`) and a watched `--plugin` (a file or
    /// `oci://…`).
    #[arg(long)]
    pub refuse_more_permissive: bool,

    /// The Kubernetes admission front end's options.
    #[command(flatten)]
    pub kubernetes: KubernetesArgs,

    /// The OpenStack policy front end's options.
    #[command(flatten)]
    pub openstack: OpenStackArgs,

    /// The component and the registry to serve.
    #[command(flatten)]
    pub engine: EngineArgs,
}

impl ServeArgs {
    /// The server configuration these options describe; a bad value is an error naming its
    /// option.
    #[doc(hidden)] // Public for the integration tests, which start servers in process.
    pub fn config(&self) -> anyhow::Result<server::Config> {
        for (value, flag) in [
            (self.header_timeout_secs, "--header-timeout-secs"),
            (self.body_timeout_secs, "--body-timeout-secs"),
        ] {
            if value == 0 {
                anyhow::bail!("`{flag}` is 0: give clients some time, e.g. 10");
            }
        }
        if self.body_min_kib_per_sec == 0 {
            anyhow::bail!("`--body-min-kib-per-sec` is 0: no body would earn time, e.g. 8");
        }
        if self.workers == 0 {
            anyhow::bail!("`--workers` is 0: a server needs at least one, e.g. 8");
        }
        if self.max_connections == 0 {
            anyhow::bail!("`--max-connections` is 0: it would refuse every client, e.g. 512");
        }
        if self.peer_body_mib_per_sec == 0 {
            anyhow::bail!("`--peer-body-mib-per-sec` is 0: no body would ever be read, e.g. 32");
        }
        if self.max_connections_per_peer == 0 {
            anyhow::bail!(
                "`--max-connections-per-peer` is 0: it would refuse every client, e.g. 64"
            );
        }
        if !self.trusted_peers.is_empty() && self.trusted_reserve >= self.max_connections {
            anyhow::bail!(
                "`--trusted-reserve` ({}) must be below `--max-connections` ({}): other peers would get no place",
                self.trusted_reserve,
                self.max_connections
            );
        }
        let transport = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Transport::Tls {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.client_ca.clone(),
            },
            _ if self.plain_http => Transport::PlainHttp,
            _ => anyhow::bail!(
                "no certificate: pass `--tls-cert` and `--tls-key` (see `yungui cert`), or `--plain-http` for a local test"
            ),
        };
        let every = |secs: u64| (secs > 0).then(|| Duration::from_secs(secs));
        let mut config = server::Config::new(self.listen, transport, self.engine.server_source());
        config.workers = self.workers;
        config.max_connections = self.max_connections;
        config.max_connections_per_peer = self.max_connections_per_peer;
        config.trusted_peers.clone_from(&self.trusted_peers);
        config.trusted_reserve = self.trusted_reserve;
        config.peer_body_rate = self.peer_body_mib_per_sec.saturating_mul(1 << 20);
        config.header_timeout = Duration::from_secs(self.header_timeout_secs);
        config.body_timeout = Duration::from_secs(self.body_timeout_secs);
        config.body_min_rate = self.body_min_kib_per_sec.saturating_mul(1 << 10);
        // Never shorter than the timeout, so that raising the timeout alone does what it says.
        config.body_max = Duration::from_secs(self.body_max_secs.max(self.body_timeout_secs));
        config.oci = self.oci()?;
        config.plugin_sha256.clone_from(&self.plugin_sha256);
        config.plugin_watch = every(self.plugin_watch_secs);
        if self.refuse_more_permissive {
            if self.engine.plugin.is_none() || config.plugin_watch.is_none() {
                anyhow::bail!(
                    "`--refuse-more-permissive` guards the reloads of a watched component: give `--plugin FILE` (or `oci://…`) and a non-zero `--plugin-watch-secs`"
                );
            }
            config.reload_guard = Some(more_permissive_guard()?);
        }
        config.registry = self.engine.server_registry_source();
        config.registry_watch = every(self.registry_watch_secs);
        config.engine = self.engine.config();
        config.kubernetes = self.kubernetes.config()?;
        config.openstack = self.openstack.config()?;
        Ok(config)
    }
}

impl ServeArgs {
    /// The component from an OCI registry, when `--plugin` is `oci://…`, with its trust policy.
    fn oci(&self) -> anyhow::Result<Option<server::OciPlugin>> {
        let plugin = self.engine.plugin.as_ref().and_then(|p| p.to_str());
        let source = match plugin {
            Some(p) if p.starts_with("oci://") => Some(server::OciSource::Registry(
                yungui_oci::OciRef::parse(p.trim_start_matches("oci://"))?,
            )),
            Some(p) if p.starts_with("oci-layout://") => {
                let rest = p.trim_start_matches("oci-layout://");
                // DIR:TAG, the tag after the last `:` past the last `/`.
                let (dir, tag) = match rest.rsplit_once(':') {
                    Some((dir, tag)) if !tag.contains('/') && !tag.is_empty() => {
                        (dir, Some(tag.to_owned()))
                    }
                    _ => (rest, None),
                };
                Some(server::OciSource::Layout {
                    dir: PathBuf::from(dir),
                    tag,
                })
            }
            _ => None,
        };
        let Some(source) = source else {
            if !self.verify_key.is_empty() || self.trust_policy.is_some() {
                anyhow::bail!(
                    "`--verify-key` and `--trust-policy` verify components from a registry: pass `--plugin oci://REGISTRY/REPOSITORY:TAG`"
                );
            }
            return Ok(None);
        };
        let trust = match &self.trust_policy {
            Some(file) => yungui_oci::TrustPolicy::from_file(file)?,
            None if self.verify_key.is_empty() => anyhow::bail!(
                "`--plugin oci://…` needs `--verify-key PUB.pem` or `--trust-policy FILE`: nothing unsigned is served"
            ),
            None => yungui_oci::TrustPolicy::any_repository(
                self.verify_key
                    .iter()
                    .map(|path| yungui_oci::VerifyingKey::from_pem_file(path))
                    .collect::<Result<_, _>>()?,
            ),
        };
        Ok(Some(server::OciPlugin {
            source,
            trust,
            registry: yungui_oci::RegistryOptions {
                plain_http: self.registry_plain_http,
                docker_config: self.docker_config.clone(),
            },
        }))
    }
}

/// The guard `--refuse-more-permissive` sets: the new policy set is refused when it allows, in
/// some request environment, a request the one in force denies; the reason names the
/// environments and gives one such request. The solver must be there when the server starts.
fn more_permissive_guard() -> anyhow::Result<server::ReloadGuard> {
    let solver = yungui_analyze::find_solver(None)
        .map_err(|e| anyhow::anyhow!("`--refuse-more-permissive`: {e}"))?;
    Ok(server::ReloadGuard::new(
        "more permissive than the one in force",
        move |in_force, new| {
            let read = |sources, which: &str| {
                yungui_analyze::Input::from_sources(sources)
                    .map_err(|e| format!("the {which} policy set cannot be analysed: {e}"))
            };
            let (old, new) = (read(in_force, "in-force")?, read(new, "new")?);
            let options = yungui_analyze::Options {
                solver: Some(solver.clone()),
                ..yungui_analyze::Options::default()
            };
            let diff = yungui_analyze::diff(&old, &new, &options)
                .map_err(|e| format!("it cannot be compared with the one in force: {e}"))?;
            let wider: Vec<_> = diff
                .environments
                .iter()
                .filter_map(|e| {
                    e.newly_allowed
                        .as_ref()
                        .map(|found| (&e.environment, found))
                })
                .collect();
            match wider.first() {
                None => Ok(()),
                Some((environment, found)) => Err(format!(
                    "it allows what the one in force denies in {} request environment(s) ({}); e.g. in {environment}: request {} with registry {}",
                    wider.len(),
                    wider
                        .iter()
                        .map(|(e, _)| e.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    found.request,
                    found.registry
                )),
            }
        },
    ))
}

/// Settings of the Kubernetes front end.
#[derive(Debug, Clone, Args)]
pub struct KubernetesArgs {
    /// The region of the cluster, for pods without a `topology.kubernetes.io/region` node selector.
    #[arg(long, env = "YUNGUI_CLUSTER_REGION", default_value = "cn-north-1")]
    pub cluster_region: String,

    /// For a cluster whose nodes span regions: zone (`topology.kubernetes.io/zone`) → region, a
    /// JSON object like `{"cn-north-1a": "cn-north-1"}`. With it, a pod placed in a zone it lacks
    /// is denied, and a pod placed nowhere in particular is decided in every region it names.
    #[arg(long, env = "YUNGUI_CLUSTER_ZONE_MAP", value_name = "JSON")]
    pub cluster_zone_map: Option<PathBuf>,

    /// For a cluster whose nodes span regions: node name → region (a JSON object). With it, a pod
    /// pinned to a node it lacks (`spec.nodeName`, `kubernetes.io/hostname`, `matchFields`) is
    /// denied.
    #[arg(long, env = "YUNGUI_CLUSTER_NODE_MAP", value_name = "JSON")]
    pub cluster_node_map: Option<PathBuf>,

    /// Storage class → the region of its volumes (a JSON object). With it, a claim of a class it
    /// lacks (or of no class) is denied.
    #[arg(long, env = "YUNGUI_STORAGE_CLASS_MAP", value_name = "JSON")]
    pub storage_class_map: Option<PathBuf>,

    /// An admission review not decided within this many milliseconds is refused as a fault
    /// (keep it below the webhook's `timeoutSeconds`).
    #[arg(long, default_value_t = 2_000, value_name = "MS")]
    pub review_deadline_ms: u64,

    /// Namespaces whose objects are always allowed without running the policies (comma
    /// separated, or the option repeated). The default is the cluster's own namespaces and
    /// yungui's.
    #[arg(
        long = "exempt-namespace",
        value_delimiter = ',',
        default_values_t = SYSTEM_NAMESPACES.map(str::to_owned),
        value_name = "NAMESPACE"
    )]
    pub exempt_namespaces: Vec<String>,

    /// Who a namespace belongs to: `same-name` (the default), the parent of its
    /// `Cloud::Namespace` entity, else the tenant named like the namespace (safe only where
    /// tenants cannot create namespaces of their choosing); `registry`, only the parent of its
    /// `Cloud::Namespace` entity: objects of a namespace the registry does not list are denied.
    #[arg(long, default_value = "same-name", value_name = "registry|same-name", value_parser = parse_tenancy)]
    pub namespace_tenancy: kubernetes::namespaces::Tenancy,

    /// Users (the review's `userInfo.username`) who may change a namespace's `yungui.io/*`
    /// labels (comma separated, or the option repeated). Anyone may set `yungui.io/mode=enforce`.
    #[arg(long = "label-admin-user", value_delimiter = ',', value_name = "USER")]
    pub label_admin_users: Vec<String>,

    /// Groups (the review's `userInfo.groups`) whose members may change a namespace's
    /// `yungui.io/*` labels (comma separated, or the option repeated).
    #[arg(
        long = "label-admin-group",
        value_delimiter = ',',
        default_values_t = ["system:masters".to_owned()],
        value_name = "GROUP"
    )]
    pub label_admin_groups: Vec<String>,

    /// Deny creating a namespace without a `yungui.io/mode` label (label admins excepted).
    #[arg(long)]
    pub require_mode_label: bool,

    /// Users (the review's `userInfo.username`) who may bind pods to nodes (`pods/binding`) in a
    /// cluster whose nodes span regions (`--cluster-zone-map`, `--cluster-node-map`): the
    /// schedulers, which honour the node constraints decided at the pod's CREATE (comma
    /// separated, or the option repeated). In a one-region cluster bindings are not decided.
    #[arg(
        long = "binder-user",
        value_delimiter = ',',
        default_values_t = [kubernetes::binding::DEFAULT_BINDER.to_owned()],
        value_name = "USER"
    )]
    pub binders: Vec<String>,
}

/// An address range (`10.0.0.0/24`) or one address (`10.0.0.5`, taken as `/32` or `/128`).
fn parse_cidr(value: &str) -> Result<server::IpNet, String> {
    value
        .parse::<server::IpNet>()
        .or_else(|_| value.parse::<std::net::IpAddr>().map(server::IpNet::from))
        .map_err(|_| format!("`{value}` is not an address range (e.g. 10.0.0.0/24) or an address"))
}

fn parse_tenancy(value: &str) -> Result<kubernetes::namespaces::Tenancy, String> {
    kubernetes::namespaces::Tenancy::parse(value)
}

impl KubernetesArgs {
    /// The front end's configuration.
    pub fn config(&self) -> anyhow::Result<kubernetes::Config> {
        if self.cluster_region.trim().is_empty() {
            anyhow::bail!("`--cluster-region` is empty: name the cluster's `Cloud::Region`");
        }
        if self.review_deadline_ms == 0 {
            anyhow::bail!("`--review-deadline-ms` is 0: give the review some time, e.g. 2000");
        }
        if let Some(empty) = self.exempt_namespaces.iter().find(|n| n.trim().is_empty()) {
            anyhow::bail!(
                "`--exempt-namespace` has an empty name (`{empty}`): list namespaces separated by commas"
            );
        }
        for (names, flag) in [
            (&self.label_admin_users, "--label-admin-user"),
            (&self.label_admin_groups, "--label-admin-group"),
            (&self.binders, "--binder-user"),
        ] {
            if let Some(empty) = names.iter().find(|n| n.trim().is_empty()) {
                anyhow::bail!(
                    "`{flag}` has an empty name (`{empty}`): list names separated by commas"
                );
            }
        }
        Ok(kubernetes::Config {
            cluster_region: self.cluster_region.clone(),
            topology: kubernetes::mapping::Topology::load(
                self.cluster_zone_map.as_deref(),
                self.cluster_node_map.as_deref(),
                self.storage_class_map.as_deref(),
            )?,
            review_deadline: Duration::from_millis(self.review_deadline_ms),
            exempt_namespaces: self.exempt_namespaces.clone(),
            namespaces: kubernetes::namespaces::Namespaces {
                tenancy: self.namespace_tenancy,
                label_admin_users: self.label_admin_users.clone(),
                label_admin_groups: self.label_admin_groups.clone(),
                require_mode_label: self.require_mode_label,
            },
            binders: self.binders.clone(),
        })
    }
}

/// Settings of the OpenStack front end.
#[derive(Debug, Clone, Args)]
pub struct OpenStackArgs {
    /// The region for requests whose availability zone the zone map does not name.
    #[arg(long, env = "YUNGUI_OPENSTACK_REGION", default_value = "cn-north-1")]
    pub openstack_region: String,

    /// The rule map (JSON): oslo.policy rule → action, resource and defaults. Default: the
    /// shipped `deploy/openstack/rules.json`.
    #[arg(long, env = "YUNGUI_OPENSTACK_RULES", value_name = "JSON")]
    pub openstack_rules: Option<PathBuf>,

    /// Availability zone → region (a JSON object), e.g. `{"nova-az1": "cn-north-1"}`.
    #[arg(long, env = "YUNGUI_OPENSTACK_ZONE_MAP", value_name = "JSON")]
    pub openstack_zone_map: Option<PathBuf>,
}

impl OpenStackArgs {
    /// The front end's configuration: the rule map and zone map read.
    pub fn config(&self) -> anyhow::Result<openstack::Config> {
        if self.openstack_region.trim().is_empty() {
            anyhow::bail!("`--openstack-region` is empty: name the region of this OpenStack");
        }
        Ok(openstack::Config::load(
            &self.openstack_region,
            self.openstack_rules.as_deref(),
            self.openstack_zone_map.as_deref(),
        )?)
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
