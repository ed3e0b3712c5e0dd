//! Decision cost, measured: `cargo bench --bench decide`. Prints figures; asserts nothing.
//!
//! (a) native cedar-policy in-process doing the component's per-call work: the registry's working
//!     set prebuilt, the request's own entity and context built and schema-checked per call, the
//!     deciding and warning policies sliced alike (the physical limit);
//! (b) the same decision through the component on a warm instance (typed and JSON requests);
//! (c) a fresh instance made ready to decide and its first decision: of the pre-initialised
//!     component `yungui build` writes, and of the engine run unbuilt (`--policies`: `init` parses
//!     the policy set in every new instance);
//! (d) process start to first decision with the compiled cache warm (`yungui decide`);
//! (e) the registry at 1k and 1M tenants: load time, RSS, decision latency;
//! (f) the policy author's loop: `yungui build` of the shipped policies (the instrumented engine's
//!     compiled code cached, as after a first build), and an edit's `yungui test --policies` of
//!     every golden case (check, load, run).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a benchmark binary: a setup failure should stop it loudly"
)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cedar_policy::{
    Authorizer, Context, Entities, Entity, EntityUid, PolicySet, Request, RestrictedExpression,
};
use yungui::bindings::build::{attr, uid};
use yungui::types;
use yungui::{Engine, EngineConfig, Registry};

const NOW: &str = "2026-11-30T08:00:00Z";

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

struct Stats {
    mean: Duration,
    p50: Duration,
    p99: Duration,
}

impl Stats {
    fn per_second(&self) -> f64 {
        1.0 / self.mean.as_secs_f64()
    }
}

fn measure(iterations: usize, mut f: impl FnMut(usize)) -> Stats {
    for i in 0..iterations / 10 {
        f(i);
    }
    let mut samples = Vec::with_capacity(iterations);
    let start = Instant::now();
    for i in 0..iterations {
        let t = Instant::now();
        f(i);
        samples.push(t.elapsed());
    }
    let total = start.elapsed();
    samples.sort_unstable();
    Stats {
        mean: total / u32::try_from(iterations).unwrap(),
        p50: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
    }
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn print(label: &str, s: &Stats) {
    println!(
        "{label:<58} mean {:>10}  p50 {:>10}  p99 {:>10}  {:>9.0}/s",
        us(s.mean),
        us(s.p50),
        us(s.p99),
        s.per_second()
    );
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The benchmark request: a compliant workload, so every policy is evaluated to the end.
fn typed_request(tenant: &str) -> types::Request {
    types::Request {
        principal: uid("Cloud::Tenant", tenant),
        action: "provision_workload".to_owned(),
        resource: types::Entity {
            uid: uid("Cloud::Workload", "web-1"),
            attrs: vec![
                attr(
                    "region",
                    types::Value::Entity(uid("Cloud::Region", "cn-north-1")),
                ),
                attr("purpose", types::Value::String("website".to_owned())),
                attr("owner", types::Value::Entity(uid("Cloud::Tenant", tenant))),
                attr("privileged", types::Value::Boolean(false)),
                attr("host_access", types::Value::Boolean(false)),
            ],
            parents: vec![],
        },
        context: vec![attr("now", types::Value::Datetime(NOW.to_owned()))],
        entities: vec![],
    }
}

fn json_request(tenant: &str) -> String {
    serde_json::json!({
        "principal": {"type": "Cloud::Tenant", "id": tenant},
        "action": "provision_workload",
        "resource": {
            "uid": {"type": "Cloud::Workload", "id": "web-1"},
            "attrs": {
                "region": {"type": "Cloud::Region", "id": "cn-north-1"},
                "purpose": "website",
                "owner": {"type": "Cloud::Tenant", "id": tenant},
                "privileged": false,
                "host_access": false
            },
            "parents": []
        },
        "context": {"now": NOW}
    })
    .to_string()
}

/// (a): native Cedar doing per call what the component does per call on a warm instance: the
/// registry's working set (the entities the request reaches, with the action entity, transitively
/// closed) prepared once; per call the resource entity and the context built, the resource checked
/// against the schema as it is added to a copy of the working set, the request checked against
/// the schema, and the deciding and warning policies sliced for the action and the request's
/// principal and resource types evaluated.
fn native(iterations: usize) -> Stats {
    let sources = yungui_policies::Sources::read_dir(&root().join("policies")).unwrap();
    let compiled = yungui_policies::compile(
        (&sources.schema.name, &sources.schema.text),
        sources
            .policies
            .iter()
            .map(|f| (f.name.as_str(), f.text.as_str())),
        yungui_policies::Validate::No,
    )
    .unwrap();
    let mut deciding = PolicySet::new();
    let mut warning = PolicySet::new();
    for p in compiled.policies.policies() {
        let warn = compiled
            .findings
            .get(p.id())
            .is_some_and(|f| f.severity == yungui_policies::Severity::Warn);
        let set = if warn { &mut warning } else { &mut deciding };
        set.add(p.clone()).unwrap();
    }
    let schema = compiled.schema;
    // The component decides with the policies whose scope can match the action and the request's
    // types; so does the floor.
    let action = EntityUid::from_str(r#"Cloud::Action::"provision_workload""#).unwrap();
    let principal = EntityUid::from_str(r#"Cloud::Tenant::"shop-example""#).unwrap();
    let resource_uid = EntityUid::from_str(r#"Cloud::Workload::"web-1""#).unwrap();
    let slice = |set: &PolicySet| {
        let by_action = yungui_policies::slice_by_action(set, &schema)
            .unwrap()
            .remove(&action)
            .unwrap();
        yungui_policies::slice_by_types(&by_action, principal.type_name(), resource_uid.type_name())
            .unwrap()
    };
    let deciding = slice(&deciding);
    let warning = slice(&warning);
    let registry_text = std::fs::read_to_string(root().join("examples/registry.json")).unwrap();
    let registry = Entities::from_json_str(&registry_text, Some(&schema)).unwrap();
    // The working set: the registry entities this request reaches and its action, prebuilt once.
    let working_set = Entities::from_entities(
        [
            ("Cloud::Tenant", "shop-example"),
            ("Cloud::Operator", "acme-cloud"),
            ("Cloud::Region", "cn-north-1"),
        ]
        .iter()
        .map(|(t, id)| {
            registry
                .get(&EntityUid::from_str(&format!("{t}::\"{id}\"")).unwrap())
                .unwrap()
                .clone()
        })
        .chain(
            schema
                .action_entities()
                .unwrap()
                .iter()
                .filter(|e| e.uid() == action)
                .cloned(),
        ),
        None,
    )
    .unwrap();
    let authorizer = Authorizer::new();
    let now = RestrictedExpression::new_datetime(NOW);
    let region = EntityUid::from_str(r#"Cloud::Region::"cn-north-1""#).unwrap();
    measure(iterations, |_| {
        let resource = Entity::new(
            resource_uid.clone(),
            HashMap::from([
                (
                    "region".to_owned(),
                    RestrictedExpression::new_entity_uid(region.clone()),
                ),
                (
                    "purpose".to_owned(),
                    RestrictedExpression::new_string("website".to_owned()),
                ),
                (
                    "owner".to_owned(),
                    RestrictedExpression::new_entity_uid(principal.clone()),
                ),
                (
                    "privileged".to_owned(),
                    RestrictedExpression::new_bool(false),
                ),
                (
                    "host_access".to_owned(),
                    RestrictedExpression::new_bool(false),
                ),
            ]),
            HashSet::new(),
        )
        .unwrap();
        let entities = working_set
            .clone()
            .add_entities([resource], Some(&schema))
            .unwrap();
        let context = Context::from_pairs([("now".to_owned(), now.clone())]).unwrap();
        let request = Request::new(
            principal.clone(),
            action.clone(),
            resource_uid.clone(),
            context,
            Some(&schema),
        )
        .unwrap();
        let response = authorizer.is_authorized(&request, &deciding, &entities);
        assert_eq!(response.decision(), cedar_policy::Decision::Allow);
        let warnings = authorizer.is_authorized(&request, &warning, &entities);
        std::hint::black_box(warnings);
    })
}

/// The component under test: `$YUNGUI_PLUGIN` (e.g. an optimized build), else the shipped
/// policy set built as `yungui build` builds it.
fn plugin() -> std::path::PathBuf {
    static PATH: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(path) = std::env::var_os("YUNGUI_PLUGIN") {
            return std::path::PathBuf::from(path);
        }
        let cache = yungui::engine::default_cache_dir();
        let built = yungui::builder::shipped(cache.as_deref()).unwrap();
        let path = std::env::temp_dir().join(format!("yungui-bench-{}.wasm", built.sha256()));
        std::fs::write(&path, &built.wasm).unwrap();
        path
    })
    .clone()
}

/// A fresh folder under the system's temporary folder.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("yungui-bench-cache-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn load(registry: Registry, config: EngineConfig) -> Engine {
    Engine::load(&plugin(), registry, config).unwrap()
}

/// A registry of `n` website tenants of one operator, plus the example registry's other entities.
fn big_registry_json(n: usize) -> String {
    let base = std::fs::read_to_string(root().join("examples/registry.json")).unwrap();
    let mut out = String::with_capacity(base.len() + n * 330);
    out.push_str(base.trim_end().trim_end_matches(']'));
    for i in 0..n {
        out.push_str(&format!(
            r#",{{"uid":{{"type":"Cloud::Tenant","id":"t{i}"}},"attrs":{{"operator":{{"type":"Cloud::Operator","id":"acme-cloud"}},"kind":"website","real_name_verified":true,"icp_domains":["t{i}.example.cn"],"agreed_purposes":["website"],"status":"active","serves_domestic_users":true}},"parents":[]}}"#
        ));
    }
    out.push(']');
    out
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument filters nothing here.
    let iterations = 20_000;
    println!(
        "yungui decision benchmark ({} cores), component `{}` ({} bytes)",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        plugin().display(),
        std::fs::metadata(plugin()).map_or(0, |m| m.len())
    );
    println!();

    let a = native(iterations);
    print("(a) native cedar-policy, same work per call", &a);

    let engine = load(
        Registry::from_file(&root().join("examples/registry.json")).unwrap(),
        EngineConfig::default(),
    );
    engine.warm(1).unwrap();
    let typed = typed_request("shop-example");
    assert!(engine.decide(&typed).unwrap().allowed);
    let b = measure(iterations, |_| {
        engine.decide(&typed).unwrap();
    });
    print("(b) component, warm instance, typed request", &b);
    let json = json_request("shop-example");
    let bj = measure(iterations, |_| {
        engine.decide_json(&json).unwrap();
    });
    print("(b) component, warm instance, JSON request", &bj);
    println!(
        "    b/a = {:.2} (typed), {:.2} (JSON)",
        b.mean.as_secs_f64() / a.mean.as_secs_f64(),
        bj.mean.as_secs_f64() / a.mean.as_secs_f64()
    );

    // (c): no idle instances kept, so every call instantiates and parses the policies.
    let cold = load(
        Registry::from_file(&root().join("examples/registry.json")).unwrap(),
        EngineConfig::default().with_max_idle(0),
    );
    let c = measure(50, |_| {
        cold.decide(&typed).unwrap();
    });
    print(
        "(c) fresh instance, built component: instantiate + decide",
        &c,
    );
    let unbuilt = Engine::from_sources_unbuilt(
        &yungui::builder::shipped_sources(),
        Registry::from_file(&root().join("examples/registry.json")).unwrap(),
        EngineConfig::default().with_max_idle(0),
    )
    .unwrap();
    let cu = measure(50, |_| {
        unbuilt.decide(&typed).unwrap();
    });
    print(
        "(c) fresh instance, unbuilt (--policies): init + decide",
        &cu,
    );

    // (d): the command, end to end, with the compiled component cached.
    let exe = env!("CARGO_BIN_EXE_yungui");
    let request = root().join("examples/requests/allow-provision.json");
    let run = || {
        let status = Command::new(exe)
            .arg("decide")
            .arg(&request)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(0));
    };
    run();
    let d = measure(20, |_| run());
    print("(d) process start to first decision (cache warm)", &d);

    // (e): registry size.
    println!();
    for n in [1_000, 1_000_000] {
        let before = rss_mib();
        let text = big_registry_json(n);
        let t = Instant::now();
        let registry = Registry::from_json(&text).unwrap();
        let load_time = t.elapsed();
        drop(text);
        let registry = Arc::new(registry);
        let rss = rss_mib() - before;
        let engine = load(Registry::empty(), EngineConfig::default());
        engine.warm(1).unwrap();
        // The same 1,000 active tenants at both sizes...
        let active: Vec<types::Request> = (0..1_000)
            .map(|i| typed_request(&format!("t{}", i * (n / 1_000))))
            .collect();
        for r in &active {
            assert!(engine.decide_with(r, registry.clone()).unwrap().allowed);
        }
        let hot = measure(iterations, |i| {
            engine
                .decide_with(&active[i % active.len()], registry.clone())
                .unwrap();
        });
        // ...and tenants drawn across the whole registry, so most are parsed on first sight.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let spread: Vec<types::Request> = (0..5_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                typed_request(&format!("t{}", x % n as u64))
            })
            .collect();
        let cold_spread = measure(spread.len(), |i| {
            engine
                .decide_with(&spread[i % spread.len()], registry.clone())
                .unwrap();
        });
        println!(
            "(e) {n:>9} tenants: load {:>8.1} ms, registry RSS {:>7.1} MiB",
            load_time.as_secs_f64() * 1e3,
            rss
        );
        print("      1,000 active tenants", &hot);
        print("      tenants spread over the registry", &cold_spread);
    }
    // (f): the author's loop.
    println!();
    let cache = tempfile_dir();
    let sources = yungui::builder::shipped_sources();
    yungui::builder::build(&sources, Some(&cache)).unwrap();
    let f = measure(10, |_| {
        let _ = std::fs::remove_dir_all(cache.join("built"));
        yungui::builder::build(&sources, Some(&cache)).unwrap();
    });
    print(
        "(f) yungui build, shipped policies (engine code cached)",
        &f,
    );
    let cases = yungui::cases::discover(&[root().join("tests/cases")]).unwrap();
    let config = EngineConfig::default().with_cache_dir(Some(cache.clone()));
    let ft = measure(10, |_| {
        let engine =
            Engine::from_sources_unbuilt(&sources, Registry::empty(), config.clone()).unwrap();
        let runner = yungui::cases::Runner::new(&engine);
        for case in &cases {
            assert!(runner.run(case).failure.is_none(), "{}", case.display());
        }
    });
    print(
        &format!("(f) test --policies: check + load + {} cases", cases.len()),
        &ft,
    );
    let _ = std::fs::remove_dir_all(&cache);

    println!();
    println!("process RSS at the end: {:.1} MiB", rss_mib());
}
