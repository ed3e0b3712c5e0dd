//! Prometheus metrics: decisions by front end and outcome, controls that fired, faults, latency.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::ServeError;
use crate::bindings::types;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    front: String,
    decision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ControlLabels {
    control: String,
    severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FaultLabels {
    front: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FrontLabels {
    front: String,
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    decisions: Family<DecisionLabels, Counter>,
    controls: Family<ControlLabels, Counter>,
    faults: Family<FaultLabels, Counter>,
    latency: Family<FrontLabels, Histogram>,
    component_reloads: Family<ReloadLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("yungui");
        let decisions = Family::<DecisionLabels, Counter>::default();
        let controls = Family::<ControlLabels, Counter>::default();
        let faults = Family::<FaultLabels, Counter>::default();
        let latency = Family::<FrontLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05,
                0.1, 0.25, 1.0,
            ])
        });
        registry.register(
            "decisions",
            "Decisions by front end and outcome (allow, deny, error)",
            decisions.clone(),
        );
        registry.register(
            "controls_fired",
            "Controls that fired, by control id and severity",
            controls.clone(),
        );
        registry.register(
            "faults",
            "Requests that got no decision, by kind (bad_request, timeout, trap, ...)",
            faults.clone(),
        );
        registry.register(
            "decision_seconds",
            "Time to decide, queueing for a worker included",
            latency.clone(),
        );
        let component_reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "component_reloads",
            "Policy component reloads by result (success, failure: refused, the old one stays)",
            component_reloads.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            decisions,
            controls,
            faults,
            latency,
            component_reloads,
        }
    }

    /// Records a component reload: swapped in, or refused.
    pub fn record_component_reload(&self, success: bool) {
        self.component_reloads
            .get_or_create(&ReloadLabels {
                result: if success { "success" } else { "failure" }.to_owned(),
            })
            .inc();
    }

    /// Records one decision (or failure).
    pub fn record(
        &self,
        front: &str,
        result: &Result<types::Decision, ServeError>,
        elapsed: Duration,
    ) {
        let decision = match result {
            Ok(d) if d.allowed => "allow",
            Ok(_) => "deny",
            Err(_) => "error",
        };
        self.decisions
            .get_or_create(&DecisionLabels {
                front: front.to_owned(),
                decision: decision.to_owned(),
            })
            .inc();
        match result {
            Ok(d) => {
                for f in d.denials.iter().chain(&d.warnings) {
                    self.controls
                        .get_or_create(&ControlLabels {
                            control: f.control.clone(),
                            severity: match f.severity {
                                types::Severity::Deny => "deny",
                                types::Severity::Warn => "warn",
                            }
                            .to_owned(),
                        })
                        .inc();
                }
            }
            Err(e) => {
                self.faults
                    .get_or_create(&FaultLabels {
                        front: front.to_owned(),
                        kind: e.kind().to_owned(),
                    })
                    .inc();
            }
        }
        self.latency
            .get_or_create(&FrontLabels {
                front: front.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}
