//! The artifacts step: builds yungui's engine component for `wasm32-wasip2` (the `yungui-plugin`
//! crate), hands its path and digest to the engine as compile-time environment variables, and
//! embeds the shipped policy set (checked in strict mode here: an
//! invalid policy fails the build with the messages `yungui validate` prints). `cargo build`,
//! `cargo run` and `cargo test` need no manual pre-step.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use yungui_policies::{Sources, Validate};

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "plugin";
/// (crate, artifact file stem, environment variable the host reads). The misbehaving components
/// the fault tests load are built by `yungui-test-artifacts`, only for tests.
const COMPONENTS: [(&str, &str, &str); 1] =
    [("yungui-plugin", "yungui_plugin", "YUNGUI_ENGINE_WASM")];

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    // host/engine → the workspace root.
    let workspace = manifest
        .ancestors()
        .nth(2)
        .unwrap_or(&manifest)
        .to_path_buf();
    for watched in ["plugin", "policies", "wit", "Cargo.lock", "Cargo.toml"] {
        println!(
            "cargo::rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }

    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from)
        .join("wasm");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    ensure_target();

    let mut build = Command::new(&cargo);
    build
        .current_dir(&workspace)
        .args([
            "build",
            "--profile",
            PROFILE,
            "--target",
            TARGET,
            "--target-dir",
        ])
        .arg(&target_dir);
    for (krate, _, _) in COMPONENTS {
        build.args(["-p", krate]);
    }
    // The outer build's flags, wrappers (clippy) and target dir are for the host, not for wasm.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        build.env_remove(var);
    }
    match build.status() {
        Ok(status) if status.success() => {}
        Ok(status) => fail(&format!(
            "building the components for {TARGET} failed ({status}); the messages above say why"
        )),
        Err(err) => fail(&format!(
            "cannot run `cargo` to build the components: {err}"
        )),
    }

    let out = target_dir.join(TARGET).join(PROFILE);
    for (_, stem, var) in COMPONENTS {
        let path = out.join(format!("{stem}.wasm"));
        if !path.is_file() {
            fail(&format!("the build did not produce `{}`", path.display()));
        }
        println!("cargo::rustc-env={var}={}", path.display());
        if var == "YUNGUI_ENGINE_WASM" {
            match std::fs::read(&path) {
                Ok(bytes) => println!(
                    "cargo::rustc-env=YUNGUI_ENGINE_SHA256={}",
                    hex(&Sha256::digest(&bytes))
                ),
                Err(err) => fail(&format!("cannot read `{}`: {err}", path.display())),
            }
        }
    }
    embed_policies(&workspace.join("policies"));
}

/// Checks the shipped policy set in strict mode and writes `policies.rs`, which embeds it.
fn embed_policies(dir: &Path) {
    let sources = match Sources::read_dir(dir) {
        Ok(sources) => sources,
        Err(err) => fail(&err.to_string()),
    };
    if let Err(problems) = sources.compile(Validate::Strict) {
        fail(&format!(
            "the policies in {} are invalid:\n{problems}",
            dir.display()
        ));
    }
    println!(
        "cargo::rustc-env=YUNGUI_SHIPPED_POLICY_DIGEST={}",
        sources.digest()
    );
    let entry = |name: &str| {
        let path = dir
            .join(name)
            .canonicalize()
            .unwrap_or_else(|_| dir.join(name));
        format!("({name:?}, include_str!({:?}))", path.display().to_string())
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "/// The shipped schema: (file name, text).\npub const SCHEMA: (&str, &str) = {};",
        entry(&sources.schema.name)
    );
    let _ = writeln!(
        out,
        "/// The shipped policy files: (file name, text), in name order.\npub const POLICIES: &[(&str, &str)] = &["
    );
    for file in &sources.policies {
        let _ = writeln!(out, "    {},", entry(&file.name));
    }
    let _ = writeln!(out, "];");
    let target = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("policies.rs");
    if let Err(err) = std::fs::write(&target, out) {
        fail(&format!("cannot write `{}`: {err}", target.display()));
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Adds the `wasm32-wasip2` target when the toolchain lacks it (rustup does not install targets
/// by itself when `RUSTUP_AUTO_INSTALL=0`).
fn ensure_target() {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let installed = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .is_some_and(|dir| has_std(&dir));
    if installed {
        return;
    }
    println!("cargo::warning=adding the {TARGET} target with rustup");
    match Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
    {
        Ok(status) if status.success() => {}
        _ => fail(&format!(
            "the {TARGET} target is missing and `rustup target add {TARGET}` failed: install it and build again"
        )),
    }
}

fn has_std(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
    })
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1)
}
