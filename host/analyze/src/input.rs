//! Reading a policy folder for analysis: the schema and policies, the properties, the accepted
//! findings (`known.json`) and the notice's sub-items (`notice.json`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use cedar_policy::{
    ActionConstraint, Effect, Entities, Policy, PolicyId, PolicySet, PrincipalConstraint,
    RequestEnv, ResourceConstraint, Schema,
};
use serde::{Deserialize, Serialize};
use yungui_policies::{Severity, Sources, Validate};

use crate::error::Error;

/// The properties' folder, inside the policy folder.
pub const PROPERTIES_DIR: &str = "properties";
/// The accepted health findings, inside the properties' folder.
pub const KNOWN_FILE: &str = "known.json";
/// The notice, sub-item by sub-item, inside the policy folder: each sub-item lists its
/// `properties`.
pub use yungui_policies::NOTICE_FILE;

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
    pub(crate) policy: Policy,
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
    /// The policy (`@id`), for `may_error`, `never_fires`, `redundant` and `shadowed`.
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
    /// A forbid matches only requests another forbid of its control matches (a warning, checked
    /// when asked).
    Redundant,
    /// A permit allows nothing in some environments: forbids deny every request it allows (a
    /// warning, checked when asked).
    Shadowed,
}

impl Check {
    /// Whether a finding of this check is a warning, which fails an analysis only when strict.
    pub fn is_warning(self) -> bool {
        matches!(self, Self::Redundant | Self::Shadowed)
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MayError => "may error",
            Self::NeverFires => "never fires",
            Self::AlwaysDenies => "always denies",
            Self::Redundant => "redundant",
            Self::Shadowed => "shadowed",
        })
    }
}

/// A policy folder read for analysis: the schema, the policies, the properties and the accepted
/// findings.
#[derive(Debug, Clone)]
pub struct Input {
    pub(crate) schema: Schema,
    /// The policies as yungui's engine decides with them: `@severity("warn")` forbids removed,
    /// since they warn and never deny.
    pub(crate) deciding: PolicySet,
    /// Every forbid with its `@id`, warnings included.
    pub(crate) forbids: Vec<(String, Policy)>,
    /// The action hierarchy.
    actions: Entities,
    /// The entity types that come from the registry (`@registry`), never with a request.
    pub(crate) registry_types: BTreeSet<String>,
    /// The closed vocabularies (`@one_of`), which the solver does not see.
    pub(crate) vocabularies: yungui_policies::Vocabularies,
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
        input.read_properties(&dir.join(PROPERTIES_DIR))?;
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

    /// Reads the properties (`*.cedar`) and the accepted findings (`known.json`) of a properties'
    /// folder, checked against this input's schema. A folder that does not exist adds none.
    pub fn read_properties(&mut self, properties_dir: &Path) -> Result<(), Error> {
        let input = self;
        if properties_dir.is_dir() {
            let mut paths = Vec::new();
            let entries =
                std::fs::read_dir(properties_dir).map_err(|error| yungui_policies::ReadError {
                    path: properties_dir.to_owned(),
                    error,
                })?;
            for entry in entries {
                let entry = entry.map_err(|error| yungui_policies::ReadError {
                    path: properties_dir.to_owned(),
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
                input.known = read_known(&known_path, &text, input)?;
            }
        }
        Ok(())
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
    pub(crate) fn in_scope(&self, policy: &Policy, env: &RequestEnv) -> bool {
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
            (
                Check::MayError | Check::NeverFires | Check::Redundant | Check::Shadowed,
                Some(_),
                None,
            ) => {}
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
