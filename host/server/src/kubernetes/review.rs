//! Reading the review: an AdmissionReview v1 with its request, or an error that names what is
//! wrong (HTTP 400).

use kube_core::DynamicObject;
use kube_core::admission::{AdmissionRequest, AdmissionReview, META_API_VERSION_V1, META_KIND};

/// Why a body is not a review yungui can read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReviewError {
    /// Not JSON, a key given twice, or not the shape of an AdmissionReview.
    #[error("the body is not an AdmissionReview: {0}")]
    NotAReview(serde_json::Error),
    /// Another version of the review (`admission.k8s.io/v1beta1`), or another kind.
    #[error(
        "expected `kind: {META_KIND}` of `apiVersion: {META_API_VERSION_V1}`, got `kind: {kind}` of `apiVersion: {api_version}`: set `admissionReviewVersions: [v1]` in the webhook configuration"
    )]
    Version {
        /// The body's `kind`.
        kind: String,
        /// The body's `apiVersion`.
        api_version: String,
    },
    /// A review with no `request`.
    #[error("the AdmissionReview has no `request`")]
    NoRequest,
    /// A request whose `uid` is empty: its answer could not be matched to it.
    #[error("the AdmissionReview's `request.uid` is empty")]
    NoUid,
}

/// Reads an AdmissionReview v1 with its request.
pub fn parse(body: &[u8]) -> Result<AdmissionRequest<DynamicObject>, ReviewError> {
    // Duplicate keys (`"privileged": true, "privileged": false`) would read as the last one.
    yungui_policies::json::check(body).map_err(ReviewError::NotAReview)?;
    let review: AdmissionReview<DynamicObject> =
        serde_json::from_slice(body).map_err(ReviewError::NotAReview)?;
    if review.types.api_version != META_API_VERSION_V1 || review.types.kind != META_KIND {
        return Err(ReviewError::Version {
            kind: review.types.kind,
            api_version: review.types.api_version,
        });
    }
    let request: AdmissionRequest<DynamicObject> =
        review.try_into().map_err(|_| ReviewError::NoRequest)?;
    if request.uid.is_empty() {
        return Err(ReviewError::NoUid);
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_what_is_wrong() {
        assert!(
            parse(b"{")
                .unwrap_err()
                .to_string()
                .contains("not an AdmissionReview")
        );
        let v1beta1 = br#"{"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}"#;
        assert!(
            parse(v1beta1)
                .unwrap_err()
                .to_string()
                .contains("admissionReviewVersions")
        );
        let empty = br#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}"#;
        assert!(
            parse(empty)
                .unwrap_err()
                .to_string()
                .contains("no `request`")
        );
        let twice = br#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"object": {"spec": {"hostNetwork": true, "hostNetwork": false}}}}"#;
        assert!(
            parse(twice)
                .unwrap_err()
                .to_string()
                .contains("duplicate key `hostNetwork`")
        );
    }
}
