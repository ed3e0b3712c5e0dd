//! `yungui inspect`: what a component is, read without running it.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use super::Format;
use crate::builder::{Identity, Outline, sha256_hex};

/// The interface a policy component exports.
const DECIDE: &str = "yungui:policy/decide@0.1.0";

/// Print a component's sha256, policy digest, controls, world and imports.
#[derive(Debug, Args)]
pub struct InspectCommand {
    /// The component (.wasm).
    pub component: PathBuf,

    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

impl InspectCommand {
    /// Runs the command; returns the exit code (0, or 3 when it is not a yungui component).
    pub fn execute(self) -> anyhow::Result<u8> {
        let wasm = std::fs::read(&self.component)
            .with_context(|| format!("cannot read `{}`", self.component.display()))?;
        let outline = Outline::read(&wasm)?;
        let identity = Identity::read(&wasm)?;
        let world = if outline.exports.iter().any(|e| e == DECIDE) {
            "yungui:policy/plugin@0.1.0"
        } else {
            "none (it does not export yungui:policy/decide@0.1.0)"
        };
        match self.format {
            Format::Json => println!(
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
                println!("component     {}", self.component.display());
                println!("sha256        {}", sha256_hex(&wasm));
                println!("size          {} bytes", wasm.len());
                println!("world         {world}");
                match &identity {
                    Some(identity) => {
                        println!("policy digest {}", identity.policy_digest);
                        println!("engine        sha256 {}", identity.engine_sha256);
                        println!("built by      yungui {}", identity.built_by);
                        let files: Vec<&str> = std::iter::once(&identity.sources.schema)
                            .chain(&identity.sources.policies)
                            .map(|f| f.name.as_str())
                            .collect();
                        println!("policy files  {}", files.join(", "));
                        println!("controls      {}", identity.controls.len());
                        for c in &identity.controls {
                            println!(
                                "  {:<36} art. {:<8} {:<5} {}",
                                c.control, c.article, c.severity, c.file
                            );
                        }
                    }
                    None => println!("policy digest none: `yungui build` did not make it"),
                }
                println!("imports");
                for name in &outline.imports {
                    println!("  {name}");
                }
                println!("exports");
                for name in &outline.exports {
                    println!("  {name}");
                }
            }
        }
        Ok(if identity.is_some() { 0 } else { 3 })
    }
}
