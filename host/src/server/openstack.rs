//! OpenStack: oslo.policy's `http:` check at `/openstack`.

use axum::Router;

use super::AppState;

/// Settings of the OpenStack front end.
#[derive(Debug, Clone, clap::Args)]
pub struct OpenStackArgs {
    /// The region for requests whose availability zone the zone map does not name.
    #[arg(long, env = "YUNGUI_OPENSTACK_REGION", default_value = "cn-north-1")]
    pub openstack_region: String,
}

/// The OpenStack front end's configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The default region.
    pub region: String,
}

impl Config {
    /// From the command line.
    pub fn from_args(args: &OpenStackArgs) -> anyhow::Result<Self> {
        Ok(Self {
            region: args.openstack_region.clone(),
        })
    }
}

/// The oslo.policy routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
