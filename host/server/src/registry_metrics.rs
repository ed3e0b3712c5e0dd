//! The registry's metrics: lookups, the database cache's hits, misses and evictions, source
//! errors, cached entities, connection, and staleness (the age of the last change seen). Read
//! from the engine and the registry at scrape time.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use yungui::registry::postgres::Counters;

/// The registry's metric families.
#[derive(Debug, Default)]
pub struct RegistryMetrics {
    lookups: Counter,
    hits: Counter,
    misses: Counter,
    evictions: Counter,
    errors: Counter,
    cached: Gauge,
    connected: Gauge,
    staleness: Gauge<f64, AtomicU64>,
    /// The sources' own counts at the last scrape (they start over when the component or the
    /// registry is replaced; the counters here never go down).
    seen: Mutex<[u64; 5]>,
}

impl RegistryMetrics {
    /// Registers the families every registry has under `registry_`: the lookups.
    pub fn register(&self, registry: &mut Registry) {
        registry.sub_registry_with_prefix("registry").register(
            "lookups",
            "Registry entities the component asked for (entities it did not hold parsed)",
            self.lookups.clone(),
        );
    }

    /// Registers the families of a registry in PostgreSQL under `registry_` (cache, errors,
    /// connection, staleness): only a server whose registry is a database exports them.
    pub fn register_database(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("registry");
        r.register(
            "cache_hits",
            "Registry in PostgreSQL: lookups answered from the process's cache",
            self.hits.clone(),
        );
        r.register(
            "cache_misses",
            "Registry in PostgreSQL: lookups asked of the database",
            self.misses.clone(),
        );
        r.register(
            "evictions",
            "Registry in PostgreSQL: cached entities dropped because they changed (or all, on a reconnection or a bulk change)",
            self.evictions.clone(),
        );
        r.register(
            "source_errors",
            "Registry in PostgreSQL: lookups that failed, connections lost or refused",
            self.errors.clone(),
        );
        r.register(
            "cached_entities",
            "Registry in PostgreSQL: entities cached now",
            self.cached.clone(),
        );
        r.register(
            "connected",
            "Registry in PostgreSQL: 1 while the database is connected and listened to",
            self.connected.clone(),
        );
        r.register(
            "staleness_seconds",
            "Registry in PostgreSQL: age of the last change seen (announced, or the cache started over on connecting)",
            self.staleness.clone(),
        );
    }

    /// Reads the engine's lookups and, for a registry in PostgreSQL, the database's counters.
    pub fn update(&self, lookups: u64, database: Option<&yungui::registry::postgres::Database>) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let [l, h, m, e, x] = &mut *seen;
        advance(&self.lookups, l, lookups);
        if let Some(db) = database {
            let Counters {
                hits,
                misses,
                evictions,
                errors,
                ..
            } = db.counters();
            advance(&self.hits, h, hits.load(Ordering::Relaxed));
            advance(&self.misses, m, misses.load(Ordering::Relaxed));
            advance(&self.evictions, e, evictions.load(Ordering::Relaxed));
            advance(&self.errors, x, errors.load(Ordering::Relaxed));
            self.cached
                .set(i64::try_from(db.cached()).unwrap_or(i64::MAX));
            self.connected.set(i64::from(db.connected()));
            self.staleness.set(db.staleness().as_secs_f64());
        }
    }
}

/// Adds to `counter` what `now` grew since `last` (all of `now` when the source started over).
fn advance(counter: &Counter, last: &mut u64, now: u64) {
    let delta = if now >= *last { now - *last } else { now };
    counter.inc_by(delta);
    *last = now;
}
