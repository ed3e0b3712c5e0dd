//! yungui's Cedar policy set: the `.cedar` files and schema in this folder, loaded, checked in
//! strict mode against the schema, and read for the controls they declare.
//!
//! The same code runs in three places: the policy component's build script (an invalid policy
//! fails the build), inside the component (which parses the policies it embeds), and in the host's
//! `yungui validate`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use cedar_policy::{
    ActionConstraint, Effect, EntityNamespace, EntityTypeName, EntityUid, PolicyId, PolicySet,
    PrincipalConstraint, ResourceConstraint, Schema, SchemaFragment, ValidationMode, Validator,
};
use std::collections::{BTreeSet, HashMap};

pub mod json;
pub mod wire;

/// The schema's file name inside the policy folder.
pub const SCHEMA_FILE: &str = "schema.cedarschema";

/// Annotation keys every forbid policy carries.
pub mod annotation {
    /// The policy's own id, unique in the set (Cedar's tools read it as the policy id), e.g.
    /// `art8-1-icp-filing.bind-domain-unfiled`.
    pub const ID: &str = "id";
    /// The control the policy belongs to, e.g. `art8-1-icp-filing`; several policies share one.
    pub const CONTROL: &str = "control";
    /// The article of the notice, e.g. `8(1)`.
    pub const ARTICLE: &str = "article";
    /// The reason in English.
    pub const REASON: &str = "reason";
    /// The reason in Chinese.
    pub const REASON_ZH: &str = "reason_zh";
    /// Comma-separated obligations.
    pub const OBLIGATION: &str = "obligation";
    /// The clause of the notice the obligations come from, quoted (required with `@obligation`).
    pub const OBLIGATION_QUOTE: &str = "obligation_quote";
    /// `deny` (the default) or `warn`.
    pub const SEVERITY: &str = "severity";
    /// On an entity type of the schema: its entities come from the registry only, never with a
    /// request.
    pub const REGISTRY: &str = "registry";
    /// On an attribute of the schema: its closed vocabulary, `a|b|c` (each element, for a set).
    pub const ONE_OF: &str = "one_of";
}

/// Closed vocabularies: entity type (or `Context` for the request context) → attribute → the
/// values it may hold.
pub type Vocabularies = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// An attribute's type as the schema declares it: what reading a JSON value the way Cedar's
/// schema-directed JSON parser does needs (a string where an extension type is declared is that
/// extension's value; an object of `type` and `id` where an entity type is declared is a reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrType {
    /// `Bool`.
    Bool,
    /// `Long`.
    Long,
    /// `String`.
    String,
    /// An entity type.
    Entity,
    /// An extension type, by its function name: `ip`, `decimal`, `datetime` or `duration`.
    Extension(&'static str),
    /// `Set<T>`.
    Set(Box<AttrType>),
    /// A record, with its attributes.
    Record(BTreeMap<String, AttrType>),
    /// A type this reading does not know (the schema-directed parser decides).
    Unknown,
}

/// The attribute types of every entity type (by full name, `Cloud::Tenant`) and of every action's
/// context (by action id, `provision_workload`).
#[derive(Debug, Clone, Default)]
pub struct AttrTypes {
    /// Entity type → its attributes.
    pub entities: BTreeMap<String, BTreeMap<String, AttrType>>,
    /// Action id → its context's attributes.
    pub contexts: BTreeMap<String, BTreeMap<String, AttrType>>,
}

/// The key of the request context's vocabularies in [`Vocabularies`].
pub const CONTEXT: &str = "Context";

/// Obligations a policy may name.
pub const OBLIGATIONS: [&str; 3] = ["report_to_regulator", "keep_records", "notify_users"];

/// One source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The file name as shown in messages, e.g. `art08-access-users.cedar`.
    pub name: String,
    /// The file's text.
    pub text: String,
}

/// The policy folder's contents: the schema and every `.cedar` file, in name order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    /// The schema, in Cedar schema syntax.
    pub schema: SourceFile,
    /// The policy files.
    pub policies: Vec<SourceFile>,
}

/// A file could not be read.
#[derive(Debug, thiserror::Error)]
// The I/O error is in the message, so it is not also the error's source (a report of the error
// with its causes would say it twice).
#[error("cannot read `{}`: {error}", path.display())]
pub struct ReadError {
    /// The path that failed.
    pub path: PathBuf,
    /// Why.
    pub error: std::io::Error,
}

impl Sources {
    /// Reads `schema.cedarschema` and every `*.cedar` file of `dir`.
    pub fn read_dir(dir: &Path) -> Result<Self, ReadError> {
        let read = |path: PathBuf| {
            std::fs::read_to_string(&path).map_err(|error| ReadError { path, error })
        };
        let schema_path = dir.join(SCHEMA_FILE);
        let schema = SourceFile {
            name: SCHEMA_FILE.to_owned(),
            text: read(schema_path)?,
        };
        let entries = std::fs::read_dir(dir).map_err(|error| ReadError {
            path: dir.to_owned(),
            error,
        })?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|error| ReadError {
                path: dir.to_owned(),
                error,
            })?;
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "cedar") {
                paths.push(path);
            }
        }
        paths.sort();
        let mut policies = Vec::with_capacity(paths.len());
        for path in paths {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            policies.push(SourceFile {
                name,
                text: read(path)?,
            });
        }
        Ok(Self { schema, policies })
    }
}

impl Sources {
    /// [`compile`] over these files.
    pub fn compile(&self, validate: Validate) -> Result<Compiled, Problems> {
        compile(
            (&self.schema.name, &self.schema.text),
            self.policies
                .iter()
                .map(|f| (f.name.as_str(), f.text.as_str())),
            validate,
        )
    }

    /// The digest of the policy set: sha256 over each file's name and text (the schema first,
    /// then the policy files in name order), each followed by a NUL byte, as `sha256:<hex>`.
    /// It names the policy set a component holds, whatever folder it was read from.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for file in std::iter::once(&self.schema).chain(&self.policies) {
            hasher.update(file.name.as_bytes());
            hasher.update([0]);
            hasher.update(file.text.as_bytes());
            hasher.update([0]);
        }
        let hex: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256:{hex}")
    }
}

/// Where a problem is, and what it is. Problems sort by file, line, column and message.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The file name.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Cedar's message (or yungui's, for annotation rules), with its help where it gives one.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.0))]
pub struct Problems(pub Vec<Problem>);

fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// How a control reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Denies the request.
    Deny,
    /// Never denies; comes back as a warning.
    Warn,
}

/// What a forbid policy's annotations say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The policy's own id (`@id`).
    pub id: String,
    /// The control id (`@control`).
    pub control: String,
    /// The article.
    pub article: String,
    /// English reason.
    pub reason: String,
    /// Chinese reason.
    pub reason_zh: String,
    /// Obligations, in the order written.
    pub obligations: Vec<String>,
    /// The clause the obligations come from, quoted.
    pub obligation_quote: Option<String>,
    /// Deny or warn.
    pub severity: Severity,
    /// The file the policy lives in.
    pub file: String,
    /// 1-based line of the policy's `@id` in its file, when it has one.
    pub line: Option<usize>,
}

/// The policy set ready to authorize with.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// Every policy, each renamed `<file>#<n>` so a message can point at its file.
    pub policies: PolicySet,
    /// The schema.
    pub schema: Schema,
    /// Each forbid policy's finding, by policy id.
    pub findings: BTreeMap<PolicyId, Finding>,
    /// The entity types the schema marks `@registry`: the registry is their only source, so a
    /// request that brings an entity of one of them is refused (it would stand in for the
    /// registry's record).
    pub registry_types: BTreeSet<EntityTypeName>,
    /// The attributes the schema marks `@one_of`, by entity type (`Cloud::Tenant`) or
    /// [`CONTEXT`].
    pub vocabularies: Vocabularies,
    /// The attribute types the schema declares.
    pub attribute_types: AttrTypes,
}

impl Compiled {
    /// One finding per control id (the first policy's), in control order.
    pub fn controls(&self) -> Vec<&Finding> {
        let mut seen = BTreeMap::new();
        for finding in self.findings.values() {
            seen.entry(finding.control.as_str()).or_insert(finding);
        }
        seen.into_values().collect()
    }
}

/// The policies that can apply to each action of the schema: those whose action scope is
/// unconstrained, names the action, or names a group the action is in. A policy whose scope does
/// not match an action is never satisfied and never errors for it, so deciding with the slice
/// gives the same answer as deciding with the whole set, faster.
pub fn slice_by_action(
    policies: &PolicySet,
    schema: &Schema,
) -> Result<HashMap<EntityUid, PolicySet>, String> {
    let hierarchy = schema.action_entities().map_err(|e| e.to_string())?;
    let mut slices = HashMap::new();
    for action in schema.actions() {
        let mut slice = PolicySet::new();
        for policy in policies.policies() {
            let applies = match policy.action_constraint() {
                ActionConstraint::Any => true,
                ActionConstraint::Eq(uid) => &uid == action,
                ActionConstraint::In(groups) => groups
                    .iter()
                    .any(|g| g == action || hierarchy.is_ancestor_of(g, action)),
            };
            if applies {
                slice.add(policy.clone()).map_err(|e| e.to_string())?;
            }
        }
        slices.insert(action.clone(), slice);
    }
    Ok(slices)
}

/// The policies of `policies` whose principal and resource scope can match a principal of type
/// `principal` and a resource of type `resource`. A policy whose scope cannot match is never
/// satisfied and never errors (the scope is checked first, and `&&` stops at false), so deciding a
/// request of these types with the slice gives the same answer as with the whole set, faster.
pub fn slice_by_types(
    policies: &PolicySet,
    principal: &EntityTypeName,
    resource: &EntityTypeName,
) -> Result<PolicySet, String> {
    let mut slice = PolicySet::new();
    for policy in policies.policies() {
        let principal_may = match policy.principal_constraint() {
            PrincipalConstraint::Eq(uid) => uid.type_name() == principal,
            PrincipalConstraint::Is(t) | PrincipalConstraint::IsIn(t, _) => &t == principal,
            // `in` may hold of an entity of any type (the entity itself or a member of it).
            PrincipalConstraint::Any | PrincipalConstraint::In(_) => true,
        };
        let resource_may = match policy.resource_constraint() {
            ResourceConstraint::Eq(uid) => uid.type_name() == resource,
            ResourceConstraint::Is(t) | ResourceConstraint::IsIn(t, _) => &t == resource,
            ResourceConstraint::Any | ResourceConstraint::In(_) => true,
        };
        if principal_may && resource_may {
            slice.add(policy.clone()).map_err(|e| e.to_string())?;
        }
    }
    Ok(slice)
}

/// Whether [`compile`] runs Cedar's strict validator (slow; done once at build time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validate {
    /// Parse, check annotations and validate in strict mode.
    Strict,
    /// Parse and check annotations only: for sources that were validated when they were built in.
    No,
}

/// Parses the schema and every policy file, checks each forbid's annotations and, with
/// [`Validate::Strict`], validates the set in strict mode. Returns every problem found, not only
/// the first.
pub fn compile<'a>(
    schema: (&str, &str),
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
    validate: Validate,
) -> Result<Compiled, Problems> {
    let (schema_name, schema_text) = schema;
    let mut problems = Vec::new();
    let schema = match Schema::from_cedarschema_str(schema_text) {
        Ok((schema, _warnings)) => Some(schema),
        Err(err) => {
            problems.extend(diagnostic_problems(schema_name, schema_text, &err));
            None
        }
    };

    let mut policies = PolicySet::new();
    let mut findings = BTreeMap::new();
    let mut texts = BTreeMap::new();
    // `@id` → where it was first seen: Cedar's tools take it as the policy id, so it is unique.
    let mut ids: HashMap<String, String> = HashMap::new();
    for (name, text) in files {
        texts.insert(name, text);
        let parsed = match PolicySet::from_str(text) {
            Ok(parsed) => parsed,
            Err(err) => {
                problems.extend(diagnostic_problems(name, text, &err));
                continue;
            }
        };
        if parsed.templates().next().is_some() {
            problems.push(Problem {
                file: name.to_owned(),
                line: None,
                column: None,
                message: "templates are not supported: write a static policy".to_owned(),
            });
        }
        // Policies come in file order: look for each `@id` after the previous one.
        let mut cursor = 0;
        let mut in_order: Vec<&cedar_policy::Policy> = parsed.policies().collect();
        // Cedar names a file's policies `policy0`, `policy1`... in the order written.
        in_order.sort_by_key(|p| {
            let id: &str = p.id().as_ref();
            id.trim_start_matches("policy")
                .parse::<usize>()
                .unwrap_or(usize::MAX)
        });
        for (index, policy) in in_order.into_iter().enumerate() {
            let id = PolicyId::new(format!("{name}#{index}"));
            let policy = policy.new_id(id.clone());
            let offset = policy.annotation(annotation::ID).and_then(|id| {
                let rest = text.get(cursor..)?;
                rest.find(&format!("@id(\"{id}\")")).map(|o| o + cursor)
            });
            if let Some(offset) = offset {
                cursor = offset + 1;
            }
            let at = offset.map(|offset| line_column(text, offset));
            if let Some(own) = policy.annotation(annotation::ID) {
                if let Some(first) = ids.get(own) {
                    problems.push(Problem {
                        file: name.to_owned(),
                        line: at.map(|(line, _)| line),
                        column: at.map(|(_, column)| column),
                        message: format!(
                            "`@id(\"{own}\")` is already the id of a policy in `{first}`: give every policy its own `@id` and put the control they share in `@control`"
                        ),
                    });
                } else {
                    ids.insert(own.to_owned(), name.to_owned());
                }
            }
            match read_finding(name, &policy, at.map(|(line, _)| line)) {
                Ok(Some(finding)) => {
                    findings.insert(id, finding);
                }
                Ok(None) => {}
                Err(message) => {
                    // The public API has no span for a policy: point at its `@id`, when it has one.
                    problems.push(Problem {
                        file: name.to_owned(),
                        line: at.map(|(line, _)| line),
                        column: at.map(|(_, column)| column),
                        message,
                    });
                }
            }
            if let Err(err) = policies.add(policy) {
                problems.push(Problem {
                    file: name.to_owned(),
                    line: None,
                    column: None,
                    message: err.to_string(),
                });
            }
        }
    }

    if let (Some(schema), Validate::Strict) = (&schema, validate) {
        let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        for err in result.validation_errors() {
            let file = file_of(err.policy_id());
            let text = texts.get(file).copied().unwrap_or_default();
            problems.extend(diagnostic_problems(file, text, err));
        }
    }

    match schema {
        Some(schema) if problems.is_empty() => {
            // Annotations live on the fragment; the schema parsed already, so the fragment does
            // too. Parsed once for both readers: it costs as much as the schema itself.
            let fragment = SchemaFragment::from_cedarschema_str(schema_text)
                .ok()
                .map(|(fragment, _warnings)| fragment);
            let registry_types = registry_types(fragment.as_ref(), &schema);
            let json = fragment.and_then(|f| f.to_json_value().ok());
            let vocabularies = json.as_ref().map(vocabularies).unwrap_or_default();
            let attribute_types = json.as_ref().map(attribute_types).unwrap_or_default();
            Ok(Compiled {
                policies,
                schema,
                findings,
                registry_types,
                vocabularies,
                attribute_types,
            })
        }
        _ => {
            // Cedar reports some problems in hash order: sort them, so every run lists them alike.
            problems.sort();
            problems.dedup();
            Err(Problems(problems))
        }
    }
}

/// The entity types whose declaration carries `@registry`.
fn registry_types(fragment: Option<&SchemaFragment>, schema: &Schema) -> BTreeSet<EntityTypeName> {
    let Some(fragment) = fragment else {
        return BTreeSet::new();
    };
    schema
        .entity_types()
        .filter(|ty| {
            let namespace = ty.namespace();
            let namespace = if namespace.is_empty() {
                None
            } else {
                EntityNamespace::from_str(&namespace).ok()
            };
            fragment
                .entity_type_annotations(namespace, ty.basename())
                .is_some_and(|mut annotations| {
                    annotations.any(|(key, _)| key == annotation::REGISTRY)
                })
        })
        .cloned()
        .collect()
}

/// The attributes whose declaration carries `@one_of("a|b")`, read from the schema's JSON form
/// (annotations on attributes live there). Entity types are keyed by their full name; the common
/// type `Context` by [`CONTEXT`].
fn vocabularies(json: &serde_json::Value) -> Vocabularies {
    let mut out = Vocabularies::new();
    let Some(namespaces) = json.as_object() else {
        return out;
    };
    for (namespace, body) in namespaces {
        let qualify = |name: &str| {
            if namespace.is_empty() {
                name.to_owned()
            } else {
                format!("{namespace}::{name}")
            }
        };
        let shapes = body
            .get("entityTypes")
            .and_then(serde_json::Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(name, ty)| ty.get("shape").map(|shape| (qualify(name), shape)))
            .chain(
                body.get("commonTypes")
                    .and_then(serde_json::Value::as_object)
                    .into_iter()
                    .flatten()
                    .filter(|(name, _)| name.as_str() == CONTEXT)
                    .map(|(_, shape)| (CONTEXT.to_owned(), shape)),
            );
        for (owner, shape) in shapes {
            let attributes = shape
                .get("attributes")
                .and_then(serde_json::Value::as_object)
                .into_iter()
                .flatten();
            for (attribute, declaration) in attributes {
                let Some(values) = declaration
                    .get("annotations")
                    .and_then(|a| a.get(annotation::ONE_OF))
                    .and_then(serde_json::Value::as_str)
                else {
                    continue;
                };
                out.entry(owner.clone()).or_default().insert(
                    attribute.clone(),
                    values.split('|').map(|v| v.trim().to_owned()).collect(),
                );
            }
        }
    }
    out
}

/// The attribute types of the schema's JSON form: entity types' shapes and actions' contexts, common
/// types resolved (in the declaring namespace first, then the empty one, as Cedar resolves them).
fn attribute_types(json: &serde_json::Value) -> AttrTypes {
    use serde_json::Value as Json;
    let mut out = AttrTypes::default();
    let Some(namespaces) = json.as_object() else {
        return out;
    };
    let qualify = |namespace: &str, name: &str| {
        if namespace.is_empty() || name.contains("::") {
            name.to_owned()
        } else {
            format!("{namespace}::{name}")
        }
    };
    let mut common: BTreeMap<String, &Json> = BTreeMap::new();
    let mut entity_types: BTreeSet<String> = BTreeSet::new();
    for (namespace, body) in namespaces {
        for (name, ty) in body
            .get("commonTypes")
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
        {
            common.insert(qualify(namespace, name), ty);
        }
        for name in body
            .get("entityTypes")
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
            .map(|(name, _)| name)
        {
            entity_types.insert(qualify(namespace, name));
        }
    }
    let resolver = Resolver {
        common: &common,
        entity_types: &entity_types,
    };
    for (namespace, body) in namespaces {
        for (name, ty) in body
            .get("entityTypes")
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
        {
            if let Some(AttrType::Record(attributes)) = ty
                .get("shape")
                .map(|shape| resolver.resolve(namespace, shape, 0))
            {
                out.entities.insert(qualify(namespace, name), attributes);
            }
        }
        for (name, action) in body
            .get("actions")
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
        {
            if let Some(AttrType::Record(attributes)) = action
                .pointer("/appliesTo/context")
                .map(|context| resolver.resolve(namespace, context, 0))
            {
                out.contexts.insert(name.clone(), attributes);
            }
        }
    }
    out
}

/// Resolves the types of a schema's JSON form.
struct Resolver<'a> {
    common: &'a BTreeMap<String, &'a serde_json::Value>,
    entity_types: &'a BTreeSet<String>,
}

impl Resolver<'_> {
    /// A type's reading; `depth` bounds common types naming each other.
    fn resolve(&self, namespace: &str, ty: &serde_json::Value, depth: usize) -> AttrType {
        use serde_json::Value as Json;
        if depth > 32 {
            return AttrType::Unknown;
        }
        let Some(kind) = ty.get("type").and_then(Json::as_str) else {
            return AttrType::Unknown;
        };
        let name = ty.get("name").and_then(Json::as_str);
        match (kind, name) {
            ("Boolean", _) => AttrType::Bool,
            ("Long", _) => AttrType::Long,
            ("String", _) => AttrType::String,
            ("Set", _) => AttrType::Set(Box::new(
                ty.get("element")
                    .map_or(AttrType::Unknown, |e| self.resolve(namespace, e, depth + 1)),
            )),
            ("Record", _) => AttrType::Record(
                ty.get("attributes")
                    .and_then(Json::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(name, a)| (name.clone(), self.resolve(namespace, a, depth + 1)))
                    .collect(),
            ),
            ("Entity", Some(_)) => AttrType::Entity,
            ("Extension", Some(name)) => extension(name),
            ("EntityOrCommon", Some(name)) => self.named(namespace, name, depth),
            // A common type named directly as the type.
            (other, None) => self.named(namespace, other, depth),
            _ => AttrType::Unknown,
        }
    }

    /// What a name denotes: a common type, an entity type, a primitive or an extension type.
    fn named(&self, namespace: &str, name: &str, depth: usize) -> AttrType {
        let local = if namespace.is_empty() || name.contains("::") {
            name.to_owned()
        } else {
            format!("{namespace}::{name}")
        };
        for candidate in [local.as_str(), name] {
            if let Some(ty) = self.common.get(candidate) {
                // A common type resolves in its own namespace.
                let home = candidate.rsplit_once("::").map_or("", |(ns, _)| ns);
                return self.resolve(home, ty, depth + 1);
            }
            if self.entity_types.contains(candidate) {
                return AttrType::Entity;
            }
        }
        match name.strip_prefix("__cedar::").unwrap_or(name) {
            "Bool" | "Boolean" => AttrType::Bool,
            "Long" => AttrType::Long,
            "String" => AttrType::String,
            other => extension(other),
        }
    }
}

/// An extension type by its name in a schema.
fn extension(name: &str) -> AttrType {
    match name.strip_prefix("__cedar::").unwrap_or(name) {
        "ipaddr" => AttrType::Extension("ip"),
        "decimal" => AttrType::Extension("decimal"),
        "datetime" => AttrType::Extension("datetime"),
        "duration" => AttrType::Extension("duration"),
        _ => AttrType::Unknown,
    }
}

/// A string, or each string of a set, is one of `allowed`; otherwise an error naming the value and
/// the allowed ones.
pub fn check_one_of(
    attribute: &str,
    value: &cedar_policy::EvalResult,
    allowed: &[String],
) -> Result<(), String> {
    let check = |v: &cedar_policy::EvalResult| match v {
        cedar_policy::EvalResult::String(s) if allowed.iter().any(|a| a == s) => Ok(()),
        cedar_policy::EvalResult::String(s) => Err(format!(
            "`{attribute}`: `{s}` is not one of the allowed values: {}",
            allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        // Not a string: the schema check names the type error.
        _ => Ok(()),
    };
    match value {
        cedar_policy::EvalResult::Set(set) => set.iter().try_for_each(check),
        other => check(other),
    }
}

/// Every `@one_of` attribute of the entity's type holds a value of its vocabulary.
pub fn check_vocabularies(
    vocabularies: &Vocabularies,
    entity: &cedar_policy::Entity,
) -> Result<(), String> {
    let Some(vocabulary) = vocabularies.get(&entity.uid().type_name().to_string()) else {
        return Ok(());
    };
    for (attribute, allowed) in vocabulary {
        if let Some(Ok(value)) = entity.attr(attribute) {
            check_one_of(attribute, &value, allowed)?;
        }
    }
    Ok(())
}

/// `problems` of [`check_registry`] in one line: how many, and the first five.
pub fn summarise_problems(problems: &[String]) -> String {
    let first: Vec<&str> = problems.iter().take(5).map(String::as_str).collect();
    format!(
        "{} entities do not match the schema: {}",
        problems.len(),
        first.join("; ")
    )
}

/// Checks registry entities (Cedar entities JSON, one value each) against the schema and its
/// closed vocabularies, as the engine will read them: every problem, naming the entity.
pub fn check_registry<'a>(
    compiled: &Compiled,
    entities: impl IntoIterator<Item = &'a str>,
) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    for text in entities {
        let entity = serde_json::from_str::<serde_json::Value>(text)
            .map_err(|e| e.to_string())
            .and_then(|json| {
                cedar_policy::Entity::from_json_value(json, Some(&compiled.schema))
                    .map_err(|e| error_chain(&e))
            })
            .and_then(|entity| {
                check_vocabularies(&compiled.vocabularies, &entity)
                    .map_err(|e| format!("`{}`: {e}", entity.uid()))
            });
        if let Err(problem) = entity {
            problems.push(problem);
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// An error with its causes, on one line.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// The file a policy id names (ids are `<file>#<n>`).
pub fn file_of(id: &PolicyId) -> &str {
    let id: &str = id.as_ref();
    id.rsplit_once('#').map_or(id, |(file, _)| file)
}

/// Reads a forbid policy's annotations. `Ok(None)` for a permit.
fn read_finding(
    file: &str,
    policy: &cedar_policy::Policy,
    line: Option<usize>,
) -> Result<Option<Finding>, String> {
    let get = |key: &str| policy.annotation(key).map(str::to_owned);
    if policy.effect() == Effect::Permit {
        return Ok(None);
    }
    let missing: Vec<&str> = [
        annotation::ID,
        annotation::CONTROL,
        annotation::ARTICLE,
        annotation::REASON,
        annotation::REASON_ZH,
    ]
    .into_iter()
    .filter(|key| get(key).is_none_or(|v| v.trim().is_empty()))
    .collect();
    if !missing.is_empty() {
        return Err(format!(
            "forbid policy lacks {}: add them so a denial can say which control fired and why",
            missing
                .iter()
                .map(|key| format!("`@{key}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let severity = match policy.annotation(annotation::SEVERITY) {
        None | Some("deny") => Severity::Deny,
        Some("warn") => Severity::Warn,
        Some(other) => {
            return Err(format!(
                "`@severity(\"{other}\")` is not a severity: use `deny` or `warn`"
            ));
        }
    };
    let obligations: Vec<String> = policy
        .annotation(annotation::OBLIGATION)
        .map(|list| {
            list.split(',')
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if let Some(unknown) = obligations
        .iter()
        .find(|o| !OBLIGATIONS.contains(&o.as_str()))
    {
        return Err(format!(
            "`{unknown}` is not an obligation: use {}",
            OBLIGATIONS.join(", ")
        ));
    }
    let obligation_quote = get(annotation::OBLIGATION_QUOTE).filter(|q| !q.trim().is_empty());
    if !obligations.is_empty() && obligation_quote.is_none() {
        return Err(format!(
            "`@obligation(\"{}\")` without `@obligation_quote`: quote the clause of the notice that asks for it",
            obligations.join(",")
        ));
    }
    Ok(Some(Finding {
        obligation_quote,
        id: get(annotation::ID).unwrap_or_default(),
        control: get(annotation::CONTROL).unwrap_or_default(),
        article: get(annotation::ARTICLE).unwrap_or_default(),
        reason: get(annotation::REASON).unwrap_or_default(),
        reason_zh: get(annotation::REASON_ZH).unwrap_or_default(),
        obligations,
        severity,
        file: file.to_owned(),
        line,
    }))
}

/// Turns a Cedar diagnostic into problems, one per labelled span (or one without a place).
fn diagnostic_problems(
    file: &str,
    text: &str,
    diagnostic: &dyn miette::Diagnostic,
) -> Vec<Problem> {
    let mut out = Vec::new();
    collect(file, text, diagnostic, &mut out);
    if out.is_empty() {
        out.push(Problem {
            file: file.to_owned(),
            line: None,
            column: None,
            message: message_of(diagnostic),
        });
    }
    out
}

fn collect(file: &str, text: &str, d: &dyn miette::Diagnostic, out: &mut Vec<Problem>) {
    // Parse errors come as a list of related diagnostics; each carries its own span.
    let mut related = d.related().into_iter().flatten().peekable();
    if related.peek().is_some() {
        for inner in related {
            collect(file, text, inner, out);
        }
        return;
    }
    let offset = d
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|l| l.offset());
    let (line, column) = match offset {
        Some(offset) => {
            let (line, column) = line_column(text, offset);
            (Some(line), Some(column))
        }
        None => (None, None),
    };
    out.push(Problem {
        file: file.to_owned(),
        line,
        column,
        message: message_of(d),
    });
}

fn message_of(d: &dyn miette::Diagnostic) -> String {
    match d.help() {
        Some(help) => format!("{d} (help: {help})"),
        None => d.to_string(),
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit_once('\n')
        .map_or(before, |(_, last)| last)
        .chars()
        .count()
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"namespace Cloud {
        entity Tenant = { real_name_verified: Bool };
        entity Workload;
        action provision_workload appliesTo { principal: Tenant, resource: Workload, context: {} };
    }"#;

    const GOOD: &str = r#"@id("base-permit")
permit (principal, action, resource);

@id("art8-1-real-name.tenant")
@control("art8-1-real-name")
@article("8(1)")
@reason("tenant not verified")
@reason_zh("未实名")
@obligation("keep_records,report_to_regulator")
@obligation_quote("保存有关记录")
forbid (principal, action == Cloud::Action::"provision_workload", resource)
unless { principal.real_name_verified };
"#;

    #[test]
    fn compiles_and_reads_findings() {
        let compiled = compile(
            ("schema.cedarschema", SCHEMA),
            [("a.cedar", GOOD)],
            Validate::Strict,
        )
        .unwrap();
        let controls = compiled.controls();
        assert_eq!(controls.len(), 1);
        assert_eq!(controls[0].control, "art8-1-real-name");
        assert_eq!(
            controls[0].obligations,
            ["keep_records", "report_to_regulator"]
        );
        assert_eq!(controls[0].severity, Severity::Deny);
    }

    #[test]
    fn validation_error_points_at_file_and_line() {
        let bad = GOOD.replace("principal.real_name_verified", "principal.real_name");
        let err = compile(
            ("schema.cedarschema", SCHEMA),
            [
                ("ok.cedar", "permit(principal, action, resource);\n"),
                ("bad.cedar", bad.as_str()),
            ],
            Validate::Strict,
        )
        .unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        let problem = &err.0[0];
        assert_eq!(problem.file, "bad.cedar");
        assert_eq!(problem.line, Some(12));
        assert!(problem.message.contains("real_name"), "{problem}");
    }

    #[test]
    fn slices_follow_action_groups() {
        let schema = r#"namespace Cloud {
            entity Tenant;
            entity Workload;
            action provisioning;
            action provision_workload in [provisioning] appliesTo { principal: Tenant, resource: Workload };
            action bind_domain appliesTo { principal: Tenant, resource: Workload };
        }"#;
        let text = r#"permit (principal, action, resource);
forbid (principal, action == Cloud::Action::"bind_domain", resource);
forbid (principal, action in Cloud::Action::"provisioning", resource);
forbid (principal, action in [Cloud::Action::"bind_domain", Cloud::Action::"provision_workload"], resource);
"#;
        let text = text
            .split("forbid (")
            .enumerate()
            .map(|(n, part)| match n {
                0 => part.to_owned(),
                n => format!("@id(\"c.{n}\") @control(\"c\") @article(\"1\") @reason(\"r\") @reason_zh(\"r\")\nforbid ({part}"),
            })
            .collect::<String>();
        let compiled = compile(
            ("s", schema),
            [("p.cedar", text.as_str())],
            Validate::Strict,
        )
        .unwrap();
        let slices = slice_by_action(&compiled.policies, &compiled.schema).unwrap();
        let count = |action: &str| {
            let uid = EntityUid::from_str(&format!("Cloud::Action::\"{action}\"")).unwrap();
            slices[&uid].policies().count()
        };
        assert_eq!(count("provision_workload"), 3);
        assert_eq!(count("bind_domain"), 3);
        assert_eq!(count("provisioning"), 2);
    }

    #[test]
    fn parse_error_points_at_line() {
        let err = compile(
            ("schema.cedarschema", SCHEMA),
            [(
                "p.cedar",
                "permit(principal, action, resource);\n\nforbid(principal action, resource);\n",
            )],
            Validate::No,
        )
        .unwrap_err();
        assert_eq!(err.0[0].file, "p.cedar");
        assert_eq!(err.0[0].line, Some(3));
    }

    #[test]
    fn policy_ids_are_unique_and_controls_shared() {
        let twice = format!(
            "{GOOD}\n{}",
            GOOD.replace("permit", "forbid")
                .replace("base-permit", "other")
        );
        let err = compile(("s", SCHEMA), [("a.cedar", twice.as_str())], Validate::No).unwrap_err();
        let dup = err
            .0
            .iter()
            .find(|p| p.message.contains("already the id"))
            .unwrap();
        assert_eq!(dup.line, Some(17), "{err}");
        let second = GOOD
            .replace("art8-1-real-name.tenant", "art8-1-real-name.other")
            .replace("base-permit", "second-permit");
        let compiled = compile(
            ("s", SCHEMA),
            [("a.cedar", GOOD), ("b.cedar", second.as_str())],
            Validate::No,
        )
        .unwrap();
        assert_eq!(compiled.controls().len(), 1);
        assert_eq!(compiled.findings.len(), 2);
    }

    #[test]
    fn forbid_without_control_is_rejected() {
        let text = GOOD.replace("@control(\"art8-1-real-name\")\n", "");
        let err = compile(("s", SCHEMA), [("x.cedar", text.as_str())], Validate::No).unwrap_err();
        assert!(err.0[0].message.contains("`@control`"), "{err}");
    }

    #[test]
    fn forbid_without_reason_is_rejected() {
        let text = "@id(\"x\")\n@article(\"2\")\nforbid(principal, action, resource);\n";
        let err = compile(("s", SCHEMA), [("x.cedar", text)], Validate::No).unwrap_err();
        assert!(err.0[0].message.contains("`@reason`"), "{err}");
        assert!(err.0[0].message.contains("`@reason_zh`"), "{err}");
    }

    #[test]
    fn unknown_obligation_and_severity_are_rejected() {
        let text = GOOD.replace("keep_records,", "keep_recrods,");
        let err = compile(("s", SCHEMA), [("x.cedar", text.as_str())], Validate::No).unwrap_err();
        assert!(err.0[0].message.contains("keep_recrods"), "{err}");
        let text = GOOD.replace("@obligation(", "@severity(\"loud\")\n@obligation(");
        let err = compile(("s", SCHEMA), [("x.cedar", text.as_str())], Validate::No).unwrap_err();
        assert!(err.0[0].message.contains("loud"), "{err}");
        let text = GOOD.replace("@obligation_quote(\"保存有关记录\")\n", "");
        let err = compile(("s", SCHEMA), [("x.cedar", text.as_str())], Validate::No).unwrap_err();
        assert!(err.0[0].message.contains("`@obligation_quote`"), "{err}");
    }

    #[test]
    fn registry_types_are_those_annotated() {
        let schema = SCHEMA.replace("entity Tenant", "@registry entity Tenant");
        let compiled = compile(("s", &schema), [("a.cedar", GOOD)], Validate::Strict).unwrap();
        let names: Vec<String> = compiled
            .registry_types
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, ["Cloud::Tenant"]);
        let compiled = compile(("s", SCHEMA), [("a.cedar", GOOD)], Validate::Strict).unwrap();
        assert!(compiled.registry_types.is_empty());
    }

    #[test]
    fn vocabularies_are_read_from_attribute_annotations() {
        let schema = r#"namespace Cloud {
            type Context = { @one_of("x|y") approvals?: Set<String>, now: Long };
            entity Tenant = { @one_of("active|suspended") status: String, name: String };
            entity Workload;
            action a appliesTo { principal: Tenant, resource: Workload, context: Context };
        }"#;
        let compiled = compile(("s", schema), [("a.cedar", "")], Validate::Strict).unwrap();
        assert_eq!(
            compiled.vocabularies["Cloud::Tenant"]["status"],
            ["active", "suspended"]
        );
        assert!(!compiled.vocabularies["Cloud::Tenant"].contains_key("name"));
        assert_eq!(compiled.vocabularies[CONTEXT]["approvals"], ["x", "y"]);
    }

    #[test]
    fn attribute_types_resolve_common_entity_and_extension_names() {
        let schema = r#"
            type Address = { ip: ipaddr, ports: Set<Long> };
            namespace Cloud {
                type Context = { now: datetime, who?: Tenant, where?: Address, tags: Set<Tag> };
                type Tag = String;
                entity Tenant = { operator: Operator, limit: decimal, verified: Bool, home: Address };
                entity Operator;
                entity Workload = { owners: Set<Tenant>, meta: { since: __cedar::datetime, n: Long } };
                action a appliesTo { principal: Tenant, resource: Workload, context: Context };
                action b appliesTo { principal: Tenant, resource: Workload, context: { wait: duration } };
            }"#;
        let compiled = compile(("s", schema), [("a.cedar", "")], Validate::Strict).unwrap();
        let types = &compiled.attribute_types;
        let address = AttrType::Record(BTreeMap::from([
            ("ip".to_owned(), AttrType::Extension("ip")),
            ("ports".to_owned(), AttrType::Set(Box::new(AttrType::Long))),
        ]));
        let tenant = &types.entities["Cloud::Tenant"];
        assert_eq!(tenant["operator"], AttrType::Entity);
        assert_eq!(tenant["limit"], AttrType::Extension("decimal"));
        assert_eq!(tenant["verified"], AttrType::Bool);
        assert_eq!(tenant["home"], address);
        let workload = &types.entities["Cloud::Workload"];
        assert_eq!(
            workload["owners"],
            AttrType::Set(Box::new(AttrType::Entity))
        );
        assert_eq!(
            workload["meta"],
            AttrType::Record(BTreeMap::from([
                ("since".to_owned(), AttrType::Extension("datetime")),
                ("n".to_owned(), AttrType::Long),
            ]))
        );
        assert!(
            !types.entities.contains_key("Cloud::Operator")
                || types.entities["Cloud::Operator"].is_empty()
        );
        let context = &types.contexts["a"];
        assert_eq!(context["now"], AttrType::Extension("datetime"));
        assert_eq!(context["who"], AttrType::Entity);
        assert_eq!(context["where"], address);
        assert_eq!(context["tags"], AttrType::Set(Box::new(AttrType::String)));
        assert_eq!(types.contexts["b"]["wait"], AttrType::Extension("duration"));
    }

    #[test]
    fn schema_error_is_reported_against_the_schema() {
        let err = compile(
            ("schema.cedarschema", "namespace Cloud { entity }"),
            [("a.cedar", GOOD)],
            Validate::Strict,
        )
        .unwrap_err();
        assert_eq!(err.0[0].file, "schema.cedarschema");
        assert_eq!(err.0[0].line, Some(1));
    }

    #[test]
    fn slices_by_principal_and_resource_type() {
        let policies: PolicySet = r#"
            permit (principal, action, resource);
            forbid (principal is Cloud::Tenant, action, resource is Cloud::Workload);
            forbid (principal, action, resource is Cloud::Tenant);
            forbid (principal == Cloud::Workload::"w", action, resource);
            forbid (principal in Cloud::Workload::"w", action, resource);
            forbid (principal, action, resource == Cloud::Tenant::"t");
        "#
        .parse()
        .unwrap();
        let tenant = EntityTypeName::from_str("Cloud::Tenant").unwrap();
        let workload = EntityTypeName::from_str("Cloud::Workload").unwrap();
        let slice = slice_by_types(&policies, &tenant, &workload).unwrap();
        let kept: BTreeSet<String> = slice.policies().map(|p| p.id().to_string()).collect();
        // Unconstrained, matching `is`, and `in` (which may hold of any type) are kept.
        assert_eq!(
            kept,
            ["policy0", "policy1", "policy4"].map(str::to_owned).into()
        );
        let slice = slice_by_types(&policies, &workload, &tenant).unwrap();
        let kept: BTreeSet<String> = slice.policies().map(|p| p.id().to_string()).collect();
        assert_eq!(
            kept,
            ["policy0", "policy2", "policy3", "policy4", "policy5"]
                .map(str::to_owned)
                .into()
        );
    }
}
