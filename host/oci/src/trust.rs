//! Which keys may sign which repositories: a bring-your-own trust policy.
//!
//! A file, JSON or YAML (JSON is YAML), listing repository prefixes and the public keys trusted
//! for each:
//!
//! ```yaml
//! repositories:
//!   - prefix: registry.example/platform/policies   # REGISTRY/REPOSITORY, or a folder of them
//!     keys:
//!       - keys/platform-2026.pub                    # a PEM file, relative to this file
//!       - |                                         # or the PEM itself
//!         -----BEGIN PUBLIC KEY-----
//!         ...
//!         -----END PUBLIC KEY-----
//! ```
//!
//! The longest prefix matching a repository decides (a prefix matches the repository itself and
//! everything below it, on `/` boundaries), so a team's folder can narrow its organisation's
//! keys. A repository no prefix matches has no trusted key: nothing from it verifies. Rotating a
//! key is adding the new key beside the old, re-signing, then removing the old one.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{OciError, VerifyingKey};

/// A trust policy: repository prefixes and their keys.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    prefix: String,
    keys: Vec<VerifyingKey>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    repositories: Vec<FileRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRule {
    prefix: String,
    keys: Vec<String>,
}

impl TrustPolicy {
    /// Every repository trusts these keys (`--verify-key`).
    pub fn any_repository(keys: Vec<VerifyingKey>) -> Self {
        Self {
            rules: vec![Rule {
                prefix: String::new(),
                keys,
            }],
        }
    }

    /// Reads a trust policy file (JSON or YAML).
    pub fn from_file(path: &Path) -> Result<Self, OciError> {
        let bad = |reason: String| OciError::TrustPolicy {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let file: File = serde_norway::from_str(&text).map_err(|e| bad(e.to_string()))?;
        if file.repositories.is_empty() {
            return Err(bad("`repositories` is empty: nothing would verify".into()));
        }
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut rules = Vec::new();
        for rule in file.repositories {
            let prefix = rule.prefix.trim_end_matches('/').to_owned();
            if prefix.is_empty() {
                return Err(bad(
                    "a prefix is empty: name a registry, e.g. `registry.example/platform`".into(),
                ));
            }
            if rule.keys.is_empty() {
                return Err(bad(format!("`{prefix}` lists no key")));
            }
            let mut keys = Vec::new();
            for key in &rule.keys {
                let key = if key.trim_start().starts_with("-----BEGIN") {
                    VerifyingKey::from_pem(key, &format!("an inline key of `{prefix}`"))
                } else {
                    VerifyingKey::from_pem_file(&resolve(&base, key))
                };
                keys.push(key.map_err(|e| bad(e.to_string()))?);
            }
            rules.push(Rule { prefix, keys });
        }
        Ok(Self { rules })
    }

    /// The keys trusted for `REGISTRY/REPOSITORY` (none when no prefix matches).
    pub fn keys_for(&self, repository: &str) -> &[VerifyingKey] {
        self.rules
            .iter()
            .filter(|rule| {
                rule.prefix.is_empty()
                    || repository == rule.prefix
                    || repository
                        .strip_prefix(&rule.prefix)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|rule| rule.prefix.len())
            .map_or(&[], |rule| rule.keys.as_slice())
    }
}

fn resolve(base: &Path, key: &str) -> PathBuf {
    let path = Path::new(key);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEWvXpR9WhnLT1YLXgBq2uqdLFlB3b
4O2HxR3bLe3kxC1rT2K7VCRtM5b6mZ0bX3oWnFq1r1iOgy8L3m0b3UqKzA==
-----END PUBLIC KEY-----
";

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("trust.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn the_longest_prefix_decides_on_slash_boundaries() {
        let key = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        let pem = {
            use p256::pkcs8::EncodePublicKey as _;
            key.verifying_key()
                .to_public_key_pem(p256::pkcs8::LineEnding::LF)
                .unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("team.pub"), &pem).unwrap();
        let indented: String = pem.lines().map(|l| format!("          {l}\n")).collect();
        let path = write(
            dir.path(),
            &format!(
                "repositories:\n  - prefix: reg.example/org\n    keys:\n      - |\n{indented}  - prefix: reg.example/org/team/\n    keys: [team.pub, team.pub]\n"
            ),
        );
        let policy = TrustPolicy::from_file(&path).unwrap();
        assert_eq!(policy.keys_for("reg.example/org/policies").len(), 1);
        assert_eq!(policy.keys_for("reg.example/org").len(), 1);
        assert_eq!(policy.keys_for("reg.example/org/team/policies").len(), 2);
        assert_eq!(policy.keys_for("reg.example/org/team").len(), 2);
        // Not a folder boundary, another registry: no key.
        assert!(policy.keys_for("reg.example/organisation/x").is_empty());
        assert!(policy.keys_for("other.example/org/x").is_empty());
    }

    #[test]
    fn json_is_read_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            r#"{"repositories": [{"prefix": "r/x", "keys": ["missing.pub"]}]}"#,
        );
        let err = TrustPolicy::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("missing.pub"), "{err}");
        let path = write(
            dir.path(),
            r#"{"repositories": [{"prefix": "r/x", "keys": []}]}"#,
        );
        let err = TrustPolicy::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("lists no key"), "{err}");
        let path = write(dir.path(), r#"{"repos": []}"#);
        let err = TrustPolicy::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("repos"), "{err}");
        let path = write(
            dir.path(),
            &format!(
                "repositories:\n  - prefix: r\n    keys:\n      - \"{}\"\n",
                PEM.replace('\n', "\\n").replace("MFkw", "XXXX")
            ),
        );
        assert!(TrustPolicy::from_file(&path).is_err());
    }
}
