//! The registry in PostgreSQL, against a real server: a throwaway cluster each test starts in a
//! temporary folder (Debian's `postgresql` binaries; `initdb` and `pg_ctl` as the `postgres`
//! user when run as root), stopped and removed when the test ends, pass or fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use yungui::registry::postgres::{self, Database, PgConfig};

use super::*;

/// A PostgreSQL cluster of its own, on a loopback port and a socket in its folder.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

fn server_binaries() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "the PostgreSQL server binaries (initdb, pg_ctl) are not under /usr/lib/postgresql/*/bin: install Debian's `postgresql` package (apt-get install postgresql); .ci/run does"
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    /// Creates and starts a cluster (a couple of seconds).
    pub fn start() -> Self {
        let bin = server_binaries();
        let dir = tempfile::Builder::new()
            .prefix("yungui-pg-")
            .tempdir()
            .unwrap();
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if as_postgres {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(
                status.success(),
                "cannot give the cluster folder to `postgres`"
            );
        }
        let cluster = Self {
            dir,
            bin,
            port: free_port(),
            as_postgres,
        };
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        cluster.up();
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let output = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .output()
        } else {
            Command::new(&program).args(args).output()
        }
        .unwrap();
        assert!(
            output.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts the server (again).
    pub fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    /// Stops the server at once (as a crash would).
    pub fn down(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }

    /// The postmaster's pid and its children's (each backend is a session of its own).
    fn processes(&self) -> Vec<String> {
        let pid = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).unwrap();
        let postmaster = pid.lines().next().unwrap().trim().to_owned();
        let mut pids = vec![postmaster.clone()];
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid ...`: the command may hold spaces, the last `)` ends it.
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1));
            if parent == Some(postmaster.as_str()) {
                pids.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        pids
    }

    /// Stops the postmaster and every backend with `SIGSTOP` (a hung server: connections stay
    /// open, nothing answers) until the guard is dropped.
    pub fn freeze(&self) -> Frozen {
        let pids = self.processes();
        // One by one: a backend that exits between the listing and the signal needs no stopping
        // (one `kill` of the whole list fails for it); the postmaster, listed first, must stop.
        let stopped: Vec<String> = pids
            .into_iter()
            .filter(|pid| {
                Command::new("kill")
                    .args(["-STOP", pid])
                    .status()
                    .unwrap()
                    .success()
            })
            .collect();
        assert!(
            stopped.first() == self.processes().first(),
            "cannot stop the cluster's postmaster"
        );
        Frozen(stopped)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs SQL statements.
    pub fn sql(&self, statements: &str) {
        let url = self.url();
        let statements = statements.to_owned();
        runtime().block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            let driver = tokio::spawn(connection);
            client.batch_execute(&statements).await.unwrap();
            drop(client);
            let _ = driver.await;
        });
    }
}

/// A cluster stopped by `SIGSTOP`, continued when dropped (pass or fail).
pub struct Frozen(Vec<String>);

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-CONT").args(&self.0).status();
    }
}

/// A TCP relay to `target` that can go silent as a partition dropping packets would: what
/// either side sends is dropped, connections stay open, and new connections are accepted and
/// never answered (a plain listener).
struct Partition {
    addr: std::net::SocketAddr,
    silent: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Partition {
    fn to(target: u16) -> Self {
        use std::sync::atomic::Ordering::SeqCst;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let silent = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = silent.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for client in listener.incoming().flatten() {
                if flag.load(SeqCst) {
                    held.push(client);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let flag = flag.clone();
                    std::thread::spawn(move || relay(from, to, &flag));
                }
            }
        });
        Self { addr, silent }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@{}/postgres", self.addr)
    }

    fn silence(&self, silent: bool) {
        self.silent
            .store(silent, std::sync::atomic::Ordering::SeqCst);
    }
}

fn relay(
    mut from: std::net::TcpStream,
    mut to: std::net::TcpStream,
    silent: &std::sync::atomic::AtomicBool,
) {
    use std::io::{Read as _, Write as _};
    let mut buffer = [0_u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if silent.load(std::sync::atomic::Ordering::SeqCst) {
                    continue;
                }
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let program = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .output()
        } else {
            Command::new(&program).args(args).output()
        };
        // The folder goes with `dir`.
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn example_entities() -> Vec<Box<serde_json::value::RawValue>> {
    serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/registry.json"),
        )
        .unwrap(),
    )
    .unwrap()
}

fn import(cluster: &Cluster) -> postgres::Imported {
    runtime()
        .block_on(postgres::import(&cluster.url(), example_entities()))
        .unwrap()
}

fn database_engine(cluster: &Cluster, staleness: Duration) -> Engine {
    engine_at(&cluster.url(), staleness)
}

fn engine_at(url: &str, staleness: Duration) -> Engine {
    let database = Database::start(PgConfig {
        staleness,
        ..PgConfig::new(url)
    })
    .unwrap();
    // These tests are about the database, not the per-call deadline: a decision that reads
    // the registry over the wire, or right after a reconnect, on a CI machine running the whole
    // suite at once, may take longer than the default 200 ms, which failed them now and then
    // with `Timeout`. A fault past the staleness bound comes from the client, never from the
    // deadline, so a generous one changes nothing they assert.
    Engine::load(
        Path::new(shipped_plugin()),
        Registry::from_database(database),
        config()
            .with_max_idle(1)
            .with_deadline(Duration::from_secs(10)),
    )
    .unwrap()
}

/// Polls `f` until it holds (a change travels through the database asynchronously), failing
/// after a generous bound: no timing is asserted.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

const UNVERIFY_SHOP: &str = r#"UPDATE yungui_registry SET entity = jsonb_set(entity, '{attrs,real_name_verified}', 'false') WHERE uid_type = 'Cloud::Tenant' AND uid_id = 'shop-example'"#;

#[test]
fn import_is_idempotent_and_decisions_read_the_database() {
    let cluster = Cluster::start();
    let first = import(&cluster);
    assert_eq!(first.entities, example_entities().len());
    assert_eq!(first.written, first.entities as u64);
    assert_eq!(
        import(&cluster).written,
        0,
        "importing again writes nothing"
    );

    let engine = database_engine(&cluster, Duration::from_secs(30));
    let shop = workload("shop-example", "shop-example", "cn-north-1", false).to_string();
    let other = workload("newsite-example", "newsite-example", "cn-north-1", false).to_string();
    assert!(engine.decide_json(&shop).unwrap().allowed);
    assert!(engine.decide_json(&other).unwrap().allowed);
    let missing = workload("nobody", "nobody", "cn-north-1", false).to_string();
    let decision = engine.decide_json(&missing).unwrap();
    assert_eq!(controls(&decision.denials), ["registry-missing"]);
    let warm = engine.registry_lookups();

    // One tenant changes in the database: the next decision for it reads it (and only it)
    // again; the other tenant's reads nothing.
    cluster.sql(UNVERIFY_SHOP);
    eventually("the change is in force", || {
        !engine.decide_json(&shop).unwrap().allowed
    });
    assert_eq!(
        controls(&engine.decide_json(&shop).unwrap().denials),
        ["art8-1-real-name"]
    );
    assert_eq!(engine.registry_lookups(), warm + 1);
    assert!(engine.decide_json(&other).unwrap().allowed);
    assert_eq!(engine.registry_lookups(), warm + 1);
    let registry = engine.registry();
    let counters = registry.database().unwrap().counters();
    assert!(
        counters
            .evictions
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}

#[test]
fn a_malformed_row_fails_only_its_own_decisions() {
    let cluster = Cluster::start();
    import(&cluster);
    cluster.sql(
        r#"UPDATE yungui_registry SET entity = jsonb_set(entity, '{attrs,real_name_verified}', '"yes"') WHERE uid_type = 'Cloud::Tenant' AND uid_id = 'shop-example'"#,
    );
    let engine = database_engine(&cluster, Duration::from_secs(30));
    let shop = workload("shop-example", "shop-example", "cn-north-1", false).to_string();
    match engine.decide_json(&shop) {
        Err(Error::Failure(Failure::BadEntityData(message))) => {
            assert!(message.contains("shop-example"), "{message}");
        }
        other => panic!("expected bad-entity-data naming the tenant, got {other:?}"),
    }
    let other = workload("newsite-example", "newsite-example", "cn-north-1", false).to_string();
    assert!(engine.decide_json(&other).unwrap().allowed);
}

#[test]
fn a_lost_database_fails_closed_past_the_staleness_bound_and_is_reconnected() {
    let cluster = Cluster::start();
    import(&cluster);
    let engine = database_engine(&cluster, Duration::from_secs(2));
    let shop = workload("shop-example", "shop-example", "cn-north-1", false).to_string();
    let other = workload("newsite-example", "newsite-example", "cn-north-1", false).to_string();
    assert!(engine.decide_json(&shop).unwrap().allowed);
    let database = engine.registry();
    let database = database.database().unwrap();
    assert_eq!(database.connections(), 1);

    cluster.down();
    eventually("the loss is noticed", || !database.connected());
    // Within the bound: what is cached still decides; what is not is a fault, never a denial
    // for a missing entity, never an allow.
    if database.health().is_ok() {
        let decision = engine.decide_json(&shop);
        assert!(
            decision.as_ref().is_ok_and(|d| d.allowed)
                || matches!(&decision, Err(Error::Failure(Failure::PluginFault(m))) if m.contains("registry")),
            "{decision:?}"
        );
    }
    match engine.decide_json(&other) {
        Err(Error::Failure(Failure::PluginFault(message))) => {
            assert!(message.contains("registry"), "{message}");
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    // Past it: everything fails closed, cached or not, with the reason.
    eventually("the staleness bound passes", || database.health().is_err());
    match engine.decide_json(&shop) {
        Err(Error::Failure(Failure::PluginFault(message))) => {
            assert!(
                message.contains("out of reach") && message.contains("staleness"),
                "{message}"
            );
        }
        other => panic!("expected a fault past the staleness bound, got {other:?}"),
    }

    // The database comes back: the client reconnects (with backoff) and decisions resume,
    // from a cache started over (changes made meanwhile were not announced).
    cluster.up();
    eventually("reconnected", || database.connections() == 2);
    assert!(engine.decide_json(&shop).unwrap().allowed);
    assert!(engine.decide_json(&other).unwrap().allowed);
}

#[test]
fn a_database_down_at_start_is_not_ready_and_says_why() {
    // A port nothing listens on.
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", free_port());
    let args = serve_args(&[
        "--listen",
        "127.0.0.1:0",
        "--plain-http",
        "--workers",
        "1",
        "--plugin",
        shipped_plugin(),
        "--registry",
        &url,
    ]);
    let addr = serve_in_background(args);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut ready = agent.get(format!("http://{addr}/readyz")).call().unwrap();
    eventually("the first connection attempt fails", || {
        ready = agent.get(format!("http://{addr}/readyz")).call().unwrap();
        let body = ready.body_mut().read_to_string().unwrap();
        body.contains("cannot be reached")
    });
    assert_eq!(ready.status(), 503);
    let mut response = agent
        .post(format!("http://{addr}/v1/decide"))
        .send({
            let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
            request["context"] = serde_json::json!({});
            request.to_string()
        })
        .unwrap();
    let body = response.body_mut().read_to_string().unwrap();
    assert_ne!(response.status(), 200, "{body}");
    assert!(
        body.contains("\"error\"") && body.contains("registry database"),
        "{body}"
    );
    let metrics = agent
        .get(format!("http://{addr}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(metrics.contains("yungui_registry_connected 0"), "{metrics}");
    assert!(
        !metrics.contains("yungui_registry_source_errors_total 0\n"),
        "{metrics}"
    );
    // The database's families are exported (a registry in files has none), as documented.
    super::metrics::check_scrape(&metrics, true, false);
}

/// A server over a live database exports the database's families, as the README documents
/// them: connected, and the lookups of a decision counted.
#[test]
fn a_server_over_a_database_exports_its_metrics() {
    let cluster = Cluster::start();
    import(&cluster);
    let url = cluster.url();
    let addr = serve_in_background(serve_args(&[
        "--listen",
        "127.0.0.1:0",
        "--plain-http",
        "--workers",
        "1",
        "--plugin",
        shipped_plugin(),
        "--registry",
        &url,
    ]));
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
    request["context"] = serde_json::json!({});
    let mut response = agent
        .post(format!("http://{addr}/v1/decide"))
        .send(request.to_string())
        .unwrap();
    let body = response.body_mut().read_to_string().unwrap();
    assert_eq!(response.status(), 200, "{body}");
    let scrape = || {
        agent
            .get(format!("http://{addr}/metrics"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    };
    eventually("the database is connected", || {
        scrape().contains("yungui_registry_connected 1")
    });
    let metrics = scrape();
    super::metrics::check_scrape(&metrics, true, false);
    let misses = super::metrics::value(&metrics, "yungui_registry_cache_misses_total").unwrap();
    assert!(misses > 0.0, "{metrics}");
    super::metrics::check_process(&metrics);
}

#[test]
fn the_kubernetes_namespace_map_follows_the_database() {
    let cluster = Cluster::start();
    import(&cluster);
    cluster.sql(
        r#"INSERT INTO yungui_registry (uid_type, uid_id, entity) VALUES ('Cloud::Namespace', 'shop-web', '{"uid": {"type": "Cloud::Namespace", "id": "shop-web"}, "attrs": {}, "parents": [{"type": "Cloud::Tenant", "id": "shop-example"}]}')"#,
    );
    let database = Database::start(PgConfig::new(&cluster.url())).unwrap();
    let registry = Registry::from_database(database);
    assert!(registry.health().is_ok());
    eventually("the namespace is mapped", || {
        registry.tenant_of_namespace("shop-web") == "shop-example"
    });
    cluster.sql(
        r#"UPDATE yungui_registry SET entity = jsonb_set(entity, '{parents}', '[{"type": "Cloud::Tenant", "id": "corp-example"}]') WHERE uid_type = 'Cloud::Namespace' AND uid_id = 'shop-web'"#,
    );
    eventually("the namespace moves", || {
        registry.tenant_of_namespace("shop-web") == "corp-example"
    });
    assert_eq!(registry.tenant_of_namespace("elsewhere"), "elsewhere");
    // Under the `registry` tenancy only the rows count.
    assert_eq!(
        registry.listed_tenant_of_namespace("shop-web").as_deref(),
        Some("corp-example")
    );
    assert_eq!(registry.listed_tenant_of_namespace("elsewhere"), None);
}

#[test]
fn the_command_imports_and_decides_against_the_database() {
    let cluster = Cluster::start();
    let yungui = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_yungui"))
            .args(args)
            .env("YUNGUI_CACHE_DIR", cache_dir())
            .env_remove("YUNGUI_REGISTRY")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let registry = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/registry.json")
        .display()
        .to_string();
    let url = cluster.url();
    let (code, out, err) = yungui(&["registry", "import", "--registry", &url, &registry]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("90 written"), "{out}");
    let (code, out, _) = yungui(&["registry", "import", "--registry", &url, &registry]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains(" 0 written"),
        "importing again writes nothing: {out}"
    );
    // An entity the schema rejects: nothing is imported, and the error names it.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&registry).unwrap().replacen(
            r#""real_name_verified": true"#,
            r#""real_name_verified": "yes""#,
            1,
        ),
    )
    .unwrap();
    let (code, _, err) = yungui(&[
        "registry",
        "import",
        "--registry",
        &url,
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.contains("do not match the schema") && err.contains("real_name_verified"),
        "{err}"
    );
    // A file is not a database to import into.
    let (code, _, err) = yungui(&["registry", "import", "--registry", &registry, &registry]);
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("postgres://"), "{err}");

    let request = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/requests/deny-provision.json")
        .display()
        .to_string();
    let plugin = shipped_plugin();
    let (code, out, err) = yungui(&["decide", &request, "--plugin", plugin, "--registry", &url]);
    assert_eq!(code, Some(2), "a denial, as with the file: {out}{err}");
    // A database nobody answers: no decision (a fault naming the registry), never an allow.
    let nowhere = format!("postgres://postgres@127.0.0.1:{}/postgres", free_port());
    let (code, out, err) = yungui(&[
        "decide",
        &request,
        "--plugin",
        plugin,
        "--registry",
        &nowhere,
        "--registry-lookup-timeout-ms",
        "3000",
    ]);
    assert_eq!(code, Some(3), "{out}{err}");
    assert!(
        format!("{out}{err}").contains("registry database"),
        "{out}{err}"
    );
}

/// Expects the decision to fail closed as a fault because the registry database went silent.
fn assert_silent_fault(engine: &Engine, request: &str) {
    match engine.decide_json(request) {
        Err(Error::Failure(Failure::PluginFault(message))) => {
            assert!(
                message.contains("out of reach") && message.contains("staleness"),
                "{message}"
            );
        }
        other => panic!("expected a fault past the staleness bound, got {other:?}"),
    }
}

#[test]
fn a_hung_database_fails_closed_past_the_staleness_bound() {
    let cluster = Cluster::start();
    import(&cluster);
    let engine = database_engine(&cluster, Duration::from_secs(2));
    let shop = workload("shop-example", "shop-example", "cn-north-1", false).to_string();
    assert!(engine.decide_json(&shop).unwrap().allowed);
    let registry = engine.registry();
    let database = registry.database().unwrap();
    assert!(database.status().is_ok());

    // The server hangs without closing anything: the tenant is suspended in the database
    // meanwhile (as far as anyone can know), so its cached copy must stop deciding.
    let frozen = cluster.freeze();
    eventually("the silence is noticed", || database.status().is_err());
    assert_silent_fault(&engine, &shop);
    let why = database.status().unwrap_err().to_string();
    assert!(why.contains("staleness"), "{why}");
    eventually("the hung connection is given up", || !database.connected());

    // It answers again: a new connection, decisions resume.
    drop(frozen);
    eventually("reconnected", || {
        database.connections() >= 2 && database.status().is_ok()
    });
    assert!(engine.decide_json(&shop).unwrap().allowed);
}

#[test]
fn a_partition_that_drops_packets_fails_closed_past_the_staleness_bound() {
    let cluster = Cluster::start();
    import(&cluster);
    let partition = Partition::to(cluster.port);
    let engine = engine_at(&partition.url(), Duration::from_secs(2));
    let shop = workload("shop-example", "shop-example", "cn-north-1", false).to_string();
    let other = workload("newsite-example", "newsite-example", "cn-north-1", false).to_string();
    assert!(engine.decide_json(&shop).unwrap().allowed);
    let registry = engine.registry();
    let database = registry.database().unwrap();

    partition.silence(true);
    eventually("the silence is noticed", || database.status().is_err());
    assert_silent_fault(&engine, &shop);
    assert_silent_fault(&engine, &other);
    eventually("the silent connection is given up", || {
        !database.connected()
    });
    // Reconnecting meets a listener that accepts and never answers: still a fault, never an
    // allow, and the client is not stuck there for good.
    std::thread::sleep(Duration::from_secs(3));
    assert_silent_fault(&engine, &shop);
    assert!(!database.connected());

    partition.silence(false);
    eventually("reconnected", || {
        database.connections() >= 2 && database.status().is_ok()
    });
    assert!(engine.decide_json(&shop).unwrap().allowed);
    assert!(engine.decide_json(&other).unwrap().allowed);
}

/// PostgreSQL text cannot hold a NUL: an id holding one is the caller's error (400, naming
/// where), not a fault of the database (503).
#[test]
fn an_id_holding_a_nul_is_a_bad_request() {
    let cluster = Cluster::start();
    import(&cluster);
    let url = cluster.url();
    let addr = serve_in_background(serve_args(&[
        "--listen",
        "127.0.0.1:0",
        "--plain-http",
        "--workers",
        "1",
        "--plugin",
        shipped_plugin(),
        "--registry",
        &url,
    ]));
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let post = |tenant: &str| {
        let mut request = workload(tenant, "shop-example", "cn-north-1", false);
        request["context"] = serde_json::json!({});
        let mut response = agent
            .post(format!("http://{addr}/v1/decide"))
            .send(request.to_string())
            .unwrap();
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap(),
        )
    };
    let (status, body) = post("shop-example");
    assert_eq!(status, 200, "{body}");
    let (status, body) = post("shop-example\u{0}x");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("`principal.id` holds a NUL"), "{body}");
}
