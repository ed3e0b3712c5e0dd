//! The `yungui` command: parse, dispatch, exit with the command's code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use yungui::builder::BuildError;
use yungui::commands::{
    build::BuildCommand, cert::CertCommand, decide::DecideCommand, inspect::InspectCommand,
    report::ReportCommand, serve::ServeCommand, test::TestCommand, validate::ValidateCommand,
};

/// `yungui --version`: the version, the engine component and the shipped policy set.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (engine sha256 ",
    env!("YUNGUI_ENGINE_SHA256"),
    ", shipped policies ",
    env!("YUNGUI_SHIPPED_POLICY_DIGEST"),
    ")"
);

/// yungui (云规): the MIIT cloud service notice as Cedar policies in a WebAssembly component.
#[derive(Debug, Parser)]
#[command(version = VERSION, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decide one request; exit 0 allow, 2 deny, 3 no decision (bad request or fault).
    Decide(DecideCommand),
    /// Check the policies against the schema in strict mode; exit 3 when invalid.
    Validate(ValidateCommand),
    /// Build a pre-initialised policy component from a policy folder; exit 3 when invalid.
    Build(BuildCommand),
    /// Show what a component holds (sha256, policy digest, controls, world, imports).
    Inspect(InspectCommand),
    /// Run golden case files; exit 1 when any fails.
    Test(TestCommand),
    /// Serve decisions over HTTPS: raw API, Kubernetes admission, OpenStack policy checks.
    Serve(Box<ServeCommand>),
    /// Make a CA and a server certificate for `yungui serve` (e.g. for a cluster's webhook).
    Cert(CertCommand),
    /// Write the trace report (notice → controls → policies → cases); `--check` for CI.
    Report(ReportCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A server logs its decisions; the other commands speak only when something is wrong.
    let (default_filter, json) = match &cli.command {
        Command::Serve(cmd) => ("info", cmd.args.log_json),
        _ => ("warn", false),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("YUNGUI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        logs.json().flatten_event(true).init();
    } else {
        logs.init();
    }
    let result = match cli.command {
        Command::Decide(cmd) => cmd.execute(),
        Command::Validate(cmd) => cmd.execute(),
        Command::Build(cmd) => cmd.execute(),
        Command::Inspect(cmd) => cmd.execute(),
        Command::Test(cmd) => cmd.execute(),
        Command::Serve(cmd) => cmd.execute(),
        Command::Cert(cmd) => cmd.execute(),
        Command::Report(cmd) => cmd.execute(),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            // Invalid policies (`--policies`) mean no decision and no component: exit 3.
            match err.downcast_ref::<BuildError>() {
                Some(BuildError::Invalid(_)) => ExitCode::from(3),
                _ => ExitCode::from(1),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
