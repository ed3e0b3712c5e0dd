//! Proofs about yungui's Cedar policy set, for every request, not only the golden cases.
//!
//! The notice's duties are universal statements (*no* unverified tenant is provisioned, data of
//! domestic users *never* goes abroad unassessed, a tenant can *always* take its data out). The
//! policy folder states them as Cedar in `properties/*.cedar` ([`Property`]), and this crate proves
//! them with Cedar's symbolic compiler (`cedar-policy-symcc`) and the SMT solver cvc5, one request
//! environment (principal type, action, resource type) at a time:
//!
//! - a *safety* property holds when every request the policies allow satisfies it
//!   (`implies(policies, property)`);
//! - a *liveness* property holds when every request satisfying it is allowed
//!   (`implies(property, policies)`) and no forbid errors on such a request (yungui's engine denies
//!   on an erroring forbid where Cedar skips it).
//!
//! It also checks the health of the policy set: every forbid can fire somewhere and never errors,
//! and no action is always denied, except for the findings `properties/known.json` accepts with a
//! reason. A failed property comes with the request and entities the solver found, which
//! [`Counterexample::case`] writes as a golden case.
//!
//! [`diff`] compares two policy sets the same way: per environment, whether one allows something
//! the other does not, with an example request each way.
//!
//! The solver is the `cvc5` binary (`$CVC5`, else `cvc5` on `PATH`; Debian's package `cvc5`). A
//! fresh solver process serves each environment, with a per-query time limit; environments run on
//! parallel threads.

#![deny(missing_docs)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cedar_policy::{
    ActionConstraint, Effect, Entities, EntityUid, Policy, PolicyId, PolicySet,
    PrincipalConstraint, RequestEnv, ResourceConstraint, Schema,
};
use cedar_policy_symcc::solver::LocalSolver;
use cedar_policy_symcc::{CedarSymCompiler, CompiledPolicy, CompiledPolicySet, Env};
use serde::{Deserialize, Serialize};
use yungui_policies::{Severity, Sources, Validate};

mod case;

/// The properties' folder, inside the policy folder.
pub const PROPERTIES_DIR: &str = "properties";
/// The accepted health findings, inside the properties' folder.
pub const KNOWN_FILE: &str = "known.json";
/// The notice, sub-item by sub-item, inside the policy folder: each sub-item lists its
/// `properties`.
pub const NOTICE_FILE: &str = "notice.json";
/// The solver's time limit for one query, in milliseconds (cvc5's `--tlimit-per`).
pub const QUERY_TIME_LIMIT_MS: u32 = 60_000;
/// The Debian package that provides the solver.
pub const SOLVER_PACKAGE: &str = "cvc5";

/// Why an analysis could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file of the policy folder could not be read.
    #[error(transparent)]
    Read(#[from] yungui_policies::ReadError),
    /// The policies or the schema are not valid.
    #[error("the policies are not valid:\n{0}")]
    InvalidPolicies(yungui_policies::Problems),
    /// A property file is not valid.
    #[error("`{file}`: {message}")]
    InvalidProperty {
        /// The property file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// `known.json` is not valid.
    #[error("`{}`: {message}", path.display())]
    InvalidKnown {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The solver cannot be found or started.
    #[error(
        "cannot run the SMT solver `{program}`: {message}; install it (Debian package `{SOLVER_PACKAGE}`: apt-get install {SOLVER_PACKAGE}) or set CVC5 to its path"
    )]
    SolverMissing {
        /// The program looked for.
        program: String,
        /// Why it could not run.
        message: String,
    },
    /// Symbolic compilation or the solver failed on one check.
    #[error("in {environment}, {check}: {message}")]
    Check {
        /// The request environment.
        environment: String,
        /// The check.
        check: String,
        /// What failed.
        message: String,
    },
    /// A worker thread could not start or failed.
    #[error("analysis thread: {0}")]
    Thread(String),
}

impl Error {
    /// Whether the error is in the policy folder's contents (policies, schema, properties, known
    /// findings) rather than in running the analysis.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            Self::InvalidPolicies(_) | Self::InvalidProperty { .. } | Self::InvalidKnown { .. }
        )
    }
}

/// Whether a property speaks of every allowed request or of every request it describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Every request the policies allow satisfies the property.
    Safety,
    /// Every request satisfying the property is allowed (and no forbid errors on it).
    Liveness,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Safety => "safety",
            Self::Liveness => "liveness",
        })
    }
}

/// One property of the notice, as written in `properties/*.cedar`.
#[derive(Debug, Clone)]
pub struct Property {
    /// `@id`.
    pub id: String,
    /// `@article`: the sub-item it states, e.g. `8(1)`.
    pub article: String,
    /// `@kind`.
    pub kind: Kind,
    /// `@reason_en`.
    pub reason_en: String,
    /// `@reason_zh`.
    pub reason_zh: String,
    /// The file it is written in.
    pub file: String,
    policy: Policy,
}

/// What `known.json` accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KnownFile {
    known: Vec<Known>,
}

/// An accepted health finding, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Known {
    /// The check it accepts.
    pub check: Check,
    /// The policy (`@id`), for `may_error` and `never_fires`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The action (id within `Cloud::Action`), for `always_denies`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Why it is accepted.
    pub reason: String,
}

/// A health check of the policy set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// A forbid errors on some request (the engine denies it: a false denial).
    MayError,
    /// A forbid matches no request of any environment.
    NeverFires,
    /// An action is denied for every request of every environment.
    AlwaysDenies,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MayError => "may error",
            Self::NeverFires => "never fires",
            Self::AlwaysDenies => "always denies",
        })
    }
}

/// A policy folder read for analysis: the schema, the policies, the properties and the accepted
/// findings.
#[derive(Debug, Clone)]
pub struct Input {
    schema: Schema,
    /// The policies as yungui's engine decides with them: `@severity("warn")` forbids removed,
    /// since they warn and never deny.
    deciding: PolicySet,
    /// Every forbid with its `@id`, warnings included.
    forbids: Vec<(String, Policy)>,
    /// The action hierarchy.
    actions: Entities,
    /// The entity types that come from the registry (`@registry`), never with a request.
    registry_types: BTreeSet<String>,
    /// The closed vocabularies (`@one_of`), which the solver does not see.
    vocabularies: yungui_policies::Vocabularies,
    /// The properties, in file order.
    pub properties: Vec<Property>,
    /// The accepted findings.
    pub known: Vec<Known>,
}

impl Input {
    /// Reads the policy folder `dir` (`schema.cedarschema`, `*.cedar`) and its `properties/`
    /// folder (`*.cedar`, `known.json`). Without a `properties/` folder there are no properties
    /// and no accepted findings.
    pub fn read(dir: &Path) -> Result<Self, Error> {
        let sources = Sources::read_dir(dir)?;
        let mut input = Self::from_sources(&sources)?;
        let properties_dir = dir.join(PROPERTIES_DIR);
        if properties_dir.is_dir() {
            let mut paths = Vec::new();
            let entries =
                std::fs::read_dir(&properties_dir).map_err(|error| yungui_policies::ReadError {
                    path: properties_dir.clone(),
                    error,
                })?;
            for entry in entries {
                let entry = entry.map_err(|error| yungui_policies::ReadError {
                    path: properties_dir.clone(),
                    error,
                })?;
                let path = entry.path();
                if path.extension().is_some_and(|ext| ext == "cedar") {
                    paths.push(path);
                }
            }
            paths.sort();
            let mut files = Vec::new();
            for path in paths {
                let text =
                    std::fs::read_to_string(&path).map_err(|error| yungui_policies::ReadError {
                        path: path.clone(),
                        error,
                    })?;
                let name = format!(
                    "{PROPERTIES_DIR}/{}",
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                );
                files.push((name, text));
            }
            input.properties = read_properties(&input.schema, &files)?;
            let known_path = properties_dir.join(KNOWN_FILE);
            if known_path.is_file() {
                let text = std::fs::read_to_string(&known_path).map_err(|error| {
                    yungui_policies::ReadError {
                        path: known_path.clone(),
                        error,
                    }
                })?;
                input.known = read_known(&known_path, &text, &input)?;
            }
        }
        let notice_path = dir.join(NOTICE_FILE);
        if notice_path.is_file() {
            let text = std::fs::read_to_string(&notice_path).map_err(|error| {
                yungui_policies::ReadError {
                    path: notice_path.clone(),
                    error,
                }
            })?;
            check_notice(&notice_path, &text, &input.properties)?;
        }
        Ok(input)
    }

    /// The policies of `sources`, validated in strict mode, with no properties.
    pub fn from_sources(sources: &Sources) -> Result<Self, Error> {
        let compiled = sources
            .compile(Validate::Strict)
            .map_err(Error::InvalidPolicies)?;
        let mut deciding = PolicySet::new();
        let mut forbids = Vec::new();
        for policy in compiled.policies.policies() {
            let finding = compiled.findings.get(policy.id());
            if policy.effect() == Effect::Forbid {
                let id = policy
                    .annotation("id")
                    .map_or_else(|| policy.id().to_string(), str::to_owned);
                forbids.push((id, policy.clone()));
            }
            if finding.is_some_and(|f| f.severity == Severity::Warn) {
                continue;
            }
            deciding.add(policy.clone()).map_err(|e| Error::Check {
                environment: "all".to_owned(),
                check: "building the policy set".to_owned(),
                message: e.to_string(),
            })?;
        }
        let actions = compiled
            .schema
            .action_entities()
            .map_err(|e| Error::InvalidPolicies(problems("schema.cedarschema", &e.to_string())))?;
        Ok(Self {
            schema: compiled.schema,
            deciding,
            forbids,
            actions,
            vocabularies: compiled.vocabularies.clone(),
            registry_types: compiled
                .registry_types
                .iter()
                .map(ToString::to_string)
                .collect(),
            properties: Vec::new(),
            known: Vec::new(),
        })
    }

    /// The request environments of the schema, sorted.
    pub fn environments(&self) -> Vec<RequestEnv> {
        let mut envs: Vec<RequestEnv> = self.schema.request_envs().collect();
        envs.sort();
        envs.dedup();
        envs
    }

    /// Whether the scope of `policy` (its principal, action and resource constraints) admits the
    /// request environment `env`. An `in` on an entity is taken to admit it.
    fn in_scope(&self, policy: &Policy, env: &RequestEnv) -> bool {
        let principal = match policy.principal_constraint() {
            PrincipalConstraint::Any | PrincipalConstraint::In(_) => true,
            PrincipalConstraint::Eq(uid) => uid.type_name() == env.principal(),
            PrincipalConstraint::Is(ty) | PrincipalConstraint::IsIn(ty, _) => {
                &ty == env.principal()
            }
        };
        let action = match policy.action_constraint() {
            ActionConstraint::Any => true,
            ActionConstraint::Eq(uid) => &uid == env.action(),
            ActionConstraint::In(uids) => uids
                .iter()
                .any(|uid| uid == env.action() || self.actions.is_ancestor_of(uid, env.action())),
        };
        let resource = match policy.resource_constraint() {
            ResourceConstraint::Any | ResourceConstraint::In(_) => true,
            ResourceConstraint::Eq(uid) => uid.type_name() == env.resource(),
            ResourceConstraint::Is(ty) | ResourceConstraint::IsIn(ty, _) => &ty == env.resource(),
        };
        principal && action && resource
    }
}

fn problems(file: &str, message: &str) -> yungui_policies::Problems {
    yungui_policies::Problems(vec![yungui_policies::Problem {
        file: file.to_owned(),
        line: None,
        column: None,
        message: message.to_owned(),
    }])
}

fn read_properties(schema: &Schema, files: &[(String, String)]) -> Result<Vec<Property>, Error> {
    let mut properties = Vec::new();
    let mut ids = BTreeSet::new();
    let mut all = PolicySet::new();
    for (file, text) in files {
        let invalid = |message: String| Error::InvalidProperty {
            file: file.clone(),
            message,
        };
        let parsed = PolicySet::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if parsed.templates().next().is_some() {
            return Err(invalid("templates are not supported".to_owned()));
        }
        let mut in_order: Vec<&Policy> = parsed.policies().collect();
        in_order.sort_by_key(|p| {
            let id: &str = p.id().as_ref();
            id.trim_start_matches("policy")
                .parse::<usize>()
                .unwrap_or(usize::MAX)
        });
        for policy in in_order {
            let annotation = |key: &str| {
                policy
                    .annotation(key)
                    .map(str::to_owned)
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| {
                        invalid(format!(
                            "a property has no `@{key}`: every property has `@id`, `@article`, `@kind`, `@reason_en` and `@reason_zh`"
                        ))
                    })
            };
            let id = annotation("id")?;
            if policy.effect() != Effect::Permit {
                return Err(invalid(format!(
                    "property `{id}` is a forbid: a property is a `permit` whose condition is the property"
                )));
            }
            let kind = match annotation("kind")?.as_str() {
                "safety" => Kind::Safety,
                "liveness" => Kind::Liveness,
                other => {
                    return Err(invalid(format!(
                        "property `{id}`: `@kind(\"{other}\")` is neither `safety` nor `liveness`"
                    )));
                }
            };
            if !ids.insert(id.clone()) {
                return Err(invalid(format!("two properties have the id `{id}`")));
            }
            let property = Property {
                article: annotation("article")?,
                kind,
                reason_en: annotation("reason_en")?,
                reason_zh: annotation("reason_zh")?,
                file: file.clone(),
                policy: policy.new_id(PolicyId::new(&id)),
                id,
            };
            all.add(property.policy.clone())
                .map_err(|e| invalid(e.to_string()))?;
            properties.push(property);
        }
    }
    let result = cedar_policy::Validator::new(schema.clone())
        .validate(&all, cedar_policy::ValidationMode::Strict);
    if let Some(error) = result.validation_errors().next() {
        let file = properties
            .iter()
            .find(|p| p.policy.id() == error.policy_id())
            .map_or_else(String::new, |p| p.file.clone());
        return Err(Error::InvalidProperty {
            file,
            message: format!(
                "property `{}` is not valid against the schema (strict mode): {error}",
                error.policy_id()
            ),
        });
    }
    Ok(properties)
}

/// Every property is listed under the sub-item of its `@article` in `notice.json`, and every
/// property listed there exists.
fn check_notice(path: &Path, text: &str, properties: &[Property]) -> Result<(), Error> {
    let invalid = |message: String| Error::InvalidProperty {
        file: path.display().to_string(),
        message,
    };
    let notice: serde_json::Value =
        serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    let mut listed: BTreeMap<String, String> = BTreeMap::new();
    let articles = notice
        .get("articles")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| invalid("no `articles` list".to_owned()))?;
    for item in articles
        .iter()
        .filter_map(|a| a.get("items").and_then(serde_json::Value::as_array))
        .flatten()
    {
        let name = item
            .get("item")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        for id in item
            .get("properties")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_str)
        {
            if listed.insert(id.to_owned(), name.to_owned()).is_some() {
                return Err(invalid(format!("property `{id}` is listed twice")));
            }
        }
    }
    for property in properties {
        match listed.remove(&property.id) {
            Some(item) if item == property.article => {}
            Some(item) => {
                return Err(invalid(format!(
                    "property `{}` states article {} (`@article`) but is listed under item {item}",
                    property.id, property.article
                )));
            }
            None => {
                return Err(invalid(format!(
                    "property `{}` ({}, `{}`) is not listed under item {} in `properties`",
                    property.id, property.file, property.id, property.article
                )));
            }
        }
    }
    if let Some((id, item)) = listed.into_iter().next() {
        return Err(invalid(format!(
            "item {item} lists property `{id}`, which no file of `{PROPERTIES_DIR}/` defines"
        )));
    }
    Ok(())
}

fn read_known(path: &Path, text: &str, input: &Input) -> Result<Vec<Known>, Error> {
    let invalid = |message: String| Error::InvalidKnown {
        path: path.to_owned(),
        message,
    };
    let file: KnownFile = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    for known in &file.known {
        if known.reason.trim().is_empty() {
            return Err(invalid(
                "every accepted finding says why (`reason`)".to_owned(),
            ));
        }
        match (known.check, &known.policy, &known.action) {
            // A policy that is gone makes the entry stale (reported), not the file invalid: an
            // edited policy set is still analysed.
            (Check::MayError | Check::NeverFires, Some(_), None) => {}
            (Check::AlwaysDenies, None, Some(action)) => {
                if !input
                    .environments()
                    .iter()
                    .any(|env| env.action().id().unescaped() == action)
                {
                    return Err(invalid(format!("no action is named `{action}`")));
                }
            }
            (check, _, _) => {
                return Err(invalid(format!(
                    "a `{}` finding names exactly one {}",
                    serde_json::to_value(check)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    if check == Check::AlwaysDenies {
                        "`action`"
                    } else {
                        "`policy`"
                    }
                )));
            }
        }
    }
    Ok(file.known)
}

/// How to run an analysis.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Environments proven at once (each with its own solver process). 0: the available cores.
    pub threads: usize,
    /// The solver binary; `None`: `$CVC5`, else `cvc5` on `PATH`.
    pub solver: Option<PathBuf>,
    /// Prove only the properties with these ids; empty: every property.
    pub only: BTreeSet<String>,
}

/// The solver binary: `explicit`, else `$CVC5`, else `cvc5` on `PATH`.
pub fn find_solver(explicit: Option<&Path>) -> Result<PathBuf, Error> {
    let wanted = explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("CVC5").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("cvc5"));
    let missing = |message: &str| Error::SolverMissing {
        program: wanted.display().to_string(),
        message: message.to_owned(),
    };
    if wanted.components().count() > 1 {
        return if wanted.is_file() {
            Ok(wanted)
        } else {
            Err(missing("no such file"))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(&wanted))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| missing("not found on PATH"))
}

/// A request environment, as shown: `Tenant export_data Dataset`.
pub fn environment_name(env: &RequestEnv) -> String {
    let short = |name: String| {
        name.strip_prefix("Cloud::")
            .map(str::to_owned)
            .unwrap_or(name)
    };
    format!(
        "{} {} {}",
        short(env.principal().to_string()),
        env.action().id().unescaped(),
        short(env.resource().to_string())
    )
}

/// A request and entities the solver found.
#[derive(Debug, Clone, Serialize)]
pub struct Counterexample {
    /// The request environment.
    pub environment: String,
    /// What it shows.
    pub description: String,
    /// The request, as yungui's engine reads it (`principal`, `action`, `resource` with its
    /// attributes, `context`, `entities`), with the registry entities beside it.
    pub request: serde_json::Value,
    /// The registry entities the request reaches.
    pub registry: serde_json::Value,
    /// Whether Cedar allows the request with the policies.
    pub allowed: bool,
}

impl Counterexample {
    fn from_env(
        input: &Input,
        env: &RequestEnv,
        found: &Env,
        description: String,
        allowed: bool,
    ) -> Self {
        let (request, registry) =
            case::request_json(found, &input.registry_types, &input.vocabularies);
        Self {
            environment: environment_name(env),
            description,
            request,
            registry,
            allowed,
        }
    }

    /// The counterexample as a golden case file (see `tests/cases/README.md`): the decision it
    /// must get once fixed is `expect.decision`; the controls that should deny are left for the
    /// author to fill in. Values the solver invented outside a closed vocabulary are brought into
    /// it (the engine refuses them as a bad request), which can change the decision: run the case.
    pub fn case(&self) -> serde_json::Value {
        case::case_json(self)
    }
}

/// The outcome of one property.
#[derive(Debug, Clone, Serialize)]
pub struct PropertyOutcome {
    /// `@id`.
    pub id: String,
    /// `@article`.
    pub article: String,
    /// `@kind`.
    pub kind: Kind,
    /// `@reason_en`.
    pub reason_en: String,
    /// The environments it speaks of.
    pub environments: usize,
    /// Whether it holds in all of them.
    pub proven: bool,
    /// Time spent proving it (solver and compilation, summed over environments).
    pub millis: u64,
    /// The first counterexample found, when it does not hold.
    pub counterexample: Option<Counterexample>,
}

/// A health finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The check.
    pub check: Check,
    /// The policy (`@id`), for `may_error` and `never_fires`.
    pub policy: Option<String>,
    /// The action, for `always_denies`.
    pub action: Option<String>,
    /// The environments it was found in (for `may_error`).
    pub environments: Vec<String>,
    /// Why it is accepted, when `known.json` accepts it.
    pub accepted: Option<String>,
    /// A request showing it, when the solver gave one.
    pub example: Option<Counterexample>,
}

/// The outcome of an analysis.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The request environments analysed.
    pub environments: usize,
    /// Each property, in file order.
    pub properties: Vec<PropertyOutcome>,
    /// The health findings, accepted ones included.
    pub findings: Vec<Finding>,
    /// Accepted findings that no longer occur (the entry in `known.json` can go).
    pub stale_known: Vec<Known>,
    /// Wall-clock time of the whole analysis.
    pub millis: u64,
    /// The threads used.
    pub threads: usize,
    /// Time spent on the health checks, summed over environments.
    pub health_millis: u64,
    /// The health checks that took a second or more: (environment, check, milliseconds),
    /// slowest first.
    pub slow_checks: Vec<(String, String, u64)>,
}

impl Report {
    /// Every property holds and every health finding is accepted.
    pub fn passed(&self) -> bool {
        self.properties.iter().all(|p| p.proven)
            && self.findings.iter().all(|f| f.accepted.is_some())
    }
}

/// What one environment found.
#[derive(Debug, Default)]
struct EnvResult {
    /// Property id → (time, counterexample if it fails).
    properties: Vec<(String, Duration, Option<Counterexample>)>,
    /// Forbids that can match in this environment.
    fires: Vec<String>,
    /// Forbids that may error here, with an example.
    may_error: Vec<(String, Option<Counterexample>)>,
    /// Whether the environment always denies.
    always_denies: bool,
    /// Time spent on the health checks.
    health: Duration,
    /// Health checks that took a second or more: (check, time).
    slow: Vec<(String, Duration)>,
}

type Symcc = CedarSymCompiler<LocalSolver>;

fn check_error(env: &RequestEnv, check: &str) -> impl Fn(cedar_policy_symcc::err::Error) -> Error {
    let environment = environment_name(env);
    let check = check.to_owned();
    move |e| Error::Check {
        environment: environment.clone(),
        check: check.clone(),
        message: e.to_string(),
    }
}

fn start_solver(solver: &Path) -> Result<Symcc, Error> {
    let mut command = tokio::process::Command::new(solver);
    command
        .args(["--lang", "smt"])
        .arg(format!("--tlimit-per={QUERY_TIME_LIMIT_MS}"))
        .kill_on_drop(true);
    let local = LocalSolver::from_command(&mut command).map_err(|e| Error::SolverMissing {
        program: solver.display().to_string(),
        message: e.to_string(),
    })?;
    CedarSymCompiler::new(local).map_err(|e| Error::SolverMissing {
        program: solver.display().to_string(),
        message: e.to_string(),
    })
}

/// A copy of `policy` with `conditions` in place of its own, as a permit, without annotations.
fn with_conditions(
    policy: &Policy,
    conditions: serde_json::Value,
    id: &str,
) -> Result<Policy, String> {
    let mut json = policy.to_json().map_err(|e| e.to_string())?;
    if let Some(object) = json.as_object_mut() {
        object.insert("effect".to_owned(), "permit".into());
        object.insert("conditions".to_owned(), conditions);
        object.remove("annotations");
    }
    Policy::from_json(Some(PolicyId::new(id)), json).map_err(|e| e.to_string())
}

fn conditions(policy: &Policy) -> Result<Vec<serde_json::Value>, String> {
    let json = policy.to_json().map_err(|e| e.to_string())?;
    Ok(json
        .get("conditions")
        .and_then(|c| c.as_array())
        .cloned()
        .unwrap_or_default())
}

/// What the environments learn from each other: a forbid that fired in one environment, or an
/// action allowed in one, needs no further proof of it.
#[derive(Debug, Default)]
struct Shared {
    fired: Mutex<BTreeSet<String>>,
    allowed_actions: Mutex<BTreeSet<String>>,
}

impl Shared {
    fn has_fired(&self, id: &str) -> bool {
        self.fired.lock().is_ok_and(|f| f.contains(id))
    }

    fn fire(&self, id: &str) {
        if let Ok(mut fired) = self.fired.lock() {
            fired.insert(id.to_owned());
        }
    }

    fn is_allowed(&self, action: &str) -> bool {
        self.allowed_actions
            .lock()
            .is_ok_and(|a| a.contains(action))
    }

    fn allow(&self, action: &str) {
        if let Ok(mut allowed) = self.allowed_actions.lock() {
            allowed.insert(action.to_owned());
        }
    }
}

async fn analyze_environment(
    input: &Input,
    env: &RequestEnv,
    options: &Options,
    solver: &Path,
    properties_only: bool,
    shared: &Shared,
) -> Result<EnvResult, Error> {
    let chosen = |p: &&Property| options.only.is_empty() || options.only.contains(&p.id);
    let in_scope = |p: &&Property| input.in_scope(&p.policy, env);
    if properties_only && !input.properties.iter().filter(chosen).any(|p| in_scope(&p)) {
        return Ok(EnvResult::default());
    }
    let mut symcc = start_solver(solver)?;
    let schema = &input.schema;
    let mut result = EnvResult::default();
    let policies = CompiledPolicySet::compile(&input.deciding, env, schema)
        .map_err(check_error(env, "compiling the policies"))?;

    for property in input.properties.iter().filter(chosen) {
        if !input.in_scope(&property.policy, env) {
            continue;
        }
        let started = Instant::now();
        let single = PolicySet::from_policies([property.policy.clone()]).map_err(|e| {
            Error::InvalidProperty {
                file: property.file.clone(),
                message: e.to_string(),
            }
        })?;
        let compiled = CompiledPolicySet::compile(&single, env, schema).map_err(check_error(
            env,
            &format!("compiling property {}", property.id),
        ))?;
        let what = format!("property {}", property.id);
        let counterexample = match property.kind {
            Kind::Safety => symcc
                .check_implies_with_counterexample_opt(&policies, &compiled)
                .await
                .map_err(check_error(env, &what))?
                .map(|found| {
                    Counterexample::from_env(
                        input,
                        env,
                        &found,
                        format!(
                            "{} ({}): allowed, but the property does not hold: {}",
                            property.id, property.article, property.reason_en
                        ),
                        true,
                    )
                }),
            Kind::Liveness => {
                let mut counterexample = symcc
                    .check_implies_with_counterexample_opt(&compiled, &policies)
                    .await
                    .map_err(check_error(env, &what))?
                    .map(|found| {
                        Counterexample::from_env(
                            input,
                            env,
                            &found,
                            format!(
                                "{} ({}): the property holds, but the request is denied: {}",
                                property.id, property.article, property.reason_en
                            ),
                            false,
                        )
                    });
                // The engine denies on an erroring forbid: none may error where the property
                // holds.
                let own =
                    conditions(&property.policy).map_err(|message| Error::InvalidProperty {
                        file: property.file.clone(),
                        message,
                    })?;
                for (id, forbid) in &input.forbids {
                    if counterexample.is_some() {
                        break;
                    }
                    if !input.in_scope(forbid, env) || input.deciding.policy(forbid.id()).is_none()
                    {
                        continue;
                    }
                    let mut all = own.clone();
                    all.extend(conditions(forbid).map_err(|message| Error::Check {
                        environment: environment_name(env),
                        check: what.clone(),
                        message,
                    })?);
                    let guarded = with_conditions(
                        forbid,
                        serde_json::Value::Array(all),
                        &format!("{}-under-{}", id, property.id),
                    )
                    .map_err(|message| Error::Check {
                        environment: environment_name(env),
                        check: what.clone(),
                        message,
                    })?;
                    let compiled = CompiledPolicy::compile(&guarded, env, schema)
                        .map_err(check_error(env, &what))?;
                    if let Some(found) = symcc
                        .check_never_errors_with_counterexample_opt(&compiled)
                        .await
                        .map_err(check_error(env, &what))?
                    {
                        counterexample = Some(Counterexample::from_env(
                            input,
                            env,
                            &found,
                            format!(
                                "{} ({}): the property holds, but `{id}` errors, which the engine counts as a denial: {}",
                                property.id, property.article, property.reason_en
                            ),
                            false,
                        ));
                    }
                }
                counterexample
            }
        };
        result
            .properties
            .push((property.id.clone(), started.elapsed(), counterexample));
    }
    if properties_only {
        return Ok(result);
    }

    let health_started = Instant::now();
    for (id, forbid) in &input.forbids {
        if !input.in_scope(forbid, env) {
            continue;
        }
        let check_started = Instant::now();
        let compiled = CompiledPolicy::compile(forbid, env, schema)
            .map_err(check_error(env, &format!("compiling {id}")))?;
        // One environment where it fires is enough.
        if !shared.has_fired(id) {
            let fires = !symcc
                .check_never_matches_opt(&compiled)
                .await
                .map_err(check_error(env, &format!("whether {id} can fire")))?;
            if fires {
                shared.fire(id);
                result.fires.push(id.clone());
            }
            note_slow(&mut result.slow, format!("{id} can fire"), check_started);
        }
        let accepted = input
            .known
            .iter()
            .any(|k| k.check == Check::MayError && k.policy.as_deref() == Some(id.as_str()));
        if accepted {
            // Accepted with its reason; not proven again (the slowest checks are these).
            result.may_error.push((id.clone(), None));
            continue;
        }
        let check_started = Instant::now();
        let found = symcc
            .check_never_errors_with_counterexample_opt(&compiled)
            .await
            .map_err(check_error(env, &format!("whether {id} errors")))?;
        note_slow(
            &mut result.slow,
            format!("{id} never errors"),
            check_started,
        );
        if let Some(found) = found {
            let example = Counterexample::from_env(
                input,
                env,
                &found,
                format!("`{id}` errors on this request; the engine denies it"),
                false,
            );
            result.may_error.push((id.clone(), Some(example)));
        }
    }
    // One environment where the action is allowed is enough.
    let action = env.action().id().unescaped().to_owned();
    if !shared.is_allowed(&action) {
        let check_started = Instant::now();
        result.always_denies = symcc
            .check_always_denies_opt(&policies)
            .await
            .map_err(check_error(env, "whether it always denies"))?;
        if !result.always_denies {
            shared.allow(&action);
        }
        note_slow(&mut result.slow, "always denies".to_owned(), check_started);
    }
    result.health = health_started.elapsed();
    Ok(result)
}

fn note_slow(slow: &mut Vec<(String, Duration)>, check: String, started: Instant) {
    let spent = started.elapsed();
    if spent >= Duration::from_secs(1) {
        slow.push((check, spent));
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Runs `work` on every environment over `threads` threads, each with its own single-threaded
/// async runtime; returns the results in environment order.
fn run_parallel<T: Send>(
    envs: &[RequestEnv],
    threads: usize,
    work: impl Fn(&RequestEnv) -> Result<T, Error> + Sync,
) -> Result<Vec<T>, Error> {
    let queue: Mutex<VecDeque<usize>> = Mutex::new((0..envs.len()).collect());
    let results: Mutex<BTreeMap<usize, Result<T, Error>>> = Mutex::new(BTreeMap::new());
    let threads = threads.clamp(1, envs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                    let Some(index) = next else { break };
                    let Some(env) = envs.get(index) else { break };
                    let outcome = work(env);
                    let failed = outcome.is_err();
                    if let Ok(mut results) = results.lock() {
                        results.insert(index, outcome);
                    }
                    if failed {
                        // Stop handing out work: the analysis fails anyway.
                        if let Ok(mut q) = queue.lock() {
                            q.clear();
                        }
                    }
                }
            });
        }
    });
    let results = results
        .into_inner()
        .map_err(|_| Error::Thread("a worker thread panicked".to_owned()))?;
    let mut out = Vec::with_capacity(results.len());
    for (_, result) in results {
        out.push(result?);
    }
    if out.len() != envs.len() {
        return Err(Error::Thread(
            "a worker thread stopped before its environment was analysed".to_owned(),
        ));
    }
    Ok(out)
}

fn block_on<T>(future: impl std::future::Future<Output = Result<T, Error>>) -> Result<T, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Thread(format!("cannot start an async runtime: {e}")))?
        .block_on(future)
}

fn thread_count(options: &Options) -> usize {
    if options.threads > 0 {
        options.threads
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    }
}

/// Proves every property of `input` and checks the policy set's health, per request environment.
pub fn analyze(input: &Input, options: &Options) -> Result<Report, Error> {
    run(input, options, false)
}

/// Proves the properties only (no health checks): what a quick check of an edited policy set
/// needs.
pub fn prove(input: &Input, options: &Options) -> Result<Report, Error> {
    run(input, options, true)
}

fn run(input: &Input, options: &Options, properties_only: bool) -> Result<Report, Error> {
    let started = Instant::now();
    let solver = find_solver(options.solver.as_deref())?;
    let envs = input.environments();
    let threads = thread_count(options);
    let shared = Shared::default();
    let results = run_parallel(&envs, threads, |env| {
        block_on(analyze_environment(
            input,
            env,
            options,
            &solver,
            properties_only,
            &shared,
        ))
    })?;

    let mut properties: Vec<PropertyOutcome> = input
        .properties
        .iter()
        .filter(|p| options.only.is_empty() || options.only.contains(&p.id))
        .map(|p| PropertyOutcome {
            id: p.id.clone(),
            article: p.article.clone(),
            kind: p.kind,
            reason_en: p.reason_en.clone(),
            environments: 0,
            proven: true,
            millis: 0,
            counterexample: None,
        })
        .collect();
    let mut fires: BTreeSet<String> = BTreeSet::new();
    let mut may_error: BTreeMap<String, (Vec<String>, Option<Counterexample>)> = BTreeMap::new();
    let mut denies_by_action: BTreeMap<String, bool> = BTreeMap::new();
    let mut health_millis = 0;
    let mut slow_checks = Vec::new();
    for (env, result) in envs.iter().zip(results) {
        health_millis += millis(result.health);
        for (check, spent) in result.slow {
            slow_checks.push((environment_name(env), check, millis(spent)));
        }
        for (id, spent, counterexample) in result.properties {
            if let Some(outcome) = properties.iter_mut().find(|p| p.id == id) {
                outcome.environments += 1;
                outcome.millis += u64::try_from(spent.as_millis()).unwrap_or(u64::MAX);
                if counterexample.is_some() {
                    outcome.proven = false;
                    if outcome.counterexample.is_none() {
                        outcome.counterexample = counterexample;
                    }
                }
            }
        }
        fires.extend(result.fires);
        for (id, example) in result.may_error {
            let entry = may_error.entry(id).or_default();
            entry.0.push(environment_name(env));
            if entry.1.is_none() {
                entry.1 = example;
            }
        }
        let action = env.action().id().unescaped().to_owned();
        let all = denies_by_action.entry(action).or_insert(true);
        *all = *all && result.always_denies;
    }

    let mut findings = Vec::new();
    let mut used_known = BTreeSet::new();
    let accept = |check: Check,
                  policy: Option<&str>,
                  action: Option<&str>,
                  used: &mut BTreeSet<usize>| {
        input
            .known
            .iter()
            .enumerate()
            .find(|(_, k)| {
                k.check == check && k.policy.as_deref() == policy && k.action.as_deref() == action
            })
            .map(|(index, k)| {
                used.insert(index);
                k.reason.clone()
            })
    };
    if !properties_only {
        for (id, (environments, example)) in may_error {
            let accepted = accept(Check::MayError, Some(&id), None, &mut used_known);
            findings.push(Finding {
                check: Check::MayError,
                policy: Some(id),
                action: None,
                environments,
                accepted,
                example,
            });
        }
        let mut seen = BTreeSet::new();
        for (id, _) in &input.forbids {
            if fires.contains(id) || !seen.insert(id.clone()) {
                continue;
            }
            let accepted = accept(Check::NeverFires, Some(id), None, &mut used_known);
            findings.push(Finding {
                check: Check::NeverFires,
                policy: Some(id.clone()),
                action: None,
                environments: Vec::new(),
                accepted,
                example: None,
            });
        }
        for (action, always) in denies_by_action {
            if !always {
                continue;
            }
            let accepted = accept(Check::AlwaysDenies, None, Some(&action), &mut used_known);
            findings.push(Finding {
                check: Check::AlwaysDenies,
                policy: None,
                action: Some(action),
                environments: Vec::new(),
                accepted,
                example: None,
            });
        }
    }
    let stale_known = if properties_only {
        Vec::new()
    } else {
        input
            .known
            .iter()
            .enumerate()
            .filter(|(index, _)| !used_known.contains(index))
            .map(|(_, k)| k.clone())
            .collect()
    };
    Ok(Report {
        environments: envs.len(),
        properties,
        findings,
        stale_known,
        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        threads,
        health_millis,
        slow_checks: {
            slow_checks.sort_by_key(|check| std::cmp::Reverse(check.2));
            slow_checks
        },
    })
}

/// How two policy sets compare in one request environment.
#[derive(Debug, Clone, Serialize)]
pub struct EnvironmentDiff {
    /// The request environment.
    pub environment: String,
    /// A request the new set allows and the old denies, if any.
    pub newly_allowed: Option<Counterexample>,
    /// A request the old set allows and the new denies, if any.
    pub newly_denied: Option<Counterexample>,
}

impl EnvironmentDiff {
    /// `equivalent`, `more permissive`, `less permissive` or `both`.
    pub fn verdict(&self) -> &'static str {
        match (&self.newly_allowed, &self.newly_denied) {
            (None, None) => "equivalent",
            (Some(_), None) => "more permissive",
            (None, Some(_)) => "less permissive",
            (Some(_), Some(_)) => "both",
        }
    }
}

/// The comparison of two policy sets.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    /// Per environment of the new schema, in order.
    pub environments: Vec<EnvironmentDiff>,
    /// Wall-clock time.
    pub millis: u64,
}

impl Diff {
    /// Whether the two sets decide every request alike.
    pub fn equivalent(&self) -> bool {
        self.environments
            .iter()
            .all(|e| e.newly_allowed.is_none() && e.newly_denied.is_none())
    }
}

/// Compares the policies of `old` and `new` (as the engine decides: warnings left out) per
/// request environment of the new schema, which both sets must validate against.
pub fn diff(old: &Input, new: &Input, options: &Options) -> Result<Diff, Error> {
    let started = Instant::now();
    let solver = find_solver(options.solver.as_deref())?;
    let envs = new.environments();
    let threads = thread_count(options);
    let environments = run_parallel(&envs, threads, |env| {
        block_on(async {
            let mut symcc = start_solver(&solver)?;
            let schema = &new.schema;
            let before = CompiledPolicySet::compile(&old.deciding, env, schema)
                .map_err(check_error(env, "compiling the old policies"))?;
            let after = CompiledPolicySet::compile(&new.deciding, env, schema)
                .map_err(check_error(env, "compiling the new policies"))?;
            let newly_allowed = symcc
                .check_implies_with_counterexample_opt(&after, &before)
                .await
                .map_err(check_error(env, "new implies old"))?
                .map(|found| {
                    Counterexample::from_env(
                        new,
                        env,
                        &found,
                        "allowed by the new policies, denied by the old".to_owned(),
                        true,
                    )
                });
            let newly_denied = symcc
                .check_implies_with_counterexample_opt(&before, &after)
                .await
                .map_err(check_error(env, "old implies new"))?
                .map(|found| {
                    Counterexample::from_env(
                        new,
                        env,
                        &found,
                        "allowed by the old policies, denied by the new".to_owned(),
                        false,
                    )
                });
            Ok(EnvironmentDiff {
                environment: environment_name(env),
                newly_allowed,
                newly_denied,
            })
        })
    })?;
    Ok(Diff {
        environments,
        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// The uid of an entity as the case files write it.
fn uid_json(uid: &EntityUid) -> serde_json::Value {
    serde_json::json!({"type": uid.type_name().to_string(), "id": uid.id().unescaped()})
}
