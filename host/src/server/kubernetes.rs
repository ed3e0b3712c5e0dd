//! Kubernetes admission: AdmissionReview v1 at `/validate`.

use axum::Router;

use super::AppState;

/// Settings of the Kubernetes front end.
#[derive(Debug, Clone, clap::Args)]
pub struct KubernetesArgs {
    /// The region of the cluster, for pods without a `topology.kubernetes.io/region` node selector.
    #[arg(long, env = "YUNGUI_CLUSTER_REGION", default_value = "cn-north-1")]
    pub cluster_region: String,
}

/// The Kubernetes front end's configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The cluster's region.
    pub cluster_region: String,
}

impl Config {
    /// From the command line.
    pub fn from_args(args: &KubernetesArgs) -> anyhow::Result<Self> {
        Ok(Self {
            cluster_region: args.cluster_region.clone(),
        })
    }
}

/// The admission routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
