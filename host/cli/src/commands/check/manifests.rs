//! Reading Kubernetes manifests as people have them: YAML (one document or several, `---`) or
//! JSON, `kind: List` (and any `*List`) with `items`, from files, folders (every `*.yaml`, `*.yml`
//! and `*.json`, recursively, in name order) or standard input. `kubectl kustomize`, `helm
//! template` and `kubectl get -A -o yaml` all write this.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize as _;
use serde_json::Value;

/// Where an object was read: the file, the 1-based document number in it, and for an item of a
/// List its 0-based index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file as given (`-` for standard input).
    pub file: String,
    /// The document's number in the file, from 1.
    pub document: usize,
    /// The item's index in a List document.
    pub item: Option<usize>,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.document)?;
        if let Some(item) = self.item {
            write!(f, " items[{item}]")?;
        }
        Ok(())
    }
}

/// One object of the input, or why it cannot be read.
#[derive(Debug)]
pub struct Document {
    /// Where it was read.
    pub origin: Origin,
    /// The object (a JSON object with `apiVersion`, `kind` and a name), or what is wrong with it.
    pub object: Result<Value, String>,
}

/// The extensions a folder is searched for.
const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// Reads every object of `inputs` (files, folders, `-` for standard input; standard input when
/// empty). Fails only when an input cannot be read at all (missing, unreadable); a document that
/// cannot be parsed is a [`Document`] with an error.
pub fn read(inputs: &[PathBuf]) -> anyhow::Result<Vec<Document>> {
    let stdin = [PathBuf::from("-")];
    let inputs = if inputs.is_empty() {
        &stdin[..]
    } else {
        inputs
    };
    let mut documents = Vec::new();
    for input in inputs {
        if input.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the manifests from standard input")?;
            documents.extend(parse("-", &text, false));
        } else if input.is_dir() {
            let mut files = Vec::new();
            walk(input, &mut files, &mut Vec::new())?;
            if files.is_empty() {
                anyhow::bail!(
                    "no manifests (`*.yaml`, `*.yml`, `*.json`) in `{}`",
                    input.display()
                );
            }
            for file in files {
                documents.extend(read_file(&file)?);
            }
        } else {
            documents.extend(read_file(input)?);
        }
    }
    Ok(documents)
}

fn read_file(path: &Path) -> anyhow::Result<Vec<Document>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the manifest `{}`", path.display()))?;
    let json = path.extension().is_some_and(|e| e == "json");
    Ok(parse(&path.display().to_string(), &text, json))
}

/// Every manifest file under `dir`, in name order, folders included in that order. Links are
/// followed, each folder read once (`seen`: a link back to a folder above is no endless walk).
fn walk(dir: &Path, out: &mut Vec<PathBuf>, seen: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let real = std::fs::canonicalize(dir)
        .with_context(|| format!("cannot read the folder `{}`", dir.display()))?;
    if seen.contains(&real) {
        return Ok(());
    }
    seen.push(real);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the folder `{}`", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("cannot read the folder `{}`", dir.display()))?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out, seen)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// The objects of one file's text: JSON when `json` (a key given twice is an error, as the
/// webhook's reader has it), else YAML documents. Empty documents are passed over.
pub fn parse(file: &str, text: &str, json: bool) -> Vec<Document> {
    let origin = |document, item| Origin {
        file: file.to_owned(),
        document,
        item,
    };
    let values: Vec<Result<Value, String>> = if json {
        vec![yungui_policies::json::from_str(text).map_err(|e| format!("not JSON: {e}"))]
    } else {
        let mut values = Vec::new();
        for document in serde_norway::Deserializer::from_str(text) {
            // Through the YAML value, which refuses a key given twice as kubectl does (read
            // straight into JSON, the last would win).
            let value = serde_norway::Value::deserialize(document)
                .map_err(|e| format!("not YAML: {e}"))
                .and_then(|v| {
                    serde_json::to_value(v).map_err(|e| format!("not a Kubernetes object: {e}"))
                });
            match value {
                Ok(value) => values.push(Ok(value)),
                Err(why) => {
                    // The parser cannot find the next document after a syntax error.
                    let syntax = why.starts_with("not YAML") && !why.contains("duplicate");
                    values.push(Err(why));
                    if syntax {
                        break;
                    }
                }
            }
        }
        values
    };
    let mut out = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        let document = i + 1;
        match value {
            Ok(Value::Null) => {}
            Ok(value) if is_list(&value) => match value.get("items") {
                Some(Value::Array(items)) => {
                    for (j, item) in items.iter().enumerate() {
                        out.push(Document {
                            origin: origin(document, Some(j)),
                            object: object(item.clone()),
                        });
                    }
                }
                Some(Value::Null) | None => {}
                Some(_) => out.push(Document {
                    origin: origin(document, None),
                    object: Err("a List whose `items` is not a list".to_owned()),
                }),
            },
            Ok(value) => out.push(Document {
                origin: origin(document, None),
                object: object(value),
            }),
            Err(why) => out.push(Document {
                origin: origin(document, None),
                object: Err(why),
            }),
        }
    }
    out
}

/// `kind: List`, `kind: PodList`, …: a list of objects in `items`.
fn is_list(value: &Value) -> bool {
    value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && value.get("items").is_some()
}

/// The value as a Kubernetes object: a mapping with `apiVersion`, `kind` and a name.
fn object(value: Value) -> Result<Value, String> {
    let Value::Object(map) = &value else {
        return Err(format!(
            "not a Kubernetes object: a {}, not a mapping",
            type_name(&value)
        ));
    };
    for key in ["apiVersion", "kind"] {
        match map.get(key) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(_) => return Err(format!("not a Kubernetes object: `{key}` is not a name")),
            None => return Err(format!("not a Kubernetes object: no `{key}`")),
        }
    }
    let named = ["name", "generateName"].iter().any(|key| {
        value
            .pointer(&format!("/metadata/{key}"))
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty())
    });
    if !named {
        return Err("the object has no `metadata.name`".to_owned());
    }
    Ok(value)
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_linking_back_to_itself_is_read_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b.yaml"), "{kind: Pod}\n").unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("sub/loop")).unwrap();
        let docs = read(&[dir.path().to_owned()]).unwrap();
        let files: Vec<&str> = docs.iter().map(|d| d.origin.file.as_str()).collect();
        assert_eq!(files.len(), 2, "{files:?}");
        assert!(
            files[0].ends_with("a.yaml") && files[1].ends_with("b.yaml"),
            "{files:?}"
        );
    }

    #[test]
    fn documents_lists_and_errors_are_numbered() {
        let text = "# a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: p}}\n- {kind: Pod}\n---\n- 1\n";
        let docs = parse("m.yaml", text, false);
        let seen: Vec<(String, bool)> = docs
            .iter()
            .map(|d| (d.origin.to_string(), d.object.is_ok()))
            .collect();
        assert_eq!(
            seen,
            [
                // A comment before the first `---` is no document; an empty one is counted.
                ("m.yaml:1".to_owned(), true),
                ("m.yaml:3 items[0]".to_owned(), true),
                ("m.yaml:3 items[1]".to_owned(), false),
                ("m.yaml:4".to_owned(), false),
            ]
        );
        assert!(
            docs[2]
                .object
                .as_ref()
                .unwrap_err()
                .contains("no `apiVersion`")
        );
        assert!(
            docs[3]
                .object
                .as_ref()
                .unwrap_err()
                .contains("a list, not a mapping")
        );
    }

    #[test]
    fn helm_template_output_reads_document_by_document() {
        let text = "---\n# Source: shop/templates/service.yaml\napiVersion: v1\nkind: Service\nmetadata:\n  name: shop\n---\n# Source: shop/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\n";
        let docs = parse("-", text, false);
        let seen: Vec<String> = docs.iter().map(|d| d.origin.to_string()).collect();
        assert_eq!(seen, ["-:1", "-:2"]);
        assert_eq!(docs[1].object.as_ref().unwrap()["kind"], "Deployment");
    }

    #[test]
    fn a_syntax_error_and_a_key_twice_are_named() {
        let docs = parse("m.yaml", "a: [\n", false);
        assert!(docs[0].object.as_ref().unwrap_err().starts_with("not YAML"));
        let docs = parse(
            "m.json",
            r#"{"apiVersion": "v1", "kind": "Pod", "kind": "Pod"}"#,
            true,
        );
        assert!(docs[0].object.as_ref().unwrap_err().contains("duplicate"));
        let docs = parse("m.yaml", "kind: Pod\nkind: Pod\n---\nkind: Pod\n", false);
        assert!(
            docs[0].object.as_ref().unwrap_err().contains("duplicate"),
            "{docs:?}"
        );
        // The next document is still read.
        assert!(
            docs[1]
                .object
                .as_ref()
                .unwrap_err()
                .contains("no `apiVersion`")
        );
    }
}
