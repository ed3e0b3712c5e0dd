//! `yungui inspect`: what a component is, read without running it.

use std::path::PathBuf;

use clap::Args;

use super::{Exit, Format};
use yungui::builder::{Identity, Outline, sha256_hex};

/// The interface a policy component exports.
const DECIDE: &str = "yungui:policy/decide@0.2.0";

/// Print a component's sha256, policy digest, controls, world and imports.
#[derive(Debug, Args)]
pub struct InspectCommand {
    /// The component (.wasm).
    pub component: PathBuf,

    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Appends a line to the report being built (printed at the end, in one write).
macro_rules! out {
    ($buf:ident, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($buf, $($arg)*);
    }};
}

impl InspectCommand {
    /// Runs the command; returns the exit code (0, or 3 when it is not a yungui component).
    pub fn execute(self) -> anyhow::Result<Exit> {
        let wasm = yungui::engine::read_component(&self.component)?;
        let outline = Outline::read(&wasm)?;
        let identity = Identity::read(&wasm)?;
        let world = if outline.exports.iter().any(|e| e == DECIDE) {
            "yungui:policy/plugin@0.2.0"
        } else {
            "none (it does not export yungui:policy/decide@0.2.0)"
        };
        let mut report = String::new();
        match self.format {
            Format::Json => out!(
                report,
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "sha256": sha256_hex(&wasm),
                    "bytes": wasm.len(),
                    "world": world,
                    "imports": outline.imports,
                    "exports": outline.exports,
                    "policy_digest": identity.as_ref().map(|i| &i.policy_digest),
                    "engine_sha256": identity.as_ref().map(|i| &i.engine_sha256),
                    "built_by": identity.as_ref().map(|i| &i.built_by),
                    "controls": identity.as_ref().map(|i| &i.controls),
                    "policy_files": identity.as_ref().map(|i| i.sources.policies.iter().map(|f| &f.name).collect::<Vec<_>>()),
                }))?
            ),
            Format::Text => {
                out!(report, "component     {}", self.component.display());
                out!(report, "sha256        {}", sha256_hex(&wasm));
                out!(report, "size          {} bytes", wasm.len());
                out!(report, "world         {world}");
                match &identity {
                    Some(identity) => {
                        out!(report, "policy digest {}", identity.policy_digest);
                        out!(report, "engine        sha256 {}", identity.engine_sha256);
                        out!(report, "built by      yungui {}", identity.built_by);
                        let files: Vec<&str> = std::iter::once(&identity.sources.schema)
                            .chain(&identity.sources.policies)
                            .map(|f| f.name.as_str())
                            .collect();
                        out!(report, "policy files  {}", files.join(", "));
                        out!(report, "controls      {}", identity.controls.len());
                        for c in &identity.controls {
                            out!(
                                report,
                                "  {:<36} art. {:<8} {:<5} {}",
                                c.control,
                                c.article,
                                c.severity,
                                c.file
                            );
                        }
                    }
                    None => out!(report, "policy digest none: `yungui build` did not make it"),
                }
                out!(report, "imports");
                for name in &outline.imports {
                    out!(report, "  {name}");
                }
                out!(report, "exports");
                for name in &outline.exports {
                    out!(report, "  {name}");
                }
            }
        }
        // One write; a reader that stops early (`| head`) is not an error of ours.
        match std::io::Write::write_all(&mut std::io::stdout(), report.as_bytes()) {
            Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
                return Err(anyhow::anyhow!("cannot write the report: {err}"));
            }
            _ => {}
        }
        Ok(if identity.is_some() {
            Exit::Ok
        } else {
            Exit::NoDecision
        })
    }
}
