//! `yungui build`: a policy folder in, a pre-initialised policy component out.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use super::{Exit, Format, announce_policies, policy_sources};
use yungui::builder::{BuildError, build};
use yungui::engine::default_cache_dir;

/// Check a policy folder in strict mode and write a self-contained policy component.
#[derive(Debug, Args)]
pub struct BuildCommand {
    /// The policy folder (`schema.cedarschema` and `*.cedar`). Default: `./policies` when
    /// present, else the policy set shipped with yungui.
    #[arg(long, value_name = "DIR")]
    pub policies: Option<PathBuf>,

    /// Where to write the component.
    #[arg(short, long, value_name = "FILE.wasm")]
    pub output: PathBuf,

    /// Do not reuse compiled code or earlier builds from the cache.
    #[arg(long)]
    pub no_cache: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

impl BuildCommand {
    /// Runs the command; returns the exit code (0 built, 3 invalid policies: nothing is written).
    pub fn execute(self) -> anyhow::Result<Exit> {
        let started = Instant::now();
        let (sources, which) = policy_sources(self.policies.as_deref())?;
        announce_policies(&which);
        let cache = if self.no_cache {
            None
        } else {
            default_cache_dir()
        };
        let built = match build(&sources, cache.as_deref()) {
            Ok(built) => built,
            Err(BuildError::Invalid(problems)) => {
                match self.format {
                    Format::Text => eprintln!(
                        "{problems}\nerror: the policies in `{which}` are invalid; nothing was written"
                    ),
                    Format::Json => println!(
                        "{}",
                        serde_json::json!({
                            "built": false,
                            "problems": problems.0.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        })
                    ),
                }
                return Ok(Exit::NoDecision);
            }
            Err(err) => return Err(err.into()),
        };
        write_atomically(&self.output, &built.wasm)
            .map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", self.output.display()))?;
        let elapsed = started.elapsed();
        match self.format {
            Format::Text => println!(
                "built {}: {} controls, {} bytes in {:.2} s\n  sha256        {}\n  policy digest {}",
                self.output.display(),
                built.identity.controls.len(),
                built.wasm.len(),
                elapsed.as_secs_f64(),
                built.sha256(),
                built.identity.policy_digest,
            ),
            Format::Json => println!(
                "{}",
                serde_json::json!({
                    "built": true,
                    "output": self.output.display().to_string(),
                    "sha256": built.sha256(),
                    "policy_digest": built.identity.policy_digest,
                    "controls": built.identity.controls.len(),
                    "bytes": built.wasm.len(),
                })
            ),
        }
        Ok(Exit::Ok)
    }
}

/// Writes a file so that no reader ever sees it half-written: a temporary file, then a rename.
fn write_atomically(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{}-{n}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, target)
}
