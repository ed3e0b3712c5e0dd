//! Air-gapped sites: a verified artefact and its signature saved as an OCI image layout
//! (`oci-layout`, `index.json`, `blobs/sha256/…`, as `oras`, `skopeo` and `crane` read it), and
//! read back and verified offline against the saved signature.
//!
//! `index.json` lists the component's manifest (annotated with its tag as
//! `org.opencontainers.image.ref.name` and its repository as `dev.yungui.repository`, which the
//! signature names) and the signature manifest (`sha256-<hex>.sig`). Every blob is written under
//! its digest and checked against it when read.

use std::path::Path;

use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};
use serde_json::json;

use crate::signature::{signature_tag, verify_offline};
use crate::{OciError, OciRef, Registry, TrustPolicy, check_wasm_manifest, sha256_digest};

/// The index annotation naming a manifest's tag.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The index annotation naming the repository the artefact was pulled from.
pub const REPOSITORY: &str = "dev.yungui.repository";

fn layout_error(dir: &Path, reason: impl Into<String>) -> OciError {
    OciError::Layout {
        path: dir.display().to_string(),
        reason: reason.into(),
    }
}

fn write_blob(dir: &Path, data: &[u8]) -> Result<OciDescriptor, OciError> {
    let digest = sha256_digest(data);
    let hex = digest.trim_start_matches("sha256:");
    let path = dir.join("blobs").join("sha256").join(hex);
    std::fs::write(&path, data)
        .map_err(|e| layout_error(dir, format!("{}: {e}", path.display())))?;
    Ok(OciDescriptor {
        digest,
        size: i64::try_from(data.len()).unwrap_or(i64::MAX),
        media_type: OCI_IMAGE_MEDIA_TYPE.to_owned(),
        ..OciDescriptor::default()
    })
}

fn read_blob(dir: &Path, digest: &str) -> Result<Vec<u8>, OciError> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| layout_error(dir, format!("`{digest}` is not a sha256 digest")))?;
    let path = dir.join("blobs").join("sha256").join(hex);
    let data =
        std::fs::read(&path).map_err(|e| layout_error(dir, format!("{}: {e}", path.display())))?;
    if sha256_digest(&data) != digest {
        return Err(layout_error(
            dir,
            format!("{} does not hash to its name", path.display()),
        ));
    }
    Ok(data)
}

impl Registry {
    /// Pulls `reference`, verifies it against `trust`, and saves it with its signature as an
    /// OCI image layout in `dir` (created; an existing layout there is replaced). Returns the
    /// manifest digest.
    pub async fn save(
        &self,
        reference: &OciRef,
        trust: &TrustPolicy,
        dir: &Path,
    ) -> Result<String, OciError> {
        let verified = self
            .verify(reference, trust.keys_for(&reference.repository()))
            .await?;
        let pinned = reference.at_digest(&verified.digest);
        let pulled = self.pull(&pinned).await?;
        let (sig_manifest, sig_blobs) = self
            .signature_blobs(reference, &verified.digest)
            .await?
            .ok_or_else(|| OciError::NotVerified {
                reference: reference.to_string(),
                reason: "its signature went away while it was saved".into(),
            })?;
        let sig: OciImageManifest =
            serde_json::from_slice(&sig_manifest).map_err(|e| OciError::NotVerified {
                reference: reference.to_string(),
                reason: format!("its signature manifest does not parse: {e}"),
            })?;
        let sig_ref = reference.at_tag(&signature_tag(&verified.digest));
        let sig_config = self.blob(&sig_ref, &sig.config).await?;

        std::fs::create_dir_all(dir.join("blobs").join("sha256"))
            .map_err(|e| layout_error(dir, e.to_string()))?;
        let manifest = write_blob(dir, &pulled.manifest)?;
        write_blob(dir, &pulled.config)?;
        write_blob(dir, &pulled.wasm)?;
        let sig_manifest = write_blob(dir, &sig_manifest)?;
        write_blob(dir, &sig_config)?;
        for (_, data) in &sig_blobs {
            write_blob(dir, data)?;
        }
        let tag = reference
            .tag()
            .map_or_else(|| "latest".to_owned(), str::to_owned);
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": OCI_IMAGE_MEDIA_TYPE,
                    "digest": manifest.digest,
                    "size": manifest.size,
                    "annotations": {REF_NAME: tag, REPOSITORY: reference.repository()},
                },
                {
                    "mediaType": OCI_IMAGE_MEDIA_TYPE,
                    "digest": sig_manifest.digest,
                    "size": sig_manifest.size,
                    "annotations": {
                        REF_NAME: signature_tag(&verified.digest),
                        REPOSITORY: reference.repository(),
                    },
                },
            ],
        });
        let write = |name: &str, value: &serde_json::Value| {
            let text =
                serde_json::to_vec_pretty(value).map_err(|e| layout_error(dir, e.to_string()))?;
            std::fs::write(dir.join(name), text).map_err(|e| layout_error(dir, e.to_string()))
        };
        write("oci-layout", &json!({"imageLayoutVersion": "1.0.0"}))?;
        write("index.json", &index)?;
        Ok(verified.digest)
    }
}

/// An index entry's annotation.
fn annotation<'a>(entry: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    entry
        .get("annotations")
        .and_then(|a| a.get(name))
        .and_then(serde_json::Value::as_str)
}

/// A component read from an OCI image layout and verified offline.
#[derive(Debug, Clone)]
pub struct FromLayout {
    /// The manifest digest.
    pub digest: String,
    /// The repository it was saved from (what its signature names).
    pub repository: String,
    /// The component's bytes.
    pub wasm: Vec<u8>,
}

/// Reads the component tagged `tag` (or the only component) from the layout in `dir`, and
/// verifies its saved signature against `trust` offline: every blob is checked against its
/// digest; nothing is returned unverified.
pub fn read_layout(
    dir: &Path,
    tag: Option<&str>,
    trust: &TrustPolicy,
) -> Result<FromLayout, OciError> {
    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("index.json"))
            .map_err(|e| layout_error(dir, format!("index.json: {e}")))?,
    )
    .map_err(|e| layout_error(dir, format!("index.json: {e}")))?;
    let entries = index
        .get("manifests")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| layout_error(dir, "index.json lists no manifests"))?;
    let name = |entry: &serde_json::Value| annotation(entry, REF_NAME).map(str::to_owned);
    let components: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| name(e).is_some_and(|n| !n.ends_with(".sig")))
        .filter(|e| tag.is_none_or(|t| name(e).as_deref() == Some(t)))
        .collect();
    let [entry] = components.as_slice() else {
        return Err(layout_error(
            dir,
            match tag {
                Some(tag) => format!("{} components are tagged `{tag}`", components.len()),
                None => format!(
                    "{} components: name one (oci-layout://DIR:TAG)",
                    components.len()
                ),
            },
        ));
    };
    let digest = entry
        .get("digest")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| layout_error(dir, "a manifest entry has no digest"))?
        .to_owned();
    let repository = annotation(entry, REPOSITORY)
        .ok_or_else(|| {
            layout_error(
                dir,
                format!("the entry of {digest} does not name its repository (`{REPOSITORY}`)"),
            )
        })?
        .to_owned();
    let reference = OciRef::parse(&format!("{repository}@{digest}"))?;
    let manifest: OciImageManifest = serde_json::from_slice(&read_blob(dir, &digest)?)
        .map_err(|e| layout_error(dir, format!("{digest}: {e}")))?;
    check_wasm_manifest(&manifest).map_err(|reason| layout_error(dir, reason))?;

    // The signature, verified before the component's bytes are even read.
    let sig_name = signature_tag(&digest);
    let sig_entry = entries
        .iter()
        .find(|e| name(e).as_deref() == Some(sig_name.as_str()))
        .ok_or_else(|| OciError::NotVerified {
            reference: reference.to_string(),
            reason: format!("{digest} has no signature in the layout (no `{sig_name}`)"),
        })?;
    let sig_digest = sig_entry
        .get("digest")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| layout_error(dir, "the signature entry has no digest"))?;
    let sig: OciImageManifest = serde_json::from_slice(&read_blob(dir, sig_digest)?)
        .map_err(|e| layout_error(dir, format!("{sig_digest}: {e}")))?;
    let mut payloads = Vec::new();
    for layer in sig.layers {
        let data = read_blob(dir, &layer.digest)?;
        payloads.push((layer, data));
    }
    verify_offline(&reference, &digest, trust.keys_for(&repository), &payloads)?;

    let layer = manifest
        .layers
        .first()
        .ok_or_else(|| layout_error(dir, "the manifest has no layer"))?;
    let wasm = read_blob(dir, &layer.digest)?;
    Ok(FromLayout {
        digest,
        repository,
        wasm,
    })
}
