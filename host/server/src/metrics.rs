//! Prometheus metrics: every answer of every front end, decisions by front end and outcome,
//! controls that fired (each once per review), faults, latency, build information, and registry
//! and component loads.
//!
//! `/metrics` speaks OpenMetrics, or the Prometheus text format (0.0.4) when the scraper prefers
//! `text/plain`. prometheus-client writes only OpenMetrics (prometheus/client_rust#51), so the
//! Prometheus text is derived from it ([`to_prometheus_text`]): the two differ, for the metric types
//! used here, only in the `# EOF` line, `# UNIT` lines, and the counter names of `# HELP` and
//! `# TYPE` (`_total` included).

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::ServeError;
use crate::front::Front;
use yungui::bindings::types;

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
struct FrontLabels {
    front: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabels {
    front: String,
    code: String,
    answer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CutoffLabels {
    reason: String,
}

/// What `yungui_build_info` says: the version, and what was loaded (filled in when known).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildInfo {
    /// yungui's version.
    pub version: String,
    /// The sha256 of the policy component in force (hex).
    pub component_sha256: String,
    /// The digest of the policies the component was built from.
    pub policy_digest: String,
}

impl Default for BuildInfo {
    fn default() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            component_sha256: "unknown".to_owned(),
            policy_digest: "unknown".to_owned(),
        }
    }
}

/// What a front end told its caller, as a response extension the `/metrics` counter reads:
/// `allow`, `deny` (a policy denial), `refuse` (no policy decision: malformed, unmapped, fault).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer(pub &'static str);

/// The format of a scrape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
    /// `text/plain; version=0.0.4`, the Prometheus text format.
    PrometheusText,
}

impl Format {
    /// The format an `Accept` header prefers: the Prometheus text format when `text/plain` has a
    /// higher quality than OpenMetrics, OpenMetrics otherwise (no header, `*/*`, ties).
    pub fn negotiate(accept: Option<&str>) -> Self {
        let (mut openmetrics, mut text) = (None::<f32>, None::<f32>);
        for item in accept.unwrap_or_default().split(',') {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let slot = match media.as_str() {
                "application/openmetrics-text" => &mut openmetrics,
                "text/plain" => &mut text,
                _ => continue,
            };
            *slot = Some(slot.map_or(q, |old| old.max(q)));
        }
        match (text, openmetrics) {
            (Some(t), Some(o)) if t > o => Self::PrometheusText,
            (Some(t), None) if t > 0.0 => Self::PrometheusText,
            _ => Self::OpenMetrics,
        }
    }

    /// The `Content-Type` of a scrape in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    decisions: Family<DecisionLabels, Counter>,
    controls: Family<ControlLabels, Counter>,
    faults: Family<FaultLabels, Counter>,
    latency: Family<FrontLabels, Histogram>,
    answers: Family<AnswerLabels, Counter>,
    build: Family<BuildInfo, Gauge>,
    registry_reloads: Family<ResultLabels, Counter>,
    component_loads: Family<ResultLabels, Counter>,
    instantiations: Gauge,
    registry_source: super::registry_metrics::RegistryMetrics,
    cutoffs: Family<CutoffLabels, Counter>,
    tls_not_after: Gauge,
    tls_registered: std::sync::Once,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric, with the build information of this binary.
    pub fn new() -> Self {
        Self::with_build(BuildInfo::default())
    }

    /// Registers every metric.
    pub fn with_build(build_info: BuildInfo) -> Self {
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
        let answers = Family::<AnswerLabels, Counter>::default();
        registry.register(
            "answers",
            "Every answer of every front end, by HTTP status and what it said (allow, deny, refuse: no policy decision; none: no verdict in the answer), including those that never reach the engine",
            answers.clone(),
        );
        let build = Family::<BuildInfo, Gauge>::default();
        build.get_or_create(&build_info).set(1);
        registry.register(
            "build_info",
            "Always 1: the version, the component's sha256 and the policies' digest in force",
            build.clone(),
        );
        let registry_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "registry_reloads",
            "Reloads of a changed registry file, by result (success, failure: the registry in force is kept)",
            registry_reloads.clone(),
        );
        let component_loads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "component_loads",
            "Loads of the policy component (at start, and any reload), by result (success, failure)",
            component_loads.clone(),
        );
        let instantiations = Gauge::default();
        registry.register(
            "component_instantiations",
            "Instances the component in force has created since it was loaded (warm-up included); flat under a steady load",
            instantiations.clone(),
        );
        let registry_source = super::registry_metrics::RegistryMetrics::default();
        registry_source.register(&mut registry);
        let cutoffs = Family::<CutoffLabels, Counter>::default();
        registry.register(
            "connection_cutoffs",
            "Connections refused or closed, and requests cut, so that no client holds a place while slow (see server::conn), by reason: refused_peer_limit, refused_full, idle_gave_way, body_gave_way (503), body_too_slow (408)",
            cutoffs.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            decisions,
            controls,
            faults,
            latency,
            answers,
            build,
            registry_reloads,
            component_loads,
            instantiations,
            registry_source,
            cutoffs,
            tls_not_after: Gauge::default(),
            tls_registered: std::sync::Once::new(),
        }
    }

    /// Counts one connection refused or closed, or request cut, for `reason`.
    pub fn cutoff(&self, reason: &str) {
        self.cutoffs
            .get_or_create(&CutoffLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The serving certificate's expiry (Unix seconds): set when the TLS configuration loads and
    /// at each reload. Exported only by a server that serves TLS.
    pub fn set_tls_not_after(&self, unix_secs: i64) {
        self.tls_not_after.set(unix_secs);
        self.tls_registered.call_once(|| {
            self.registry
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .register(
                    "tls_not_after_seconds",
                    "When the serving certificate in force expires (its notAfter), in Unix seconds",
                    self.tls_not_after.clone(),
                );
        });
    }

    /// Reads the registry's metrics (at scrape time): the engine's lookups, and the database's
    /// counters for a registry in PostgreSQL.
    pub fn set_registry(&self, engine: &yungui::engine::Engine) {
        let registry = engine.registry();
        self.registry_source
            .update(engine.registry_lookups(), registry.database());
    }

    /// Sets `yungui_component_instantiations` (read from the engine at scrape time).
    pub fn set_instantiations(&self, n: u64) {
        self.instantiations
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Replaces what `yungui_build_info` says (e.g. once the component is loaded).
    pub fn set_build(&self, build_info: &BuildInfo) {
        self.build.clear();
        self.build.get_or_create(build_info).set(1);
    }

    /// Counts one answer of a front end.
    pub fn answer(&self, front: Front, code: u16, answer: &str) {
        self.answers
            .get_or_create(&AnswerLabels {
                front: front.name().to_owned(),
                code: code.to_string(),
                answer: answer.to_owned(),
            })
            .inc();
    }

    /// Counts one registry file whose change was applied (success) or refused (failure).
    pub fn registry_reload(&self, success: bool) {
        self.registry_reloads
            .get_or_create(&result_labels(success))
            .inc();
    }

    /// Counts one load of the policy component.
    pub fn component_load(&self, success: bool) {
        self.component_loads
            .get_or_create(&result_labels(success))
            .inc();
    }

    /// Counts the controls of one review (a review may ask for several decisions), each once.
    pub fn record_controls(&self, result: &Result<types::Decision, ServeError>) {
        let Ok(decision) = result else { return };
        let mut seen: Vec<&str> = Vec::new();
        for f in decision.denials.iter().chain(&decision.warnings) {
            if seen.contains(&f.control.as_str()) {
                continue;
            }
            seen.push(&f.control);
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

    /// Records one decision (or failure); the controls are counted per review
    /// ([`Metrics::record_controls`]).
    pub fn record(
        &self,
        front: Front,
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
                front: front.name().to_owned(),
                decision: decision.to_owned(),
            })
            .inc();
        if let Err(e) = result {
            self.faults
                .get_or_create(&FaultLabels {
                    front: front.name().to_owned(),
                    kind: e.kind().to_owned(),
                })
                .inc();
        }
        self.latency
            .get_or_create(&FrontLabels {
                front: front.name().to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// The metrics in the given format.
    pub fn encode_as(&self, format: Format) -> String {
        let text = self.encode();
        match format {
            Format::OpenMetrics => text,
            Format::PrometheusText => to_prometheus_text(&text),
        }
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

fn result_labels(success: bool) -> ResultLabels {
    ResultLabels {
        result: if success { "success" } else { "failure" }.to_owned(),
    }
}

/// The Prometheus text format (0.0.4) of prometheus-client's OpenMetrics text, for the metric
/// types it writes here (counter, gauge, histogram): no `# EOF` or `# UNIT`, and a counter's
/// `# HELP` and `# TYPE` name its samples' `_total` name.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        out.push_str(&rename_counter(line, &counters));
        out.push('\n');
    }
    out
}

fn rename_counter(line: &str, counters: &[&str]) -> String {
    for keyword in ["# HELP ", "# TYPE "] {
        if let Some(rest) = line.strip_prefix(keyword) {
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            if counters.contains(&name) {
                return format!("{keyword}{name}_total {tail}");
            }
        }
    }
    line.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_prefers_openmetrics_unless_text_is_preferred() {
        use Format::{OpenMetrics, PrometheusText};
        for (accept, format) in [
            (None, OpenMetrics),
            (Some("*/*"), OpenMetrics),
            (Some("text/plain"), PrometheusText),
            (Some("text/plain;version=0.0.4"), PrometheusText),
            (Some("application/openmetrics-text"), OpenMetrics),
            // Prometheus 2.x's default scrape header.
            (
                Some(
                    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                ),
                OpenMetrics,
            ),
            // A scraper configured for the Prometheus text format first.
            (
                Some(
                    "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.5",
                ),
                PrometheusText,
            ),
            (Some("text/plain;q=0"), OpenMetrics),
        ] {
            assert_eq!(Format::negotiate(accept), format, "{accept:?}");
        }
    }

    #[test]
    fn prometheus_text_names_counters_by_their_samples() {
        let metrics = Metrics::new();
        metrics.answer(Front::OpenStack, 400, "refuse");
        metrics.registry_reload(false);
        let open = metrics.encode_as(Format::OpenMetrics);
        assert!(open.ends_with("# EOF\n"), "{open}");
        assert!(open.contains("# TYPE yungui_answers counter"), "{open}");
        let text = metrics.encode_as(Format::PrometheusText);
        assert!(!text.contains("# EOF"), "{text}");
        assert!(
            text.contains("# HELP yungui_answers_total Every answer"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE yungui_answers_total counter"),
            "{text}"
        );
        assert!(
            text.contains(
                "yungui_answers_total{front=\"openstack\",code=\"400\",answer=\"refuse\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE yungui_registry_reloads_total counter"));
        assert!(text.contains("# TYPE yungui_build_info gauge"), "{text}");
        assert!(
            text.contains("component_sha256=\"unknown\",policy_digest=\"unknown\"} 1"),
            "{text}"
        );
    }
}
