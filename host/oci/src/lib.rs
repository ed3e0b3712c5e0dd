//! Policy components in OCI registries: `yungui push`, `pull`, `sign` and `verify`.
//!
//! A component is stored with the CNCF Wasm component OCI layout (a manifest whose config is
//! `application/vnd.wasm.config.v0+json` and whose one layer is `application/wasm`, written here
//! over `oci-client`: see [`WasmConfig`]), and its identity (policy digest, engine, controls) as
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

mod cosign_key;
pub mod layout;
pub mod signature;
pub mod trust;

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use signature::{SigningKey, Verified, VerifyingKey, verify_offline};
pub use trust::TrustPolicy;

/// The manifest annotation holding the component's policy digest.
pub const ANNOTATION_POLICY_DIGEST: &str = "dev.yungui.policy-digest";
/// The manifest annotation holding the sha256 of the engine the component was built from.
pub const ANNOTATION_ENGINE_SHA256: &str = "dev.yungui.engine-sha256";
/// The manifest annotation holding the yungui version that built the component.
pub const ANNOTATION_BUILT_BY: &str = "dev.yungui.built-by";
/// The manifest annotation holding the component's control ids, comma-separated.
pub const ANNOTATION_CONTROLS: &str = "dev.yungui.controls";

/// The media type of the Wasm OCI artefact's config.
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The media type of the Wasm OCI artefact's one layer.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// The world a yungui policy component targets, when it exports the decide interface.
const PLUGIN_WORLD: &str = "yungui:policy/plugin@0.2.0";
/// The interface a policy component exports.
const DECIDE_INTERFACE: &str = "yungui:policy/decide@0.2.0";
/// The config's `created`: no push time, so one component always makes one manifest digest.
const CREATED: &str = "1970-01-01T00:00:00Z";

/// The config of the CNCF Wasm OCI artefact layout (`application/vnd.wasm.config.v0+json`):
/// `created`, `architecture` (`wasm`), `os` (`wasip2` for a component) and `layerDigests` are
/// required; `author` and `component` (its top-level `exports`, `imports`, and the `target`
/// world) optional. The field order is the one `wkg` and the `oci-wasm` crate write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// RFC 3339 time; yungui writes the Unix epoch (a reproducible digest).
    pub created: String,
    /// Who made it; yungui writes none.
    #[serde(default)]
    pub author: Option<String>,
    /// Always `wasm`.
    pub architecture: String,
    /// `wasip2` for a component.
    pub os: String,
    /// The layers' digests, in order.
    pub layer_digests: Vec<String>,
    /// What the component imports and exports.
    #[serde(default)]
    pub component: Option<WasmComponent>,
}

/// The `component` part of a [`WasmConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WasmComponent {
    /// Top-level export names.
    pub exports: Vec<String>,
    /// Top-level import names.
    pub imports: Vec<String>,
    /// The world it targets, when known.
    #[serde(default)]
    pub target: Option<String>,
}

impl WasmConfig {
    /// The config for a component's bytes, from its top-level imports and exports (read with
    /// the engine's `wasmparser` outline: no WIT decoding).
    pub fn for_component(wasm: &[u8]) -> Result<Self, OciError> {
        let outline = yungui::builder::Outline::read(wasm)
            .map_err(|e| OciError::NotAComponent(e.to_string()))?;
        let target = outline
            .exports
            .iter()
            .any(|e| e == DECIDE_INTERFACE)
            .then(|| PLUGIN_WORLD.to_owned());
        Ok(Self {
            created: CREATED.to_owned(),
            author: None,
            architecture: "wasm".to_owned(),
            os: "wasip2".to_owned(),
            layer_digests: vec![sha256_digest(wasm)],
            component: Some(WasmComponent {
                exports: outline.exports,
                imports: outline.imports,
                target,
            }),
        })
    }
}

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
    /// An OCI image layout could not be written or read, or is not one yungui saved.
    #[error("OCI layout {path}: {reason}")]
    Layout {
        /// The layout's folder.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A trust policy file could not be read or is not valid.
    #[error("trust policy {path}: {reason}")]
    TrustPolicy {
        /// The file.
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

    /// The tag the reference names, if it names one.
    pub fn tag(&self) -> Option<&str> {
        self.0.tag()
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
    /// The manifest as the registry served it (its sha256 is `digest`).
    pub manifest: Vec<u8>,
    /// The config blob.
    pub config: Vec<u8>,
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
        // The HTTPS client is rustls with the `ring` provider (the one the server's TLS uses);
        // reqwest takes the process default. Already installed (by the server): nothing to do.
        let _ = rustls::crypto::ring::default_provider().install_default();
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
        let config = WasmConfig::for_component(&wasm)?;
        let config = serde_json::to_vec(&config)
            .map_err(|e| OciError::Registry(format!("cannot encode the config: {e}")))?;
        let config = Config::new(config, WASM_CONFIG_MEDIA_TYPE.to_owned(), None);
        let layers = [ImageLayer::new(
            wasm,
            WASM_LAYER_MEDIA_TYPE.to_owned(),
            None,
        )];
        let mut manifest = OciImageManifest::build(&layers, &config, Some(annotations));
        manifest.media_type = Some(OCI_IMAGE_MEDIA_TYPE.to_owned());
        let auth = self.auth(reference.registry())?;
        self.client
            .push(&reference.0, &layers, config, &auth, Some(manifest))
            .await
            .map_err(OciError::registry)?;
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

    /// A manifest's bytes as served and its digest, checked: the bytes hash to the digest, and
    /// to the pinned one when the reference pins one.
    pub(crate) async fn manifest(
        &self,
        reference: &OciRef,
    ) -> Result<(Vec<u8>, String, OciImageManifest), OciError> {
        let auth = self.auth(reference.registry())?;
        let (bytes, digest) = self
            .client
            .pull_manifest_raw(&reference.0, &auth, &[OCI_IMAGE_MEDIA_TYPE])
            .await
            .map_err(|e| {
                if is_not_found(&e) {
                    OciError::NotFound(reference.to_string())
                } else {
                    OciError::registry(e)
                }
            })?;
        let bytes = bytes.to_vec();
        let actual = sha256_digest(&bytes);
        let pinned = reference.digest().unwrap_or(&digest);
        if actual != digest || actual != pinned {
            return Err(OciError::NotWasm {
                reference: reference.to_string(),
                reason: format!("its manifest hashes to {actual}, not {pinned}"),
            });
        }
        let manifest: OciImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| OciError::NotWasm {
                reference: reference.to_string(),
                reason: format!("its manifest is not an OCI image manifest: {e}"),
            })?;
        Ok((bytes, actual, manifest))
    }

    /// A blob, checked against its descriptor's digest.
    pub(crate) async fn blob(
        &self,
        reference: &OciRef,
        descriptor: &OciDescriptor,
    ) -> Result<Vec<u8>, OciError> {
        let mut data = Vec::new();
        self.client
            .pull_blob(&reference.0, descriptor, &mut data)
            .await
            .map_err(OciError::registry)?;
        let actual = sha256_digest(&data);
        if actual != descriptor.digest {
            return Err(OciError::NotWasm {
                reference: reference.to_string(),
                reason: format!(
                    "a blob hashes to {actual}, not its descriptor's {}",
                    descriptor.digest
                ),
            });
        }
        Ok(data)
    }

    /// Pulls a component: a Wasm config and exactly one `application/wasm` layer, every byte
    /// checked against its digest (and the manifest against a pinned digest).
    pub async fn pull(&self, reference: &OciRef) -> Result<Pulled, OciError> {
        let (bytes, digest, manifest) = self.manifest(reference).await?;
        check_wasm_manifest(&manifest).map_err(|reason| OciError::NotWasm {
            reference: reference.to_string(),
            reason,
        })?;
        let config = self.blob(reference, &manifest.config).await?;
        let Some(layer) = manifest.layers.first() else {
            return Err(OciError::NotWasm {
                reference: reference.to_string(),
                reason: "it has no layer".into(),
            });
        };
        let wasm = self.blob(reference, layer).await?;
        Ok(Pulled {
            wasm,
            digest,
            annotations: manifest.annotations.unwrap_or_default(),
            manifest: bytes,
            config,
        })
    }
}

/// Checks that a manifest is a Wasm component artefact: the Wasm config and exactly one
/// `application/wasm` layer; the reason it is not, if it is not.
pub fn check_wasm_manifest(manifest: &OciImageManifest) -> Result<(), String> {
    if manifest.config.media_type != WASM_CONFIG_MEDIA_TYPE {
        return Err(format!(
            "its config is `{}`, not `{WASM_CONFIG_MEDIA_TYPE}`",
            manifest.config.media_type
        ));
    }
    match manifest.layers.as_slice() {
        [layer] if layer.media_type == WASM_LAYER_MEDIA_TYPE => Ok(()),
        [layer] => Err(format!(
            "its layer is `{}`, not `{WASM_LAYER_MEDIA_TYPE}`",
            layer.media_type
        )),
        layers => Err(format!(
            "it has {} layers, a Wasm component artefact has one",
            layers.len()
        )),
    }
}
