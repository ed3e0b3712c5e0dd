//! `yungui push`, `pull`, `sign` and `verify`: policy components in OCI registries
//! (`yungui-oci` does the work).

use std::path::PathBuf;

use clap::Args;
use yungui_oci::{OciError, OciRef, Registry, RegistryOptions, SigningKey, VerifyingKey};

use super::Exit;

/// How to reach the registry.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Speak plain HTTP to the registry (a loopback test registry), not HTTPS.
    #[arg(long)]
    pub plain_http: bool,

    /// The docker `config.json` with the registry's credentials. Default:
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`; anonymous when there is none.
    #[arg(long, value_name = "FILE")]
    pub docker_config: Option<PathBuf>,
}

impl RegistryArgs {
    fn registry(&self) -> Registry {
        Registry::new(RegistryOptions {
            plain_http: self.plain_http,
            docker_config: self.docker_config.clone(),
        })
    }
}

/// Runs one registry call to completion.
fn block_on<T>(call: impl Future<Output = T>) -> anyhow::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    Ok(runtime.block_on(call))
}

/// Push a component `yungui build` made to a registry, its identity as annotations.
#[derive(Debug, Args)]
pub struct PushCommand {
    /// The component (.wasm).
    pub component: PathBuf,
    /// Where to push it: `REGISTRY/REPOSITORY:TAG`.
    pub reference: String,
    /// How to reach the registry.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl PushCommand {
    /// Runs the command; prints the manifest digest (`sha256:…`).
    pub fn execute(self) -> anyhow::Result<Exit> {
        let reference = OciRef::parse(&self.reference)?;
        let wasm = yungui::engine::read_component(&self.component)?;
        let digest = block_on(self.registry.registry().push(&reference, wasm))??;
        println!("{digest}");
        Ok(Exit::Ok)
    }
}

/// Pull a component from a registry to a file.
#[derive(Debug, Args)]
pub struct PullCommand {
    /// What to pull: `REGISTRY/REPOSITORY:TAG` or `REGISTRY/REPOSITORY@sha256:…`.
    pub reference: String,
    /// Where to write the component.
    #[arg(short, long, value_name = "FILE.wasm")]
    pub output: PathBuf,
    /// How to reach the registry.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl PullCommand {
    /// Runs the command; prints the manifest digest.
    pub fn execute(self) -> anyhow::Result<Exit> {
        let reference = OciRef::parse(&self.reference)?;
        let pulled = block_on(self.registry.registry().pull(&reference))??;
        std::fs::write(&self.output, &pulled.wasm)
            .map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", self.output.display()))?;
        println!("{}", pulled.digest);
        Ok(Exit::Ok)
    }
}

/// Sign a component in a registry with a key, as `cosign sign --key` does.
#[derive(Debug, Args)]
pub struct SignCommand {
    /// What to sign: a tag is resolved to its manifest digest, which is what is signed.
    pub reference: String,
    /// The private key: PKCS#8 PEM ECDSA P-256 (`openssl ecparam -genkey -name prime256v1 |
    /// openssl pkcs8 -topk8 -nocrypt`), or cosign's encrypted `cosign.key` with its password in
    /// `$COSIGN_PASSWORD` (set and empty for a key without one).
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    /// How to reach the registry.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl SignCommand {
    /// Runs the command; prints the signed digest and where the signature is.
    pub fn execute(self) -> anyhow::Result<Exit> {
        let reference = OciRef::parse(&self.reference)?;
        let key = SigningKey::from_pem_file(&self.key)?;
        let signed = block_on(self.registry.registry().sign(&reference, &key))??;
        println!("signed {} ({})", signed.digest, signed.signature);
        Ok(Exit::Ok)
    }
}

/// Verify a component in a registry is signed by a key; exit 0 verified, 3 not.
#[derive(Debug, Args)]
pub struct VerifyCommand {
    /// What to verify: `REGISTRY/REPOSITORY:TAG` or `…@sha256:…`.
    pub reference: String,
    /// The public key: PEM (`openssl pkey -pubout`, or cosign's `cosign.pub`).
    #[arg(long, value_name = "PUB.pem")]
    pub key: PathBuf,
    /// How to reach the registry.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl VerifyCommand {
    /// Runs the command: 0 verified, 3 not verified (no, a wrong-key or a mismatched signature),
    /// 4 when the registry or the key cannot be read.
    pub fn execute(self) -> anyhow::Result<Exit> {
        let reference = OciRef::parse(&self.reference)?;
        let key = VerifyingKey::from_pem_file(&self.key)?;
        match block_on(
            self.registry
                .registry()
                .verify(&reference, std::slice::from_ref(&key)),
        )? {
            Ok(verified) => {
                println!("verified {} ({})", verified.digest, verified.signature);
                Ok(Exit::Ok)
            }
            Err(err @ OciError::NotVerified { .. }) => {
                eprintln!("error: {err}");
                Ok(Exit::NoDecision)
            }
            Err(err) => Err(err.into()),
        }
    }
}

/// Save a verified component and its signature as an OCI image layout, for an air-gapped site
/// (`yungui serve --plugin oci-layout://DIR[:TAG]` verifies it offline).
#[derive(Debug, Args)]
pub struct SaveCommand {
    /// What to save: `REGISTRY/REPOSITORY:TAG` or `…@sha256:…`.
    pub reference: String,
    /// The layout's folder (created).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// A public key the artefact must be signed by (PEM; repeat for several).
    #[arg(long, value_name = "PUB.pem", required_unless_present = "trust_policy")]
    pub key: Vec<PathBuf>,
    /// Which keys may sign which repositories (JSON or YAML), instead of `--key`.
    #[arg(long, value_name = "FILE", conflicts_with = "key")]
    pub trust_policy: Option<PathBuf>,
    /// How to reach the registry.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl SaveCommand {
    /// Runs the command: 0 saved, 3 not verified (nothing written), 4 otherwise.
    pub fn execute(self) -> anyhow::Result<Exit> {
        let reference = OciRef::parse(&self.reference)?;
        let trust = match &self.trust_policy {
            Some(file) => yungui_oci::TrustPolicy::from_file(file)?,
            None => yungui_oci::TrustPolicy::any_repository(
                self.key
                    .iter()
                    .map(|path| VerifyingKey::from_pem_file(path))
                    .collect::<Result<_, _>>()?,
            ),
        };
        match block_on(
            self.registry
                .registry()
                .save(&reference, &trust, &self.output),
        )? {
            Ok(digest) => {
                println!("saved {digest} to {}", self.output.display());
                Ok(Exit::Ok)
            }
            Err(err @ OciError::NotVerified { .. }) => {
                eprintln!("error: {err}");
                Ok(Exit::NoDecision)
            }
            Err(err) => Err(err.into()),
        }
    }
}
