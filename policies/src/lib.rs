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
    Schema, SchemaFragment, ValidationMode, Validator,
};
use std::collections::{BTreeSet, HashMap};

pub mod json;

/// The schema's file name inside the policy folder.
pub const SCHEMA_FILE: &str = "schema.cedarschema";

/// Annotation keys every forbid policy carries.
pub mod annotation {
    /// The control id, e.g. `art8-1-icp-filing`.
    pub const ID: &str = "id";
    /// The article of the notice, e.g. `8(1)`.
    pub const ARTICLE: &str = "article";
    /// The reason in English.
    pub const REASON: &str = "reason";
    /// The reason in Chinese.
    pub const REASON_ZH: &str = "reason_zh";
    /// Comma-separated obligations.
    pub const OBLIGATION: &str = "obligation";
    /// `deny` (the default) or `warn`.
    pub const SEVERITY: &str = "severity";
    /// On an entity type of the schema: its entities come from the registry only, never with a
    /// request.
    pub const REGISTRY: &str = "registry";
}

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
#[error("cannot read `{}`: {source}", path.display())]
pub struct ReadError {
    /// The path that failed.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

impl Sources {
    /// Reads `schema.cedarschema` and every `*.cedar` file of `dir`.
    pub fn read_dir(dir: &Path) -> Result<Self, ReadError> {
        let read = |path: PathBuf| {
            std::fs::read_to_string(&path).map_err(|source| ReadError { path, source })
        };
        let schema_path = dir.join(SCHEMA_FILE);
        let schema = SourceFile {
            name: SCHEMA_FILE.to_owned(),
            text: read(schema_path)?,
        };
        let entries = std::fs::read_dir(dir).map_err(|source| ReadError {
            path: dir.to_owned(),
            source,
        })?;
        let mut paths = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| ReadError {
                path: dir.to_owned(),
                source,
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

/// Where a problem is, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The control id.
    pub control: String,
    /// The article.
    pub article: String,
    /// English reason.
    pub reason: String,
    /// Chinese reason.
    pub reason_zh: String,
    /// Obligations, in the order written.
    pub obligations: Vec<String>,
    /// Deny or warn.
    pub severity: Severity,
    /// The file the policy lives in.
    pub file: String,
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
        for (index, policy) in parsed.policies().enumerate() {
            let id = PolicyId::new(format!("{name}#{index}"));
            let policy = policy.new_id(id.clone());
            match read_finding(name, &policy) {
                Ok(Some(finding)) => {
                    findings.insert(id, finding);
                }
                Ok(None) => {}
                Err(message) => {
                    // The public API has no span for a policy: point at its `@id`, when it has one.
                    let at = policy
                        .annotation(annotation::ID)
                        .and_then(|id| text.find(&format!("@id(\"{id}\")")))
                        .map(|offset| line_column(text, offset));
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
            let registry_types = registry_types(schema_text, &schema);
            Ok(Compiled {
                policies,
                schema,
                findings,
                registry_types,
            })
        }
        _ => Err(Problems(problems)),
    }
}

/// The entity types whose declaration carries `@registry`.
fn registry_types(schema_text: &str, schema: &Schema) -> BTreeSet<EntityTypeName> {
    // The schema parsed already, so the fragment does too; annotations live on the fragment.
    let Ok((fragment, _warnings)) = SchemaFragment::from_cedarschema_str(schema_text) else {
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

/// The file a policy id names (ids are `<file>#<n>`).
pub fn file_of(id: &PolicyId) -> &str {
    let id: &str = id.as_ref();
    id.rsplit_once('#').map_or(id, |(file, _)| file)
}

/// Reads a forbid policy's annotations. `Ok(None)` for a permit.
fn read_finding(file: &str, policy: &cedar_policy::Policy) -> Result<Option<Finding>, String> {
    let get = |key: &str| policy.annotation(key).map(str::to_owned);
    if policy.effect() == Effect::Permit {
        return Ok(None);
    }
    let missing: Vec<&str> = [
        annotation::ID,
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
    Ok(Some(Finding {
        control: get(annotation::ID).unwrap_or_default(),
        article: get(annotation::ARTICLE).unwrap_or_default(),
        reason: get(annotation::REASON).unwrap_or_default(),
        reason_zh: get(annotation::REASON_ZH).unwrap_or_default(),
        obligations,
        severity,
        file: file.to_owned(),
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

@id("art8-1-real-name")
@article("8(1)")
@reason("tenant not verified")
@reason_zh("未实名")
@obligation("keep_records,report_to_regulator")
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
        assert_eq!(problem.line, Some(10));
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
        let text = text.replace(
            "forbid (",
            "@id(\"c\") @article(\"1\") @reason(\"r\") @reason_zh(\"r\")\nforbid (",
        );
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
        let text = GOOD.replace("@obligation", "@severity(\"loud\")\n@obligation");
        let err = compile(("s", SCHEMA), [("x.cedar", text.as_str())], Validate::No).unwrap_err();
        assert!(err.0[0].message.contains("loud"), "{err}");
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
}
