//! The artifacts step: builds the policy component (and the misbehaving components the fault
//! tests load) for `wasm32-wasip2`, and hands their paths to the host as compile-time
//! environment variables. `cargo build`, `cargo run` and `cargo test` need no manual pre-step.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "plugin";
/// (crate, artifact file stem, environment variable the host reads).
const COMPONENTS: [(&str, &str, &str); 3] = [
    ("yungui-plugin", "yungui_plugin", "YUNGUI_PLUGIN_WASM"),
    (
        "yungui-test-runaway",
        "yungui_test_runaway",
        "YUNGUI_TEST_RUNAWAY_WASM",
    ),
    (
        "yungui-test-hungry",
        "yungui_test_hungry",
        "YUNGUI_TEST_HUNGRY_WASM",
    ),
];

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let workspace = manifest.parent().unwrap_or(&manifest).to_path_buf();
    for watched in [
        "plugin",
        "policies",
        "wit",
        "tests/plugins",
        "Cargo.lock",
        "Cargo.toml",
    ] {
        println!(
            "cargo::rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    println!("cargo::rerun-if-env-changed=YUNGUI_POLICIES");

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
    }
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
