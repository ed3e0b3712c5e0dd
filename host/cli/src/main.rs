//! The `yungui` command: parse, dispatch, exit with the command's code
//! ([`yungui_cli::commands::Exit`]).

use clap::{CommandFactory as _, Parser, Subcommand};
use yungui_cli::commands::{
    Exit, Format, analyze::AnalyzeCommand, build::BuildCommand, cert::CertCommand,
    check::CheckCommand, decide::DecideCommand, diff::DiffCommand, inspect::InspectCommand,
    report::ReportCommand, serve::ServeCommand, test::TestCommand, test::TestFormat,
    validate::ValidateCommand,
};

/// `yungui --version`: the version, the engine component and the shipped policy set.
static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "{} (engine sha256 {}, shipped policies {})",
        env!("CARGO_PKG_VERSION"),
        yungui::builder::ENGINE_SHA256,
        yungui::builder::SHIPPED_POLICY_DIGEST
    )
});

/// yungui (云规): the MIIT cloud service notice as Cedar policies in a WebAssembly component.
///
/// Exit codes: 0 allowed / valid / passed; 1 a test case failed; 2 denied; 3 no decision (bad
/// request or fault) or invalid policies; 4 could not run (a missing file, no cases, the component
/// not loading); 64 a usage error.
#[derive(Debug, Parser)]
#[command(version = VERSION.as_str(), about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decide one request; exit 0 allow, 2 deny, 3 no decision (bad request or fault).
    Decide(DecideCommand),
    /// Decide Kubernetes manifests as the admission webhook would, without a cluster; exit 0
    /// allowed, 2 denied, 3 an object unreadable or not decided.
    Check(CheckCommand),
    /// Check the policies against the schema in strict mode; exit 3 when invalid.
    Validate(ValidateCommand),
    /// Build a pre-initialised policy component from a policy folder; exit 3 when invalid.
    Build(BuildCommand),
    /// Show what a component holds (sha256, policy digest, controls, world, imports).
    Inspect(InspectCommand),
    /// Run golden case files; exit 1 when any fails, 4 when there are none.
    Test(TestCommand),
    /// Serve decisions over HTTPS: raw API, Kubernetes admission, OpenStack policy checks.
    Serve(Box<ServeCommand>),
    /// Make a CA and a server certificate for `yungui serve` (e.g. for a cluster's webhook).
    Cert(CertCommand),
    /// Manage a registry in PostgreSQL: `import` a Cedar entities JSON file, print the `schema`.
    Registry(yungui_cli::commands::registry::RegistryCommand),
    /// Push a built component to an OCI registry: `yungui push FILE.wasm REGISTRY/REPO:TAG`.
    Push(yungui_cli::commands::oci::PushCommand),
    /// Pull a component from an OCI registry: `yungui pull REF -o FILE.wasm`.
    Pull(yungui_cli::commands::oci::PullCommand),
    /// Sign a component in a registry with a key (cosign-compatible).
    Sign(yungui_cli::commands::oci::SignCommand),
    /// Verify a component in a registry is signed by a key; exit 0 verified, 3 not.
    Verify(yungui_cli::commands::oci::VerifyCommand),
    /// Save a verified component and its signature as an OCI image layout (air-gapped sites).
    Save(yungui_cli::commands::oci::SaveCommand),
    /// Write the trace report (notice → controls → policies → cases); `--check` for CI.
    Report(ReportCommand),
    /// Prove the notice's properties for every request, and the policy set's health, with the SMT
    /// solver cvc5; exit 1 when one fails, 3 when the policies are invalid.
    Analyze(AnalyzeCommand),
    /// Compare two policy folders for every request: equivalent, more or less permissive, with an
    /// example each way; exit 1 when they differ.
    Diff(DiffCommand),
    /// Print a shell completion script, e.g. `yungui completions bash > /etc/bash_completion.d/yungui`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

impl Command {
    /// Whether the command was asked for JSON output: its errors are JSON too.
    fn json(&self) -> bool {
        match self {
            Self::Decide(cmd) => cmd.format == Format::Json,
            Self::Validate(cmd) => cmd.format == Format::Json,
            Self::Build(cmd) => cmd.format == Format::Json,
            Self::Inspect(cmd) => cmd.format == Format::Json,
            Self::Test(cmd) => cmd.format == TestFormat::Json,
            Self::Check(cmd) => cmd.format == yungui_cli::commands::check::CheckFormat::Json,
            Self::Analyze(cmd) => cmd.format == Format::Json,
            Self::Diff(cmd) => cmd.format == Format::Json,
            _ => false,
        }
    }
}

/// An error as JSON on stdout, for a command asked for `--format json`: `{"error": {"kind",
/// "message"}}`, as `decide` reports a request it could not decide.
fn print_json_error(kind: &str, message: &str) {
    println!(
        "{}",
        serde_json::json!({"error": {"kind": kind, "message": message}})
    );
}

/// Whether the raw arguments ask for `--format json` (for a command line that did not parse).
fn asks_for_json(args: &[String]) -> bool {
    args.iter().any(|a| a == "--format=json")
        || args
            .windows(2)
            .any(|w| matches!(w, [flag, value] if flag == "--format" && value == "json"))
}

fn main() -> Exit {
    let args: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version go to stdout and succeed; anything else is a usage error.
            if !err.use_stderr() {
                let _ = err.print();
                return Exit::Ok;
            }
            if asks_for_json(&args) {
                print_json_error("usage", err.render().to_string().trim());
            }
            let _ = err.print();
            return Exit::Usage;
        }
    };
    // A server logs its decisions; the other commands speak only when something is wrong.
    let (default_filter, json_logs) = match &cli.command {
        Command::Serve(cmd) => ("info", cmd.args.log_json),
        _ => ("warn", false),
    };
    yungui_server::logging::init(default_filter, json_logs);
    let json = cli.command.json();
    let result = match cli.command {
        Command::Check(cmd) => cmd.execute(),
        Command::Decide(cmd) => cmd.execute(),
        Command::Validate(cmd) => cmd.execute(),
        Command::Build(cmd) => cmd.execute(),
        Command::Inspect(cmd) => cmd.execute(),
        Command::Report(cmd) => cmd.execute(),
        Command::Analyze(cmd) => cmd.execute(),
        Command::Diff(cmd) => cmd.execute(),
        Command::Test(cmd) => cmd.execute(),
        Command::Serve(cmd) => cmd.execute(),
        Command::Cert(cmd) => cmd.execute(),
        Command::Registry(cmd) => cmd.execute(),
        Command::Push(cmd) => cmd.execute(),
        Command::Pull(cmd) => cmd.execute(),
        Command::Sign(cmd) => cmd.execute(),
        Command::Verify(cmd) => cmd.execute(),
        Command::Save(cmd) => cmd.execute(),
        Command::Completions { shell } => {
            // Into memory first (writing a Vec cannot fail), then out: a closed pipe is an error,
            // not a panic.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "yungui", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)
                .map(|()| Exit::Ok)
                .map_err(|e| anyhow::anyhow!("cannot write the completion script: {e}"))
        }
    };
    match result {
        Ok(exit) => exit,
        Err(err) => {
            let message = format!("{err:#}");
            if json {
                print_json_error("cannot_run", &message);
            }
            eprintln!("error: {message}");
            Exit::of_error(&err)
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

    #[test]
    fn json_is_recognised_in_both_spellings() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(super::asks_for_json(&args(&[
            "yungui", "decide", "--format", "json"
        ])));
        assert!(super::asks_for_json(&args(&[
            "yungui",
            "test",
            "--format=json"
        ])));
        assert!(!super::asks_for_json(&args(&[
            "yungui", "decide", "--format", "text"
        ])));
        assert!(!super::asks_for_json(&args(&["yungui", "json"])));
    }
}
