//! Cosign-compatible key signatures on components in a registry.
//!
//! What `cosign sign --key` writes and `cosign verify --key` reads, without the transparency
//! log: the manifest digest goes into cosign's simple-signing payload
//! (`{"critical":{"identity":{"docker-reference":…},"image":{"docker-manifest-digest":…},
//! "type":"cosign container image signature"},"optional":null}`), the payload is signed with
//! ECDSA P-256 over SHA-256 (ASN.1 DER, base64 in the layer's
//! `dev.cosignproject.cosign/signature` annotation), and the payload is a layer of type
//! `application/vnd.dev.cosign.simplesigning.v1+json` in the manifest tagged
//! `sha256-<hex>.sig` beside the signed one. Signing again adds a layer (several signers, or a
//! new key), as cosign does.
//!
//! The ECDSA is the `p256` crate's (RustCrypto): the `sigstore` crate's cosign client does the
//! same over the same crates plus the Fulcio/Rekor clients keyless signing needs, which cannot be
//! reached here. Private keys are PKCS#8 PEM as `openssl` writes them, or cosign's own encrypted
//! `cosign.key` (scrypt, then NaCl secretbox, with the password in `$COSIGN_PASSWORD` as cosign
//! reads it; the `scrypt` and `crypto_secretbox` crates, RustCrypto); public keys are PEM as
//! `openssl` and `cosign.pub` have them. Keyless (Fulcio certificates, Rekor entries) is not
//! implemented.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use oci_client::client::{Config, ImageLayer};
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use serde::{Deserialize, Serialize};

pub use crate::cosign_key::{COSIGN_KEY_LABELS, COSIGN_PASSWORD_VAR};
use crate::{OciError, OciRef, Registry, is_not_found, sha256_digest};

/// The media type of a simple-signing payload layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The `type` of a cosign image signature payload.
pub const COSIGN_SIGNATURE_TYPE: &str = "cosign container image signature";
const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";

/// A private key that signs: ECDSA P-256.
#[derive(Debug, Clone)]
pub struct SigningKey(p256::ecdsa::SigningKey);

/// A public key that verifies: ECDSA P-256.
#[derive(Debug, Clone)]
pub struct VerifyingKey(p256::ecdsa::VerifyingKey);

fn read_pem(path: &Path) -> Result<String, OciError> {
    std::fs::read_to_string(path).map_err(|e| OciError::Key {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

impl SigningKey {
    /// Reads a private key file: PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), e.g. from
    /// `openssl ecparam -genkey -name prime256v1 | openssl pkcs8 -topk8 -nocrypt`, or cosign's
    /// encrypted `cosign.key` (see [`SigningKey::from_cosign_pem`]) with its password in
    /// `$COSIGN_PASSWORD` (set and empty for a key without one), as cosign reads it.
    pub fn from_pem_file(path: &Path) -> Result<Self, OciError> {
        let pem = read_pem(path)?;
        let name = path.display().to_string();
        let label = pem_rfc7468::decode_label(pem.trim().as_bytes()).unwrap_or_default();
        if COSIGN_KEY_LABELS.contains(&label) {
            let password = std::env::var_os(COSIGN_PASSWORD_VAR).ok_or_else(|| OciError::Key {
                path: name.clone(),
                reason: format!(
                    "a cosign encrypted key: its password goes in `${COSIGN_PASSWORD_VAR}` \
                     (set it empty for a key without one)"
                ),
            })?;
            return Self::from_cosign_pem(&pem, password.as_encoded_bytes(), &name);
        }
        p256::ecdsa::SigningKey::from_pkcs8_pem(&pem)
            .map(Self)
            .map_err(|e| OciError::Key {
                path: name,
                reason: format!(
                    "not an unencrypted PKCS#8 PEM ECDSA P-256 private key nor a cosign \
                     encrypted key: {e}"
                ),
            })
    }

    /// Reads cosign's encrypted private key (what `cosign generate-key-pair` writes to
    /// `cosign.key`): PEM `ENCRYPTED SIGSTORE PRIVATE KEY` (or the older `ENCRYPTED COSIGN
    /// PRIVATE KEY`) around JSON naming the key derivation (`scrypt`, with its `N`, `r`, `p` and
    /// salt) and the cipher (`nacl/secretbox`, XSalsa20-Poly1305, with its nonce); the plaintext
    /// is a PKCS#8 DER ECDSA P-256 key. `name` says where the key came from, for errors.
    pub fn from_cosign_pem(pem: &str, password: &[u8], name: &str) -> Result<Self, OciError> {
        crate::cosign_key::decrypt(pem, password, name).map(Self)
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(*self.0.verifying_key())
    }
}

impl VerifyingKey {
    /// Reads a PEM public key (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo), as
    /// `openssl pkey -pubout` and `cosign generate-key-pair` write it.
    pub fn from_pem_file(path: &Path) -> Result<Self, OciError> {
        Self::from_pem(&read_pem(path)?, &path.display().to_string())
    }

    /// Reads a PEM public key from text; `name` says where it came from, for errors.
    pub fn from_pem(pem: &str, name: &str) -> Result<Self, OciError> {
        p256::ecdsa::VerifyingKey::from_public_key_pem(pem.trim())
            .map(Self)
            .map_err(|e| OciError::Key {
                path: name.to_owned(),
                reason: format!("not a PEM ECDSA P-256 public key: {e}"),
            })
    }
}

/// Cosign's simple-signing payload.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    critical: Critical,
    optional: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Critical {
    identity: Identity,
    image: Image,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Image {
    #[serde(rename = "docker-manifest-digest")]
    docker_manifest_digest: String,
}

/// The tag cosign keeps a manifest's signatures under: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// What `verify` found.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The manifest digest that is signed (`sha256:…`).
    pub digest: String,
    /// Where the signature is (`REGISTRY/REPOSITORY:sha256-….sig`).
    pub signature: String,
}

impl Registry {
    /// The signature manifest of a digest, if there is one.
    async fn signatures(
        &self,
        reference: &OciRef,
        digest: &str,
    ) -> Result<(OciRef, Option<OciImageManifest>), OciError> {
        let sig_ref = reference.at_tag(&signature_tag(digest));
        let auth = self.auth(reference.registry())?;
        match self.client.pull_image_manifest(&sig_ref.0, &auth).await {
            Ok((manifest, _)) => Ok((sig_ref, Some(manifest))),
            Err(e) if is_not_found(&e) => Ok((sig_ref, None)),
            Err(e) => Err(OciError::registry(e)),
        }
    }

    /// Signs the manifest `reference` names (a tag is resolved to its digest first, and the
    /// digest is what is signed); returns the signature's reference.
    pub async fn sign(&self, reference: &OciRef, key: &SigningKey) -> Result<Verified, OciError> {
        let digest = self.resolve(reference).await?;
        let payload = serde_json::to_vec(&Payload {
            critical: Critical {
                identity: Identity {
                    docker_reference: reference.repository(),
                },
                image: Image {
                    docker_manifest_digest: digest.clone(),
                },
                kind: COSIGN_SIGNATURE_TYPE.to_owned(),
            },
            optional: None,
        })
        .map_err(|e| OciError::Registry(format!("cannot encode the payload: {e}")))?;
        let signature: p256::ecdsa::Signature = key.0.sign(&payload);
        let signature =
            base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes());
        let layer = ImageLayer::new(
            payload,
            SIMPLE_SIGNING_MEDIA_TYPE.to_owned(),
            Some(BTreeMap::from([(
                SIGNATURE_ANNOTATION.to_owned(),
                signature,
            )])),
        );
        let new = OciDescriptor {
            media_type: layer.media_type.clone(),
            digest: layer.sha256_digest(),
            size: i64::try_from(layer.data.len()).unwrap_or(i64::MAX),
            annotations: layer.annotations.clone(),
            ..OciDescriptor::default()
        };
        let (sig_ref, existing) = self.signatures(reference, &digest).await?;
        // Earlier signatures stay (another signer's, an older key's); the same one is not doubled.
        let mut layers: Vec<OciDescriptor> = existing
            .map(|m| m.layers)
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.digest != new.digest || l.annotations != new.annotations)
            .collect();
        layers.push(new);
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {
                "type": "layers",
                "diff_ids": layers.iter().map(|l| &l.digest).collect::<Vec<_>>(),
            },
        }))
        .map_err(|e| OciError::Registry(format!("cannot encode the config: {e}")))?;
        let config = Config::new(config, OCI_CONFIG_MEDIA_TYPE.to_owned(), None);
        let manifest = OciImageManifest {
            media_type: Some(OCI_MANIFEST_MEDIA_TYPE.to_owned()),
            config: OciDescriptor {
                media_type: config.media_type.clone(),
                digest: sha256_digest(&config.data),
                size: i64::try_from(config.data.len()).unwrap_or(i64::MAX),
                ..OciDescriptor::default()
            },
            layers,
            ..OciImageManifest::default()
        };
        let auth = self.auth(reference.registry())?;
        self.client
            .push(&sig_ref.0, &[layer], config, &auth, Some(manifest))
            .await
            .map_err(OciError::registry)?;
        Ok(Verified {
            digest,
            signature: sig_ref.to_string(),
        })
    }

    /// Verifies that the manifest `reference` names is signed by one of `keys`: some layer of its
    /// `sha256-<hex>.sig` manifest is a simple-signing payload naming this repository and this
    /// digest, with a signature by one of the keys over it. Anything else is
    /// [`OciError::NotVerified`].
    pub async fn verify(
        &self,
        reference: &OciRef,
        keys: &[VerifyingKey],
    ) -> Result<Verified, OciError> {
        let digest = self.resolve(reference).await?;
        if let Some(pinned) = reference.digest()
            && pinned != digest
        {
            return Err(OciError::NotVerified {
                reference: reference.to_string(),
                reason: format!("the registry serves {digest} for it"),
            });
        }
        let (sig_ref, manifest) = self.signatures(reference, &digest).await?;
        let manifest = manifest.ok_or_else(|| OciError::NotVerified {
            reference: reference.to_string(),
            reason: format!("{digest} has no signature (no `{sig_ref}` in the registry)"),
        })?;
        let mut payloads = Vec::new();
        for layer in manifest
            .layers
            .iter()
            .filter(|l| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE)
        {
            let mut payload = Vec::new();
            self.client
                .pull_blob(&reference.0, layer, &mut payload)
                .await
                .map_err(OciError::registry)?;
            payloads.push((layer.clone(), payload));
        }
        verify_offline(reference, &digest, keys, &payloads)?;
        Ok(Verified {
            digest,
            signature: sig_ref.to_string(),
        })
    }

    /// The signature manifest (as served) and its payloads, for saving beside the artefact.
    pub async fn signature_blobs(
        &self,
        reference: &OciRef,
        digest: &str,
    ) -> Result<Option<(Vec<u8>, Vec<(OciDescriptor, Vec<u8>)>)>, OciError> {
        let sig_ref = reference.at_tag(&signature_tag(digest));
        let (bytes, _, manifest) = match self.manifest(&sig_ref).await {
            Ok(found) => found,
            Err(OciError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut blobs = Vec::new();
        for layer in manifest.layers {
            let data = self.blob(&sig_ref, &layer).await?;
            blobs.push((layer, data));
        }
        Ok(Some((bytes, blobs)))
    }
}

/// Verifies signature payloads already fetched (from a registry, or an OCI layout saved for an
/// air-gapped site): one of them must be a simple-signing payload for `reference`'s repository
/// and `digest`, whose bytes match its descriptor and carry a signature by one of `keys`.
pub fn verify_offline(
    reference: &OciRef,
    digest: &str,
    keys: &[VerifyingKey],
    payloads: &[(OciDescriptor, Vec<u8>)],
) -> Result<(), OciError> {
    let mut reasons = Vec::new();
    if keys.is_empty() {
        reasons.push("no key may sign this repository".to_owned());
    }
    for (layer, payload) in payloads
        .iter()
        .filter(|(l, _)| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE)
    {
        for key in keys {
            match check(reference, digest, key, layer, payload) {
                Ok(()) => return Ok(()),
                Err(reason) => reasons.push(reason),
            }
        }
    }
    if payloads.is_empty() {
        reasons.push("the signature manifest holds no simple-signing payload".into());
    }
    reasons.dedup();
    Err(OciError::NotVerified {
        reference: reference.to_string(),
        reason: reasons.join("; "),
    })
}

/// Checks one signature layer against one key; the reason it does not verify, if it does not.
fn check(
    reference: &OciRef,
    digest: &str,
    key: &VerifyingKey,
    layer: &OciDescriptor,
    payload: &[u8],
) -> Result<(), String> {
    let signature = layer
        .annotations
        .as_ref()
        .and_then(|a| a.get(SIGNATURE_ANNOTATION))
        .ok_or_else(|| format!("a payload has no `{SIGNATURE_ANNOTATION}` annotation"))?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature)
        .map_err(|e| format!("a signature is not base64: {e}"))?;
    let signature = p256::ecdsa::Signature::from_der(&signature)
        .map_err(|e| format!("a signature is not an ECDSA P-256 DER signature: {e}"))?;
    if sha256_digest(payload) != layer.digest {
        return Err("a payload does not match its digest".into());
    }
    key.0
        .verify(payload, &signature)
        .map_err(|_| "no signature is by a trusted key".to_owned())?;
    let payload: Payload = serde_json::from_slice(payload)
        .map_err(|e| format!("a signed payload is not cosign's simple signing: {e}"))?;
    if payload.critical.kind != COSIGN_SIGNATURE_TYPE {
        return Err(format!(
            "a signed payload is of type `{}`",
            payload.critical.kind
        ));
    }
    if payload.critical.image.docker_manifest_digest != digest {
        return Err(format!(
            "a signature by a trusted key is for {}, not {digest}",
            payload.critical.image.docker_manifest_digest
        ));
    }
    if payload.critical.identity.docker_reference != reference.repository() {
        return Err(format!(
            "a signature by a trusted key is for the repository `{}`, not `{}`",
            payload.critical.identity.docker_reference,
            reference.repository()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_tag_is_cosigns() {
        assert_eq!(signature_tag("sha256:abc"), "sha256-abc.sig");
    }

    #[test]
    fn payload_is_cosigns_simple_signing() {
        let payload = Payload {
            critical: Critical {
                identity: Identity {
                    docker_reference: "127.0.0.1:5000/policies".into(),
                },
                image: Image {
                    docker_manifest_digest: "sha256:abc".into(),
                },
                kind: COSIGN_SIGNATURE_TYPE.into(),
            },
            optional: None,
        };
        assert_eq!(
            serde_json::to_string(&payload).unwrap(),
            r#"{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/policies"},"image":{"docker-manifest-digest":"sha256:abc"},"type":"cosign container image signature"},"optional":null}"#
        );
    }
}
