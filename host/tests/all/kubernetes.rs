//! Kubernetes admission over HTTPS: AdmissionReview v1 fixtures rendered by kubectl.
