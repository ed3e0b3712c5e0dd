//! Compiling the policy set: parse the schema and every policy file, check the annotations and,
//! when asked, validate the set in strict mode against the schema.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;

use cedar_policy::{
    EntityTypeName, PolicyId, PolicySet, Schema, SchemaFragment, ValidationMode, Validator,
};

use crate::findings::read_finding;
use crate::problems::{diagnostic_problems, line_column};
use crate::schema::{attribute_types, registry_types, vocabularies};
use crate::{AttrTypes, Finding, Problem, Problems, Vocabularies, annotation};

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
    /// [`CONTEXT`](crate::CONTEXT).
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

/// Whether [`compile`] runs Cedar's strict validator (slow; done once at build time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
                Err(err) => {
                    // The public API has no span for a policy: point at its `@id`, when it has one.
                    problems.push(Problem {
                        file: name.to_owned(),
                        line: at.map(|(line, _)| line),
                        column: at.map(|(_, column)| column),
                        message: err.to_string(),
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

/// The file a policy id names (ids are `<file>#<n>`).
pub(crate) fn file_of(id: &PolicyId) -> &str {
    let id: &str = id.as_ref();
    id.rsplit_once('#').map_or(id, |(file, _)| file)
}
