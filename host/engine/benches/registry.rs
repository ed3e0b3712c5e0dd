//! The file registry at 1M tenants: what a change of one tenant costs (issue 13).
//!
//! `cargo bench --bench registry`: writes a registry file of the example registry plus 1,000,000
//! website tenants to a temporary folder, loads it, rewrites the file with one tenant changed,
//! and measures, as the server's registry watcher does it: the file read + parse + diff
//! ([`Registry::diff_file`]), the schema check of the changed entities, and applying the diff (a
//! new generation sharing every untouched shard). Then the registry lookups the next decisions
//! make: one for the changed tenant, none for the others. Then the same tenants as a registry
//! directory of 1,000 files of 1,000 tenants ([`yungui::registry::Files`]): a change of one
//! tenant, end to end as the watcher does it (every file stamped, the changed file read, parsed and
//! diffed, the changed entity checked against the schema, the new generation applied). Figures go
//! to BENCHMARKS.md.
//!
//! With `YUNGUI_BENCH_PG_URL` set (a database holding many tenants `t0`, `t1`…, loaded by
//! `tests/bench/registry-pg.sh`), it also measures the registry in PostgreSQL: cold decisions
//! (a tenant never seen: one lookup through the database), and warm decisions over a working set
//! of 10,000 tenants, against the same over a file registry of 1,000 tenants.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a benchmark: a failure should stop it loudly"
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use yungui::registry::Files;
use yungui::{Engine, EngineConfig, Registry};

const TENANTS: usize = 1_000_000;
/// Files of the registry directory (each holds `TENANTS / FILES` tenants).
const FILES: usize = 1_000;
const ROUNDS: usize = 5;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tenant(i: usize, verified: bool) -> String {
    format!(
        r#"{{"uid":{{"type":"Cloud::Tenant","id":"t{i}"}},"attrs":{{"operator":{{"type":"Cloud::Operator","id":"acme-cloud"}},"kind":"website","real_name_verified":{verified},"icp_domains":["t{i}.example.cn"],"agreed_purposes":["website"],"status":"active","serves_domestic_users":true}},"parents":[]}}"#
    )
}

/// The example registry plus `n` tenants, tenant `changed` unverified.
fn registry_json(n: usize, changed: Option<usize>) -> String {
    let base = std::fs::read_to_string(root().join("examples/registry.json")).unwrap();
    let mut out = String::with_capacity(base.len() + n * 330);
    out.push_str(base.trim_end().trim_end_matches(']'));
    for i in 0..n {
        out.push(',');
        out.push_str(&tenant(i, Some(i) != changed));
    }
    out.push(']');
    out
}

/// Tenants `from..to` as a Cedar entities JSON list, tenant `changed` unverified.
fn tenants_json(from: usize, to: usize, changed: Option<usize>) -> String {
    let list: Vec<String> = (from..to).map(|i| tenant(i, Some(i) != changed)).collect();
    format!("[{}]", list.join(","))
}

/// The 1M tenants as a directory of [`FILES`] files, the example registry in one more.
fn directory(previous: Engine, wasm: &[u8]) {
    // The single-file registry's memory goes first.
    drop(previous);
    let dir = tempfile::tempdir().unwrap();
    let per_file = TENANTS / FILES;
    std::fs::copy(
        root().join("examples/registry.json"),
        dir.path().join("base.json"),
    )
    .unwrap();
    let file = |n: usize| dir.path().join(format!("tenants-{n:04}.json"));
    for n in 0..FILES {
        std::fs::write(
            file(n),
            tenants_json(n * per_file, (n + 1) * per_file, None),
        )
        .unwrap();
    }
    let t = Instant::now();
    let (registry, mut files) = Files::load(dir.path()).unwrap();
    println!(
        "registry directory, {TENANTS} tenants in {FILES} files: full load {}",
        ms(t.elapsed())
    );
    let engine = one_instance(wasm, registry);
    // The tenants the rounds change are seen once, so their operator and region are cached.
    let changed_in = |round: usize| round * 10_007 + 3;
    for round in 0..ROUNDS {
        let tenant = format!("t{}", changed_in(round));
        assert!(engine.decide_json(&request(&tenant)).unwrap().allowed);
    }
    let t = Instant::now();
    let idle = files.update(&engine.registry(), |_| Ok(()));
    let stat_only = t.elapsed();
    assert!(idle.applied.is_empty() && idle.refused.is_empty());
    let mut whole = Vec::new();
    for round in 0..ROUNDS {
        let changed = changed_in(round);
        let n = changed / per_file;
        std::fs::write(
            file(n),
            tenants_json(n * per_file, (n + 1) * per_file, Some(changed)),
        )
        .unwrap();
        let current = engine.registry();
        let t = Instant::now();
        let update = files.update(&current, |diff| {
            engine
                .check_entities(diff.texts())
                .map_err(|p| format!("{p:?}"))
        });
        let next = update.registry.unwrap();
        engine.set_registry(next);
        whole.push(t.elapsed());
        assert_eq!(update.applied, vec![(file(n), 1, 0)]);
        let before = engine.registry_lookups();
        assert!(
            !engine
                .decide_json(&request(&format!("t{changed}")))
                .unwrap()
                .allowed
        );
        assert_eq!(engine.registry_lookups() - before, 1);
    }
    println!(
        "one tenant changed in one file ({ROUNDS} rounds, median): stamp {FILES} files + read, parse and diff the changed one + schema check + apply {} (stamping alone, nothing changed: {})",
        ms(median(whole)),
        ms(stat_only),
    );
}

/// An engine over the component `wasm` keeping one warm instance.
fn one_instance(wasm: &[u8], registry: Registry) -> Engine {
    Engine::from_bytes(
        wasm,
        "shipped",
        registry,
        EngineConfig::default().with_max_idle(1),
    )
    .unwrap()
}

fn request(tenant: &str) -> String {
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
        "context": {"now": "2026-11-30T08:00:00Z"}
    })
    .to_string()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let mean = v.iter().sum::<Duration>() / v.len() as u32;
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    format!(
        "mean {:.1} µs, p50 {:.1} µs, p99 {:.1} µs ({} decisions)",
        mean.as_secs_f64() * 1e6,
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        v.len()
    )
}

fn timed(engine: &Engine, requests: &[String], rounds: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(requests.len() * rounds);
    for _ in 0..rounds {
        for r in requests {
            let t = Instant::now();
            let d = engine.decide_json(r).unwrap();
            out.push(t.elapsed());
            assert!(d.allowed, "{d:?}");
        }
    }
    out
}

/// Warm decisions over the file registry of 1,000 tenants, then (with a database) cold and warm
/// ones over the database.
fn database(url: &str, wasm: &[u8]) {
    let config = EngineConfig::default().with_max_idle(1);
    let file = Engine::from_bytes(
        wasm,
        "shipped",
        Registry::from_json(&registry_json(1_000, None)).unwrap(),
        config.clone(),
    )
    .unwrap();
    let small: Vec<String> = (0..1_000).map(|i| request(&format!("t{i}"))).collect();
    timed(&file, &small, 1);
    let file_warm = timed(&file, &small, 10);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let base: Vec<Box<serde_json::value::RawValue>> = serde_json::from_str(
        &std::fs::read_to_string(root().join("examples/registry.json")).unwrap(),
    )
    .unwrap();
    runtime
        .block_on(yungui::registry::postgres::import(url, base))
        .unwrap();
    let tenants: usize = std::env::var("YUNGUI_BENCH_PG_TENANTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000_000);
    let db =
        yungui::registry::postgres::Database::start(yungui::registry::postgres::PgConfig::new(url))
            .unwrap();
    let engine = Engine::from_bytes(wasm, "shipped", Registry::from_database(db), config).unwrap();
    let step = tenants / 10_000;
    let working: Vec<String> = (0..10_000)
        .map(|i| request(&format!("t{}", i * step + 7)))
        .collect();
    // The first decision for each tenant: its lookup goes to the database (cold).
    let cold = timed(&engine, &working, 1);
    let warm = timed(&engine, &working, 2);
    println!(
        "file registry, 1,000 tenants, 1,000 active, warm: {}",
        stats(file_warm.clone())
    );
    println!(
        "PostgreSQL, {tenants} tenants, working set 10,000, warm: {}",
        stats(warm.clone())
    );
    let mean = |v: &[Duration]| v.iter().sum::<Duration>().as_secs_f64() / v.len() as f64;
    println!(
        "  ratio of means (PostgreSQL warm / file 1k): {:.2}",
        mean(&warm) / mean(&file_warm)
    );
    println!("PostgreSQL, cold (a tenant never seen): {}", stats(cold));
}

fn main() {
    if let Ok(url) = std::env::var("YUNGUI_BENCH_PG_URL") {
        let built = yungui::builder::shipped(None).unwrap();
        database(&url, &built.wasm);
        if std::env::var_os("YUNGUI_BENCH_PG_ONLY").is_some() {
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("registry.json");
    std::fs::write(&path, registry_json(TENANTS, None)).unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    let t = Instant::now();
    let registry = Registry::from_file(&path).unwrap();
    println!(
        "file registry, {TENANTS} tenants, {:.0} MiB file: full load {}",
        size as f64 / (1 << 20) as f64,
        ms(t.elapsed())
    );
    let built = yungui::builder::shipped(None).unwrap();
    let engine = one_instance(&built.wasm, registry);
    let watched: Vec<String> = (0..100).map(|i| format!("t{}", i * 10_007)).collect();
    for t in &watched {
        assert!(engine.decide_json(&request(t)).unwrap().allowed);
    }

    let (mut read_diff, mut check, mut apply) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Tenant `changed` loses its real-name verification (and the previous one gets it back).
        let changed = round * 10_007;
        std::fs::write(&path, registry_json(TENANTS, Some(changed))).unwrap();
        let current = engine.registry();
        let t = Instant::now();
        let diff = current.diff_file(&path).unwrap();
        read_diff.push(t.elapsed());
        let t = Instant::now();
        engine.check_entities(diff.texts()).unwrap();
        check.push(t.elapsed());
        let changes = diff.puts() + diff.removes();
        assert_eq!(changes, if round == 0 { 1 } else { 2 });
        let t = Instant::now();
        let next = current.apply(diff).unwrap();
        engine.set_registry(next);
        apply.push(t.elapsed());

        let before = engine.registry_lookups();
        let denied = engine
            .decide_json(&request(&format!("t{changed}")))
            .unwrap();
        assert!(!denied.allowed);
        for t in &watched {
            engine.decide_json(&request(t)).unwrap();
        }
        let lookups = engine.registry_lookups() - before;
        assert_eq!(
            lookups, changes as u64,
            "only the changed tenants are read again"
        );
    }
    println!(
        "one tenant changed ({ROUNDS} rounds, medians): read + parse + diff {}, schema check of the changed {}, apply (new generation) {}; next decisions re-read only the changed tenants",
        ms(median(read_diff)),
        ms(median(check)),
        ms(median(apply)),
    );
    directory(engine, &built.wasm);
}
