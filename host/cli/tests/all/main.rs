//! Integration tests of the engine over the built components: decisions, failures, faults.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] functions: a failure should stop the test loudly"
)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use yungui::types::{self, Failure};
use yungui::{Engine, EngineConfig, Error, Registry};

mod analyze;
mod analyze_plugin;
mod check;
mod connections;
mod deploy;
mod docs;
mod kubernetes;
mod long_files;
mod metrics;
mod oci;
mod openstack;
mod postgres;
mod properties;

/// The example registry's path, for commands run where no registry is found by default.
fn example_registry_path() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/registry.json")
        .display()
        .to_string()
}

fn example_registry() -> Registry {
    Registry::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/registry.json"))
        .unwrap()
}

fn config() -> EngineConfig {
    EngineConfig::default().with_cache_dir(Some(cache_dir()))
}

/// One compile cache for the whole test binary, so the component is compiled once.
fn cache_dir() -> PathBuf {
    // Under the target directory, kept between runs (entries are named by content, written
    // whole): a temporary directory held in a static is never removed, and each run left its
    // ~60 MB of compiled components in /tmp.
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("yungui-cache-all");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
    .clone()
}

/// The shipped policy set, built once for this test binary as `yungui build` builds it.
fn shipped_plugin() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let built = yungui::builder::shipped(Some(&cache_dir())).unwrap();
        let path = cache_dir().join("shipped.wasm");
        std::fs::write(&path, &built.wasm).unwrap();
        path.display().to_string()
    })
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::load(Path::new(shipped_plugin()), example_registry(), config()).unwrap()
    })
}

/// The compiled components in a cache folder.
fn compiled_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect();
    found.sort();
    found
}

/// A workload in `region` for `tenant`, owned by `owner`.
fn workload(tenant: &str, owner: &str, region: &str, privileged: bool) -> Value {
    json!({
        "principal": {"type": "Cloud::Tenant", "id": tenant},
        "action": "provision_workload",
        "resource": {
            "uid": {"type": "Cloud::Workload", "id": "web-1"},
            "attrs": {
                "region": {"type": "Cloud::Region", "id": region},
                "purpose": "website",
                "owner": {"type": "Cloud::Tenant", "id": owner},
                "privileged": privileged,
                "host_access": false
            },
            "parents": []
        },
        "context": {"now": "2026-11-30T08:00:00Z"}
    })
}

/// The typed form of [`workload`] (owner = tenant, unprivileged).
fn typed_workload(tenant: &str, region: &str) -> types::Request {
    use yungui::bindings::build::{attr, uid};
    types::Request {
        principal: uid("Cloud::Tenant", tenant),
        action: "provision_workload".to_owned(),
        resource: types::Entity {
            uid: uid("Cloud::Workload", "web-1"),
            attrs: vec![
                attr("region", types::Value::Entity(uid("Cloud::Region", region))),
                attr("purpose", types::Value::String("website".to_owned())),
                attr("owner", types::Value::Entity(uid("Cloud::Tenant", tenant))),
                attr("privileged", types::Value::Boolean(false)),
                attr("host_access", types::Value::Boolean(false)),
            ],
            parents: vec![],
        },
        context: vec![attr(
            "now",
            types::Value::Datetime("2026-11-30T08:00:00Z".to_owned()),
        )],
        entities: vec![],
    }
}

/// The control ids of a JSON report's denials.
fn fired_controls(report: &Value) -> Vec<String> {
    report["denials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["control"].as_str().unwrap().to_owned())
        .collect()
}

/// `yungui serve`'s options from command-line words.
fn serve_args(words: &[&str]) -> yungui_cli::commands::serve::ServeArgs {
    #[derive(clap::Parser)]
    struct Serve {
        #[command(flatten)]
        args: yungui_cli::commands::serve::ServeArgs,
    }
    <Serve as clap::Parser>::try_parse_from(std::iter::once("serve").chain(words.iter().copied()))
        .unwrap()
        .args
}

/// Starts `yungui serve` with `args` on a runtime of its own, serving until the test binary exits;
/// returns once the component is loaded (or panics after five minutes).
fn serve_in_background(args: yungui_cli::commands::serve::ServeArgs) -> std::net::SocketAddr {
    serve_config_in_background(args.config().unwrap())
}

/// Starts a server configured in code, as [`serve_in_background`] does.
fn serve_config_in_background(config: yungui_server::Config) -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let running = yungui_server::start(&config).await.unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(300);
            while running.state.engine().is_none() && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(
                running.state.engine().is_some(),
                "the component did not load"
            );
            tx.send(running.addr).unwrap();
            let _ = running.wait().await;
        });
    });
    rx.recv_timeout(Duration::from_secs(310)).unwrap()
}

fn decide(request: &Value) -> Result<types::Decision, Error> {
    engine().decide_json(&request.to_string())
}

fn controls(findings: &[types::Finding]) -> Vec<&str> {
    findings.iter().map(|f| f.control.as_str()).collect()
}

fn bad_request(result: Result<types::Decision, Error>) -> String {
    match result {
        Err(Error::Failure(Failure::BadRequest(message))) => message,
        other => panic!("expected a bad request, got {other:?}"),
    }
}

mod decisions {
    use super::*;

    /// The obligations of the denials of `control`.
    fn obligations(decision: &types::Decision, control: &str) -> Vec<String> {
        let mut out: Vec<String> = decision
            .denials
            .iter()
            .filter(|f| f.control == control)
            .flat_map(|f| f.obligations.clone())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn only_a_change_of_use_carries_the_8_3_report() {
        let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
        request["resource"]["attrs"]["purpose"] = json!("mining");
        let provision = decide(&request).unwrap();
        assert!(!provision.allowed);
        assert!(obligations(&provision, "art8-2-agreed-purpose").is_empty());
        request["action"] = json!("change_purpose");
        let change = decide(&request).unwrap();
        assert!(!change.allowed);
        assert_eq!(
            obligations(&change, "art8-2-agreed-purpose"),
            ["report_to_regulator"]
        );
    }

    #[test]
    fn termination_obligations_follow_the_duty_missed() {
        let service = |attrs: Value| {
            json!({
                "principal": {"type": "Cloud::Operator", "id": "acme-cloud"},
                "action": "terminate_service",
                "resource": {"uid": {"type": "Cloud::Service", "id": "s"}, "attrs": attrs, "parents": []},
                "context": {"now": "2026-11-30T08:00:00Z"}
            })
        };
        let control = "art9-6-termination-notice";
        let unreported = decide(&service(json!({
            "users_announced_at": "2026-01-15", "data_export_available": true
        })))
        .unwrap();
        assert_eq!(obligations(&unreported, control), ["report_to_regulator"]);
        let unannounced = decide(&service(json!({
            "regulator_reported_at": "2026-01-15", "data_export_available": true
        })))
        .unwrap();
        assert_eq!(obligations(&unannounced, control), ["notify_users"]);
        let no_export = decide(&service(json!({
            "regulator_reported_at": "2026-01-15", "users_announced_at": "2026-01-15",
            "data_export_available": false
        })))
        .unwrap();
        assert!(!no_export.allowed);
        assert!(obligations(&no_export, control).is_empty());
    }

    #[test]
    fn allows_a_compliant_workload() {
        let decision = decide(&workload(
            "shop-example",
            "shop-example",
            "cn-north-1",
            false,
        ))
        .unwrap();
        assert!(decision.allowed, "{decision:?}");
        assert!(decision.denials.is_empty());
    }

    #[test]
    fn lists_every_control_that_fired() {
        let decision = decide(&workload(
            "unverified-example",
            "shop-example",
            "eu-west-1",
            true,
        ))
        .unwrap();
        assert!(!decision.allowed);
        let fired = controls(&decision.denials);
        for expected in [
            "art7-in-territory",
            "art8-1-real-name",
            "art12-host-security",
            "art12-tenant-isolation",
        ] {
            assert!(
                fired.contains(&expected),
                "{expected} missing from {fired:?}"
            );
        }
        for finding in &decision.denials {
            assert!(!finding.article.is_empty(), "{finding:?}");
            assert!(!finding.reason.is_empty() && !finding.reason_zh.is_empty());
        }
    }

    #[test]
    fn unknown_tenant_is_denied_naming_it() {
        let decision = decide(&workload(
            "ghost-tenant",
            "ghost-tenant",
            "cn-north-1",
            false,
        ))
        .unwrap();
        assert!(!decision.allowed);
        assert_eq!(controls(&decision.denials), ["registry-missing"]);
        assert!(
            decision.denials[0].reason.contains("ghost-tenant"),
            "{:?}",
            decision.denials[0]
        );
    }

    #[test]
    fn unknown_region_is_denied_naming_it() {
        let decision = decide(&workload("shop-example", "shop-example", "mars-1", false)).unwrap();
        assert_eq!(controls(&decision.denials), ["registry-missing"]);
        assert!(decision.denials[0].reason.contains("mars-1"));
    }

    #[test]
    fn typed_request_decides_like_json() {
        let typed = engine()
            .decide(&typed_workload("unverified-example", "eu-west-1"))
            .unwrap();
        let json = decide(&workload(
            "unverified-example",
            "unverified-example",
            "eu-west-1",
            false,
        ))
        .unwrap();
        assert_eq!(controls(&typed.denials), controls(&json.denials));
        assert!(!typed.allowed);
    }

    #[test]
    fn audit_mode_turns_denials_into_warnings() {
        let audit = Engine::load(
            Path::new(shipped_plugin()),
            example_registry(),
            config().with_audit(true),
        )
        .unwrap();
        let request = workload(
            "unverified-example",
            "unverified-example",
            "cn-north-1",
            false,
        );
        let decision = audit.decide_json(&request.to_string()).unwrap();
        assert!(decision.allowed);
        assert!(decision.denials.is_empty());
        assert!(controls(&decision.warnings).contains(&"art8-1-real-name"));
        // Failures are not policy decisions: audit mode does not wave them through.
        assert!(matches!(
            audit.decide_json("{}"),
            Err(Error::Failure(Failure::BadRequest(_)))
        ));
    }

    #[test]
    fn a_new_registry_is_seen_by_warm_instances() {
        let engine =
            Engine::load(Path::new(shipped_plugin()), example_registry(), config()).unwrap();
        let request = workload("shop-example", "shop-example", "cn-north-1", false).to_string();
        assert!(engine.decide_json(&request).unwrap().allowed);
        // The tenant loses its real-name verification: the cached entity must not be used.
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/registry.json"),
        )
        .unwrap()
        .replacen(
            r#""id": "shop-example"}, "attrs": {"operator": {"type": "Cloud::Operator", "id": "acme-cloud"}, "kind": "website", "real_name_verified": true"#,
            r#""id": "shop-example"}, "attrs": {"operator": {"type": "Cloud::Operator", "id": "acme-cloud"}, "kind": "website", "real_name_verified": false"#,
            1,
        );
        engine.set_registry(Registry::from_json(&text).unwrap());
        let decision = engine.decide_json(&request).unwrap();
        assert_eq!(controls(&decision.denials), ["art8-1-real-name"]);
    }

    #[test]
    fn a_changed_entity_is_parsed_again_and_no_other() {
        let engine = Engine::load(
            Path::new(shipped_plugin()),
            example_registry(),
            config().with_max_idle(1),
        )
        .unwrap();
        let shop = workload("shop-example", "shop-example", "cn-north-1", false).to_string();
        let other = workload("newsite-example", "newsite-example", "cn-north-1", false).to_string();
        let decide = |request: &str| engine.decide_json(request).unwrap();
        assert!(decide(&shop).allowed);
        decide(&other);
        let warm = engine.registry_lookups();
        decide(&shop);
        decide(&other);
        assert_eq!(
            engine.registry_lookups(),
            warm,
            "a warm instance reads nothing"
        );
        // One tenant changes: the next decision for it reads it (only it) again, the other
        // tenant's decision reads nothing.
        let changed = engine
            .registry()
            .with(vec![
                serde_json::value::RawValue::from_string(
                    engine
                        .registry()
                        .get("Cloud::Tenant", "shop-example")
                        .unwrap()
                        .replacen(
                            r#""real_name_verified": true"#,
                            r#""real_name_verified": false"#,
                            1,
                        ),
                )
                .unwrap(),
            ])
            .unwrap();
        engine.set_registry(changed);
        let decision = decide(&shop);
        assert_eq!(controls(&decision.denials), ["art8-1-real-name"]);
        assert_eq!(engine.registry_lookups(), warm + 1);
        decide(&other);
        assert_eq!(engine.registry_lookups(), warm + 1);
        // A registry read anew (not a change of the one in force) drops everything.
        engine.set_registry(example_registry());
        assert!(decide(&shop).allowed);
        assert!(
            engine.registry_lookups() > warm + 2,
            "a new registry is read again"
        );
    }

    #[test]
    fn lists_controls_with_articles_and_reasons() {
        let controls = engine().controls().unwrap();
        assert!(controls.len() >= 29, "{}", controls.len());
        for c in &controls {
            assert!(
                !c.article.is_empty() && !c.reason.is_empty() && !c.reason_zh.is_empty(),
                "{c:?}"
            );
            assert!(c.file.ends_with(".cedar"));
        }
        assert!(controls.iter().any(|c| c.control == "art8-1-icp-filing"));
    }
}

mod bad_input {
    use super::*;

    #[test]
    fn not_json() {
        let message = bad_request(engine().decide_json("{not json"));
        assert!(message.contains("not valid"), "{message}");
    }

    #[test]
    fn missing_field_is_named() {
        let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
        request.as_object_mut().unwrap().remove("principal");
        let message = bad_request(decide(&request));
        assert!(message.contains("`principal`"), "{message}");
    }

    #[test]
    fn unknown_field_is_named() {
        let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
        request["princpal"] = json!("x");
        let message = bad_request(decide(&request));
        assert!(message.contains("princpal"), "{message}");
    }

    #[test]
    fn unknown_action_is_named() {
        let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
        request["action"] = json!("launch_rocket");
        let message = bad_request(decide(&request));
        assert!(message.contains("`launch_rocket`"), "{message}");
        assert!(message.contains("provision_workload"), "{message}");
    }

    #[test]
    fn wrong_attribute_type_is_named() {
        let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
        request["resource"]["attrs"]["privileged"] = json!("yes");
        let message = bad_request(decide(&request));
        assert!(message.contains("privileged"), "{message}");
    }

    #[test]
    fn unknown_entity_type_is_named() {
        let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
        request["resource"]["uid"]["type"] = json!("Cloud::Spaceship");
        let message = bad_request(decide(&request));
        assert!(message.contains("Spaceship"), "{message}");
    }

    #[test]
    fn wrong_principal_type_for_action_is_refused() {
        let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
        request["principal"] = json!({"type": "Cloud::Region", "id": "cn-north-1"});
        let message = bad_request(decide(&request));
        assert!(message.contains("Region"), "{message}");
    }

    #[test]
    fn missing_now_is_refused() {
        let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
        request["context"] = json!({});
        let message = bad_request(decide(&request));
        assert!(message.contains("now"), "{message}");
    }

    #[test]
    fn oversized_request_is_refused_before_the_component() {
        let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
        request["resource"]["attrs"]["purpose"] = json!("x".repeat(2 << 20));
        let message = bad_request(decide(&request));
        assert!(message.contains("more than the limit"), "{message}");
    }

    /// The registry's own record of `uid`, as Cedar entity JSON.
    fn registry_record(type_name: &str, id: Option<&str>) -> Value {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/registry.json"),
        )
        .unwrap();
        let all: Vec<Value> = serde_json::from_str(&text).unwrap();
        all.into_iter()
            .find(|e| e["uid"]["type"] == type_name && id.is_none_or(|id| e["uid"]["id"] == id))
            .unwrap_or_else(|| panic!("the example registry has no {type_name}"))
    }

    #[test]
    fn a_request_cannot_bring_its_own_registry_entity() {
        // The unverified tenant is denied on its registry record; a forged copy claiming
        // verification must not change that (it used to shadow the record and allow).
        let mut request = workload(
            "unverified-example",
            "unverified-example",
            "cn-north-1",
            false,
        );
        assert!(!decide(&request).unwrap().allowed);
        let mut forged = registry_record("Cloud::Tenant", Some("unverified-example"));
        forged["attrs"]["real_name_verified"] = json!(true);
        request["entities"] = json!([forged]);
        let message = bad_request(decide(&request));
        assert!(message.contains("`entities[0]`"), "{message}");
        assert!(
            message.contains("Cloud::Tenant::\"unverified-example\""),
            "{message}"
        );
        assert!(message.contains("registry"), "{message}");
    }

    #[test]
    fn every_registry_type_is_refused_in_a_request() {
        // Every type the schema marks `@registry`, each as the registry holds it.
        for type_name in [
            "Cloud::Operator",
            "Cloud::Partner",
            "Cloud::Carrier",
            "Cloud::Tenant",
            "Cloud::Staff",
            "Cloud::Region",
            "Cloud::Gateway",
            "Cloud::Month",
        ] {
            let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
            request["entities"] = json!([registry_record(type_name, None)]);
            let message = bad_request(decide(&request));
            assert!(
                message.contains(&format!("`{type_name}`")),
                "{type_name}: {message}"
            );
        }
    }

    #[test]
    fn a_typed_request_cannot_bring_its_own_registry_entity() {
        use yungui::bindings::build::{attr, uid};
        let mut request = typed_workload("shop-example", "eu-west-1");
        request.entities = vec![types::Entity {
            uid: uid("Cloud::Region", "eu-west-1"),
            attrs: vec![attr("in_territory", types::Value::Boolean(true))],
            parents: vec![],
        }];
        match engine().decide(&request) {
            Err(Error::Failure(Failure::BadRequest(message))) => {
                assert!(
                    message.contains("Cloud::Region::\"eu-west-1\""),
                    "{message}"
                );
            }
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn bad_registry_entity_is_a_failure_naming_it() {
        let registry = Registry::from_json(
            r#"[{"uid": {"type": "Cloud::Tenant", "id": "broken"}, "attrs": {"operator": 7}, "parents": []}]"#,
        )
        .unwrap();
        let request = workload("broken", "broken", "cn-north-1", false).to_string();
        match engine().decide_json_with(&request, Arc::new(registry)) {
            Err(Error::Failure(Failure::BadEntityData(message))) => {
                assert!(message.contains("broken"), "{message}");
            }
            other => panic!("expected bad entity data, got {other:?}"),
        }
    }
}

mod faults {
    use super::*;

    #[test]
    fn a_steady_load_wider_than_sixteen_keeps_its_instances() {
        // 24 calls at once, each round: with the pool holding as many instances as may run at
        // once, the warm instances serve every round (a 16-instance pool dropped 8 after each).
        const AT_ONCE: usize = 24;
        let engine = Arc::new(
            Engine::load(
                Path::new(shipped_plugin()),
                example_registry(),
                // 24 calls at once on a couple of cores take longer than the default 200 ms
                // deadline each, under load; this test is about the pool, not the deadline.
                config()
                    .with_max_idle(AT_ONCE)
                    .with_deadline(Duration::from_secs(10)),
            )
            .unwrap(),
        );
        let request = workload("shop-example", "shop-example", "cn-north-1", false).to_string();
        let round = |engine: &Arc<Engine>| {
            let barrier = Arc::new(std::sync::Barrier::new(AT_ONCE));
            let threads: Vec<_> = (0..AT_ONCE)
                .map(|_| {
                    let (engine, barrier, request) =
                        (engine.clone(), barrier.clone(), request.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        assert!(engine.decide_json(&request).unwrap().allowed);
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
        };
        // As a server starts: the instances it may need at once, made ready and all kept.
        engine.warm(AT_ONCE).unwrap();
        assert_eq!(engine.instantiations(), AT_ONCE as u64);
        for _ in 0..6 {
            round(&engine);
        }
        // Never more than AT_ONCE calls out at once, and every instance went back to the pool.
        assert_eq!(engine.instantiations(), AT_ONCE as u64);
    }

    #[test]
    fn an_instance_is_renewed_after_max_reuse_calls() {
        let engine = Engine::load(
            Path::new(shipped_plugin()),
            example_registry(),
            config().with_max_reuse(3),
        )
        .unwrap();
        let request = workload("shop-example", "shop-example", "cn-north-1", false).to_string();
        for _ in 0..7 {
            assert!(engine.decide_json(&request).unwrap().allowed);
        }
        // Calls 1-3 on the first instance, 4-6 on the second, 7 on a third.
        assert_eq!(engine.instantiations(), 3);
    }

    /// Under the deployment's memory limit (`--memory-mib 64`), the shipped component stays
    /// below the renewal threshold (half the limit): warm instances are reused, not rebuilt.
    #[test]
    fn under_the_deployed_memory_limit_a_warm_instance_is_reused() {
        let engine = Engine::load(
            Path::new(shipped_plugin()),
            example_registry(),
            config().with_memory_limit(64 << 20),
        )
        .unwrap();
        for tenant in ["shop-example", "newsite-example", "shop-example"] {
            let request = workload(tenant, tenant, "cn-north-1", false).to_string();
            engine.decide_json(&request).unwrap();
        }
        assert_eq!(engine.instantiations(), 1);
    }

    fn misbehaving(path: &str, deadline: Duration, memory: usize) -> Engine {
        Engine::load(
            Path::new(path),
            Registry::empty(),
            config().with_deadline(deadline).with_memory_limit(memory),
        )
        .unwrap()
    }

    #[test]
    fn runaway_plugin_is_stopped_and_the_next_call_works() {
        let engine = misbehaving(
            yungui_test_artifacts::RUNAWAY,
            Duration::from_millis(50),
            64 << 20,
        );
        for _ in 0..2 {
            match engine.decide_json("{}") {
                Err(Error::Timeout(deadline)) => assert_eq!(deadline, Duration::from_millis(50)),
                other => panic!("expected a timeout, got {other:?}"),
            }
        }
        // The instance that was stopped is dropped; a fresh one still answers.
        assert!(engine.controls().unwrap().is_empty());
    }

    #[test]
    fn memory_hungry_plugin_is_stopped_and_the_next_call_works() {
        let engine = misbehaving(
            yungui_test_artifacts::HUNGRY,
            Duration::from_secs(5),
            32 << 20,
        );
        for _ in 0..2 {
            match engine.decide_json("{}") {
                Err(Error::OutOfMemory(limit)) => assert_eq!(limit, 32 << 20),
                other => panic!("expected out of memory, got {other:?}"),
            }
        }
        assert!(engine.controls().unwrap().is_empty());
    }

    #[test]
    fn compiled_component_is_cached_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = EngineConfig::default().with_cache_dir(Some(dir.path().to_owned()));
        let path = Path::new(yungui_test_artifacts::RUNAWAY);
        Engine::load(path, Registry::empty(), cfg.clone()).unwrap();
        let cached = compiled_in(dir.path());
        assert_eq!(cached.len(), 1, "{cached:?}");
        // A corrupt cache entry is replaced, not trusted.
        std::fs::write(&cached[0], b"garbage").unwrap();
        let engine = Engine::load(path, Registry::empty(), cfg).unwrap();
        assert!(engine.controls().unwrap().is_empty());
        assert!(std::fs::read(&cached[0]).unwrap().len() > 100);
    }

    /// A cache folder others can write is not used: nothing is read from it or written to it.
    #[cfg(unix)]
    #[test]
    fn a_cache_folder_others_can_write_is_not_used() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let cfg = EngineConfig::default().with_cache_dir(Some(dir.path().to_owned()));
        let path = Path::new(yungui_test_artifacts::RUNAWAY);
        let engine = Engine::load(path, Registry::empty(), cfg).unwrap();
        assert!(engine.controls().unwrap().is_empty());
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(entries.is_empty(), "{entries:?}");
    }

    /// A component file is a regular file of bounded size: a device, a pipe or a huge file is
    /// refused at once, naming what it is, never read without end.
    #[cfg(unix)]
    #[test]
    fn a_component_that_is_no_regular_file_or_too_large_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let huge = dir.path().join("huge.wasm");
        std::fs::File::create(&huge)
            .unwrap()
            .set_len(yungui::engine::MAX_COMPONENT_BYTES + 1)
            .unwrap();
        let err = Engine::load(&huge, Registry::empty(), config()).unwrap_err();
        assert!(err.to_string().contains("larger than 64 MiB"), "{err}");
        let zero = dir.path().join("zero.wasm");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        let err = Engine::load(&zero, Registry::empty(), config()).unwrap_err();
        assert!(
            err.to_string()
                .contains("not a regular file (a character device)"),
            "{err}"
        );
        let fifo = dir.path().join("fifo.wasm");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let err = Engine::load(&fifo, Registry::empty(), config()).unwrap_err();
        assert!(err.to_string().contains("named pipe"), "{err}");
        let err = Engine::load(dir.path(), Registry::empty(), config()).unwrap_err();
        assert!(
            err.to_string().contains(&dir.path().display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn missing_component_is_a_clear_error() {
        let err =
            Engine::load(Path::new("/nonexistent.wasm"), Registry::empty(), config()).unwrap_err();
        assert!(err.to_string().contains("/nonexistent.wasm"), "{err}");
    }
}

mod cli {
    use std::process::{Command, Output};

    use super::*;

    fn yungui(args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_yungui"))
            .args(args)
            .env("YUNGUI_CACHE_DIR", cache_dir())
            .env_remove("YUNGUI_REGISTRY")
            .env_remove("YUNGUI_PLUGIN")
            .output()
            .unwrap()
    }

    /// A path in the repository, as a string for the command line.
    fn repo(path: &str) -> String {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path)
            .display()
            .to_string()
    }

    fn example(name: &str) -> String {
        repo(&format!("examples/requests/{name}"))
    }

    #[test]
    fn logs_to_a_file_carry_no_colour_codes() {
        // `--policies`: each instance's `init` reads the policy set through WASI, which wasmtime
        // traces (a built component read from the cache may log nothing at all).
        let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
        let out = Command::new(env!("CARGO_BIN_EXE_yungui"))
            .args(["decide", "--policies", policies.to_str().unwrap()])
            .arg(example("allow-provision.json"))
            .env("YUNGUI_CACHE_DIR", cache_dir())
            .env("YUNGUI_LOG", "trace")
            .env_remove("NO_COLOR")
            .output()
            .unwrap();
        let logs = String::from_utf8_lossy(&out.stderr);
        assert!(logs.contains("TRACE"), "trace logs were asked for: {logs}");
        assert!(
            !logs.contains('\u{1b}'),
            "ANSI codes in piped logs: {logs:?}"
        );
    }

    #[test]
    fn a_usage_error_is_64_never_the_code_of_a_deny() {
        let out = yungui(&["decide", "--bogus", &example("deny-provision.json")]);
        assert_eq!(out.status.code(), Some(64), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--bogus"));
        // With `--format json`, the error is JSON on stdout too.
        let out = yungui(&["decide", "--format", "json", "--bogus"]);
        assert_eq!(out.status.code(), Some(64), "{out:?}");
        let error: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(error["error"]["kind"], "usage", "{error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("--bogus")
        );
        for (args, code) in [
            (&["--version"][..], 0),
            (&["help"], 0),
            (&[], 64),
            (&["test", "--format", "yaml"], 64),
            (&["completions", "tcsh"], 64),
        ] {
            assert_eq!(yungui(args).status.code(), Some(code), "{args:?}");
        }
    }

    #[test]
    fn a_command_that_cannot_run_exits_4_with_a_json_error() {
        let out = yungui(&["decide", "--format", "json", "/no/such/request.json"]);
        assert_eq!(out.status.code(), Some(4), "{out:?}");
        let error: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(error["error"]["kind"], "cannot_run", "{error}");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("`/no/such/request.json`"),
            "{error}"
        );
        let plain = yungui(&["decide", "/no/such/request.json"]);
        assert_eq!(plain.status.code(), Some(4), "{plain:?}");
        assert!(plain.stdout.is_empty());
    }

    #[test]
    fn an_empty_case_set_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let out = yungui(&["test", dir.path().to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(4), "{out:?}");
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(text.contains("no case files"), "{text}");
        assert!(text.contains(dir.path().to_str().unwrap()), "{text}");
    }

    /// A folder with one passing case and one failing case (its expectation flipped).
    fn two_cases() -> tempfile::TempDir {
        let cases =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases/art12-host-security");
        let dir = tempfile::tempdir().unwrap();
        let mut case: Option<Value> = None;
        for entry in std::fs::read_dir(&cases).unwrap() {
            let path = entry.unwrap().path();
            let value: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            if value["expect"]["decision"] == "allow" {
                case = Some(value);
                break;
            }
        }
        let mut case = case.unwrap();
        let registry = cases.join(case["registry"].as_str().unwrap());
        case["registry"] = json!(registry.canonicalize().unwrap());
        std::fs::write(dir.path().join("a-passes.json"), case.to_string()).unwrap();
        case["expect"]["decision"] = json!("deny");
        std::fs::write(dir.path().join("b-fails.json"), case.to_string()).unwrap();
        dir
    }

    #[test]
    fn test_reports_as_json_and_junit() {
        let dir = two_cases();
        let folder = dir.path().to_str().unwrap();
        let out = yungui(&["test", "--format", "json", folder]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["passed"], 1, "{report}");
        assert_eq!(report["failed"], 1, "{report}");
        let cases = report["cases"].as_array().unwrap();
        assert!(
            cases[0]["file"]
                .as_str()
                .unwrap()
                .ends_with("a-passes.json")
        );
        assert_eq!(cases[0]["passed"], true);
        assert_eq!(cases[1]["passed"], false);
        assert!(cases[1]["failure"].as_str().is_some(), "{report}");

        let out = yungui(&["test", "--format", "junit", folder]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let xml = String::from_utf8(out.stdout).unwrap();
        assert!(xml.starts_with("<?xml"), "{xml}");
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(xml.contains("b-fails.json"), "{xml}");
        assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
    }

    #[test]
    fn completions_are_printed_for_each_shell() {
        for (shell, marker) in [
            ("bash", "_yungui()"),
            ("zsh", "#compdef yungui"),
            ("fish", "complete -c yungui"),
        ] {
            let out = yungui(&["completions", shell]);
            assert_eq!(out.status.code(), Some(0), "{out:?}");
            let script = String::from_utf8(out.stdout).unwrap();
            assert!(script.contains(marker), "{shell}: {script}");
            assert!(script.contains("decide"), "{shell}");
        }
    }

    #[test]
    fn decide_exit_code_is_the_decision() {
        let registry = example_registry_path();
        let allow = yungui(&[
            "decide",
            "--registry",
            &registry,
            &example("allow-provision.json"),
        ]);
        assert_eq!(allow.status.code(), Some(0), "{allow:?}");
        assert!(String::from_utf8_lossy(&allow.stdout).starts_with("ALLOW"));

        let deny = yungui(&[
            "decide",
            "--registry",
            &registry,
            "--format",
            "json",
            &example("deny-provision.json"),
        ]);
        assert_eq!(deny.status.code(), Some(2), "{deny:?}");
        let report: Value = serde_json::from_slice(&deny.stdout).unwrap();
        assert_eq!(report["decision"], "deny");
        let fired = fired_controls(&report);
        assert!(fired.len() >= 2, "{fired:?}");
        assert!(report["denials"][0]["reason_zh"].as_str().is_some());
    }

    #[test]
    fn decide_reports_a_bad_request_with_its_own_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, r#"{"principal": 1}"#).unwrap();
        let out = yungui(&["decide", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(3), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("bad_request"), "{text}");
    }

    /// A copy of the shipped `policies/` folder.
    fn copy_of_policies() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
        for entry in std::fs::read_dir(&policies).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
            }
        }
        dir
    }

    /// The `yungui` binary alone: a PATH without cargo or rustc, a cache of its own.
    fn yungui_alone(args: &[&str], cache: &Path) -> Output {
        let empty = tempfile::tempdir().unwrap();
        Command::new(env!("CARGO_BIN_EXE_yungui"))
            .args(args)
            .env_clear()
            .env("PATH", empty.path())
            .env("YUNGUI_CACHE_DIR", cache)
            .output()
            .unwrap()
    }

    fn edit(name: &str) -> String {
        repo(&format!("tests/edit/{name}"))
    }

    #[test]
    fn an_edited_policy_folder_builds_and_decides_without_a_toolchain() {
        let policies = copy_of_policies();
        let dir = policies.path().to_str().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let wasm = out.path().join("edited.wasm");
        let cases = edit("cases");

        // The shipped policy set does not know the author's control.
        let before = yungui_alone(&["test", &cases], cache.path());
        assert_eq!(before.status.code(), Some(1), "{before:?}");

        std::fs::copy(
            edit("edit-probe.cedar"),
            policies.path().join("edit-probe.cedar"),
        )
        .unwrap();
        let built = yungui_alone(
            &["build", "--policies", dir, "-o", wasm.to_str().unwrap()],
            cache.path(),
        );
        assert_eq!(built.status.code(), Some(0), "{built:?}");
        assert!(wasm.is_file());

        // The built component, and the folder itself, decide with the new control.
        let tested = yungui_alone(
            &["test", "--plugin", wasm.to_str().unwrap(), &cases],
            cache.path(),
        );
        assert_eq!(tested.status.code(), Some(0), "{tested:?}");
        assert!(String::from_utf8_lossy(&tested.stdout).contains("2 passed, 0 failed"));
        let tested = yungui_alone(&["test", "--policies", dir, &cases], cache.path());
        assert_eq!(tested.status.code(), Some(0), "{tested:?}");

        // Its identity names the policy set, and `inspect` reads it without running it.
        let inspected = yungui_alone(
            &["inspect", "--format", "json", wasm.to_str().unwrap()],
            cache.path(),
        );
        assert_eq!(inspected.status.code(), Some(0), "{inspected:?}");
        let report: Value = serde_json::from_slice(&inspected.stdout).unwrap();
        let sources = yungui_policies::Sources::read_dir(policies.path()).unwrap();
        assert_eq!(report["policy_digest"], sources.digest());
        assert_eq!(report["world"], "yungui:policy/plugin@0.2.0");
        assert!(
            report["controls"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["control"] == "edit-probe")
        );
    }

    #[test]
    fn an_invalid_policy_folder_writes_nothing_and_exits_3() {
        let policies = copy_of_policies();
        std::fs::write(
            policies.path().join("zz-broken.cedar"),
            "@id(\"x\")\n@article(\"1\")\n@reason(\"r\")\n@reason_zh(\"r\")\nforbid (principal, action, resource)\nwhen { principal.no_such_attribute };\n",
        )
        .unwrap();
        let cache = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let wasm = out.path().join("broken.wasm");
        let dir = policies.path().to_str().unwrap();
        let built = yungui_alone(
            &["build", "--policies", dir, "-o", wasm.to_str().unwrap()],
            cache.path(),
        );
        assert_eq!(built.status.code(), Some(3), "{built:?}");
        let text = String::from_utf8_lossy(&built.stderr);
        assert!(text.contains("zz-broken.cedar:6:"), "{text}");
        assert!(!wasm.exists());
        let tested = yungui_alone(&["test", "--policies", dir, &edit("cases")], cache.path());
        assert_eq!(tested.status.code(), Some(3), "{tested:?}");
        assert!(String::from_utf8_lossy(&tested.stderr).contains("zz-broken.cedar:6:"));
    }

    #[test]
    fn report_is_written_then_checked_and_a_stale_one_fails() {
        let dir = tempfile::tempdir().unwrap();
        let md = dir.path().join("controls.md");
        let html = dir.path().join("controls.html");
        let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/cases");
        let args = |check: bool| {
            let mut args = vec![
                "report".to_owned(),
                cases.display().to_string(),
                "--markdown".to_owned(),
                md.display().to_string(),
                "--html".to_owned(),
                html.display().to_string(),
            ];
            if check {
                args.push("--check".to_owned());
            }
            args
        };
        let run = |check: bool| {
            let args = args(check);
            yungui(&args.iter().map(String::as_str).collect::<Vec<_>>())
        };
        let written = run(false);
        assert_eq!(written.status.code(), Some(0), "{written:?}");
        let text = std::fs::read_to_string(&md).unwrap();
        assert!(
            text.contains("art8-1-icp-filing.bind-domain-unfiled"),
            "{text}"
        );
        assert!(text.contains("Not decidable at request time"), "{text}");
        let page = std::fs::read_to_string(&html).unwrap();
        assert!(
            page.starts_with("<!DOCTYPE html>") && !page.contains("<link"),
            "self-contained"
        );
        // The header names when, from which commit, which policies and which component; run
        // here, where there is no `policies/`, the report is of the shipped set.
        let header = |name: &str| {
            let row = format!("<tr><th>{name} <span lang=\"zh\">");
            let rest = page.split_once(&row).map(|(_, rest)| rest).unwrap();
            let value = rest.split_once("<td><code>").unwrap().1;
            value.split_once("</code>").unwrap().0.to_owned()
        };
        let generated = header("Generated");
        assert!(
            generated.len() == 20 && generated.starts_with("20") && generated.ends_with('Z'),
            "{generated}"
        );
        let commit = header("Commit");
        assert!(
            commit == "unknown"
                || commit
                    .get(..40)
                    .is_some_and(|h| h.chars().all(|c| c.is_ascii_hexdigit())),
            "{commit}"
        );
        assert_eq!(
            header("Policy digest"),
            yungui::builder::SHIPPED_POLICY_DIGEST
        );
        let shipped = yungui::builder::sha256_hex(&std::fs::read(shipped_plugin()).unwrap());
        assert_eq!(header("Component sha256"), shipped);
        // Each policy's text is in the page, and the page links to it, not to a file.
        let art2 = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/art02-licence.cedar"),
        )
        .unwrap();
        let first = art2
            .split("\n\n")
            .find(|block| block.contains("@id(\"art2-licence.tenant-operator-scope\")"))
            .unwrap();
        let first = first
            .lines()
            .skip_while(|line| !line.starts_with("@id("))
            .collect::<Vec<_>>()
            .join("\n")
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;");
        assert!(
            page.contains(
                "<figure id=\"policy-art2-licence-tenant-operator-scope\" class=\"policy\">"
            ) && page.contains(first.trim_end()),
            "the policy's text is not in the page:\n{first}"
        );
        assert!(page.contains("href=\"#policy-art2-licence-tenant-operator-scope\""));
        assert!(!page.contains(".cedar#L"), "links to policy files");
        // Case links are relative to the report's folder.
        assert!(!page.contains("href=\"/"), "absolute links");
        assert!(page.contains("@media print{") && page.contains("<nav>"));

        assert_eq!(run(true).status.code(), Some(0));
        // The generation time and the commit are not compared; the policy digest is.
        std::fs::write(&md, text.replace(&generated, "2000-01-01T00:00:00Z")).unwrap();
        assert_eq!(run(true).status.code(), Some(0));
        std::fs::write(
            &md,
            text.replace(yungui::builder::SHIPPED_POLICY_DIGEST, "sha256:0"),
        )
        .unwrap();
        assert_eq!(run(true).status.code(), Some(1));
        std::fs::write(&md, text.replace("art8-1-icp-filing", "art8-1-icp")).unwrap();
        let stale = run(true);
        assert_eq!(stale.status.code(), Some(1), "{stale:?}");
        assert!(String::from_utf8_lossy(&stale.stdout).contains("out of date"));
    }

    /// The binary run in `dir` with no registry or component from the environment.
    fn yungui_in(dir: &Path, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_yungui"))
            .args(args)
            .current_dir(dir)
            .env("YUNGUI_CACHE_DIR", cache_dir())
            .env_remove("YUNGUI_REGISTRY")
            .env_remove("YUNGUI_PLUGIN")
            .output()
            .unwrap()
    }

    fn stderr(out: &Output) -> String {
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    #[test]
    fn from_an_empty_folder_the_shipped_set_and_no_registry_are_used_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let valid = yungui_in(dir.path(), &["validate"]);
        assert_eq!(valid.status.code(), Some(0), "{valid:?}");
        assert!(
            stderr(&valid).contains("policies: the shipped set"),
            "{valid:?}"
        );

        // No registry here: it says so, and the tenant is unknown, which denies.
        let request = example("allow-provision.json");
        let decided = yungui_in(dir.path(), &["decide", "--format", "json", &request]);
        assert_eq!(decided.status.code(), Some(2), "{decided:?}");
        let text = stderr(&decided);
        assert!(
            text.contains("policies: the shipped set") && text.contains("registry: none (empty)"),
            "{text}"
        );
        let report: Value = serde_json::from_slice(&decided.stdout).unwrap();
        let fired = fired_controls(&report);
        assert!(
            !fired.is_empty() && fired.iter().all(|c| c == "registry-missing"),
            "{report}"
        );

        // A `registry.json` of its own is used, and named.
        std::fs::copy(example_registry_path(), dir.path().join("registry.json")).unwrap();
        let decided = yungui_in(dir.path(), &["decide", &request]);
        assert_eq!(decided.status.code(), Some(0), "{decided:?}");
        assert!(
            stderr(&decided).contains("registry: registry.json"),
            "{decided:?}"
        );

        // `build` writes the shipped set, the very component the shipped engine runs.
        let built = yungui_in(dir.path(), &["build", "-o", "shipped.wasm"]);
        assert_eq!(built.status.code(), Some(0), "{built:?}");
        assert_eq!(
            std::fs::read(dir.path().join("shipped.wasm")).unwrap(),
            std::fs::read(shipped_plugin()).unwrap()
        );
    }

    /// `yungui serve` started in `dir` (plain HTTP on loopback, nothing from the environment),
    /// its standard error up to the `listening on` line, and its address.
    fn serve_in(dir: &Path, args: &[&str]) -> (std::process::Child, String, std::net::SocketAddr) {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_yungui"))
            .args([
                "serve",
                "--plain-http",
                "--listen",
                "127.0.0.1:0",
                "--workers",
                "1",
            ])
            .args(args)
            .current_dir(dir)
            .env("YUNGUI_CACHE_DIR", cache_dir())
            .env_remove("YUNGUI_REGISTRY")
            .env_remove("YUNGUI_PLUGIN")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let mut said = String::new();
        let addr = loop {
            let Some(line) = lines.next().transpose().unwrap() else {
                let _ = child.kill();
                panic!("the server stopped before listening:\n{said}");
            };
            said.push_str(&line);
            said.push('\n');
            if let Some(addr) = line.strip_prefix("yungui: listening on ") {
                break addr.parse().unwrap();
            }
        };
        // Keep reading, so that the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        (child, said, addr)
    }

    /// The decision `/v1/decide` gives for the README's example request (a `shop-example`
    /// provision, allowed with the example registry) and the controls it names.
    fn decide_over_http(addr: std::net::SocketAddr) -> (String, Vec<String>) {
        let mut request: Value = serde_json::from_str(
            &std::fs::read_to_string(example("allow-provision.json")).unwrap(),
        )
        .unwrap();
        // The example carries a fixed `now`, which a server refuses: it takes its own clock.
        request["context"].as_object_mut().unwrap().remove("now");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        // The server listens before its component is loaded: wait until it is ready.
        let started = std::time::Instant::now();
        while agent
            .get(format!("http://{addr}/readyz"))
            .call()
            .map_or(true, |r| r.status() != 200)
        {
            assert!(started.elapsed() < Duration::from_secs(300), "never ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        let text = agent
            .post(format!("http://{addr}/v1/decide"))
            .header("Content-Type", "application/json")
            .send(request.to_string())
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let answer: Value = serde_json::from_str(&text).unwrap();
        let decision = answer["decision"].as_str().unwrap_or_default().to_owned();
        (decision, fired_controls(&answer))
    }

    #[test]
    fn a_server_takes_no_policies_or_registry_planted_in_its_working_folder() {
        // A folder holding a `policies/` nobody configured (broken: a server using it could not
        // start) and a `registry.json` that would make the tenant known.
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("policies")).unwrap();
        std::fs::write(dir.path().join("policies/planted.cedar"), "permit (").unwrap();
        std::fs::copy(example_registry_path(), dir.path().join("registry.json")).unwrap();
        std::fs::create_dir(dir.path().join("examples")).unwrap();
        std::fs::copy(
            example_registry_path(),
            dir.path().join("examples/registry.json"),
        )
        .unwrap();

        let (mut child, said, addr) = serve_in(dir.path(), &[]);
        let (decision, fired) = decide_over_http(addr);
        let _ = child.kill();
        let _ = child.wait();
        assert!(said.contains("policies: the shipped set"), "{said}");
        assert!(said.contains("registry: none (empty"), "{said}");
        assert_eq!(decision, "deny", "{fired:?}");
        assert!(
            !fired.is_empty() && fired.iter().all(|c| c == "registry-missing"),
            "{fired:?}"
        );

        // Given by option, the same file is used, and named: the planted one was not.
        let (mut child, said, addr) = serve_in(dir.path(), &["--registry", "registry.json"]);
        let (decision, fired) = decide_over_http(addr);
        let _ = child.kill();
        let _ = child.wait();
        assert!(said.contains("registry: registry.json"), "{said}");
        assert_eq!(decision, "allow", "{fired:?}");
    }

    #[test]
    fn a_broken_policy_in_the_folder_fails_every_command_run_there() {
        let dir = tempfile::tempdir().unwrap();
        let policies = copy_of_policies();
        let own = dir.path().join("policies");
        std::fs::create_dir(&own).unwrap();
        for entry in std::fs::read_dir(policies.path()).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, own.join(path.file_name().unwrap())).unwrap();
        }
        // Valid as copied: the folder's policies are the ones used, and named.
        let valid = yungui_in(dir.path(), &["validate"]);
        assert_eq!(valid.status.code(), Some(0), "{valid:?}");
        assert!(stderr(&valid).contains("policies: policies"), "{valid:?}");

        std::fs::write(
            dir.path().join("policies/zz-broken.cedar"),
            "@id(\"x.one\")\n@control(\"x\")\n@article(\"1\")\n@reason(\"r\")\n@reason_zh(\"r\")\nforbid (principal, action, resource)\nwhen { principal.no_such_attribute };\n",
        )
        .unwrap();
        let invalid = yungui_in(dir.path(), &["validate"]);
        assert_eq!(invalid.status.code(), Some(3), "{invalid:?}");
        assert!(
            String::from_utf8_lossy(&invalid.stdout).contains("zz-broken.cedar:7:"),
            "{invalid:?}"
        );
        let built = yungui_in(dir.path(), &["build", "-o", "x.wasm"]);
        assert_eq!(built.status.code(), Some(3), "{built:?}");
        assert!(!dir.path().join("x.wasm").exists());
        let decided = yungui_in(dir.path(), &["decide", &example("allow-provision.json")]);
        assert_eq!(decided.status.code(), Some(3), "{decided:?}");
        assert!(
            stderr(&decided).contains("zz-broken.cedar:7:"),
            "{decided:?}"
        );
        let tested = yungui_in(dir.path(), &["test", &edit("cases")]);
        assert_eq!(tested.status.code(), Some(3), "{tested:?}");
        let reported = yungui_in(dir.path(), &["report", &edit("cases")]);
        assert_ne!(reported.status.code(), Some(0), "{reported:?}");
        assert!(
            stderr(&reported).contains("zz-broken.cedar:7:"),
            "{reported:?}"
        );
    }

    #[test]
    fn validate_names_file_and_line_of_an_invalid_policy() {
        let dir = copy_of_policies();
        let ok = yungui(&["validate", "--policies", dir.path().to_str().unwrap()]);
        assert_eq!(ok.status.code(), Some(0), "{ok:?}");
        std::fs::write(
            dir.path().join("zz-broken.cedar"),
            "@id(\"x.one\")\n@control(\"x\")\n@article(\"1\")\n@reason(\"r\")\n@reason_zh(\"r\")\nforbid (principal, action, resource)\nwhen { principal.no_such_attribute };\n",
        )
        .unwrap();
        let bad = yungui(&["validate", "--policies", dir.path().to_str().unwrap()]);
        assert_eq!(bad.status.code(), Some(3), "{bad:?}");
        let text = String::from_utf8_lossy(&bad.stdout);
        assert!(text.contains("zz-broken.cedar:7:"), "{text}");
        assert!(text.contains("no_such_attribute"), "{text}");
        // Several problems come in one order, run after run: by file, line and column.
        std::fs::write(
            dir.path().join("aa-broken.cedar"),
            "@id(\"y\")\n@article(\"1\")\n@reason(\"r\")\n@reason_zh(\"r\")\nforbid (principal, action, resource)\nwhen { principal.other_missing || resource.also_missing };\n",
        )
        .unwrap();
        let runs: Vec<String> = (0..3)
            .map(|_| {
                let out = yungui(&["validate", "--policies", dir.path().to_str().unwrap()]);
                String::from_utf8(out.stdout).unwrap()
            })
            .collect();
        assert!(runs.iter().all(|r| *r == runs[0]), "{runs:#?}");
        let files: Vec<&str> = runs[0].lines().filter(|l| l.contains(".cedar:")).collect();
        assert!(files.len() >= 3, "{files:#?}");
        let key = |line: &&str| {
            let parts: Vec<&str> = line.splitn(4, ':').collect();
            (
                parts[0].to_owned(),
                parts[1].parse::<usize>().unwrap(),
                parts[2].parse::<usize>().unwrap(),
                parts[3].to_owned(),
            )
        };
        let mut sorted = files.clone();
        sorted.sort_by_key(key);
        assert_eq!(files, sorted);
    }
}

mod serve {
    use super::*;

    /// Callers of the raw API holding every one of its permits do not delay an admission review:
    /// each front end has permits of its own.
    #[test]
    fn a_busy_front_end_does_not_hold_up_another() {
        // Built outside the runtime: building runs WASI's blocking stdin, which may not block
        // inside an async context (servers build on the blocking pool).
        let plugin = crate::shipped_plugin();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let state = yungui_server::AppState::new(
                2,
                yungui_server::kubernetes::Config::default(),
                yungui_server::openstack::Config::default(),
            );
            let engine = Engine::load(Path::new(plugin), example_registry(), config()).unwrap();
            engine.warm(1).unwrap();
            state.set_engine(Arc::new(engine));
            // Ten slow API calls: far more than the API's permits.
            let mut busy = Vec::new();
            for _ in 0..10 {
                let state = state.clone();
                busy.push(tokio::spawn(async move {
                    state
                        .run(yungui_server::Front::Api, |_| {
                            std::thread::sleep(Duration::from_secs(3))
                        })
                        .await
                }));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let started = std::time::Instant::now();
            let decision = state
                .decide(
                    yungui_server::Front::Kubernetes,
                    yungui_server::Decide::Typed(typed_workload("shop-example", "cn-north-1")),
                )
                .await
                .unwrap();
            let waited = started.elapsed();
            assert!(decision.allowed, "{decision:?}");
            assert!(
                waited < Duration::from_secs(2),
                "the review waited {waited:?} behind the API's calls"
            );
            for task in busy {
                task.await.unwrap().unwrap();
            }
        });
    }

    /// An application embedding the server configures it in code: no command-line types.
    #[test]
    fn a_server_configured_in_code_decides() {
        use yungui_server::{Config, Transport};
        let mut config = Config::new(
            "127.0.0.1:0".parse().unwrap(),
            Transport::PlainHttp,
            yungui::PluginSource::File(shipped_plugin().into()),
        );
        config.workers = 1;
        config.registry = Some(yungui::registry::RegistrySource::File(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/registry.json"),
        ));
        let addr = serve_config_in_background(config);
        let mut request: Value = serde_json::from_str(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../examples/requests/deny-provision.json"),
            )
            .unwrap(),
        )
        .unwrap();
        // The server's clock decides.
        request["context"] = json!({});
        let mut response = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
            .post(format!("http://{addr}/v1/decide"))
            .send(request.to_string())
            .unwrap();
        let report: Value =
            serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(report["decision"], "deny", "{report}");
        assert!(
            fired_controls(&report).contains(&"art12-host-security".to_owned()),
            "{report}"
        );
    }

    /// A configuration that could not serve is refused at start, saying why.
    #[test]
    fn a_configuration_that_cannot_serve_is_refused_at_start() {
        use yungui_server::{Config, Transport, start};
        let base = Config::new(
            "127.0.0.1:0".parse().unwrap(),
            Transport::PlainHttp,
            yungui::PluginSource::Shipped,
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let refused = |config: Config| {
            runtime
                .block_on(start(&config))
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        let mut no_workers = base.clone();
        no_workers.workers = 0;
        assert!(refused(no_workers).contains("no workers"));
        let mut zero_watch = base.clone();
        zero_watch.registry_watch = Some(Duration::ZERO);
        assert!(refused(zero_watch).contains("watch interval of 0"));
        let mut no_time = base;
        no_time.body_timeout = Duration::ZERO;
        assert!(refused(no_time).contains("timeout of 0"));
    }

    #[test]
    fn a_changed_registry_file_is_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let registry = dir.path().join("registry.json");
        let original = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/registry.json"),
        )
        .unwrap();
        std::fs::write(&registry, &original).unwrap();
        let addr = serve_watching(&registry);
        let decide = || decide_shop_example(addr);
        assert_eq!(decide()["decision"], "allow");

        // The tenant is dropped from the file: within a few seconds it is unknown.
        let without: Vec<Value> = serde_json::from_str::<Vec<Value>>(&original)
            .unwrap()
            .into_iter()
            .filter(|e| e["uid"]["id"] != "shop-example")
            .collect();
        std::fs::write(&registry, serde_json::to_string(&without).unwrap()).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let report = decide();
            if report["decision"] == "deny" {
                assert_eq!(report["denials"][0]["control"], "registry-missing");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not reloaded: {report}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }

        // A broken file keeps the registry in force.
        std::fs::write(&registry, "not json").unwrap();
        std::thread::sleep(Duration::from_millis(2500));
        assert_eq!(decide()["denials"][0]["control"], "registry-missing");

        // So does a file whose JSON parses but whose entity the schema rejects: the tenant comes
        // back with a wrong-typed attribute, which would fail every decision for it.
        let wrong = original.replacen(
            "\"real_name_verified\": true",
            "\"real_name_verified\": \"yes\"",
            1,
        );
        assert_ne!(wrong, original);
        std::fs::write(&registry, wrong).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ready = super::serve::get(addr, "/readyz");
            // (The refusal of the broken file stays until the next reload.)
            if ready.contains("registry reload was refused") && ready.contains("real_name_verified")
            {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "not refused: {ready}");
            std::thread::sleep(Duration::from_millis(200));
        }
        assert_eq!(decide()["denials"][0]["control"], "registry-missing");
    }

    /// A plain-HTTP server over the shipped component and the registry at `registry` (a file or
    /// a directory), checking it for changes every second.
    fn serve_watching(registry: &Path) -> std::net::SocketAddr {
        serve_in_background(serve_args(&[
            "--listen",
            "127.0.0.1:0",
            "--plain-http",
            "--workers",
            "1",
            "--registry-watch-secs",
            "1",
            "--plugin",
            shipped_plugin(),
            "--registry",
            registry.to_str().unwrap(),
        ]))
    }

    /// The raw API's answer for a compliant workload of `shop-example`, decided by the server's
    /// clock.
    fn decide_shop_example(addr: std::net::SocketAddr) -> Value {
        let mut response = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
            .post(format!("http://{addr}/v1/decide"))
            .send({
                let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
                request["context"] = json!({});
                request.to_string()
            })
            .unwrap();
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
    }

    /// Polls `probe` every 200 ms until it returns true; panics with `what` after 30 s.
    fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !probe() {
            assert!(std::time::Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    #[test]
    fn a_registry_directory_is_read_and_reloaded_file_by_file() {
        let dir = tempfile::tempdir().unwrap();
        let entities: Vec<Value> = serde_json::from_str(
            &std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/registry.json"),
            )
            .unwrap(),
        )
        .unwrap();
        let (tenants, rest): (Vec<Value>, Vec<Value>) = entities
            .into_iter()
            .partition(|e| e["uid"]["type"] == "Cloud::Tenant");
        let write = |name: &str, entities: &[Value]| {
            std::fs::write(
                dir.path().join(name),
                serde_json::to_string(entities).unwrap(),
            )
            .unwrap();
        };
        write("base.json", &rest);
        write("tenants.json", &tenants);
        // Skipped: not `*.json`, or hidden (a ConfigMap volume's `..data`).
        std::fs::write(dir.path().join("notes.txt"), "not a registry").unwrap();
        std::fs::write(dir.path().join(".hidden.json"), "not json").unwrap();
        let addr = serve_watching(dir.path());
        assert_eq!(decide_shop_example(addr)["decision"], "allow");

        // The tenant leaves its file: it is unknown once the change is applied.
        let others: Vec<Value> = tenants
            .iter()
            .filter(|e| e["uid"]["id"] != "shop-example")
            .cloned()
            .collect();
        write("tenants.json", &others);
        eventually("the tenant's removal was not applied", || {
            decide_shop_example(addr)["denials"][0]["control"] == "registry-missing"
        });

        // A new file claiming a uid another file holds is refused, naming both; the rest holds.
        let region = rest
            .iter()
            .find(|e| e["uid"]["type"] == "Cloud::Region")
            .unwrap()
            .clone();
        let shop = tenants
            .iter()
            .find(|e| e["uid"]["id"] == "shop-example")
            .unwrap()
            .clone();
        write("more.json", &[shop.clone(), region]);
        eventually("the claim on another file's uid was not refused", || {
            let ready = super::serve::get(addr, "/readyz");
            ready.contains("more.json") && ready.contains("base.json")
        });
        assert_eq!(
            decide_shop_example(addr)["denials"][0]["control"],
            "registry-missing"
        );

        // Fixed: the tenant is back from the new file, and `/readyz` is clear again.
        write("more.json", &[shop]);
        eventually("the fixed file was not applied", || {
            decide_shop_example(addr)["decision"] == "allow"
        });
        assert!(!super::serve::get(addr, "/readyz").contains("refused"));

        // A file removed takes its entities with it.
        std::fs::remove_file(dir.path().join("more.json")).unwrap();
        eventually("the removed file's tenant is still known", || {
            decide_shop_example(addr)["denials"][0]["control"] == "registry-missing"
        });
    }

    pub(super) fn get(addr: std::net::SocketAddr, path: &str) -> String {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent()
            .get(format!("http://{addr}{path}"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap()
    }

    /// The edit probe's request: the shipped policies deny it for art. 8(2) only; with the
    /// author's `edit-probe` control they also name that control.
    fn probe_request() -> String {
        let mut request = workload("shop-example", "shop-example", "cn-north-1", false);
        request["resource"]["attrs"]["purpose"] = json!("edit-probe");
        // The server's clock decides.
        request["context"] = json!({});
        request.to_string()
    }

    /// Posts the probe; the control ids that fired, or why there was no decision.
    fn probe(agent: &ureq::Agent, addr: std::net::SocketAddr) -> Result<Vec<String>, String> {
        let mut response = agent
            .post(format!("http://{addr}/v1/decide"))
            .send(probe_request())
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("{status}: {body}"));
        }
        let report: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        Ok(fired_controls(&report))
    }

    /// The shipped policies plus the author's `edit-probe` control, built.
    fn edited_component() -> Vec<u8> {
        let mut sources = yungui::builder::shipped_sources();
        sources.policies.push(yungui_policies::SourceFile {
            name: "edit-probe.cedar".to_owned(),
            text: std::fs::read_to_string(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/edit/edit-probe.cedar"),
            )
            .unwrap(),
        });
        yungui::builder::build(&sources, Some(&cache_dir()))
            .unwrap()
            .wasm
    }

    /// Replaces a file the way a deploy does: a new file renamed over the old one.
    fn replace(path: &Path, bytes: &[u8]) {
        let tmp = path.with_extension("new");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    #[test]
    fn a_changed_component_is_swapped_in_under_load_and_a_bad_one_refused() {
        let edited = edited_component();
        let dir = tempfile::tempdir().unwrap();
        let plugin = dir.path().join("policies.wasm");
        std::fs::copy(shipped_plugin(), &plugin).unwrap();
        let addr = serve_in_background(serve_args(&[
            "--listen",
            "127.0.0.1:0",
            "--registry",
            &example_registry_path(),
            "--plain-http",
            "--workers",
            "2",
            "--plugin-watch-secs",
            "1",
            "--plugin",
            plugin.to_str().unwrap(),
        ]));
        let shipped = yungui::builder::sha256_hex(&std::fs::read(shipped_plugin()).unwrap());
        assert!(get(addr, "/readyz").contains(&shipped));

        // Four clients decide without pause while the component changes under them.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let clients: Vec<_> = (0..4)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .build()
                        .into();
                    let (mut answers, mut failures) = (Vec::new(), Vec::new());
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        match probe(&agent, addr) {
                            Ok(fired) => answers.push(fired),
                            Err(why) => failures.push(why),
                        }
                    }
                    (answers, failures)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        replace(&plugin, &edited);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let deadline = std::time::Instant::now() + Duration::from_secs(240);
        while !probe(&agent, addr)
            .unwrap()
            .contains(&"edit-probe".to_owned())
        {
            assert!(std::time::Instant::now() < deadline, "never swapped in");
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut answers = Vec::new();
        for client in clients {
            let (a, failures) = client.join().unwrap();
            assert!(
                failures.is_empty(),
                "requests failed during the swap: {failures:?}"
            );
            answers.extend(a);
        }
        // Decisions switched from the old policy set to the new one, and none was lost.
        assert!(answers.contains(&vec!["art8-2-agreed-purpose".to_owned()]));
        assert!(answers.iter().any(|a| a.contains(&"edit-probe".to_owned())));
        let edited_sha = yungui::builder::sha256_hex(&edited);
        assert!(get(addr, "/readyz").contains(&edited_sha));

        // A corrupt component, and the engine component without a policy set, are refused; the
        // edited one keeps deciding.
        // Each is named in one line of `/readyz`: the file, and what is wrong with it.
        for (bad, why) in [
            (b"not wasm".as_slice(), "not a wasm component"),
            (yungui::builder::ENGINE_COMPONENT, "no policy set"),
        ] {
            replace(&plugin, bad);
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            loop {
                let ready = get(addr, "/readyz");
                if ready.contains("refused") && ready.contains(why) {
                    assert!(ready.contains(&edited_sha), "{ready}");
                    let line = ready.lines().find(|l| l.contains("refused")).unwrap();
                    assert!(
                        line.starts_with(&format!("component {} refused: ", plugin.display())),
                        "{ready}"
                    );
                    assert!(line.contains(why), "{ready}");
                    assert_eq!(line.matches("policies.wasm").count(), 1, "{ready}");
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "not refused: {ready}");
                std::thread::sleep(Duration::from_millis(100));
            }
            assert!(
                probe(&agent, addr)
                    .unwrap()
                    .contains(&"edit-probe".to_owned())
            );
        }
        assert!(
            get(addr, "/metrics").contains("yungui_component_loads_total{result=\"failure\"} 2")
        );
    }

    #[test]
    fn a_server_over_a_policy_folder_runs_it_built() {
        let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies");
        let addr = serve_in_background(serve_args(&[
            "--listen",
            "127.0.0.1:0",
            "--registry",
            &example_registry_path(),
            "--plain-http",
            "--workers",
            "1",
            "--policies",
            policies.to_str().unwrap(),
        ]));
        // The build is deterministic: the component in force is the one `yungui build` writes.
        let shipped = yungui::builder::sha256_hex(&std::fs::read(shipped_plugin()).unwrap());
        assert!(get(addr, "/readyz").contains(&shipped));
    }

    /// A compiled artefact put in the cache under the pinned component's name (here the genuine
    /// artefact of another policy set) is not run: the pinned component is compiled again.
    #[test]
    fn a_compiled_component_planted_in_the_cache_is_not_run() {
        let cache = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let edited = dir.path().join("edited.wasm");
        std::fs::write(&edited, edited_component()).unwrap();
        let cfg = EngineConfig::default()
            .with_cache_dir(Some(cache.path().to_owned()))
            .with_max_idle(1);
        Engine::load(&edited, Registry::empty(), cfg.clone()).unwrap();
        let [edited_entry] = <[PathBuf; 1]>::try_from(compiled_in(cache.path())).unwrap();
        Engine::load(Path::new(shipped_plugin()), Registry::empty(), cfg).unwrap();
        let shipped_entry = compiled_in(cache.path())
            .into_iter()
            .find(|p| *p != edited_entry)
            .unwrap();
        std::fs::copy(&edited_entry, &shipped_entry).unwrap();

        let shipped = yungui::builder::sha256_hex(&std::fs::read(shipped_plugin()).unwrap());
        let mut config = serve_args(&[
            "--listen",
            "127.0.0.1:0",
            "--registry",
            &example_registry_path(),
            "--plain-http",
            "--workers",
            "1",
            "--plugin-sha256",
            &shipped,
            "--plugin",
            shipped_plugin(),
        ])
        .config()
        .unwrap();
        config.engine.cache_dir = Some(cache.path().to_owned());
        let addr = serve_config_in_background(config);
        assert!(get(addr, "/readyz").contains(&shipped));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        assert_eq!(probe(&agent, addr).unwrap(), ["art8-2-agreed-purpose"]);
    }

    /// A component rewritten in place with its old modification time is noticed by its content.
    #[test]
    fn a_changed_component_with_the_same_modification_time_is_swapped_in() {
        let edited = edited_component();
        let dir = tempfile::tempdir().unwrap();
        let plugin = dir.path().join("policies.wasm");
        std::fs::copy(shipped_plugin(), &plugin).unwrap();
        let modified = std::fs::metadata(&plugin).unwrap().modified().unwrap();
        let addr = serve_in_background(serve_args(&[
            "--listen",
            "127.0.0.1:0",
            "--registry",
            &example_registry_path(),
            "--plain-http",
            "--workers",
            "1",
            "--plugin-watch-secs",
            "1",
            "--plugin",
            plugin.to_str().unwrap(),
        ]));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        assert_eq!(probe(&agent, addr).unwrap(), ["art8-2-agreed-purpose"]);
        {
            use std::io::Write as _;
            let mut file = std::fs::File::options()
                .write(true)
                .truncate(true)
                .open(&plugin)
                .unwrap();
            file.write_all(&edited).unwrap();
            file.set_modified(modified).unwrap();
        }
        assert_eq!(
            std::fs::metadata(&plugin).unwrap().modified().unwrap(),
            modified
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(240);
        while !probe(&agent, addr)
            .unwrap()
            .contains(&"edit-probe".to_owned())
        {
            assert!(std::time::Instant::now() < deadline, "never swapped in");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    #[test]
    fn a_pinned_server_refuses_any_other_component() {
        let dir = tempfile::tempdir().unwrap();
        let plugin = dir.path().join("policies.wasm");
        std::fs::copy(shipped_plugin(), &plugin).unwrap();
        let shipped = yungui::builder::sha256_hex(&std::fs::read(shipped_plugin()).unwrap());
        let cache = tempfile::tempdir().unwrap();
        let mut config = serve_args(&[
            "--listen",
            "127.0.0.1:0",
            "--registry",
            &example_registry_path(),
            "--plain-http",
            "--workers",
            "1",
            "--plugin-watch-secs",
            "1",
            "--plugin-sha256",
            &shipped,
            "--plugin",
            plugin.to_str().unwrap(),
        ])
        .config()
        .unwrap();
        config.engine.cache_dir = Some(cache.path().to_owned());
        let addr = serve_config_in_background(config);
        assert_eq!(compiled_in(cache.path()).len(), 1);
        replace(&plugin, &edited_component());
        let deadline = std::time::Instant::now() + Duration::from_secs(240);
        loop {
            let ready = get(addr, "/readyz");
            if ready.contains("refused") {
                let edited = yungui::builder::sha256_hex(&std::fs::read(&plugin).unwrap());
                assert!(
                    ready.contains(&format!(
                        "component {} refused: its sha256 {edited} does not match the pin {shipped} (--plugin-sha256)",
                        plugin.display()
                    )),
                    "{ready}"
                );
                break;
            }
            assert!(std::time::Instant::now() < deadline, "not refused: {ready}");
            std::thread::sleep(Duration::from_millis(100));
        }
        // Refused before it was compiled: nothing of it in the cache.
        assert_eq!(compiled_in(cache.path()).len(), 1);
    }

    /// A server whose first component is refused is not ready, and `/readyz` says which file
    /// and why in one line.
    #[test]
    fn a_server_whose_first_component_is_refused_says_why_in_readyz() {
        let shipped = yungui::builder::sha256_hex(&std::fs::read(shipped_plugin()).unwrap());
        let pin = "0".repeat(64);
        let config = serve_args(&[
            "--listen",
            "127.0.0.1:0",
            "--registry",
            &example_registry_path(),
            "--plain-http",
            "--workers",
            "1",
            "--plugin-sha256",
            &pin,
            "--plugin",
            shipped_plugin(),
        ])
        .config()
        .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let running = yungui_server::start(&config).await.unwrap();
                tx.send(running.addr).unwrap();
                let _ = running.wait().await;
            });
        });
        let addr = rx.recv_timeout(Duration::from_secs(60)).unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let mut response = agent.get(format!("http://{addr}/readyz")).call().unwrap();
            assert_eq!(response.status(), 503);
            let body = response.body_mut().read_to_string().unwrap();
            if body.contains("refused") {
                let path = std::path::Path::new(shipped_plugin());
                assert_eq!(
                    body,
                    format!(
                        "not ready: component {} refused: its sha256 {shipped} does not match the pin {pin} (--plugin-sha256)\n",
                        path.display()
                    )
                );
                break;
            }
            assert!(std::time::Instant::now() < deadline, "not refused: {body}");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            get(addr, "/metrics").contains("yungui_component_loads_total{result=\"failure\"} 1")
        );
    }
}
