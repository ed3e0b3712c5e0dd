//! `yungui serve`: the HTTPS server (raw API, Kubernetes admission, OpenStack checks).

use std::time::Duration;

use clap::Args;

use crate::server::{ServeArgs, start};

/// Serve decisions over HTTPS.
#[derive(Debug, Args)]
pub struct ServeCommand {
    #[command(flatten)]
    pub args: ServeArgs,
}

impl ServeCommand {
    /// Runs until SIGINT or SIGTERM, then drains requests in flight.
    pub fn execute(self) -> anyhow::Result<u8> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let running = start(&self.args).await?;
            tracing::info!(addr = %running.addr, "listening");
            // For scripts reading plain logs, whatever the filter; `--log-json` has the line above.
            if !self.args.log_json {
                eprintln!("yungui: listening on {}", running.addr);
            }
            shutdown_signal().await;
            tracing::info!("shutting down");
            running.shutdown(Duration::from_secs(10)).await?;
            Ok(0)
        })
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
