//! The policy set as it travels between the host and the engine component: `yungui build` hands it
//! to the component's `init` on standard input as JSON, and a built component's identity section
//! carries it. One type, written by the host and read by the component, so the two cannot drift.

use serde::{Deserialize, Serialize};

use crate::{SourceFile, Sources};

/// One source file, as the identity section and `init` carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileText {
    /// The file name.
    pub name: String,
    /// Its text.
    pub text: String,
}

/// A policy set as the engine component's `init` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySources {
    /// The schema.
    pub schema: FileText,
    /// The policy files, in name order.
    pub policies: Vec<FileText>,
}

impl From<&Sources> for PolicySources {
    fn from(sources: &Sources) -> Self {
        let file = |f: &SourceFile| FileText {
            name: f.name.clone(),
            text: f.text.clone(),
        };
        Self {
            schema: file(&sources.schema),
            policies: sources.policies.iter().map(file).collect(),
        }
    }
}

impl From<&PolicySources> for Sources {
    fn from(sources: &PolicySources) -> Self {
        let file = |f: &FileText| SourceFile {
            name: f.name.clone(),
            text: f.text.clone(),
        };
        Self {
            schema: file(&sources.schema),
            policies: sources.policies.iter().map(file).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> SourceFile {
        SourceFile {
            name: name.to_owned(),
            text: text.to_owned(),
        }
    }

    #[test]
    fn the_wire_form_is_the_one_built_components_carry() {
        let sources = Sources {
            schema: file("schema.cedarschema", "namespace Cloud {}"),
            policies: vec![file("a.cedar", "permit (principal, action, resource);")],
        };
        let wire = PolicySources::from(&sources);
        let json = serde_json::to_value(&wire).unwrap();
        // Built components carry this form in their identity section: it must stay readable.
        assert_eq!(
            json,
            serde_json::json!({
                "schema": {"name": "schema.cedarschema", "text": "namespace Cloud {}"},
                "policies": [{"name": "a.cedar", "text": "permit (principal, action, resource);"}]
            })
        );
        let read: PolicySources = serde_json::from_value(json).unwrap();
        assert_eq!(Sources::from(&read), sources);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<PolicySources>(
            r#"{"schema": {"name": "s", "text": "", "path": "/x"}, "policies": []}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `path`"), "{err}");
        assert!(
            serde_json::from_str::<PolicySources>(r#"{"schema": {"name": "s", "text": ""}}"#)
                .is_err()
        );
    }
}
