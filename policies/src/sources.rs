//! Reading the policy folder: the schema and the `.cedar` files, and the digest naming them.

use std::path::{Path, PathBuf};

use crate::{Compiled, Problems, SCHEMA_FILE, Validate, compile};

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
    /// [`compile()`] over these files.
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
