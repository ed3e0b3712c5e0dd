//! Builds the test components (`runaway`, `hungry`) for `wasm32-wasip2` with the `plugin` profile,
//! into the same `target/wasm` folder the engine's build script uses, and hands their paths to
//! this crate as compile-time environment variables.

use std::path::PathBuf;
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "plugin";
/// (crate, artifact file stem, environment variable).
const COMPONENTS: [(&str, &str, &str); 2] = [
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
    // tests/plugins/artifacts → the workspace root.
    let workspace = manifest
        .ancestors()
        .nth(3)
        .unwrap_or(&manifest)
        .to_path_buf();
    for watched in ["tests/plugins", "wit", "Cargo.lock", "Cargo.toml"] {
        println!(
            "cargo::rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.join("target"), PathBuf::from)
        .join("wasm");
    let mut build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
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
    if !build.status().is_ok_and(|status| status.success()) {
        eprintln!(
            "error: building the test components for {TARGET} failed (the messages above say why; \
             `rustup target add {TARGET}` if the target is missing)"
        );
        std::process::exit(1);
    }
    for (_, stem, var) in COMPONENTS {
        let path = target_dir
            .join(TARGET)
            .join(PROFILE)
            .join(format!("{stem}.wasm"));
        println!("cargo::rustc-env={var}={}", path.display());
    }
}
