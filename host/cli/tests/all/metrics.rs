//! The metrics as the README documents them (its *Metrics* table: name, type, labels) against
//! what a server's `/metrics` exports; the scrapes are the Kubernetes tests' (a registry in files)
//! and the PostgreSQL tests' (a registry in a database).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A row of the README's metrics table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Documented {
    /// The name of its samples (`_total` included for a counter, without `_bucket`... for a
    /// histogram).
    pub name: String,
    /// `counter`, `gauge` or `histogram`.
    pub kind: String,
    /// Its label names.
    pub labels: BTreeSet<String>,
    /// Exported only with a registry in a database.
    pub database_only: bool,
}

impl Documented {
    /// Its family's name in an OpenMetrics `# TYPE` line (a counter's without `_total`).
    pub fn family(&self) -> &str {
        match self.kind.as_str() {
            "counter" => self.name.strip_suffix("_total").unwrap_or(&self.name),
            _ => &self.name,
        }
    }
}

fn readme(path: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(path),
    )
    .unwrap()
}

/// The rows of the README's *Metrics* table.
pub fn documented() -> Vec<Documented> {
    let text = readme("README.md");
    let section = text
        .split_once("\n## Metrics\n")
        .unwrap_or_else(|| panic!("README.md has no `## Metrics` section"))
        .1;
    let section = section.split("\n## ").next().unwrap();
    let mut rows = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let [name, kind, labels, what] = cells[..] else {
            panic!("a metrics row of four cells: {line}")
        };
        rows.push(Documented {
            name: name.trim_matches('`').to_owned(),
            kind: kind.to_owned(),
            labels: labels
                .split(", ")
                .filter(|l| !l.is_empty())
                .map(|l| l.trim_matches('`').to_owned())
                .collect(),
            database_only: what.starts_with("database registry only"),
        });
    }
    assert!(rows.len() > 20, "{rows:?}");
    rows
}

/// Every `yungui_*` or `process_*` word of the README and the Kubernetes README that is not a
/// metric: the registry's table, its database role, the server crate, a Cedar action.
const NOT_METRICS: [&str; 4] = [
    "yungui_registry",
    "yungui_reader",
    "yungui_server",
    "process_personal_info",
];

/// The metric names the READMEs mention anywhere (a sample's name, `_bucket` and the like
/// included).
pub fn mentioned() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for path in ["README.md", "deploy/kubernetes/README.md"] {
        let text = readme(path);
        for prefix in ["yungui_", "process_"] {
            let mut rest = text.as_str();
            while let Some(at) = rest.find(prefix) {
                let tail = &rest[at..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                let name = &tail[..end];
                // Only whole words (not `my_process_x`).
                let whole = at == 0
                    || !rest[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
                if whole && !NOT_METRICS.contains(&name) {
                    names.insert(name.to_owned());
                }
                rest = &tail[end..];
            }
        }
    }
    names
}

/// A scrape's families (OpenMetrics): type, and the label names of its samples.
pub fn scraped(metrics: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut families: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for line in metrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            families.insert(name.to_owned(), (kind.to_owned(), BTreeSet::new()));
        }
    }
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let name_end = line.find(['{', ' ']).unwrap();
        let sample = &line[..name_end];
        let family = families
            .keys()
            .filter(|f| sample.starts_with(f.as_str()))
            .max_by_key(|f| f.len())
            .unwrap_or_else(|| panic!("a sample of no family: {line}"))
            .clone();
        if let Some(labels) = line[name_end..]
            .strip_prefix('{')
            .and_then(|l| l.split_once('}'))
        {
            let names = labels.0.split(',').filter_map(|pair| {
                let (name, _) = pair.split_once('=')?;
                (name != "le").then(|| name.to_owned())
            });
            families.get_mut(&family).unwrap().1.extend(names);
        }
    }
    families
}

/// The families that have a sample only after an event a test may not cause (a fault, a
/// registry file reloaded, a connection cut): registered by the server (metrics.rs) as labelled
/// families.
fn registered_family(name: &str) -> bool {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src/metrics.rs"),
    )
    .unwrap();
    name.strip_prefix("yungui_")
        .is_some_and(|n| source.contains(&format!("\"{n}\",")))
}

/// Checks a scrape of a server against the README: every family it exports is documented, with
/// its type and labels; every documented one is exported (the database ones exactly when the
/// registry is a database; the labelled counters once they have had an event; the certificate's
/// expiry with TLS); every metric the READMEs mention is documented.
pub fn check_scrape(metrics: &str, database: bool, tls: bool) {
    let documented = documented();
    let scraped = scraped(metrics);
    for (family, (kind, labels)) in &scraped {
        let row = documented
            .iter()
            .find(|d| d.family() == family)
            .unwrap_or_else(|| panic!("`{family}` is exported but not in README's metrics table"));
        assert_eq!(&row.kind, kind, "{row:?}");
        assert_eq!(&row.labels, labels, "{row:?}: the scrape's labels");
    }
    for row in &documented {
        let exported = scraped.contains_key(row.family());
        if row.database_only {
            assert_eq!(
                exported,
                database,
                "{} with a registry in {}: {metrics}",
                row.name,
                if database { "a database" } else { "files" }
            );
        } else if row.name == "yungui_tls_not_after_seconds" {
            assert_eq!(exported, tls, "{}", row.name);
        } else if !row.labels.is_empty() && registered_family(row.family()) {
            // A labelled family without an event yet: registered under this name.
        } else {
            assert!(
                exported,
                "{} is documented but not exported: {metrics}",
                row.name
            );
        }
    }
    let names: BTreeSet<&str> = documented.iter().map(|d| d.name.as_str()).collect();
    for name in mentioned() {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|b| names.contains(b)))
            .unwrap_or(&name);
        assert!(
            names.contains(base),
            "the README names `{name}`, which is not in its metrics table"
        );
    }
}

/// A `process_*` gauge or counter of a scrape, by name.
pub fn value(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .map(|v| v.trim().parse().unwrap())
}

/// The process metrics every Prometheus exporter has, with values a running server has: memory,
/// CPU time and descriptors in use, started before now.
pub fn check_process(metrics: &str) {
    for name in [
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        let v = value(metrics, name).unwrap_or_else(|| panic!("no {name}: {metrics}"));
        assert!(v > 0.0, "{name} {v}");
    }
    let resident = value(metrics, "process_resident_memory_bytes").unwrap();
    assert!(resident > 1e6, "a server in under a megabyte: {resident}");
    assert!(value(metrics, "process_virtual_memory_bytes").unwrap() >= resident);
    assert!(
        value(metrics, "process_max_fds").unwrap() >= value(metrics, "process_open_fds").unwrap()
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = value(metrics, "process_start_time_seconds").unwrap();
    assert!(
        started <= now + 1.0 && started > now - 86_400.0,
        "started at {started}, now {now}"
    );
}
