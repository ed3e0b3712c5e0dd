//! Policy components in OCI registries: `yungui push`, `pull`, `sign` and `verify`.
//!
//! A component is stored with the CNCF Wasm component OCI layout (a manifest whose config is
//! `application/vnd.wasm.config.v0+json` and whose one layer is `application/wasm`, via the
//! `oci-wasm` crate over `oci-client`), and its identity (policy digest, engine, controls) as
//! manifest annotations, so a registry browser shows which policy set a tag holds.
//!
//! Signatures ([`signature`]) are cosign-compatible key signatures: ECDSA P-256 over cosign's
//! simple-signing payload, stored under cosign's tag scheme (`sha256-<digest>.sig` in the same
//! repository), which works on registries without the referrers API.
//!
//! This crate may depend on the engine library (`yungui`, for a component's identity) and on
//! registry, crypto and serialisation crates; never on the server or CLI crates, and the engine
//! never depends on it.

#![deny(missing_docs)]

pub mod signature;

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use oci_wasm::{WasmClient, WasmConfig};
use sha2::{Digest as _, Sha256};

pub use signature::{SigningKey, VerifyingKey};

/// The manifest annotation holding the component's policy digest.
pub const ANNOTATION_POLICY_DIGEST: &str = "dev.yungui.policy-digest";
/// The manifest annotation holding the sha256 of the engine the component was built from.
pub const ANNOTATION_ENGINE_SHA256: &str = "dev.yungui.engine-sha256";
/// The manifest annotation holding the yungui version that built the component.
pub const ANNOTATION_BUILT_BY: &str = "dev.yungui.built-by";
/// The manifest annotation holding the component's control ids, comma-separated.
pub const ANNOTATION_CONTROLS: &str = "dev.yungui.controls";

/// What can go wrong talking to a registry or checking what it returned.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The reference does not parse.
    #[error(
        "`{reference}` is not an OCI reference (REGISTRY/REPOSITORY:TAG or @sha256:…): {reason}"
    )]
    BadReference {
        /// The reference as given.
        reference: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The file to push is not a component `yungui build` made.
    #[error("not a yungui policy component: {0}")]
    NotAComponent(String),
    /// The docker `config.json` could not be read or has no usable entry for the registry.
    #[error("registry credentials for `{registry}` from {config}: {reason}")]
    Credentials {
        /// The registry host.
        registry: String,
        /// Where the credentials were looked for.
        config: String,
        /// What is wrong.
        reason: String,
    },
    /// The reference names nothing in the registry.
    #[error("`{0}` is not in the registry")]
    NotFound(String),
    /// The registry answered with an error, or could not be reached.
    #[error("registry: {0}")]
    Registry(String),
    /// The registry returned something that is not a Wasm component artefact, or whose bytes do
    /// not match their digest.
    #[error("`{reference}` is not a Wasm component artefact: {reason}")]
    NotWasm {
        /// The reference pulled.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A key file could not be read or is not the expected kind of key.
    #[error("key {path}: {reason}")]
    Key {
        /// The key file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The artefact is not signed by the key: no signature, none that verifies, or a signature
    /// for another artefact. Callers refuse the artefact.
    #[error("`{reference}` is not verified: {reason}")]
    NotVerified {
        /// The reference checked.
        reference: String,
        /// Why it is not verified.
        reason: String,
    },
}

impl OciError {
    fn registry(err: OciDistributionError) -> Self {
        Self::Registry(err.to_string())
    }
}

/// Whether a registry error says the manifest or repository does not exist.
fn is_not_found(err: &OciDistributionError) -> bool {
    match err {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown
            )
        }),
        OciDistributionError::ServerError { code, .. } => *code == 404,
        _ => false,
    }
}

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Speak plain HTTP (a loopback test registry), not HTTPS.
    pub plain_http: bool,
    /// The docker `config.json` to take credentials from. Default: `$DOCKER_CONFIG/config.json`,
    /// else `~/.docker/config.json`; anonymous when there is none.
    pub docker_config: Option<PathBuf>,
}

/// A parsed OCI reference (`REGISTRY/REPOSITORY:TAG` or `REGISTRY/REPOSITORY@sha256:…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRef(Reference);

impl OciRef {
    /// Parses a reference.
    pub fn parse(reference: &str) -> Result<Self, OciError> {
        reference
            .parse::<Reference>()
            .map(Self)
            .map_err(|e| OciError::BadReference {
                reference: reference.to_owned(),
                reason: e.to_string(),
            })
    }

    /// The registry host (and port).
    pub fn registry(&self) -> &str {
        self.0.resolve_registry()
    }

    /// `REGISTRY/REPOSITORY`, as cosign's payload names an image.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.0.registry(), self.0.repository())
    }

    /// The same repository at a manifest digest.
    pub fn at_digest(&self, digest: &str) -> Self {
        Self(Reference::with_digest(
            self.0.registry().to_owned(),
            self.0.repository().to_owned(),
            digest.to_owned(),
        ))
    }

    /// The same repository at a tag.
    pub fn at_tag(&self, tag: &str) -> Self {
        Self(Reference::with_tag(
            self.0.registry().to_owned(),
            self.0.repository().to_owned(),
            tag.to_owned(),
        ))
    }

    /// The digest the reference pins, if it pins one.
    pub fn digest(&self) -> Option<&str> {
        self.0.digest()
    }
}

impl std::fmt::Display for OciRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.whole())
    }
}

/// A component pulled from a registry.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The component's bytes, checked against the layer digest.
    pub wasm: Vec<u8>,
    /// The manifest digest (`sha256:…`).
    pub digest: String,
    /// The manifest's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// The manifest annotations for a component: its identity section, as `yungui inspect` shows it.
pub fn annotations(wasm: &[u8]) -> Result<BTreeMap<String, String>, OciError> {
    let identity = yungui::builder::Identity::read(wasm)
        .map_err(|e| OciError::NotAComponent(e.to_string()))?
        .ok_or_else(|| {
            OciError::NotAComponent(format!(
                "it has no `{}` section (build it with `yungui build`)",
                yungui::builder::IDENTITY_SECTION
            ))
        })?;
    let controls: Vec<&str> = identity
        .controls
        .iter()
        .map(|c| c.control.as_str())
        .collect();
    Ok(BTreeMap::from([
        (ANNOTATION_POLICY_DIGEST.to_owned(), identity.policy_digest),
        (ANNOTATION_ENGINE_SHA256.to_owned(), identity.engine_sha256),
        (ANNOTATION_BUILT_BY.to_owned(), identity.built_by),
        (ANNOTATION_CONTROLS.to_owned(), controls.join(",")),
    ]))
}

/// A client of OCI registries.
pub struct Registry {
    client: Client,
    options: RegistryOptions,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// A client with these options.
    pub fn new(options: RegistryOptions) -> Self {
        let config = ClientConfig {
            protocol: if options.plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            ..ClientConfig::default()
        };
        Self {
            client: Client::new(config),
            options,
        }
    }

    /// The client, for the Wasm layout's calls.
    fn wasm(&self) -> WasmClient {
        WasmClient::new(self.client.clone())
    }

    /// The credentials for a registry: from the docker `config.json`, anonymous when there is no
    /// file or no entry for the registry.
    pub fn auth(&self, registry: &str) -> Result<RegistryAuth, OciError> {
        use docker_credential::{CredentialRetrievalError as E, DockerCredential};
        let (found, config) = match &self.options.docker_config {
            Some(path) => {
                let file = std::fs::File::open(path).map_err(|e| OciError::Credentials {
                    registry: registry.to_owned(),
                    config: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                (
                    docker_credential::get_credential_from_reader(file, registry),
                    path.display().to_string(),
                )
            }
            None => (
                docker_credential::get_credential(registry),
                "the docker config".to_owned(),
            ),
        };
        match found {
            Ok(DockerCredential::UsernamePassword(user, password)) => {
                Ok(RegistryAuth::Basic(user, password))
            }
            Ok(DockerCredential::IdentityToken(token)) => Ok(RegistryAuth::Bearer(token)),
            Err(E::NoCredentialConfigured | E::ConfigNotFound) => Ok(RegistryAuth::Anonymous),
            // No default config file: anonymous (an explicit file that cannot be read failed above).
            Err(E::ConfigReadError) if self.options.docker_config.is_none() => {
                Ok(RegistryAuth::Anonymous)
            }
            Err(e) => Err(OciError::Credentials {
                registry: registry.to_owned(),
                config,
                reason: e.to_string(),
            }),
        }
    }

    /// Pushes a component built by `yungui build` to `reference` (a tag); returns the manifest
    /// digest.
    pub async fn push(&self, reference: &OciRef, wasm: Vec<u8>) -> Result<String, OciError> {
        let annotations = annotations(&wasm)?;
        let (mut config, layer) = WasmConfig::from_raw_component(wasm, None)
            .map_err(|e| OciError::NotAComponent(format!("{e:#}")))?;
        // No push time: the same component always makes the same manifest, so its digest can be
        // pinned before it is pushed (and pushing it again changes nothing).
        config.created = chrono::DateTime::UNIX_EPOCH;
        let auth = self.auth(reference.registry())?;
        self.wasm()
            .push(&reference.0, &auth, layer, config, Some(annotations))
            .await
            .map_err(|e| OciError::Registry(format!("{e:#}")))?;
        self.client
            .fetch_manifest_digest(&reference.0, &auth)
            .await
            .map_err(OciError::registry)
    }

    /// The manifest digest a reference names now (`sha256:…`).
    pub async fn resolve(&self, reference: &OciRef) -> Result<String, OciError> {
        let auth = self.auth(reference.registry())?;
        self.client
            .fetch_manifest_digest(&reference.0, &auth)
            .await
            .map_err(|e| {
                if is_not_found(&e) {
                    OciError::NotFound(reference.to_string())
                } else {
                    OciError::registry(e)
                }
            })
    }

    /// Pulls a component: exactly one `application/wasm` layer under a Wasm config, its bytes
    /// checked against the layer digest (and the manifest against a pinned digest).
    pub async fn pull(&self, reference: &OciRef) -> Result<Pulled, OciError> {
        let auth = self.auth(reference.registry())?;
        let not_wasm = |reason: String| OciError::NotWasm {
            reference: reference.to_string(),
            reason,
        };
        let image =
            self.wasm()
                .pull(&reference.0, &auth)
                .await
                .map_err(|e| match e.downcast::<OciDistributionError>() {
                    Ok(e) if is_not_found(&e) => OciError::NotFound(reference.to_string()),
                    Ok(e) => OciError::registry(e),
                    Err(e) => not_wasm(format!("{e:#}")),
                })?;
        let manifest = image
            .manifest
            .ok_or_else(|| not_wasm("the registry returned no manifest".into()))?;
        let digest = image
            .digest
            .ok_or_else(|| not_wasm("the registry returned no manifest digest".into()))?;
        if let Some(pinned) = reference.digest()
            && pinned != digest
        {
            return Err(not_wasm(format!(
                "its manifest digest is {digest}, not the pinned {pinned}"
            )));
        }
        let (Some(layer), Some(descriptor)) = (image.layers.first(), manifest.layers.first())
        else {
            return Err(not_wasm("it has no layer".into()));
        };
        let actual = sha256_digest(&layer.data);
        if actual != descriptor.digest {
            return Err(not_wasm(format!(
                "its layer's bytes hash to {actual}, not the manifest's {}",
                descriptor.digest
            )));
        }
        Ok(Pulled {
            wasm: layer.data.to_vec(),
            digest,
            annotations: manifest.annotations.unwrap_or_default(),
        })
    }
}
