//! The `yungui` command: parse, dispatch, exit with the command's code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use yungui::commands::{decide::DecideCommand, test::TestCommand, validate::ValidateCommand};

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
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("YUNGUI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Decide(cmd) => cmd.execute(),
        Command::Validate(cmd) => cmd.execute(),
        Command::Test(cmd) => cmd.execute(),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
