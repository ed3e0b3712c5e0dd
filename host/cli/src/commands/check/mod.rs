//! `yungui check`: the admission decision without a cluster. Reads manifests ([`manifests`]),
//! asks of each object what the webhook asks of its CREATE review (the same review reader, the
//! same [`kubernetes::assess`]: namespace, tenant, mapping), decides its requests with the
//! component, and prints one line per object and control, JSON or JUnit XML ([`output`]), or
//! PolicyReports ([`policy_report`]). Golden cases may be manifests too ([`cases`]).

pub mod cases;
pub mod manifests;
pub mod output;
pub mod policy_report;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use kube_core::DynamicObject;
use kube_core::admission::AdmissionRequest;
use serde::Serialize;
use serde_json::{Value, json};

use super::serve::KubernetesArgs;
use super::{EngineArgs, Exit};
use manifests::Document;
use yungui::bindings::types;
use yungui::engine::Engine;
use yungui::registry::Registry;
use yungui_server::kubernetes::{self, MODE_LABEL, Mode, Pending, mapping};

/// Decide Kubernetes manifests as the admission webhook would, without a cluster.
#[derive(Debug, Args)]
pub struct CheckCommand {
    /// A manifest file (YAML, several documents, or JSON; `List` objects are read item by
    /// item), a folder (every `*.yaml`, `*.yml`, `*.json` in it, recursively, in name order), or
    /// `-` for standard input (the default). Repeat for several.
    #[arg(short = 'f', long = "filename", value_name = "FILE|DIR|-")]
    pub files: Vec<PathBuf>,

    /// The namespace of namespaced objects that name none (default: `default`, as kubectl).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: CheckFormat,

    /// How the webhook is run: the cluster's region and topology, exempt namespaces, how a
    /// namespace's tenant is found (`--namespace-tenancy`), as `yungui serve` takes them.
    #[command(flatten)]
    pub kubernetes: KubernetesArgs,

    /// The component and the registry to decide with.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Output formats of `yungui check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CheckFormat {
    /// A line per object and control, for people.
    #[default]
    Text,
    /// One JSON document, for scripts.
    Json,
    /// JUnit XML, one test case per object, for CI systems.
    Junit,
    /// `wgpolicyk8s.io/v1alpha2` PolicyReports (one per namespace) and a ClusterPolicyReport, as
    /// YAML, for Policy Reporter and the dashboards that read Kyverno's reports.
    PolicyReport,
}

/// What became of one object.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Verdict {
    /// Decided: allowed unless a finding fails.
    Decided {
        /// The action the object asks for (`provision_workload`, …).
        action: String,
        /// The mode of its namespace (`enforce` when no Namespace in the input says otherwise).
        mode: &'static str,
        /// Every control that fired.
        findings: Vec<Finding>,
    },
    /// The webhook would run no policy on it.
    Skipped {
        /// Why.
        reason: String,
    },
    /// No decision: the webhook refuses the object (a value the policies cannot decide on, a
    /// fault, a namespace labelled with an unknown mode).
    Error {
        /// Why.
        reason: String,
    },
    /// The document is not an object yungui can read.
    Unreadable {
        /// What is wrong.
        reason: String,
    },
}

/// How a control that fired is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Denies the object.
    Fail,
    /// Reported, allowed: a warn-severity control, a namespace in warn or audit mode, `--audit`.
    Warn,
}

/// A control that fired on an object.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Fail or warn.
    pub result: Level,
    /// The control id.
    pub control: String,
    /// The `@id` of the policy that gave the reason (the control id when the component does not
    /// carry its policies).
    pub rule: String,
    /// The article of the notice.
    pub article: String,
    /// What part of the object it is about (`host `www.shop.example.cn``), when it asks for
    /// several decisions.
    pub subject: Option<String>,
    /// The reason, in English.
    pub reason: String,
    /// The reason, in Chinese.
    pub reason_zh: String,
    /// What the operator must do beyond refusing.
    pub obligations: Vec<String>,
}

/// One object and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    /// Where it was read (`file:document`).
    pub source: String,
    /// Its `apiVersion`.
    pub api_version: String,
    /// Its `kind`.
    pub kind: String,
    /// Its namespace (the one given, or `--namespace`, for namespaced kinds yungui decides).
    pub namespace: Option<String>,
    /// Its name (or `generateName`).
    pub name: String,
    /// Its `metadata.uid`, when it has one (`kubectl get -o yaml`).
    pub uid: Option<String>,
    /// What became of it.
    #[serde(flatten)]
    pub verdict: Verdict,
}

impl Checked {
    /// Whether a finding denies it.
    pub fn denied(&self) -> bool {
        matches!(&self.verdict, Verdict::Decided { findings, .. } if findings.iter().any(|f| f.result == Level::Fail))
    }

    /// `Deployment/shop/web`, `Namespace/shop`.
    pub fn title(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}/{ns}/{}", self.kind, self.name),
            None => format!("{}/{}", self.kind, self.name),
        }
    }
}

impl CheckCommand {
    /// Runs the command: 0 every object allowed (or skipped), 2 one denied, 3 one unreadable or
    /// not decided.
    pub fn execute(self) -> anyhow::Result<Exit> {
        let documents = manifests::read(&self.files)?;
        let config = self.kubernetes.config()?;
        self.engine.announce();
        let engine = self.engine.engine()?;
        let rules = Rules::of(&engine);
        let checked = check(
            &engine,
            &config,
            &rules,
            self.namespace.as_deref(),
            documents,
        );
        let exit = exit(&checked);
        match self.format {
            CheckFormat::Text => print!("{}", output::text(&checked)),
            CheckFormat::Json => println!(
                "{}",
                serde_json::to_string_pretty(&output::to_json(&checked))?
            ),
            CheckFormat::Junit => println!("{}", output::junit(&checked)?),
            CheckFormat::PolicyReport => {
                for checked in checked.iter() {
                    if let Verdict::Unreadable { reason } = &checked.verdict {
                        eprintln!("{}: cannot read: {reason}", checked.source);
                    }
                }
                print!("{}", policy_report::render(&checked, policy_report::now())?);
            }
        }
        Ok(exit)
    }
}

/// The exit code: 3 when an object is unreadable or not decided, else 2 when one is denied,
/// else 0.
pub fn exit(checked: &[Checked]) -> Exit {
    if checked.iter().any(|c| {
        matches!(
            c.verdict,
            Verdict::Unreadable { .. } | Verdict::Error { .. }
        )
    }) {
        Exit::NoDecision
    } else if checked.iter().any(Checked::denied) {
        Exit::Deny
    } else {
        Exit::Ok
    }
}

/// The `@id` of each policy, by control and reason, from the policies the component carries.
#[derive(Debug, Default)]
pub struct Rules(HashMap<(String, String), String>);

impl Rules {
    /// The rules of the component's policy set (none for a component `yungui build` did not
    /// make: the control id stands in).
    pub fn of(engine: &Engine) -> Self {
        let Some(identity) = engine.identity() else {
            return Self::default();
        };
        let sources = yungui_policies::Sources::from(&identity.sources);
        let Ok(compiled) = sources.compile(yungui_policies::Validate::No) else {
            return Self::default();
        };
        let mut rules = HashMap::new();
        for finding in compiled.findings.values() {
            rules
                .entry((finding.control.clone(), finding.reason.clone()))
                .or_insert_with(|| finding.id.clone());
        }
        Self(rules)
    }

    fn rule(&self, finding: &types::Finding) -> String {
        self.0
            .get(&(finding.control.clone(), finding.reason.clone()))
            .cloned()
            .unwrap_or_else(|| finding.control.clone())
    }
}

/// Decides every document: each object as the webhook decides its CREATE, with the registry in
/// force.
pub fn check(
    engine: &Engine,
    config: &kubernetes::Config,
    rules: &Rules,
    namespace: Option<&str>,
    documents: Vec<Document>,
) -> Vec<Checked> {
    check_with(
        engine,
        &engine.registry(),
        config,
        rules,
        namespace,
        documents,
    )
}

/// [`check`] against `registry` (a golden case's).
pub fn check_with(
    engine: &Engine,
    registry: &Arc<Registry>,
    config: &kubernetes::Config,
    rules: &Rules,
    namespace: Option<&str>,
    documents: Vec<Document>,
) -> Vec<Checked> {
    // The `yungui.io/mode` label of each Namespace in the input.
    let modes: BTreeMap<String, String> = documents
        .iter()
        .filter_map(|d| d.object.as_ref().ok())
        .filter(|o| o.get("kind").and_then(Value::as_str) == Some("Namespace"))
        .filter_map(|o| {
            let name = o.pointer("/metadata/name")?.as_str()?;
            let mode = o.pointer("/metadata/labels")?.get(MODE_LABEL)?.as_str()?;
            Some((name.to_owned(), mode.to_owned()))
        })
        .collect();
    let mut out = Vec::with_capacity(documents.len());
    for (n, document) in documents.into_iter().enumerate() {
        let source = document.origin.to_string();
        let object = match document.object {
            Ok(object) => object,
            Err(reason) => {
                out.push(unreadable(source, reason));
                continue;
            }
        };
        let mut checked = describe(source, &object);
        let decided = mapping::Kind::of(group(&checked.api_version), &checked.kind);
        if decided.is_some_and(|k| k != mapping::Kind::Namespace) && checked.namespace.is_none() {
            checked.namespace = Some(namespace.unwrap_or("default").to_owned());
        }
        checked.verdict = match decided {
            None => Verdict::Skipped {
                reason: format!("`{}` is not a kind yungui decides", checked.kind),
            },
            Some(mapping::Kind::Namespace) => namespace_verdict(&checked.name, &modes),
            Some(_) => {
                let request = match review(&object, &checked, n) {
                    Ok(request) => request,
                    Err(reason) => {
                        out.push(Checked {
                            verdict: Verdict::Unreadable { reason },
                            ..checked
                        });
                        continue;
                    }
                };
                let ns = checked.namespace.as_deref().unwrap_or_default();
                let route = modes.get(ns).map(|m| Mode::parse(m));
                decide(engine, config, registry, rules, &request, route)
            }
        };
        out.push(checked);
    }
    out
}

fn unreadable(source: String, reason: String) -> Checked {
    Checked {
        source,
        api_version: String::new(),
        kind: String::new(),
        namespace: None,
        name: String::new(),
        uid: None,
        verdict: Verdict::Unreadable { reason },
    }
}

fn describe(source: String, object: &Value) -> Checked {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Checked {
        source,
        api_version: text("/apiVersion").unwrap_or_default(),
        kind: text("/kind").unwrap_or_default(),
        namespace: text("/metadata/namespace"),
        name: text("/metadata/name")
            .or_else(|| text("/metadata/generateName"))
            .unwrap_or_default(),
        uid: text("/metadata/uid"),
        verdict: Verdict::Skipped {
            reason: String::new(),
        },
    }
}

/// The API group of an `apiVersion` (`apps/v1` → `apps`, `v1` → the core group).
fn group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// A Namespace is decided at admission by who changes its labels, which a manifest does not
/// say; a `yungui.io/mode` of no known value is refused for everyone.
fn namespace_verdict(name: &str, modes: &BTreeMap<String, String>) -> Verdict {
    match modes.get(name).map(|m| (m, Mode::parse(m))) {
        Some((value, Err(_))) => Verdict::Error {
            reason: format!(
                "namespace `{name}` has the label `{MODE_LABEL}={value}`, a value yungui does not know: set it to one of `enforce`, `warn`, `audit`, or remove it"
            ),
        },
        Some((value, Ok(_))) => Verdict::Skipped {
            reason: format!(
                "a Namespace: its objects are decided in mode `{value}`; who may change its labels is decided at admission"
            ),
        },
        None => Verdict::Skipped {
            reason: "a Namespace: who may change its labels is decided at admission".to_owned(),
        },
    }
}

/// The CREATE review the API server would send for the object, read by the webhook's reader.
fn review(object: &Value, checked: &Checked, n: usize) -> Result<Request, String> {
    let (group, version) = checked
        .api_version
        .rsplit_once('/')
        .unwrap_or(("", &checked.api_version));
    let resource = mapping::KINDS
        .iter()
        .find(|(g, k, _, _)| *g == group && *k == checked.kind)
        .map_or_else(
            || checked.kind.to_lowercase(),
            |(_, _, r, _)| (*r).to_owned(),
        );
    let mut object = object.clone();
    if let (Some(ns), Some(metadata)) = (
        &checked.namespace,
        object.get_mut("metadata").and_then(Value::as_object_mut),
    ) {
        metadata
            .entry("namespace")
            .or_insert_with(|| Value::String(ns.clone()));
    }
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": format!("yungui-check-{n}"),
            "kind": {"group": group, "version": version, "kind": checked.kind},
            "resource": {"group": group, "version": version, "resource": resource},
            "name": checked.name,
            "namespace": checked.namespace,
            "operation": "CREATE",
            "userInfo": {},
            "object": object,
            "oldObject": null,
            "dryRun": true,
        }
    });
    let body = serde_json::to_vec(&review).map_err(|e| e.to_string())?;
    kubernetes::parse(&body).map_err(|e| {
        format!(
            "the {} cannot be read as the API server would send it: {e}",
            checked.kind
        )
    })
}

/// A CREATE review's request.
type Request = AdmissionRequest<DynamicObject>;

/// Decides one review as the webhook does: [`kubernetes::assess`], then every request with the
/// component; `route` is the mode its namespace's label gives (`None`: enforce), an error for a
/// label of no known value.
fn decide(
    engine: &Engine,
    config: &kubernetes::Config,
    registry: &Arc<Registry>,
    rules: &Rules,
    request: &Request,
    route: Option<Result<Mode, kubernetes::UnknownMode>>,
) -> Verdict {
    let mislabelled = matches!(route, Some(Err(_)));
    let mode = match route {
        Some(Ok(mode)) => mode,
        _ => Mode::Enforce,
    };
    let assessment = match kubernetes::assess(config, Some(registry.as_ref()), request, mislabelled)
    {
        Ok(assessment) => assessment,
        Err(reason) => return Verdict::Error { reason },
    };
    let namespace = &assessment.namespace;
    let finding = |level: Level, subject: Option<&str>, f: &types::Finding| Finding {
        result: level,
        control: f.control.clone(),
        rule: rules.rule(f),
        article: f.article.clone(),
        subject: subject.map(str::to_owned),
        reason: f.reason.clone(),
        reason_zh: f.reason_zh.clone(),
        obligations: f.obligations.clone(),
    };
    // Denials refuse only in enforce mode, as the webhook answers.
    let denial = if mode == Mode::Enforce {
        Level::Fail
    } else {
        Level::Warn
    };
    let findings = match assessment.pending {
        Pending::Skipped => {
            let reason = if config.exempt_namespaces.contains(namespace) {
                format!("namespace `{namespace}` is exempt")
            } else {
                "the object asks for no decision the policies make".to_owned()
            };
            return Verdict::Skipped { reason };
        }
        Pending::Mislabelled => {
            return Verdict::Error {
                reason: format!(
                    "namespace `{namespace}` has the label `{MODE_LABEL}` with a value yungui does not know; set it to one of `enforce`, `warn`, `audit`, or remove it"
                ),
            };
        }
        Pending::Refused(control, reason, reason_zh) => vec![Finding {
            result: denial,
            control: control.to_owned(),
            rule: control.to_owned(),
            article: String::new(),
            subject: None,
            reason,
            reason_zh,
            obligations: Vec::new(),
        }],
        Pending::Decide(items) => {
            let mut findings = Vec::new();
            for item in items {
                let decision = match engine.decide_with(&item.request, registry.clone()) {
                    Ok(decision) => decision,
                    Err(err) if err.is_bad_request() => {
                        return Verdict::Error {
                            reason: format!(
                                "the object carries a value yungui cannot decide on: {err}"
                            ),
                        };
                    }
                    Err(err) => {
                        return Verdict::Error {
                            reason: format!("no decision (a fault, not a policy denial): {err}"),
                        };
                    }
                };
                let subject = item.subject.as_deref();
                findings.extend(decision.denials.iter().map(|f| finding(denial, subject, f)));
                findings.extend(
                    decision
                        .warnings
                        .iter()
                        .map(|f| finding(Level::Warn, subject, f)),
                );
            }
            findings
        }
    };
    Verdict::Decided {
        action: assessment.action.to_owned(),
        mode: mode.as_str(),
        findings,
    }
}
