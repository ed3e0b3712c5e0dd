//! The `yungui` command: parse, dispatch, exit with the command's code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use yungui::commands::{
    cert::CertCommand, decide::DecideCommand, serve::ServeCommand, test::TestCommand,
    validate::ValidateCommand,
};

/// yungui (云规): the MIIT cloud service notice as Cedar policies in a WebAssembly component.
#[derive(Debug, Parser)]
#[command(version, about)]
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
    /// Run golden case files; exit 1 when any fails.
    Test(TestCommand),
    /// Serve decisions over HTTPS: raw API, Kubernetes admission, OpenStack policy checks.
    Serve(ServeCommand),
    /// Make a CA and a server certificate for `yungui serve` (e.g. for a cluster's webhook).
    Cert(CertCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A server logs its decisions; the other commands speak only when something is wrong.
    let (default_filter, json) = match &cli.command {
        Command::Serve(cmd) => ("info", cmd.args.log_json),
        _ => ("warn", false),
    };
    yungui::logging::init(default_filter, json);
    let result = match cli.command {
        Command::Decide(cmd) => cmd.execute(),
        Command::Validate(cmd) => cmd.execute(),
        Command::Test(cmd) => cmd.execute(),
        Command::Serve(cmd) => cmd.execute(),
        Command::Cert(cmd) => cmd.execute(),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
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
